"""The command line: answers from files and flags, refusals that write nothing."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from apistarter.cli import app
from apistarter.render import templates_dir

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("apistarter ")


def test_decide_json_from_answers_file_and_set(tmp_path: Path) -> None:
    answers = tmp_path / "answers.yml"
    answers.write_text("workload: sync\npeak_concurrency: 5\nteam_async: none\n")
    result = runner.invoke(
        app,
        [
            "decide",
            "--answers",
            str(answers),
            "--set",
            "api_consumers=internal",
            "--defaults",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    recommendation = json.loads(result.stdout)
    assert recommendation["framework"] == "flask"
    assert recommendation["server"]["worker_class"] == "gthread"
    assert all(reason["source"] for reason in recommendation["reasons"])


def test_set_overrides_the_answers_file(tmp_path: Path) -> None:
    answers = tmp_path / "answers.json"
    answers.write_text(
        json.dumps({"workload": "sync", "peak_concurrency": 5, "team_async": "none"})
    )
    result = runner.invoke(
        app,
        ["decide", "--answers", str(answers), "--set", "team_async=strong", "--defaults", "--json"],
    )
    assert json.loads(result.stdout)["framework"] == "fastapi"


def test_missing_answers_without_a_tty_are_named() -> None:
    result = runner.invoke(app, ["decide", "--set", "workload=sync"])
    assert result.exit_code == 2
    assert "no answer for: codebase" in result.stderr
    assert "workload," not in result.stderr  # answered, so not listed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "workload=fast"], "workload: Input should be"),
        (["--set", "colour=blue"], "colour: unknown question"),
        (["--set", "cpus=many"], "cpus: Input should be a valid integer"),
        (["--set", "novalue"], "expected KEY=VALUE"),
        (["--set", "blocking_deps=requests,curl"], "blocking_deps"),
        (["--set", "existing_routes=5"], "need codebase=existing-flask"),
    ],
)
def test_bad_answers_exit_2_with_the_key(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["decide", "--defaults", *args])
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())


def test_malformed_answers_file(tmp_path: Path) -> None:
    answers = tmp_path / "answers.yml"
    answers.write_text("workload: [unclosed\n")
    result = runner.invoke(app, ["decide", "--answers", str(answers), "--defaults"])
    assert result.exit_code == 2
    assert "not valid YAML" in result.stderr


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Orders_API", "use lowercase letters"),
        ("class", "Python keyword"),
        ("json", "would shadow a module"),
        ("a" * 51, "at most 50 characters"),
    ],
)
def test_new_refuses_bad_names_and_writes_nothing(
    name: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    result = runner.invoke(app, ["new", "--defaults", "--set", f"project_name={name}"])
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_new_refuses_a_non_empty_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    target = tmp_path / "svc"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    result = runner.invoke(app, ["new", str(target), "--defaults"])
    assert result.exit_code == 2
    assert "not empty" in result.stderr
    assert [p.name for p in target.iterdir()] == ["notes.txt"]


def test_questions_json_lists_every_answer_key() -> None:
    result = runner.invoke(app, ["questions", "--json"])
    ids = {question["id"] for question in json.loads(result.stdout)}
    assert {"workload", "blocking_deps", "deploy", "project_name", "python_version"} <= ids


def test_new_without_a_tty_lists_every_missing_answer_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    result = runner.invoke(app, ["new", "svc", "--set", "workload=sync"])
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "no answer for: description, author, python_version, codebase," in message
    assert "legacy_app" not in message and "package_name" not in message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_new_renders_from_a_forked_template(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    fork = tmp_path / "fork"
    shutil.copytree(templates_dir(), fork)
    readme = fork / "_shared" / "README.md.jinja"
    readme.write_text(readme.read_text() + "\nPlatform team: ask #platform for help.\n")
    result = runner.invoke(app, ["new", "svc", "--defaults", "--template", str(fork)])
    assert result.exit_code == 0, result.output
    assert "ask #platform for help" in (tmp_path / "svc" / "README.md").read_text()
    assert f"_src_path: {fork}" in (tmp_path / "svc" / ".copier-answers.yml").read_text()


def _file(name: str, text: str) -> Callable[[Path], list[str]]:
    def answers(tmp_path: Path) -> list[str]:
        (tmp_path / name).write_text(text)
        return ["--answers", str(tmp_path / name)]

    return answers


def _args(*args: str) -> Callable[[Path], list[str]]:
    return lambda _: list(args)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (_args("--set", "project_name="), "project_name: must not be empty"),
        (_args("--set", "project_name=-svc"), "use lowercase letters"),
        (_args("--set", "package_name=match"), "'match' is a Python keyword"),
        (_args("--set", "package_name=os"), "would shadow a module"),
        (_args("--set", "package_name=Orders"), "must use lowercase letters"),
        (_args("--set", "package_name=" + "a" * 51), "longer than 50 characters"),
        (_args("--set", "description=" + "x" * 501), "at most 500 characters"),
        (_args("--set", "legacy_app=legacy.app"), "use module.path:name"),
        (_args("--set", "python_version=2.7"), "python_version: Input should be"),
        (_args("--set", "deploy=mainframe"), "deploy: Input should be"),
        (_args("--framework", "django"), "choose one of fastapi, flask, hybrid"),
        (_file("a.json", '{"workload": "io-bound",}'), "not valid JSON"),
        (_file("a.yml", "- workload\n"), "must be a mapping of question ids"),
        (_file("a.yml", "1: io-bound\n"), "must be a mapping of question ids"),
        (lambda tmp: ["--answers", str(tmp / "missing.yml")], "cannot read it"),
        (_args("--preset", "unknown"), "no such preset or file"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_new_refuses_invalid_input_with_one_message_and_writes_nothing(
    given: Callable[[Path], list[str]],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    args = given(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())

    result = runner.invoke(app, ["new", "svc", "--defaults", *args])

    assert result.exit_code == 2, result.output
    assert message in " ".join(result.stderr.split())
    assert result.stderr.count("error:") == 1
    assert result.stdout == ""  # nothing shown as if it had worked
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_new_refuses_a_file_as_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    target = tmp_path / "svc"
    target.write_text("mine")
    result = runner.invoke(app, ["new", str(target), "--defaults"])
    assert result.exit_code == 2
    assert "exists and is not a directory" in result.stderr
    assert target.read_text() == "mine"
