"""The decision engine over a table of scenarios, and the invariants of its rules."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

from apistarter import server
from apistarter.decision import GATES, PITFALLS, SCORES, Gate, Pitfall, Score, decide
from apistarter.questions import FRAMEWORKS, AnswerError, DecisionAnswers, Framework
from apistarter.server import (
    GRANIAN_SOURCE,
    GRANIAN_VS_PEERS_SOURCE,
    GRANIAN_WSGI_SOURCE,
    HYBRID_MOUNTED_SOURCE,
    UVICORN_WORKER,
    run_command,
)
from apistarter.sources import SOURCES

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


@dataclass(frozen=True)
class Scenario:
    name: str
    answers: dict[str, Any]
    framework: Framework
    server: str
    worker_class: str
    choose: Framework | None = None
    warnings_mention: tuple[str, ...] = ()
    reasons_mention: tuple[str, ...] = ()
    plan: dict[str, object] = field(default_factory=dict)
    # Text the server plan's reasons must hold.
    why_mention: tuple[str, ...] = ()


SCENARIOS = (
    Scenario(
        "defaults: new I/O-bound API for a frontend, on Kubernetes",
        {},
        "fastapi",
        "granian",
        "",
        reasons_mention=("150 req/s",),
        plan={"workers": 1, "graceful_timeout": 25, "keepalive": 75},
        why_mention=(GRANIAN_VS_PEERS_SOURCE,),
    ),
    Scenario(
        "small internal tool maintained by a Flask team",
        dict(
            workload="sync",
            peak_concurrency=5,
            api_consumers="internal",
            typed_validation=False,
            team_async="none",
            team_flask="strong",
        ),
        "flask",
        "gunicorn",
        "gthread",
        reasons_mention=("minimal core",),
        plan={"workers": 2, "threads": 5},
    ),
    Scenario(
        "CPU-bound report generation, team without async",
        dict(
            workload="cpu-bound",
            cpu_tasks="inline",
            team_async="none",
            api_consumers="internal",
            cpus=4,
        ),
        "flask",
        "gunicorn",
        "sync",
        warnings_mention=("Long CPU work",),
        plan={"workers": 4, "threads": 1, "timeout": 60},
    ),
    Scenario(
        "ML model serving with a process pool, consumed by a frontend",
        dict(workload="mixed", cpu_tasks="process-pool", peak_concurrency=120, team_async="some"),
        "fastapi",
        "granian",
        "",
        plan={"threads": 120},
    ),
    Scenario(
        "ML serving forced to FastAPI with inline inference",
        dict(
            workload="cpu-bound",
            cpu_tasks="inline",
            api_consumers="internal",
            typed_validation=False,
        ),
        "fastapi",
        "granian",
        "",
        choose="fastapi",
        warnings_mention=("ProcessPoolExecutor", "Chosen by hand", "Do not expect FastAPI"),
    ),
    Scenario(
        "existing Flask app with no measured problem",
        dict(codebase="existing-flask", existing_routes=12, team_flask="strong"),
        "flask",
        "gunicorn",
        "gthread",
        reasons_mention=("rarely pay back",),
    ),
    Scenario(
        "existing Flask app with no measured problem, rewritten anyway",
        dict(codebase="existing-flask", existing_routes=12),
        "fastapi",
        "granian",
        "",
        choose="fastapi",
        warnings_mention=("without a measured problem", "fewer than ~30", "worker-type change"),
    ),
    Scenario(
        "existing Flask app with saturated workers",
        dict(codebase="existing-flask", existing_routes=80, measured_problem="saturated-workers"),
        "hybrid",
        "uvicorn",
        "",
        reasons_mention=("38 ms to 14 ms",),
        warnings_mention=("worker-type change",),
        why_mention=("does not lift the a2wsgi ceiling", HYBRID_MOUNTED_SOURCE),
    ),
    Scenario(
        "existing Flask app whose only problem is missing docs",
        dict(codebase="existing-flask", existing_routes=40, measured_problem="docs"),
        "flask",
        "gunicorn",
        "gthread",
        reasons_mention=("OpenAPI extension",),
    ),
    Scenario(
        "existing CPU-bound Flask app with latency problems",
        dict(codebase="existing-flask", workload="cpu-bound", measured_problem="latency"),
        "flask",
        "gunicorn",
        "sync",
        reasons_mention=("does not parallelise CPU",),
    ),
    Scenario(
        "team with no async experience, modest internal I/O service",
        dict(
            workload="io-bound",
            peak_concurrency=20,
            team_async="none",
            team_flask="strong",
            api_consumers="internal",
            typed_validation=False,
        ),
        "flask",
        "gunicorn",
        "gthread",
        reasons_mention=("no async experience",),
        plan={"threads": 20},
    ),
    Scenario(
        "team with no async experience, public high-concurrency API",
        dict(
            workload="io-bound", peak_concurrency=400, team_async="none", api_consumers="partners"
        ),
        "fastapi",
        "granian",
        "",
        warnings_mention=("no async experience",),
    ),
    Scenario(
        "listed blocking dependencies in an async service",
        dict(blocking_deps="requests,psycopg2,boto3"),
        "fastapi",
        "granian",
        "",
        warnings_mention=("httpx.AsyncClient", "asyncpg", "aioboto3"),
    ),
    Scenario(
        "public real-time API on VMs",
        dict(peak_concurrency=2000, api_consumers="partners", realtime=True, deploy="vm", cpus=4),
        "fastapi",
        "gunicorn",
        UVICORN_WORKER,
        warnings_mention=("uvicorn_worker.UvicornWorker",),
        plan={"workers": 4, "threads": 200, "max_requests": 100_000, "max_requests_jitter": 10_000},
    ),
    Scenario(
        "Flask chosen for very high I/O concurrency uses gevent, and says why not Granian",
        dict(peak_concurrency=500),
        "flask",
        "gunicorn",
        "gevent",
        choose="flask",
        warnings_mention=("Never fall back to plain sync workers",),
        why_mention=("Gunicorn, not Granian", GRANIAN_WSGI_SOURCE),
    ),
    Scenario(
        "gevent is avoided when psycopg2 would block every greenlet",
        dict(peak_concurrency=500, blocking_deps=["psycopg2"]),
        "flask",
        "gunicorn",
        "gthread",
        choose="flask",
    ),
    Scenario(
        "Docker Compose: Granian supervises one worker per core, short grace period",
        dict(deploy="compose", cpus=3),
        "fastapi",
        "granian",
        "",
        plan={"workers": 3, "graceful_timeout": 8, "keepalive": 5, "max_requests": 0},
    ),
    Scenario(
        "server=granian on Kubernetes: one Granian process per pod, cited measurement",
        dict(server="granian"),
        "fastapi",
        "granian",
        "",
        reasons_mention=(),
        plan={"workers": 1, "graceful_timeout": 25, "shutdown_delay": 5, "max_requests": 0},
    ),
    Scenario(
        "server=granian for the hybrid on Compose: one worker per core",
        dict(server="granian", deploy="compose", cpus=3),
        "hybrid",
        "granian",
        "",
        choose="hybrid",
        plan={"workers": 3, "graceful_timeout": 8, "shutdown_delay": 0},
    ),
    Scenario(
        "server=granian for Flask: blocking threads sized like gthread's, no proxy in front",
        dict(server="granian", workload="io-bound", peak_concurrency=500),
        "flask",
        "granian",
        "",
        choose="flask",
        plan={"workers": 2, "threads": 100, "max_requests": 0, "front_proxy": None},
        why_mention=("Chosen by hand", "no worker timeout", GRANIAN_WSGI_SOURCE),
    ),
    Scenario(
        "server=uvicorn on a VM overrides the plan's Gunicorn",
        dict(server="uvicorn", deploy="vm", cpus=4),
        "fastapi",
        "uvicorn",
        "",
        plan={"workers": 4, "max_requests": 0},
    ),
    Scenario(
        "server=gunicorn on Kubernetes overrides the plan's Uvicorn",
        dict(server="gunicorn"),
        "fastapi",
        "gunicorn",
        UVICORN_WORKER,
        plan={"workers": 1},
    ),
)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_scenario(scenario: Scenario) -> None:
    recommendation = decide(DecisionAnswers.model_validate(scenario.answers), scenario.choose)

    assert recommendation.framework == scenario.framework
    assert recommendation.server.server == scenario.server
    assert recommendation.server.worker_class == scenario.worker_class
    for key, value in scenario.plan.items():
        assert getattr(recommendation.server, key) == value, key
    warnings = " ".join(w.text for w in recommendation.warnings)
    for text in scenario.warnings_mention:
        assert text in warnings
    reasons = " ".join(r.text for r in recommendation.reasons)
    for text in scenario.reasons_mention:
        assert text in reasons
    why = " ".join(recommendation.server.why)
    for text in scenario.why_mention:
        assert text in why


@pytest.mark.parametrize(
    ("server", "framework", "peers_cited"),
    [("auto", "fastapi", True), ("granian", "fastapi", False), ("granian", "hybrid", False)],
)
def test_granian_reasons_cite_the_measurement(
    server: str, framework: Framework, peers_cited: bool
) -> None:
    plan = decide(DecisionAnswers.model_validate({"server": server}), framework).server
    assert plan.server == "granian"
    assert GRANIAN_SOURCE in plan.why[0]
    # The plan's own choice cites the side-by-side run against what peers ship.
    assert (GRANIAN_VS_PEERS_SOURCE in plan.why[0]) == peers_cited
    # An override says it is one; the plan's choice names the answers it follows.
    assert plan.why[0].startswith("server=granian, ") == (server == "granian")
    assert plan.front_proxy is None
    assert run_command(plan, "svc") == ["python", "-m", "svc.serve"]


@pytest.mark.parametrize(("server", "framework"), [("uvicorn", "flask")])
def test_a_server_that_cannot_serve_the_framework_is_refused(
    server: str, framework: Framework
) -> None:
    with pytest.raises(AnswerError, match=rf"^server={server}: cannot serve a flask plan"):
        decide(DecisionAnswers.model_validate({"server": server}), framework)


def test_override_is_recorded_with_the_recommendation() -> None:
    answers = DecisionAnswers(workload="sync", peak_concurrency=5, team_async="none")
    assert decide(answers).framework == "flask"
    overridden = decide(answers, "fastapi")
    assert overridden.overridden
    assert overridden.recommended == "flask"
    assert overridden.warnings[0].answer == "framework=fastapi"
    assert not decide(answers, "flask").overridden


def test_reasons_name_their_answer_and_a_known_source() -> None:
    rules: list[Gate | Score | Pitfall] = [*GATES, *SCORES, *PITFALLS]
    for rule in rules:
        assert rule.source in SOURCES
        for key in rule.answer.split(","):
            assert key.strip() in DecisionAnswers.model_fields


GRID: dict[str, list[Any]] = {
    "workload": ["sync", "io-bound", "cpu-bound", "mixed"],
    "deploy": ["kubernetes", "vm", "compose"],
    "cpu_tasks": ["none", "inline"],
    "peak_concurrency": [1, 50, 5000],
}


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_asgi_is_never_behind_a_sync_worker(framework: Framework) -> None:
    for values in itertools.product(*GRID.values()):
        answers = DecisionAnswers.model_validate(dict(zip(GRID, values, strict=True)))
        plan = decide(answers, framework).server
        if framework == "flask":
            assert plan.server == "gunicorn"
        else:
            assert plan.worker_class in ("", UVICORN_WORKER)
        assert plan.graceful_timeout < 30  # inside Kubernetes' default stop grace
        assert plan.workers >= 1 and plan.threads >= 1
        if answers.deploy == "kubernetes" and plan.server == "uvicorn":
            assert plan.workers == 1  # one process per pod


def _copier_defaults() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((TEMPLATES / "copier.yml").read_text())
    return loaded


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_plain_copier_defaults_equal_the_engine_for_default_answers(framework: Framework) -> None:
    """copier.yml's hidden defaults are what apistarter computes for its default answers."""
    question = _copier_defaults()["server"]
    rendered = jinja2.Environment(autoescape=True).from_string(question["default"])
    plan = yaml.safe_load(rendered.render(framework=framework, package_name="svc"))
    expected = decide(DecisionAnswers(), framework).server.model_dump(mode="json", exclude={"why"})
    assert plan == {
        **expected,
        "command": run_command(decide(DecisionAnswers(), framework).server, "svc"),
        "framework": framework,
    }


def test_plain_copier_load_test_defaults_equal_the_engine() -> None:
    expected = decide(DecisionAnswers()).load_test.model_dump()
    assert _copier_defaults()["load_test"]["default"] == expected


def test_every_measurement_a_server_reason_cites_is_a_section_of_the_benchmarks() -> None:
    """A source like "docs/benchmarks.md, <title> (<date>)" names a heading that exists."""
    benchmarks = (TEMPLATES.parent / "docs" / "benchmarks.md").read_text()
    headings = [line for line in benchmarks.splitlines() if line.startswith("## ")]
    sources = [
        value
        for name, value in vars(server).items()
        if name.endswith("_SOURCE") and isinstance(value, str)
    ]
    assert len(sources) >= 4
    for source in sources:
        cited = re.fullmatch(r"docs/benchmarks\.md, (.+) \((\d{4}-\d{2}-\d{2})\)", source)
        assert cited, source
        title, date = cited.groups()
        assert any(h.startswith(f"## {title}") and date in h for h in headings), source
