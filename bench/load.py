"""What every benchmark here shares: rendered services, pinned servers, hey and its report.

The server always runs on core 0 and every load generator on core 1, so the
server's core is measured alone; the share of core 0 the hypervisor steals while a
measurement runs is reported beside it, because on this shared VM it moves the
numbers more than most code changes do.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, TypeVar

from apistarter.decision import decide
from apistarter.questions import DecisionAnswers, Framework
from apistarter.render import available_frameworks
from apistarter.server import UVICORN_WORKER, ServerPlan
from bench.runtime import BARE_REQUIREMENTS, Runtime, image_python, project_requirements
from tests.harness import (
    BIN,
    RunningServer,
    dockerfile_instruction,
    free_port,
    image_env,
    render_service,
    serve,
)

SERVER_CORE = "0"
CLIENT_CORE = "1"
# The image sets it (Dockerfile ENV); see serve_pinned.
LIVENESS_PORT = "WEB_LIVENESS_PORT"
DELAY_MS = 50
WARM_UP_SECONDS = 2
ENTRY_MODULE = "main.py"  # `<package>.main:app`, what every generated server command imports

# The seed article's two endpoints, as FastAPI declares them: `routes` is the app itself
# here, or an APIRouter the app includes (below).
_FASTAPI_ENDPOINTS = (
    "@routes.get('/v1/demo/io')\nasync def io() -> dict[str, int]:\n"
    "    await asyncio.sleep(0.05)\n    return {'waited_ms': 50}\n"
    "@routes.get('/livez')\nasync def livez() -> dict[str, str]:\n    return {'status': 'ok'}\n"
)
# Bare apps: the ceiling each framework reaches on this machine without anything
# apistarter generates around it.
BARE_SOURCES: dict[str, str] = {
    # The seed article's app: routes on the app itself.
    "fastapi": (
        "import asyncio\nfrom fastapi import FastAPI\napp = routes = FastAPI()\n"
        + _FASTAPI_ENDPOINTS
    ),
    # Routes on an APIRouter that the app includes, as generated services (and FastAPI's
    # guide to apps of more than one module) declare them. Since FastAPI 0.137 an included
    # router stays a node of its own that every request is matched through again: a cost
    # of that layout in FastAPI itself, which this twin pays like the generated service.
    "fastapi-router": (
        "import asyncio\nfrom fastapi import APIRouter, FastAPI\napp = FastAPI()\n"
        "routes = APIRouter()\n" + _FASTAPI_ENDPOINTS + "app.include_router(routes)\n"
    ),
    # Twins of the services' I/O route with its signature: an optional bounded int
    # query validated by Pydantic, a Pydantic response model, the route on a router.
    "fastapi-io": (
        "import asyncio\nfrom typing import Annotated\n"
        "from fastapi import APIRouter, FastAPI, Query\nfrom pydantic import BaseModel\n"
        "class IoResult(BaseModel):\n    waited_ms: int\n"
        "app = FastAPI()\nroutes = APIRouter()\n"
        "@routes.get('/v1/demo/io')\n"
        "async def io(delay_ms: Annotated[int | None, Query(ge=0, le=5000)] = None) -> IoResult:\n"
        "    waited = 50 if delay_ms is None else delay_ms\n"
        "    await asyncio.sleep(waited / 1000)\n    return IoResult(waited_ms=waited)\n"
        "@routes.get('/livez')\nasync def livez() -> dict[str, str]:\n    return {'status': 'ok'}\n"
        "app.include_router(routes)\n"
    ),
    "flask-io": (
        "import time\nfrom flask import Flask, request\n"
        "from pydantic import BaseModel, Field, ValidationError\n"
        "class DemoQuery(BaseModel):\n"
        "    delay_ms: int | None = Field(default=None, ge=0, le=5000)\n"
        "class IoResult(BaseModel):\n    waited_ms: int\n"
        "app = Flask(__name__)\n"
        "@app.get('/v1/demo/io')\ndef io() -> object:\n"
        "    try:\n        query = DemoQuery.model_validate(request.args.to_dict())\n"
        "    except ValidationError as error:\n"
        "        return {'detail': error.errors(include_url=False)}, 422\n"
        "    waited = 50 if query.delay_ms is None else query.delay_ms\n"
        "    time.sleep(waited / 1000)\n    return IoResult(waited_ms=waited).model_dump()\n"
        "@app.get('/livez')\ndef livez() -> dict[str, str]:\n    return {'status': 'ok'}\n"
    ),
    # Twins of the services' database route (bench.database): the same SELECT by primary
    # key through SQLAlchemy, on the engine the service's own db.py builds from its own
    # settings (driver, pool size, checkout and statement timeouts, pre-ping), and a
    # Pydantic response model; and, like the service, a 503 when no connection frees up
    # within the checkout timeout (uncaught, that wait ends in a 500 and a logged
    # traceback, which costs the twin more than the service's answer costs it). Nothing
    # else. They replace the service's main.py, so they import its modules relatively.
    "fastapi-db": (
        "from decimal import Decimal\n"
        "from fastapi import APIRouter, FastAPI, HTTPException, Request\n"
        "from fastapi.responses import JSONResponse\nfrom pydantic import BaseModel\n"
        "from sqlalchemy.exc import TimeoutError as PoolTimeout\n"
        "from .db import create_engine_for, sessions_for\n"
        "from .settings import DatabaseSettings\nfrom .tables import ItemRow\n"
        "class Item(BaseModel):\n    id: int\n    name: str\n    price: Decimal\n"
        "    tags: list[str]\n"
        "sessions = sessions_for(create_engine_for(DatabaseSettings()))\n"
        "app = FastAPI()\nroutes = APIRouter()\n"
        "@app.exception_handler(PoolTimeout)\n"
        "async def busy(request: Request, error: PoolTimeout) -> JSONResponse:\n"
        "    return JSONResponse({'detail': 'busy'}, status_code=503)\n"
        "@routes.get('/v1/items/{item_id}')\nasync def get_item(item_id: int) -> Item:\n"
        "    async with sessions() as session:\n"
        "        row = await session.get(ItemRow, item_id)\n"
        "        if row is None:\n            raise HTTPException(404)\n"
        "        return Item(id=row.id, name=row.name, price=row.price, tags=list(row.tags))\n"
        "@routes.get('/livez')\nasync def livez() -> dict[str, str]:\n    return {'status': 'ok'}\n"
        "app.include_router(routes)\n"
    ),
    "flask-db": (
        "from decimal import Decimal\n"
        "from flask import Flask, abort\nfrom pydantic import BaseModel\n"
        "from sqlalchemy.exc import TimeoutError as PoolTimeout\n"
        "from .db import create_engine_for, sessions_for\n"
        "from .settings import DatabaseSettings\nfrom .tables import ItemRow\n"
        "class Item(BaseModel):\n    id: int\n    name: str\n    price: Decimal\n"
        "    tags: list[str]\n"
        "sessions = sessions_for(create_engine_for(DatabaseSettings()))\n"
        "app = Flask(__name__)\n"
        "@app.errorhandler(PoolTimeout)\ndef busy(error: PoolTimeout) -> object:\n"
        "    return {'detail': 'busy'}, 503\n"
        "@app.get('/v1/items/<int:item_id>')\ndef get_item(item_id: int) -> object:\n"
        "    with sessions() as session:\n"
        "        row = session.get(ItemRow, item_id)\n"
        "        if row is None:\n            abort(404)\n"
        "        item = Item(id=row.id, name=row.name, price=row.price, tags=list(row.tags))\n"
        "        return item.model_dump(mode='json')\n"
        "@app.get('/livez')\ndef livez() -> dict[str, str]:\n    return {'status': 'ok'}\n"
    ),
    "flask": (
        "import time\nfrom flask import Flask\napp = Flask(__name__)\n"
        "@app.get('/v1/demo/io')\ndef io() -> dict[str, int]:\n"
        "    time.sleep(0.05)\n    return {'waited_ms': 50}\n"
        "@app.get('/livez')\ndef livez() -> dict[str, str]:\n    return {'status': 'ok'}\n"
    ),
}


def limit_rps(clients: int) -> float:
    """The ceiling when each client waits DELAY_MS per request."""
    return clients * 1000 / DELAY_MS


@dataclass(frozen=True)
class Service:
    """A project directory and the command (and environment) that serves it.

    The command's programs (python, gunicorn) are looked up in ``bin_dir`` first.
    """

    project: Path
    command: list[str]
    env: Mapping[str, str] = field(default_factory=dict)
    bin_dir: Path = BIN


@contextlib.contextmanager
def serve_pinned(
    service: Service, extra_env: Mapping[str, str] | None = None
) -> Iterator[RunningServer]:
    """Serve on core 0, with the seed's downstream delay, until the block ends.

    A service whose image answers liveness on a port of its own gets a free one here,
    so two services can run side by side.
    """
    command = ["taskset", "-c", SERVER_CORE, *service.command]
    image = dict(service.env)
    if LIVENESS_PORT in image:
        image[LIVENESS_PORT] = str(free_port())
    env = {"APP_DOWNSTREAM_DELAY_MS": str(DELAY_MS), **image, **(extra_env or {})}
    with serve(service.project, command, env, bin_dir=service.bin_dir) as server:
        yield server


class Keyed(Protocol):
    """A benchmark row: chosen by its key, run only where its framework renders."""

    @property
    def key(self) -> str: ...

    @property
    def framework(self) -> str: ...


K = TypeVar("K", bound=Keyed)


def selected(rows: Sequence[K], prefixes: str) -> list[K]:
    """The rows whose key starts with one of the comma-separated ``prefixes`` ("" is all)
    and whose framework this apistarter renders."""
    wanted = tuple(prefix.strip() for prefix in prefixes.split(","))
    frameworks = available_frameworks()
    return [row for row in rows if row.key.startswith(wanted) and row.framework in frameworks]


def plan_of(framework: Framework, answers: Mapping[str, Any]) -> ServerPlan:
    return decide(DecisionAnswers.model_validate(dict(answers)), framework).server


def describe_plan(plan: ServerPlan) -> str:
    """The plan in a table cell: server, worker class, workers and threads."""
    workers = f"{plan.workers} worker{'s' if plan.workers > 1 else ''}"
    if plan.server in ("uvicorn", "granian"):
        return f"{plan.server.title()}, {workers}, {plan.threads} threads for sync code"
    if plan.worker_class == UVICORN_WORKER:
        return f"Gunicorn + UvicornWorker, {workers}, {plan.threads} threads for sync code"
    if plan.worker_class == "gthread":
        return f"Gunicorn gthread, {workers} x {plan.threads} threads"
    return f"Gunicorn {plan.worker_class}, {workers}"


class Workspace:
    """A scratch directory of services; each distinct render happens once per run."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._rendered: dict[str, Path] = {}
        self.runtime = Runtime(root)

    def generated(self, framework: Framework, answers: Mapping[str, Any]) -> Service:
        """A service rendered with these answers, run by its Dockerfile's CMD and ENV."""
        key = f"{framework}:{json.dumps(dict(answers), sort_keys=True)}"
        if key not in self._rendered:
            destination = self.root / f"{framework}-{len(self._rendered)}"
            self._rendered[key] = render_service(destination, framework, answers)
        project = self._rendered[key]
        if image_python(project) != self.runtime.version:
            raise ValueError(f"{project} is not built on Python {self.runtime.version}")
        bin_dir = self.runtime.bin_dir(project_requirements(project))
        command = dockerfile_instruction(project, "CMD")
        return Service(project, command, image_env(project), bin_dir)

    def bare(self, framework: str, command: list[str]) -> Service:
        """The bare app as ``bare_app.py`` in an otherwise empty project."""
        project = self.root / f"bare-{framework}"
        if not project.exists():
            (project / "src").mkdir(parents=True)  # the harness puts src on PYTHONPATH
            (project / "bare_app.py").write_text(BARE_SOURCES[framework])
        return Service(project, command, bin_dir=self.runtime.bin_dir(BARE_REQUIREMENTS[framework]))

    def copy_of(self, service: Service, suffix: str) -> Service:
        """The service in a copy of its project directory, named with ``suffix``."""
        copy = service.project.with_name(f"{service.project.name}-{suffix}")
        if not copy.exists():
            shutil.copytree(service.project, copy, ignore=shutil.ignore_patterns(".git"))
        return replace(service, project=copy)

    def bare_twin(self, generated: Service, bare_source: str) -> Service:
        """A copy of a generated service whose app is ``BARE_SOURCES[bare_source]``.

        The server command, its settings module and the environment stay the
        generated service's own, so the two differ only in the app they serve.
        """
        twin = self.copy_of(generated, f"bare-{bare_source}")
        (entry,) = twin.project.glob(f"src/*/{ENTRY_MODULE}")
        entry.write_text(BARE_SOURCES[bare_source])
        return twin


@dataclass(frozen=True)
class LoadReport:
    """One hey run. hey prints no percentiles for very few answers; they are NaN then."""

    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    slowest_ms: float
    non_2xx: int
    errors: int
    steal_pct: float = 0.0

    @property
    def failed(self) -> int:
        return self.non_2xx + self.errors


def hey_command(
    url: str,
    seconds: float,
    clients: int,
    *,
    qps: float = 0,
    timeout_s: int = 20,
    keepalive: bool = True,
) -> list[str]:
    """hey on core 1; ``qps`` is per client (0: as fast as answers come)."""
    command = ["taskset", "-c", CLIENT_CORE, "hey", "-z", f"{seconds}s", "-c", str(clients)]
    if qps:
        command += ["-q", str(qps)]
    if not keepalive:
        command.append("-disable-keepalive")
    return [*command, "-t", str(timeout_s), url]


def run_hey(url: str, seconds: float, clients: int, **options: Any) -> str:
    """hey's summary report of one run."""
    command = hey_command(url, seconds, clients, **options)
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def warm_up(url: str, seconds: float, clients: int = 50) -> None:
    """Imports, connection pools and first-request paths, before anything is measured.

    Never longer than the measurement itself, so short smoke runs stay short.
    """
    run_hey(url, min(WARM_UP_SECONDS, seconds), clients)


def parse_hey(report: str, steal_pct: float = 0.0) -> LoadReport:
    def seconds_to_ms(pattern: str) -> float:
        match = re.search(pattern, report)
        return float(match.group(1)) * 1000 if match else math.nan

    rps = re.search(r"Requests/sec:\s+([\d.]+)", report)
    if not rps:
        raise RuntimeError(f"hey's report has no Requests/sec:\n{report}")
    statuses = re.findall(r"\[(\d{3})\]\s+(\d+) responses", report)
    _, _, error_section = report.partition("Error distribution:")
    return LoadReport(
        rps=float(rps.group(1)),
        p50_ms=seconds_to_ms(r"50%+ in ([\d.]+) secs"),
        p95_ms=seconds_to_ms(r"95%+ in ([\d.]+) secs"),
        p99_ms=seconds_to_ms(r"99%+ in ([\d.]+) secs"),
        slowest_ms=seconds_to_ms(r"Slowest:\s+([\d.]+) secs"),
        non_2xx=sum(int(count) for code, count in statuses if not code.startswith("2")),
        errors=sum(int(count) for count in re.findall(r"^\s+\[(\d+)\]\s", error_section, re.M)),
        steal_pct=steal_pct,
    )


def _core0_times() -> tuple[int, int]:
    """(steal, total) jiffies of core 0 so far, from /proc/stat."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu0 "):
            ticks = [int(value) for value in line.split()[1:]]
            return ticks[7], sum(ticks)
    raise RuntimeError("/proc/stat has no cpu0 line")


class Core0Steal:
    """The share of core 0 the hypervisor stole while the ``with`` block ran, in %."""

    pct = math.nan

    def __enter__(self) -> Core0Steal:
        self._start = _core0_times()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        steal, total = _core0_times()
        self.pct = 100 * (steal - self._start[0]) / max(1, total - self._start[1])


def measured_run(url: str, seconds: float, clients: int, **options: Any) -> LoadReport:
    """One hey run with core 0's steal over the same span."""
    with Core0Steal() as steal:
        report = run_hey(url, seconds, clients, **options)
    return parse_hey(report, steal.pct)


def simultaneous_runs(
    urls: Sequence[str], seconds: float, clients: int, **options: Any
) -> list[LoadReport]:
    """One hey run per URL, all at once, with core 0's steal over the same span."""
    with Core0Steal() as steal:
        runs = [
            subprocess.Popen(
                hey_command(url, seconds, clients, **options), stdout=subprocess.PIPE, text=True
            )
            for url in urls
        ]
        reports = [run.communicate()[0] for run in runs]
    for url, run in zip(urls, runs, strict=True):
        if run.returncode:
            raise RuntimeError(f"hey on {url} exited {run.returncode}")
    return [parse_hey(report, steal.pct) for report in reports]


T = TypeVar("T")


def median_run(runs: Sequence[T], key: Callable[[T], float]) -> T:
    """The run in the middle by ``key`` (the upper middle for an even count)."""
    return sorted(runs, key=key)[len(runs) // 2]


def ms(value: float) -> str:
    if math.isinf(value):
        return "failed"  # a probe that never answered in time
    return "n/a" if math.isnan(value) else f"{value:.0f} ms"


def pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.0f} %"
