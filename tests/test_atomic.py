"""`apistarter new` never leaves a half-written project or touches files it does not own."""

from __future__ import annotations

import os
import signal
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from apistarter.cli import app

from .harness import signal_new_once_staging

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupt_while_rendering_leaves_nothing(stop: signal.Signals, tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path / "home")}
    for attempt in range(3):
        work = tmp_path / f"work-{attempt}"
        work.mkdir()
        status = signal_new_once_staging(work, env, stop)
        if status is not None:
            break
    assert status not in (None, 0), "every attempt finished before the signal arrived"
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
