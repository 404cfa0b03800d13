"""The decision engine: ``decide(answers) -> Recommendation``. Pure: no I/O, no printing.

The rules are tables. Each row names the answer it reads, the condition, the
framework it favours (or the outcome it fixes, or the pitfall it raises), the
reason in one sentence and the source the reason comes from (see sources.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from apistarter.auth import AuthPlan, plan_auth
from apistarter.database import DatabasePlan, plan_database
from apistarter.questions import DecisionAnswers, Framework
from apistarter.server import ServerPlan, plan_server
from apistarter.sources import SOURCES, Source

Check = Callable[[DecisionAnswers], bool]

FRAMEWORK_NAMES: dict[Framework, str] = {
    "fastapi": "FastAPI",
    "flask": "Flask",
    "hybrid": "FastAPI with the Flask app mounted (hybrid)",
}


@dataclass(frozen=True)
class Gate:
    """A rule that fixes the outcome on its own; the first gate that applies wins."""

    answer: str
    when: Check
    outcome: Framework
    reason: str
    source: str


@dataclass(frozen=True)
class Score:
    """A rule that adds weight to one framework for a new service."""

    answer: str
    when: Check
    favours: Framework
    weight: int
    reason: str
    source: str


@dataclass(frozen=True)
class Pitfall:
    """A known way the chosen setup goes wrong, raised when its condition holds."""

    answer: str
    when: Callable[[DecisionAnswers, Framework], bool]
    text: str
    source: str


GATES: tuple[Gate, ...] = (
    Gate(
        "codebase, measured_problem",
        lambda a: a.codebase == "existing-flask" and a.measured_problem == "none",
        "flask",
        "The Flask app works and nothing measured says otherwise; migrations done without a "
        "measured bottleneck rarely pay back, so keep Flask and add what it lacks.",
        "S0",
    ),
    Gate(
        "codebase, measured_problem",
        lambda a: a.codebase == "existing-flask" and a.measured_problem == "docs",
        "flask",
        "Missing API docs are fixed inside Flask with an OpenAPI extension, without a "
        "worker-type change or a second framework.",
        "S3",
    ),
    Gate(
        "codebase, workload",
        lambda a: a.codebase == "existing-flask" and a.workload == "cpu-bound",
        "flask",
        "The existing app is CPU-bound: an event loop does not parallelise CPU work, so a "
        "move to ASGI would not fix it; add cores or move the work off the request path.",
        "S0",
    ),
    Gate(
        "codebase, measured_problem",
        lambda a: a.codebase == "existing-flask",
        "hybrid",
        "A measured problem (saturated workers, latency or scaling) justifies async, but not a "
        "rewrite: mount the Flask app inside FastAPI and move the routes the numbers point at, "
        "one by one. One team cut an endpoint's p95 from 38 ms to 14 ms this way.",
        "S0",
    ),
)

SCORES: tuple[Score, ...] = (
    Score(
        "workload",
        lambda a: a.workload == "io-bound",
        "fastapi",
        3,
        "Requests mostly wait on I/O, and an event loop overlaps those waits: on one core with "
        "50 clients and 50 ms of I/O, one Uvicorn worker served 150 req/s against 19 req/s for "
        "one Flask sync worker and 75 req/s for four.",
        "S0",
    ),
    Score(
        "workload",
        lambda a: a.workload == "mixed",
        "fastapi",
        1,
        "Part of each request waits on I/O, where async helps; the CPU part must still run "
        "off the event loop.",
        "S0",
    ),
    Score(
        "workload",
        lambda a: a.workload == "sync",
        "flask",
        2,
        "Quick synchronous handlers gain little from an event loop, and Flask's minimal core "
        "keeps a small synchronous service simple.",
        "S0",
    ),
    Score(
        "workload",
        lambda a: a.workload == "cpu-bound",
        "flask",
        1,
        "CPU-bound requests are limited by the GIL under either framework, so async buys "
        "nothing and the simpler synchronous model costs nothing.",
        "S1",
    ),
    Score(
        "peak_concurrency",
        lambda a: a.peak_concurrency >= 200,
        "fastapi",
        2,
        "Hundreds of requests in flight need hundreds of threads in a WSGI server but only "
        "cheap coroutines on an event loop; Flask's workers saturate around 1,000 users.",
        "S4",
    ),
    Score(
        "peak_concurrency",
        lambda a: a.peak_concurrency <= 10,
        "flask",
        1,
        "With ten or fewer requests in flight, a few sync workers cover the load; the async "
        "advantage barely shows at low concurrency.",
        "S0",
    ),
    Score(
        "downstream_latency_ms",
        lambda a: a.downstream_latency_ms >= 200 and a.workload in ("io-bound", "mixed"),
        "fastapi",
        1,
        "Long downstream waits hold a sync worker the whole time: on an endpoint waiting about "
        "200 ms, four sync workers gave 1,200 req/min (p95 3.2 s) where FastAPI gave 28,000.",
        "S3",
    ),
    Score(
        "team_async",
        lambda a: a.team_async == "none",
        "flask",
        3,
        "The team has no async experience; async mistakes such as blocking calls inside async "
        "routes are easy to make, and learning async on a deadline slows delivery.",
        "S3",
    ),
    Score(
        "team_async",
        lambda a: a.team_async == "strong",
        "fastapi",
        1,
        "The team already writes async code, so FastAPI's model costs no learning.",
        "S3",
    ),
    Score(
        "team_flask",
        lambda a: a.team_flask == "strong" and a.team_async != "strong",
        "flask",
        1,
        "Deep Flask expertise is a real asset: Flask's ecosystem is fourteen years old and its "
        "talent pool about three times FastAPI's.",
        "S0",
    ),
    Score(
        "api_consumers",
        lambda a: a.api_consumers in ("frontend", "partners"),
        "fastapi",
        1,
        "Other teams consume the API: FastAPI generates OpenAPI 3.1 docs with Swagger UI and "
        "ReDoc from the code, where Flask needs an extension and hand-kept schemas.",
        "S0",
    ),
    Score(
        "api_consumers",
        lambda a: a.api_consumers == "partners",
        "fastapi",
        1,
        "External partners need a stable, documented contract; typed models make the contract "
        "the code, so it cannot drift.",
        "S1",
    ),
    Score(
        "typed_validation",
        lambda a: a.typed_validation,
        "fastapi",
        1,
        "Typed validation is built into FastAPI through Pydantic v2 (4 to 50 times faster than "
        "v1); Flask adds it through extensions to choose and maintain.",
        "S0",
    ),
    Score(
        "realtime",
        lambda a: a.realtime,
        "fastapi",
        2,
        "WebSockets and async streaming are built into FastAPI; Flask needs an add-on such as "
        "flask-socketio.",
        "S3",
    ),
    Score(
        "blocking_deps",
        lambda a: len(a.blocking_deps) >= 3 and a.team_async != "strong",
        "flask",
        1,
        "Several blocking libraries would each need an async replacement or a thread-pool "
        "wrapper under FastAPI; in Flask's threads they work as they are.",
        "S3",
    ),
)

# When the scores tie, FastAPI is the stronger default for a new API service.
TIE_BREAK = Score(
    "(tie)",
    lambda a: True,
    "fastapi",
    0,
    "The answers balance out; for a new API-first service FastAPI is the stronger default.",
    "S0",
)

# The async replacement for each blocking library, used in the pitfall warnings.
ASYNC_ALTERNATIVES: dict[str, str] = {
    "requests": "httpx.AsyncClient",
    "psycopg2": "psycopg 3's AsyncConnection or asyncpg",
    "pymysql": "aiomysql or asyncmy",
    "boto3": "aioboto3, or run the calls with starlette.concurrency.run_in_threadpool",
    "redis-py": "redis.asyncio (ships with redis-py 4.2+)",
    "sqlalchemy-sync": "SQLAlchemy 2.0's asyncio extension (AsyncSession)",
    "sync-sdk": "the SDK's async client if it has one, else run_in_threadpool",
    "file-io": "anyio.Path or aiofiles",
}

# What the generated database layer uses instead of a blocking database library named in
# blocking_deps, on a FastAPI plan with database=postgresql.
GENERATED_DATABASE_LAYER: dict[str, str] = {
    "psycopg2": "psycopg2 would block the event loop on every query; the generated database "
    "layer uses psycopg 3's asyncio connections through SQLAlchemy's AsyncSession instead "
    "(src/<package>/db.py), so keep psycopg2 out of `async def` routes and move its queries "
    "there.",
    "sqlalchemy-sync": "A sync SQLAlchemy Session would block the event loop on every query; "
    "the generated database layer gives the routes an AsyncSession over psycopg 3 instead "
    "(src/<package>/db.py): write new queries against it, and keep sync sessions out of "
    "`async def` routes.",
}

ASGI: frozenset[Framework] = frozenset({"fastapi", "hybrid"})

PITFALLS: tuple[Pitfall, ...] = (
    Pitfall(
        "workload, cpu_tasks",
        lambda a, f: f in ASGI and (a.cpu_tasks == "inline" or a.workload == "cpu-bound"),
        "CPU work inside an async route stalls every request on that worker: async overlaps "
        "I/O, it does not parallelise CPU. Run it in a ProcessPoolExecutor through "
        "loop.run_in_executor, or in a task queue.",
        "S0",
    ),
    Pitfall(
        "workload",
        lambda a, f: f in ASGI and a.workload == "cpu-bound",
        "Do not expect FastAPI to speed up CPU-bound endpoints; measure before and after, "
        "because the bottleneck is the CPU, not the framework.",
        "S0",
    ),
    Pitfall(
        "cpu_tasks",
        lambda a, f: f == "flask" and a.cpu_tasks == "inline",
        "Long CPU work inside a request holds a whole worker for its duration; keep it short "
        "or move it to a task queue, and keep the worker timeout above its longest run.",
        "S0",
    ),
    Pitfall(
        "team_async",
        lambda a, f: f in ASGI and a.team_async == "none",
        "The team has no async experience: review every `async def` for blocking calls, and "
        "declare routes with plain `def` when unsure (FastAPI then runs them in its thread "
        "pool) until the team is fluent.",
        "S3",
    ),
    Pitfall(
        "codebase, measured_problem",
        lambda a, f: a.codebase == "existing-flask" and f in ASGI and a.measured_problem == "none",
        "Migrating a working Flask app without a measured problem: the most expensive "
        "migrations are made for prestige. Write down the number you expect to move first.",
        "S0",
    ),
    Pitfall(
        "codebase, existing_routes",
        lambda a, f: a.codebase == "existing-flask" and f == "fastapi" and a.existing_routes < 30,
        "A full rewrite of fewer than ~30 stable routes rarely pays back within six months; "
        "the hybrid keeps them in Flask at no cost.",
        "S0",
    ),
    Pitfall(
        "codebase",
        lambda a, f: a.codebase == "existing-flask" and f in ASGI,
        "The worker-type change (Gunicorn sync to an ASGI server) reaches the Dockerfile, the "
        "process manager and the load balancer's health-check timeouts; teams find it late.",
        "S0",
    ),
    Pitfall(
        "deploy",
        lambda a, f: f in ASGI and a.deploy == "vm",
        "Keep Gunicorn's worker class at uvicorn_worker.UvicornWorker: behind a sync worker an "
        "ASGI app loses its event loop and the concurrency it was chosen for.",
        "S0",
    ),
    Pitfall(
        "workload, peak_concurrency",
        lambda a, f: f == "flask" and a.workload in ("io-bound", "mixed"),
        "Never fall back to plain sync workers for I/O-bound traffic: each one serves a single "
        "request at a time (19 req/s for one worker in S0's benchmark); keep threads or gevent.",
        "S0",
    ),
    Pitfall(
        "api_consumers, auth",
        lambda a, f: a.api_consumers == "partners" and a.auth == "none",
        "Other companies call this API and it checks no credentials: define who may write "
        "before the first partner gets its address, with auth=jwt (tokens from your identity "
        "provider, writes gated by a scope), auth=api-key (one key per partner in "
        "APP_API_KEYS, rotated without downtime) or a gateway that authenticates in front.",
        "S0",
    ),
    Pitfall(
        "typed_validation, api_consumers",
        lambda a, f: f == "flask" and (a.typed_validation or a.api_consumers != "internal"),
        "Flask gets validation and OpenAPI docs from extensions: keep their number small and "
        "their versions patched, since each is a dependency to maintain.",
        "S0",
    ),
    Pitfall(
        "realtime",
        lambda a, f: f == "flask" and a.realtime,
        "Real-time pushes need an add-on in Flask (flask-sock or flask-socketio) and a worker "
        "class that holds long connections.",
        "S3",
    ),
)

PROS: dict[Framework, tuple[str, ...]] = {
    "fastapi": (
        "One worker overlaps many I/O waits on its event loop (S0).",
        "Pydantic v2 validation and OpenAPI 3.1 docs come built in (S0).",
        "WebSockets, streaming and dependency injection are built in (S3).",
    ),
    "flask": (
        "Minimal core and the lowest learning curve: no async or type hints required (S0).",
        "Fourteen years of extensions and about three times FastAPI's talent pool (S0).",
        "Blocking libraries work as they are; gevent workers close much of the I/O gap (S3).",
    ),
    "hybrid": (
        "Working Flask routes keep running unchanged while new endpoints are async (S0).",
        "Routes move one at a time, when a measured number asks for it (S0).",
    ),
}

CONS: dict[Framework, tuple[str, ...]] = {
    "fastapi": (
        "Blocking libraries stall the event loop unless replaced or offloaded (S0).",
        "The team needs async/await and type hints (S3).",
        "No gain on CPU-bound work (S0).",
    ),
    "flask": (
        "A sync worker serves one request at a time, so I/O waits cap throughput (S0).",
        "Validation and API docs need extensions to choose and maintain (S0).",
        "`async def` views run in a thread per request, not on an event loop (S0).",
    ),
    "hybrid": (
        "Two frameworks to know, test and keep patched.",
        "Flask routes still hold a thread each while they block, through a2wsgi's pool.",
        "The worker-type change touches the Dockerfile, process manager and health checks (S0).",
    ),
}


class Reason(BaseModel):
    """One sentence of the recommendation, with the answer it came from and its source."""

    model_config = ConfigDict(frozen=True)

    answer: str
    text: str
    source: str


class Alternative(BaseModel):
    model_config = ConfigDict(frozen=True)

    framework: Framework
    pros: tuple[str, ...]
    cons: tuple[str, ...]


class LoadTestPlan(BaseModel):
    """The load test that confirms the decision, with its pass/fail thresholds."""

    model_config = ConfigDict(frozen=True)

    users: int
    spawn_rate: int
    run_time_s: int
    p95_ms: int
    max_failure_ratio: float
    downstream_delay_ms: int


class Recommendation(BaseModel):
    model_config = ConfigDict(frozen=True)

    framework: Framework
    recommended: Framework
    overridden: bool
    # The hybrid was chosen for an adoption (`new --legacy`), not by the team over the
    # recommendation: the records say so.
    adopted: bool = False
    summary: str
    scores: dict[str, int]
    reasons: tuple[Reason, ...]
    warnings: tuple[Reason, ...]
    alternatives: tuple[Alternative, ...]
    drivers: tuple[str, ...]
    server: ServerPlan
    database: DatabasePlan | None
    auth: AuthPlan
    load_test: LoadTestPlan
    sources: tuple[Source, ...]


def _reason(rule: Gate | Score, answers: DecisionAnswers) -> Reason:
    return Reason(answer=_answer_label(rule.answer, answers), text=rule.reason, source=rule.source)


def _answer_label(answer: str, answers: DecisionAnswers) -> str:
    """`workload=io-bound, peak_concurrency=50` for the answers a rule reads."""
    keys = [key.strip() for key in answer.split(",")]
    if not all(key in DecisionAnswers.model_fields for key in keys):
        return answer
    return ", ".join(f"{key}={_show(getattr(answers, key))}" for key in keys)


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple):
        return ",".join(value) or "none"
    return str(value)


def _outcome(answers: DecisionAnswers) -> tuple[Framework, dict[str, int], list[Reason]]:
    for gate in GATES:
        if gate.when(answers):
            return gate.outcome, {}, [_reason(gate, answers)]
    scores: dict[str, int] = {"fastapi": 0, "flask": 0}
    fired = [score for score in SCORES if score.when(answers)]
    for score in fired:
        scores[score.favours] += score.weight
    winner: Framework = "flask" if scores["flask"] > scores["fastapi"] else "fastapi"
    reasons = [_reason(score, answers) for score in fired if score.favours == winner]
    if scores["flask"] == scores["fastapi"]:
        reasons.append(_reason(TIE_BREAK, answers))
    return winner, scores, reasons


def _warnings(answers: DecisionAnswers, framework: Framework) -> list[Reason]:
    warnings = [
        Reason(answer=_answer_label(p.answer, answers), text=p.text, source=p.source)
        for p in PITFALLS
        if p.when(answers, framework)
    ]
    if framework in ASGI:
        warnings.extend(
            Reason(
                answer=f"blocking_deps={dep}",
                text=GENERATED_DATABASE_LAYER[dep]
                if answers.database != "none" and dep in GENERATED_DATABASE_LAYER
                else f"{dep} blocks the event loop when called inside `async def`; use "
                f"{ASYNC_ALTERNATIVES[dep]}, or keep the route a plain `def`.",
                source="S0",
            )
            for dep in answers.blocking_deps
        )
    return warnings


def _load_test(answers: DecisionAnswers) -> LoadTestPlan:
    users = min(answers.peak_concurrency, 1000)
    return LoadTestPlan(
        users=users,
        spawn_rate=max(1, users // 5),
        run_time_s=60,
        # Budget: one extra downstream wait of queueing plus 100 ms of processing.
        p95_ms=max(200, 2 * answers.downstream_latency_ms + 100),
        max_failure_ratio=0.01,
        downstream_delay_ms=answers.downstream_latency_ms,
    )


def decide(
    answers: DecisionAnswers, choose: Framework | None = None, *, adopted: bool = False
) -> Recommendation:
    """Recommend a framework and a server plan; ``choose`` overrides the framework.

    ``adopted``: an existing Flask app is being adopted, which is what the hybrid is
    for; it is chosen for that reason, and the recommendation stays on record.
    """
    recommended, scores, reasons = _outcome(answers)
    framework: Framework = "hybrid" if adopted else choose or recommended
    overridden = framework != recommended
    warnings = _warnings(answers, framework)
    if adopted and overridden:
        warnings.insert(
            0,
            Reason(
                answer="new --legacy",
                text="Chosen for the adoption of an existing Flask app, which keeps serving "
                f"as it is; the answers alone recommend {FRAMEWORK_NAMES[recommended]}, "
                "whose reasons are recorded above.",
                source="-",
            ),
        )
    elif overridden:
        warnings.insert(
            0,
            Reason(
                answer=f"framework={framework}",
                text=f"Chosen by hand over the recommendation ({FRAMEWORK_NAMES[recommended]}), "
                "whose reasons are recorded above.",
                source="-",
            ),
        )
    server = plan_server(answers, framework)
    drivers = tuple(dict.fromkeys(reason.answer for reason in reasons if reason.answer != "(tie)"))
    summary = f"{FRAMEWORK_NAMES[framework]}" + (
        ", chosen for the adoption of an existing Flask app (the answers alone recommend "
        f"{FRAMEWORK_NAMES[recommended]})."
        if adopted and overridden
        else f", chosen over the recommended {FRAMEWORK_NAMES[recommended]}."
        if overridden
        else f": {reasons[0].text}"
    )
    return Recommendation(
        framework=framework,
        recommended=recommended,
        overridden=overridden,
        adopted=adopted,
        summary=summary,
        scores=scores,
        reasons=tuple(reasons),
        warnings=tuple(warnings),
        alternatives=tuple(
            Alternative(framework=other, pros=PROS[other], cons=CONS[other])
            for other in ("fastapi", "flask", "hybrid")
            if other != framework
        ),
        drivers=drivers,
        server=server,
        database=plan_database(answers, framework, server),
        auth=plan_auth(answers, adopted=adopted),
        load_test=_load_test(answers),
        sources=tuple(SOURCES.values()),
    )
