"""The server plan: which server runs the app, with which workers and timeouts.

Pure functions of the answers and the chosen framework. Every value comes with
the reason it has, so the CLI and the ADR can show why.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict

from apistarter.questions import AnswerError, DecisionAnswers, Framework

UVICORN_WORKER = "uvicorn_worker.UvicornWorker"
# Gunicorn worker classes that can serve each kind of app: an ASGI app behind a WSGI
# worker (sync, gthread, the usual platform default) answers every request with 500,
# and a WSGI app behind an ASGI worker fails the same way. gevent only where the plan
# installs it.
ASGI_WORKER_CLASSES = (UVICORN_WORKER, "uvicorn_worker.UvicornH11Worker")
WSGI_WORKER_CLASSES = ("gthread", "sync")

# Kubernetes sends SIGKILL 30 s after SIGTERM by default; Docker Compose after 10 s.
# Draining must finish before that, with a margin for the process to exit.
GRACEFUL_TIMEOUT_S = {"kubernetes": 25, "vm": 25, "compose": 8}
# Kubernetes takes a terminating pod out of its Service endpoints while it sends
# SIGTERM, not before, so requests keep arriving for a few seconds: keep serving
# (not ready) that long. Compose and VM deploy tooling stop routing first.
SHUTDOWN_DELAY_S = {"kubernetes": 5, "vm": 0, "compose": 0}
# Cloud load balancers close idle connections after about 60 s. The server must
# keep them open longer, or it closes a connection the balancer is reusing (502s).
KEEPALIVE_BEHIND_BALANCER_S = 75
KEEPALIVE_DIRECT_S = 5
WORKER_TIMEOUT_S = 30
WORKER_TIMEOUT_INLINE_CPU_S = 60
# Recycling gunicorn workers bounds slow memory leaks; jitter keeps them from
# restarting all at once. At 1,000 req/s a limit of 1,000 restarted a worker every
# second or two and cost a third of Flask's throughput; 100,000 recycles a busy
# worker every few minutes, often enough for a leak, rarely enough to be free.
MAX_REQUESTS = 100_000
MAX_REQUESTS_JITTER = 10_000
# An event loop's thread pool runs sync code (plain `def` routes, wrapped blocking
# calls, a2wsgi's Flask app). 40 is AnyIO's default; size it to the concurrency.
ASGI_THREADS_MIN, ASGI_THREADS_MAX = 40, 200
GTHREAD_THREADS_MIN, GTHREAD_THREADS_MAX = 2, 100
# Above this many in-flight requests per instance, threads cost more than greenlets.
GEVENT_FROM_CONCURRENCY = 200
# gevent cannot make these C drivers cooperative, so they would block every greenlet.
GEVENT_INCOMPATIBLE = frozenset({"psycopg2"})
# The request line and headers a server reads before the app sees anything. 16 KiB
# holds large cookies and bearer tokens (Node.js and AWS ALB allow 16 KiB a line);
# without a bound Uvicorn read a 100 MB header, 33 s of CPU for three such clients.
MAX_HEADER_BYTES = 16_384
# The request body the app accepts (APP_MAX_BODY_BYTES); larger ones get 413.
MAX_BODY_BYTES = 1_048_576
# Where clients reach the service; behind a front proxy the app listens on loopback
# at UPSTREAM_PORT and the proxy takes SERVICE_PORT.
SERVICE_PORT = 8000
UPSTREAM_PORT = 8001
# Slow clients on the main port, measured with tests/test_hostile_clients.py: 200
# clients sending their headers one line a second, then normal requests (5 s timeout).
# Gunicorn's gthread and sync workers hand a connection to a thread (or the whole
# worker) as soon as its first bytes arrive, and that thread waits for the rest:
# 0 of 5 normal requests answered with the plan's 2 x 50 threads, or with 2 sync
# workers. Uvicorn's event loop and gevent's greenlets wait on the slow clients
# without holding anything (5 of 5 answered). nginx reads a whole request head
# before passing it on, so in front of gthread or sync workers 5 of 5 were answered.
SLOW_CLIENTS_MEASURED = 200
HELD_BY_SLOW_CLIENTS = frozenset({"gthread", "sync"})
# Oversized request heads, measured with the same tests: Gunicorn parses a head itself
# and bounds it per line and per field count (gunicorn_conf.py's limit_request_*), not
# in total, and re-scans what it has read as each piece arrives.
# Alone, every Gunicorn worker class answered a head of 80 lines of 8 KB (640 KB) with
# 200, and spent this much CPU on three clients streaming 20 MB heads (gthread's upper
# figure from a clean-clone run). Behind nginx, which stops reading a head at the limit
# and answers 431, the three cost 0.00-0.04 s, nginx's CPU included. Uvicorn
# (http_limits.py) counts a head's bytes as they arrive and stops at the limit itself.
HEADS_BOUNDED_PER_LINE = frozenset({"gthread", "sync", "gevent"})
HEAD_FLOOD_CPU_S = {"gthread": "0.86-1.33", "sync": "0.92", "gevent": "0.81-0.82"}
HEAD_FLOOD_CPU_BEHIND_PROXY_S = "0.00-0.04"
# How long nginx waits for a client's request head, and between reads of its body.
FRONT_PROXY_CLIENT_TIMEOUT_S = 10
# nginx's first buffer for a request head, allocated for every connection that sends one.
FRONT_PROXY_FIRST_BUFFER_BYTES = 1024
# Granian against the plan's own server, the same generated service on the same core at
# once, 1,000 clients on the I/O route (docs/benchmarks.md, "Open-loop p99 and Granian",
# 2026-11-30: three runs, the quiet one last).
GRANIAN_SOURCE = "docs/benchmarks.md, Open-loop p99 and Granian (2026-11-30)"
GRANIAN_ASGI_MEASURED = (
    "108-112 % of Uvicorn's throughput at 1,000 clients on one core, at less CPU a request "
    "(0.36 vs 0.40 ms on a quiet machine), p99 at the same offered load 84 vs 93 ms"
)
# The generated FastAPI service on Granian against what peers ship, a bare FastAPI app with
# the same route on Uvicorn, side by side on one core at 1,000 clients (two runs).
GRANIAN_VS_PEERS_SOURCE = "docs/benchmarks.md, Granian as an opt-in server (2026-12-03)"
GRANIAN_VS_PEERS_MEASURED = (
    "the generated service on Granian served 111.5 % and 117.7 % of a bare FastAPI app's "
    "throughput on Uvicorn at 1,000 clients, with a lower p99 (1.5 and 0.9 s against 5.3 "
    "and 1.2 s) and less CPU a request (0.30-0.37 against 0.35-0.43 ms)"
)
# Flask under Granian against a bare Flask app on Gunicorn gevent, side by side on one core
# (five runs): more throughput, but a longer tail below saturation, where services live.
GRANIAN_WSGI_SOURCE = "docs/benchmarks.md, Granian for high-concurrency Flask (2026-12-04)"
GRANIAN_WSGI_MEASURED = (
    "under Granian, Flask served 112-134 % of a bare Flask app's throughput on Gunicorn gevent at "
    "1,000 clients, with a lower p99 there in four of five runs, but at 70 % of that load its "
    "p99 was 1.00 to 2.98 times gevent's (over 1.5 times in two runs)"
)
# The hybrid's mounted Flask route (through a2wsgi) on each ASGI server against a bare Flask
# app on Gunicorn gthread, side by side on one core at 1,000 clients: Granian running the
# event loop did not lift what a2wsgi's handoff of each call to a thread costs.
HYBRID_MOUNTED_SOURCE = GRANIAN_WSGI_SOURCE
HYBRID_MOUNTED_MEASURED = (
    "its mounted Flask route served 90.4-95.6 % of a bare Flask app's throughput on Gunicorn "
    "gthread under Granian against 90.5-99.0 % under Uvicorn, with a p99 at 70 % load 2.1-3.6 "
    "times the bare app's against 1.7-1.9 times (three runs)"
)
# server=auto for an ASGI app that one server process per pod or host runs (not a VM, where
# Gunicorn supervises): Granian where it was measured to beat what peers ship, with every
# suite (shutdown, hostile clients, deploy, clean install, update) passing over it; Uvicorn
# for the hybrid, whose mounted Flask route Granian served no better (HYBRID_MOUNTED_MEASURED).
AUTO_ASGI_SERVER: dict[Framework, Literal["uvicorn", "granian"]] = {
    "fastapi": "granian",
    "hybrid": "uvicorn",
}
# Which servers can run each kind of app: Uvicorn serves ASGI, Gunicorn and Granian both
# (Gunicorn with Uvicorn's worker for ASGI).
SERVERS_FOR = {
    "fastapi": ("uvicorn", "gunicorn", "granian"),
    "hybrid": ("uvicorn", "gunicorn", "granian"),
    "flask": ("gunicorn", "granian"),
}


class FrontProxy(BaseModel):
    """A proxy in front of the app server, for servers that slow clients would hold
    or that bound a request head only line by line.

    Deployed beside the app (the same pod or host): it listens on ``listen_port`` and
    passes whole requests to the app on 127.0.0.1:``upstream_port`` (there the app is
    started with HOST=127.0.0.1 PORT=<upstream_port>). Its config is deploy/nginx.conf.
    """

    model_config = ConfigDict(frozen=True)

    kind: Literal["nginx"] = "nginx"
    listen_port: int = SERVICE_PORT
    upstream_port: int = UPSTREAM_PORT
    client_timeout_s: int = FRONT_PROXY_CLIENT_TIMEOUT_S
    # Request-head buffers: a small first one that most requests fit, then one large one,
    # together max_header_bytes, so no longer head ever passes (nginx refuses it with 431).
    # A line must fit one buffer, and lines that did not fit the first move whole to the
    # large one: a head of up to max_header_bytes less client_header_buffer_bytes always
    # passes, and one up to max_header_bytes when its first lines fill the first buffer.
    client_header_buffer_bytes: int = FRONT_PROXY_FIRST_BUFFER_BYTES
    header_buffers: int = 1
    header_buffer_bytes: int = MAX_HEADER_BYTES - FRONT_PROXY_FIRST_BUFFER_BYTES
    max_body_bytes: int = MAX_BODY_BYTES
    # Upstream response wait: the worker timeout, after which Gunicorn kills the worker.
    read_timeout_s: int = WORKER_TIMEOUT_S


class ServerPlan(BaseModel):
    """How the generated service is served; every field is overridable by environment."""

    model_config = ConfigDict(frozen=True)

    server: Literal["uvicorn", "gunicorn", "granian"]
    worker_class: str
    workers: int
    threads: int
    timeout: int
    graceful_timeout: int
    shutdown_delay: int
    keepalive: int
    max_requests: int
    max_requests_jitter: int
    # Request line plus headers, refused with 431 (or a closed connection) beyond it.
    max_header_bytes: int = MAX_HEADER_BYTES
    max_body_bytes: int = MAX_BODY_BYTES
    # Set when the server cannot hold slow clients or bound request heads alone
    # (deploy/nginx.conf is rendered).
    front_proxy: FrontProxy | None = None
    # What WEB_WORKER_CLASS may be set to; the service refuses to start with any other.
    worker_classes: tuple[str, ...]
    why: tuple[str, ...]


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def _per_worker(answers: DecisionAnswers, workers: int) -> int:
    return math.ceil(answers.peak_concurrency / workers)


def _gthread_threads(answers: DecisionAnswers) -> int:
    # Not the peak divided by workers: each gthread worker accepts connections as
    # long as it has free threads, so keep-alive clients pile onto whichever worker
    # was fastest to accept. Every worker must be able to hold the whole peak.
    return _clamp(answers.peak_concurrency, GTHREAD_THREADS_MIN, GTHREAD_THREADS_MAX)


def _front_proxy(runs_on: str, worker_timeout: int) -> tuple[FrontProxy | None, list[str]]:
    """The front proxy ``runs_on`` (a worker class, or the event loop) needs, and why."""
    if runs_on not in HEADS_BOUNDED_PER_LINE:
        return None, [
            f"{runs_on}: no proxy needed in front: with {SLOW_CLIENTS_MEASURED} clients sending "
            "headers slowly, 5 of 5 normal requests were answered, because a waiting "
            "connection holds no thread, and the server stops reading a request head at "
            f"{MAX_HEADER_BYTES} bytes."
        ]
    proxy = FrontProxy(read_timeout_s=worker_timeout)
    why = [
        f"worker_class={runs_on}: nginx in front, because Gunicorn bounds a request head per "
        "line and per field count, not in total: alone it answered a 640 KB head of 80 lines "
        "with 200 and spent "
        f"{HEAD_FLOOD_CPU_S[runs_on]} s of CPU on three clients streaming 20 MB heads; nginx "
        f"answers any head over {MAX_HEADER_BYTES} bytes with 431 and stops reading there "
        f"({HEAD_FLOOD_CPU_BEHIND_PROXY_S} s for the same three, its own CPU included)."
    ]
    if runs_on in HELD_BY_SLOW_CLIENTS:
        why.append(
            f"worker_class={runs_on}: nginx also holds slow clients, because each {runs_on} "
            "thread waits for a whole request once it starts reading one: with "
            f"{SLOW_CLIENTS_MEASURED} clients sending headers slowly, 0 of 5 normal requests "
            "were answered without it and 5 of 5 with it; nginx reads each request head "
            f"(within {proxy.client_timeout_s} s) before the app sees it."
        )
    return proxy, why


def _common(answers: DecisionAnswers) -> tuple[dict[str, int], list[str]]:
    timeout = WORKER_TIMEOUT_INLINE_CPU_S if answers.cpu_tasks == "inline" else WORKER_TIMEOUT_S
    graceful = GRACEFUL_TIMEOUT_S[answers.deploy]
    delay = SHUTDOWN_DELAY_S[answers.deploy]
    keepalive = KEEPALIVE_DIRECT_S if answers.deploy == "compose" else KEEPALIVE_BEHIND_BALANCER_S
    why = [
        f"deploy={answers.deploy}: graceful shutdown gets {graceful} s, inside the platform's "
        "stop grace period, so in-flight requests finish before the kill.",
        f"deploy={answers.deploy}: "
        + (
            f"after SIGTERM the service keeps serving {delay} s with /readyz at 503, because "
            "Kubernetes removes the pod from its endpoints only as it sends SIGTERM; the "
            "drain gets what is left of the graceful timeout."
            if delay
            else "no shutdown delay: the platform stops routing before it sends SIGTERM."
        ),
        f"deploy={answers.deploy}: keep-alive {keepalive} s"
        + (
            ", longer than a load balancer's ~60 s idle timeout, so the server never closes "
            "a connection the balancer is about to reuse."
            if keepalive == KEEPALIVE_BEHIND_BALANCER_S
            else ", short, because clients connect directly."
        ),
    ]
    if answers.cpu_tasks == "inline":
        why.append(
            f"cpu_tasks=inline: worker timeout {timeout} s so legitimate long requests are not "
            "killed as hung workers."
        )
    return {
        "timeout": timeout,
        "graceful_timeout": graceful,
        "shutdown_delay": delay,
        "keepalive": keepalive,
    }, why


def _asgi_server(
    answers: DecisionAnswers, framework: Framework
) -> tuple[Literal["uvicorn", "gunicorn", "granian"], str]:
    """The server for an ASGI app and why: the plan's by deploy target, or the override."""
    server = answers.server
    if server == "auto":
        server = "gunicorn" if answers.deploy == "vm" else AUTO_ASGI_SERVER[framework]
    chosen = "" if answers.server == "auto" else f"server={answers.server}, "
    if answers.deploy == "kubernetes":
        name = {"uvicorn": "Uvicorn", "gunicorn": "Gunicorn", "granian": "Granian"}[server]
        reason = (
            f"{chosen}deploy=kubernetes: one {name} process per pod; Kubernetes scales replicas "
            "and restarts them, which a process manager inside the pod would hide from it."
        )
    elif server == "gunicorn":
        reason = (
            f"{chosen}deploy={answers.deploy}, cpus={answers.cpus}: Gunicorn supervises "
            f"{answers.cpus} {UVICORN_WORKER} process(es), one event loop per core, and recycles "
            "them; an ASGI app never runs behind a sync worker (S0)."
        )
    else:
        name = "Uvicorn" if server == "uvicorn" else "Granian"
        reason = (
            f"{chosen}deploy={answers.deploy}, cpus={answers.cpus}: {name} supervises "
            f"{answers.cpus} worker process(es), one event loop per core."
        )
    if server == "granian":
        reason += (
            " Each worker does its HTTP I/O on one Rust runtime thread (Granian's default: one "
            f"core per worker). Measured: {GRANIAN_ASGI_MEASURED} ({GRANIAN_SOURCE})"
        )
        reason += (
            f"; against what peers ship, {GRANIAN_VS_PEERS_MEASURED} ({GRANIAN_VS_PEERS_SOURCE})."
            if answers.server == "auto"
            else "."
        )
    elif answers.server == "auto" and framework == "hybrid":
        reason += (
            " Uvicorn, not Granian, for the hybrid: Granian does not lift the a2wsgi ceiling "
            f"of the Flask app it mounts: {HYBRID_MOUNTED_MEASURED} ({HYBRID_MOUNTED_SOURCE})."
        )
    return server, reason


def _refuse_server(answers: DecisionAnswers, framework: Framework) -> None:
    if answers.server != "auto" and answers.server not in SERVERS_FOR[framework]:
        servers = ", ".join(SERVERS_FOR[framework])
        raise AnswerError(
            f"server={answers.server}: cannot serve a {framework} plan (it can run on "
            f"{servers}); choose one of those or server=auto"
        )


def _asgi_plan(answers: DecisionAnswers, framework: Framework) -> ServerPlan:
    common, why = _common(answers)
    server, reason = _asgi_server(answers, framework)
    workers = 1 if answers.deploy == "kubernetes" else answers.cpus
    worker_class = UVICORN_WORKER if server == "gunicorn" else ""
    why.insert(0, reason)
    in_flight = _per_worker(answers, workers)
    threads = _clamp(in_flight, ASGI_THREADS_MIN, ASGI_THREADS_MAX)
    why.append(
        f"peak_concurrency={answers.peak_concurrency}: {threads} threads per worker for sync "
        + (
            "code, at least as many as a worker has requests in flight at the peak, so blocking "
            "calls offloaded to the thread pool do not queue."
            if threads >= in_flight
            else f"code (the cap): at the peak a worker has {in_flight} requests in flight, so "
            f"past {threads} blocking calls at once the rest wait for a thread; async routes "
            "do not use the pool."
        )
    )
    recycle = server == "gunicorn"
    if server == "granian":
        why.extend(_granian_rows(common))
    front_proxy, reasons = _front_proxy(
        f"event loop ({'Granian' if server == 'granian' else 'Uvicorn'})", common["timeout"]
    )
    why.extend(reasons)
    return ServerPlan(
        server=server,
        worker_class=worker_class,
        worker_classes=ASGI_WORKER_CLASSES,
        front_proxy=front_proxy,
        workers=workers,
        threads=threads,
        max_requests=MAX_REQUESTS if recycle else 0,
        max_requests_jitter=MAX_REQUESTS_JITTER if recycle else 0,
        why=tuple(why),
        **common,
    )


def _flask_granian_plan(answers: DecisionAnswers) -> ServerPlan:
    """Flask under Granian (by the server answer): its blocking threads sized like gthread."""
    common, why = _common(answers)
    workers = answers.cpus
    threads = 1 if answers.workload == "cpu-bound" else _gthread_threads(answers)
    why.insert(
        0,
        f"server=granian, workload={answers.workload}, peak_concurrency="
        f"{answers.peak_concurrency}, cpus={answers.cpus}: {workers} Granian worker(s), each "
        f"running Flask on {threads} blocking thread(s) (sized as gthread's threads"
        + (", one for CPU-bound work" if threads == 1 else "")
        + "); a worker reads and writes HTTP on its own Rust thread, so a request holds a "
        "Python thread only while Flask runs it. Chosen by hand: the plan keeps Gunicorn for "
        f"Flask, because {GRANIAN_WSGI_MEASURED} ({GRANIAN_WSGI_SOURCE}).",
    )
    why.extend(_granian_rows(common))
    why.append(
        f"server=granian: no worker timeout (WEB_TIMEOUT is Gunicorn's): a request stuck in "
        "Flask holds its thread until it returns, where Gunicorn would kill the worker after "
        f"{common['timeout']} s."
    )
    front_proxy, reasons = _front_proxy("Granian's HTTP thread", common["timeout"])
    why.extend(reasons)
    return ServerPlan(
        server="granian",
        worker_class="",
        worker_classes=WSGI_WORKER_CLASSES,
        front_proxy=front_proxy,
        workers=workers,
        threads=threads,
        max_requests=0,
        max_requests_jitter=0,
        why=tuple(why),
        **common,
    )


def _flask_plan(answers: DecisionAnswers) -> ServerPlan:
    if answers.server == "granian":
        return _flask_granian_plan(answers)
    common, why = _common(answers)
    workers = answers.cpus
    if answers.workload == "cpu-bound":
        worker_class, threads = "sync", 1
        why.insert(
            0,
            f"workload=cpu-bound, cpus={answers.cpus}: {workers} sync worker(s), one per core; "
            "more processes than cores only contend for the CPU.",
        )
    elif (
        answers.workload == "io-bound"
        and answers.peak_concurrency > GEVENT_FROM_CONCURRENCY
        and answers.cpu_tasks != "inline"
        and not GEVENT_INCOMPATIBLE.intersection(answers.blocking_deps)
    ):
        worker_class, threads = "gevent", 1
        why.insert(
            0,
            f"workload=io-bound, peak_concurrency={answers.peak_concurrency}: gevent workers "
            "hold many waiting requests as greenlets; in S3's benchmark gevent brought Flask "
            "from 1,200 to 18,000 req/min."
            + (
                f" Gunicorn, not Granian: {GRANIAN_WSGI_MEASURED} ({GRANIAN_WSGI_SOURCE})."
                if answers.server == "auto"
                else ""
            ),
        )
    else:
        worker_class = "gthread"
        threads = _gthread_threads(answers)
        peak = answers.peak_concurrency
        if threads >= peak:
            spread = (
                "each worker can hold the whole peak because connections do not spread "
                "evenly across workers."
            )
        elif workers * threads >= peak:
            spread = (
                f"each worker holds at most {threads} of the peak of {peak} (the thread cap), "
                "and connections do not spread evenly across workers, so some may wait for a "
                "thread while another worker has one free."
            )
        else:
            spread = (
                f"{workers} x {threads} = {workers * threads} threads hold less than the peak "
                f"of {peak}: the rest wait in the listen backlog until a thread is free (more "
                "cpus, or gevent where the workload allows it, hold more)."
            )
        why.insert(
            0,
            f"workload={answers.workload}, peak_concurrency={peak}, cpus={answers.cpus}: "
            f"{workers} gthread worker(s) x {threads} threads, so a request waiting on I/O does "
            f"not hold the whole worker (one sync worker managed 19 req/s in S0's benchmark); "
            + spread,
        )
    front_proxy, reasons = _front_proxy(worker_class, common["timeout"])
    why.extend(reasons)
    return ServerPlan(
        server="gunicorn",
        worker_class=worker_class,
        worker_classes=(worker_class, *(c for c in WSGI_WORKER_CLASSES if c != worker_class)),
        workers=workers,
        threads=threads,
        max_requests=MAX_REQUESTS,
        max_requests_jitter=MAX_REQUESTS_JITTER,
        front_proxy=front_proxy,
        why=tuple(why),
        **common,
    )


def _granian_rows(common: dict[str, int]) -> list[str]:
    """How the plan's timeouts map onto Granian, which names them differently."""
    return [
        "server=granian: the image starts a launcher (serve.py) on Granian's Python API, "
        "because Granian's own supervisor stops its workers at SIGTERM at once: "
        + (
            "it first has the workers answer /readyz with 503 and keeps serving the "
            f"{common['shutdown_delay']} s shutdown delay, then"
            if common["shutdown_delay"]
            else "it"
        )
        + " lets Granian drain in-flight requests within the graceful timeout, killing a "
        "worker still busy after it.",
        f"server=granian: a request head over {MAX_HEADER_BYTES} bytes (WEB_MAX_HEADER_BYTES) is "
        "refused with 431: the launcher sets Granian's HTTP/1 buffer to it (Granian's default "
        "of 408 KiB accepted a 17.5 KiB head).",
        f"server=granian: a client gets {common['keepalive']} s (WEB_KEEPALIVE) to send a whole "
        "request head (Granian's HTTP/1 header read timeout), which also closes a kept-alive "
        "connection idle that long (measured: closed after 2.0 s with WEB_KEEPALIVE=2); "
        "Granian queues WEB_BACKLOG connections and lets each worker take WEB_BACKLOG / "
        "workers requests at once.",
    ]


def plan_server(answers: DecisionAnswers, framework: Framework) -> ServerPlan:
    """The server plan for running ``framework`` under these answers."""
    _refuse_server(answers, framework)
    if framework == "flask":
        return _flask_plan(answers)
    return _asgi_plan(answers, framework)


def run_command(plan: ServerPlan, package_name: str) -> list[str]:
    """The exec-form command that starts the service (Dockerfile CMD and local run)."""
    if plan.server == "gunicorn":  # Uvicorn and Granian plans start from serve.py
        return [
            "gunicorn",
            "--config",
            f"python:{package_name}.gunicorn_conf",
            f"{package_name}.main:app",
        ]
    return ["python", "-m", f"{package_name}.serve"]
