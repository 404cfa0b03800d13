"""`apistarter new` never leaves a half-written project or touches files it does not own."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from apistarter.cli import app

pytestmark = pytest.mark.slow
APISTARTER = [sys.executable, "-m", "apistarter"]


def _interrupt_while_staging(stop: signal.Signals, work: Path, env: dict[str, str]) -> int:
    """Run `new`, signal it once its staging directory exists; its exit code."""
    process = subprocess.Popen(
        [*APISTARTER, "new", "svc", "--defaults"],
        cwd=work,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".svc.") for p in work.iterdir()):
        assert process.poll() is None, "finished before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(stop)
    process.communicate(timeout=60)
    return process.returncode


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupt_while_rendering_leaves_nothing(stop: signal.Signals, tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path / "home")}
    for attempt in range(3):
        work = tmp_path / f"work-{attempt}"
        work.mkdir()
        status = _interrupt_while_staging(stop, work, env)
        if status != 0:  # interrupted (0 means it finished before the signal landed)
            break
    assert status != 0, "every attempt finished before the signal arrived"
    assert list(work.iterdir()) == []


def test_force_keeps_the_users_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    target = tmp_path / "svc"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    (target / "README.md").write_text("my readme")
    result = CliRunner().invoke(app, ["new", str(target), "--defaults", "--force"])
    assert result.exit_code == 0, result.output
    assert (target / "notes.txt").read_text() == "mine"
    assert (target / "README.md").read_text() != "my readme"  # the template's file wins
    assert (target / "pyproject.toml").is_file()


def test_an_interrupt_as_the_staging_directory_appears_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The narrowest window a signal can land in: right after the staging directory is
    # made. The subprocess test above hits it only by chance (it did in CI).
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    work = tmp_path / "work"
    work.mkdir()
    real_mkdir = os.mkdir

    def mkdir_then_interrupt(path: str | os.PathLike[str], mode: int = 0o777) -> None:
        real_mkdir(path, mode)
        if Path(path).name.startswith(".svc."):
            raise KeyboardInterrupt

    monkeypatch.setattr(os, "mkdir", mkdir_then_interrupt)
    result = CliRunner().invoke(app, ["new", str(work / "svc"), "--defaults"])
    assert result.exit_code != 0
    assert list(work.iterdir()) == []


def test_the_project_directory_gets_the_users_umask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    previous = os.umask(0o022)
    try:
        result = CliRunner().invoke(app, ["new", str(tmp_path / "svc"), "--defaults"])
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE((tmp_path / "svc").stat().st_mode) == 0o755
