"""/livez keeps answering while the I/O route is saturated, for each server plan.

A kubelet restarts a pod whose liveness probe fails, by default after 1 s without
an answer; a service that stops answering /livez under load is restarted exactly
when it is busiest. So while hey holds 1000 clients on the I/O route, bench.probe
probes /livez the way a kubelet does (a new connection per probe, on a fixed
clock), but waits up to PROBE_TIMEOUT_S so slow answers are measured rather than
cut off. The probes' p99 must stay below 1 s. hey and the prober run on core 1,
the server on core 0.

The image sets WEB_LIVENESS_PORT, a second listener that answers /livez from its
own thread; the kubelet probes that port. The main port is probed alongside, to
show what the separate listener is for.

Every plan is rendered for what it meets here: I/O-bound, 1000 requests in flight.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from apistarter.questions import Framework
from bench.load import (
    CLIENT_CORE,
    Core0Steal,
    LoadReport,
    Workspace,
    describe_plan,
    hey_command,
    median_run,
    ms,
    parse_hey,
    pct,
    plan_of,
    serve_pinned,
    warm_up,
)
from bench.probe import ProbeReport
from bench.seed_benchmark import seed_service_answers
from tests.harness import free_port

REPO = Path(__file__).resolve().parents[1]
SATURATING_CLIENTS = 1000
PROBE_PATH = "/livez"
PROBES_PER_SECOND = 20
PROBE_TIMEOUT_S = 10
MAX_PROBE_P99_MS = 1000
RAMP_SECONDS = 2  # the saturating load is at full concurrency before the first probe


@dataclass(frozen=True)
class Plan:
    key: str
    label: str
    framework: Framework
    answers: dict[str, object] = field(default_factory=dict)
    io_path: str = "/v1/demo/io"

    def render_answers(self) -> dict[str, object]:
        return {**seed_service_answers(SATURATING_CLIENTS), **self.answers}


PLANS = (
    Plan("fastapi-kubernetes", "FastAPI, deploy=kubernetes", "fastapi", {"deploy": "kubernetes"}),
    Plan("fastapi-vm", "FastAPI, deploy=vm", "fastapi", {"deploy": "vm"}),
    # psycopg2 rules out gevent, so this is the plan's gthread answer to 1000 in flight.
    Plan(
        "flask-gthread", "Flask, blocking_deps=psycopg2", "flask", {"blocking_deps": ["psycopg2"]}
    ),
    Plan("flask-gevent", "Flask", "flask"),
    Plan("hybrid-fastapi", "Hybrid, load on the FastAPI route", "hybrid"),
    Plan(
        "hybrid-flask",
        "Hybrid, load on the mounted Flask route",
        "hybrid",
        io_path="/legacy/demo/io",
    ),
)


@dataclass(frozen=True)
class LivenessResult:
    plan: Plan
    io: LoadReport
    probe: ProbeReport
    main_port_probe: ProbeReport
    steal_pct: float

    @property
    def answered_in_time(self) -> bool:
        return self.probe.p99_ms < MAX_PROBE_P99_MS


def _probe_command(url: str, seconds: int) -> list[str]:
    return [
        *("taskset", "-c", CLIENT_CORE, sys.executable, "-m", "bench.probe", url),
        *("--seconds", str(seconds), "--rate", str(PROBES_PER_SECOND)),
        *("--timeout", str(PROBE_TIMEOUT_S)),
    ]


def _measure_once(plan: Plan, workspace: Workspace, seconds: int) -> LivenessResult:
    service = workspace.generated(plan.framework, plan.render_answers())
    liveness_port = free_port()
    with serve_pinned(service, {"WEB_LIVENESS_PORT": str(liveness_port)}) as server:
        io_url = server.base_url + plan.io_path
        warm_up(io_url, seconds)
        ramp = min(RAMP_SECONDS, seconds)
        # The load runs a second past the probes, so none of them sees it stop.
        saturating = subprocess.Popen(
            hey_command(io_url, ramp + seconds + 1, SATURATING_CLIENTS),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            time.sleep(ramp)
            with Core0Steal() as steal:
                probers = [
                    subprocess.Popen(
                        _probe_command(url + PROBE_PATH, seconds),
                        cwd=REPO,
                        stdout=subprocess.PIPE,
                        text=True,
                    )
                    for url in (f"http://127.0.0.1:{liveness_port}", server.base_url)
                ]
                liveness, main_port = (
                    ProbeReport.from_json(prober.communicate()[0]) for prober in probers
                )
            io_report, io_errors = saturating.communicate()
        finally:
            if saturating.poll() is None:
                saturating.kill()
                saturating.wait()
    if saturating.returncode != 0:
        raise RuntimeError(f"hey on {io_url} exited {saturating.returncode}:\n{io_errors}")
    return LivenessResult(plan, parse_hey(io_report), liveness, main_port, steal.pct)


def measure(plan: Plan, workspace: Workspace, seconds: int, repeat: int) -> LivenessResult:
    """The run with the median probe p99 of ``repeat`` runs."""
    runs = []
    for _ in range(repeat):
        runs.append(_measure_once(plan, workspace, seconds))
        time.sleep(1)
    return median_run(runs, key=lambda run: run.probe.p99_ms)


def table(results: list[LivenessResult]) -> str:
    lines = [
        f"| Plan (1 core; I/O route at {SATURATING_CLIENTS} clients) | I/O req/s | I/O p99 "
        f"| I/O failed | {PROBE_PATH} probes | failed | p50 | p99 | slowest answer "
        "| p99 < 1 s | main port p99 (not probed there) | core 0 stolen |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|:---:|---:|---:|",
    ]
    for r in results:
        plan = describe_plan(plan_of(r.plan.framework, r.plan.render_answers()))
        lines.append(
            f"| {r.plan.label}: {plan} | {r.io.rps:.0f} | {ms(r.io.p99_ms)} | {r.io.failed} | "
            f"{r.probe.probes} | {r.probe.failed} | {ms(r.probe.p50_ms)} | "
            f"{ms(r.probe.p99_ms)} | {ms(r.probe.slowest_ms)} | "
            f"{'yes' if r.answered_in_time else 'no'} | {ms(r.main_port_probe.p99_ms)} | "
            f"{pct(r.steal_pct)} |"
        )
    return "\n".join(lines)


def missed_goals(results: list[LivenessResult]) -> list[str]:
    return [
        f"{PROBE_PATH} too slow under saturation: {r.plan.label}: p99 {ms(r.probe.p99_ms)}, "
        f"{r.probe.failed} of {r.probe.probes} probes failed"
        for r in results
        if not r.answered_in_time
    ]
