"""The cost of what apistarter generates around a route: /livez, generated vs bare.

/livez does no I/O, so its throughput is the per-request CPU of the stack. Each
generated service is measured beside its bare twin: the same project, server
command, settings and environment, with only the app swapped for the bare
framework's (bench.load.Workspace.bare_twin). The difference is the generated
middleware, request log and error handling. Goal: at most 20 % slower.

Generated and bare runs alternate, so drift in this VM's speed hits both alike.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from operator import attrgetter

from apistarter.questions import Framework
from apistarter.render import available_frameworks
from bench.load import (
    LoadReport,
    Service,
    Workspace,
    describe_plan,
    measured_run,
    median_run,
    ms,
    pct,
    plan_of,
    serve_pinned,
    warm_up,
)
from bench.seed_benchmark import CLIENTS

MAX_OVERHEAD = 0.20
TRIVIAL_ROUTE = "/livez"
# The seed's service: I/O-bound, 50 in flight. Its plan is what table 1 measures too.
ANSWERS = {"workload": "io-bound", "peak_concurrency": CLIENTS}


@dataclass(frozen=True)
class OverheadRow:
    key: str
    label: str
    framework: Framework


ROWS = (
    OverheadRow("fastapi", "FastAPI", "fastapi"),
    OverheadRow("flask", "Flask", "flask"),
    OverheadRow("hybrid", "Hybrid (vs bare FastAPI)", "hybrid"),
)


@dataclass(frozen=True)
class OverheadResult:
    row: OverheadRow
    generated: LoadReport
    bare: LoadReport

    @property
    def overhead(self) -> float:
        """How much slower the generated service is than the bare app, as a fraction."""
        return 1 - self.generated.rps / self.bare.rps


def selected_rows(prefix: str) -> list[OverheadRow]:
    frameworks = available_frameworks()
    return [row for row in ROWS if row.key.startswith(prefix) and row.framework in frameworks]


def _run(service: Service, seconds: int) -> LoadReport:
    with serve_pinned(service) as server:
        url = server.base_url + TRIVIAL_ROUTE
        warm_up(url, seconds)
        return measured_run(url, seconds, CLIENTS)


def measure(row: OverheadRow, workspace: Workspace, seconds: int, repeat: int) -> OverheadResult:
    generated = workspace.generated(row.framework, ANSWERS)
    bare = workspace.bare_twin(generated, row.framework)
    generated_runs, bare_runs = [], []
    for _ in range(repeat):
        generated_runs.append(_run(generated, seconds))
        time.sleep(1)
        bare_runs.append(_run(bare, seconds))
        time.sleep(1)
    by_rps = attrgetter("rps")
    return OverheadResult(row, median_run(generated_runs, by_rps), median_run(bare_runs, by_rps))


def table(results: list[OverheadResult]) -> str:
    lines = [
        f"| {TRIVIAL_ROUTE} on 1 core, {CLIENTS} clients (server plan) | generated req/s "
        "| bare req/s | slower by | goal <= 20 % | generated p99 | bare p99 | core 0 stolen |",
        "|---|---:|---:|---:|:---:|---:|---:|---:|",
    ]
    for r in results:
        plan = describe_plan(plan_of(r.row.framework, ANSWERS))
        steal = f"{pct(r.generated.steal_pct)} / {pct(r.bare.steal_pct)}"
        lines.append(
            f"| {r.row.label}: {plan} | {r.generated.rps:.0f} | {r.bare.rps:.0f} | "
            f"{100 * r.overhead:.1f} % | {'yes' if r.overhead <= MAX_OVERHEAD else 'no'} | "
            f"{ms(r.generated.p99_ms)} | {ms(r.bare.p99_ms)} | {steal} |"
        )
    return "\n".join(lines)


def missed_goals(results: list[OverheadResult]) -> list[str]:
    return [
        f"overhead above {100 * MAX_OVERHEAD:.0f} %: {r.row.label}: {100 * r.overhead:.1f} %"
        for r in results
        if r.overhead > MAX_OVERHEAD
    ]
