"""The Python the generated services run on in their image, for the benchmarks.

A generated Dockerfile names its base image (`FROM python:3.12-slim-...`), and the
interpreter is part of a service's speed: in one side-by-side run here, the
hybrid's mounted Flask route served 915 req/s on Python 3.12 and 760 on 3.11.
A generated service also declares that version in `requires-python`. So every
benchmarked app, bare ones included, is served from one virtualenv of the image's
Python with the services' own dependencies, installed from the package index as
the image build installs them. Where that Python is not installed, the benchmark's own
interpreter and environment serve instead, and the output says so.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path

from apistarter.questions import ProjectAnswers
from tests.harness import BIN, make_venv, pip_install

IMAGE_PYTHON = re.compile(r"^FROM python:(\d+\.\d+)", re.MULTILINE)
# What the bare apps import, beside what generated services declare.
BARE_REQUIREMENTS = {
    "fastapi": ("fastapi", "uvicorn[standard]"),
    "flask": ("flask", "gunicorn"),
}


def image_python(project: Path) -> str:
    """The X.Y of the Python image the project's Dockerfile builds on."""
    found = IMAGE_PYTHON.search((project / "Dockerfile").read_text())
    if found is None:
        raise ValueError(f"{project / 'Dockerfile'} does not build on a python:X.Y image")
    return found.group(1)


def project_requirements(project: Path) -> tuple[str, ...]:
    """The runtime dependencies a generated project declares."""
    with (project / "pyproject.toml").open("rb") as file:
        return tuple(tomllib.load(file)["project"]["dependencies"])


def installed_python(version: str) -> Path | None:
    """An installed CPython ``version`` (on PATH, or where pyenv keeps them)."""
    # The account's real home: the benchmarks point HOME at a scratch directory.
    pyenv = Path(os.environ.get("PYENV_ROOT", Path(pwd.getpwuid(os.getuid()).pw_dir) / ".pyenv"))
    candidates = [shutil.which(f"python{version}") or ""]
    candidates += [str(path) for path in sorted(pyenv.glob(f"versions/{version}.*/bin/python"))]
    check = f"import sys; assert '%d.%d' % sys.version_info[:2] == {version!r}"
    for candidate in filter(None, candidates):
        if subprocess.run([candidate, "-c", check], capture_output=True).returncode == 0:
            return Path(candidate)
    return None


def _full_version(python: Path) -> str:
    return subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


class Runtime:
    """One virtualenv of the image's Python; requirements are installed as services need them."""

    def __init__(self, root: Path, version: str | None = None) -> None:
        self.version = version or ProjectAnswers.model_fields["python_version"].default
        self._venv = root / f"runtime-python{self.version}"
        self._installed: set[str] = set()
        self._python = installed_python(self.version)
        if self._python is None:
            self.description = (
                f"Python {sys.version.split()[0]}, the benchmark's own: the image's "
                f"Python {self.version} is not installed here"
            )
        else:
            self.description = f"Python {_full_version(self._python)}, as in the image"

    def bin_dir(self, requirements: Iterable[str]) -> Path:
        """Where the server commands are found, with ``requirements`` installed."""
        if self._python is None:
            return BIN  # the test environment has every service dependency
        bin_dir = self._venv / "bin"
        if not self._venv.exists():
            make_venv(self._venv, self._python)
        missing = sorted(set(requirements) - self._installed)
        if missing:
            pip_install(bin_dir, *missing)
            self._installed.update(missing)
        return bin_dir
