"""Rendering services with Copier: the only module that talks to Copier.

A new project is rendered into a hidden sibling directory, committed there, and
only then moved into place, so a failure or an interrupt never leaves a
half-written project behind.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import copier
import yaml
from packaging.version import Version

from apistarter import __version__
from apistarter.decision import Recommendation
from apistarter.questions import DecisionAnswers, ProjectAnswers
from apistarter.server import run_command
from apistarter.template_source import (
    BUNDLE_NAME,
    RECORDED_SOURCE,
    build_bundle,
    install_bundle,
)

CHECKOUT = Path(__file__).resolve().parents[2]


class RenderError(RuntimeError):
    """The project could not be rendered; nothing was left behind."""


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
    return {
        "framework": recommendation.framework,
        **project.model_dump(mode="json"),
        "apistarter_version": __version__,
        "decision": answers.model_dump(mode="json"),
        "server": {
            **recommendation.server.model_dump(mode="json"),
            "command": run_command(recommendation.server, project.package_name),
        },
        "load_test": recommendation.load_test.model_dump(mode="json"),
        "adr": {
            "date": datetime.date.today().isoformat(),
            "recommended": recommendation.recommended,
            "overridden": recommendation.overridden,
            "summary": recommendation.summary,
            **recommendation.model_dump(
                mode="json", include={"drivers", "reasons", "warnings", "alternatives", "sources"}
            ),
            "constraints": constraints or [],
        },
    }


def _git(*args: str, cwd: Path, author: str) -> None:
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
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RenderError(f"git {args[0]} failed: {result.stderr.strip()}")


def _git_identity(cwd: Path) -> bool:
    result = subprocess.run(
        ["git", "config", "user.email"], cwd=cwd, capture_output=True, text=True, check=False
    )
    return bool(result.stdout.strip())


def _copy(data: dict[str, Any], destination: Path, template: str | None) -> None:
    source = template or ensure_template_source()
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


def check_destination(destination: Path, *, force: bool) -> bool:
    """Refuse a destination a new project cannot go to; True when it holds files already."""
    if destination.exists() and not destination.is_dir():
        raise RenderError(f"{destination} exists and is not a directory")
    occupied = destination.exists() and any(destination.iterdir())
    if occupied and not force:
        raise RenderError(f"{destination} is not empty; use --force to render into it")
    return occupied


def new_project(
    destination: Path,
    data: dict[str, Any],
    *,
    force: bool = False,
    template: str | None = None,
    before_commit: Callable[[Path], None] | None = None,
) -> Path:
    """Render a project into ``destination``, then ``git init`` and commit it.

    Without ``force`` the destination must be missing or empty. With ``force`` the
    rendered files are written over an existing directory; files the template does
    not produce are never touched. ``before_commit`` gets the rendered tree before
    anything is moved into place (an adopted app's code is added there); what it
    raises leaves nothing behind.
    """
    destination = destination.resolve()
    occupied = check_destination(destination, force=force)
    destination.parent.mkdir(parents=True, exist_ok=True)
    author = str(data.get("author", ""))
    # Named before the try and created inside it: a Ctrl-C or SIGTERM at any moment after
    # the directory exists still removes it (with mkdtemp, one landing between its mkdir
    # and the try left it behind). mkdir also gives the project the user's umask, not
    # mkdtemp's 0700. 64 random bits: a name already taken would be our own leftover.
    staging = destination.parent / f".{destination.name}.{secrets.token_hex(8)}"
    try:
        staging.mkdir()
        _copy(data, staging, template)
        if before_commit is not None:
            before_commit(staging)
        if occupied:
            _merge_into(staging, destination, author)
        else:
            _git("init", "--quiet", "--initial-branch=main", cwd=staging, author=author)
            _commit_all(staging, author)
            if destination.exists():
                destination.rmdir()
            staging.rename(destination)
    finally:
        _remove(staging)
    return destination


_REMOVE_ATTEMPTS = 5


def _remove(directory: Path) -> None:
    """Delete ``directory`` even if another Ctrl-C arrives while it is being deleted.

    A few attempts, not a loop until it is gone: a file that cannot be deleted
    must not hang the command.
    """
    for _ in range(_REMOVE_ATTEMPTS):
        try:
            if not directory.exists():
                return
            shutil.rmtree(directory)
        except (KeyboardInterrupt, OSError):
            continue


def _commit_all(directory: Path, author: str) -> None:
    _git("add", "--all", cwd=directory, author=author)
    _git(
        "commit",
        "--quiet",
        "--no-verify",
        "-m",
        f"Generate service with apistarter {__version__}",
        cwd=directory,
        author=author,
    )


def _merge_into(staging: Path, destination: Path, author: str) -> None:
    """Copy rendered files over ``destination``, leaving the user's other files alone."""
    for source in sorted(staging.rglob("*")):
        target = destination / source.relative_to(staging)
        if source.is_dir():
            target.mkdir(exist_ok=True)
        else:
            shutil.copy2(source, target)
    if not (destination / ".git").exists():
        _git("init", "--quiet", "--initial-branch=main", cwd=destination, author=author)
        _commit_all(destination, author)


ANSWERS_FILE = ".copier-answers.yml"
# Copier's inline conflict markers.
CONFLICT_MARKER = "<<<<<<< before updating"


@dataclass(frozen=True)
class UpdateResult:
    changed: tuple[str, ...]
    conflicts: tuple[str, ...]


def _git_output(*args: str, cwd: Path) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RenderError(f"git {args[0]} failed in {cwd}: {result.stderr.strip()}")
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
    afterwards: the user reviews one uncommitted change, as after any update. On
    failure the tree goes back to exactly what it was (it was clean).
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
    try:
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
    except Exception as error:
        _git_output("reset", "--quiet", "--hard", head, cwd=directory)
        _git_output("clean", "--quiet", "-fd", cwd=directory)
        if isinstance(error, RenderError):
            raise
        raise RenderError(
            f"update from {template} failed: {error}. A fork must keep the history of "
            "the template version this project was made with; nothing was changed"
        ) from error
    _git_output("reset", "--quiet", "--soft", head, cwd=directory)


def latest_version(template: str) -> Version | None:
    """The newest vX.Y.Z tag of a template source (path or git URL), if it has one."""
    listing = _git_output("ls-remote", "--tags", template, cwd=Path.cwd())
    versions = []
    for line in listing.splitlines():
        match = re.fullmatch(r"\S+\trefs/tags/v?(\d+(\.\d+)*)", line)
        if match:
            versions.append(Version(match.group(1)))
    return max(versions, default=None)


def recorded_answers(directory: Path) -> dict[str, Any]:
    """The answers a project recorded, after the checks every update needs."""
    if not directory.is_dir():
        raise RenderError(f"{directory} is not a directory")
    answers_path = directory / ANSWERS_FILE
    if not answers_path.is_file():
        raise RenderError(f"{directory} has no {ANSWERS_FILE}: it was not generated by apistarter")
    try:
        top = _git_output("rev-parse", "--show-toplevel", cwd=directory).strip()
    except RenderError:
        raise RenderError(f"{directory} is not a git repository; updates need one") from None
    if Path(top).resolve() != directory.resolve():
        raise RenderError(f"{directory} is inside the git repository {top}, not its root")
    if _git_output("status", "--porcelain", cwd=directory).strip():
        raise RenderError(f"{directory} has uncommitted changes; commit or stash them first")
    loaded = yaml.safe_load(answers_path.read_text(encoding="utf-8"))
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
    *,
    conflict: str = "inline",
    template: str | None = None,
) -> UpdateResult:
    """Re-render a project at a newer template version, keeping the user's edits.

    ``template`` moves the project to another source (a platform team's fork); the
    fork must hold the version the project was made with, which Copier diffs against.
    """
    if template is None:
        ensure_template_source()
        _copier_update(directory, data, conflict, template_version_ref())
    else:
        with _switched_source(directory, template):
            _copier_update(directory, data, conflict, None)  # the fork's newest version
    status = _git_output("status", "--porcelain", "--untracked-files=all", cwd=directory)
    changed = tuple(line[3:] for line in status.splitlines())
    conflicts = tuple(
        path
        for path in changed
        if path.endswith(".rej")
        or (
            (directory / path).is_file()
            and CONFLICT_MARKER in (directory / path).read_text(encoding="utf-8", errors="ignore")
        )
    )
    return UpdateResult(changed=changed, conflicts=conflicts)
