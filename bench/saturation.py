"""What a generated service costs once its core is busy: the I/O route at 1000 clients.

Each row loads a generated service's `/v1/demo/io` and a bare twin with the same
route signature (an optional bounded int query, a Pydantic response model) and the
same server plan (bench.load.Workspace.bare_twin keeps the command, its config and
environment; only the app differs). As in the overhead table, both apps share core 0
and are loaded at the same time, one hey each on core 1, so the VM's speed swings hit
both alike and the ratio of their throughputs is the ratio of their costs.

Beside throughput and latency at saturation, it reads from /proc the CPU each server
spent per answered request and the resident memory of each worker process, idle and
under load. Then each app alone is offered the same fixed load, where a p99 says
something about the service rather than about a queue: goal, the generated p99 at
most 1.5 times the twin's. Each round first measures both apps' throughput alone at
saturation, then offers each, alone, 70 % of the lower of the two (the twin's,
whenever the generated service keeps up with it) from bench.openloop, an open-loop
generator that sends on a fixed schedule and times each answer from its scheduled
send, so a stalled server is charged for every request it delayed (`hey -q` is a
closed loop: its clients wait for answers, and the tail goes unmeasured). These runs
take turns rather than share the core, since an offered load is no longer a share
of the core; the round with the median p99 ratio is shown.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from apistarter.questions import Framework
from bench.load import (
    ENTRY_MODULE,
    LoadReport,
    Service,
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
from bench.openloop import OpenLoopReport, offered_run
from bench.runtime import project_requirements
from bench.seed_benchmark import seed_service_answers
from tests.harness import proc_stat_fields

CLIENTS = 1000
IO_ROUTE = "/v1/demo/io"
MIN_THROUGHPUT_RATIO = 0.85
FIXED_LOAD_SHARE = 0.70
MAX_P99_RATIO = 1.5
# The open-loop generator's own lateness beyond which it, not the server, shapes the tail.
MAX_GENERATOR_LAG_MS = 10
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class SaturationRow:
    key: str
    label: str
    framework: Framework
    twin: str  # a key of bench.load.BARE_SOURCES, or GRANIAN_TWIN
    answers: dict[str, object] = field(default_factory=dict)
    # The answers (over the seed's) the bare twin's service is rendered with, when not the
    # row's own: the twin then runs on that plan's server (the one peers ship), not the row's.
    twin_answers: dict[str, object] | None = None
    twin_framework: Framework | None = None  # the twin's plan's framework, when not the row's
    route: str = IO_ROUTE  # the generated service's; the twin always serves IO_ROUTE
    # The load's clients; the services are planned for CLIENTS whatever the load.
    clients: int = CLIENTS

    def render_answers(self) -> dict[str, object]:
        return {**seed_service_answers(CLIENTS), **self.answers}

    def twin_render(self) -> tuple[Framework, dict[str, object]]:
        """The framework and answers of the service whose server plan the bare twin runs on."""
        if self.twin_answers is None:
            return self.framework, self.render_answers()
        twin_answers = {**seed_service_answers(CLIENTS), **self.twin_answers}
        return self.twin_framework or self.framework, twin_answers


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
    # Issue 28: the FastAPI plan (Granian, through its launcher) against a bare FastAPI app
    # on Uvicorn, the server FastAPI templates ship: the measurement the plan's choice cites.
    SaturationRow(
        "fastapi-granian",
        "FastAPI plan on Granian (vs bare FastAPI on Uvicorn)",
        "fastapi",
        "fastapi-io",
        {"server": "granian"},
        twin_answers={"server": "uvicorn"},
    ),
    # The high-concurrency Flask service on Granian (server=granian) against a bare Flask
    # app on the plan's Gunicorn gevent, what peers ship for Flask at 1000 in flight.
    SaturationRow(
        "flask-granian",
        "Flask, server=granian (vs bare Flask on Gunicorn gevent)",
        "flask",
        "flask-io",
        {"server": "granian"},
        twin_answers={"server": "gunicorn"},
    ),
    # The same against a bare Flask app on Gunicorn gthread, the other server peers ship
    # (psycopg2 rules gevent out and gives the gthread plan).
    SaturationRow(
        "flask-granian-gthread",
        "Flask, server=granian (vs bare Flask on Gunicorn gthread)",
        "flask",
        "flask-io",
        {"server": "granian"},
        twin_answers={"blocking_deps": ["psycopg2"]},
    ),
    # Whether Granian lifts the a2wsgi ceiling: the hybrid's mounted Flask route, on its
    # Uvicorn plan and on Granian, against a bare Flask app on Gunicorn gthread.
    SaturationRow(
        "hybrid-mounted",
        "Hybrid, mounted Flask route (vs bare Flask on Gunicorn gthread)",
        "hybrid",
        "flask-io",
        twin_answers={"blocking_deps": ["psycopg2"]},
        twin_framework="flask",
        route="/legacy/demo/io",
    ),
    SaturationRow(
        "hybrid-mounted-granian",
        "Hybrid on Granian, mounted Flask route (vs bare Flask on Gunicorn gthread)",
        "hybrid",
        "flask-io",
        {"server": "granian"},
        twin_answers={"blocking_deps": ["psycopg2"]},
        twin_framework="flask",
        route="/legacy/demo/io",
    ),
    # The Granian rows again at 50 clients: the same services, a light load.
    SaturationRow(
        "fastapi-granian-50",
        "FastAPI plan on Granian (vs bare FastAPI on Uvicorn), 50 clients",
        "fastapi",
        "fastapi-io",
        {"server": "granian"},
        twin_answers={"server": "uvicorn"},
        clients=50,
    ),
    SaturationRow(
        "flask-granian-50",
        "Flask, server=granian (vs bare Flask on Gunicorn gevent), 50 clients",
        "flask",
        "flask-io",
        {"server": "granian"},
        twin_answers={"server": "gunicorn"},
        clients=50,
    ),
)
# The same generated services under Granian (issue 18, item 5) against their plan's
# server: a row with this twin pairs (the service under Granian, the service as planned).
GRANIAN_TWIN = "granian"
GRANIAN_ROWS = (
    # FastAPI on the server it was first measured against (its plan now picks Granian).
    SaturationRow("fastapi", "FastAPI", "fastapi", GRANIAN_TWIN, {"server": "uvicorn"}),
    SaturationRow("flask-gevent", "Flask", "flask", GRANIAN_TWIN),
    SaturationRow("hybrid", "Hybrid, FastAPI route", "hybrid", GRANIAN_TWIN),
)
GRANIAN = "granian==2.8.9"  # the version measured in docs/benchmarks.md
# Per worker, for WSGI apps, whose requests block a thread each: 200 threads serve
# 4000 req/s of a 50 ms route, above what one core makes of any Flask service here.
GRANIAN_WSGI_THREADS = 200


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
class FixedLoad:
    """One round's open-loop runs: each app alone, offered the same rate."""

    rate: float  # FIXED_LOAD_SHARE of the lower of the two capacities
    capacity: tuple[float, float]  # req/s alone at the row's clients, right before
    reports: tuple[OpenLoopReport, OpenLoopReport]

    @property
    def p99_ratio(self) -> float:
        return self.reports[0].load.p99_ms / self.reports[1].load.p99_ms


@dataclass(frozen=True)
class SaturationResult:
    row: SaturationRow
    generated: list[AppRun]  # one per round
    twin: list[AppRun]
    offered: list[FixedLoad]  # one per round
    idle_rss_mb: tuple[float, float]
    loaded_rss_mb: tuple[float, float]

    @property
    def throughput_ratio(self) -> float:
        rounds = zip(self.generated, self.twin, strict=True)
        return statistics.median(g.load.rps / t.load.rps for g, t in rounds)

    @property
    def fixed(self) -> FixedLoad:
        """The round with the median p99 ratio (the upper middle for an even count)."""
        return median_run(self.offered, lambda load: load.p99_ratio)

    @property
    def p99_ratio(self) -> float:
        return self.fixed.p99_ratio

    @property
    def generator_lag_ms(self) -> list[float]:
        return [report.generator_p99_lag_ms for load in self.offered for report in load.reports]


def timed_runs(
    urls: Sequence[str],
    leaders: Sequence[int],
    seconds: float,
    clients: int = CLIENTS,
    **options: Any,
) -> list[AppRun]:
    """simultaneous_runs at ``clients`` clients, with each server's CPU per answered request."""
    before = [cpu_seconds(leader) for leader in leaders]
    reports = simultaneous_runs(urls, seconds, clients, **options)
    spent = [cpu_seconds(leader) - start for leader, start in zip(leaders, before, strict=True)]
    return [
        AppRun(report, 1000 * cpu / max(1.0, report.rps * seconds))
        for report, cpu in zip(reports, spent, strict=True)
    ]


def granian_service(workspace: Workspace, generated: Service, row: SaturationRow) -> Service:
    """The generated service served by Granian, with its plan's worker count."""
    (entry,) = generated.project.glob(f"src/*/{ENTRY_MODULE}")
    plan = plan_of(row.framework, row.render_answers())
    options = f"--workers {plan.workers} --no-access-log"
    if row.framework == "flask":
        options = f"--interface wsgi --blocking-threads {GRANIAN_WSGI_THREADS} {options}"
    else:
        options = f"--interface asgi {options}"
    app = f"{entry.parent.name}.{ENTRY_MODULE.removesuffix('.py')}:app"
    command = f'exec granian {options} --host "$HOST" --port "$PORT" {app}'
    requirements = [*project_requirements(generated.project), GRANIAN]
    return replace(
        generated, command=["sh", "-c", command], bin_dir=workspace.runtime.bin_dir(requirements)
    )


@contextlib.contextmanager
def _pair(row: SaturationRow, workspace: Workspace) -> Iterator[tuple[list[str], list[int]]]:
    """The row's two servers: (generated, bare twin), or (Granian, the plan's server)."""
    generated = workspace.generated(row.framework, row.render_answers())
    if row.twin == GRANIAN_TWIN:
        pair = (granian_service(workspace, generated, row), generated)
    else:  # the row's own service when its twin_render is the row's (rendered once)
        peer = workspace.generated(*row.twin_render())
        pair = (generated, workspace.bare_twin(peer, row.twin))
    with contextlib.ExitStack() as running:
        servers = [running.enter_context(serve_pinned(s)) for s in pair]
        routes = (row.route, IO_ROUTE)
        yield (
            [s.base_url + route for s, route in zip(servers, routes, strict=True)],
            [s.process.pid for s in servers],
        )


def _capacities(urls: Sequence[str], seconds: float, round_index: int, clients: int) -> list[float]:
    """Each app's throughput alone at ``clients`` clients, in alternating order per round."""
    order = list(range(len(urls)))[:: 1 if round_index % 2 == 0 else -1]
    rps = {side: measured_run(urls[side], seconds, clients).rps for side in order}
    return [rps[side] for side in range(len(urls))]


def measure(
    row: SaturationRow, workspace: Workspace, seconds: int, repeat: int
) -> SaturationResult:
    with _pair(row, workspace) as (urls, leaders):
        for url in urls:
            warm_up(url, seconds, row.clients)
        idle = (worker_rss_mb(leaders[0]), worker_rss_mb(leaders[1]))
        with PeakRss(leaders) as peaks:
            rounds = [timed_runs(urls, leaders, seconds, row.clients) for _ in range(repeat)]
        generated, twin = [run[0] for run in rounds], [run[1] for run in rounds]
        # Both capacities are measured again, alone, right before each round's offered
        # runs, and the offer is a share of the lower one: measured once, the VM's
        # drift could carry it past what one app can serve, and that app's p99 would
        # be its queue, not its cost.
        offered: list[FixedLoad] = []
        for round_index in range(repeat):
            capacity = _capacities(urls, seconds, round_index, row.clients)
            rate = FIXED_LOAD_SHARE * min(capacity)
            reports = [offered_run(url, rate, seconds, row.clients) for url in urls]
            offered.append(FixedLoad(rate, (capacity[0], capacity[1]), (reports[0], reports[1])))
    return SaturationResult(row, generated, twin, offered, idle, (peaks.peaks[0], peaks.peaks[1]))


def table(results: list[SaturationResult], sides: tuple[str, str] = ("generated", "twin")) -> str:
    """The results as a Markdown table; ``sides`` names the two servers of each row.

    Rows that compare two servers (GRANIAN_ROWS) have no goal columns.
    """
    a, b = sides
    goals = all(r.row.twin != GRANIAN_TWIN for r in results)
    headers = [
        f"I/O route, {CLIENTS} clients each unless the row says, core 0 shared by {a} and {b} "
        "(server plan)",
        f"{a} req/s",
        f"{b} req/s",
        f"{a} / {b}",
        *([f"goal >= {100 * MIN_THROUGHPUT_RATIO:.0f} %"] if goals else []),
        f"p50 / p99 {a}",
        f"p50 / p99 {b}",
        f"CPU ms/request {a} / {b}",
        f"RSS/worker idle, MB ({a} / {b})",
        "under load",
        f"open loop at {100 * FIXED_LOAD_SHARE:.0f} % of the lower req/s alone: "
        f"p99 {a} / {b} (offered; req/s alone {a} / {b})",
        f"p99 ratio, goal <= {MAX_P99_RATIO}" if goals else "p99 ratio",
    ]
    alignment = ["---", *(":---:" if h.startswith("goal") else "---:" for h in headers[1:])]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(alignment) + "|"]
    for r in results:
        plan = describe_plan(plan_of(r.row.framework, r.row.render_answers()))
        latencies = [
            f"{ms(_median(side, lambda run: run.load.p50_ms))} / "
            f"{ms(_median(side, lambda run: run.load.p99_ms))}"
            for side in (r.generated, r.twin)
        ]
        p99_met = " (met)" if r.p99_ratio <= MAX_P99_RATIO else " (missed)"
        cells = [
            f"{_median(r.generated, lambda run: run.load.rps):.0f}",
            f"{_median(r.twin, lambda run: run.load.rps):.0f}",
            f"{100 * r.throughput_ratio:.1f} %",
            *(["yes" if r.throughput_ratio >= MIN_THROUGHPUT_RATIO else "no"] if goals else []),
            *latencies,
            f"{_median(r.generated, lambda run: run.cpu_ms_per_request):.2f} / "
            f"{_median(r.twin, lambda run: run.cpu_ms_per_request):.2f}",
            f"{r.idle_rss_mb[0]:.0f} / {r.idle_rss_mb[1]:.0f}",
            f"{r.loaded_rss_mb[0]:.0f} / {r.loaded_rss_mb[1]:.0f}",
            f"{ms(r.fixed.reports[0].load.p99_ms)} / {ms(r.fixed.reports[1].load.p99_ms)} "
            f"({r.fixed.rate:.0f} req/s; alone {r.fixed.capacity[0]:.0f} / "
            f"{r.fixed.capacity[1]:.0f})",
            f"{r.p99_ratio:.2f}{p99_met if goals else ''}",
        ]
        lines.append(f"| {r.row.label}: {plan} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def missed_goals(results: list[SaturationResult]) -> list[str]:
    missed = []
    for r in results:
        if r.row.twin == GRANIAN_TWIN:
            pass  # two servers compared: no goal, only the generator's soundness below
        elif r.throughput_ratio < MIN_THROUGHPUT_RATIO:
            missed.append(
                f"saturation below {100 * MIN_THROUGHPUT_RATIO:.0f} % of the twin: "
                f"{r.row.label}: {100 * r.throughput_ratio:.1f} %"
            )
        if r.row.twin != GRANIAN_TWIN and r.p99_ratio > MAX_P99_RATIO:
            missed.append(
                f"p99 at {100 * FIXED_LOAD_SHARE:.0f} % load above {MAX_P99_RATIO} x the twin's: "
                f"{r.row.label}: {r.p99_ratio:.2f} x"
            )
        if (lag := max(r.generator_lag_ms)) > MAX_GENERATOR_LAG_MS:
            missed.append(
                f"the open-loop generator sent up to {lag:.0f} ms late (p99) on "
                f"{r.row.label}: its p99 column measures the generator too"
            )
    return missed
