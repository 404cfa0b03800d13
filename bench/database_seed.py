"""The seed benchmark again, with a real database in place of the sleep.

The seed (S0) made every request wait 50 ms on simulated I/O. Here the wait is a real
query: each generated service reads its item (`GET /v1/items/{id}`, the SELECT by
primary key of its own store) from a database where `items` is a view that sleeps
50 ms in PostgreSQL per row read (bench.postgres.wait_view). So every request holds a
pooled connection for 50 ms, and the driver waits on a real socket. A plain row read
takes well under a millisecond, so it would turn the table into a CPU benchmark and
lose the seed's question (what a worker model does while it waits); with the 50 ms
kept, the ceiling stays 50 clients x 20 = 1000 req/s and the rows compare with the
seed's and with the sleep table's. One core, 50 clients, as in bench.seed_benchmark,
whose measurement and table this reuses; PostgreSQL runs on core 1 (bench.postgres).

Rows: FastAPI on its asyncio engine (psycopg 3), Flask gthread and Flask gevent as
their plans make them, and the seed's Flask setups (1 and 4 sync workers), which are
the gthread service's image with its worker class, count and pool (1, a sync worker's
plan) set in the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bench import seed_benchmark
from bench.database import DATABASE_ANSWERS, pool_size
from bench.load import DELAY_MS, Workspace, describe_plan, plan_of
from bench.postgres import ITEM_PATH, bench_postgres, prepared_wait_database
from bench.seed_benchmark import CLIENTS, Result, Row, seed_service_answers

URL_VARIABLE = "APP_DATABASE_URL"


@dataclass(frozen=True)
class DatabaseSeedRow(Row):
    """A seed row whose service keeps its items in PostgreSQL."""

    peak_concurrency: int = CLIENTS

    def answers(self, clients: int) -> dict[str, object]:
        return {**seed_service_answers(self.peak_concurrency), **DATABASE_ANSWERS}

    def title(self, clients: int) -> str:
        if "WEB_WORKER_CLASS" in self.env:
            return f"{self.label}, pool {self.env['APP_DB_POOL_SIZE']} per worker"
        answers = self.answers(clients)
        plan = describe_plan(plan_of(self.framework, answers))
        return f"{self.label}: {plan}, pool {pool_size(self.framework, answers)}"


def _sync(workers: int) -> dict[str, str]:
    return {
        "WEB_WORKER_CLASS": "sync",
        "WEB_CONCURRENCY": str(workers),
        "WEB_THREADS": "1",
        "APP_DB_POOL_SIZE": "1",
    }


ROWS = (
    DatabaseSeedRow("fastapi", "FastAPI, asyncio engine", "fastapi", ITEM_PATH, target=0),
    DatabaseSeedRow("flask-gthread", "Flask", "flask", ITEM_PATH, target=0),
    # gevent is the plan's answer from a few hundred requests in flight on.
    DatabaseSeedRow("flask-gevent", "Flask", "flask", ITEM_PATH, target=0, peak_concurrency=1000),
    DatabaseSeedRow(
        "flask-sync4",
        "Flask, Gunicorn 4 sync workers (seed's setup)",
        "flask",
        ITEM_PATH,
        _sync(4),
        target=0,
    ),
    DatabaseSeedRow(
        "flask-sync1",
        "Flask, Gunicorn 1 sync worker (seed's setup)",
        "flask",
        ITEM_PATH,
        _sync(1),
        target=0,
    ),
)


def measure(
    rows: list[DatabaseSeedRow], workspace: Workspace, seconds: int, repeat: int
) -> list[Result]:
    results = []
    with bench_postgres() as cluster:
        for row in rows:
            service = workspace.generated(row.framework, row.answers(CLIENTS))
            url = prepared_wait_database(service, cluster, DELAY_MS)
            with_url = replace(row, env={**row.env, URL_VARIABLE: url})
            result = seed_benchmark.measure(with_url, workspace, seconds, repeat)
            results.append(replace(result, row=row))
    return results
