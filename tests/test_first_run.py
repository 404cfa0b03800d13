"""The first run works: `new` names the interpreter the service needs, or says it is missing."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from apistarter.cli import app


def _path_with(tmp_path: Path, interpreters: dict[str, str]) -> str:
    """A PATH holding git and tar (rendering needs them) and the given interpreters only."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("git", "tar"):
        (bin_dir / tool).symlink_to(shutil.which(tool) or tool)
    for name, target in interpreters.items():
        (bin_dir / name).symlink_to(target)
    return str(bin_dir)


@pytest.mark.parametrize("has_312", [False, True], ids=["without-3.12", "with-3.12"])
def test_new_names_the_interpreter_the_service_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, has_312: bool
) -> None:
    # Only presence on PATH is looked up, so any program can stand in for each version.
    interpreters = {"python3.11": sys.executable}
    if has_312:
        interpreters["python3.12"] = sys.executable
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PATH", _path_with(tmp_path, interpreters))

    result = CliRunner().invoke(app, ["new", str(tmp_path / "svc"), "--defaults"])

    assert result.exit_code == 0, result.output
    assert "python3.12 -m venv .venv" in " ".join(result.stdout.split())
    assert "python3.12 -m venv .venv" in (tmp_path / "svc" / "README.md").read_text()
    note = " ".join(result.stderr.split())
    if has_312:
        assert "not on PATH" not in note
    else:
        assert "python3.12 is not on PATH" in note
        assert "python_version values that would work here: 3.11" in note
