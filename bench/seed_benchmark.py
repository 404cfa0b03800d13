"""Reproduce the seed article's I/O benchmark on services apistarter generates.

The seed (S0) put one server on one core, gave every request 50 ms of simulated
downstream I/O and hit it with 50 concurrent clients. Each client can then send at
most 20 requests a second, so 1000 req/s is the ceiling; the seed measured 150 req/s
for FastAPI on Uvicorn, 75 for Flask with 4 sync workers and 19 with one.

Here the generated service's own I/O demo route plays the endpoint, its Dockerfile
CMD is the server, pinned to core 0 with taskset; `hey` runs on core 1.

    python -m bench.seed_benchmark                  # every row
    python -m bench.seed_benchmark --rows fastapi   # rows whose key starts with it
    python -m bench.seed_benchmark --clients 1000   # the same rows under saturation

This machine is a shared VM: the hypervisor takes ("steals") a varying share of
core 0, and the same row has measured anywhere from 650 to 950 req/s an hour apart.
So each row runs several times and the run with the median throughput is shown,
together with the share of core 0 stolen while it ran.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from apistarter.questions import Framework
from bench.load import (
    DELAY_MS,
    LoadReport,
    Service,
    Workspace,
    describe_plan,
    limit_rps,
    measured_run,
    median_run,
    ms,
    pct,
    plan_of,
    selected,
    serve_pinned,
    warm_up,
)

CLIENTS = 50
LIMIT_RPS = limit_rps(CLIENTS)

# How the bare apps are served: the seed's servers, with nothing apistarter chose.
BARE_COMMANDS = {
    "fastapi": [
        "python",
        "-c",
        "import os, uvicorn; uvicorn.run('bare_app:app', host='127.0.0.1', "
        "port=int(os.environ['PORT']), access_log=False)",
    ],
    "flask": ["gunicorn", "-k", "gthread", "-w", "2", "--threads", "50", "bare_app:app"],
}


def seed_service_answers(clients: int) -> dict[str, object]:
    """The seed's service: I/O-bound, expecting ``clients`` requests in flight."""
    return {"workload": "io-bound", "peak_concurrency": clients}


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    framework: Framework
    path: str
    env: dict[str, str] = field(default_factory=dict)
    target: float = 0.95
    bare: bool = False

    def answers(self, clients: int) -> dict[str, object]:
        """What the service is rendered with."""
        return seed_service_answers(clients)

    def title(self, clients: int) -> str:
        """The label, with the plan the render chose when the plan is what runs."""
        if self.bare or self.env:
            return self.label
        return f"{self.label}: {describe_plan(plan_of(self.framework, self.answers(clients)))}"


ROWS = (
    Row("fastapi", "FastAPI, generated", "fastapi", "/v1/demo/io"),
    Row(
        "fastapi-bare",
        "FastAPI, bare app (Uvicorn, 1 worker)",
        "fastapi",
        "/v1/demo/io",
        target=0,
        bare=True,
    ),
    Row("flask", "Flask, generated", "flask", "/v1/demo/io", target=0.90),
    Row(
        "flask-bare",
        "Flask, bare app (Gunicorn gthread 2 x 50)",
        "flask",
        "/v1/demo/io",
        target=0,
        bare=True,
    ),
    Row(
        "flask-sync4",
        "Flask, Gunicorn 4 sync workers (seed's setup)",
        "flask",
        "/v1/demo/io",
        {"WEB_WORKER_CLASS": "sync", "WEB_CONCURRENCY": "4", "WEB_THREADS": "1"},
        target=0,
    ),
    Row(
        "flask-sync1",
        "Flask, Gunicorn 1 sync worker (seed's setup)",
        "flask",
        "/v1/demo/io",
        {"WEB_WORKER_CLASS": "sync", "WEB_CONCURRENCY": "1", "WEB_THREADS": "1"},
        target=0,
    ),
    Row("hybrid-fastapi", "Hybrid, FastAPI route (awaits)", "hybrid", "/v1/demo/io", target=0.90),
    Row(
        "hybrid-flask",
        "Hybrid, mounted Flask route (blocks)",
        "hybrid",
        "/legacy/demo/io",
        target=0.90,
    ),
)


@dataclass(frozen=True)
class Result:
    row: Row
    clients: int
    load: LoadReport


def _service(row: Row, workspace: Workspace, clients: int) -> Service:
    if row.bare:
        return workspace.bare(row.framework, BARE_COMMANDS[row.framework])
    generated = workspace.generated(row.framework, row.answers(clients))
    return replace(generated, env={**generated.env, **row.env})


def measure(
    row: Row, workspace: Workspace, seconds: int, repeat: int, clients: int = CLIENTS
) -> Result:
    """The median-throughput run of ``repeat`` runs, each on a freshly started server."""
    service = _service(row, workspace, clients)
    runs = []
    for _ in range(repeat):
        with serve_pinned(service) as server:
            url = f"{server.base_url}{row.path}"
            warm_up(url, seconds)
            runs.append(measured_run(url, seconds, clients))
    return Result(row, clients, median_run(runs, key=lambda run: run.rps))


def table(results: list[Result], clients: int = CLIENTS) -> str:
    limit = limit_rps(clients)
    lines = [
        f"| Server (1 core, {clients} clients, {DELAY_MS} ms I/O) | req/s | % of {limit:.0f} "
        "| p50 | p95 | p99 | non-2xx | errors | core 0 stolen |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        load = result.load
        lines.append(
            f"| {result.row.title(clients)} | {load.rps:.1f} | {100 * load.rps / limit:.1f} % | "
            f"{ms(load.p50_ms)} | {ms(load.p95_ms)} | {ms(load.p99_ms)} | {load.non_2xx} | "
            f"{load.errors} | {pct(load.steal_pct)} |"
        )
    return "\n".join(lines)


def missed_targets(results: list[Result]) -> list[str]:
    """Rows below their throughput target (targets hold at the seed's 50 clients only)."""
    return [
        f"below target: {r.row.label}: {r.load.rps:.0f} < {r.row.target * LIMIT_RPS:.0f} req/s"
        for r in results
        if r.clients == CLIENTS and r.load.rps < r.row.target * LIMIT_RPS
    ]


def run_rows(
    rows: list[Row], workspace: Workspace, seconds: int, repeat: int, clients: int
) -> list[Result]:
    results = []
    for row in rows:
        results.append(measure(row, workspace, seconds, repeat, clients))
        time.sleep(1)  # let the port and the CPU settle between rows
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows",
        default="",
        help="Run only rows whose key starts with this, or with one of several, comma-separated.",
    )
    parser.add_argument("--seconds", type=int, default=10, help="Measured seconds per run.")
    parser.add_argument("--repeat", type=int, default=3, help="Runs per row; the median is shown.")
    parser.add_argument("--clients", type=int, default=CLIENTS, help="Concurrent clients.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="apistarter-bench-") as tmp:
        os.environ["HOME"] = tmp  # keep the template bundle out of the real home
        workspace = Workspace(Path(tmp))
        results = run_rows(
            selected(ROWS, args.rows), workspace, args.seconds, args.repeat, args.clients
        )
    print(f"Services run on {workspace.runtime.description}.\n")
    print(table(results, args.clients))
    missed = missed_targets(results)
    for line in missed:
        print(line)
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
