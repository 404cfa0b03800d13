"""Where Copier reads the template from, so that projects stay updatable anywhere.

Copier updates only from git, and records the source path verbatim in each
project's ``.copier-answers.yml``. A site-packages path differs per machine and
virtualenv, so apistarter renders from a git bundle at one fixed, HOME-relative
path, ``~/.apistarter/template.bundle``, which Copier expands on every machine.

The bundle holds one commit per released template version, each tagged
``v<version>``, so ``copier update`` can re-render the version a project was made
with and diff it against the current one, offline. The wheel ships the bundle
(built by ``hatch_build.py`` with :func:`build_bundle`); a source checkout builds
it on demand. Commits use fixed authors and dates, so the same template
history gives the same commit ids on every machine.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

from packaging.version import InvalidVersion, Version

BUNDLE_NAME = "template.bundle"
# Recorded in every project's answers file: literal `~`, expanded by Copier.
RECORDED_SOURCE = f"~/.apistarter/{BUNDLE_NAME}"
_TAG = re.compile(r"^v(?P<version>\d+(\.\d+)*([.+-]?\w+)*)$")
# A fixed identity and a fixed clock make commit ids reproducible.
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "apistarter",
    "GIT_AUTHOR_EMAIL": "apistarter@localhost",
    "GIT_COMMITTER_NAME": "apistarter",
    "GIT_COMMITTER_EMAIL": "apistarter@localhost",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


class TemplateSourceError(RuntimeError):
    """The template bundle could not be built or installed."""


def _git(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **_GIT_ENV, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise TemplateSourceError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def _version_of(tag: str) -> Version | None:
    match = _TAG.match(tag)
    if not match:
        return None
    try:
        return Version(match["version"])
    except InvalidVersion:
        return None


def released_template_trees(repo: Path) -> list[tuple[Version, str]]:
    """(version, tree id of templates/) for each release tag of the apistarter repo."""
    try:
        tags = _git("tag", "--list", "v*", cwd=repo).split()
    except TemplateSourceError:
        return []  # not a git checkout (e.g. an sdist): only the current version
    releases = []
    for tag in tags:
        version = _version_of(tag)
        if version is None:
            continue
        try:
            tree = _git("rev-parse", f"{tag}^{{tree}}:templates", cwd=repo).strip()
        except TemplateSourceError:
            continue  # a release from before the templates existed
        releases.append((version, tree))
    return sorted(releases)


def build_bundle(templates: Path, version: str, destination: Path, history: Path | None) -> None:
    """Write a bundle of the template's released versions plus ``templates`` as ``version``.

    ``history`` is the apistarter git checkout whose ``v*`` tags hold earlier
    template versions (None when there is none).
    """
    current = Version(version)
    with tempfile.TemporaryDirectory(prefix="apistarter-bundle-") as tmp:
        work = Path(tmp) / "template"
        _git("init", "--quiet", "--initial-branch=main", str(work), cwd=Path(tmp))
        _git("config", "core.autocrlf", "false", cwd=work)
        releases = released_template_trees(history) if history else []
        for step, (release, tree) in enumerate(r for r in releases if r[0] < current):
            archive = subprocess.run(
                ["git", "archive", "--format=tar", tree],
                cwd=history,
                capture_output=True,
                check=True,
            ).stdout
            _replace_tree(work, partial(_untar, archive))
            _commit(work, release, step)
        _replace_tree(work, partial(_copy_tree, templates))
        _commit(work, current, len(releases))
        destination.parent.mkdir(parents=True, exist_ok=True)
        _git("bundle", "create", str(destination), "--all", cwd=work)


def _copy_tree(source: Path, destination: Path) -> None:
    shutil.copytree(source, destination, dirs_exist_ok=True)


def _untar(data: bytes, destination: Path) -> None:
    subprocess.run(["tar", "-x", "-C", str(destination)], input=data, check=True)


def _replace_tree(work: Path, fill: Callable[[Path], None]) -> None:
    for child in work.iterdir():
        if child.name == ".git":
            continue
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()
    fill(work)
    for cache in work.rglob("__pycache__"):
        shutil.rmtree(cache)


def _commit(work: Path, version: Version, step: int) -> None:
    # One fixed second per step keeps ids reproducible and history ordered.
    date = f"@{1_700_000_000 + step} +0000"
    _git("add", "--all", cwd=work)
    _git(
        "commit",
        "--quiet",
        "--allow-empty",
        "-m",
        f"apistarter template {version}",
        cwd=work,
        env={"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date},
    )
    _git("tag", f"v{version}", cwd=work)


def bundle_versions(bundle: Path) -> list[tuple[Version, str]]:
    """(version, commit id) of each template version a bundle holds, oldest first."""
    heads = _git("bundle", "list-heads", str(bundle), cwd=bundle.parent)
    versions = []
    for line in heads.splitlines():
        commit, ref = line.split()
        if ref.startswith("refs/tags/"):
            version = _version_of(ref.removeprefix("refs/tags/"))
            if version is not None:
                versions.append((version, commit))
    return sorted(versions)


def install_bundle(packaged: Path, home: Path | None = None) -> Path:
    """Put ``packaged`` at the recorded path unless that holds a newer template.

    A newer apistarter's bundle holds every older version too, so it is never
    replaced by an older one: projects it generated must stay updatable.
    """
    target = (home or Path.home()) / ".apistarter" / BUNDLE_NAME
    if target.exists():
        try:
            installed = bundle_versions(target)
        except TemplateSourceError:
            installed = []  # unreadable: replace it
        newest = bundle_versions(packaged)[-1]
        if installed and (installed[-1] == newest or installed[-1][0] > newest[0]):
            return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    shutil.copyfile(packaged, partial)
    partial.replace(target)  # atomic: a concurrent reader sees the old or the new bundle
    return target
