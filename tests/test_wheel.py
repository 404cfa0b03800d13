"""The built wheel, installed in fresh virtualenvs, generates and updates services on its own.

The wheel is built from a copy of this repository whose history holds an earlier
release, `v0.0.1`, with a slightly different template, the way a real release
history would: so its bundle carries two template versions.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import yaml

from apistarter import __version__
from apistarter.template_source import RECORDED_SOURCE

from .harness import git, run

ROOT = Path(__file__).resolve().parents[1]
PREVIOUS = "v0.0.1"
OFFLINE = {"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}

pytestmark = pytest.mark.slow


def _trim_readmes(templates: Path) -> dict[Path, str]:
    """Drop the last lines of each README template; return the originals."""
    originals = {}
    for readme in templates.rglob("*README*"):
        originals[readme] = readme.read_text()
        readme.write_text("".join(originals[readme].splitlines(keepends=True)[:-3]))
    return originals


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("repo")
    ignore = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*_cache", "dist", "build")
    shutil.copytree(ROOT, repo, dirs_exist_ok=True, ignore=ignore)
    originals = _trim_readmes(repo / "templates")
    git(repo, "init", "--quiet")
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "an earlier release")
    git(repo, "tag", PREVIOUS)
    for path, text in originals.items():
        path.write_text(text)
    git(repo, "commit", "--quiet", "-am", "this release")
    dist = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist)], repo)
    return next(dist.glob("apistarter-*.whl"))


def _venv_with(wheel: Path, venv: Path) -> Path:
    """A fresh virtualenv with only the wheel installed; dependencies come from this one."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    bin_dir = venv / "bin"
    run([str(bin_dir / "pip"), "install", "--quiet", "--no-deps", "--no-index", str(wheel)], venv)
    # Only the directory joins sys.path, not its .pth files: this checkout's editable
    # install stays invisible, so `apistarter` can only come from the wheel.
    site = next((venv / "lib").glob("python*/site-packages"))
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return bin_dir


@pytest.fixture(scope="session")
def wheel_bin(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _venv_with(wheel, tmp_path_factory.mktemp("venv"))


def test_wheel_ships_the_template_and_its_bundle(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "apistarter/templates/copier.yml" in names
    assert "apistarter/template.bundle" in names
    assert not [name for name in names if "__pycache__" in name]


def test_installed_wheel_generates_a_committed_updatable_service(
    wheel_bin: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    work = tmp_path / "work"
    work.mkdir()
    env = {"HOME": str(home), "PATH": f"{wheel_bin}:/usr/bin:/bin", **OFFLINE}
    where = run(
        [str(wheel_bin / "python"), "-c", "import apistarter; print(apistarter.__file__)"],
        work,
        env,
    )
    assert str(wheel_bin.parent) in where

    run([str(wheel_bin / "apistarter"), "new", "svc", "--defaults"], work, env)
    service = work / "svc"
    assert run(["git", "status", "--porcelain"], service, env).strip() == ""
    answers = yaml.safe_load((service / ".copier-answers.yml").read_text())
    assert answers["_src_path"] == RECORDED_SOURCE
    assert answers["_commit"] == f"v{__version__}"
    assert (home / ".apistarter" / "template.bundle").is_file()


def test_a_service_from_the_previous_version_updates_on_another_machine(
    wheel: Path, wheel_bin: Path, tmp_path: Path
) -> None:
    # Machine one: the project is generated at the previous template version.
    first = {"HOME": str(tmp_path / "home-1"), "PATH": f"{wheel_bin}:/usr/bin:/bin", **OFFLINE}
    run([str(wheel_bin / "apistarter"), "template"], tmp_path, first)
    service = tmp_path / "svc"
    run(
        [
            str(wheel_bin / "python"),
            "-m",
            "copier",
            "copy",
            "--defaults",
            "--quiet",
            "--vcs-ref",
            PREVIOUS,
            "--data",
            "project_name=orders-api",
            RECORDED_SOURCE,
            str(service),
        ],
        tmp_path,
        first,
    )
    answers = service / ".copier-answers.yml"
    readme_before = (service / "README.md").read_text()
    (service / "NOTES.md").write_text("our own file\n")
    for args in (["init", "--quiet"], ["add", "-A"], ["commit", "--quiet", "-m", "generated"]):
        git(service, *args)

    # Machine two: another HOME, another virtualenv, no network.
    other_bin = _venv_with(wheel, tmp_path / "other-venv")
    second = {"HOME": str(tmp_path / "home-2"), "PATH": f"{other_bin}:/usr/bin:/bin", **OFFLINE}
    output = run([str(other_bin / "apistarter"), "update", str(service)], tmp_path, second)

    assert "Updated" in output
    assert (service / "README.md").read_text() != readme_before
    assert (service / "NOTES.md").read_text() == "our own file\n"
    recorded = yaml.safe_load(answers.read_text())
    assert recorded["_commit"] == f"v{__version__}"
    assert recorded["_src_path"] == RECORDED_SOURCE
