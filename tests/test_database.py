"""The database layer: the data plan, the rendered services' own tests against an embedded
PostgreSQL, and services run by their image's command against a real server that is
stopped, refused and left unmigrated along the way."""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jinja2
import psycopg
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from apistarter.database import RESERVED_CONNECTIONS, migrate_command
from apistarter.decision import decide
from apistarter.deploy import plan_deploy
from apistarter.monitoring import DB_POOL_PENDING, DB_POOL_USED
from apistarter.questions import FRAMEWORKS, AnswerError, DecisionAnswers, Framework
from apistarter.render import templates_dir

from .harness import (
    BIN,
    dockerfile_instruction,
    free_port,
    get,
    http_request,
    render_service,
    run,
    serve,
    service_env,
)
from .postgres_cluster import Cluster, postgres_cluster
from .test_deploy import validate

GRID = {
    "deploy": ("kubernetes", "vm", "compose"),
    "cpus": (1, 2, 8),
    "workload": ("io-bound", "cpu-bound", "sync"),
    "peak_concurrency": (1, 50, 500, 5000),
    "db_max_connections": (30, 100, 1000),
}


def _answers(values: dict[str, Any]) -> DecisionAnswers:
    return DecisionAnswers.model_validate({"database": "postgresql", **values})


# --- The plan (fast) -------------------------------------------------------------------


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_every_pool_fits_the_server_or_the_plan_is_refused(framework: Framework) -> None:
    for values in itertools.product(*GRID.values()):
        answers = _answers(dict(zip(GRID, values, strict=True)))
        try:
            recommendation = decide(answers, framework)
        except AnswerError as error:
            # Refused only when one connection per process cannot fit.
            assert "db_max_connections" in str(error)
            continue
        plan, server = recommendation.database, recommendation.server
        assert plan is not None
        budget = answers.db_max_connections - RESERVED_CONNECTIONS
        assert plan.connections == plan.pool_size * plan.processes * plan.max_instances <= budget
        assert plan.processes == server.workers
        assert plan.pool_size >= 1
        if framework == "flask" and server.worker_class == "sync":
            assert plan.pool_size == 1  # one request at a time per sync worker
        # The arithmetic the ADR shows is the plan's own.
        assert any(f"= {plan.connections} connections" in why for why in plan.why)
        # A request can wait for a connection and run its statements inside the timeout.
        assert plan.checkout_timeout_s + 2 * plan.statement_timeout_ms / 1000 <= server.timeout


def test_a_budget_too_small_for_one_connection_per_process_is_refused() -> None:
    answers = _answers({"cpus": 8, "db_max_connections": 50})
    with pytest.raises(AnswerError, match=r"raise db_max_connections to 93 or more"):
        decide(answers, "flask")


def test_no_database_no_plan() -> None:
    recommendation = decide(DecisionAnswers(), "fastapi")
    assert recommendation.database is None
    assert "APP_DATABASE_URL" not in plan_deploy("kubernetes", recommendation.server).secrets


def test_a_blocking_driver_on_an_async_plan_names_what_the_layer_uses() -> None:
    answers = _answers({"blocking_deps": ("psycopg2", "sqlalchemy-sync")})
    warnings = {w.answer: w for w in decide(answers, "fastapi").warnings}
    assert "AsyncSession" in warnings["blocking_deps=psycopg2"].text
    assert "AsyncSession" in warnings["blocking_deps=sqlalchemy-sync"].text
    assert warnings["blocking_deps=psycopg2"].source == "S0"


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_plain_copier_defaults_equal_the_engine_with_a_database(framework: Framework) -> None:
    questions = yaml.safe_load((templates_dir() / "copier.yml").read_text())
    environment = jinja2.Environment(autoescape=True)
    answers = _answers({})
    recommendation = decide(answers, framework)
    assert recommendation.database is not None
    context = {"framework": framework, "package_name": "svc", "database": "postgresql"}
    data_plan = yaml.safe_load(
        environment.from_string(questions["database_plan"]["default"]).render(context)
    )
    assert data_plan == recommendation.database.model_dump(mode="json", exclude={"why"})
    deploy = yaml.safe_load(environment.from_string(questions["deploy"]["default"]).render(context))
    expected = plan_deploy(answers.deploy, recommendation.server, migrate_command("svc"))
    assert deploy == expected.model_dump(mode="json")


def test_the_cli_refuses_a_plan_that_does_not_fit_in_one_line(tmp_path: Path) -> None:
    result = _apistarter(
        [
            *("decide", "--defaults", "--set", "database=postgresql", "--set", "cpus=8"),
            *("--set", "db_max_connections=10", "--set", "deploy=vm"),
        ],
        tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "db_max_connections=10" in result.stderr
    assert sorted(tmp_path.iterdir()) == []


def _apistarter(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "apistarter"), *args], cwd=cwd, capture_output=True, text=True, check=False
    )


# --- Rendered services -----------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with postgres_cluster() as running:
        yield running


@pytest.fixture(scope="module")
def rendered(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[..., Path]:
    cache: dict[tuple[str, str, str], Path] = {}
    root = tmp_path_factory.mktemp("database")

    def get_service(framework: Framework, target: str = "kubernetes", **answers: Any) -> Path:
        key = (framework, target, json.dumps(answers, sort_keys=True))
        if key not in cache:
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("HOME", str(root / "home"))
                # The directory's name is the project's, as the unit's /opt path expects.
                cache[key] = render_service(
                    root / f"{framework}-{target}-{len(cache)}" / "orders-api",
                    framework,
                    {"database": "postgresql", "deploy": target, "cpus": 2, **answers},
                )
        return cache[key]

    return get_service


def _reset(cluster: Cluster) -> None:
    with psycopg.connect(cluster.url(), autocommit=True) as connection:
        connection.execute("DROP TABLE IF EXISTS items, alembic_version")


def _migrate(project: Path, url: str) -> subprocess.CompletedProcess[str]:
    env = {**service_env(project), "APP_DATABASE_URL": url}
    return subprocess.run(
        migrate_command("orders_api"),
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@contextlib.contextmanager
def _served(project: Path, cluster: Cluster, **env: str) -> Iterator[Any]:
    command = dockerfile_instruction(project, "CMD")
    settings = {"APP_DATABASE_URL": cluster.url(), "WEB_CONCURRENCY": "2", **env}
    with serve(project, command, settings) as server:
        yield server


def _json(server: Any, method: str, path: str, body: Any = None) -> tuple[int, dict[str, str], Any]:
    payload = json.dumps(body).encode() if body is not None else b""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    status, response_headers, raw = http_request(server.base_url, method, path, payload, headers)
    return status, response_headers, json.loads(raw) if raw else None


CELLS = [
    pytest.param(framework, target, id=f"{framework}-{target}")
    for framework, target in itertools.product(FRAMEWORKS, ("kubernetes", "compose", "vm"))
]


@pytest.mark.slow
@pytest.mark.parametrize(("framework", "target"), CELLS)
def test_the_service_s_own_checks_pass_with_no_database_set_up(
    framework: Framework, target: str, rendered: Callable[..., Path]
) -> None:
    project = rendered(framework, target)
    run([str(BIN / "ruff"), "check", "--no-cache", "."], project)
    run([str(BIN / "ruff"), "format", "--check", "--no-cache", "."], project)
    run([str(BIN / "mypy")], project)
    # Its tests start their own PostgreSQL (tests/postgres.py): nothing set up here.
    output = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)
    assert re.search(r"\b(\d+) passed\b", output), output
    assert "skipped" not in output, output


@pytest.mark.slow
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_two_processes_share_items_survive_a_database_outage_and_recover(
    framework: Framework, rendered: Callable[..., Path], cluster: Cluster
) -> None:
    project = rendered(framework, "vm" if framework == "flask" else "compose")
    _reset(cluster)
    migrated = _migrate(project, cluster.url())
    assert migrated.returncode == 0, migrated.stderr
    # `alembic upgrade head` from the project root is the documented command: a no-op now.
    alembic = run(
        [str(BIN / "alembic"), "upgrade", "head"], project, {"APP_DATABASE_URL": cluster.url()}
    )
    assert "Traceback" not in alembic
    with _served(project, cluster) as server:
        status, _, item = _json(server, "POST", "/v1/items", {"name": "Cup", "price": "2.50"})
        assert status == 201, item
        reads = [_json(server, "GET", f"/v1/items/{item['id']}") for _ in range(12)]
        assert [(status, body) for status, _, body in reads] == [(200, item)] * 12
        cluster.stop()
        try:
            status, headers, body = _json(server, "GET", f"/v1/items/{item['id']}")
            assert status == 503, body
            assert body["error"]["type"] == "unavailable"
            assert body["request_id"] == headers["x-request-id"]
            assert headers["retry-after"].isdigit()
            ready_status, ready = get(server.base_url + "/readyz")
            assert ready_status == 503, ready
        finally:
            cluster.start()
        deadline = time.monotonic() + 10
        while get(server.base_url + f"/v1/items/{item['id']}")[0] != 200:
            assert time.monotonic() < deadline, "no recovery within 10 s"
            time.sleep(0.2)
        assert get(server.base_url + "/readyz")[0] == 200
        output = server.output()
    assert "Traceback" not in output, output


@pytest.mark.slow
@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("not a url", "APP_DATABASE_URL: is not a URL"),
        ("mysql://user:pw@db:3306/app", "APP_DATABASE_URL: must be a postgresql:// URL"),
        ("", "APP_DATABASE_URL: not set"),
    ],
    ids=["malformed", "other-database", "missing"],
)
def test_a_bad_url_stops_the_service_and_the_migration_in_one_line(
    url: str, says: str, rendered: Callable[..., Path]
) -> None:
    project = rendered("fastapi")
    env = {**service_env(project), "APP_DATABASE_URL": url, "PORT": str(free_port())}
    for command in (dockerfile_instruction(project, "CMD"), migrate_command("orders_api")):
        result = subprocess.run(
            command, cwd=project, env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode != 0
        lines = [line for line in result.stderr.splitlines() if "orders_api cannot" in line]
        assert lines and says in lines[0], result.stderr
        assert "Traceback" not in result.stderr
        assert "pw@" not in result.stderr  # the URL's password is never echoed


@pytest.mark.slow
def test_unreachable_wrong_password_and_unmigrated_name_their_cause(
    rendered: Callable[..., Path], cluster: Cluster
) -> None:
    project = rendered("flask", "vm")
    closed = f"postgresql://postgres:x@127.0.0.1:{free_port()}/postgres"
    causes = {closed: "Connection refused", cluster.url("wrong"): "password authentication failed"}
    for url, cause in causes.items():
        migrated = _migrate(project, url)
        assert migrated.returncode == 1
        assert migrated.stderr.count("\n") == 1 and cause in migrated.stderr, migrated.stderr
        assert "wrong" not in migrated.stderr.replace(cause, "")  # no password echoed
        with serve(
            project, dockerfile_instruction(project, "CMD"), {"APP_DATABASE_URL": url}
        ) as server:
            status, body = get(server.base_url + "/readyz")
            assert status == 503
            assert cause in json.loads(body)["checks"]["database"]
            status, body = get(server.base_url + "/v1/items")
            assert status == 503 and json.loads(body)["error"]["type"] == "unavailable"
            assert cause in server.output() and "Traceback" not in server.output()
    _reset(cluster)  # a server with no tables: the migrations were never run
    with _served(project, cluster) as server:
        status, body = get(server.base_url + "/readyz")
        assert status == 503
        assert "python -m orders_api.migrate" in json.loads(body)["checks"]["database"]
        assert get(server.base_url + "/v1/items")[0] == 503
        assert "Traceback" not in server.output()


@pytest.mark.slow
def test_concurrent_migrations_apply_once(rendered: Callable[..., Path], cluster: Cluster) -> None:
    # Pods starting together each run the migration: the advisory lock serialises them.
    project = rendered("fastapi")
    _reset(cluster)
    env = {**service_env(project), "APP_DATABASE_URL": cluster.url()}
    runs = [
        subprocess.Popen(
            migrate_command("orders_api"), cwd=project, env=env, stderr=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    outputs = [process.communicate(timeout=120)[1] for process in runs]
    assert [process.returncode for process in runs] == [0] * 4, outputs
    with psycopg.connect(cluster.url()) as connection:
        versions = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    assert versions == [("0001",)]


@pytest.mark.slow
def test_gevent_greenlets_keep_serving_while_a_query_waits(
    rendered: Callable[..., Path], cluster: Cluster
) -> None:
    # The high-concurrency Flask plan: Gunicorn's gevent worker. One worker, so any
    # blocking call in the driver would hold every other request.
    project = rendered("flask", "vm", peak_concurrency=500)
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["server"]["worker_class"] == "gevent"
    _reset(cluster)
    assert _migrate(project, cluster.url()).returncode == 0
    with _served(project, cluster, WEB_CONCURRENCY="1") as server:
        assert get(server.base_url + "/v1/items")[0] == 200  # the pool has a connection
        with _items_locked(cluster, seconds=1.0), ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(get, server.base_url + "/v1/items")
            time.sleep(0.2)
            started = time.perf_counter()
            assert get(server.base_url + "/livez")[0] == 200
            answered = time.perf_counter() - started
            assert not waiting.done()
        assert waiting.result()[0] == 200
    # A worker blocked in the driver would answer only once the lock goes (~0.8 s).
    assert answered < 0.25


def _pool_gauges(liveness: int) -> dict[str, float]:
    """The pool's gauges on the metrics port, summed over the worker processes."""
    status, body = get(f"http://127.0.0.1:{liveness}/metrics")
    assert status == 200, body
    totals = dict.fromkeys(POOL_GAUGES.values(), 0.0)
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name in POOL_GAUGES:
                totals[POOL_GAUGES[sample.name]] += sample.value
    return totals


def _wait_for_gauges(liveness: int, expected: dict[str, float]) -> None:
    deadline = time.monotonic() + 10
    while (found := _pool_gauges(liveness)) != expected:
        assert time.monotonic() < deadline, f"pool gauges {found}, expected {expected}"
        time.sleep(0.1)


# The alert and the dashboard read the first two by these names: the service must export them.
POOL_GAUGES = {
    DB_POOL_USED: "used",
    DB_POOL_PENDING: "pending",
    "db_client_connection_max": "max",
}


@pytest.mark.slow
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_the_pools_use_and_waiting_requests_are_on_the_metrics_port(
    framework: Framework, rendered: Callable[..., Path], cluster: Cluster
) -> None:
    project = rendered(framework, "vm" if framework == "flask" else "compose")
    _reset(cluster)
    assert _migrate(project, cluster.url()).returncode == 0
    liveness = free_port()
    settings = {
        "WEB_LIVENESS_PORT": str(liveness),
        "WEB_CONCURRENCY": "1",
        "APP_DB_POOL_SIZE": "2",
        # Longer than the lock below: the requests wait, none gives up.
        "APP_DB_CHECKOUT_TIMEOUT_S": "30",
        "APP_DB_STATEMENT_TIMEOUT_MS": "30000",
    }
    with _served(project, cluster, **settings) as server:
        url = server.base_url + "/v1/items"
        assert get(url)[0] == 200
        _wait_for_gauges(liveness, {"used": 0, "pending": 0, "max": 2})
        with _items_locked(cluster, seconds=3), ThreadPoolExecutor(4) as pool:
            reads = [pool.submit(get, url, 30) for _ in range(4)]
            # Two reads hold the pool's two connections, waiting on the lock; two wait
            # for one of those.
            _wait_for_gauges(liveness, {"used": 2, "pending": 2, "max": 2})
        assert [read.result()[0] for read in reads] == [200] * 4
        _wait_for_gauges(liveness, {"used": 0, "pending": 0, "max": 2})
        assert "Traceback" not in server.output()


@contextlib.contextmanager
def _items_locked(cluster: Cluster, seconds: float) -> Iterator[None]:
    locked = threading.Event()

    def hold() -> None:
        with psycopg.connect(cluster.url()) as connection:
            connection.execute("LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
            locked.set()
            time.sleep(seconds)

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(10)
    try:
        yield
    finally:
        holder.join()


# --- Deploy artefacts ------------------------------------------------------------------


def _kubernetes_migration(project: Path) -> list[str]:
    built = [
        doc
        for doc in yaml.safe_load_all(run(["kubectl", "kustomize", "deploy/kubernetes"], project))
        if doc
    ]
    (deployment,) = [doc for doc in built if doc["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    assert init["image"] == pod["containers"][0]["image"]  # the same image, the same code
    (url,) = init["env"]
    assert url["name"] == "APP_DATABASE_URL"
    assert url["valueFrom"]["secretKeyRef"]["name"] == "orders-api"
    app_url = [e for e in pod["containers"][0]["env"] if e["name"] == "APP_DATABASE_URL"]
    assert app_url[0]["valueFrom"]["secretKeyRef"]["optional"] is False
    return [str(part) for part in init["command"]]


def _compose_migration(project: Path) -> list[str]:
    services = yaml.safe_load((project / "compose.yaml").read_text())["services"]
    assert services["app"]["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"}
    }
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    postgres = services["postgres"]
    assert postgres["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert postgres["volumes"] == ["postgres:/var/lib/postgresql"]
    assert ":latest" not in postgres["image"] and ":" in postgres["image"]
    assert "POSTGRES_PASSWORD" in postgres["environment"]["POSTGRES_PASSWORD"]  # from .env
    return [str(part) for part in services["migrate"]["command"]]


def _systemd_migration(project: Path) -> list[str]:
    (unit,) = project.glob("deploy/systemd/*.service")
    (line,) = [line for line in unit.read_text().splitlines() if line.startswith("ExecStartPre=")]
    program, *args = line.removeprefix("ExecStartPre=").split()
    assert program == "/opt/orders-api/bin/python"
    return ["python", *args]


MIGRATIONS = {
    "kubernetes": _kubernetes_migration,
    "compose": _compose_migration,
    "vm": _systemd_migration,
}


@pytest.mark.slow
@pytest.mark.parametrize(("framework", "target"), CELLS)
def test_each_target_migrates_before_traffic_and_passes_its_validators(
    framework: Framework, target: str, rendered: Callable[..., Path], cluster: Cluster
) -> None:
    project = rendered(framework, target)
    result = validate(project, target)
    assert result.returncode == 0, result.stdout + result.stderr
    command = MIGRATIONS[target](project)
    assert command == list(migrate_command("orders_api"))
    # The step as the artefact describes it, then the server: ready, with the table there.
    _reset(cluster)
    migrated = _migrate(project, cluster.url())
    assert migrated.returncode == 0, migrated.stderr
    with _served(project, cluster) as server:
        assert get(server.base_url + "/readyz")[0] == 200
        assert _json(server, "POST", "/v1/items", {"name": "Pot", "price": "9.00"})[0] == 201


@pytest.mark.slow
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_without_a_database_the_items_say_they_are_per_process(
    framework: Framework, tmp_path: Path
) -> None:
    project = render_service(tmp_path / "svc", framework, {"database": "none"})
    note = "this process's memory"
    assert note in (project / "src/orders_api/store.py").read_text()
    assert "apistarter update --set database=postgresql" in (project / "README.md").read_text()
    schema = run(
        [
            sys.executable,
            "-c",
            "import json; from orders_api.app import create_app; app = create_app(); "
            "print(json.dumps(app.openapi() if hasattr(app, 'openapi') else app.api_doc))",
        ],
        project,
        {"PYTHONPATH": str(project / "src")},
    )
    operation = json.loads(schema.splitlines()[-1])["paths"]["/v1/items"]["post"]
    # FastAPI puts a view's docstring in the description, flask-openapi3 its first line
    # in the summary.
    assert note in operation.get("description", "") + operation.get("summary", ""), operation
