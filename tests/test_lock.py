"""Locked builds (#25 item 17): `new` writes uv.lock when the index is reachable and
says why not when it is not; the generated CI's lock check catches a stale lock; the
Dockerfile's base images say why they carry no digest."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from apistarter.decision import decide
from apistarter.questions import DecisionAnswers, ProjectAnswers
from apistarter.render import new_project, template_data
from bench.runtime import installed_python

from .harness import BIN, git, render_service

UV = shutil.which("uv", path=str(BIN))


def _new_locked(destination: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """`new` with lock=True for a Python 3.12 service; its lock note."""
    python = installed_python("3.12")
    if python is None or UV is None:
        pytest.skip("needs Python 3.12 and uv")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "python3.12").symlink_to(python)
    (bin_dir / "uv").symlink_to(UV)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    decision = DecisionAnswers()
    project = ProjectAnswers(project_name="orders-api", python_version="3.12")
    data = template_data(project, decision, decide(decision))
    return new_project(destination, data, lock=True).lock_note


def _ci_step(project: Path, name: str) -> dict[str, str]:
    workflow = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())
    (step,) = [s for s in workflow["jobs"]["check"]["steps"] if s.get("name") == name]
    return {str(key): str(value) for key, value in step.items()}


@pytest.mark.slow
def test_new_commits_a_lock_that_the_ci_check_holds_to_pyproject(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "svc"
    assert _new_locked(project, monkeypatch, tmp_path) == ""
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
    project = tmp_path / "svc"

    note = _new_locked(project, monkeypatch, tmp_path)

    assert note.startswith("uv.lock not written: ")
    assert "\n" not in note
    assert not (project / "uv.lock").exists()
    assert git(project, "status", "--porcelain") == ""


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
