"""Which Python interpreters this machine has, for the first run of a new service.

A service needs the Python its `python_version` answer names; an older one makes
pip backtrack for minutes before failing. Not a decision rule: only what `new`
tells the user about this machine.
"""

from __future__ import annotations

import shutil
from typing import get_args

from apistarter.questions import PythonVersion


def interpreter(python_version: str) -> str:
    """The command that runs ``python_version`` (e.g. ``python3.12``)."""
    return f"python{python_version}"


def versions_on_path() -> tuple[str, ...]:
    """The `python_version` answers whose interpreter is on PATH here."""
    return tuple(v for v in get_args(PythonVersion) if shutil.which(interpreter(v)))
