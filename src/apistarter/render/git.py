"""git, as rendering uses it: the first commit, reading a service's history."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from apistarter import __version__
from apistarter.render.errors import RenderError, RestoredError


def run_git(*args: str, cwd: Path, author: str, stdin: str | None = None) -> None:
    env = dict(os.environ)
    # The first commit needs an identity; borrow one only where git has none.
    # Not the free-text author answer: git rejects names made only of some characters.
    if not _git_identity(cwd):
        env.update(
            GIT_AUTHOR_NAME="apistarter",
            GIT_COMMITTER_NAME="apistarter",
            GIT_AUTHOR_EMAIL="apistarter@localhost",
            GIT_COMMITTER_EMAIL="apistarter@localhost",
        )
    result = subprocess.run(
        ["git", *args], cwd=cwd, env=env, input=stdin, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        # Raised part-way through writing: the callers undo what was written.
        raise RestoredError(f"git {args[0]} failed: {' '.join(result.stderr.split())}")


def _git_identity(cwd: Path) -> bool:
    result = subprocess.run(
        ["git", "config", "user.email"], cwd=cwd, capture_output=True, text=True, check=False
    )
    return bool(result.stdout.strip())


def git_output(*args: str, cwd: Path) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RenderError(f"git {args[0]} failed in {cwd}: {' '.join(result.stderr.split())}")
    return result.stdout


def commit_files(directory: Path, author: str, paths: list[str] | None = None) -> None:
    """Commit ``paths`` (every file when None) as the project's first commit."""
    if paths is None:
        run_git("add", "--all", cwd=directory, author=author)
    else:
        run_git(
            "add",
            "--pathspec-from-file=-",
            "--pathspec-file-nul",
            cwd=directory,
            author=author,
            stdin="\0".join(paths),
        )
    run_git(
        "commit",
        "--quiet",
        "--no-verify",
        "-m",
        f"Generate service with apistarter {__version__}",
        cwd=directory,
        author=author,
    )


def committed(directory: Path, head: str, path: str) -> bytes | None:
    """``path``'s content at commit ``head``; None when it has no such file."""
    result = subprocess.run(
        ["git", "show", f"{head}:{path}"], cwd=directory, capture_output=True, check=False
    )
    return result.stdout if result.returncode == 0 else None
