"""A generated service runs from nothing but its own declared dependencies.

Every other test serves generated projects from this suite's environment, which
holds every dependency of every plan, so a dependency a project forgets to declare
goes unnoticed there and breaks only its image build. Here each distinct server
setup is installed into an empty virtualenv from the project's pyproject.toml,
as the Dockerfile installs it, and its CMD must boot and answer. (The gevent plan
once declared `gevent` but not `gunicorn[gevent]`, whose worker imports
`packaging`: it failed exactly this way.) Likewise each framework's development
install runs the project's own tests, which must pass without a single warning:
the suite's environment would hide a dev dependency that is missing or superseded
(Starlette's TestClient warns when it finds `httpx` rather than `httpx2`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from apistarter.questions import Framework

from .harness import (
    dockerfile_instruction,
    free_port,
    get,
    make_venv,
    pip_install,
    render_service,
    run,
    serve,
)

pytestmark = pytest.mark.slow

PLANS = [
    pytest.param("fastapi", {"deploy": "kubernetes", "server": "uvicorn"}, id="uvicorn"),
    pytest.param("fastapi", {"deploy": "vm"}, id="gunicorn-uvicorn-worker"),
    pytest.param("fastapi", {"server": "granian"}, id="granian"),
    pytest.param("flask", {"server": "granian"}, id="granian-wsgi"),
    pytest.param("flask", {"workload": "io-bound"}, id="gunicorn-gthread"),
    pytest.param("flask", {"workload": "io-bound", "peak_concurrency": 1000}, id="gunicorn-gevent"),
    pytest.param("hybrid", {}, id="hybrid-a2wsgi"),
    pytest.param("flask", {"database": "postgresql"}, id="gunicorn-gthread-postgresql"),
]


def _installed(
    tmp_path: Path, framework: Framework, answers: dict[str, object], extras: str = ""
) -> tuple[Path, Path]:
    """(the rendered project, the bin directory of an empty venv it is installed into)."""
    # The running Python's version, so pip accepts the project's requires-python.
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    project = render_service(tmp_path / "svc", framework, answers, {"python_version": version})
    bin_dir = make_venv(tmp_path / "venv")
    pip_install(bin_dir, f"{project}{extras}")
    return project, bin_dir


@pytest.mark.parametrize(("framework", "answers"), PLANS)
def test_service_boots_from_its_declared_dependencies(
    framework: Framework, answers: dict[str, object], tmp_path: Path
) -> None:
    project, bin_dir = _installed(tmp_path, framework, answers)
    # With a database: one nobody listens for. The driver is imported and tried (503).
    database = {"APP_DATABASE_URL": f"postgresql://u:p@127.0.0.1:{free_port()}/db"}
    env = database if answers.get("database") == "postgresql" else {}

    command = dockerfile_instruction(project, "CMD")
    with serve(project, command, env, bin_dir=bin_dir) as server:
        assert get(server.base_url + "/livez")[0] == 200
        assert get(server.base_url + "/v1/items")[0] == (503 if env else 200)


@pytest.mark.parametrize(
    ("framework", "answers"),
    [
        # Without and with the database layer (its dependencies, the embedded PostgreSQL).
        pytest.param(framework, {"database": database}, id=f"{framework}-{database}")
        for framework in ("fastapi", "flask", "hybrid")
        for database in ("none", "postgresql")
    ]
    + [
        pytest.param(framework, {"server": "granian"}, id=f"{framework}-granian")
        for framework in ("fastapi", "flask")
    ],
)
def test_dev_install_runs_the_projects_tests_without_warnings(
    framework: Framework, answers: dict[str, object], tmp_path: Path
) -> None:
    project, bin_dir = _installed(tmp_path, framework, answers, "[dev]")

    run(
        [str(bin_dir / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error"],
        project,
    )
