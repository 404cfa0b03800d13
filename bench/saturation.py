"""What a generated service costs once its core is busy: the I/O route at 1000 clients.

Each row loads a generated service's `/v1/demo/io` and a bare twin with the same
route signature (an optional bounded int query, a Pydantic response model) and the
same server plan (bench.load.Workspace.bare_twin keeps the command, its config and
environment; only the app differs). As in the overhead table, both apps share core 0
and are loaded at the same time, one hey each on core 1, so the VM's speed swings hit
both alike and the ratio of their throughputs is the ratio of their costs.

Beside throughput and latency at saturation, it reads from /proc the CPU each server
spent per answered request and the resident memory of each worker process, idle and
under load. Then each app alone is offered a fixed load, 70 % of what the twin serves
alone at saturation, where a p99 says something about the service rather than about
the load generator's queue: goal, the generated p99 at most 1.5 times the twin's. These
runs take turns (twin, generated, per round), since an offered load is no longer a
share of the core; the median p99 of the rounds is shown.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apistarter.questions import Framework
from apistarter.render import available_frameworks
from bench.load import (
    LoadReport,
    Workspace,
    describe_plan,
    measured_run,
    median_run,
    ms,
    plan_of,
    serve_pinned,
    simultaneous_runs,
    warm_up,
)
from bench.seed_benchmark import seed_service_answers
from tests.harness import proc_stat_fields

CLIENTS = 1000
IO_ROUTE = "/v1/demo/io"
MIN_THROUGHPUT_RATIO = 0.85
FIXED_LOAD_SHARE = 0.70
MAX_P99_RATIO = 1.5
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class SaturationRow:
    key: str
    label: str
    framework: Framework
    twin: str  # a key of bench.load.BARE_SOURCES
    answers: dict[str, object] = field(default_factory=dict)

    def render_answers(self) -> dict[str, object]:
        return {**seed_service_answers(CLIENTS), **self.answers}


ROWS = (
    SaturationRow("fastapi", "FastAPI", "fastapi", "fastapi-io"),
    SaturationRow("flask-gevent", "Flask", "flask", "flask-io"),
    # psycopg2 rules gevent out: the engine's gthread answer to 1000 in flight.
    SaturationRow(
        "flask-gthread",
        "Flask, blocking_deps=psycopg2",
        "flask",
        "flask-io",
        {"blocking_deps": ["psycopg2"]},
    ),
    SaturationRow("hybrid", "Hybrid, FastAPI route (vs bare FastAPI)", "hybrid", "fastapi-io"),
)


def _session_processes(leader: int) -> dict[int, list[str]]:
    """/proc stat fields of every live process in ``leader``'s session (the server tree)."""
    found: dict[int, list[str]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = proc_stat_fields(stat)
            if int(fields[3]) == leader:  # field 6 of proc(5), the session id
                found[int(stat.parent.name)] = fields
    return found


def cpu_seconds(leader: int) -> float:
    """User + system CPU of the server's processes so far (fields 14 and 15 of proc(5))."""
    processes = _session_processes(leader).values()
    return sum(int(f[11]) + int(f[12]) for f in processes) / CLOCK_TICKS


def worker_rss_mb(leader: int) -> float:
    """Mean resident memory of the processes that serve requests: the tree's leaves.

    Uvicorn with one worker is one process; a Gunicorn master's leaves are its workers.
    """
    processes = _session_processes(leader)
    parents = {int(fields[1]) for fields in processes.values()}
    sizes = []
    for pid in processes.keys() - parents:
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{pid}/status").read_text()
            kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))
            sizes.append(int(kib) / 1024)
    return statistics.mean(sizes) if sizes else float("nan")


class PeakRss:
    """The highest worker_rss_mb of each server while the ``with`` block runs."""

    def __init__(self, leaders: Sequence[int]) -> None:
        self.leaders = leaders
        self.peaks = [0.0 for _ in leaders]
        self._done = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.wait(0.5):
            for index, leader in enumerate(self.leaders):
                self.peaks[index] = max(self.peaks[index], worker_rss_mb(leader))

    def __enter__(self) -> PeakRss:
        self._sampler.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._sampler.join()


@dataclass(frozen=True)
class AppRun:
    """One app's share of one simultaneous run."""

    load: LoadReport
    cpu_ms_per_request: float


def _median(runs: Sequence[AppRun], value: Callable[[AppRun], float]) -> float:
    return statistics.median(value(run) for run in runs)


@dataclass(frozen=True)
class SaturationResult:
    row: SaturationRow
    generated: list[AppRun]  # one per round
    twin: list[AppRun]
    fixed: tuple[LoadReport, LoadReport]  # (generated, twin), each alone at the offered load
    offered_rps: float  # FIXED_LOAD_SHARE of the twin's saturation throughput alone
    idle_rss_mb: tuple[float, float]
    loaded_rss_mb: tuple[float, float]

    @property
    def throughput_ratio(self) -> float:
        rounds = zip(self.generated, self.twin, strict=True)
        return statistics.median(g.load.rps / t.load.rps for g, t in rounds)

    @property
    def p99_ratio(self) -> float:
        return self.fixed[0].p99_ms / self.fixed[1].p99_ms


def _timed_runs(
    urls: Sequence[str], leaders: Sequence[int], seconds: float, **options: Any
) -> list[AppRun]:
    """simultaneous_runs at CLIENTS clients, with each server's CPU per answered request."""
    before = [cpu_seconds(leader) for leader in leaders]
    reports = simultaneous_runs(urls, seconds, CLIENTS, **options)
    spent = [cpu_seconds(leader) - start for leader, start in zip(leaders, before, strict=True)]
    return [
        AppRun(report, 1000 * cpu / max(1.0, report.rps * seconds))
        for report, cpu in zip(reports, spent, strict=True)
    ]


def selected_rows(prefix: str) -> list[SaturationRow]:
    frameworks = available_frameworks()
    return [row for row in ROWS if row.key.startswith(prefix) and row.framework in frameworks]


@contextlib.contextmanager
def _pair(row: SaturationRow, workspace: Workspace) -> Iterator[tuple[list[str], list[int]]]:
    generated = workspace.generated(row.framework, row.render_answers())
    twin = workspace.bare_twin(generated, row.twin)
    with contextlib.ExitStack() as running:
        servers = [running.enter_context(serve_pinned(s)) for s in (generated, twin)]
        yield [s.base_url + IO_ROUTE for s in servers], [s.process.pid for s in servers]


def measure(
    row: SaturationRow, workspace: Workspace, seconds: int, repeat: int
) -> SaturationResult:
    with _pair(row, workspace) as (urls, leaders):
        for url in urls:
            warm_up(url, seconds, CLIENTS)
        idle = (worker_rss_mb(leaders[0]), worker_rss_mb(leaders[1]))
        with PeakRss(leaders) as peaks:
            rounds = [_timed_runs(urls, leaders, seconds) for _ in range(repeat)]
        generated, twin = [run[0] for run in rounds], [run[1] for run in rounds]
        alone = measured_run(urls[1], seconds, CLIENTS).rps
        offered = FIXED_LOAD_SHARE * alone
        # hey's -q is per client: the offered load spread over the same clients.
        turns = [
            [measured_run(url, seconds, CLIENTS, qps=offered / CLIENTS) for url in urls]
            for _ in range(repeat)
        ]
        fixed = [median_run([turn[side] for turn in turns], lambda r: r.p99_ms) for side in (0, 1)]
    return SaturationResult(
        row,
        generated,
        twin,
        (fixed[0], fixed[1]),
        offered,
        idle,
        (peaks.peaks[0], peaks.peaks[1]),
    )


def table(results: list[SaturationResult]) -> str:
    lines = [
        f"| I/O route, {CLIENTS} clients each, core 0 shared with the twin (server plan) "
        "| generated req/s | twin req/s | generated / twin | goal >= 85 % "
        "| p50 / p99 generated | p50 / p99 twin | CPU ms/request generated / twin "
        "| RSS/worker idle, MB (gen / twin) | under load | "
        f"alone at {100 * FIXED_LOAD_SHARE:.0f} % of the twin's req/s alone: p99 generated / twin "
        "| p99 ratio, goal <= 1.5 |",
        "|---|---:|---:|---:|:---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        plan = describe_plan(plan_of(r.row.framework, r.row.render_answers()))
        latencies = [
            f"{ms(_median(side, lambda run: run.load.p50_ms))} / "
            f"{ms(_median(side, lambda run: run.load.p99_ms))}"
            for side in (r.generated, r.twin)
        ]
        cells = [
            f"{_median(r.generated, lambda run: run.load.rps):.0f}",
            f"{_median(r.twin, lambda run: run.load.rps):.0f}",
            f"{100 * r.throughput_ratio:.1f} %",
            "yes" if r.throughput_ratio >= MIN_THROUGHPUT_RATIO else "no",
            *latencies,
            f"{_median(r.generated, lambda run: run.cpu_ms_per_request):.2f} / "
            f"{_median(r.twin, lambda run: run.cpu_ms_per_request):.2f}",
            f"{r.idle_rss_mb[0]:.0f} / {r.idle_rss_mb[1]:.0f}",
            f"{r.loaded_rss_mb[0]:.0f} / {r.loaded_rss_mb[1]:.0f}",
            f"{ms(r.fixed[0].p99_ms)} / {ms(r.fixed[1].p99_ms)} ({r.offered_rps:.0f} req/s)",
            f"{r.p99_ratio:.2f} {'(met)' if r.p99_ratio <= MAX_P99_RATIO else '(missed)'}",
        ]
        lines.append(f"| {r.row.label}: {plan} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def missed_goals(results: list[SaturationResult]) -> list[str]:
    missed = []
    for r in results:
        if r.throughput_ratio < MIN_THROUGHPUT_RATIO:
            missed.append(
                f"saturation below {100 * MIN_THROUGHPUT_RATIO:.0f} % of the twin: "
                f"{r.row.label}: {100 * r.throughput_ratio:.1f} %"
            )
        if r.p99_ratio > MAX_P99_RATIO:
            missed.append(
                f"p99 at {100 * FIXED_LOAD_SHARE:.0f} % load above {MAX_P99_RATIO} x the twin's: "
                f"{r.row.label}: {r.p99_ratio:.2f} x"
            )
    return missed
