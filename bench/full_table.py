"""Every benchmark table for the README, in one run.

    python -m bench                                  # all tables, 10 s runs, median of 3
    python -m bench --tables overhead,livez --seconds 3 --repeat 1   # a quick look

Tables (keys for --tables):
  seed       the seed article's table: 50 clients, 50 ms I/O, one core (limit 1000 req/s)
  seed-1000  the same rows at 1000 clients (limit 20000 req/s): latency and failures
             under saturation; generated services are rendered for 1000 in flight
  overhead   /livez throughput, generated service vs its bare twins, sharing core 0
  saturation the I/O route at 1000 clients, generated vs a twin with the same route
             signature and plan, sharing core 0: throughput, latency, CPU per request,
             RSS per worker; then p99 at a fixed open-loop load of 70 % of the lower
             throughput of the two
  granian    the saturation table's measurements of each generated service under
             Granian (pinned in bench/saturation.py) against its plan's server
  features   what each generated feature adds per request, in µs of CPU, in-process
             (request middleware, log line, request id, routing) against the twin
  livez      /livez latency while the I/O route is held at 1000 clients, per server plan
  cli        wall time of `apistarter new` and `apistarter update`
  database   `GET /v1/items/{id}` (a SELECT by primary key in a real PostgreSQL) at 50 and
             1000 clients, generated vs a twin on the same engine and pool, sharing core 0
  database-seed  the seed table again with a real database: the item read waits 50 ms
             in PostgreSQL; FastAPI, Flask gthread, gevent and sync workers, one core
  drivers    SQLAlchemy AsyncSession, psycopg 3 vs asyncpg: req/s and CPU per query, and
             what each does with `?sslmode=require`
  handoffs   the hybrid's two routes: CPU and thread switches per request (why the
             mounted Flask route costs more)

The date, the command and the machine are printed first, so the output can go
into the README as it is. Exits 1 when a goal is missed (listed under the tables).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from bench import (
    cli_timing,
    database,
    database_seed,
    drivers,
    features,
    handoffs,
    liveness,
    overhead,
    saturation,
    seed_benchmark,
)
from bench.load import Workspace, selected

SATURATION_CLIENTS = 1000
Table = Callable[[Workspace, argparse.Namespace], tuple[str, str, list[str]]]


def _seed(workspace: Workspace, args: argparse.Namespace) -> tuple[str, str, list[str]]:
    rows = selected(seed_benchmark.ROWS, args.rows)
    results = seed_benchmark.run_rows(
        rows, workspace, args.seconds, args.repeat, seed_benchmark.CLIENTS
    )
    title = "The seed benchmark: 1 core, 50 clients, 50 ms I/O"
    return title, seed_benchmark.table(results), seed_benchmark.missed_targets(results)


def _seed_saturated(workspace: Workspace, args: argparse.Namespace) -> tuple[str, str, list[str]]:
    rows = selected(seed_benchmark.ROWS, args.rows)
    results = seed_benchmark.run_rows(
        rows, workspace, args.seconds, args.repeat, SATURATION_CLIENTS
    )
    title = f"The same rows at {SATURATION_CLIENTS} clients (saturation)"
    return title, seed_benchmark.table(results, SATURATION_CLIENTS), []


def _overhead(workspace: Workspace, args: argparse.Namespace) -> tuple[str, str, list[str]]:
    results = [
        overhead.measure(row, workspace, args.seconds, args.repeat)
        for row in selected(overhead.ROWS, args.rows)
    ]
    title = "Cost of the generated middleware: trivial route, generated vs its bare twin"
    return title, overhead.table(results), overhead.missed_goals(results)


def _side_by_side(
    workspace: Workspace,
    args: argparse.Namespace,
    rows: Sequence[saturation.SaturationRow],
    title: str,
    sides: tuple[str, str],
) -> tuple[str, str, list[str]]:
    """A saturation-style table: each row's two apps loaded together at 1000 clients."""
    results = [
        saturation.measure(row, workspace, args.seconds, args.repeat)
        for row in selected(rows, args.rows)
    ]
    return title, saturation.table(results, sides), saturation.missed_goals(results)


def _saturation(workspace: Workspace, args: argparse.Namespace) -> tuple[str, str, list[str]]:
    title = f"Cost at saturation: I/O route at {saturation.CLIENTS} clients, generated vs its twin"
    return _side_by_side(workspace, args, saturation.ROWS, title, ("generated", "twin"))


def _granian(workspace: Workspace, args: argparse.Namespace) -> tuple[str, str, list[str]]:
    title = f"The same services under Granian: I/O route at {saturation.CLIENTS} clients"
    return _side_by_side(workspace, args, saturation.GRANIAN_ROWS, title, ("Granian", "plan"))


def _features(workspace: Workspace, args: argparse.Namespace) -> tuple[str, str, list[str]]:
    results = features.measure(workspace, args.seconds)
    title = "What each feature costs: CPU per request in-process, generated vs its twin"
    return title, features.table(results), []


def _livez(workspace: Workspace, args: argparse.Namespace) -> tuple[str, str, list[str]]:
    results = [
        liveness.measure(plan, workspace, args.seconds, args.repeat)
        for plan in selected(liveness.PLANS, args.rows)
    ]
    title = f"/livez while the I/O route is held at {liveness.SATURATING_CLIENTS} clients"
    return title, liveness.table(results), liveness.missed_goals(results)


def _cli(workspace: Workspace, args: argparse.Namespace) -> tuple[str, str, list[str]]:
    timings = cli_timing.measure(workspace.root / "cli", args.repeat)
    return "CLI wall time", cli_timing.table(timings), []


def _handoffs(workspace: Workspace, args: argparse.Namespace) -> tuple[str, str, list[str]]:
    results = handoffs.measure(workspace, args.seconds)
    title = "Where the hybrid's core goes: per request, FastAPI route vs mounted Flask route"
    return title, handoffs.table(results), []


def _database(workspace: Workspace, args: argparse.Namespace) -> tuple[str, str, list[str]]:
    results = database.measure(
        selected(database.ROWS, args.rows), workspace, args.seconds, args.repeat
    )
    title = "The database route: SELECT by primary key, generated vs its twin on the same engine"
    return title, database.table(results), database.missed_goals(results)


def _database_seed(workspace: Workspace, args: argparse.Namespace) -> tuple[str, str, list[str]]:
    rows = selected(database_seed.ROWS, args.rows)
    results = database_seed.measure(rows, workspace, args.seconds, args.repeat)
    title = (
        "The seed benchmark on a real database: 1 core, 50 clients, each read waits 50 ms "
        "in PostgreSQL"
    )
    return title, seed_benchmark.table(results), []


def _drivers(workspace: Workspace, args: argparse.Namespace) -> tuple[str, str, list[str]]:
    result = drivers.measure(workspace, args.seconds, args.repeat)
    title = "Database drivers under SQLAlchemy's AsyncSession: psycopg 3 vs asyncpg"
    return title, drivers.table(result), []


TABLES: dict[str, Table] = {
    "seed": _seed,
    "seed-1000": _seed_saturated,
    "overhead": _overhead,
    "saturation": _saturation,
    "granian": _granian,
    "features": _features,
    "livez": _livez,
    "cli": _cli,
    "handoffs": _handoffs,
    "database": _database,
    "database-seed": _database_seed,
    "drivers": _drivers,
}


def _machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.epilog = __doc__.split("\n\n", 1)[1]
    parser.add_argument(
        "--tables",
        default=",".join(TABLES),
        help=f"Comma-separated tables to run, of: {', '.join(TABLES)}.",
    )
    parser.add_argument(
        "--rows",
        default="",
        help="Run only rows whose key starts with this, or with one of several, comma-separated.",
    )
    parser.add_argument("--seconds", type=int, default=10, help="Measured seconds per run.")
    parser.add_argument("--repeat", type=int, default=3, help="Runs per row; the median is shown.")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.tables.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(TABLES))
    if unknown:
        parser.error(f"unknown table(s) {', '.join(unknown)}; choose from {', '.join(TABLES)}")

    started = datetime.datetime.now(datetime.UTC)
    print(f"{started:%Y-%m-%d %H:%M} UTC, {_machine()}")
    print(f"`{shlex.join(['python', '-m', 'bench', *sys.argv[1:]])}`", flush=True)
    missed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="apistarter-bench-") as tmp:
        os.environ["HOME"] = tmp  # keep the template bundle out of the real home
        workspace = Workspace(Path(tmp))
        print(f"Services run on {workspace.runtime.description}.", flush=True)
        for name in chosen:
            title, text, misses = TABLES[name](workspace, args)
            print(f"\n**{title}**\n\n{text}", flush=True)
            missed += misses
    if missed:
        print()
        print("\n".join(missed))
    return 1 if missed else 0
