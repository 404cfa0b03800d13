"""The cost of what apistarter generates around a route: /livez, generated vs bare.

/livez does no I/O, so its throughput is the per-request CPU of the stack. Each
generated service is measured beside its bare twin: the same project, server
command, settings and environment, with only the app swapped for the bare
framework's (bench.load.Workspace.bare_twin), its routes declared the way the
service declares them. The difference is the generated middleware, request log
and error handling. Goal: at most 20 % slower.

The apps of a row share core 0 and are loaded at the same time, one hey each.
This VM's core speed swings by a quarter from one 10 s run to the next, so apps
measured one after the other differed by more than what they cost; sharing the
core, every app sees the same swings, and the kernel gives each server (its own
session, so its own scheduling group) an equal share of the core. The ratio of
their throughputs is then the ratio of their costs per request; the absolute
figures are each app's share, not what it serves alone (the seed table has that).

FastAPI rows also run a twin with its routes on the app itself, the seed
article's way: the gap between the two twins is FastAPI's own per-request cost
of include_router, shown beside the goal rather than hidden in either figure.
A noise row runs the generated FastAPI service beside an unchanged copy of itself.
"""

from __future__ import annotations

import contextlib
import statistics
from dataclasses import dataclass

from apistarter.questions import Framework
from bench.load import (
    LoadReport,
    Workspace,
    describe_plan,
    pct,
    plan_of,
    serve_pinned,
    simultaneous_runs,
    warm_up,
)
from bench.seed_benchmark import CLIENTS, seed_service_answers

MAX_OVERHEAD = 0.20
TRIVIAL_ROUTE = "/livez"
# The seed's service: I/O-bound, 50 in flight. Its plan is what table 1 measures too.
ANSWERS = seed_service_answers(CLIENTS)
UNCHANGED = ""  # a twin that is an unchanged copy of the generated service


@dataclass(frozen=True)
class OverheadRow:
    key: str
    label: str
    framework: Framework
    twin: str  # the twin's app, a key of bench.load.BARE_SOURCES, or UNCHANGED
    # Flask blueprints are merged into the app's URL map when registered, so they
    # cost nothing per request and Flask rows need no second twin.
    twin_routes_on_app: str | None = None


ROWS = (
    OverheadRow("fastapi", "FastAPI", "fastapi", "fastapi-router", "fastapi"),
    OverheadRow("flask", "Flask", "flask", "flask"),
    OverheadRow("hybrid", "Hybrid (vs bare FastAPI)", "hybrid", "fastapi-router", "fastapi"),
    OverheadRow("noise", "Noise floor: FastAPI vs an unchanged copy", "fastapi", UNCHANGED),
)


@dataclass(frozen=True)
class OverheadResult:
    """Simultaneous runs, one list per round: generated, twin[, twin with routes on the app]."""

    row: OverheadRow
    rounds: list[list[LoadReport]]

    def _rps(self, index: int) -> float:
        return statistics.median(reports[index].rps for reports in self.rounds)

    def _slower(self, index: int) -> float:
        """The median over rounds of how much slower the generated app was than app ``index``."""
        return statistics.median(1 - r[0].rps / r[index].rps for r in self.rounds)

    @property
    def overhead(self) -> float:
        return self._slower(1)

    def cells(self) -> list[str]:
        on_app = ["n/a", "n/a"]
        if self.row.twin_routes_on_app is not None:
            on_app = [f"{self._rps(2):.0f}", f"{100 * self._slower(2):.1f} %"]
        steal = statistics.median(reports[0].steal_pct for reports in self.rounds)
        return [
            f"{self._rps(0):.0f}",
            f"{self._rps(1):.0f}",
            f"{100 * self.overhead:.1f} %",
            "yes" if self.overhead <= MAX_OVERHEAD else "no",
            *on_app,
            pct(steal),
        ]


def measure(row: OverheadRow, workspace: Workspace, seconds: int, repeat: int) -> OverheadResult:
    generated = workspace.generated(row.framework, ANSWERS)
    twins = [row.twin] + ([row.twin_routes_on_app] if row.twin_routes_on_app else [])
    services = [generated] + [
        workspace.copy_of(generated, "copy")
        if twin == UNCHANGED
        else workspace.bare_twin(generated, twin)
        for twin in twins
    ]
    with contextlib.ExitStack() as running:
        urls = [
            running.enter_context(serve_pinned(service)).base_url + TRIVIAL_ROUTE
            for service in services
        ]
        for url in urls:
            warm_up(url, seconds)
        rounds = [simultaneous_runs(urls, seconds, CLIENTS) for _ in range(repeat)]
    return OverheadResult(row, rounds)


def table(results: list[OverheadResult]) -> str:
    lines = [
        f"| {TRIVIAL_ROUTE}, core 0 shared by the row's apps, {CLIENTS} clients each "
        "(server plan) | generated req/s | bare twin req/s | slower by | goal <= 20 % "
        "| bare FastAPI, routes on the app, req/s | generated slower than it "
        "| core 0 stolen |",
        "|---|---:|---:|---:|:---:|---:|---:|---:|",
    ]
    for result in results:
        plan = describe_plan(plan_of(result.row.framework, ANSWERS))
        lines.append(f"| {result.row.label}: {plan} | " + " | ".join(result.cells()) + " |")
    return "\n".join(lines)


def missed_goals(results: list[OverheadResult]) -> list[str]:
    return [
        f"overhead above {100 * MAX_OVERHEAD:.0f} %: {r.row.label}: {100 * r.overhead:.1f} %"
        for r in results
        if r.overhead > MAX_OVERHEAD
    ]
