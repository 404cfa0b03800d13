"""`update`: re-render a service at a newer template version, keeping the user's edits."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import tempfile
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import copier
from copier.errors import UnsafeTemplateError

from apistarter.render.errors import RenderError, RestoredError, describe, refusing_os_errors
from apistarter.render.git import committed, git_output, run_git
from apistarter.render.lock import write_lock
from apistarter.render.place import check_paths, interrupted_once
from apistarter.render.recorded import ANSWERS_FILE, recorded_answers
from apistarter.render.source import needs_trust, render_copy, template_version_ref
from apistarter.resolve import ResolveError, compile_set

# Copier's inline conflict markers.
CONFLICT_MARKER = "<<<<<<< before updating"


@dataclass(frozen=True)
class UpdateResult:
    """What an update left in the working tree for the user to review."""

    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]
    # Files with conflict markers, .rej files, unmerged paths.
    conflicts: tuple[str, ...]
    # Files the user changed that the new template no longer produces: kept, to decide on.
    kept: tuple[str, ...]
    # pyproject.toml's dependencies differ: the service's environment needs a reinstall.
    dependencies_changed: bool
    # The service has a uv.lock and pyproject.toml changed: why it could not be
    # written again (one line); empty when it was, or when there was nothing to relock.
    lock_note: str = ""
    # How the changed dependencies were resolved, when the user should know (offline).
    dependencies_note: str = ""


def _copier_update(directory: Path, data: dict[str, Any], conflict: str, ref: str | None) -> None:
    copier.run_update(
        directory,
        data=data,
        vcs_ref=ref,
        defaults=True,
        overwrite=True,
        quiet=True,
        unsafe=False,
        conflict="rej" if conflict == "rej" else "inline",
    )


@contextlib.contextmanager
def _switched_source(directory: Path, template: str) -> Iterator[None]:
    """Record ``template`` as the project's source for the length of one update.

    Copier updates only from the source in the answers file and only in a clean
    tree, so the new source is committed for the update and the commit is undone
    afterwards (a mixed reset: it works with unmerged paths, and leaves every change
    unstaged, the answers file included). The user reviews one uncommitted change, as
    after any update. A failure is undone by :func:`update_project`.
    """
    answers = directory / ANSWERS_FILE
    text = answers.read_text(encoding="utf-8")
    switched, found = re.subn(
        r"^_src_path: .*$", lambda _: f"_src_path: {json.dumps(template)}", text, flags=re.M
    )
    if not found:
        raise RenderError(f"{answers} records no _src_path to switch")
    head = git_output("rev-parse", "HEAD", cwd=directory).strip()
    answers.write_text(switched, encoding="utf-8")
    run_git(
        "commit",
        "--quiet",
        "--no-verify",
        "-m",
        "apistarter: switch template source",
        ANSWERS_FILE,
        cwd=directory,
        author="",
    )
    yield
    git_output("reset", "--quiet", head, cwd=directory)


def update_project(
    directory: Path,
    data: dict[str, Any],
    recorded: dict[str, Any],
    *,
    conflict: str = "inline",
    template: str | None = None,
) -> UpdateResult:
    """Re-render a project at a newer template version, keeping the user's edits.

    ``recorded`` are the project's answers before the update (see
    :func:`recorded_answers`). ``template`` moves the project to another source (a
    platform team's fork); the fork must hold the version the project was made with,
    which Copier diffs against. Any failure, an interrupt included, puts the working
    tree and the history back as they were and raises :class:`RestoredError`.
    """
    with _update_lock(directory):
        # Read again under the lock: a run that held it before may have changed them.
        if recorded_answers(directory) != recorded:
            raise RenderError(
                f"{directory / ANSWERS_FILE} changed while this update was prepared "
                "(another update?); run it again. Nothing was changed"
            )
        return _update_locked(directory, data, recorded, conflict, template)


# In the service's git directory: held (flock) by the update in progress.
UPDATE_LOCK = "apistarter-update.lock"


@contextlib.contextmanager
def _update_lock(directory: Path) -> Iterator[None]:
    """Hold the service's update lock; refuse when another update holds it.

    An flock, not a file's existence: the kernel releases it when its holder exits,
    however it exits (kill -9 included), so no lock is ever stale and none needs
    clearing by hand. The file stays in the git directory (deleting it would let two
    runs lock two different files).
    """
    git_dir = Path(git_output("rev-parse", "--absolute-git-dir", cwd=directory).strip())
    with refusing_os_errors():
        descriptor = os.open(git_dir / UPDATE_LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RenderError(
                f"another apistarter update of {directory} is running; let it finish and "
                "review its result. Nothing was changed"
            ) from None
        except OSError:
            pass  # a file system without locks: no turns
        yield
    finally:
        os.close(descriptor)


def _update_locked(
    directory: Path,
    data: dict[str, Any],
    recorded: dict[str, Any],
    conflict: str,
    template: str | None,
) -> UpdateResult:
    # Copier writes every file of the new version, following links: rendered first
    # into a scratch directory, every path it will write is checked beforehand.
    with tempfile.TemporaryDirectory(prefix="apistarter-next-") as scratch:
        render_copy(data, Path(scratch) / "next", template)
        check_paths(Path(scratch) / "next", directory)
    head = git_output("rev-parse", "HEAD", cwd=directory).strip()
    ignored = _ignored(directory)
    with interrupted_once():
        try:
            if template is None:
                _copier_update(directory, data, conflict, template_version_ref())
            else:
                with _switched_source(directory, template):
                    _copier_update(directory, data, conflict, None)  # the fork's newest version
            kept = _keep_edited_files(directory, head, recorded)
            python_version = str(data.get("python_version", ""))
            dependencies_note = _resolve(directory, head, recorded, python_version)
            lock_note = _relock(directory, head, python_version)
        except BaseException as error:
            _restore(directory, head, ignored)
            if isinstance(error, ResolveError):
                # The installed service would not install: refused, as if never started.
                raise RenderError(
                    f"update refused: the updated pyproject.toml's dependencies do not resolve "
                    f"({error}); the project was left as it was"
                ) from None
            if isinstance(error, UnsafeTemplateError):
                raise needs_trust(template) from None
            if isinstance(error, KeyboardInterrupt):
                reason = "interrupted"
            elif isinstance(error, OSError):
                reason = describe(error)
            else:
                reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise RestoredError(
                f"update failed ({reason}); the project was restored to its last commit"
            ) from None
    return replace(
        _summary(directory, head, kept), lock_note=lock_note, dependencies_note=dependencies_note
    )


def _resolve(directory: Path, head: str, recorded: dict[str, Any], python_version: str) -> str:
    """Resolve the updated dependencies as `pip install -e '.[dev]'` installs them, when
    they changed or hold an adopted app's (recorded before apistarter resolved them); the
    offline note, if any. ResolveError when they do not resolve."""
    if not _dependencies_changed(directory, head) and not recorded.get("legacy"):
        return ""
    return compile_set(python_version, pyproject=directory / "pyproject.toml", extras=["dev"]).note


def _relock(directory: Path, head: str, python_version: str) -> str:
    """Write the service's uv.lock again when it has one and pyproject.toml changed:
    left as it was, the image's frozen install and CI's lock check would fail."""
    if committed(directory, head, "uv.lock") is None or committed(
        directory, head, "pyproject.toml"
    ) == _read(directory / "pyproject.toml"):
        return ""
    return write_lock(directory, python_version)


def _ignored(directory: Path) -> set[str]:
    """Ignored paths in the working tree (git collapses ignored folders to one entry)."""
    status = git_output("status", "--porcelain", "--ignored", "-z", cwd=directory)
    return {entry[3:] for entry in status.split("\0") if entry.startswith("!! ")}


def _restore(directory: Path, head: str, ignored: set[str]) -> None:
    """Put the working tree, the index and the branch back at ``head``."""
    git_output("reset", "--quiet", "--hard", head, cwd=directory)
    git_output("clean", "--quiet", "-fd", cwd=directory)
    for path in _ignored(directory) - ignored:
        target = directory / path
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)


def _keep_edited_files(directory: Path, head: str, recorded: dict[str, Any]) -> tuple[str, ...]:
    """Bring back files Copier deleted because the new template dropped them, if edited.

    Copier removes every file the old template version produced and the new one does
    not, edited or not. The old version is rendered again with the recorded answers;
    a deleted file whose committed content differs from that render was the user's
    work: it is restored and reported.
    """
    deleted = git_output("diff", "--name-only", "-z", "--diff-filter=D", head, cwd=directory).split(
        "\0"
    )
    deleted = [path for path in deleted if path]
    if not deleted:
        return ()
    with tempfile.TemporaryDirectory(prefix="apistarter-previous-") as tmp:
        copier.run_copy(
            str(recorded["_src_path"]),
            tmp,
            data={k: v for k, v in recorded.items() if not k.startswith("_")},
            vcs_ref=str(recorded["_commit"]),
            defaults=True,
            overwrite=True,
            quiet=True,
            unsafe=False,
        )
        pristine = Path(tmp)
        kept = [
            path for path in deleted if committed(directory, head, path) != _read(pristine / path)
        ]
    if kept:
        git_output("checkout", head, "--", *kept, cwd=directory)
    return tuple(kept)


def _read(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def _summary(directory: Path, head: str, kept: tuple[str, ...]) -> UpdateResult:
    status = git_output("status", "--porcelain", "-z", "--untracked-files=all", cwd=directory)
    added, changed, removed, conflicts = [], [], [], []
    for entry in filter(None, status.split("\0")):
        code, path = entry[:2], entry[3:]
        if "U" in code or code in ("AA", "DD") or path.endswith(".rej"):
            conflicts.append(path)
        elif code == "??" or "A" in code:
            added.append(path)
        elif "D" in code:
            removed.append(path)
        else:
            changed.append(path)
    for path in [*added, *changed]:
        target = directory / path
        if target.is_file() and CONFLICT_MARKER in target.read_text(
            encoding="utf-8", errors="ignore"
        ):
            conflicts.append(path)
    return UpdateResult(
        added=tuple(p for p in added if p not in conflicts),
        changed=tuple(p for p in changed if p not in conflicts),
        removed=tuple(removed),
        conflicts=tuple(sorted(conflicts)),
        kept=kept,
        dependencies_changed=_dependencies_changed(directory, head),
    )


def _dependencies_changed(directory: Path, head: str) -> bool:
    return _dependencies(committed(directory, head, "pyproject.toml")) != _dependencies(
        _read(directory / "pyproject.toml")
    )


def _dependencies(pyproject: bytes | None) -> object:
    """A pyproject's runtime and optional dependencies; the raw text if it does not parse."""
    if pyproject is None:
        return None
    try:
        project = tomllib.loads(pyproject.decode("utf-8")).get("project", {})
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return pyproject
    return (project.get("dependencies"), project.get("optional-dependencies"))
