"""Putting a rendered project in place without ever leaving half of one.

A new project is rendered into a hidden sibling directory, committed there, and
only then moved into place, so a failure or an interrupt never leaves a
half-written project behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

from apistarter.render.errors import RenderError, RestoredError, refusing_os_errors
from apistarter.render.git import commit_files, run_git


def target_path(destination: Path) -> Path:
    """``destination`` made absolute without following a link that is the target itself.

    The parent's links are resolved (they are where the user points), the last name is
    kept as written: a target that is a link is refused by :func:`check_destination`.
    """
    # Not Path.resolve(): that would follow a link that is the target itself.
    absolute = Path(os.path.abspath(destination))  # noqa: PTH100
    if absolute.parent == absolute:
        raise RenderError(f"{destination}: cannot render into the root directory")
    with refusing_os_errors():
        return absolute.parent.resolve() / absolute.name


def check_destination(destination: Path, *, force: bool) -> bool:
    """Refuse a destination a new project cannot go to; True when it holds files already."""
    destination = target_path(destination)
    with refusing_os_errors():
        if destination.is_symlink():
            raise RenderError(
                f"{destination} is a symbolic link; name the directory it points to instead"
            )
        if destination.exists() and not destination.is_dir():
            raise RenderError(f"{destination} exists and is not a directory")
        occupied = destination.exists() and any(destination.iterdir())
    if occupied and not force:
        raise RenderError(f"{destination} is not empty; use --force to render into it")
    return occupied


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``directory`` (runs for one target take turns)."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):  # a file system without locks: no turns
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def claim_directory(directory: Path) -> int:
    """Lock ``directory`` without waiting; OSError when a live run holds it."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(descriptor)
        raise
    return descriptor


def remove_leftovers(parent: Path, name: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Remove staging directories for ``name`` whose run was killed (no one holds them).

    Only folders apistarter made (its marker inside) are touched. Returns (removed,
    kept): one holding a backup of files a --force run had replaced is kept, and named,
    so the user can restore them.
    """
    prefix = f".{name}."
    removed, kept = [], []
    for entry in parent.iterdir():
        if not entry.name.startswith(prefix) or not _STAGING.fullmatch(entry.name[len(prefix) :]):
            continue
        if entry.is_symlink() or not entry.is_dir():
            continue
        marker = entry / STAGING_MARKER
        if marker.is_symlink() or not marker.is_file():
            continue  # a user's folder that only looks like a staging directory
        try:
            claim = claim_directory(entry)
        except OSError:
            continue  # another run is rendering into it (or locks cannot tell)
        try:
            if (entry / BACKUP).is_dir():
                kept.append(str(entry / BACKUP))
            else:
                remove(entry)
                removed.append(entry.name)
        finally:
            os.close(claim)
    return tuple(sorted(removed)), tuple(sorted(kept))


# Inside a staging directory: the user's files --force replaces, until it has committed.
BACKUP = ".apistarter-backup"


# Inside a staging directory: apistarter made it (the clean-up removes nothing else).
STAGING_MARKER = ".apistarter-staging"


MARKER_TEXT = "apistarter renders a service here; removed by its next run once this one ended\n"


_STAGING = re.compile(r"[0-9a-f]{16}")


def place(staging: Path, destination: Path) -> None:
    """Move the committed project from ``staging`` (its folder) to ``destination``.

    A missing destination is a rename; an empty directory is kept and filled. Checked
    again under the parent's lock: another run may have filled it meanwhile.
    """
    with locked(destination.parent):
        if destination.is_symlink() or (
            destination.exists() and (not destination.is_dir() or any(destination.iterdir()))
        ):
            raise RestoredError(
                f"{destination} was filled while apistarter rendered (another run?); "
                "nothing was written"
            )
        if not destination.exists():
            staging.rename(destination)
            return
        moved: list[str] = []
        try:
            for entry in sorted(staging.iterdir()):
                entry.rename(destination / entry.name)
                moved.append(entry.name)
        except BaseException:
            for name in reversed(moved):
                (destination / name).rename(staging / name)
            raise


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def interrupted_once() -> Iterator[None]:
    """Let Ctrl-C (or SIGTERM) interrupt the work once, then ignore it.

    The first press raises KeyboardInterrupt so the work stops and is undone; a second
    press while the undo runs would leave it half done, so further presses are ignored
    (git, run meanwhile, inherits the ignoring too). They stay ignored after the block:
    the interruption ends the command, and a press on its way out would cut off the
    message saying what was undone. Signals are the main thread's only.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    interrupted = False

    def interrupt(signum: int, frame: object) -> None:
        nonlocal interrupted
        for stop in _STOP_SIGNALS:
            signal.signal(stop, signal.SIG_IGN)
        interrupted = True
        raise KeyboardInterrupt

    previous = {stop: signal.signal(stop, interrupt) for stop in _STOP_SIGNALS}
    try:
        yield
    finally:
        if not interrupted:
            for stop, handler in previous.items():
                signal.signal(stop, handler)


_REMOVE_ATTEMPTS = 5


def remove(directory: Path) -> None:
    """Delete ``directory``, retrying what failed (another Ctrl-C cannot stop it: see
    :func:`interrupted_once`).

    A few attempts, not a loop until it is gone: a file that cannot be deleted
    must not hang the command.
    """
    for _ in range(_REMOVE_ATTEMPTS):
        try:
            if not directory.exists():
                return
            shutil.rmtree(directory)
        except OSError:
            continue


def _clashes(staging: Path, destination: Path) -> tuple[list[str], list[str]]:
    """Rendered paths that cannot be written over ``destination``, and files to overwrite."""
    clashes: list[str] = []
    overwritten: list[str] = []
    if (destination / ".git").is_symlink():
        # git init, commit and reset write there: a repository outside the target.
        clashes.append(".git is a symbolic link (git would write where it points)")
    for source in sorted(staging.rglob("*")):
        relative = source.relative_to(staging).as_posix()
        try:
            mode = (destination / relative).lstat().st_mode
        except (FileNotFoundError, NotADirectoryError):
            continue  # free, or under a clash already reported
        if stat.S_ISLNK(mode):
            clashes.append(f"{relative} is a symbolic link")
        elif source.is_dir() and not stat.S_ISDIR(mode):
            clashes.append(f"{relative} is a file where the template needs a folder")
        elif not source.is_dir() and stat.S_ISDIR(mode):
            clashes.append(f"{relative} is a folder where the template writes a file")
        elif not source.is_dir() and not stat.S_ISREG(mode):
            clashes.append(f"{relative} is not a regular file")
        elif not source.is_dir():
            overwritten.append(relative)
    return clashes, overwritten


def check_paths(rendered: Path, destination: Path) -> list[str]:
    """Refuse to write ``rendered`` over ``destination`` if a path clashes; files replaced."""
    clashes, overwritten = _clashes(rendered, destination)
    if clashes:
        more = f" (and {len(clashes) - 3} more)" if len(clashes) > 3 else ""
        raise RenderError(
            f"cannot render into {destination}: {'; '.join(clashes[:3])}{more}. Nothing was changed"
        )
    return overwritten


def _files_under(directory: Path) -> list[str]:
    """Every file below ``directory`` (links not followed), its git metadata left out."""
    found: list[str] = []
    for root, folders, files in os.walk(directory):
        if Path(root) == directory and ".git" in folders:
            folders.remove(".git")
        found.extend((Path(root) / name).relative_to(directory).as_posix() for name in files)
        found.extend(
            (Path(root) / name).relative_to(directory).as_posix()
            for name in folders
            if (Path(root) / name).is_symlink()
        )
    return sorted(found)


def merge_into(
    staging: Path, destination: Path, author: str, backup: Path
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Write rendered files over ``destination``; (files overwritten, files left untracked).

    Every path is checked before the first write. Files are replaced, never written
    through (a hard link elsewhere keeps its content). A new repository commits only
    the rendered files. On any failure the destination is put back as it was from
    ``backup``, where the files it replaces are copied first.
    """
    overwritten = check_paths(staging, destination)
    rendered = sorted(staging.rglob("*"))
    files = [p.relative_to(staging).as_posix() for p in rendered if not p.is_dir()]
    new_repository = not (destination / ".git").exists()
    untracked = [p for p in _files_under(destination) if p not in set(files)]
    created: list[Path] = []
    try:
        for source in rendered:
            target = destination / source.relative_to(staging)
            if source.is_dir():
                if not target.is_dir():
                    created.append(target)
                    target.mkdir()
                continue
            relative = source.relative_to(staging).as_posix()
            if relative in overwritten:
                (backup / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(target, backup / relative)
            else:
                created.append(target)
            pending = target.with_name(f".{target.name}.apistarter")
            created.append(pending)
            shutil.copy2(source, pending)
            pending.replace(target)
        if new_repository:
            created.append(destination / ".git")
            run_git("init", "--quiet", "--initial-branch=main", cwd=destination, author=author)
            commit_files(destination, author, files)
    except BaseException:
        _undo(destination, created, backup, overwritten)
        raise
    return tuple(overwritten), tuple(untracked) if new_repository else ()


def _undo(destination: Path, created: list[Path], backup: Path, overwritten: list[str]) -> None:
    """Put ``destination`` back: remove what was created, restore what was overwritten."""
    for path in reversed(created):
        with contextlib.suppress(OSError):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
    for relative in overwritten:
        saved = backup / relative
        if saved.exists():
            shutil.copy2(saved, destination / relative)
