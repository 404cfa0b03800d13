"""Which Python interpreters this machine has, for the first run of a new service.

A service needs the Python its `python_version` answer names; an older one makes
pip backtrack for minutes before failing. Not a decision rule: only what `new`
tells the user about this machine.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import get_args

from apistarter.questions import PythonVersion

# Starting an interpreter to ask its version: well under a second anywhere.
_VERSION_TIMEOUT_S = 10


def interpreter(python_version: str) -> str:
    """The command that runs ``python_version`` (e.g. ``python3.12``)."""
    return f"python{python_version}"


def python_command(python_version: str) -> str | None:
    """The path of a ``python3.X`` on PATH that runs and is that version, or None.

    Being on PATH is not enough: a pyenv shim for a version the current pyenv setting
    does not select is found, then exits 127.
    """
    found = shutil.which(interpreter(python_version))
    if found is None:
        return None
    try:
        result = subprocess.run(
            [found, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=_VERSION_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return found if result.returncode == 0 and result.stdout.strip() == python_version else None


def versions_on_path() -> tuple[str, ...]:
    """The `python_version` answers whose interpreter is on PATH here and runs."""
    return tuple(v for v in get_args(PythonVersion) if python_command(v))
