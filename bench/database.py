"""What a generated service costs on its database route: `GET /v1/items/{id}` vs a bare twin.

Each row renders a service with `database=postgresql` for 1000 requests in flight on
one core (`cpus=1`, `deploy=compose`: one instance, so the plan's pool is the whole
connection budget of one process), and a bare twin that serves the same SELECT by
primary key through SQLAlchemy on the engine the service's own db.py builds from its
own settings: the same driver (psycopg 3, asyncio for FastAPI), the same pool size,
checkout timeout, statement timeout and pre-ping (bench.load.BARE_SOURCES,
"fastapi-db" and "flask-db"). The twin keeps the service's server command, config and
environment; only main.py differs. As in the saturation table, both share core 0 and
are loaded at the same time, one hey each on core 1, at 50 and then 1000 clients in
each round, with a pause between runs for the servers to drain (DRAIN_S);
PostgreSQL runs on core 1 too (bench.postgres). Goal: the generated
service serves at least 85 % of its twin's requests. The failed answers are
counted beside (a 503 after the pool's checkout timeout is the plan working).
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from apistarter.database import CHECKOUT_TIMEOUT_S
from apistarter.decision import decide
from apistarter.questions import DecisionAnswers, Framework
from bench.load import Workspace, describe_plan, ms, plan_of, serve_pinned, warm_up
from bench.postgres import ITEM_PATH, bench_postgres, prepared_database
from bench.saturation import AppRun, timed_runs

CLIENT_COUNTS = (50, 1000)
# After a run, requests the servers accepted but hey no longer waits for (a gevent worker
# accepts every connection) still hold or wait for pooled connections, each for at most
# the checkout timeout; the next run starts once they are gone, not on a pool they hold.
DRAIN_S = CHECKOUT_TIMEOUT_S + 1
PEAK_CONCURRENCY = 1000
MIN_THROUGHPUT_RATIO = 0.85
# One process on one core, one instance: the plan's whole budget goes to that process.
DATABASE_ANSWERS: dict[str, object] = {"database": "postgresql", "deploy": "compose", "cpus": 1}


@dataclass(frozen=True)
class DatabaseRow:
    key: str
    label: str
    framework: Framework
    twin: str  # a key of bench.load.BARE_SOURCES
    answers: dict[str, object] = field(default_factory=dict)

    def render_answers(self) -> dict[str, object]:
        return {
            "workload": "io-bound",
            "peak_concurrency": PEAK_CONCURRENCY,
            **DATABASE_ANSWERS,
            **self.answers,
        }


ROWS = (
    DatabaseRow("fastapi", "FastAPI", "fastapi", "fastapi-db"),
    # psycopg2 rules gevent out: the engine's gthread answer to 1000 in flight, as in the
    # saturation table (the service itself still uses psycopg 3).
    DatabaseRow(
        "flask-gthread",
        "Flask, blocking_deps=psycopg2",
        "flask",
        "flask-db",
        {"blocking_deps": ["psycopg2"]},
    ),
    DatabaseRow("flask-gevent", "Flask", "flask", "flask-db"),
)


def pool_size(framework: Framework, answers: dict[str, object]) -> int:
    """The pool per process the plan gives a service rendered with ``answers``."""
    plan = decide(DecisionAnswers.model_validate(answers), framework).database
    if plan is None:
        raise ValueError("the answers have no database")
    return plan.pool_size


@dataclass(frozen=True)
class DatabaseResult:
    row: DatabaseRow
    # Per client count, one (generated, twin) pair of runs per round.
    rounds: dict[int, list[tuple[AppRun, AppRun]]]

    def ratio(self, clients: int) -> float:
        return statistics.median(g.load.rps / t.load.rps for g, t in self.rounds[clients])

    def median(self, clients: int, side: int, value: str) -> float:
        runs = [pair[side] for pair in self.rounds[clients]]
        if value == "cpu":
            return statistics.median(run.cpu_ms_per_request for run in runs)
        return statistics.median(float(getattr(run.load, value)) for run in runs)

    def failed(self, clients: int, side: int) -> str:
        """Non-2xx answers and errors (timeouts, refused connections) over every round."""
        runs = [pair[side].load for pair in self.rounds[clients]]
        return f"{sum(run.non_2xx for run in runs)} + {sum(run.errors for run in runs)}"


def measure(
    rows: Sequence[DatabaseRow], workspace: Workspace, seconds: int, repeat: int
) -> list[DatabaseResult]:
    results = []
    with bench_postgres() as cluster:
        for row in rows:
            generated = workspace.generated(row.framework, row.render_answers())
            url = prepared_database(generated, cluster)
            twin = workspace.bare_twin(generated, row.twin)
            env = {"APP_DATABASE_URL": url}
            with contextlib.ExitStack() as running:
                servers = [running.enter_context(serve_pinned(s, env)) for s in (generated, twin)]
                urls = [server.base_url + ITEM_PATH for server in servers]
                leaders = [server.process.pid for server in servers]
                for each in urls:
                    warm_up(each, seconds, max(CLIENT_COUNTS))
                rounds: dict[int, list[tuple[AppRun, AppRun]]] = {c: [] for c in CLIENT_COUNTS}
                for _ in range(repeat):
                    for clients in CLIENT_COUNTS:
                        generated_run, twin_run = timed_runs(urls, leaders, seconds, clients)
                        rounds[clients].append((generated_run, twin_run))
                        time.sleep(DRAIN_S)
            results.append(DatabaseResult(row, rounds))
    return results


def table(results: list[DatabaseResult]) -> str:
    headers = [
        "`GET /v1/items/{id}` (SELECT by primary key), core 0 shared by generated and twin",
        "clients",
        "generated req/s",
        "twin req/s",
        "generated / twin",
        f"goal >= {100 * MIN_THROUGHPUT_RATIO:.0f} %",
        "p50 / p99 generated",
        "p50 / p99 twin",
        "CPU ms/request generated / twin",
        "non-2xx + errors, generated / twin",
    ]
    alignment = ["---", *(":---:" if h.startswith("goal") else "---:" for h in headers[1:])]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(alignment) + "|"]
    for r in results:
        answers = r.row.render_answers()
        plan = describe_plan(plan_of(r.row.framework, answers))
        label = f"{r.row.label}: {plan}, pool {pool_size(r.row.framework, answers)}"
        for clients in sorted(r.rounds):
            ratio = r.ratio(clients)
            cells = [
                str(clients),
                f"{r.median(clients, 0, 'rps'):.0f}",
                f"{r.median(clients, 1, 'rps'):.0f}",
                f"{100 * ratio:.1f} %",
                "yes" if ratio >= MIN_THROUGHPUT_RATIO else "no",
                f"{ms(r.median(clients, 0, 'p50_ms'))} / {ms(r.median(clients, 0, 'p99_ms'))}",
                f"{ms(r.median(clients, 1, 'p50_ms'))} / {ms(r.median(clients, 1, 'p99_ms'))}",
                f"{r.median(clients, 0, 'cpu'):.2f} / {r.median(clients, 1, 'cpu'):.2f}",
                f"{r.failed(clients, 0)} / {r.failed(clients, 1)}",
            ]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def missed_goals(results: list[DatabaseResult]) -> list[str]:
    return [
        f"database route below {100 * MIN_THROUGHPUT_RATIO:.0f} % of the twin at {clients} "
        f"clients: {r.row.label}: {100 * r.ratio(clients):.1f} %"
        for r in results
        for clients in sorted(r.rounds)
        if r.ratio(clients) < MIN_THROUGHPUT_RATIO
    ]
