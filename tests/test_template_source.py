"""The versioned template bundle: built from release tags, installed without downgrades."""

from __future__ import annotations

import subprocess
from pathlib import Path

from packaging.version import Version

from apistarter.template_source import build_bundle, bundle_versions, install_bundle

from .harness import git


def _repo_with_release(tmp_path: Path) -> Path:
    """An apistarter-like repo whose tag v0.1.0 has an older templates/ tree."""
    repo = tmp_path / "repo"
    (repo / "templates").mkdir(parents=True)
    (repo / "templates" / "copier.yml").write_text("old: true\n")
    git(repo, "init", "--quiet")
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "release")
    git(repo, "tag", "v0.1.0")
    git(repo, "tag", "not-a-version")
    (repo / "templates" / "copier.yml").write_text("old: false\n")
    return repo


def _file_at(bundle: Path, tag: str, tmp_path: Path) -> str:
    clone = tmp_path / f"clone-{tag}"
    subprocess.run(["git", "clone", "--quiet", str(bundle), str(clone)], check=True)
    subprocess.run(["git", "checkout", "--quiet", tag], cwd=clone, check=True)
    return (clone / "copier.yml").read_text()


def test_bundle_holds_every_release_and_the_current_tree(tmp_path: Path) -> None:
    repo = _repo_with_release(tmp_path)
    bundle = tmp_path / "t.bundle"
    build_bundle(repo / "templates", "0.2.0", bundle, repo)

    assert [v for v, _ in bundle_versions(bundle)] == [Version("0.1.0"), Version("0.2.0")]
    assert _file_at(bundle, "v0.1.0", tmp_path) == "old: true\n"
    assert _file_at(bundle, "v0.2.0", tmp_path) == "old: false\n"


def test_same_history_gives_the_same_commits(tmp_path: Path) -> None:
    repo = _repo_with_release(tmp_path)
    first, second = tmp_path / "a.bundle", tmp_path / "b.bundle"
    build_bundle(repo / "templates", "0.2.0", first, repo)
    build_bundle(repo / "templates", "0.2.0", second, repo)
    assert bundle_versions(first) == bundle_versions(second)


def test_an_older_bundle_never_replaces_a_newer_one(tmp_path: Path) -> None:
    repo = _repo_with_release(tmp_path)
    older, newer = tmp_path / "old.bundle", tmp_path / "new.bundle"
    build_bundle(repo / "templates", "0.1.5", older, repo)
    build_bundle(repo / "templates", "0.2.0", newer, repo)
    home = tmp_path / "home"

    installed = install_bundle(newer, home)
    install_bundle(older, home)
    assert bundle_versions(installed)[-1][0] == Version("0.2.0")

    # The same version with a changed template (a source checkout) does replace it.
    (repo / "templates" / "copier.yml").write_text("changed: true\n")
    rebuilt = tmp_path / "rebuilt.bundle"
    build_bundle(repo / "templates", "0.2.0", rebuilt, repo)
    install_bundle(rebuilt, home)
    assert bundle_versions(installed) == bundle_versions(rebuilt)
