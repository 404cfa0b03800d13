"""Where the hybrid's mounted Flask route spends its core: CPU and thread switches per request.

The seed table shows the mounted route short of its goal while the FastAPI route in
the same process meets it. This table says why, from the kernel's own counters for
the server process (/proc): CPU time and context switches per answered request,
split between the event loop's thread and a2wsgi's worker threads.

A switch is voluntary when a thread blocks (on I/O, a lock, the GIL) and involuntary
when the scheduler preempts it, as it does when a woken thread takes the core.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bench.load import (
    LoadReport,
    Workspace,
    describe_plan,
    measured_run,
    plan_of,
    serve_pinned,
    warm_up,
)
from bench.seed_benchmark import CLIENTS, seed_service_answers
from tests.harness import proc_stat_fields

ANSWERS = seed_service_answers(CLIENTS)
ROUTES = (
    ("FastAPI route (awaits)", "/v1/demo/io"),
    ("mounted Flask route (blocks)", "/legacy/demo/io"),
)
_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ThreadCounters:
    """CPU seconds and context switches of a group of threads, summed."""

    cpu_s: float = 0.0
    voluntary: int = 0
    involuntary: int = 0

    def __add__(self, other: ThreadCounters) -> ThreadCounters:
        return ThreadCounters(
            self.cpu_s + other.cpu_s,
            self.voluntary + other.voluntary,
            self.involuntary + other.involuntary,
        )

    def __sub__(self, other: ThreadCounters) -> ThreadCounters:
        return ThreadCounters(
            self.cpu_s - other.cpu_s,
            self.voluntary - other.voluntary,
            self.involuntary - other.involuntary,
        )


def _thread_counters(task: Path) -> ThreadCounters:
    # utime and stime are fields 14 and 15 of proc(5); the list starts at field 3.
    fields = proc_stat_fields(task / "stat")
    cpu_s = (int(fields[11]) + int(fields[12])) / _TICKS_PER_S
    status = dict(
        line.split(":", 1) for line in (task / "status").read_text().splitlines() if ":" in line
    )
    return ThreadCounters(
        cpu_s, int(status["voluntary_ctxt_switches"]), int(status["nonvoluntary_ctxt_switches"])
    )


def snapshot(pid: int) -> tuple[ThreadCounters, ThreadCounters]:
    """(the main thread, which runs the event loop; all other threads, summed)."""
    loop, others = ThreadCounters(), ThreadCounters()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            counters = _thread_counters(task)
        except FileNotFoundError:  # the thread ended between listing and reading
            continue
        if task.name == str(pid):
            loop += counters
        else:
            others += counters
    return loop, others


@dataclass(frozen=True)
class HandoffResult:
    label: str
    load: LoadReport
    wall_s: float
    loop: ThreadCounters
    workers: ThreadCounters

    @property
    def requests(self) -> float:
        """Answered in the measured span (hey runs for exactly that long)."""
        return self.load.rps * self.wall_s


def measure(workspace: Workspace, seconds: int) -> list[HandoffResult]:
    service = workspace.generated("hybrid", ANSWERS)
    results = []
    with serve_pinned(service) as server:
        pid = server.process.pid  # taskset execs the server: same process
        for label, route in ROUTES:
            url = server.base_url + route
            warm_up(url, seconds)
            loop_before, workers_before = snapshot(pid)
            load = measured_run(url, seconds, CLIENTS)
            loop_after, workers_after = snapshot(pid)
            loop, workers = loop_after - loop_before, workers_after - workers_before
            results.append(HandoffResult(label, load, seconds, loop, workers))
    return results


def table(results: list[HandoffResult]) -> str:
    plan = describe_plan(plan_of("hybrid", ANSWERS))
    lines = [
        f"| Hybrid ({plan}), 1 core, {CLIENTS} clients, 50 ms I/O | req/s | server CPU "
        "| CPU ms/request: loop / worker threads | switches/request: loop (vol. + invol.) "
        "| worker threads (vol. + invol.) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        n = r.requests
        busy = (r.loop.cpu_s + r.workers.cpu_s) / r.wall_s
        lines.append(
            f"| {r.label} | {r.load.rps:.0f} | {100 * busy:.0f} % "
            f"| {1000 * r.loop.cpu_s / n:.2f} / {1000 * r.workers.cpu_s / n:.2f} "
            f"| {r.loop.voluntary / n:.1f} + {r.loop.involuntary / n:.1f} "
            f"| {r.workers.voluntary / n:.1f} + {r.workers.involuntary / n:.1f} |"
        )
    return "\n".join(lines)
