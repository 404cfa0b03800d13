"""`new`: render a project, commit it, and move it into place."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apistarter.render.errors import RestoredError, describe, refusing_os_errors
from apistarter.render.git import commit_files, run_git
from apistarter.render.lock import write_lock
from apistarter.render.place import (
    BACKUP,
    MARKER_TEXT,
    STAGING_MARKER,
    check_destination,
    claim_directory,
    interrupted_once,
    locked,
    merge_into,
    place,
    remove,
    remove_leftovers,
    target_path,
)
from apistarter.render.source import check_template, render_copy


@dataclass(frozen=True)
class NewResult:
    """What `new` did besides creating the project."""

    directory: Path
    # With --force: the user's files replaced by the template's.
    overwritten: tuple[str, ...] = ()
    # With --force: files that were there before, left out of the first commit.
    untracked: tuple[str, ...] = ()
    # Staging directories of earlier runs that were killed, removed now.
    leftovers: tuple[str, ...] = ()
    # Backups of files a killed --force run had replaced: kept for the user.
    backups: tuple[str, ...] = ()
    # With lock=True: why uv.lock was not written (one line); empty when it was.
    lock_note: str = ""


def new_project(
    destination: Path,
    data: dict[str, Any],
    *,
    force: bool = False,
    template: str | None = None,
    before_commit: Callable[[Path], None] | None = None,
    history: Callable[[Path], None] | None = None,
    lock: bool = False,
) -> NewResult:
    """Render a project into ``destination``, then ``git init`` and commit it.

    Without ``force`` the destination must be missing or empty; an empty directory is
    kept (its inode and permissions) and filled. With ``force`` the rendered files are
    written over an existing directory after checking every path first: links and
    files where folders go are refused before anything is written, files the template
    does not produce are never touched, and a failure part-way puts everything back.
    ``before_commit`` gets the rendered tree before anything is moved into place (an
    adopted app's code is added there); what it raises leaves nothing behind.
    ``history`` gets the new repository before its first commit (an adopted app's commits
    become its first ones); a directory that holds files already keeps its own history.
    ``lock`` writes uv.lock into the first commit when uv can resolve the dependencies
    (the package index reachable); otherwise the result's ``lock_note`` says why not.
    """
    destination = target_path(destination)
    occupied = check_destination(destination, force=force)
    check_template(template, destination)
    author = str(data.get("author", ""))
    parent = destination.parent
    with refusing_os_errors():
        # Folders made for the target's parent are removed again if `new` fails.
        made = [folder for folder in (parent, *parent.parents) if not folder.exists()]
        parent.mkdir(parents=True, exist_ok=True)
    # A live run holds a lock on its staging directory for as long as it runs, so the
    # next run can tell a killed run's leftover (removed) from one in progress (kept).
    # Named before the try and created inside it: a Ctrl-C or SIGTERM at any moment after
    # the directory exists still removes it. The marker inside tells a staging directory
    # from a user's folder that happens to match the name pattern: only marked ones are
    # ever removed. The project is rendered into its own folder inside, beside the marker
    # (mkdir gives it the user's umask).
    staging = parent / f".{destination.name}.{secrets.token_hex(8)}"
    tree = staging / "service"
    claim: int | None = None
    done = False
    # Interrupted once, the rest runs to the end: undo and clean-up must not be cut short.
    with interrupted_once():
        try:
            with refusing_os_errors(), locked(parent):
                leftovers, backups = remove_leftovers(parent, destination.name)
                staging.mkdir()
                (staging / STAGING_MARKER).write_text(MARKER_TEXT, encoding="utf-8")
                with contextlib.suppress(OSError):  # no locks here: leftovers are then kept
                    claim = claim_directory(staging)
                tree.mkdir()
            render_copy(data, tree, template)
            if before_commit is not None:
                before_commit(tree)
            lock_note = write_lock(tree, str(data.get("python_version", ""))) if lock else ""
            overwritten: tuple[str, ...] = ()
            untracked: tuple[str, ...] = ()
            if occupied:
                overwritten, untracked = merge_into(tree, destination, author, staging / BACKUP)
            else:
                run_git("init", "--quiet", "--initial-branch=main", cwd=tree, author=author)
                if history is not None:
                    history(tree)
                commit_files(tree, author)
                place(tree, destination)
            done = True
        except OSError as error:
            raise RestoredError(
                f"could not create {destination} ({describe(error)}); nothing was left behind"
            ) from error
        finally:
            if claim is not None:
                os.close(claim)
            remove(staging)
            for folder in [] if done else made:
                with contextlib.suppress(OSError):
                    folder.rmdir()
    return NewResult(destination, overwritten, untracked, leftovers, backups, lock_note)
