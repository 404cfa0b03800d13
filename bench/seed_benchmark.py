"""Reproduce the seed article's I/O benchmark on services apistarter generates.

The seed (S0) put one server on one core, gave every request 50 ms of simulated
downstream I/O and hit it with 50 concurrent clients. Each client can then send at
most 20 requests a second, so 1000 req/s is the ceiling; the seed measured 150 req/s
for FastAPI on Uvicorn, 75 for Flask with 4 sync workers and 19 with one.

Here the generated service's own I/O demo route plays the endpoint, its Dockerfile
CMD is the server, pinned to core 0 with taskset; `hey` runs on core 1.

    python -m bench.seed_benchmark                  # every row
    python -m bench.seed_benchmark --rows fastapi   # rows whose key starts with it

This machine is a shared VM: the hypervisor takes ("steals") a varying share of
core 0, and the same row has measured anywhere from 650 to 950 req/s an hour apart.
So each row runs several times and the run with the median throughput is shown,
together with the share of core 0 stolen while it ran.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from apistarter.questions import Framework
from apistarter.render import available_frameworks
from tests.harness import dockerfile_instruction, render_service, serve

CLIENTS = 50
DELAY_MS = 50
LIMIT_RPS = CLIENTS * 1000 / DELAY_MS


# The seed article's two endpoints, as bare apps: the ceiling each framework reaches on
# this machine without anything apistarter generates around it.
BARE_APPS = {
    "fastapi": (
        "import asyncio\nfrom fastapi import FastAPI\napp = FastAPI()\n"
        "@app.get('/v1/demo/io')\nasync def io() -> dict[str, int]:\n"
        "    await asyncio.sleep(0.05)\n    return {'waited_ms': 50}\n"
        "@app.get('/livez')\nasync def livez() -> dict[str, str]:\n    return {'status': 'ok'}\n",
        [
            "python",
            "-c",
            "import os, uvicorn; uvicorn.run('bare_app:app', host='127.0.0.1', "
            "port=int(os.environ['PORT']), access_log=False)",
        ],
    ),
    "flask": (
        "import time\nfrom flask import Flask\napp = Flask(__name__)\n"
        "@app.get('/v1/demo/io')\ndef io() -> dict[str, int]:\n"
        "    time.sleep(0.05)\n    return {'waited_ms': 50}\n"
        "@app.get('/livez')\ndef livez() -> dict[str, str]:\n    return {'status': 'ok'}\n",
        ["gunicorn", "-k", "gthread", "-w", "2", "--threads", "50", "bare_app:app"],
    ),
}


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    framework: Framework
    path: str
    env: dict[str, str] = field(default_factory=dict)
    target: float = 0.95
    bare: bool = False


ROWS = (
    Row("fastapi", "FastAPI, generated (Uvicorn, 1 worker)", "fastapi", "/v1/demo/io"),
    Row(
        "fastapi-bare",
        "FastAPI, bare app (Uvicorn, 1 worker)",
        "fastapi",
        "/v1/demo/io",
        target=0,
        bare=True,
    ),
    Row("flask", "Flask, generated (Gunicorn gthread plan)", "flask", "/v1/demo/io", target=0.90),
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
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    non_2xx: int
    steal_pct: float


def _hey(url: str, seconds: int) -> str:
    command = ["taskset", "-c", "1", "hey", "-z", f"{seconds}s", "-c", str(CLIENTS), url]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def _core0_times() -> tuple[int, int]:
    """(steal, total) jiffies of core 0 so far, from /proc/stat."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu0 "):
            ticks = [int(value) for value in line.split()[1:]]
            return ticks[7], sum(ticks)
    raise RuntimeError("/proc/stat has no cpu0 line")


def _parse(row: Row, report: str, steal_pct: float) -> Result:
    def number(pattern: str) -> float:
        match = re.search(pattern, report)
        if not match:
            raise RuntimeError(f"hey's report has no {pattern!r}:\n{report}")
        return float(match.group(1))

    statuses = re.findall(r"\[(\d{3})\]\s+(\d+) responses", report)
    return Result(
        row=row,
        rps=number(r"Requests/sec:\s+([\d.]+)"),
        p50_ms=number(r"50%+ in ([\d.]+) secs") * 1000,
        p95_ms=number(r"95%+ in ([\d.]+) secs") * 1000,
        p99_ms=number(r"99%+ in ([\d.]+) secs") * 1000,
        non_2xx=sum(int(count) for code, count in statuses if not code.startswith("2")),
        steal_pct=steal_pct,
    )


def measure(row: Row, workdir: Path, seconds: int, repeat: int) -> Result:
    """The median-throughput run of ``repeat`` runs, each on a freshly started server."""
    runs = [_measure_once(row, workdir / f"run{run}", seconds) for run in range(repeat)]
    runs.sort(key=lambda result: result.rps)
    return runs[len(runs) // 2]


def _measure_once(row: Row, workdir: Path, seconds: int) -> Result:
    workdir.mkdir(parents=True)
    if row.bare:
        project = workdir / row.key
        project.mkdir()
        source, run_command = BARE_APPS[row.framework]
        (project / "bare_app.py").write_text(source)
        (project / "src").mkdir()
    else:
        project = render_service(
            workdir / row.key, row.framework, {"workload": "io-bound", "peak_concurrency": CLIENTS}
        )
        run_command = dockerfile_instruction(project, "CMD")
    command = ["taskset", "-c", "0", *run_command]
    env = {"APP_DOWNSTREAM_DELAY_MS": str(DELAY_MS), **row.env}
    with serve(project, command, env) as server:
        url = f"{server.base_url}{row.path}"
        _hey(url, 2)  # warm-up: imports, connection pools, first-request paths
        steal_before, total_before = _core0_times()
        report = _hey(url, seconds)
        steal_after, total_after = _core0_times()
    steal_pct = 100 * (steal_after - steal_before) / max(1, total_after - total_before)
    return _parse(row, report, steal_pct)


def table(results: list[Result]) -> str:
    lines = [
        f"| Server (1 core, {CLIENTS} clients, {DELAY_MS} ms I/O) | req/s | % of {LIMIT_RPS:.0f} "
        "| p50 | p95 | p99 | non-2xx | core 0 stolen |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.row.label} | {r.rps:.1f} | {100 * r.rps / LIMIT_RPS:.1f} % | "
            f"{r.p50_ms:.0f} ms | {r.p95_ms:.0f} ms | {r.p99_ms:.0f} ms | {r.non_2xx} | "
            f"{r.steal_pct:.0f} % |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="", help="Run only rows whose key starts with this.")
    parser.add_argument("--seconds", type=int, default=10, help="Measured seconds per run.")
    parser.add_argument("--repeat", type=int, default=3, help="Runs per row; the median is shown.")
    args = parser.parse_args()
    rows = [
        row
        for row in ROWS
        if row.key.startswith(args.rows) and row.framework in available_frameworks()
    ]
    results = []
    with tempfile.TemporaryDirectory(prefix="apistarter-bench-") as tmp:
        os.environ["HOME"] = tmp  # keep the template bundle out of the real home
        for row in rows:
            results.append(measure(row, Path(tmp) / row.key, args.seconds, args.repeat))
            time.sleep(1)  # let the port and the CPU settle between rows
    print(table(results))
    missed = [r for r in results if r.rps < r.row.target * LIMIT_RPS]
    for r in missed:
        print(f"below target: {r.row.label}: {r.rps:.0f} < {r.row.target * LIMIT_RPS:.0f} req/s")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
