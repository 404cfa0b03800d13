"""Render every framework x workload x deploy cell and check the service for real.

Each cell: nothing unrendered, ruff and mypy clean, its own tests pass, the
Dockerfile's CMD boots and answers /livez and /readyz, the HEALTHCHECK command
passes, SIGTERM ends it cleanly, and hadolint finds nothing.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import pytest

from apistarter.questions import Framework
from apistarter.render import available_frameworks

from .harness import (
    BIN,
    CLEAN_EXITS,
    dockerfile_instruction,
    free_port,
    get,
    render_service,
    run,
    serve,
    stop,
    unrendered_lines,
)

WORKLOADS = ("sync", "io-bound", "cpu-bound", "mixed")
DEPLOYS = ("kubernetes", "vm", "compose")
CELLS = [
    pytest.param(framework, workload, deploy, id=f"{framework}-{workload}-{deploy}")
    for framework, workload, deploy in itertools.product(
        sorted(available_frameworks()), WORKLOADS, DEPLOYS
    )
]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mypy cache for all cells: they share most of their code and dependencies."""
    return tmp_path_factory.mktemp("mypy-cache")


@pytest.mark.parametrize(("framework", "workload", "deploy"), CELLS)
def test_cell(
    framework: Framework,
    workload: str,
    deploy: str,
    tmp_path: Path,
    mypy_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    answers = {"workload": workload, "deploy": deploy, "cpus": 2}
    project = render_service(tmp_path / "svc", framework, answers)

    assert unrendered_lines(project) == []
    run([str(BIN / "ruff"), "check", "--no-cache", "."], project)
    run([str(BIN / "ruff"), "format", "--check", "--no-cache", "."], project)
    run([str(BIN / "mypy"), "--cache-dir", str(mypy_cache)], project)
    run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)
    hadolint = run([str(BIN / "hadolint"), "Dockerfile"], project)
    assert hadolint.strip() == ""

    command = dockerfile_instruction(project, "CMD")
    answers_file = (project / ".copier-answers.yml").read_text()
    assert json.dumps(command) in (project / "Dockerfile").read_text()
    assert f"framework: {framework}" in answers_file
    assert "WEB_LIVENESS_PORT=8081" in (project / "Dockerfile").read_text()
    liveness_port = free_port()
    with serve(project, command, {"WEB_LIVENESS_PORT": str(liveness_port)}) as server:
        assert get(server.base_url + "/livez")[0] == 200
        assert get(f"http://127.0.0.1:{liveness_port}/livez")[0] == 200
        status, body = get(server.base_url + "/readyz")
        assert status == 200, body
        healthcheck_env = {"PORT": str(server.port), "WEB_LIVENESS_PORT": str(liveness_port)}
        run(dockerfile_instruction(project, "HEALTHCHECK"), project, healthcheck_env)
        status, output = stop(server)
        assert status in CLEAN_EXITS, output
        assert "Traceback" not in output
        # The server said it drained: Uvicorn's, Gunicorn's and Granian's own last lines.
        drained = ("Application shutdown complete", "Shutting down: Master", "shutdown completed")
        assert any(line in output for line in drained), output
