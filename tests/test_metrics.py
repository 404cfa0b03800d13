"""Prometheus metrics on the liveness port: the plan, and real services scraped.

Each framework's service is started by its image's command (Flask with two Gunicorn
workers), sent a POST and reads of one item, and scraped at /metrics on the liveness
port: by this test, by promtool, and by a real Prometheus whose HTTP API is queried.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from apistarter.decision import decide
from apistarter.deploy import LIVENESS_PORT
from apistarter.observability import GOAL_FRACTIONS, METRICS_PATH, plan_metrics
from apistarter.questions import DecisionAnswers, Framework
from apistarter.render import templates_dir
from apistarter.service_routes import SERVICE_ROUTES

from .harness import (
    dockerfile_instruction,
    free_port,
    get,
    http_request,
    image_env,
    render_service,
    serve,
    wait_for_port,
)
from .test_monitoring import every_expression, metric_names

FRAMEWORKS: tuple[Framework, ...] = ("fastapi", "flask", "hybrid")
DURATION = "http_server_request_duration_seconds"
ITEM_PATH = SERVICE_ROUTES["item"]["path"]  # /v1/items/{item_id}
# Reads until both Gunicorn workers have served some (the kernel picks the worker).
MAX_READS = 400
BURST = 20
# A route of the hybrid's example Flask app, under the mount's prefix.
LEGACY_HELLO = "/legacy/hello"


# --- The plan (fast) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("framework", "answers", "multiprocess", "saturation"),
    [
        ("flask", {}, True, ("worker_threads",)),
        ("flask", {"workload": "io-bound", "peak_concurrency": 1000}, True, ("greenlets",)),
        ("flask", {"workload": "cpu-bound"}, True, ()),
        ("fastapi", {}, False, ("event_loop_lag",)),
        ("fastapi", {"deploy": "compose", "cpus": 4}, True, ("event_loop_lag",)),
        ("fastapi", {"deploy": "vm", "cpus": 1}, True, ("event_loop_lag",)),
        ("hybrid", {}, False, ("event_loop_lag", "wsgi_executor")),
        ("flask", {"database": "postgresql"}, True, ("worker_threads", "db_pool")),
        ("fastapi", {"database": "postgresql"}, False, ("event_loop_lag", "db_pool")),
    ],
)
def test_plan_follows_the_server_plan(
    framework: Framework, answers: dict[str, Any], multiprocess: bool, saturation: tuple[str, ...]
) -> None:
    recommendation = decide(DecisionAnswers.model_validate(answers), framework)
    plan = plan_metrics(
        framework,
        recommendation.server,
        recommendation.load_test,
        LIVENESS_PORT,
        recommendation.database,
    )
    assert (plan.multiprocess_dir is not None) == multiprocess
    assert plan.saturation == saturation
    assert (plan.path, plan.port) == (METRICS_PATH, LIVENESS_PORT)


@pytest.mark.parametrize("latency_ms", [0, 50, 400, 5000])
def test_buckets_come_from_the_latency_goal(latency_ms: int) -> None:
    recommendation = decide(DecisionAnswers(downstream_latency_ms=latency_ms))
    goal_s = recommendation.load_test.p95_ms / 1000
    plan = plan_metrics(
        "fastapi", recommendation.server, recommendation.load_test, LIVENESS_PORT, None
    )
    assert plan.latency_goal_s == goal_s
    assert goal_s in plan.buckets  # the share within the goal is one bucket, not a guess
    assert list(plan.buckets) == sorted(set(plan.buckets))
    assert plan.buckets[-1] == pytest.approx(goal_s * GOAL_FRACTIONS[-1])


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_plain_copier_metrics_default_equals_the_engine(framework: Framework) -> None:
    question = yaml.safe_load((templates_dir() / "copier.yml").read_text())["metrics"]
    rendered = jinja2.Environment(autoescape=True).from_string(question["default"])
    recommendation = decide(DecisionAnswers(), framework)
    # Plain Copier renders a service without a database (it cannot compute a data plan).
    expected = plan_metrics(
        framework, recommendation.server, recommendation.load_test, LIVENESS_PORT, None
    )
    assert yaml.safe_load(rendered.render(framework=framework)) == expected.model_dump(
        mode="json", exclude={"why"}
    )


# --- Real services (slow) --------------------------------------------------------------


def _route_template(framework: Framework) -> str:
    """The item route as the framework writes it: Flask's <item_id>, Starlette's {item_id}."""
    return re.sub(r"\{(\w+)\}", r"<\1>", ITEM_PATH) if framework == "flask" else ITEM_PATH


def _durations(text: str) -> dict[tuple[str, str, str], float]:
    """(method, route, status) -> request count, from the histogram's _count series."""
    counts = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == DURATION + "_count":
                labels = sample.labels
                key = (
                    labels["http_request_method"],
                    labels["http_route"],
                    labels["http_response_status_code"],
                )
                counts[key] = sample.value
    return counts


def _promtool(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )


@contextlib.contextmanager
def _prometheus(target_port: int, workdir: Path) -> Iterator[str]:
    """A real Prometheus scraping 127.0.0.1:``target_port`` every second; yields its URL."""
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [
            {
                "job_name": "service",
                "metrics_path": METRICS_PATH,
                "static_configs": [{"targets": [f"127.0.0.1:{target_port}"]}],
            }
        ],
    }
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "prometheus.yml").write_text(json.dumps(config))
    log = (workdir / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_port(port, timeout=30)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while get(url + "/-/ready")[0] != 200:  # 503 while it loads its storage
            assert time.monotonic() < deadline, "Prometheus never became ready"
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        log.close()


def _query(prometheus: str, expression: str) -> list[dict[str, Any]]:
    status, body = get(
        f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    )
    assert status == 200, body
    result: list[dict[str, Any]] = json.loads(body)["data"]["result"]
    return result


def _scrape_during_shutdown(port: int) -> str:
    """One scrape: 'answered' (a whole exposition) or 'refused'; anything else fails."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(f"GET {METRICS_PATH} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            response = b""
            while chunk := sock.recv(65536):
                response += chunk
    except (ConnectionRefusedError, ConnectionResetError):
        return "refused"
    if not response:
        return "refused"  # accepted by a listener closing down, then closed unanswered
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), response[:200]
    list(text_string_to_metric_families(body.decode()))  # a whole exposition parses
    return "answered"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("framework", "rendered_with"),
    [pytest.param(framework, {}, id=framework) for framework in FRAMEWORKS]
    # Granian's workers are processes of their own too: their metrics must add up.
    + [pytest.param("flask", {"server": "granian"}, id="flask-granian")],
)
def test_metrics_on_the_liveness_port(
    framework: Framework,
    rendered_with: dict[str, object],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    project = render_service(tmp_path / "svc", framework, rendered_with)
    command = dockerfile_instruction(project, "CMD")
    env = image_env(project)
    multiprocess_dir = tmp_path / "prometheus"
    if framework == "flask":
        # The image's folder, moved under this test's own temporary folder.
        assert env["PROMETHEUS_MULTIPROC_DIR"] == "/tmp/prometheus"
        env["PROMETHEUS_MULTIPROC_DIR"] = str(multiprocess_dir)
        multiprocess_dir.mkdir()
        (multiprocess_dir / "histogram_1.db").write_bytes(b"left by an earlier run")
    else:
        assert "PROMETHEUS_MULTIPROC_DIR" not in env  # one worker process per pod
    liveness = free_port()
    env |= {
        "WEB_LIVENESS_PORT": str(liveness),
        "WEB_CONCURRENCY": "2" if framework == "flask" else "1",
    }
    route = _route_template(framework)
    with serve(project, command, env) as server:
        if framework == "flask":  # emptied when the server started
            assert not (multiprocess_dir / "histogram_1.db").exists()
            # Under Granian, no thread gauge: a worker shows once it has loaded the app.
            _wait_for_workers(
                liveness,
                2,
                "process_resident_memory_bytes" if rendered_with else "gunicorn_worker_threads",
            )
        status, _, body = http_request(
            server.base_url,
            "POST",
            "/v1/items",
            json.dumps({"name": "widget", "price": 3}).encode(),
            {"Content-Type": "application/json"},
        )
        assert status == 201, body
        item_id = json.loads(body)["id"]
        reads = 0
        url = f"{server.base_url}/v1/items/{item_id}"
        # Bursts of concurrent reads until both workers have served some: sent one at a
        # time, the worker that won the last accept often wins every next one.
        with ThreadPoolExecutor(BURST) as pool:
            while reads < MAX_READS:
                # Each worker keeps its own items in memory: the other one answers 404.
                statuses = list(pool.map(lambda _: get(url)[0], range(BURST)))
                assert set(statuses) <= {200, 404}, statuses
                reads += BURST
                if framework != "flask" or _writers(multiprocess_dir) >= 2:
                    break
        if framework == "flask":
            assert _writers(multiprocess_dir) == 2, "one worker served every request"
        if framework == "hybrid":  # a route of the mounted Flask app
            assert get(f"{server.base_url}{LEGACY_HELLO}")[0] == 200

        public = get(server.base_url + METRICS_PATH)
        assert public[0] == 404, public

        # The middleware records a request once its answer is sent: the client may have it
        # first, so the last request's count can lag the scrape by a moment.
        deadline = time.monotonic() + 10
        while True:
            status, text_bytes = get(f"http://127.0.0.1:{liveness}{METRICS_PATH}")
            assert status == 200
            text = text_bytes.decode()
            counts = _durations(text)
            if framework != "hybrid" or ("GET", LEGACY_HELLO, "200") in counts:
                break
            assert time.monotonic() < deadline, counts
            time.sleep(0.1)
        item_reads = sum(n for (m, r, _), n in counts.items() if (m, r) == ("GET", route))
        assert item_reads == reads, counts  # every worker's reads, summed
        assert counts[("POST", SERVICE_ROUTES["item_list"]["path"], "201")] == 1
        raw = f"/v1/items/{item_id}"
        assert raw not in {label for key in counts for label in key}
        assert f'http_route="{raw}"' not in text
        assert "http_server_active_requests" in text
        assert "process_cpu_seconds_total" in text and "process_open_fds" in text
        if framework != "flask":
            assert "event_loop_lag_seconds" in text
        elif not rendered_with:  # gthread's threads, one gauge a worker
            assert text.count("gunicorn_worker_threads{") == 2
        if framework == "hybrid":
            assert "wsgi_executor_queued_calls" in text
            # Labelled by the Flask app's own url rule, not by the mount's catch-all.
            assert counts[("GET", LEGACY_HELLO, "200")] == 1, counts
            assert not [key for key in counts if key[1].endswith("{path}")], counts

        # Every metric the service's alert rules and dashboard read, it exports.
        exported = {
            sample.name
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }
        answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
        expressions = every_expression(answers["monitoring"])
        for expression in expressions:
            assert metric_names(expression) <= exported, expression
        # The same check fails on a name the service does not export.
        assert not metric_names("rate(http_server_requests_total[5m]) > 1") <= exported

        checked = _promtool(text)
        assert checked.returncode == 0, checked.stderr + checked.stdout
        # The same check fails on a broken exposition.
        mangled = text.replace(f"{DURATION}_count{{", f"{DURATION}_count{{{{", 1)
        assert _promtool(mangled).returncode != 0

        with _prometheus(liveness, tmp_path / "prom") as prometheus:
            expression = f'sum(http_server_request_duration_seconds_count{{http_route="{route}"}})'
            deadline = time.monotonic() + 60
            result: list[dict[str, Any]] = []
            while time.monotonic() < deadline:
                result = _query(prometheus, expression)
                if result:
                    break
                time.sleep(0.5)
            assert result, f"Prometheus never scraped {expression}"
            assert float(result[0]["value"][1]) == reads
            # Prometheus evaluates every alert and dashboard expression without an error.
            for expression in expressions:
                _query(prometheus, expression)

        # A scrape during shutdown is answered whole or refused, never left hanging.
        server.process.send_signal(signal.SIGTERM)
        outcomes = []
        while server.process.poll() is None:
            outcomes.append(_scrape_during_shutdown(liveness))
            time.sleep(0.05)
        outcomes.append(_scrape_during_shutdown(liveness))
        assert outcomes[-1] == "refused"
        assert "answered" in outcomes, outcomes


def _wait_for_workers(liveness: int, workers: int, series: str = "gunicorn_worker_threads") -> None:
    """Until every worker shows in ``series``: by default the thread gauge a Gunicorn worker
    sets once it has booted (after it loaded the app, whose metrics already show it)."""
    deadline = time.monotonic() + 60
    while True:
        text = get(f"http://127.0.0.1:{liveness}{METRICS_PATH}")[1].decode()
        if text.count(f"{series}{{") == workers:
            return
        assert time.monotonic() < deadline, f"fewer than {workers} workers booted:\n{text}"
        time.sleep(0.2)


def _writers(directory: Path) -> int:
    """How many worker processes have recorded a request (histogram_<pid>.db files)."""
    return len(list(directory.glob("histogram_*.db")))


def _gauge_pids(directory: Path) -> set[int]:
    """The workers whose per-worker gauges are in the folder (gauge_liveall_<pid>.db)."""
    return {int(path.stem.rpartition("_")[2]) for path in directory.glob("gauge_liveall_*.db")}


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


@pytest.mark.slow
def test_recycled_workers_leave_no_gauges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    project = render_service(tmp_path / "svc", "flask")
    multiprocess_dir = tmp_path / "prometheus"
    multiprocess_dir.mkdir()
    liveness = free_port()
    env = image_env(project) | {
        "PROMETHEUS_MULTIPROC_DIR": str(multiprocess_dir),
        "WEB_LIVENESS_PORT": str(liveness),
        "WEB_CONCURRENCY": "2",
        # Each worker is recycled after 20 requests, as max_requests does in production.
        "WEB_MAX_REQUESTS": "20",
        "WEB_MAX_REQUESTS_JITTER": "0",
    }
    with serve(project, dockerfile_instruction(project, "CMD"), env) as server:
        _wait_for_workers(liveness, 2)
        first = _gauge_pids(multiprocess_dir)
        assert len(first) == 2 and all(map(_alive, first)), first
        with ThreadPoolExecutor(BURST) as pool:
            statuses = list(pool.map(lambda _: get(server.base_url + "/v1/items")[0], range(100)))
        assert set(statuses) == {200}, statuses
        # No scrape meanwhile: the master itself drops a worker's gauges as it exits.
        deadline = time.monotonic() + 30
        while True:
            pids = _gauge_pids(multiprocess_dir)
            dead = {pid for pid in pids if not _alive(pid)}
            if not dead and len(pids) == 2 and pids != first:
                break
            assert time.monotonic() < deadline, f"gauges of {pids}, dead: {dead}"
            time.sleep(0.2)
        # A scrape shows the live workers' gauges only, one each. A worker that reaches its
        # max_requests as the scrape arrives closes its listener and resets the connection
        # (seen once on a clean-clone run): scrape again, as Prometheus does next interval.
        while True:
            try:
                text = get(f"http://127.0.0.1:{liveness}{METRICS_PATH}")[1].decode()
            except ConnectionResetError:
                text = ""
            threads = {
                int(sample.labels["pid"])
                for family in text_string_to_metric_families(text)
                for sample in family.samples
                if sample.name == "gunicorn_worker_threads"
            }
            pids = _gauge_pids(multiprocess_dir)
            if threads and threads == pids:
                break
            assert time.monotonic() < deadline, (threads, pids)
            time.sleep(0.2)
        # The recycled workers' requests still count.
        counts = _durations(text)
        assert sum(n for (_, route, _), n in counts.items() if route == "/v1/items") == 100
