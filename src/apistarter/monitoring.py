"""The monitoring plan: alert rules and a dashboard derived from the metrics plan.

Pure: computed from the metrics plan (its latency goal, its saturation signals), the
server plan (threads, workers) and the load test's failure budget. The templates place
the result as it is: the Prometheus rule file (Compose, VM), the PrometheusRule
(Kubernetes) and the README's table share one list of rules; the Grafana dashboard's
panels are computed here too. No threshold is typed again in a template.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from apistarter.decision import LoadTestPlan
from apistarter.deploy import CPU_PER_WORKER
from apistarter.observability import MetricsPlan
from apistarter.server import ServerPlan

# The metric names the generated metrics.py exports (a test scrapes a running service
# and finds every name an expression uses).
DURATION = "http_server_request_duration_seconds"
ACTIVE_REQUESTS = "http_server_active_requests"
WORKER_THREADS = "gunicorn_worker_threads"
EVENT_LOOP_LAG = "event_loop_lag_seconds"
WSGI_QUEUED_CALLS = "wsgi_executor_queued_calls"
PROCESS_CPU = "process_cpu_seconds_total"
DB_POOL_USED = "db_client_connection_used"
DB_POOL_PENDING = "db_client_connection_pending_requests"

# Every rate and average looks at this window: long enough that one slow request or
# one scrape does not decide, short enough that an incident shows within minutes.
WINDOW = "5m"
# The plan sizes each worker for the whole expected peak; past this share of a worker's
# capacity, held for the window and the rule's `for:`, the peak estimate is wrong and
# the next burst queues in the backlog.
HEADROOM = 0.8
# An event loop late by a quarter of the latency goal, on average, spends a quarter of
# every request's budget waiting for a blocking call in some other request.
LAG_SHARE_OF_GOAL = 0.25
# Gunicorn's gevent worker accepts this many connections (its default, which the server
# plan keeps); each request in flight is one greenlet.
GEVENT_WORKER_CONNECTIONS = 1000
# The latency alert's quantile: the goal is the load test's p95, and the alert fires only
# once even the p99 is past it, so a normal tail never pages.
LATENCY_QUANTILE = 0.99
# Saturation is sustained when it holds this long past the window; errors and latency
# are what clients feel, so they are given less.
SATURATION_FOR = "10m"
SYMPTOM_FOR = "5m"
# The dashboard's grid: Grafana's is 24 columns wide.
DASHBOARD_COLUMNS = 2
PANEL_WIDTH = 24 // DASHBOARD_COLUMNS
PANEL_HEIGHT = 8
# The dashboard's data source: a variable, so it imports into any Grafana.
DATASOURCE_VARIABLE = "datasource"
DATASOURCE = {"type": "prometheus", "uid": "${" + DATASOURCE_VARIABLE + "}"}
# The dashboard JSON model's version the panels are written for (Grafana 10's, which
# newer Grafanas migrate on load).
SCHEMA_VERSION = 36

Severity = Literal["critical", "warning"]


class Annotations(BaseModel):
    model_config = ConfigDict(frozen=True)

    summary: str
    # What it means, and why it is an alert for this plan.
    description: str
    # What to do (runbook).
    action: str


class AlertRule(BaseModel):
    """One Prometheus alerting rule, dumped by alias into the shape Prometheus reads."""

    model_config = ConfigDict(frozen=True)

    alert: str
    expr: str
    for_: str = Field(serialization_alias="for")
    labels: dict[str, Severity]
    annotations: Annotations


class MonitoringPlan(BaseModel):
    """The alert rules (one group, named after the service by the templates, in the rule
    file's `groups` and the PrometheusRule's `spec.groups` alike) and the dashboard's panels."""

    model_config = ConfigDict(frozen=True)

    rules: tuple[AlertRule, ...]
    # Grafana's dashboard JSON model but its title and uid (the service's name, placed
    # by the template).
    dashboard: dict[str, Any]


def _number(value: float) -> str:
    """A threshold as PromQL reads it: no float noise (0.05, not 0.05000000000000001)."""
    return f"{value:.6g}"


def _rule(
    alert: str, expr: str, for_: str, severity: Severity, summary: str, means: str, action: str
) -> AlertRule:
    return AlertRule(
        alert=alert,
        expr=expr,
        for_=for_,
        labels={"severity": severity},
        annotations=Annotations(summary=summary, description=means, action=action),
    )


def _error_ratio(by: str) -> str:
    return (
        f'sum by ({by}) (rate({DURATION}_count{{http_response_status_code=~"5.."}}[{WINDOW}]))'
        f" / sum by ({by}) (rate({DURATION}_count[{WINDOW}]))"
    )


def _quantile(quantile: float, by: str) -> str:
    return (
        f"histogram_quantile({_number(quantile)}, "
        f"sum by ({by}, le) (rate({DURATION}_bucket[{WINDOW}])))"
    )


def _symptom_rules(metrics: MetricsPlan, load_test: LoadTestPlan) -> list[AlertRule]:
    budget = load_test.max_failure_ratio
    goal_ms = round(metrics.latency_goal_s * 1000)
    return [
        _rule(
            "HTTPErrorRatioHigh",
            f"{_error_ratio('job')} > {_number(budget)}",
            SYMPTOM_FOR,
            "critical",
            f"More than {budget * 100:g}% of requests answered 5xx",
            f"The share of 5xx responses is above the failure budget the load test allows "
            f"({budget * 100:g}%): clients are seeing errors the plan was not built to give.",
            "Check the request log's error lines (one JSON line per request, with its "
            "request id) and /readyz's per-check body: a failing dependency shows there. "
            "Roll back a deploy that coincides with the rise.",
        ),
        _rule(
            "HTTPLatencyAboveGoal",
            f"{_quantile(LATENCY_QUANTILE, 'job, http_route')} > {_number(metrics.latency_goal_s)}",
            SYMPTOM_FOR,
            "warning",
            f"A route's p{round(LATENCY_QUANTILE * 100)} is above the {goal_ms} ms goal",
            f"More than {1 - LATENCY_QUANTILE:.0%} of one route's requests (its http_route "
            f"label) take longer than the latency goal, the load test's p95 ({goal_ms} ms). "
            "The goal is a histogram bucket edge, so this is a count, not an estimate.",
            "Compare the route's latency with the saturation panels: saturated workers "
            "mean more instances or a bigger plan; a slow downstream shows in the I/O "
            "route's delay and in the traces. Run the load test against a staging copy.",
        ),
    ]


def _saturation_rules(metrics: MetricsPlan, server: ServerPlan) -> list[AlertRule]:
    rules: list[AlertRule] = []
    headroom = f"{HEADROOM:.0%}"
    if "event_loop_lag" in metrics.saturation:
        lag_s = metrics.latency_goal_s * LAG_SHARE_OF_GOAL
        rules.append(
            _rule(
                "EventLoopLagHigh",
                f"avg_over_time({EVENT_LOOP_LAG}[{WINDOW}]) > {_number(lag_s)}",
                SATURATION_FOR,
                "warning",
                f"A worker's event loop runs {round(lag_s * 1000)} ms late on average",
                f"Timers fire late by more than {LAG_SHARE_OF_GOAL:.0%} of the latency goal: "
                "something blocks the event loop (a sync call in an async route, heavy CPU "
                "work inline), and every request on that worker waits for it.",
                "Find the blocking call (py-spy dump on the worker's pid); move sync I/O to "
                "a sync route or an async client, CPU work to a process pool or a queue.",
            )
        )
    if "worker_threads" in metrics.saturation:
        rules.append(
            _rule(
                "WorkerThreadsSaturated",
                f"avg_over_time({ACTIVE_REQUESTS}[{WINDOW}]) / "
                f"avg_over_time({WORKER_THREADS}[{WINDOW}]) > {_number(HEADROOM)}",
                SATURATION_FOR,
                "warning",
                f"A gthread worker has more than {headroom} of its threads busy",
                f"Each worker has {server.threads} threads, sized for the whole expected "
                "peak; holding above the headroom means the peak is higher than the plan's, "
                "and the next burst waits in the listen backlog.",
                "Add instances, or raise the peak concurrency answer and update the service "
                "(`apistarter update --set peak_concurrency=...`) so the plan follows.",
            )
        )
    if "greenlets" in metrics.saturation:
        limit = GEVENT_WORKER_CONNECTIONS * HEADROOM
        rules.append(
            _rule(
                "GreenletsSaturated",
                f"avg_over_time({ACTIVE_REQUESTS}[{WINDOW}]) > {_number(limit)}",
                SATURATION_FOR,
                "warning",
                f"A gevent worker serves more than {round(limit)} requests at once",
                f"A gevent worker accepts {GEVENT_WORKER_CONNECTIONS} connections; above "
                f"{headroom} of them new clients soon wait. Many greenlets with rising "
                "latency mean the worker is CPU-bound, not waiting on I/O.",
                "Add instances; if latency rose with the greenlets, look for CPU work in "
                "the routes (gevent cannot overlap it) and move it out of the request.",
            )
        )
    if "wsgi_executor" in metrics.saturation:
        rules.append(
            _rule(
                "WSGIExecutorQueueing",
                f"min_over_time({WSGI_QUEUED_CALLS}[{WINDOW}]) > 0",
                SATURATION_FOR,
                "warning",
                "Calls into the mounted Flask app wait for a thread",
                f"a2wsgi runs the Flask app on {server.threads} threads; calls have been "
                f"queued at every sample for {WINDOW}, so the mounted app, not the FastAPI "
                "side, limits throughput.",
                "Port the busiest Flask routes to FastAPI (the hybrid's purpose), or add "
                "instances while doing so.",
            )
        )
    if "db_pool" in metrics.saturation:
        rules.append(
            _rule(
                "DatabasePoolExhausted",
                f"min_over_time({DB_POOL_PENDING}[{WINDOW}]) > 0",
                SATURATION_FOR,
                "warning",
                "Requests wait for a database connection",
                f"Every connection of a process's pool has been in use, with requests "
                f"waiting, at every sample for {WINDOW}: each waits up to the checkout "
                "timeout and then gets 503, so the pool (or the database behind it) limits "
                "throughput.",
                "Look for slow queries holding connections (pg_stat_activity); if the "
                "database has connections to spare, raise the db_max_connections answer and "
                "update the service (`apistarter update --set db_max_connections=...`) so "
                "the pools follow.",
            )
        )
    rules.append(
        _rule(
            "ProcessCPUSaturated",
            f"rate({PROCESS_CPU}[{WINDOW}]) > {_number(CPU_PER_WORKER * HEADROOM)}",
            SATURATION_FOR,
            "warning",
            f"A worker process uses more than {headroom} of its core",
            f"The plan gives each worker {CPU_PER_WORKER} core: a process that keeps it busy "
            "cannot take more requests, whatever its threads or event loop allow.",
            "Profile the worker (py-spy top); add instances or cores (`apistarter update "
            "--set cpus=...` recomputes the workers).",
        )
    )
    return rules


def _panel(
    index: int, title: str, unit: str, targets: list[str], threshold: float | None
) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": unit}
    if threshold is not None:
        # The alert's threshold, drawn as a line on the panel.
        defaults["custom"] = {"thresholdsStyle": {"mode": "line"}}
        defaults["thresholds"] = {
            "mode": "absolute",
            "steps": [{"color": "green", "value": None}, {"color": "red", "value": threshold}],
        }
    return {
        "id": index + 1,
        "type": "timeseries",
        "title": title,
        "datasource": DATASOURCE,
        "gridPos": {
            "h": PANEL_HEIGHT,
            "w": PANEL_WIDTH,
            "x": (index % DASHBOARD_COLUMNS) * PANEL_WIDTH,
            "y": (index // DASHBOARD_COLUMNS) * PANEL_HEIGHT,
        },
        "fieldConfig": {"defaults": defaults, "overrides": []},
        # No legend format: Grafana names each series by its labels (route, instance,
        # pid, quantile), and a template's answers hold no Jinja-like {{label}}.
        "targets": [
            {"refId": chr(ord("A") + n), "datasource": DATASOURCE, "expr": expr}
            for n, expr in enumerate(targets)
        ],
    }


def _panels(metrics: MetricsPlan, load_test: LoadTestPlan) -> list[dict[str, Any]]:
    specs: list[tuple[str, str, list[str], float | None]] = [
        (
            "Requests per second by route",
            "reqps",
            [f"sum by (http_route) (rate({DURATION}_count[{WINDOW}]))"],
            None,
        ),
        (
            "5xx share by route",
            "percentunit",
            [_error_ratio("http_route")],
            load_test.max_failure_ratio,
        ),
        (
            "Latency by route (p50, p95, p99)",
            "s",
            [
                # Each quantile's series labelled with it, as the legend shows it.
                f"label_replace({_quantile(quantile, 'http_route')}, "
                f'"quantile", "p{round(quantile * 100)}", "", "")'
                for quantile in (0.5, 0.95, LATENCY_QUANTILE)
            ],
            metrics.latency_goal_s,
        ),
        (
            "Requests in flight",
            "short",
            [f"sum by (instance) ({ACTIVE_REQUESTS})"],
            None,
        ),
    ]
    if "event_loop_lag" in metrics.saturation:
        specs.append(
            (
                "Event loop lag",
                "s",
                [EVENT_LOOP_LAG],
                metrics.latency_goal_s * LAG_SHARE_OF_GOAL,
            )
        )
    if "worker_threads" in metrics.saturation:
        specs.append(
            (
                "Busy threads / threads per worker",
                "percentunit",
                [f"{ACTIVE_REQUESTS} / {WORKER_THREADS}"],
                HEADROOM,
            )
        )
    if "greenlets" in metrics.saturation:
        specs.append(
            (
                "Greenlets serving requests per worker",
                "short",
                [ACTIVE_REQUESTS],
                GEVENT_WORKER_CONNECTIONS * HEADROOM,
            )
        )
    if "wsgi_executor" in metrics.saturation:
        specs.append(("Flask calls waiting for a thread", "short", [WSGI_QUEUED_CALLS], 0))
    if "db_pool" in metrics.saturation:
        specs.append(
            (
                "Database pool: connections in use, requests waiting",
                "short",
                [DB_POOL_USED, DB_POOL_PENDING],
                None,
            )
        )
    specs.append(
        (
            "CPU per worker (cores)",
            "short",
            [f"rate({PROCESS_CPU}[{WINDOW}])"],
            CPU_PER_WORKER * HEADROOM,
        )
    )
    return [_panel(index, *spec) for index, spec in enumerate(specs)]


def plan_monitoring(
    metrics: MetricsPlan, server: ServerPlan, load_test: LoadTestPlan
) -> MonitoringPlan:
    """Alert rules and dashboard panels for a service measured as ``metrics`` plans."""
    return MonitoringPlan(
        rules=(*_symptom_rules(metrics, load_test), *_saturation_rules(metrics, server)),
        dashboard={
            "schemaVersion": SCHEMA_VERSION,
            "editable": True,
            "refresh": "30s",
            "time": {"from": "now-3h", "to": "now"},
            "tags": ["apistarter"],
            "templating": {
                "list": [
                    {
                        "name": DATASOURCE_VARIABLE,
                        "label": "Prometheus",
                        "type": "datasource",
                        "query": "prometheus",
                    }
                ]
            },
            "panels": _panels(metrics, load_test),
        },
    )
