"""Real open-source Flask apps for the adoption tests, fetched from the package index.

Their code is never committed here: each test session downloads a pinned source
distribution once (``pip download --no-binary``) and unpacks it; the example apps
several Flask projects ship in their sdists are what the tests adopt. When the index
cannot be reached the tests that need it are skipped with the reason (CI reaches it).
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from apistarter.cli import app

# Flask's sdist ships examples/tutorial (flaskr: an app factory with blueprints,
# templates, sessions, an SQLite database in the instance folder, and its own tests)
# and examples/javascript (one app object, views in another module).
FLASK = "flask==3.1.0"
# Flask-Cors's sdist ships examples/: three single-file apps serving a JSON API, not
# an installable package, using flask-cors.
FLASK_CORS = "flask-cors==5.0.0"
# Flask-RESTful's sdist ships examples/todo.py: a JSON API declared with add_resource.
FLASK_RESTFUL = "flask-restful==0.3.10"

# The Python the adopted services are made for: this one, which runs their tests.
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"

_unpacked: dict[str, Path] = {}


def sdist(requirement: str, factory: pytest.TempPathFactory) -> Path:
    """The unpacked source distribution of a pinned requirement, once per session."""
    if requirement not in _unpacked:
        download = factory.mktemp("sdist")
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--no-binary",
                ":all:",
                "--dest",
                str(download),
                requirement,
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        archives = sorted(download.glob("*.tar.gz"))
        if result.returncode != 0 or not archives:
            reason = (result.stderr.strip().splitlines() or ["no archive"])[-1]
            pytest.skip(f"cannot download {requirement} from the package index: {reason}")
        with tarfile.open(archives[0]) as archive:
            archive.extractall(download, filter="data")
        _unpacked[requirement] = next(p for p in download.iterdir() if p.is_dir())
    return _unpacked[requirement]


def line_at(root: Path, evidence: str) -> str:
    """The source line a `file:line` evidence points at."""
    file, _, line = evidence.rpartition(":")
    return (root / file).read_text(encoding="utf-8").splitlines()[int(line) - 1]


def write_files(root: Path, files: dict[str, str]) -> Path:
    """A small project of our own (not third-party code) for the edge cases; returns root."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def new_legacy(destination: Path, legacy: Path, *extra: str) -> tuple[int, str, str]:
    """`apistarter new DESTINATION --legacy LEGACY --json`: (exit code, stdout, stderr)."""
    result = CliRunner().invoke(
        app,
        [
            "new",
            str(destination),
            "--legacy",
            str(legacy),
            "--defaults",
            "--set",
            "measured_problem=saturated-workers",
            "--set",
            f"python_version={PYTHON}",
            "--json",
            *extra,
        ],
    )
    return result.exit_code, result.stdout, " ".join(result.stderr.split())
