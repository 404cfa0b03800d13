"""Alert rules, scrape target and dashboard: derived from the plan, checked by real tools.

The rule file (Compose, VM) and the PrometheusRule's spec (Kubernetes) pass `promtool check
rules`; `promtool test rules` feeds each alert a series above its threshold and one below,
and only the first fires. The unit tests run here, not in the generated service: its CI has
no promtool, and the thresholds they probe are apistarter's plan, tested once per plan.
The Kustomize base builds with and without the monitoring component; the dashboard loads
into Grafana's own dashboard model (grafana-foundation-sdk) with nothing left over. Every
check is shown to fail on a broken artefact. tests/test_metrics.py finds every metric an
expression names in a real scrape of a running service.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

from apistarter.decision import decide
from apistarter.deploy import LIVENESS_PORT
from apistarter.monitoring import (
    GEVENT_WORKER_CONNECTIONS,
    HEADROOM,
    LAG_SHARE_OF_GOAL,
    MonitoringPlan,
    plan_monitoring,
)
from apistarter.observability import plan_metrics
from apistarter.questions import DecisionAnswers, Framework
from apistarter.render import templates_dir

from .harness import render_service

FRAMEWORKS: tuple[Framework, ...] = ("fastapi", "flask", "hybrid")
# Grafana's dashboard model, from its own SDK (pinned: the check is only as good as it).
GRAFANA_SDK = "grafana-foundation-sdk==1769699998!10.1.0"
PROMQL_WORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool"}
)


def _plan(framework: Framework, answers: dict[str, Any] | None = None) -> MonitoringPlan:
    recommendation = decide(DecisionAnswers.model_validate(answers or {}), framework)
    metrics = plan_metrics(
        framework,
        recommendation.server,
        recommendation.load_test,
        LIVENESS_PORT,
        recommendation.database,
    )
    return plan_monitoring(metrics, recommendation.server, recommendation.load_test)


def _dump(plan: MonitoringPlan) -> dict[str, Any]:
    dumped: dict[str, Any] = plan.model_dump(mode="json", by_alias=True)
    return dumped


def metric_names(expression: str) -> set[str]:
    """The metric names a PromQL expression reads (not its functions, labels or numbers)."""
    stripped = re.sub(r'"[^"]*"', "", expression)
    stripped = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", stripped)
    stripped = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", stripped)
    names = re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", stripped)
    return {name for name in names if name not in PROMQL_WORDS}


def every_expression(plan: dict[str, Any]) -> list[str]:
    """Each alert's and each dashboard query's expression."""
    return [rule["expr"] for rule in plan["rules"]] + [
        target["expr"] for panel in plan["dashboard"]["panels"] for target in panel["targets"]
    ]


# --- The plan (fast) -------------------------------------------------------------------


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_plain_copier_monitoring_default_equals_the_engine(framework: Framework) -> None:
    question = yaml.safe_load((templates_dir() / "copier.yml").read_text())["monitoring"]
    rendered = jinja2.Environment(autoescape=False).from_string(question["default"])  # noqa: S701 - YAML, not HTML
    expected = _dump(_plan(framework))
    assert yaml.safe_load(rendered.render(framework=framework)) == expected, (
        "copier.yml's monitoring default for " + framework + " is now:\n"
        "{% raw %}" + json.dumps(expected, separators=(",", ":")) + "{% endraw %}"
    )


@pytest.mark.parametrize(
    ("framework", "answers", "saturation_alerts"),
    [
        ("flask", {}, {"WorkerThreadsSaturated"}),
        ("flask", {"workload": "io-bound", "peak_concurrency": 1000}, {"GreenletsSaturated"}),
        ("flask", {"workload": "cpu-bound"}, set()),
        ("fastapi", {}, {"EventLoopLagHigh"}),
        ("hybrid", {}, {"EventLoopLagHigh", "WSGIExecutorQueueing"}),
        ("fastapi", {"database": "postgresql"}, {"EventLoopLagHigh", "DatabasePoolExhausted"}),
    ],
)
def test_rules_follow_the_plans_signals_and_thresholds(
    framework: Framework, answers: dict[str, Any], saturation_alerts: set[str]
) -> None:
    recommendation = decide(DecisionAnswers.model_validate(answers), framework)
    plan = _plan(framework, answers)
    rules = {rule.alert: rule for rule in plan.rules}
    always = {"HTTPErrorRatioHigh", "HTTPLatencyAboveGoal", "ProcessCPUSaturated"}
    assert set(rules) == always | saturation_alerts
    goal_s = recommendation.load_test.p95_ms / 1000
    assert rules["HTTPLatencyAboveGoal"].expr.endswith(f"> {goal_s:g}")
    assert rules["HTTPErrorRatioHigh"].expr.endswith(
        f"> {recommendation.load_test.max_failure_ratio:g}"
    )
    if "EventLoopLagHigh" in rules:
        assert rules["EventLoopLagHigh"].expr.endswith(f"> {goal_s * LAG_SHARE_OF_GOAL:g}")
    if "GreenletsSaturated" in rules:
        assert rules["GreenletsSaturated"].expr.endswith(
            f"> {GEVENT_WORKER_CONNECTIONS * HEADROOM:g}"
        )
    for rule in plan.rules:
        assert rule.labels["severity"] in {"critical", "warning"}
        assert rule.annotations.summary and rule.annotations.action
    # Recorded in .copier-answers.yml, where Jinja-like text would read as unrendered.
    assert not re.search(r"\{\{|\{%", json.dumps(_dump(plan)))
    # Each saturation signal is drawn on the dashboard with the alert's threshold.
    titles = [panel["title"] for panel in plan.dashboard["panels"]]
    assert len(titles) == 5 + len(saturation_alerts), titles


def test_metric_names_finds_what_an_expression_reads() -> None:
    expression = (
        'histogram_quantile(0.99, sum by (job, le) (rate(a_bucket{code=~"5.."}[5m]))) '
        "> 0.2 and on (job) b_total / c"
    )
    assert metric_names(expression) == {"a_bucket", "b_total", "c"}


# --- Rendered artefacts, checked by promtool, kubectl and Grafana's model ---------------


# Rendered services by name: one per framework on Kubernetes, a Compose one, a VM one
# served by gevent (its greenlets alert), and a Compose one with a database (its pool).
CELLS: dict[str, tuple[Framework, dict[str, Any]]] = {
    **{f"{fw}-kubernetes": (fw, {"deploy": "kubernetes"}) for fw in FRAMEWORKS},
    "hybrid-compose": ("hybrid", {"deploy": "compose"}),
    "flask-gevent-vm": (
        "flask",
        {"deploy": "vm", "workload": "io-bound", "peak_concurrency": 1000},
    ),
    "flask-postgresql-compose": ("flask", {"deploy": "compose", "database": "postgresql"}),
}


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("monitoring")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(root / "home"))  # this run's own template bundle
        return {
            name: render_service(root / name, framework, answers)
            for name, (framework, answers) in CELLS.items()
        }


def _promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["promtool", *map(str, args)], capture_output=True, text=True, check=False
    )


def _rule_files(services: dict[str, Path], tmp_path: Path) -> dict[str, Path]:
    """Every service's rule groups as a file: the rule file, or the PrometheusRule's spec."""
    files = {}
    for name, project in services.items():
        rule_file = project / "deploy" / "monitoring" / "alerts.rules.yml"
        if not rule_file.exists():
            resource = yaml.safe_load(
                (
                    project / "deploy/kubernetes/components/monitoring/prometheusrule.yaml"
                ).read_text()
            )
            rule_file = tmp_path / f"{name}.rules.yml"
            rule_file.write_text(yaml.safe_dump(resource["spec"]))
        files[name] = rule_file
    return files


@pytest.mark.slow
def test_rule_files_pass_promtool_and_hold_the_plans_rules(
    services: dict[str, Path], tmp_path: Path
) -> None:
    for name, rule_file in _rule_files(services, tmp_path).items():
        checked = _promtool("check", "rules", rule_file)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        groups = yaml.safe_load(rule_file.read_text())["groups"]
        assert groups == [{"name": "orders-api", "rules": _dump(_plan(*CELLS[name]))["rules"]}]
    # The same check fails on a broken rule.
    broken = tmp_path / "broken.rules.yml"
    text = (services["hybrid-compose"] / "deploy/monitoring/alerts.rules.yml").read_text()
    broken.write_text(text.replace("> 0.01", "> > 0.01", 1))
    assert _promtool("check", "rules", broken).returncode != 0


def _series_for(rule: dict[str, Any], job: str, above: bool) -> list[dict[str, str]]:
    """Input series that hold ``rule``'s expression above (or below) its threshold."""
    alert, labels = rule["alert"], f'job="{job}"'
    threshold = float(rule["expr"].rpartition("> ")[2])
    scale = 2.0 if above else 0.5
    if alert == "HTTPErrorRatioHigh":
        errors = round(1000 * threshold * scale)
        return [
            {
                "series": f"http_server_request_duration_seconds_count{{{labels},"
                f'http_response_status_code="{code}"}}',
                "values": f"0+{count}x40",
            }
            for code, count in (("500", errors), ("200", 1000 - errors))
        ]
    if alert == "HTTPLatencyAboveGoal":
        # 100 requests a minute, all between half the goal and the goal, or 5 of them past it.
        past_goal = 5 if above else 0
        series = []
        for edge in (0.001, threshold / 2, threshold, threshold * 4, math.inf):
            within = 0 if edge < threshold else 100 - past_goal if edge == threshold else 100
            le = "+Inf" if edge == math.inf else f"{edge:g}"
            series.append(
                {
                    "series": f"http_server_request_duration_seconds_bucket{{{labels},"
                    f'http_route="/v1/items",le="{le}"}}',
                    "values": f"0+{within}x40",
                }
            )
        return series
    if alert == "ProcessCPUSaturated":  # CPU seconds per minute
        return [
            {
                "series": f"process_cpu_seconds_total{{{labels}}}",
                "values": f"0+{60 * threshold * scale:g}x40",
            }
        ]
    if alert == "WorkerThreadsSaturated":
        busy = 50 * min(threshold * scale, 1.0)
        return [
            {"series": f"http_server_active_requests{{{labels}}}", "values": f"{busy:g}x40"},
            {"series": f"gunicorn_worker_threads{{{labels}}}", "values": "50x40"},
        ]
    metric = {
        "EventLoopLagHigh": "event_loop_lag_seconds",
        "GreenletsSaturated": "http_server_active_requests",
        "WSGIExecutorQueueing": "wsgi_executor_queued_calls",
        "DatabasePoolExhausted": "db_client_connection_pending_requests",
    }[alert]
    value = threshold * scale if threshold else (3 if above else 0)
    return [{"series": f"{metric}{{{labels}}}", "values": f"{value:g}x40"}]


def _unit_tests(rule_file: Path) -> dict[str, Any]:
    """promtool's unit test: each alert fed job="hot" above and job="cold" below it."""
    rules = yaml.safe_load(rule_file.read_text())["groups"][0]["rules"]
    series = [
        s for rule in rules for job in ("hot", "cold") for s in _series_for(rule, job, job == "hot")
    ]
    expected = []
    for rule in rules:
        labels = {**rule["labels"], "job": "hot"}
        if rule["alert"] == "HTTPLatencyAboveGoal":
            labels["http_route"] = "/v1/items"
        expected.append(
            {
                "eval_time": "30m",
                "alertname": rule["alert"],
                "exp_alerts": [{"exp_labels": labels, "exp_annotations": rule["annotations"]}],
            }
        )
    return {
        "rule_files": [str(rule_file)],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": series, "alert_rule_test": expected}],
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        "flask-kubernetes",
        "hybrid-compose",
        "flask-gevent-vm",
        "fastapi-kubernetes",
        "flask-postgresql-compose",
    ],
)
def test_each_alert_fires_above_its_threshold_and_not_below(
    name: str, services: dict[str, Path], tmp_path: Path
) -> None:
    rule_file = _rule_files({name: services[name]}, tmp_path)[name]
    tests = tmp_path / "tests.yml"
    tests.write_text(yaml.safe_dump(_unit_tests(rule_file)))
    result = _promtool("test", "rules", tests)
    assert result.returncode == 0, result.stdout + result.stderr
    # A threshold moved past the series above it: the alert no longer fires, and lowered
    # below the series under it: that one fires too. Either way the test fails.
    for threshold in ("1000", "0.0001"):
        moved = tmp_path / f"moved-{threshold}.rules.yml"
        moved.write_text(yaml.safe_dump(_with_first_threshold(rule_file, threshold)))
        tests.write_text(yaml.safe_dump(_unit_tests(rule_file) | {"rule_files": [str(moved)]}))
        assert _promtool("test", "rules", tests).returncode != 0, threshold


def _with_first_threshold(rule_file: Path, threshold: str) -> dict[str, Any]:
    groups: dict[str, Any] = yaml.safe_load(rule_file.read_text())
    rule = groups["groups"][0]["rules"][0]
    rule["expr"] = rule["expr"].rpartition("> ")[0] + "> " + threshold
    return groups


def _kustomize(overlay: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kubectl", "kustomize", str(overlay)], capture_output=True, text=True, check=False
    )


def _build(overlay: Path) -> list[dict[str, Any]]:
    built = _kustomize(overlay)
    assert built.returncode == 0, built.stderr
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


@pytest.mark.slow
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_kustomize_builds_the_base_alone_and_with_the_monitoring_component(
    framework: Framework, services: dict[str, Path], tmp_path: Path
) -> None:
    kubernetes = services[f"{framework}-kubernetes"] / "deploy" / "kubernetes"
    base_kinds = {doc["kind"] for doc in _build(kubernetes)}
    assert not base_kinds & {"PodMonitor", "PrometheusRule"}  # no CRD the cluster may lack

    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "resources": [os.path.relpath(kubernetes, overlay)],
                "components": [os.path.relpath(kubernetes / "components/monitoring", overlay)],
            }
        )
    )
    docs = {doc["kind"]: doc for doc in _build(overlay)}
    assert {"PodMonitor", "PrometheusRule", "Deployment"} <= set(docs)
    pod = docs["Deployment"]["spec"]["template"]
    monitor = docs["PodMonitor"]
    assert monitor["metadata"]["namespace"] == docs["Deployment"]["metadata"]["namespace"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    ports = {
        p["name"]: p["containerPort"] for c in pod["spec"]["containers"] for p in c.get("ports", [])
    }
    assert ports[endpoint["port"]] == LIVENESS_PORT
    annotations = pod["metadata"]["annotations"]
    assert (annotations["prometheus.io/port"], annotations["prometheus.io/path"]) == (
        str(LIVENESS_PORT),
        endpoint["path"],
    )
    # A component that names a missing file does not build.
    broken = tmp_path / "broken"
    shutil.copytree(kubernetes, broken)
    (broken / "components/monitoring/podmonitor.yaml").unlink()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "resources": [os.path.relpath(broken, overlay)],
                "components": [os.path.relpath(broken / "components/monitoring", overlay)],
            }
        )
    )
    assert _kustomize(overlay).returncode != 0


@pytest.fixture(scope="module")
def grafana_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Python with Grafana's dashboard model installed (pinned, from PyPI)."""
    venv = tmp_path_factory.mktemp("grafana") / "venv"
    subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", GRAFANA_SDK], check=True)
    return python


# Loads a dashboard into the SDK's model and back: a field the model does not know is
# dropped, a value of the wrong type raises, so anything but an identical round trip fails.
ROUND_TRIP = """
import json, sys
from grafana_foundation_sdk.models.dashboard import Dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
register_default_plugins()
text = open(sys.argv[1]).read()
data = json.loads(text)
loaded = Dashboard.from_json(data).to_json()
def differ(a, b, path="$"):
    if isinstance(a, dict) and isinstance(b, dict):
        for key in a.keys() | b.keys():
            if key not in b:
                yield f"{path}.{key}: not in Grafana's model"
            elif key in a:
                yield from differ(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for n, (x, y) in enumerate(zip(a, b)):
            yield from differ(x, y, f"{path}[{n}]")
    elif a != b:
        yield f"{path}: {a!r} loaded as {b!r}"
problems = list(differ(data, json.loads(json.dumps(loaded, cls=JSONEncoder))))
print("\\n".join(problems))
sys.exit(1 if problems else 0)
"""


def _load_dashboard(python: Path, dashboard: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-c", ROUND_TRIP, str(dashboard)], capture_output=True, text=True, check=False
    )


@pytest.mark.slow
def test_dashboard_loads_into_grafanas_model(
    services: dict[str, Path], grafana_model: Path, tmp_path: Path
) -> None:
    for name, project in services.items():
        dashboard = project / "deploy" / "monitoring" / "dashboard.json"
        loaded = _load_dashboard(grafana_model, dashboard)
        assert loaded.returncode == 0, f"{name}: {loaded.stdout}{loaded.stderr}"
        data = json.loads(dashboard.read_text())
        assert data["title"] == "orders-api"
        assert data["panels"] == _dump(_plan(*CELLS[name]))["dashboard"]["panels"]
    # The same check fails on a broken dashboard: an unknown panel field, bad JSON.
    good = json.loads((services["hybrid-compose"] / "deploy/monitoring/dashboard.json").read_text())
    good["panels"][0]["colour"] = "red"
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps(good))
    assert _load_dashboard(grafana_model, unknown).returncode != 0
    bad = tmp_path / "bad.json"
    bad.write_text(
        (services["hybrid-compose"] / "deploy/monitoring/dashboard.json").read_text()[:-3]
    )
    assert _load_dashboard(grafana_model, bad).returncode != 0
