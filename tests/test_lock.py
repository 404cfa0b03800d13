"""Locked builds (#25 item 17): `new` writes uv.lock when the index is reachable and
says why not when it is not; the generated CI's lock check catches a stale lock; the
Dockerfile's base images say why they carry no digest."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from apistarter.cli import app
from bench.runtime import installed_python

from .harness import BIN, git, render_service

UV = shutil.which("uv", path=str(BIN))
runner = CliRunner()


def _with_python312(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """PATH with a Python 3.12 that runs (here a pyenv shim may not) and uv; locks allowed."""
    python = installed_python("3.12")
    if python is None or UV is None:
        pytest.skip("needs Python 3.12 and uv")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "python3.12").symlink_to(python)
    (bin_dir / "uv").symlink_to(UV)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.delenv("APISTARTER_LOCK")


def _new(destination: Path, *args: str) -> Result:
    result = runner.invoke(app, ["new", str(destination), "--defaults", *args])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result


def _ci_step(project: Path, name: str) -> dict[str, str]:
    workflow = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())
    (step,) = [s for s in workflow["jobs"]["check"]["steps"] if s.get("name") == name]
    return {str(key): str(value) for key, value in step.items()}


@pytest.mark.slow
def test_new_commits_a_lock_that_the_ci_check_holds_to_pyproject(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_python312(monkeypatch, tmp_path)
    project = tmp_path / "svc"
    assert "uv.lock" not in _new(project).stderr
    assert "uv.lock" in git(project, "ls-files").split()
    assert git(project, "status", "--porcelain") == ""

    step = _ci_step(project, "Check that uv.lock is current")
    assert step["if"] == "hashFiles('uv.lock') != ''"
    check = ["sh", "-c", step["run"]]
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    assert subprocess.run(check, cwd=project, env=env, check=False).returncode == 0
    # A dependency added without relocking: the CI step fails.
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"pydantic>=2.7",', '"pydantic>=2.8",'))
    stale = subprocess.run(check, cwd=project, env=env, capture_output=True, check=False)
    assert stale.returncode != 0


@pytest.mark.slow
def test_new_without_the_index_says_so_and_writes_no_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing listens on loopback port 1: the index cannot be reached.
    monkeypatch.setenv("UV_INDEX_URL", "http://127.0.0.1:1/simple")
    monkeypatch.setenv("UV_NO_CACHE", "1")
    # A narrow terminal: uv wraps its causes to COLUMNS, the address onto a line of its own.
    monkeypatch.setenv("COLUMNS", "30")
    _with_python312(monkeypatch, tmp_path)
    project = tmp_path / "svc"

    note = " ".join(_new(project).stderr.split())

    assert note.startswith("note: uv.lock not written: "), note
    assert "127.0.0.1:1" in note
    assert not (project / "uv.lock").exists()
    assert git(project, "status", "--porcelain") == ""


@pytest.mark.slow
def test_no_lock_writes_none_and_says_nothing_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_python312(monkeypatch, tmp_path)
    project = tmp_path / "svc"

    result = _new(project, "--no-lock")

    assert "uv.lock" not in result.output
    assert not (project / "uv.lock").exists()


@pytest.mark.slow
def test_without_the_service_s_python_the_note_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_python312(monkeypatch, tmp_path)
    # A python3.12 on PATH that is not one (as a pyenv shim for an unselected version).
    (tmp_path / "bin" / "python3.12").unlink()
    (tmp_path / "bin" / "python3.12").symlink_to(sys.executable)
    project = tmp_path / "svc"

    note = " ".join(_new(project).stderr.split())

    assert "uv.lock not written: no working python3.12 on PATH" in note
    assert not (project / "uv.lock").exists()


@pytest.mark.slow
def test_an_update_that_changes_the_dependencies_writes_the_lock_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_python312(monkeypatch, tmp_path)
    project = tmp_path / "svc"
    _new(project)
    locked = (project / "uv.lock").read_text()

    result = runner.invoke(app, ["update", str(project), "--set", "database=postgresql"])

    assert result.exit_code == 0, result.output
    assert "uv.lock" in result.stdout and "note:" not in result.stderr, result.output
    assert (project / "uv.lock").read_text() != locked
    assert 'name = "psycopg"' in (project / "uv.lock").read_text()
    check = subprocess.run(
        ["uv", "lock", "--check"],
        cwd=project,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr


def test_base_images_are_pinned_or_say_why_not(tmp_path: Path) -> None:
    project = render_service(tmp_path / "svc", "flask")
    dockerfile = (project / "Dockerfile").read_text()
    unpinned = [
        line
        for line in dockerfile.splitlines()
        if line.startswith("FROM ") and "@sha256:" not in line
    ]
    assert unpinned
    assert re.search(
        r"not by digest: apistarter renders offline and cannot look a digest", dockerfile
    )
