"""The adopted app's folder, read without running anything from it.

`new --legacy PATH` takes code from a repository it does not control. Git is run on
it with everything its configuration could make git run switched off (fsmonitor,
hooks, pager) and only with commands that apply no filter; its history is read
through its object store, never through its configuration. When PATH is in a git
work tree only the files git tracks are copied (ignored files never are; untracked
ones are listed). A symbolic link is copied as a link only when it points inside
PATH, rewritten relative so that it still does in the service; any other link, and
anything that is not a regular file, is refused before anything is written.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from apistarter.inspect.settings import ENV_EXAMPLES
from apistarter.render import RenderError

# Never copied: version control, environments, caches, build output, local state and
# local secrets (.env files); the instance folder's data stays where it was.
NOT_COPIED = frozenset(
    {
        ".git",
        ".hg",
        ".venv",
        "venv",
        "__pycache__",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        "node_modules",
        "build",
        "dist",
        "instance",
    }
)
# Configuration the app's repository may set that makes git run a program or write
# into it, overridden for every git command run on it (the command line wins).
_SAFE_GIT = (
    "--no-pager",
    "-c",
    "core.fsmonitor=false",
    "-c",
    f"core.hooksPath={os.devnull}",
    "-c",
    "core.pager=cat",
    "-c",
    "core.untrackedCache=false",
)
_SAFE_ENV = {
    # Nothing is written into PATH, not even git's index refresh.
    "GIT_OPTIONAL_LOCKS": "0",
    "GIT_PAGER": "cat",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_NO_REPLACE_OBJECTS": "1",
}


class AdoptError(RenderError):
    """The app cannot be adopted as it is; nothing was written."""


def _app_git(directory: Path, *args: str) -> str:
    """A git command that only reads the app's repository; its output, or empty when it fails."""
    result = subprocess.run(
        ["git", *_SAFE_GIT, "-C", str(directory), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **_SAFE_ENV},
        stdin=subprocess.DEVNULL,
    )
    return result.stdout if result.returncode == 0 else ""


def _paths(output: str) -> list[str]:
    return [path for path in output.split("\0") if path]


@dataclass(frozen=True)
class GitOrigin:
    """Where the app's code sits in its git repository, and the commit it is taken at."""

    top: Path
    # The repository's object store: its history is read from there.
    objects: Path
    # The app's folder inside the repository ("" at its root).
    folder: str
    commit: str
    dirty: bool
    # Commits that touched the app's folder, up to ``commit``.
    commits: int

    @property
    def described(self) -> str:
        return f"{self.commit} (with uncommitted changes)" if self.dirty else self.commit


def _blob_id(data: bytes, algorithm: str) -> str:
    return hashlib.new(algorithm, b"blob %d\0" % len(data) + data).hexdigest()


def _changed(source: Path, tracked: Iterable[str], algorithm: str) -> bool:
    """Whether the work tree differs from HEAD in the app's folder, compared here (a git
    command that compares the work tree would run the repository's clean filters)."""
    committed = {
        path: entry.split()[2]
        for entry, _, path in (
            line.partition("\t") for line in _paths(_app_git(source, "ls-tree", "-r", "-z", "HEAD"))
        )
        if not entry.startswith("160000")
    }
    if set(committed) != set(tracked):
        return True
    for path, blob in committed.items():
        full = source / path
        try:
            mode = full.lstat().st_mode
            if stat.S_ISLNK(mode):
                data = os.fsencode(full.readlink())
            elif stat.S_ISREG(mode):
                data = full.read_bytes()
            else:
                return True
        except OSError:
            return True
        if _blob_id(data, algorithm) != blob:
            return True
    return False


def git_origin(source: Path) -> GitOrigin | None:
    """The app's git repository, when its folder is part of a work tree with commits."""
    found = _app_git(
        source,
        "rev-parse",
        "--path-format=absolute",
        "--show-toplevel",
        "--git-common-dir",
        "--show-prefix",
        "--show-object-format",
        "HEAD",
    ).split("\n")
    if len(found) < 5 or not found[4]:
        return None
    top, common, folder, algorithm, commit = found[:5]
    tracked = _paths(_app_git(source, "ls-files", "-z", "--cached", "--", "."))
    untracked = _paths(_app_git(source, "ls-files", "-z", "--others", "--exclude-standard"))
    dirty = bool(untracked) or _changed(source, tracked, algorithm)
    count = _app_git(source, "rev-list", "--count", "HEAD", "--", ".").strip()
    return GitOrigin(
        Path(top), Path(common) / "objects", folder.rstrip("/"), commit, dirty, int(count or 0)
    )


def _not_copied(path: str) -> bool:
    """Version control, environments, caches, builds, local state and .env files (their
    examples are documentation: kept)."""
    parts = Path(path).parts
    name = parts[-1]
    return (
        any(part in NOT_COPIED or part.endswith(".egg-info") for part in parts)
        or name.endswith(".pyc")
        or name == ".env"
        or (name.startswith(".env.") and name not in ENV_EXAMPLES)
    )


@dataclass(frozen=True)
class AppFiles:
    """What of the app's folder is copied into the service, and what is left out."""

    source: Path
    # Regular files and links (relative to source), in order.
    files: tuple[str, ...]
    # Links among them -> the target each gets in the service (relative, inside).
    links: dict[str, str]
    # Files git does not track (and does not ignore): listed, not copied.
    untracked: tuple[str, ...]

    def copy_into(self, destination: Path) -> None:
        destination.mkdir(parents=True, exist_ok=True)
        for path in self.files:
            target = destination / path
            target.parent.mkdir(parents=True, exist_ok=True)
            if path in self.links:
                target.symlink_to(self.links[path])
            else:
                shutil.copy2(self.source / path, target, follow_symlinks=False)


def _walked(source: Path) -> Iterator[str]:
    """Every entry below source outside git (links not followed), relative, leaving out
    what is never copied and virtual environments."""
    for directory, folders, files in os.walk(source):
        here = Path(directory)
        kept = []
        for name in sorted(folders):
            relative = (here / name).relative_to(source).as_posix()
            if _not_copied(relative) or (here / name / "pyvenv.cfg").exists():
                continue
            if (here / name).is_symlink():
                yield relative
            else:
                kept.append(name)
        folders[:] = kept
        for name in sorted(files):
            yield (here / name).relative_to(source).as_posix()


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def app_files(source: Path) -> AppFiles:
    """The files to copy from source: the ones git tracks when it tracks any there, else
    every file but the ones never copied. Refused (AdoptError) when one of them would
    bring in something from outside source, or is not a regular file or a link."""
    root = source.resolve()
    listed = _paths(_app_git(source, "ls-files", "-z", "--cached", "--", "."))
    untracked: tuple[str, ...] = ()
    if listed:
        untracked = tuple(
            p
            for p in _paths(_app_git(source, "ls-files", "-z", "--others", "--exclude-standard"))
            if not _not_copied(p)
        )
    else:
        listed = list(_walked(source))
    files: list[str] = []
    links: dict[str, str] = {}
    for path in listed:
        if _not_copied(path):
            continue
        full = source / path
        try:
            mode = full.lstat().st_mode
        except FileNotFoundError:
            continue  # tracked, deleted in the work tree
        if full.parent.resolve() != root / Path(path).parent:
            raise AdoptError(
                f"{path}: reached through a symbolic link to a folder outside {source}; "
                "nothing was written"
            )
        if stat.S_ISLNK(mode):
            pointed = full.readlink()
            resolved = full.resolve()
            if not _inside(resolved, root):
                raise AdoptError(
                    f"{path}: a symbolic link to {pointed}, outside {source}; copying it would "
                    "bring that file into the service and its image. Replace the link with "
                    "the file it should be, or remove it; nothing was written"
                )
            links[path] = os.path.relpath(resolved, root / Path(path).parent)
        elif not stat.S_ISREG(mode):
            raise AdoptError(
                f"{path}: not a regular file (a pipe, socket or device); remove it from "
                f"{source}; nothing was written"
            )
        files.append(path)
    return AppFiles(source, tuple(files), links, untracked)


def _service_git(repository: Path, *args: str, stdin: str = "", **env: str) -> str:
    """A git command in the service's new repository, which is ours (its configuration too)."""
    result = subprocess.run(
        ["git", *args],
        cwd=repository,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env},
    )
    if result.returncode != 0:
        # Raised while the service is being made in its staging folder: nothing is left.
        raise AdoptError(
            f"could not bring the app's git history in (git {args[0]}: "
            f"{' '.join(result.stderr.split())}); nothing was written"
        )
    return result.stdout


# One commit of `git log -z` below: its id and parents, its people and dates, its message.
_COMMIT_FORMAT = "%H %P%n%an%n%ae%n%ad%n%cn%n%ce%n%cd%n%B"


def import_history(origin: GitOrigin, repository: Path, legacy_dir: str) -> None:
    """Make the app's commits the first ones of the new ``repository``, with the code under legacy/.

    Each commit that touched the app's folder is written again with that folder as
    legacy/ (same message, authors and dates; new ids, the originals are recorded in the
    README), so `git log -- legacy/...` and `git blame` reach back into the app's past.
    The branch then points at the last of them and the service's own commit follows.

    The app's objects are read where they are, as an alternate object store: git never
    reads the app's repository's configuration or starts anything in it (a fetch would
    run upload-pack there). Repacking then copies in the objects the new history uses.
    """
    quoted = str(origin.objects).replace("\\", "\\\\").replace('"', '\\"')

    def git(*args: str, stdin: str = "", **env: str) -> str:
        return _service_git(
            repository, *args, stdin=stdin, GIT_ALTERNATE_OBJECT_DIRECTORIES=f'"{quoted}"', **env
        )

    log = git(
        "log",
        "-z",
        "--reverse",
        "--topo-order",
        "--parents",
        "--date=raw",
        f"--format={_COMMIT_FORMAT}",
        origin.commit,
        "--",
        origin.folder or ".",
    )
    commits = [entry.split("\n", 7) for entry in log.split("\0") if entry]
    folders = git(
        "cat-file",
        "--batch-check",
        stdin="".join(f"{entry[0].split()[0]}:{origin.folder}\n" for entry in commits),
    ).splitlines()
    empty = git("mktree").strip()
    rewritten: dict[str, str] = {}
    trees: dict[str, str] = {}
    for (ids, *people, message), folder in zip(commits, folders, strict=True):
        commit, *parents = ids.split()
        tree_id, _, kind = folder.partition(" ")
        if not kind.startswith("tree"):
            tree = empty  # the folder was deleted in this commit
        elif tree_id not in trees:
            tree = trees[tree_id] = git(
                "mktree", stdin=f"040000 tree {tree_id}\t{legacy_dir}\n"
            ).strip()
        else:
            tree = trees[tree_id]
        author, author_email, author_date, name, email, date = people
        kept = [f for p in parents if p in rewritten for f in ("-p", rewritten[p])]
        rewritten[commit] = git(
            "commit-tree",
            tree,
            *kept,
            "-F",
            "-",
            stdin=message,
            GIT_AUTHOR_NAME=author,
            GIT_AUTHOR_EMAIL=author_email,
            GIT_AUTHOR_DATE=f"@{author_date}",
            GIT_COMMITTER_NAME=name,
            GIT_COMMITTER_EMAIL=email,
            GIT_COMMITTER_DATE=f"@{date}",
        ).strip()
    if commits:
        last = rewritten[commits[-1][0].split()[0]]
        git("update-ref", "HEAD", last)
        # The index as the last app commit had it: the service's commit records the rest.
        git("read-tree", last)
        git("repack", "-a", "-d", "-q")
