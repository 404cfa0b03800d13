"""What each thing a generated service does per request costs, in microseconds, in-process.

The saturation table says how far a service is from its twin; this one says where the
gap goes. bench/inprocess.py, run with the services' runtime Python on core 0, serves
`GET /v1/demo/io?delay_ms=0` straight through the app object (no server, no socket) in
five variants that add the service's features one at a time:

  twin        the bare twin of the saturation table (same route signature)
  routes      the generated app without its request middleware, request log off
  middleware  plus the request middleware (request id, body limit, error catch, id header)
  no metrics  plus the request log line
  full        plus the Prometheus metrics: the service as it runs by default (a service
              whose plan has several workers writes them to files, as its server has it)
  caller id   the full service, the request bringing its own X-Request-ID
  api key     the full service with APP_AUTH_READS=true, the request sending an
              X-API-Key (the service is rendered with auth=api-key and two keys)
  jwt         the same service rendered with auth=jwt, run apart: its full variant
              without and with APP_AUTH_READS=true and an RS256 bearer token, verified
              against the JWKS the driver serves, cached after the warm-up's fetch
  traced      the full service with OpenTelemetry tracing on (an OTLP endpoint set)

Each row of the table is the difference of two variants' CPU time per request (each
variant's fastest of the rounds, which take turns), so the figures are what a feature
adds, on this machine; a line costs what a worker's core spends on it. Small
differences are within the noise of a shared machine (a few microseconds).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from apistarter.questions import Framework
from apistarter.render import available_frameworks
from bench.load import BARE_SOURCES, ENTRY_MODULE, SERVER_CORE, Workspace
from bench.saturation import ROWS as SATURATION_ROWS

DRIVER = Path(__file__).with_name("inprocess.py")
REQUESTS_PER_ROUND = 1000
ROUNDS_PER_SECOND = 1.5  # a round of every variant takes about half a second
COLUMNS = ("fastapi", "flask-gevent", "hybrid")  # rows of the saturation table

Timings = dict[str, float]


@dataclass(frozen=True)
class Feature:
    label: str
    cost: Callable[[Timings], float]


FEATURES = (
    Feature("Bare twin: the same route signature, nothing else", lambda t: t["twin"]),
    Feature(
        "Routing and route as generated (included routers, settings from app state; "
        "Flask: flask-openapi3's validation), vs the twin",
        lambda t: t["routes"] - t["twin"],
    ),
    Feature(
        "Request middleware: request id, body limit, error catch, X-Request-ID header",
        lambda t: t["middleware"] - t["routes"],
    ),
    Feature(
        "Of that: a fresh request id rather than the caller's X-Request-ID",
        lambda t: t["full"] - t["full_caller_id"],
    ),
    Feature(
        "Request log line (JSON on stdout; off with APP_LOG_LEVEL=WARNING)",
        lambda t: t["full_no_metrics"] - t["middleware"],
    ),
    Feature(
        "Prometheus metrics (duration histogram by route template, requests in flight; "
        "Flask: to files, both workers' sum)",
        lambda t: t["full"] - t["full_no_metrics"],
    ),
    Feature(
        "API key check (auth=api-key, reads protected: X-API-Key against two keys, "
        "constant-time, its id in the log line)",
        lambda t: t["full_api_key"] - t["full"],
    ),
    Feature(
        "JWT bearer check (auth=jwt, reads protected: RS256 verified with the cached JWKS, "
        "iss, aud, exp checked, its sub in the log line)",
        lambda t: t["full_jwt"] - t["full_jwt_base"],
    ),
    Feature(
        "OpenTelemetry tracing on (a sampled server span per request, batched; ids in the "
        "log line; OTLP encoding and export not counted). Off, as in every row above: "
        "nothing of it runs",
        lambda t: t["full_traced"] - t["full"],
    ),
    Feature("Generated service, in total (tracing off)", lambda t: t["full"]),
    Feature("Added by the service over its twin", lambda t: t["full"] - t["twin"]),
)


@dataclass(frozen=True)
class FeatureResult:
    label: str
    framework: Framework
    timings: Timings


def measure(workspace: Workspace, seconds: int) -> list[FeatureResult]:
    frameworks = available_frameworks()
    results = []
    for row in SATURATION_ROWS:
        if row.key not in COLUMNS or row.framework not in frameworks:
            continue
        twin = workspace.root / f"features-twin-{row.twin}.py"
        twin.write_text(BARE_SOURCES[row.twin])
        timings: Timings = {}
        for auth in ("api-key", "jwt"):
            service = workspace.generated(row.framework, {**row.render_answers(), "auth": auth})
            (entry,) = service.project.glob(f"src/*/{ENTRY_MODULE}")
            spec = {
                "auth": auth,
                "framework": row.framework,
                "src": str(entry.parent.parent),
                "package": entry.parent.name,
                "twin": str(twin),
                # Services whose plan has several workers count in files (metrics_files.py).
                "metrics_dir": str(workspace.root / f"features-metrics-{row.key}-{auth}")
                if (entry.parent / "metrics_files.py").exists()
                else "",
                "api_key": "bench-key-0123456789abcdef",
                "requests": REQUESTS_PER_ROUND,
                "rounds": max(3, round(seconds * ROUNDS_PER_SECOND)),
            }
            python = service.bin_dir / "python"
            command = ["taskset", "-c", SERVER_CORE, str(python), str(DRIVER), json.dumps(spec)]
            done = subprocess.run(command, capture_output=True, text=True, cwd=service.project)
            if done.returncode != 0:
                raise RuntimeError(f"{row.label}: bench/inprocess.py failed:\n{done.stderr}")
            timings |= json.loads(done.stdout)
        results.append(FeatureResult(row.label, row.framework, timings))
    return results


def table(results: list[FeatureResult]) -> str:
    header = " | ".join(result.label for result in results)
    lines = [
        f"| µs of CPU per request, in-process, `GET /v1/demo/io?delay_ms=0` | {header} |",
        "|---|" + "---:|" * len(results),
    ]
    for feature in FEATURES:
        cells = [f"{feature.cost(result.timings):.0f}" for result in results]
        lines.append(f"| {feature.label} | " + " | ".join(cells) + " |")
    shares = [f"{100 * (r.timings['full'] / r.timings['twin'] - 1):.0f} %" for r in results]
    lines.append("| Added, as a share of the twin's cost | " + " | ".join(shares) + " |")
    return "\n".join(lines)
