"""`apistarter update` never loses work: a failure restores the project, history included.

Every refusal leaves the project byte-for-byte and history-for-history as it was
(tests.harness.tree_state before and after) with one line on stderr and exit 2;
every failure part-way restores it the same way and exits 1.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import copier
import pytest
from typer.testing import CliRunner, Result

from apistarter.cli import app
from apistarter.render import update as render_update
from apistarter.template_source import RECORDED_SOURCE

from .harness import git, tree_state

pytestmark = pytest.mark.slow
runner = CliRunner()


def _invoke(*args: str) -> Result:
    result = runner.invoke(app, list(args))
    # A traceback in the CLI shows up here as an exception other than the exit.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A FastAPI service (Granian on Kubernetes, so it has serve.py), committed."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    result = _invoke("new", str(tmp_path / "svc"), "--defaults", "--set", "project_name=orders-api")
    assert result.exit_code == 0, result.output
    return tmp_path / "svc"


def _commit(project: Path, message: str = "ours") -> None:
    git(project, "add", "-A")
    git(project, "commit", "--quiet", "-m", message)


def _unchanged(project: Path, code: int, *args: str) -> str:
    """Run `update` expecting ``code`` and an untouched project; its stderr on one line."""
    before = tree_state(project)
    result = _invoke("update", str(project), *args)
    assert result.exit_code == code, result.output
    assert tree_state(project) == before
    assert "Traceback" not in result.stderr
    return " ".join(result.stderr.split())


def test_an_edited_file_the_new_plan_drops_is_kept_as_a_conflict(project: Path) -> None:
    serve = project / "src" / "orders_api" / "serve.py"
    edited = serve.read_text() + "\n# Our tuning, kept across updates.\n"
    serve.write_text(edited)
    _commit(project)

    result = _invoke("update", str(project), "--set", "deploy=vm")

    assert result.exit_code == 1, result.output
    assert serve.read_text() == edited
    assert "conflict src/orders_api/serve.py" in " ".join(result.stdout.split())
    assert "gunicorn" in (project / "Dockerfile").read_text()  # the rest of the update arrived


def test_the_summary_names_added_changed_and_removed_files(project: Path) -> None:
    result = _invoke("update", str(project), "--set", "deploy=vm")

    assert result.exit_code == 0, result.output
    lines = {" ".join(line.split()) for line in result.stdout.splitlines()}
    assert "removed src/orders_api/serve.py" in lines
    assert "added src/orders_api/gunicorn_conf.py" in lines
    assert "changed Dockerfile" in lines
    assert not (project / "src" / "orders_api" / "serve.py").exists()
    assert "Dependencies changed: reinstall" in result.stdout  # gunicorn joins them


def test_a_set_that_changes_nothing_in_the_plan_says_so(project: Path) -> None:
    result = _invoke("update", str(project), "--set", "cpus=4")

    assert result.exit_code == 0, result.output
    assert "--set cpus=4 changes nothing in the plan" in " ".join(result.stdout.split())
    assert "Dependencies changed" not in result.stdout


def test_update_names_the_template_source(project: Path) -> None:
    result = _invoke("update", str(project))
    assert result.exit_code == 0, result.output
    assert f"Template source: {RECORDED_SOURCE}" in result.stdout


def test_a_folder_that_became_a_file_is_refused_before_any_write(project: Path) -> None:
    git(project, "rm", "-rq", "loadtest")
    (project / "loadtest").write_text("our notes\n")
    _commit(project)

    message = _unchanged(project, 2, "--set", "deploy=vm")

    assert "loadtest is a file where the template needs a folder" in message


def test_a_link_out_of_the_project_is_never_written_through(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.md"
    outside.write_text("not the service's\n")
    (project / "README.md").unlink()
    (project / "README.md").symlink_to(outside)
    _commit(project)

    message = _unchanged(project, 2)

    assert "README.md is a symbolic link" in message
    assert outside.read_text() == "not the service's\n"


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (KeyboardInterrupt(), "interrupted"),
        (OSError(28, "No space left on device"), "No space left on device"),
    ],
    ids=["interrupt", "disk-full"],
)
def test_a_failure_after_copier_wrote_restores_everything(
    project: Path, monkeypatch: pytest.MonkeyPatch, failure: BaseException, expected: str
) -> None:
    real = render_update._copier_update

    def update_then_fail(*args: object, **kwargs: object) -> None:
        real(*args, **kwargs)  # type: ignore[arg-type]
        raise failure  # after Copier wrote every file: the worst moment

    monkeypatch.setattr(render_update, "_copier_update", update_then_fail)

    message = _unchanged(project, 1, "--set", "deploy=vm")

    assert expected in message and "restored" in message


def _fork(tmp_path: Path, change: str) -> Path:
    """A platform team's fork of the installed template with one README line changed."""
    fork = tmp_path / "fork"
    git(tmp_path, "clone", "--quiet", str(Path(RECORDED_SOURCE).expanduser()), str(fork))
    readme = fork / "_shared" / "README.md.jinja"
    text = readme.read_text()
    readme.write_text(text.replace("## Run it\n", f"## Run it\n\n{change}\n", 1))
    git(fork, "commit", "--quiet", "-am", "our golden path")
    git(fork, "tag", "v99.1.0")
    return fork


def test_fork_conflicts_end_listed_without_a_stray_commit(project: Path, tmp_path: Path) -> None:
    readme = project / "README.md"
    readme.write_text(readme.read_text().replace("## Run it\n", "## Run it\n\nOurs.\n", 1))
    _commit(project)
    history = git(project, "log", "--all", "--format=%H %s")
    fork = _fork(tmp_path, "Theirs.")

    result = _invoke("update", str(project), "--template", str(fork))

    assert result.exit_code == 1, result.output
    assert "conflict README.md" in " ".join(result.stdout.split())
    assert "<<<<<<< before updating" in readme.read_text()
    assert git(project, "log", "--all", "--format=%H %s") == history
    assert git(project, "diff", "--cached", "--name-only") == ""  # nothing half-staged
    assert f"_src_path: {fork}" in (project / ".copier-answers.yml").read_text()


def test_a_fork_without_conflicts_leaves_the_answers_file_unstaged(
    project: Path, tmp_path: Path
) -> None:
    fork = _fork(tmp_path, "Theirs.")
    result = _invoke("update", str(project), "--template", str(fork))
    assert result.exit_code == 0, result.output
    assert git(project, "diff", "--cached", "--name-only") == ""
    assert " M .copier-answers.yml" in git(project, "status", "--porcelain")


def test_a_fork_that_needs_trust_is_refused(project: Path, tmp_path: Path) -> None:
    fork = _fork(tmp_path, "Theirs.")
    copier_yml = fork / "copier.yml"
    copier_yml.write_text(copier_yml.read_text() + "\n_tasks:\n  - touch pwned\n")
    git(fork, "commit", "--quiet", "-am", "a task")
    git(fork, "tag", "v99.2.0")

    message = _unchanged(project, 2, "--template", str(fork))

    assert "--trust" in message
    assert not (project / "pwned").exists()


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("", "error: --template is empty: name a fork (a path or a git URL)"),
        ("/nonexistent", "error: --template /nonexistent: no such file or directory"),
    ],
)
def test_a_template_that_is_no_template_is_refused_in_one_line(
    project: Path, template: str, expected: str
) -> None:
    assert _unchanged(project, 2, "--template", template) == expected


def _recording(key: str, value: str) -> Callable[[str], str]:
    """An edit of the answers file: ``key`` (a top-level line) now records ``value``."""
    return lambda text: re.sub(rf"^{key}:.*$", f"{key}: {value}", text, count=1, flags=re.M)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (_recording("_src_path", "[unclosed"), "cannot be read as YAML"),
        (_recording("_commit", "v0.0.7"), "does not have"),
        (_recording("_src_path", "/somewhere/else"), "--template /somewhere/else"),
        (_recording("decision", "5\nrecorded_decision:"), "decision must be a mapping"),
        (_recording("framework", "7"), "records framework=7: choose one of"),
        (_recording("server", "3\nrecorded_server:"), "server must be a mapping"),
        (_recording("load_test", "x\nrecorded_load:"), "load_test must be a mapping"),
    ],
    ids=["malformed", "unknown-commit", "other-source", "decision", "framework", "plan", "load"],
)
def test_broken_or_foreign_answers_are_refused(
    project: Path, edit: Callable[[str], str], expected: str
) -> None:
    path = project / ".copier-answers.yml"
    path.write_text(edit(path.read_text()))
    _commit(project)

    assert expected in _unchanged(project, 2)


def test_plain_copier_refuses_a_framework_switch(project: Path) -> None:
    before = tree_state(project)
    with pytest.raises(ValueError, match="apistarter update --set framework=flask"):
        copier.run_update(
            project, data={"framework": "flask"}, defaults=True, overwrite=True, quiet=True
        )
    assert tree_state(project) == before


@pytest.mark.parametrize("again", [False, True], ids=["once", "again-until-it-exits"])
def test_ctrl_c_during_a_real_update_restores_everything(
    project: Path, tmp_path: Path, again: bool
) -> None:
    """SIGINT to the CLI process while Copier is at work (its scratch directories exist),
    and again every 10 ms while it restores and reports, as an impatient user does."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    before = tree_state(project)
    env = {**os.environ, "TMPDIR": str(scratch)}
    process = subprocess.Popen(
        [sys.executable, "-m", "apistarter", "update", str(project), "--set", "deploy=vm"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    # Copier's old and new copies: the update proper has begun.
    while not any(p.name.startswith("copier._main.old_copy") for p in scratch.iterdir()):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    while again and process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
        process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    seen = f"exit {process.returncode}\nstdout:\n{stdout}\nstderr:\n{stderr}"

    # Presses after the first are ignored to the end, the last message included.
    assert process.returncode == 1, seen
    assert "Traceback" not in stderr, seen
    assert "the project was restored to its last commit" in stderr, seen
    assert tree_state(project) == before


def _update_process(project: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "apistarter", "update", str(project), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_an_update_while_another_holds_the_lock_is_refused(project: Path) -> None:
    git_dir = project / git(project, "rev-parse", "--git-dir").strip()
    holder = os.open(git_dir / render_update.UPDATE_LOCK, os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        message = _unchanged(project, 2, "--set", "deploy=vm")
    finally:
        os.close(holder)

    assert "another apistarter update of" in message and "is running" in message


def test_two_updates_at_once_one_runs_and_the_other_changes_nothing(
    project: Path, tmp_path: Path
) -> None:
    """The attack: two real processes; before the lock both exited 0 and left a
    Dockerfile running a module the other had deleted."""
    alone = tmp_path / "alone"
    shutil.copytree(project, alone, symlinks=True)
    runs = {
        "deploy=vm": _update_process(project, "--set", "deploy=vm"),
        "deploy=compose": _update_process(project, "--set", "deploy=compose"),
    }
    outcomes = {name: (run.wait(timeout=300), run.communicate()[1]) for name, run in runs.items()}

    codes = sorted(code for code, _ in outcomes.values())
    assert codes == [0, 2], outcomes
    winner = next(name for name, (code, _) in outcomes.items() if code == 0)
    (_, message) = next(outcome for outcome in outcomes.values() if outcome[0] == 2)
    assert "Traceback" not in message and len(message.strip().splitlines()) == 1, message
    # The project holds the winner's update exactly as if it had run alone.
    alone_run = _update_process(alone, "--set", winner)
    assert alone_run.wait(timeout=300) == 0, alone_run.communicate()
    assert tree_state(project) == tree_state(alone)
