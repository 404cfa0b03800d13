"""Rendering services with Copier: the only module that talks to Copier.

A new project is rendered into a hidden sibling directory, committed there, and
only then moved into place, so a failure or an interrupt never leaves a
half-written project behind.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import re
import secrets
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import copier
import yaml
from copier.errors import CopierError, UnsafeTemplateError
from packaging.version import Version
from plumbum import ProcessExecutionError

from apistarter import __version__
from apistarter.auth import plan_auth
from apistarter.database import migrate_command
from apistarter.decision import Recommendation
from apistarter.deploy import LIVENESS_PORT, plan_deploy
from apistarter.interpreters import python_command
from apistarter.monitoring import plan_monitoring
from apistarter.observability import plan_metrics
from apistarter.questions import SERVICE_LIMITS, DecisionAnswers, ProjectAnswers
from apistarter.resolve import ResolveError, compile_set, uv_binary
from apistarter.server import run_command
from apistarter.service_routes import SERVICE_ROUTES
from apistarter.template_source import (
    BUNDLE_NAME,
    RECORDED_SOURCE,
    build_bundle,
    install_bundle,
)

CHECKOUT = Path(__file__).resolve().parents[2]


class RenderError(RuntimeError):
    """Refused: nothing was changed (exit code 2)."""


class RestoredError(RenderError):
    """Failed part-way: what was written was undone (exit code 1)."""


def template_version_ref() -> str:
    """The git tag of the template version this apistarter renders."""
    return f"v{__version__}"


def templates_dir() -> Path:
    """The template tree shipped in the wheel, or the checkout's."""
    shipped = resources.files("apistarter") / "templates"
    if shipped.is_dir():
        return Path(str(shipped))
    return CHECKOUT / "templates"


def available_frameworks() -> frozenset[str]:
    """Frameworks whose template tree exists in this apistarter."""
    return frozenset(
        tree.name
        for tree in templates_dir().iterdir()
        if tree.is_dir() and (tree / "{{_copier_conf.answers_file}}.jinja").is_file()
    )


def _packaged_bundle() -> Path | None:
    """The bundle shipped in the wheel; None when running from a source checkout."""
    shipped = resources.files("apistarter") / BUNDLE_NAME
    return Path(str(shipped)) if shipped.is_file() else None


def ensure_template_source() -> str:
    """Install the template bundle at its fixed path; return the source Copier records."""
    shipped = _packaged_bundle()
    if shipped is not None:
        install_bundle(shipped)
        return RECORDED_SOURCE
    templates = templates_dir()
    if not (templates / "copier.yml").is_file():
        raise RenderError("apistarter is installed without its template bundle; reinstall it")
    with tempfile.TemporaryDirectory(prefix="apistarter-dev-") as tmp:
        built = Path(tmp) / BUNDLE_NAME
        build_bundle(templates, __version__, built, CHECKOUT)
        install_bundle(built)
    return RECORDED_SOURCE


def template_data(
    project: ProjectAnswers,
    answers: DecisionAnswers,
    recommendation: Recommendation,
    constraints: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """Every value the template places: the answers and what apistarter computed from them.

    ``constraints`` are the answers an organisation policy locked, for the ADR.
    """
    auth = plan_auth(answers.auth)
    metrics = plan_metrics(
        recommendation.framework, recommendation.server, recommendation.load_test, LIVENESS_PORT
    )
    return {
        "framework": recommendation.framework,
        **project.model_dump(mode="json"),
        "apistarter_version": __version__,
        "decision": answers.model_dump(mode="json"),
        "server": {
            **recommendation.server.model_dump(mode="json"),
            "command": run_command(recommendation.server, project.package_name),
            # What the plan was computed for: copier.yml refuses a framework answer that
            # differs (plain `copier update` cannot recompute the plan).
            "framework": recommendation.framework,
        },
        "load_test": recommendation.load_test.model_dump(mode="json"),
        "limits": SERVICE_LIMITS,
        "routes": SERVICE_ROUTES,
        "deploy": plan_deploy(
            answers.deploy,
            recommendation.server,
            None if recommendation.database is None else migrate_command(project.package_name),
            auth.secret,
            auth.config,
        ).model_dump(mode="json"),
        "auth_plan": auth.model_dump(mode="json"),
        "metrics": metrics.model_dump(mode="json", exclude={"why"}),
        "monitoring": plan_monitoring(
            metrics, recommendation.server, recommendation.load_test
        ).model_dump(mode="json", by_alias=True),
        "database": answers.database,
        "database_plan": {}
        if recommendation.database is None
        else recommendation.database.model_dump(mode="json"),
        "adr": {
            "date": datetime.date.today().isoformat(),
            "recommended": recommendation.recommended,
            "overridden": recommendation.overridden,
            "adopted": recommendation.adopted,
            "summary": recommendation.summary,
            **recommendation.model_dump(
                mode="json", include={"drivers", "reasons", "warnings", "alternatives", "sources"}
            ),
            "constraints": constraints or [],
        },
    }


def _git(*args: str, cwd: Path, author: str, stdin: str | None = None) -> None:
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


def _needs_trust(template: str | None) -> RenderError:
    return RenderError(
        f"{template} runs code while rendering (tasks, migrations or Jinja extensions); "
        "apistarter only renders templates that need no --trust. Nothing was changed"
    )


# Sources Copier clones rather than reads from disk: left for Copier to reach.
_REMOTE_TEMPLATE = re.compile(r"^([a-z][a-z0-9+.-]*://|git@|gh:|gl:)", re.IGNORECASE)


def check_template_source(template: str | None) -> Path | None:
    """Refuse a ``--template`` that is no template, before any question is asked.

    A local source must be a folder holding a copier.yml, or a git bundle; returns the
    folder (None for the bundled template, a bundle or a remote one Copier will clone).
    """
    if template is None:
        return None
    if not template.strip():
        raise RenderError("--template is empty: name a fork (a path or a git URL)")
    location = Path(template).expanduser()
    with _refusing_os_errors():
        if not location.exists():
            if _REMOTE_TEMPLATE.match(template):
                return None
            raise RenderError(f"--template {template}: no such file or directory")
        location = location.resolve()
        if location.is_file():
            if not _is_git_bundle(location):
                raise RenderError(
                    f"--template {template}: a file that is not a git bundle; name the "
                    "template's folder, a git bundle or a git URL"
                )
            return None
        if not any((location / name).is_file() for name in ("copier.yml", "copier.yaml")):
            raise RenderError(
                f"--template {template}: {location} is not a Copier template (no copier.yml)"
            )
    return location


def check_template(template: str | None, target: Path) -> None:
    """Refuse a ``--template`` that cannot render ``target``, before anything is written.

    Besides being a template, a local source must not hold the target: Copier would
    copy the half-rendered target into itself.
    """
    location = check_template_source(template)
    if location is not None and target_path(target).is_relative_to(location):
        raise RenderError(
            f"{target} is inside the template {location}; Copier would copy the target "
            "into itself. Choose a directory outside it"
        )


def _is_git_bundle(path: Path) -> bool:
    result = subprocess.run(
        ["git", "bundle", "list-heads", str(path)],
        cwd=path.parent,
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


def _copy(data: dict[str, Any], destination: Path, template: str | None) -> None:
    source = template or ensure_template_source()
    try:
        copier.run_copy(
            source,
            destination,
            data=data,
            vcs_ref=None if template else template_version_ref(),
            defaults=True,
            overwrite=True,
            quiet=True,
            unsafe=False,
        )
    except UnsafeTemplateError:
        raise _needs_trust(template) from None
    except ProcessExecutionError as error:
        # git could not reach or read the source (Copier clones it before writing).
        problem = (str(error.stderr).strip().splitlines() or [f"git exited {error.retcode}"])[-1]
        raise RenderError(f"{source} could not be read: {problem}") from None
    except (CopierError, ValueError) as error:
        # Raised while rendering into a scratch directory: the callers remove it.
        problem = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise RenderError(f"{source} could not be rendered: {problem}") from None


def _describe(error: OSError) -> str:
    """An OS error as one line: the path it concerns and what went wrong."""
    where = f"{error.filename}: " if error.filename else ""
    return f"{where}{error.strerror or error}"


@contextlib.contextmanager
def _refusing_os_errors() -> Iterator[None]:
    """Turn an OS error raised before anything was written into a refusal."""
    try:
        yield
    except OSError as error:
        raise RenderError(_describe(error)) from error


def target_path(destination: Path) -> Path:
    """``destination`` made absolute without following a link that is the target itself.

    The parent's links are resolved (they are where the user points), the last name is
    kept as written: a target that is a link is refused by :func:`check_destination`.
    """
    # Not Path.resolve(): that would follow a link that is the target itself.
    absolute = Path(os.path.abspath(destination))  # noqa: PTH100
    if absolute.parent == absolute:
        raise RenderError(f"{destination}: cannot render into the root directory")
    with _refusing_os_errors():
        return absolute.parent.resolve() / absolute.name


def check_destination(destination: Path, *, force: bool) -> bool:
    """Refuse a destination a new project cannot go to; True when it holds files already."""
    destination = target_path(destination)
    with _refusing_os_errors():
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
    with _refusing_os_errors():
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
    with _interrupted_once():
        try:
            with _refusing_os_errors(), _locked(parent):
                leftovers, backups = _remove_leftovers(parent, destination.name)
                staging.mkdir()
                (staging / STAGING_MARKER).write_text(_MARKER_TEXT, encoding="utf-8")
                with contextlib.suppress(OSError):  # no locks here: leftovers are then kept
                    claim = _claim(staging)
                tree.mkdir()
            _copy(data, tree, template)
            if before_commit is not None:
                before_commit(tree)
            lock_note = _write_lock(tree, str(data.get("python_version", ""))) if lock else ""
            overwritten: tuple[str, ...] = ()
            untracked: tuple[str, ...] = ()
            if occupied:
                overwritten, untracked = _merge_into(tree, destination, author, staging / BACKUP)
            else:
                _git("init", "--quiet", "--initial-branch=main", cwd=tree, author=author)
                if history is not None:
                    history(tree)
                _commit(tree, author)
                _place(tree, destination)
            done = True
        except OSError as error:
            raise RestoredError(
                f"could not create {destination} ({_describe(error)}); nothing was left behind"
            ) from error
        finally:
            if claim is not None:
                os.close(claim)
            _remove(staging)
            for folder in [] if done else made:
                with contextlib.suppress(OSError):
                    folder.rmdir()
    return NewResult(destination, overwritten, untracked, leftovers, backups, lock_note)


# Resolving a service's dependencies: a few seconds with the index reachable.
LOCK_TIMEOUT_S = 300


def _write_lock(tree: Path, python_version: str) -> str:
    """Run `uv lock` in ``tree``; "" when uv.lock was written, otherwise why not.

    uv resolves for the service's Python (it reads no more than its metadata) and never
    downloads an interpreter; a failure leaves the service as rendered, without a lock.
    """
    try:
        uv = uv_binary()
    except FileNotFoundError:
        return "uv.lock not written: uv is not installed (install it, run `uv lock`, commit)"
    python = python_command(python_version)
    if python is None:
        return (
            f"uv.lock not written: no working python{python_version} on PATH (install it, "
            "run `uv lock` in the service, commit the lock)"
        )
    try:
        result = subprocess.run(
            [uv, "lock", "--quiet", "--python", python],
            cwd=tree,
            env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
            capture_output=True,
            text=True,
            timeout=LOCK_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"uv.lock not written: uv lock took over {LOCK_TIMEOUT_S} s (run it later)"
    if result.returncode == 0:
        return ""
    causes = _uv_causes(result.stderr) or [f"uv exited {result.returncode}"]
    # uv's last "cause:" line is the root of the failure; the address it could not
    # fetch, when there is one, says which index that was.
    fetched = next((c for c in causes if c.startswith("Failed to fetch")), causes[-1])
    problem = causes[-1] if fetched == causes[-1] else f"{fetched}: {causes[-1]}"
    return f"uv.lock not written: {problem}; run `uv lock` when it can resolve, then commit it"


def _uv_causes(stderr: str) -> list[str]:
    """uv's error and its "cause:" lines, each whole.

    uv wraps its messages to the terminal's width (COLUMNS), indenting the rest of a
    message on the lines below: those belong to the message above them.
    """
    causes: list[str] = []
    for line in stderr.splitlines():
        text = line.strip()
        if not text:
            continue
        if causes and not text.startswith(("error:", "cause:", "hint:", "warning:")):
            causes[-1] = f"{causes[-1]} {text}"
        else:
            causes.append(text.removeprefix("cause: "))
    return causes


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``directory`` (runs for one target take turns)."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):  # a file system without locks: no turns
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def _claim(directory: Path) -> int:
    """Lock ``directory`` without waiting; OSError when a live run holds it."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(descriptor)
        raise
    return descriptor


def _remove_leftovers(parent: Path, name: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
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
            claim = _claim(entry)
        except OSError:
            continue  # another run is rendering into it (or locks cannot tell)
        try:
            if (entry / BACKUP).is_dir():
                kept.append(str(entry / BACKUP))
            else:
                _remove(entry)
                removed.append(entry.name)
        finally:
            os.close(claim)
    return tuple(sorted(removed)), tuple(sorted(kept))


# Inside a staging directory: the user's files --force replaces, until it has committed.
BACKUP = ".apistarter-backup"
# Inside a staging directory: apistarter made it (the clean-up removes nothing else).
STAGING_MARKER = ".apistarter-staging"
_MARKER_TEXT = "apistarter renders a service here; removed by its next run once this one ended\n"
_STAGING = re.compile(r"[0-9a-f]{16}")


def _place(staging: Path, destination: Path) -> None:
    """Move the committed project from ``staging`` (its folder) to ``destination``.

    A missing destination is a rename; an empty directory is kept and filled. Checked
    again under the parent's lock: another run may have filled it meanwhile.
    """
    with _locked(destination.parent):
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
def _interrupted_once() -> Iterator[None]:
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


def _remove(directory: Path) -> None:
    """Delete ``directory``, retrying what failed (another Ctrl-C cannot stop it: see
    :func:`_interrupted_once`).

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


def _commit(directory: Path, author: str, paths: list[str] | None = None) -> None:
    """Commit ``paths`` (every file when None) as the project's first commit."""
    if paths is None:
        _git("add", "--all", cwd=directory, author=author)
    else:
        _git(
            "add",
            "--pathspec-from-file=-",
            "--pathspec-file-nul",
            cwd=directory,
            author=author,
            stdin="\0".join(paths),
        )
    _git(
        "commit",
        "--quiet",
        "--no-verify",
        "-m",
        f"Generate service with apistarter {__version__}",
        cwd=directory,
        author=author,
    )


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


def _check_paths(rendered: Path, destination: Path) -> list[str]:
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


def _merge_into(
    staging: Path, destination: Path, author: str, backup: Path
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Write rendered files over ``destination``; (files overwritten, files left untracked).

    Every path is checked before the first write. Files are replaced, never written
    through (a hard link elsewhere keeps its content). A new repository commits only
    the rendered files. On any failure the destination is put back as it was from
    ``backup``, where the files it replaces are copied first.
    """
    overwritten = _check_paths(staging, destination)
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
            _git("init", "--quiet", "--initial-branch=main", cwd=destination, author=author)
            _commit(destination, author, files)
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


ANSWERS_FILE = ".copier-answers.yml"
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


def _git_output(*args: str, cwd: Path) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RenderError(f"git {args[0]} failed in {cwd}: {' '.join(result.stderr.split())}")
    return result.stdout


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
    head = _git_output("rev-parse", "HEAD", cwd=directory).strip()
    answers.write_text(switched, encoding="utf-8")
    _git(
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
    _git_output("reset", "--quiet", head, cwd=directory)


def _version_tags(template: str) -> list[str]:
    """The tag names of a template source (path, bundle or git URL)."""
    listing = _git_output(
        "ls-remote",
        "--tags",
        os.path.expanduser(template),  # noqa: PTH111 - may be a URL
        cwd=Path.cwd(),
    )
    return [
        line.split("\t", 1)[1].removeprefix("refs/tags/")
        for line in listing.splitlines()
        if "\t" in line and not line.endswith("^{}")
    ]


def latest_version(template: str) -> Version | None:
    """The newest vX.Y.Z tag of a template source (path or git URL), if it has one."""
    versions = []
    for tag in _version_tags(template):
        match = re.fullmatch(r"v?(\d+(\.\d+)*)", tag)
        if match:
            versions.append(Version(match.group(1)))
    return max(versions, default=None)


def check_recorded_version(answers: dict[str, Any], template: str) -> None:
    """Refuse an update whose recorded `_commit` the template source does not hold.

    Copier re-renders that version to see what the user changed; without it the
    update cannot keep the user's edits.
    """
    commit = str(answers.get("_commit", ""))
    if not commit:
        raise RenderError(f"{ANSWERS_FILE} records no _commit (template version)")
    # `git describe` names (v1.2-3-gabc1234) are untagged commits: Copier resolves them.
    if re.search(r"-g[0-9a-f]{4,}$", commit):
        return
    if commit not in _version_tags(template):
        raise RenderError(
            f"{ANSWERS_FILE} records template version {commit}, which {template} does not "
            "have: a fork must keep the history of the template version this project was "
            "made with"
        )


def recorded_answers(directory: Path) -> dict[str, Any]:
    """The answers a project recorded, after the checks every update needs."""
    with _refusing_os_errors():
        if not directory.is_dir():
            raise RenderError(f"{directory} is not a directory")
        answers_path = directory / ANSWERS_FILE
        if not answers_path.is_file():
            raise RenderError(
                f"{directory} has no {ANSWERS_FILE}: it was not generated by apistarter"
            )
        try:
            top = _git_output("rev-parse", "--show-toplevel", cwd=directory).strip()
        except RenderError:
            raise RenderError(f"{directory} is not a git repository; updates need one") from None
        if Path(top).resolve() != directory.resolve():
            raise RenderError(f"{directory} is inside the git repository {top}, not its root")
        if _git_output("status", "--porcelain", cwd=directory).strip():
            raise RenderError(f"{directory} has uncommitted changes; commit or stash them first")
        try:
            loaded = yaml.safe_load(answers_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, yaml.YAMLError) as error:
            problem = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise RenderError(f"{answers_path} cannot be read as YAML: {problem}") from None
    if not isinstance(loaded, dict):
        raise RenderError(f"{answers_path} is not a mapping of answers")
    return loaded


def recorded_version(answers: dict[str, Any]) -> Version | None:
    """The template version a project was last rendered with (from `_commit`)."""
    commit = str(answers.get("_commit", ""))
    match = re.match(r"^v?(\d+(\.\d+)*)", commit)
    return Version(match.group(1)) if match else None


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
    git_dir = Path(_git_output("rev-parse", "--absolute-git-dir", cwd=directory).strip())
    with _refusing_os_errors():
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
        _copy(data, Path(scratch) / "next", template)
        _check_paths(Path(scratch) / "next", directory)
    head = _git_output("rev-parse", "HEAD", cwd=directory).strip()
    ignored = _ignored(directory)
    with _interrupted_once():
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
                raise _needs_trust(template) from None
            if isinstance(error, KeyboardInterrupt):
                reason = "interrupted"
            elif isinstance(error, OSError):
                reason = _describe(error)
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
    if _committed(directory, head, "uv.lock") is None or _committed(
        directory, head, "pyproject.toml"
    ) == _read(directory / "pyproject.toml"):
        return ""
    return _write_lock(directory, python_version)


def _ignored(directory: Path) -> set[str]:
    """Ignored paths in the working tree (git collapses ignored folders to one entry)."""
    status = _git_output("status", "--porcelain", "--ignored", "-z", cwd=directory)
    return {entry[3:] for entry in status.split("\0") if entry.startswith("!! ")}


def _restore(directory: Path, head: str, ignored: set[str]) -> None:
    """Put the working tree, the index and the branch back at ``head``."""
    _git_output("reset", "--quiet", "--hard", head, cwd=directory)
    _git_output("clean", "--quiet", "-fd", cwd=directory)
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
    deleted = _git_output(
        "diff", "--name-only", "-z", "--diff-filter=D", head, cwd=directory
    ).split("\0")
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
            path for path in deleted if _committed(directory, head, path) != _read(pristine / path)
        ]
    if kept:
        _git_output("checkout", head, "--", *kept, cwd=directory)
    return tuple(kept)


def _committed(directory: Path, head: str, path: str) -> bytes | None:
    """``path``'s content at commit ``head``; None when it has no such file."""
    result = subprocess.run(
        ["git", "show", f"{head}:{path}"], cwd=directory, capture_output=True, check=False
    )
    return result.stdout if result.returncode == 0 else None


def _read(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def _summary(directory: Path, head: str, kept: tuple[str, ...]) -> UpdateResult:
    status = _git_output("status", "--porcelain", "-z", "--untracked-files=all", cwd=directory)
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
    return _dependencies(_committed(directory, head, "pyproject.toml")) != _dependencies(
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
