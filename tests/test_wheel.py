"""The built wheel, installed in a fresh virtualenv, generates updatable services on its own."""

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

from .harness import run

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist)], ROOT)
    return next(dist.glob("apistarter-*.whl"))


@pytest.fixture(scope="session")
def wheel_bin(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with only the wheel installed; dependencies come from this one."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    bin_dir = venv / "bin"
    run([str(bin_dir / "pip"), "install", "--quiet", "--no-deps", "--no-index", str(wheel)], venv)
    # Only the directory joins sys.path, not its .pth files: this checkout's editable
    # install stays invisible, so `apistarter` can only come from the wheel.
    site = next((venv / "lib").glob("python*/site-packages"))
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return bin_dir


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
    env = {"HOME": str(home), "PATH": f"{wheel_bin}:/usr/bin:/bin"}
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

    # Another machine: another HOME, the project moved elsewhere, no network.
    # apistarter puts its bundle at the recorded path; plain Copier updates from it.
    other_home = tmp_path / "other-home"
    moved = tmp_path / "elsewhere" / "svc"
    shutil.copytree(service, moved)
    other_env = {
        **env,
        "HOME": str(other_home),
        "http_proxy": "http://127.0.0.1:9",
        "https_proxy": "http://127.0.0.1:9",
    }
    run([str(wheel_bin / "apistarter"), "template"], work, other_env)
    output = run(
        [str(wheel_bin / "python"), "-m", "copier", "update", "--defaults", "--skip-answered"],
        moved,
        other_env,
    )
    assert "error" not in output.lower()
    assert run(["git", "status", "--porcelain"], moved, other_env).strip() == ""
