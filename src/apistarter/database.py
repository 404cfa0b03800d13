"""The data plan: driver, pool and timeouts for a service that keeps its data in PostgreSQL.

Pure: derived from the answers and the server plan. The templates place these values in
the service's engine module, its settings, its readiness check and each deploy target's
migration step; none of them is typed again in a template.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict

from apistarter.deploy import MAX_REPLICAS, MAX_SURGE
from apistarter.questions import AnswerError, DecisionAnswers, Framework
from apistarter.server import ServerPlan

# One driver for every worker model: psycopg 3 has a sync and an asyncio API over the same
# libpq, so a plain `postgresql://` URL means the same thing (sslmode, options, several
# hosts) in the FastAPI routes, the Flask routes and the migrations. asyncpg was faster
# per query (docs/benchmarks.md, database drivers) but takes no libpq URL parameters:
# SQLAlchemy passes `?sslmode=require`, as platforms hand it out, to asyncpg.connect,
# which refuses it.
DRIVER = "psycopg"
SQLALCHEMY_SCHEME = "postgresql+psycopg"
# Connections a pool may never take: PostgreSQL keeps 3 for superusers
# (superuser_reserved_connections), one runs the migration, one is an operator's psql.
RESERVED_CONNECTIONS = 5
# A request that waits this long for a connection is answered 503 with Retry-After,
# instead of queueing until the worker timeout kills it.
CHECKOUT_TIMEOUT_S = 3
# libpq's connect_timeout: an unreachable host fails a request (503) or a probe fast.
CONNECT_TIMEOUT_S = 2
# A request may run more than one statement: each gets half of what is left of the worker
# timeout after the checkout wait, so the request still answers before it is killed.
STATEMENTS_PER_REQUEST = 2
# How long a client should wait before retrying a 503 from the database layer.
RETRY_AFTER_S = 5
# Advisory-lock key the migrations take, so that concurrent runs (several pods starting at
# once) apply them one after the other; any constant the service's own code never uses.
MIGRATION_LOCK_KEY = 7_305_151_912


class DatabasePlan(BaseModel):
    """How the service reaches PostgreSQL; the settings override each number."""

    model_config = ConfigDict(frozen=True)

    engine: Literal["postgresql"] = "postgresql"
    driver: str = DRIVER
    sqlalchemy_scheme: str = SQLALCHEMY_SCHEME
    # asyncio engine (FastAPI and the hybrid's own routes) or threads and greenlets (Flask).
    api: Literal["async", "sync"]
    pool_size: int
    processes: int
    max_instances: int
    connections: int
    max_connections: int
    reserved: int
    checkout_timeout_s: int
    connect_timeout_s: int
    statement_timeout_ms: int
    retry_after_s: int
    migration_lock_key: int
    why: tuple[str, ...]


def _max_instances(answers: DecisionAnswers) -> tuple[int, str]:
    # Kubernetes runs up to the autoscaler's maximum, plus the surge pods of a rolling
    # update; a VM or a Compose project runs one instance.
    if answers.deploy == "kubernetes":
        pods = MAX_REPLICAS + MAX_SURGE
        return pods, (
            f"{pods} pods (the autoscaler's maximum of {MAX_REPLICAS} plus {MAX_SURGE} surge "
            "pod during a rolling update)"
        )
    return 1, f"1 instance (deploy={answers.deploy})"


def _wanted_pool(
    answers: DecisionAnswers, framework: Framework, plan: ServerPlan
) -> tuple[int, str]:
    """Connections one process can use at once, and why: more would only sit idle."""
    in_flight = math.ceil(answers.peak_concurrency / plan.workers)
    if framework != "flask":
        return in_flight, (
            f"an event loop holds a connection only while a query runs, and at most "
            f"{in_flight} requests are in flight per process (peak_concurrency="
            f"{answers.peak_concurrency} over {plan.workers} process(es))"
        )
    if plan.worker_class == "sync":
        return 1, "a sync worker serves one request at a time"
    if plan.worker_class == "gevent":
        return in_flight, (
            f"each greenlet holds a connection while its query runs, and at most {in_flight} "
            f"requests are in flight per worker"
        )
    return plan.threads, f"each of the worker's {plan.threads} threads may hold one"


def plan_database(
    answers: DecisionAnswers, framework: Framework, plan: ServerPlan
) -> DatabasePlan | None:
    """The data plan for ``answers.database``; None when the service has no database.

    Raises AnswerError when not even one connection per process fits the budget.
    """
    if answers.database == "none":
        return None
    instances, instances_why = _max_instances(answers)
    processes = plan.workers
    budget = answers.db_max_connections - RESERVED_CONNECTIONS
    wanted, wanted_why = _wanted_pool(answers, framework, plan)
    share = budget // (processes * instances)
    if share < 1:
        raise AnswerError(
            f"db_max_connections={answers.db_max_connections}: {processes} process(es) on "
            f"{instances_why} need at least {processes * instances} connections, one each, and "
            f"{RESERVED_CONNECTIONS} stay reserved; raise db_max_connections to "
            f"{processes * instances + RESERVED_CONNECTIONS} or more, or lower cpus"
        )
    pool = min(wanted, share)
    connections = pool * processes * instances
    arithmetic = (
        f"{pool} per process x {processes} process(es) x {instances_why} = {connections} "
        f"connections, within {budget} (db_max_connections={answers.db_max_connections} minus "
        f"{RESERVED_CONNECTIONS} reserved for superusers, the migration and an operator)"
    )
    why = [
        f"database=postgresql: {DRIVER} 3 for every route and the migrations, one driver with a "
        "sync and an asyncio API that reads a plain postgresql:// URL as libpq does "
        "(sslmode included); asyncpg was faster per query but refuses libpq's URL parameters.",
    ]
    if pool == wanted:
        why.append(f"database=postgresql: a pool of {pool}, because {wanted_why}: {arithmetic}.")
    else:
        why.append(
            f"db_max_connections={answers.db_max_connections}: a pool of {pool}, scaled down "
            f"from {wanted} ({wanted_why}) so that every pool fits the server: {arithmetic}. "
            f"Requests beyond {pool} per process wait up to {CHECKOUT_TIMEOUT_S} s for a "
            "connection, then get 503."
        )
    statement_timeout_s = (plan.timeout - CHECKOUT_TIMEOUT_S) / STATEMENTS_PER_REQUEST
    why.append(
        f"timeout={plan.timeout}: a request waits at most {CHECKOUT_TIMEOUT_S} s for a "
        f"connection and a statement runs at most {statement_timeout_s:g} s "
        f"(statement_timeout), so up to {STATEMENTS_PER_REQUEST} statements and the wait fit "
        "inside the worker timeout: the client gets a 503, not a killed worker."
    )
    if framework == "flask" and plan.worker_class == "gevent":
        why.append(
            "worker_class=gevent: psycopg waits on its socket through select(), which gevent "
            "patches, so a query yields to the other greenlets (a test holds a query on a "
            "lock and /livez still answers at once)."
        )
    return DatabasePlan(
        api="sync" if framework == "flask" else "async",
        pool_size=pool,
        processes=processes,
        max_instances=instances,
        connections=connections,
        max_connections=answers.db_max_connections,
        reserved=RESERVED_CONNECTIONS,
        checkout_timeout_s=CHECKOUT_TIMEOUT_S,
        connect_timeout_s=CONNECT_TIMEOUT_S,
        statement_timeout_ms=int(statement_timeout_s * 1000),
        retry_after_s=RETRY_AFTER_S,
        migration_lock_key=MIGRATION_LOCK_KEY,
        why=tuple(why),
    )


def migrate_command(package_name: str) -> tuple[str, ...]:
    """The exec-form command that migrates the database to the newest schema."""
    return ("python", "-m", f"{package_name}.migrate")
