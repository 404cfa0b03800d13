"""Malformed files and markup-like text: one line and exit 2, never a traceback.

Answers files, preset files and organisation policies are read by one function;
whatever they hold, a refusal is one line naming the file, and nothing is written.
Text a person typed is printed as typed, even when it looks like Rich markup.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from apistarter.cli import app
from apistarter.presets import POLICY_ENV

from .harness import BIN, tree_state

runner = CliRunner()

MALFORMED: dict[str, tuple[str, bytes, str]] = {
    "not UTF-8": ("a.yml", b"description: caf\xe9\n", "not UTF-8 text"),
    "deep YAML": ("a.yml", b"[" * 1_200, "nested too deeply"),
    "deep YAML mapping": ("a.yml", b"{a: " * 1_200, "nested too deeply"),
    "deep JSON": ("a.json", b"[" * 5_000 + b"]" * 5_000, "nested too deeply"),
    "YAML list": ("a.yml", b"- workload\n- io-bound\n", "must be a mapping"),
    "YAML scalar": ("a.yml", b"io-bound\n", "must be a mapping"),
    "huge": ("a.yml", b"# padding\n" * 200_000, "larger than 1024 KiB"),
    "bad YAML": ("a.yml", b"workload: [unclosed\n", "not valid YAML"),
}
# The preset/policy reader says it in its own words for what is not a mapping.
POLICY_MESSAGE = {"must be a mapping": "Input should be a valid dictionary"}


def _given_as(how: str, path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    if how == "answers":
        return ["--answers", str(path)]
    if how == "preset":
        return ["--preset", str(path)]
    monkeypatch.setenv(POLICY_ENV, str(path))
    return []


@pytest.mark.parametrize("how", ["answers", "preset", "policy"])
@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_a_malformed_file_is_one_line_and_exit_2(
    how: str, kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    name, content, message = MALFORMED[kind]
    path = tmp_path / name
    path.write_bytes(content)
    if how != "answers":
        message = POLICY_MESSAGE.get(message, message)
    before = tree_state(tmp_path)

    result = runner.invoke(app, ["new", "svc", "--defaults", *_given_as(how, path, monkeypatch)])

    assert result.exit_code == 2, (result.output, result.exception)
    assert message in result.stderr
    assert str(path) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert tree_state(tmp_path) == before


def test_a_directory_or_device_as_answers_file_is_refused(tmp_path: Path) -> None:
    for path, message in (
        (tmp_path, "cannot read it: Is a directory"),
        (Path("/dev/zero"), "larger"),
    ):
        result = runner.invoke(app, ["decide", "--defaults", "--answers", str(path)])
        assert result.exit_code == 2, (result.output, result.exception)
        assert message in result.stderr


MARKUP = ["[/]", "[bold red]x", "[italic]y[/]"]


def _refusal(args: list[str]) -> str:
    result = runner.invoke(app, ["decide", "--defaults", *args])
    assert result.exit_code == 2, (result.output, result.exception)
    return result.stderr


ECHOED: dict[str, Callable[[str], list[str]]] = {
    "unknown key": lambda text: ["--set", f"{text}=1"],
    "bad package name": lambda text: ["--set", f"package_name={text}"],
    "bad list item": lambda text: ["--set", f"blocking_deps=requests,{text}"],
    "missing preset": lambda text: ["--preset", text],
}


@pytest.mark.parametrize("text", MARKUP)
@pytest.mark.parametrize("given", sorted(ECHOED))
def test_user_text_in_errors_is_printed_literally(given: str, text: str) -> None:
    assert text in _refusal(ECHOED[given](text))


@pytest.mark.parametrize("text", MARKUP)
def test_user_text_in_the_created_message_is_printed_literally(
    text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    directory = f"out{text}"
    result = runner.invoke(
        app,
        [
            "new",
            directory,
            "--defaults",
            "--set",
            "project_name=svc",
            "--set",
            f"description={text} [/]",
            "--set",
            f"author={text}",
        ],
    )
    assert result.exit_code == 0, (result.output, result.exception)

    def squeezed(text: str) -> str:
        return "".join(text.split())  # Rich wraps long paths anywhere

    assert squeezed(f"Created {tmp_path / directory}") in squeezed(result.stdout)
    assert squeezed(f"cd {directory} &&") in squeezed(result.stdout)


def _alias_bomb(top: str) -> str:
    """A short YAML file whose ``top`` holds nested lists of 9**9 items through aliases."""
    lines = ['l0: &l0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, 9)]
    return "\n".join([*lines, f"{top} [*l8]", ""])


@pytest.mark.parametrize(
    ("option", "top"),
    [("--answers", "blocking_deps:"), ("--preset", "defaults:\n  blocking_deps:")],
)
def test_a_yaml_alias_bomb_is_refused_quickly_and_briefly(
    option: str, top: str, tmp_path: Path
) -> None:
    path = tmp_path / "bomb.yml"
    path.write_text(_alias_bomb(top))
    result = subprocess.run(
        [str(BIN / "apistarter"), "decide", "--defaults", option, str(path)],
        capture_output=True,
        text=True,
        timeout=30,  # quoting the bad value in full never finished
        env={**os.environ, "HOME": str(tmp_path / "home")},
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr) < 10_000
