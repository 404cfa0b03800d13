"""Graceful shutdown under load, for every framework and server plan kind.

Each case starts the Dockerfile's CMD, keeps it busy with a bounded load of
200 ms requests, sends SIGTERM mid-load and checks, from the client side and
the server's own request log:

- every request the server accepted completes with a 2xx (0 failed in flight);
- /readyz, polled over a connection opened before SIGTERM, answers 503 from the
  moment SIGTERM arrives and never 200 again;
- during WEB_SHUTDOWN_DELAY the server still accepts new connections;
- the process exits cleanly, by itself, within the graceful timeout.

A request the server never read — refused once the listener closed, or a
kept-alive connection closed before it was read — is expected after SIGTERM
and counted apart; the server's request log (one line per request, with the
request id the client sent) is what says whether a request was accepted.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from apistarter.questions import Framework

from .harness import (
    CLEAN_EXITS,
    RunningServer,
    dockerfile_instruction,
    render_service,
    run,
    serve,
)

pytestmark = pytest.mark.slow

DELAY_MS = 200
SHUTDOWN_DELAY_S = 1.0
GRACEFUL_TIMEOUT_S = 10
# SIGTERM reaches Gunicorn's workers through the master, and Uvicorn's supervisor
# forwards it to its workers on a 0.5 s tick: the flip may lag SIGTERM by that much.
SIGNAL_LAG_S = 0.75
# The load keeps going this long before SIGTERM, so requests are in flight.
WARM_UP_S = 1.0
REFUSED_BACKOFF_S = 0.05
CLIENT_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class Plan:
    framework: Framework
    deploy: str
    workload: str
    # What the rendered service must run: "uvicorn", "granian" (the server answer), or
    # Gunicorn's worker class, x workers.
    server: str
    # Gunicorn's sync workers serve one request each, and a long accept queue
    # would hold the /readyz poll longer than the shutdown delay: fewer clients.
    clients: int = 20
    keep_alive: bool = True
    peak_concurrency: int | None = None


UVICORN_WORKER = "uvicorn_worker.UvicornWorker"
PLANS = [
    pytest.param(Plan("fastapi", "kubernetes", "io-bound", "uvicorn x1"), id="fastapi-uvicorn"),
    pytest.param(
        Plan("fastapi", "compose", "io-bound", "uvicorn x2"), id="fastapi-uvicorn-workers"
    ),
    pytest.param(
        Plan("fastapi", "vm", "io-bound", f"{UVICORN_WORKER} x2"), id="fastapi-gunicorn-uvicorn"
    ),
    pytest.param(Plan("hybrid", "kubernetes", "io-bound", "uvicorn x1"), id="hybrid-uvicorn"),
    pytest.param(Plan("hybrid", "compose", "io-bound", "uvicorn x2"), id="hybrid-uvicorn-workers"),
    pytest.param(
        Plan("hybrid", "vm", "io-bound", f"{UVICORN_WORKER} x2"), id="hybrid-gunicorn-uvicorn"
    ),
    # Granian (FastAPI's own plan; the hybrid's by the server answer): its launcher
    # (serve.py) spends the delay, not Granian.
    pytest.param(Plan("fastapi", "kubernetes", "io-bound", "granian x1"), id="fastapi-granian"),
    pytest.param(
        Plan("fastapi", "compose", "io-bound", "granian x2"), id="fastapi-granian-workers"
    ),
    pytest.param(Plan("hybrid", "kubernetes", "io-bound", "granian x1"), id="hybrid-granian"),
    # Flask under Granian: each worker marks itself not ready from a signal handler.
    pytest.param(Plan("flask", "kubernetes", "io-bound", "granian x2"), id="flask-granian"),
    pytest.param(Plan("flask", "kubernetes", "io-bound", "gthread x2"), id="flask-gthread"),
    # Very high I/O concurrency: gevent, where the delay's timer thread is a greenlet.
    pytest.param(
        Plan("flask", "kubernetes", "io-bound", "gevent x2", peak_concurrency=500),
        id="flask-gevent",
    ),
    # Sync workers close every connection after one request: no kept-alive poll.
    pytest.param(
        Plan("flask", "kubernetes", "cpu-bound", "sync x2", clients=4, keep_alive=False),
        id="flask-sync",
    ),
]


@dataclass(frozen=True)
class Outcome:
    request_id: str
    sent: float
    done: float
    fresh_connection: bool
    status: int | None = None
    error: str | None = None


@dataclass
class Record:
    outcomes: list[Outcome] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, outcome: Outcome) -> None:
        with self.lock:
            self.outcomes.append(outcome)


@dataclass
class Shutdown:
    """What one SIGTERM under load looked like, on the monotonic clock."""

    sigterm: float
    exited: float
    status: int
    output: str
    load: list[Outcome]
    polls: list[Outcome]
    # Request id -> the status the server logged for it.
    server_log: dict[str, int]

    def failures(self, shutdown_delay_s: float) -> list[str]:
        """Requests the server accepted but did not answer with 2xx, and other faults."""
        found = []
        for outcome in self.load:
            logged = self.server_log.get(outcome.request_id)
            if outcome.status is not None:
                if not 200 <= outcome.status < 300:
                    found.append(f"{outcome.request_id}: HTTP {outcome.status}")
                continue
            if logged is not None:
                found.append(f"{outcome.request_id}: accepted (logged {logged}), {outcome.error}")
            elif outcome.sent < self.sigterm:
                found.append(f"{outcome.request_id}: {outcome.error} before SIGTERM")
            elif outcome.error == "refused" and outcome.sent < self.sigterm + shutdown_delay_s:
                found.append(f"{outcome.request_id}: refused during the shutdown delay")
        return found

    def not_read(self) -> dict[str, int]:
        """Requests the server never read, by error: expected once SIGTERM was sent
        (``failures`` holds the rest), and shown so a change in them is visible."""
        counts: dict[str, int] = {}
        for outcome in self.load:
            if outcome.error and outcome.request_id not in self.server_log:
                counts[outcome.error] = counts.get(outcome.error, 0) + 1
        return counts

    def summary(self) -> str:
        ok = sum(1 for o in self.load if o.status is not None and 200 <= o.status < 300)
        polls = [(round(p.sent - self.sigterm, 2), p.status or p.error) for p in self.polls]
        return (
            f"{len(self.load)} requests, {ok} 2xx, not read: {self.not_read()}, "
            f"exit {self.status} after {self.exited - self.sigterm:.2f} s; "
            f"/readyz polls (s after SIGTERM, result): {polls[-40:]}\n{self.output[-4000:]}"
        )


def _error_name(error: Exception) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "refused"
    if isinstance(error, http.client.RemoteDisconnected):
        return "closed"
    if isinstance(error, ConnectionResetError | BrokenPipeError):
        return "reset"
    return type(error).__name__


def _call(
    connection: http.client.HTTPConnection, path: str, request_id: str, keep_alive: bool
) -> Outcome:
    # http.client connects lazily: no socket yet means this request opens a new connection.
    fresh = connection.sock is None
    headers = {"X-Request-ID": request_id}
    if not keep_alive:
        headers["Connection"] = "close"
    sent = time.monotonic()
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
    except (OSError, http.client.HTTPException) as error:
        connection.close()
        return Outcome(request_id, sent, time.monotonic(), fresh, error=_error_name(error))
    if response.will_close:
        connection.close()
    return Outcome(request_id, sent, time.monotonic(), fresh, status=response.status)


def _client(
    port: int, path: str, name: str, keep_alive: bool, stop: threading.Event, record: Record
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT_S)
    try:
        for n in itertools.count():
            if stop.is_set():
                return
            outcome = _call(connection, path, f"{name}-{n}", keep_alive)
            record.add(outcome)
            if outcome.error == "refused":
                stop.wait(REFUSED_BACKOFF_S)
    finally:
        connection.close()


@contextlib.contextmanager
def _load(server: RunningServer, plan: Plan, delay_ms: int) -> Iterator[tuple[Record, Record]]:
    """Clients until the block ends: (load outcomes, /readyz polls)."""
    stop = threading.Event()
    load, polls = Record(), Record()
    query = f"?delay_ms={delay_ms}"
    threads = []
    for i in range(plan.clients):
        path = "/v1/demo/io" + query
        if plan.framework == "hybrid" and i % 2:
            path = "/legacy/demo/io" + query  # the mounted Flask app drains too
        # A quarter of the clients open a new connection per request, so connections
        # keep arriving through the shutdown delay, as they do before a balancer notices.
        keep_alive = plan.keep_alive and i % 4 != 3
        args = (server.port, path, f"c{i}", keep_alive, stop, load)
        threads.append(threading.Thread(target=_client, args=args, daemon=True))
    poll_args = (server.port, "/readyz", "readyz", plan.keep_alive, stop, polls)
    threads.append(threading.Thread(target=_poll, args=poll_args, daemon=True))
    for thread in threads:
        thread.start()
    try:
        yield load, polls
    finally:
        stop.set()
        for thread in threads:
            thread.join(CLIENT_TIMEOUT_S + 5)


def _poll(
    port: int, path: str, name: str, keep_alive: bool, stop: threading.Event, record: Record
) -> None:
    # One connection, opened now and kept alive (where the server keeps connections),
    # polled every 20 ms: what a balancer's health check on a pooled connection sees.
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT_S)
    try:
        for n in itertools.count():
            if stop.wait(0.02):
                return
            record.add(_call(connection, path, f"{name}-{n}", keep_alive))
    finally:
        connection.close()


def _request_log(output: str) -> dict[str, int]:
    """Request id -> status, from the service's JSON request log lines."""
    logged = {}
    for line in output.splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict) and entry.get("message") == "request":
                logged[str(entry.get("request_id"))] = int(entry["status"])
    return logged


def _sigterm_under_load(
    project: Path, plan: Plan, env: dict[str, str], delay_ms: int, exit_timeout: float
) -> Shutdown:
    command = dockerfile_instruction(project, "CMD")
    env = {"APP_DOWNSTREAM_DELAY_MS": str(delay_ms), **env}
    with serve(project, command, env) as server, _load(server, plan, delay_ms) as (load, polls):
        time.sleep(WARM_UP_S)
        sigterm = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        try:
            status = server.process.wait(timeout=exit_timeout)
        except subprocess.TimeoutExpired:
            status = -signal.SIGKILL  # still running; serve() kills it on the way out
        exited = time.monotonic()
        output = server.output()
    return Shutdown(
        sigterm, exited, status, output, load.outcomes, polls.outcomes, _request_log(output)
    )


def _render(tmp_path: Path, plan: Plan, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Render the plan's service and check it runs the server the plan names."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    answers: dict[str, object] = {"deploy": plan.deploy, "workload": plan.workload, "cpus": 2}
    if plan.peak_concurrency is not None:
        answers["peak_concurrency"] = plan.peak_concurrency
    name = plan.server.split()[0]
    if name in ("uvicorn", "granian"):
        answers["server"] = name
    project = render_service(tmp_path / "svc", plan.framework, answers)
    # No worker class: the service runs its own serve.py, on Uvicorn or on Granian.
    serve_module = project / "src" / "orders_api" / "serve.py"
    own = "uvicorn"
    if serve_module.is_file() and "from granian" in serve_module.read_text():
        own = "granian"
    show = (
        "from orders_api.settings import ServerSettings as S; s = S(); "
        f"print(s.web_worker_class or {own!r}, 'x' + str(s.web_concurrency))"
    )
    server = run([sys.executable, "-c", show], project).strip()
    assert server == plan.server
    # `python -m <pkg>.serve` for Uvicorn's and Granian's plans, Gunicorn for the rest.
    assert dockerfile_instruction(project, "CMD")[-1].endswith(".serve") == (
        name in ("uvicorn", "granian")
    )
    return project


@pytest.mark.parametrize("plan", PLANS)
def test_sigterm_under_load_drains_and_reports_not_ready(
    plan: Plan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _render(tmp_path, plan, monkeypatch)
    env = {
        "WEB_SHUTDOWN_DELAY": str(SHUTDOWN_DELAY_S),
        "WEB_GRACEFUL_TIMEOUT": str(GRACEFUL_TIMEOUT_S),
        "APP_LOG_LEVEL": "INFO",
    }
    result = _sigterm_under_load(project, plan, env, DELAY_MS, GRACEFUL_TIMEOUT_S + 5)
    summary = result.summary()

    # Exits by itself, cleanly, within the graceful timeout, and never by force.
    assert result.status in CLEAN_EXITS, summary
    assert result.exited - result.sigterm < GRACEFUL_TIMEOUT_S, summary
    assert "SIGKILL" not in result.output, summary
    assert "Traceback" not in result.output, summary

    # SIGTERM landed mid-load: requests were in flight, and they all completed.
    in_flight = [o for o in result.load if o.sent < result.sigterm < o.done]
    assert len(in_flight) >= plan.clients // 2, summary
    assert result.failures(SHUTDOWN_DELAY_S) == [], summary
    # The server went on serving new requests through the shutdown delay.
    served_after = [
        o
        for o in result.load
        if result.sigterm + SHUTDOWN_DELAY_S / 2 < o.sent
        and o.status is not None
        and o.status < 300
    ]
    assert served_after, summary

    # /readyz: 200 before SIGTERM; 503 from SIGTERM on (allowing for the signal to
    # reach a worker), over the connection opened before SIGTERM where the server
    # keeps connections; never 200 again; all of it before the process exited.
    before = [p for p in result.polls if p.done < result.sigterm]
    assert before and before[-1].status == 200, summary
    after = [p for p in result.polls if p.sent >= result.sigterm and p.status is not None]
    first_503 = next((p for p in after if p.status == 503), None)
    assert first_503 is not None, summary
    assert first_503.sent - result.sigterm < SIGNAL_LAG_S, summary
    assert first_503.done < result.exited, summary
    assert all(p.status == 503 for p in after if p.sent >= first_503.sent), summary
    if plan.keep_alive:
        # The poll's one connection, opened before SIGTERM, answered 503 before it was
        # closed (the client reconnects only after the server closed it).
        reconnects = [p.sent for p in result.polls[1:] if p.fresh_connection]
        closed_at = reconnects[0] if reconnects else result.exited
        assert result.polls[0].sent < result.sigterm, summary
        assert first_503.sent < closed_at, summary


def test_kubernetes_default_delay_keeps_accepting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without WEB_SHUTDOWN_DELAY, a Kubernetes service keeps accepting for its 5 s default."""
    plan = Plan("fastapi", "kubernetes", "io-bound", "granian x1", clients=8)
    project = _render(tmp_path, plan, monkeypatch)
    env = {"WEB_GRACEFUL_TIMEOUT": str(GRACEFUL_TIMEOUT_S)}
    result = _sigterm_under_load(project, plan, env, DELAY_MS, GRACEFUL_TIMEOUT_S + 5)
    summary = result.summary()
    assert result.status in CLEAN_EXITS, summary
    assert result.failures(shutdown_delay_s=5.0) == [], summary
    assert result.exited - result.sigterm >= 5.0, summary


@pytest.mark.parametrize("server", ["uvicorn", "granian"])
def test_the_check_catches_requests_cut_off(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The failure count is not blind: a drain too short for 3 s requests shows up in it
    (under Granian, the launcher's kill timeout is what cuts them off)."""
    plan = Plan("fastapi", "kubernetes", "io-bound", f"{server} x1", clients=4)
    project = _render(tmp_path, plan, monkeypatch)
    env = {"WEB_SHUTDOWN_DELAY": "0", "WEB_GRACEFUL_TIMEOUT": "1"}
    result = _sigterm_under_load(project, plan, env, delay_ms=3000, exit_timeout=15)
    assert len(result.failures(shutdown_delay_s=0)) >= plan.clients // 2, result.summary()
