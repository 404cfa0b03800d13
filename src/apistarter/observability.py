"""The metrics plan: what a generated service measures about itself, and how.

Pure: derived from the server plan, the load test's latency goal and the data plan.
The generated metrics module, the liveness listener and the deploy artefacts place
these values; none of them is typed again in a template.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from apistarter.database import DatabasePlan
from apistarter.decision import LoadTestPlan
from apistarter.questions import Framework
from apistarter.server import ServerPlan

# Served beside /livez on the liveness port, never on the public one: a saturated
# instance can still be scraped, and nothing operational is published to clients.
METRICS_PATH = "/metrics"
# Gunicorn's workers (and Uvicorn's, past one) are separate processes, each with its own
# counters; prometheus_client's multiprocess mode has each write its values to memory-
# mapped files in this folder, and any worker's scrape sums them. A subfolder of /tmp,
# the one path every deploy target already makes writable (an emptyDir on Kubernetes,
# a tmpfs in Compose, systemd's PrivateTmp), so no deploy artefact needs another mount.
MULTIPROCESS_DIR = "/tmp/prometheus"  # noqa: S108 - a folder inside the container, not a temp file
# The request-duration buckets, as fractions of the latency goal (the load test's p95):
# fine below the goal, where a regression first shows, and up to four times past it,
# where requests are queueing. The goal itself is a bucket edge, so the share of
# requests within it is read from one bucket, not interpolated.
GOAL_FRACTIONS = (0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0)
# Below this a bucket says nothing more than "fast" (the server's own overhead).
SMALLEST_BUCKET_S = 0.001

Saturation = Literal["event_loop_lag", "worker_threads", "greenlets", "wsgi_executor", "db_pool"]


class MetricsPlan(BaseModel):
    """Where the metrics are served, how workers are aggregated, what is measured."""

    model_config = ConfigDict(frozen=True)

    path: str
    port: int
    # Set when more than one process serves: the folder PROMETHEUS_MULTIPROC_DIR names.
    multiprocess_dir: str | None
    latency_goal_s: float
    buckets: tuple[float, ...]
    # The saturation signals this plan's server has, beside requests in flight.
    saturation: tuple[Saturation, ...]
    why: tuple[str, ...]


def _buckets(goal_s: float) -> tuple[float, ...]:
    edges = {round(max(goal_s * fraction, SMALLEST_BUCKET_S), 4) for fraction in GOAL_FRACTIONS}
    return tuple(sorted(edges))


def _saturation(
    framework: Framework, server: ServerPlan, database: DatabasePlan | None
) -> tuple[tuple[Saturation, ...], list[str]]:
    signals: list[Saturation] = []
    why: list[str] = []
    if framework != "flask":
        signals.append("event_loop_lag")
        why.append(
            "event loop: event_loop_lag_seconds, how late a timer fires, per worker; a "
            "blocking call in an async route shows here before latency does."
        )
    if server.worker_class == "gthread":
        signals.append("worker_threads")
        why.append(
            f"gthread: gunicorn_worker_threads ({server.threads} per worker) against "
            "http_server_active_requests per worker, each request holding one thread: at "
            "the total, new connections wait in the backlog."
        )
    elif server.worker_class == "gevent":
        signals.append("greenlets")
        why.append(
            "gevent: http_server_active_requests per worker is the greenlets serving "
            "requests; a worker with many and rising latency is CPU-bound, not waiting."
        )
    if framework == "hybrid":
        signals.append("wsgi_executor")
        why.append(
            "hybrid: wsgi_executor_queued_calls, Flask calls waiting for one of a2wsgi's "
            f"{server.threads} threads; above zero, the mounted app is the bottleneck."
        )
    if database is not None:
        signals.append("db_pool")
        why.append(
            "database: db_client_connection_used against db_client_connection_max "
            f"({database.pool_size} per process) and db_client_connection_pending_requests, "
            f"requests waiting up to {database.checkout_timeout_s} s for a connection before "
            "a 503; waiting at every sample, the pool (or the database) is the bottleneck."
        )
    return tuple(signals), why


def plan_metrics(
    framework: Framework,
    server: ServerPlan,
    load_test: LoadTestPlan,
    liveness_port: int,
    database: DatabasePlan | None,
) -> MetricsPlan:
    """The metrics plan for a service served by ``server``, held to ``load_test``'s p95,
    with ``database``'s pool when it has one."""
    goal_s = load_test.p95_ms / 1000
    # Gunicorn always: WEB_CONCURRENCY may raise the workers, and a recycled worker
    # (max_requests) would otherwise take its counts with it.
    multiprocess = server.server == "gunicorn" or server.workers > 1
    saturation, why = _saturation(framework, server, database)
    why.insert(
        0,
        f"latency goal {load_test.p95_ms} ms (the load test's p95): request-duration buckets "
        f"from {_buckets(goal_s)[0]} s to {_buckets(goal_s)[-1]} s with the goal as an edge.",
    )
    why.insert(
        1,
        f"{server.server}, {server.workers} worker(s): "
        + (
            f"every worker writes its metrics to {MULTIPROCESS_DIR} (prometheus_client's "
            "multiprocess mode), emptied when the server starts, and a scrape of any worker "
            "sums them all; workers that have exited drop out of the per-worker gauges."
            if multiprocess
            else "one process, so its own registry is the whole service's."
        ),
    )
    return MetricsPlan(
        path=METRICS_PATH,
        port=liveness_port,
        multiprocess_dir=MULTIPROCESS_DIR if multiprocess else None,
        latency_goal_s=goal_s,
        buckets=_buckets(goal_s),
        saturation=saturation,
        why=tuple(why),
    )
