"""Updates bring the deploy artefacts to older services and move them with the plan;
locked builds install exactly the lock."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from apistarter.cli import app
from apistarter.questions import Framework
from apistarter.render import available_frameworks

from .harness import BIN, git, make_venv, render_previous, render_service, run
from .test_deploy import contract_problems, read_kubernetes, require
from .test_update import two_versions  # noqa: F401 - the fixture, shared

pytestmark = pytest.mark.slow
runner = CliRunner()
K8S = Path("deploy/kubernetes")


def _update(project: Path, *args: str) -> None:
    result = runner.invoke(app, ["update", str(project), *args])
    assert result.exit_code == 0, result.output
    git(project, "add", "-A")
    git(project, "commit", "--quiet", "-m", "update")


@pytest.mark.parametrize("framework", sorted(available_frameworks()))
def test_update_adds_the_artefacts_to_a_service_made_before_them(
    framework: Framework,
    two_versions: Path,  # noqa: F811 - the imported fixture
) -> None:
    project = render_previous(two_versions / "orders-api", framework)
    assert not (project / "deploy").exists()
    _update(project)
    # nginx's config, where Kustomize generates its ConfigMap, when the plan puts it in front.
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    proxied = ["nginx.conf"] if answers["deploy"]["proxy"] else []
    assert sorted(path.name for path in (project / K8S).iterdir()) == sorted(
        [
            *proxied,
            "configmap.yaml",
            "deployment.yaml",
            "horizontalpodautoscaler.yaml",
            "kustomization.yaml",
            "namespace.yaml",
            "networkpolicy.yaml",
            "poddisruptionbudget.yaml",
            "service.yaml",
            "components",
        ]
    )
    # The monitoring the plan derives: the operator's component and the dashboard.
    assert sorted(
        path.name for path in (project / K8S / "components" / "monitoring").iterdir()
    ) == [
        "kustomization.yaml",
        "podmonitor.yaml",
        "prometheusrule.yaml",
    ]
    assert sorted(path.name for path in (project / "deploy" / "monitoring").iterdir()) == [
        "dashboard.json"
    ]
    require("kubectl")
    assert contract_problems(read_kubernetes(project), project) == []


def test_changing_cpus_moves_the_manifests_with_the_plan(
    two_versions: Path,  # noqa: F811 - the imported fixture
) -> None:
    project = render_previous(two_versions / "orders-api", "flask")
    _update(project)
    deployment = (project / K8S / "deployment.yaml").read_text()
    assert 'cpu: "2"' in deployment
    _update(project, "--set", "cpus=4")
    deployment = (project / K8S / "deployment.yaml").read_text()
    config = yaml.safe_load((project / K8S / "configmap.yaml").read_text())["data"]
    # Four gthread workers, one core each: the limit and the worker count move together.
    assert deployment.count('cpu: "4"') == 2, deployment
    assert config["WEB_CONCURRENCY"] == "4"
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["deploy"]["cpu"] == 4


def test_locked_build_installs_exactly_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`uv lock` works on a new service; the Dockerfile's locked install and `uv run` use it."""
    require("uv")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("UV_PYTHON_DOWNLOADS", "never")
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    project = render_service(tmp_path / "svc", "flask", project={"python_version": python})
    uv = [str(BIN / "uv"), "--quiet"]
    locked = subprocess.run(
        [*uv, "lock", "--python", sys.executable],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    if locked.returncode != 0 and re.search(r"dns error|Failed to fetch|Connect", locked.stderr):
        pytest.skip(f"the package index is not reachable: {locked.stderr.strip()[-200:]}")
    assert locked.returncode == 0, locked.stderr
    assert "uv.lock" in (project / ".dockerignore").read_text()  # reaches the build context

    # The build stage's command, taken from the Dockerfile, into an empty virtualenv.
    dockerfile = (project / "Dockerfile").read_text()
    match = re.search(r"if \[ -f uv\.lock \]; then (uv sync [^;]*);", dockerfile)
    assert match, dockerfile
    venv = tmp_path / "image-venv"
    bin_dir = make_venv(venv)
    env = {"UV_PROJECT_ENVIRONMENT": str(venv), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    run(match.group(1).split(), project, env)
    lock = tomllib.loads((project / "uv.lock").read_text())
    pinned = {package["name"]: package["version"] for package in lock["package"]}
    installed = run([str(bin_dir / "python"), "-m", "pip", "list", "--format=json"], project)
    versions = {item["name"].lower(): item["version"] for item in json.loads(installed)}
    assert versions["flask"] == pinned["flask"]
    assert "pytest" not in versions  # runtime dependencies only
    run([str(bin_dir / "python"), "-c", "import orders_api.main"], tmp_path)

    # Day-to-day work with uv: the dev extra, then the service's own tests.
    run(
        [*uv, "run", "--frozen", "--extra", "dev", "pytest", "-q", "-p", "no:cacheprovider"],
        project,
    )
