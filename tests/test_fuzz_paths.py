"""Hostile targets for `new` and hostile projects for `update`, generated.

Whatever the paths hold (links into and out of the target, files where folders go,
existing content, odd names), the CLI ends with exit 0, 1 or 2 and no traceback,
writes nothing outside its target, leaves everything as it was when it refuses or
fails, and on success every generated .py, .toml and .yml parses.
"""

from __future__ import annotations

import ast
import contextlib
import shutil
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from apistarter.cli import app

from .harness import git, run, tree_state

pytestmark = pytest.mark.slow
runner = CliRunner()
FUZZ = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    # Each example renders a service: shrinking a failure would take many minutes.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Paths the template writes, and one it does not.
PATHS = ["README.md", "docs", "docs/decisions", "src", "loadtest", "pyproject.toml", "notes.txt"]
KINDS = ["file", "folder", "link-out-file", "link-out-folder", "link-in", "dangling-link"]
NAMES = ["svc", "orders-api", "a" * 255, "a" * 300, "sv c", "ünï", "-svc", ".svc"]


def _invoke(args: list[str]) -> Result:
    result = runner.invoke(app, args)
    assert result.exit_code in (0, 1, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result


def _place(path: Path, kind: str, outside: Path) -> None:
    """Put an entry of ``kind`` at ``path`` (unless its parent is not a folder)."""
    if not path.parent.is_dir() or path.is_symlink() or path.exists():
        return
    if kind == "file":
        path.write_text("# the user's\n")  # valid Python, TOML and YAML alike
    elif kind == "folder":
        path.mkdir()
        (path / "own.txt").write_text("the user's\n")
    elif kind == "link-out-file":
        path.symlink_to(outside / "file.txt")
    elif kind == "link-out-folder":
        path.symlink_to(outside / "folder", target_is_directory=True)
    elif kind == "link-in":
        path.symlink_to(".")
    else:
        path.symlink_to(outside / "missing")


@contextlib.contextmanager
def _sandbox() -> Iterator[tuple[Path, Path, Path]]:
    """(sandbox, outside, work): ``outside`` holds what links point at; targets go in work."""
    with tempfile.TemporaryDirectory(prefix="apistarter-fuzz-") as tmp:
        sandbox = Path(tmp)
        outside = sandbox / "outside"
        (outside / "folder").mkdir(parents=True)
        (outside / "file.txt").write_text("not the service's\n")
        (outside / "folder" / "x.txt").write_text("not the service's\n")
        work = sandbox / "work"
        work.mkdir()
        yield sandbox, outside, work


def _parses(project: Path, skip: frozenset[str] = frozenset()) -> None:
    """Every .py, .toml and .yml file git sees in ``project`` parses (but ``skip``), and
    the service's settings load."""
    listed = git(project, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
    for name in filter(None, listed.split("\0")):
        path = project / name
        if name in skip or path.is_symlink() or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".py":
            ast.parse(text, filename=name)
        elif path.suffix == ".toml":
            tomllib.loads(text)
        elif path.suffix in (".yml", ".yaml"):
            list(yaml.safe_load_all(text))
    # And the service's settings load with nothing set in the environment but what its auth
    # plan says it cannot start without (the identity provider's, by default).
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    needed = {name: "https://idp.example.com/" for name in answers["auth_plan"]["config"]}
    load = (
        f"from {answers['package_name']}.settings import AppSettings, ServerSettings as S;"
        " AppSettings(); S()"
    )
    run([sys.executable, "-c", load], project, needed)


targets = st.fixed_dictionaries(
    {
        "name": st.one_of(st.just("svc"), st.sampled_from(NAMES)),
        "kind": st.sampled_from(["missing", "empty", "occupied", "file", "link-out", "link-in"]),
        "entries": st.lists(
            st.tuples(st.sampled_from(PATHS), st.sampled_from(KINDS)),
            max_size=4,
            unique_by=lambda entry: entry[0],
        ),
        "force": st.booleans(),
    }
)


def _target(kind: str, *entries: tuple[str, str]) -> dict[str, Any]:
    return {"name": "svc", "kind": kind, "entries": list(entries), "force": True}


@FUZZ
@given(case=targets)
# The cases issue #14 found by hand, always tried first.
@example(case=_target("occupied", ("README.md", "link-out-file")))
@example(case=_target("occupied", ("docs", "link-out-folder")))
@example(case=_target("occupied", ("README.md", "file"), ("src", "file")))
@example(case=_target("occupied", ("notes.txt", "file")))
def test_new_on_hostile_targets(case: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    with _sandbox() as (sandbox, outside, work):
        monkeypatch.setenv("HOME", str(sandbox / "home"))
        target = work / case["name"]
        kind = case["kind"]
        try:
            if kind in ("empty", "occupied"):
                target.mkdir()
            elif kind == "file":
                target.write_text("the user's\n")
            elif kind == "link-out":
                target.symlink_to(outside / "folder", target_is_directory=True)
            elif kind == "link-in":
                target.symlink_to(".", target_is_directory=True)
        except OSError:
            return  # a name the file system refuses: nothing to test
        if kind == "occupied":
            for relative, entry in sorted(case["entries"]):
                _place(target / relative, entry, outside)
        outside_before = tree_state(outside)
        work_before = tree_state(work)
        args = ["new", str(target), "--defaults"] + (["--force"] if case["force"] else [])

        result = _invoke(args)

        assert tree_state(outside) == outside_before
        if result.exit_code != 0:
            assert tree_state(work) == work_before, result.output
        else:
            _parses(target)


@pytest.fixture(scope="module")
def base_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """One service rendered for every update example: (its HOME, the project)."""
    root = tmp_path_factory.mktemp("fuzz-base")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(root / "home"))
        result = _invoke(["new", str(root / "svc"), "--defaults", "--set", "project_name=x"])
        assert result.exit_code == 0, result.output
        yield root / "home", root / "svc"


UPDATE_PATHS = [
    "README.md",
    "Dockerfile",
    "loadtest",
    "loadtest/locustfile.py",
    "src/x/serve.py",
    "src/x/models.py",
    ".copier-answers.yml",
    "docs",
]
MUTATIONS = ["delete", "file", "folder", "link-out-file", "link-out-folder", "append", "garble"]
updates = st.fixed_dictionaries(
    {
        "mutations": st.lists(
            st.tuples(st.sampled_from(UPDATE_PATHS), st.sampled_from(MUTATIONS)),
            max_size=3,
            unique_by=lambda entry: entry[0],
        ),
        "set": st.sampled_from(["", "deploy=vm", "cpus=4", "framework=flask", "framework=bogus"]),
    }
)


def _mutate(path: Path, mutation: str, outside: Path) -> None:
    """Change ``path`` the way a user (or an attacker) might, then it gets committed."""
    if not path.parent.is_dir() or path.parent.is_symlink():
        return
    if mutation == "append" and path.is_file() and not path.is_symlink():
        with path.open("a") as file:
            file.write("\n# the user's line\n")
        return
    if mutation == "garble" and path.is_file() and not path.is_symlink():
        path.write_bytes(b"\xff\xfe not text: [unclosed\n")
        return
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
    if mutation in ("file", "folder", "link-out-file", "link-out-folder"):
        _place(path, mutation, outside)


@settings(FUZZ, max_examples=6)
@given(case=updates)
@example(case={"mutations": [("README.md", "link-out-file")], "set": ""})
@example(case={"mutations": [("loadtest", "file")], "set": "deploy=vm"})
@example(case={"mutations": [(".copier-answers.yml", "garble")], "set": ""})
def test_update_on_hostile_projects(
    case: dict[str, Any],
    base_project: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home, base = base_project
    monkeypatch.setenv("HOME", str(home))
    with _sandbox() as (_, outside, work):
        project = work / "svc"
        shutil.copytree(base, project, symlinks=True)
        for relative, mutation in sorted(case["mutations"]):
            _mutate(project / relative, mutation, outside)
        git(project, "add", "-A")
        if git(project, "status", "--porcelain"):
            git(project, "commit", "--quiet", "-m", "the user's changes")
        outside_before = tree_state(outside)
        before = tree_state(work)
        args = ["update", str(project)] + (["--set", case["set"]] if case["set"] else [])

        result = _invoke(args)

        assert tree_state(outside) == outside_before
        if result.exit_code == 2 or "restored" in result.stderr:
            assert tree_state(work) == before, result.output
        elif result.exit_code == 0:
            garbled = frozenset(path for path, change in case["mutations"] if change == "garble")
            _parses(project, garbled)
