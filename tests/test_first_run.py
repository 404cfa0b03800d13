"""The first run works: `new` names the interpreter the service needs, or says it is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from apistarter.cli import app
from bench.runtime import installed_python

from .harness import render_service


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
    # A python3.12 must run and be 3.12: this Python (3.11+) stands in for a shim that
    # is on PATH but is not one.
    interpreters = {"python3.11": sys.executable}
    python312 = installed_python("3.12")
    if python312 is None:
        pytest.skip("needs Python 3.12")
    interpreters["python3.12"] = str(python312) if has_312 else sys.executable
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PATH", _path_with(tmp_path, interpreters))

    result = CliRunner().invoke(app, ["new", str(tmp_path / "svc"), "--defaults"])

    assert result.exit_code == 0, result.output
    assert "python3.12 -m venv .venv" in " ".join(result.stdout.split())
    # The default frontend service checks tokens: it says what it needs before it serves.
    assert (
        "It serves once APP_JWT_ISSUER, APP_JWT_AUDIENCE, APP_JWT_JWKS_URL are set (auth=jwt"
        in " ".join(result.stdout.split())
    )
    assert "python3.12 -m venv .venv" in (tmp_path / "svc" / "README.md").read_text()
    note = " ".join(result.stderr.split())
    if has_312:
        assert "not on PATH" not in note
    else:
        assert "python3.12 is not on PATH" in note
        assert "python_version values that would work here: 3.11" in note
        assert "3.12" not in note.rpartition("here:")[2]


README = Path(__file__).resolve().parents[1] / "README.md"


def _before_first_command(markdown: str, heading: str) -> str:
    """The prose of section ``heading`` up to its first code block."""
    section = markdown.split(f"## {heading}\n", 1)[1]
    return section.split("```", 1)[0]


def _first_command(markdown: str, heading: str) -> str:
    section = markdown.split(f"## {heading}\n", 1)[1]
    return section.split("```sh\n", 1)[1].splitlines()[0]


def test_the_readmes_name_the_services_python_before_the_first_command(tmp_path: Path) -> None:
    assert "Python 3.12+" in _before_first_command(README.read_text(), "Quick start")
    project = render_service(tmp_path / "svc", "fastapi", project={"python_version": "3.13"})
    run_it = _before_first_command((project / "README.md").read_text(), "Run it")
    assert "Python 3.13 or newer (`python3.13`)" in run_it


def _pip_noise(line: str) -> bool:
    # This machine's pip configuration names package folders that do not exist; pip
    # warns about each on every run, whatever it is asked.
    return line.startswith("WARNING: Location '")


@pytest.mark.slow
def test_the_quick_start_on_an_older_python3_stops_in_one_line(tmp_path: Path) -> None:
    older = installed_python("3.10")
    if older is None:
        pytest.skip("needs a Python older than apistarter's 3.11")
    command = _first_command(README.read_text(), "Quick start")
    assert command.startswith("python3 -m venv .venv && ")
    env = {**os.environ, "PATH": f"{_path_with(tmp_path, {'python3': str(older)})}:/usr/bin:/bin"}
    result = subprocess.run(
        ["sh", "-c", command.replace(".venv", str(tmp_path / "venv"))],
        cwd=README.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode != 0
    lines = [line for line in (result.stdout + result.stderr).splitlines() if not _pip_noise(line)]
    assert len(lines) == 1, lines
    assert "requires a different Python" in lines[0]


@pytest.mark.slow
def test_the_generated_install_works_with_the_pip_python312_ships(tmp_path: Path) -> None:
    python = installed_python("3.12")
    if python is None:
        pytest.skip("needs Python 3.12")
    project = render_service(tmp_path / "svc", "hybrid", project={"python_version": "3.12"})
    command = _first_command((project / "README.md").read_text(), "Run it")
    env = {**os.environ, "PATH": f"{_path_with(tmp_path, {'python3.12': str(python)})}:/usr/bin"}
    subprocess.run(["sh", "-c", command], cwd=project, env=env, check=True, timeout=600)

    shipped = subprocess.run(
        [str(python), "-m", "ensurepip", "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[-1]
    pip = subprocess.run(
        [str(project / ".venv/bin/pip"), "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[1]
    assert pip == shipped  # the install did not need a newer pip
    subprocess.run(
        [str(project / ".venv/bin/pytest"), "-q", "-p", "no:cacheprovider"],
        cwd=project,
        check=True,
        timeout=600,
    )
