"""`apistarter new` writes only inside its target and overwrites only what it lists.

Refusals leave the whole sandbox around the target as it was (tests.harness.tree_state)
with one line on stderr and exit 2; failures part-way leave nothing behind and exit 1.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from apistarter.cli import app
from apistarter.render import STAGING_MARKER, templates_dir

from .harness import git, signal_new_once_staging, tree_state

pytestmark = pytest.mark.slow
runner = CliRunner()
APISTARTER = [sys.executable, "-m", "apistarter"]


def _new(*args: str) -> Result:
    result = runner.invoke(app, ["new", *args, "--defaults"])
    # A traceback in the CLI shows up here as an exception other than the exit.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.stderr
    return result


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    return sandbox


def _refused(sandbox: Path, *args: str) -> str:
    """Run `new` expecting a refusal that leaves the sandbox as it was; stderr on one line."""
    before = tree_state(sandbox)
    result = _new(*args)
    assert result.exit_code == 2, result.output
    assert tree_state(sandbox) == before
    return " ".join(result.stderr.split())


@pytest.mark.parametrize("linked", ["README.md", "docs"])
def test_force_never_writes_through_a_link_out_of_the_target(sandbox: Path, linked: str) -> None:
    outside = sandbox / "outside"
    outside.mkdir()
    (outside / "README.md").write_text("not the service's\n")
    (outside / "docs").mkdir()
    target = sandbox / "svc"
    target.mkdir()
    (target / "notes.txt").write_text("mine\n")
    (target / linked).symlink_to(outside / linked)

    message = _refused(sandbox, str(target), "--force")

    assert f"{linked} is a symbolic link" in message


def test_a_file_where_the_template_needs_a_folder_is_refused_before_any_write(
    sandbox: Path,
) -> None:
    target = sandbox / "svc"
    target.mkdir()
    (target / "README.md").write_text("my readme\n")
    (target / "src").write_text("a file, not a folder\n")

    message = _refused(sandbox, str(target), "--force")

    assert "src is a file where the template needs a folder" in message


def test_force_lists_what_it_overwrites_and_commits_only_its_own_files(sandbox: Path) -> None:
    target = sandbox / "svc"
    target.mkdir()
    (target / "README.md").write_text("my readme\n")
    (target / "notes.txt").write_text("mine\n")

    result = _new(str(target), "--force")

    assert result.exit_code == 0, result.output
    output = " ".join(result.stdout.split())
    assert "Overwrote 1 file(s): README.md" in output
    assert "notes.txt" in output
    assert git(target, "status", "--porcelain") == "?? notes.txt\n"
    assert (target / "notes.txt").read_text() == "mine\n"


def test_new_dot_keeps_the_directory_itself(sandbox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = sandbox / "orders-api"
    target.mkdir()
    target.chmod(0o750)
    before = target.stat()
    monkeypatch.chdir(target)

    result = _new(".")

    assert result.exit_code == 0, result.output
    after = target.stat()
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    assert Path.cwd().samefile(target)  # the shell's working directory survives
    assert git(target, "status", "--porcelain") == ""
    assert not [p for p in sandbox.iterdir() if p.name.startswith(".")]


def _staging(work: Path) -> list[Path]:
    return [p for p in work.iterdir() if p.name.startswith(".svc.")]


def test_staging_left_by_kill_9_is_removed_by_the_next_run(sandbox: Path) -> None:
    if signal_new_once_staging(sandbox, os.environ, signal.SIGKILL) is None:
        pytest.skip("the run finished before it could be killed")
    leftovers = _staging(sandbox)
    assert leftovers, "a killed run cannot remove its staging directory"
    # A run still in progress holds its staging directory: that one must stay.
    live = sandbox / ".svc.0123456789abcdef"
    live.mkdir()
    holder = os.open(live, os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        result = _new(str(sandbox / "svc"))
    finally:
        os.close(holder)

    assert result.exit_code == 0, result.output
    assert _staging(sandbox) == [live]
    assert f"Removed {leftovers[0].name}, left behind by an interrupted run" in result.stdout


def test_a_name_too_long_is_one_line(sandbox: Path) -> None:
    assert "File name too long" in _refused(sandbox, str(sandbox / ("a" * 300)))


def test_a_parent_without_write_permission_is_one_line(
    sandbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Root writes anywhere, so the refusal the kernel gives other users is simulated.
    real = Path.mkdir

    def refuse(
        path: Path, mode: int = 0o777, parents: bool = False, exist_ok: bool = False
    ) -> None:
        if path.parent == sandbox:
            raise PermissionError(13, "Permission denied", str(path))
        real(path, mode, parents, exist_ok)

    monkeypatch.setattr(Path, "mkdir", refuse)

    assert "Permission denied" in _refused(sandbox, str(sandbox / "svc"))


def test_a_full_disk_leaves_nothing_behind(sandbox: Path) -> None:
    disk = sandbox / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        (disk / "kept.txt").write_text("already here\n")
        before = tree_state(sandbox)
        result = _new(str(disk / "svc"))
        assert result.exit_code == 1, result.output
        assert "No space left on device" in result.stderr
        assert tree_state(sandbox) == before
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_two_runs_racing_for_one_directory(sandbox: Path) -> None:
    runs = [
        subprocess.Popen(
            [*APISTARTER, "new", "svc", "--defaults"],
            cwd=sandbox,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outcomes = sorted((run.wait(timeout=120), run.communicate()[1]) for run in runs)

    (won, _), (lost, message) = outcomes
    assert (won, lost) in ((0, 1), (0, 2)), outcomes
    assert "Traceback" not in message and len(message.strip().splitlines()) == 1, message
    project = sandbox / "svc"
    assert git(project, "status", "--porcelain") == ""
    assert git(project, "rev-list", "--count", "HEAD") == "1\n"
    assert not _staging(sandbox)


def test_backups_left_by_a_killed_force_run_are_kept_and_named(sandbox: Path) -> None:
    target = sandbox / "svc"
    target.mkdir()
    (target / "README.md").write_text("half-replaced\n")
    backup = sandbox / ".svc.00112233445566aa" / ".apistarter-backup"
    backup.mkdir(parents=True)
    (backup.parent / STAGING_MARKER).write_text("")
    (backup / "README.md").write_text("the user's original\n")

    result = _new(str(target), "--force")

    assert result.exit_code == 0, result.output
    assert (backup / "README.md").read_text() == "the user's original\n"
    assert f"{backup} holds files an interrupted --force run replaced" in " ".join(
        result.stderr.split()
    )


@pytest.mark.parametrize("target", ["svc", "a/b/svc"])
def test_a_template_that_needs_trust_is_refused(sandbox: Path, target: str) -> None:
    fork = sandbox.parent / "fork"
    shutil.copytree(templates_dir(), fork)
    with (fork / "copier.yml").open("a") as copier_yml:
        copier_yml.write("\n_tasks:\n  - touch pwned\n")

    # With a/b/svc: the folders made for the target's parent are gone again too.
    message = _refused(sandbox, str(sandbox / target), "--template", str(fork))

    assert "--trust" in message


def test_a_template_that_does_not_exist_is_refused(sandbox: Path) -> None:
    message = _refused(sandbox, str(sandbox / "svc"), "--template", str(sandbox / "nonexistent"))

    assert f"--template {sandbox / 'nonexistent'}: no such file or directory" in message


def test_a_template_git_cannot_reach_is_refused_in_one_line(sandbox: Path) -> None:
    # Loopback port 1: nothing listens, git's clone fails at once.
    message = _refused(sandbox, str(sandbox / "svc"), "--template", "https://127.0.0.1:1/fork.git")

    assert "could not be read: fatal: unable to access" in message


def test_an_empty_template_is_refused_not_the_current_folder_copied(
    sandbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = sandbox / "work"
    work.mkdir()
    (work / "notes.txt").write_text("mine\n")
    monkeypatch.chdir(work)

    message = _refused(sandbox, str(work / "svc"), "--template", "")

    assert message == "error: --template is empty: name a fork (a path or a git URL)"


def test_a_template_the_target_is_inside_is_refused(sandbox: Path) -> None:
    fork = sandbox / "fork"
    shutil.copytree(templates_dir(), fork)

    message = _refused(sandbox, str(fork / "svc"), "--template", str(fork))

    assert "inside the template" in message


def test_a_folder_that_only_looks_like_a_staging_directory_survives(sandbox: Path) -> None:
    lookalike = sandbox / ".svc.0123456789abcdef"
    lookalike.mkdir()
    (lookalike / "thesis.tex").write_text("three years of work\n")

    result = _new(str(sandbox / "svc"))

    assert result.exit_code == 0, result.output
    assert (lookalike / "thesis.tex").read_text() == "three years of work\n"
    assert "Removed" not in result.stdout


@pytest.mark.parametrize("points_to", ["missing", "empty-folder"])
def test_force_refuses_a_git_folder_that_is_a_link(sandbox: Path, points_to: str) -> None:
    # git init would create (or fill) a repository wherever .git points.
    elsewhere = sandbox / "elsewhere"
    if points_to == "empty-folder":
        elsewhere.mkdir()
    target = sandbox / "svc"
    target.mkdir()
    (target / "notes.txt").write_text("mine\n")
    (target / ".git").symlink_to(elsewhere)

    message = _refused(sandbox, str(target), "--force")

    assert ".git is a symbolic link" in message
    assert not (elsewhere / "HEAD").exists()
