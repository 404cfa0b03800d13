"""psycopg 3 or asyncpg under SQLAlchemy's AsyncSession: the data plan's choice, measured.

Speed: bench/driver_run.py, run with the services' runtime Python on core 0 (PostgreSQL
on core 1, bench.postgres), reads the generated service's item by primary key
(`AsyncSession.get`, a new session per read, as the service's store does) from TASKS
coroutines through one engine per driver with the same pool (POOL connections, no
overflow, pre-ping on, as the service's engine), the engines taking turns in each
round; a third engine, psycopg with pre-ping off, shows what the ping adds. The
table shows each engine's median round: reads per second, and the process's
CPU per read (event loop, SQLAlchemy and driver), which other processes on the core
cannot inflate the way they cut throughput.

URLs: the plan picks psycopg because platforms hand out libpq URLs, with parameters
such as `?sslmode=require`. Each URL of URL_QUERIES is given to create_async_engine as
it is; the table shows whether a connection opened, over TLS or not, or the error, as
each driver raised it.
"""

from __future__ import annotations

import json
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.database import ROWS as DATABASE_ROWS
from bench.load import ENTRY_MODULE, SERVER_CORE, Workspace
from bench.postgres import bench_postgres, prepared_database
from bench.runtime import project_requirements

SCRIPT = Path(__file__).with_name("driver_run.py")
SCHEMES = {"psycopg": "postgresql+psycopg", "asyncpg": "postgresql+asyncpg"}
ASYNCPG = "asyncpg==0.32.0"  # the version measured in docs/benchmarks.md
# The seed's 50 clients, each with a connection: the FastAPI plan's pool at 50 in flight.
POOL = 50
TASKS = 50
# The URL queries tried: libpq parameters as platforms hand them out, asyncpg's own
# spelling, none. pgserver's PostgreSQL is built without TLS (`ALTER SYSTEM SET ssl = on`:
# "SSL is not supported by this build"), so sslmode=require cannot connect with any driver:
# the finding is whether the driver takes the parameter (it then says the server has no
# TLS) or refuses it; sslmode=disable, which needs no TLS, tells the two apart.
URL_QUERIES = ("?sslmode=require", "?sslmode=disable", "?connect_timeout=10", "?ssl=require", "")


@dataclass(frozen=True)
class Engine:
    """One engine of the speed table: its driver, and whether the pool pings on checkout."""

    label: str
    driver: str
    pre_ping: bool = True


# pre-ping, on in the service's engine, costs a round trip per checkout: the last engine
# shows what that adds to a read.
ENGINES = (
    Engine("psycopg", "psycopg"),
    Engine("asyncpg", "asyncpg"),
    Engine("psycopg, pre-ping off", "psycopg", pre_ping=False),
)


def driver_url(url: str, driver: str, query: str = "") -> str:
    """A plain postgresql:// ``url`` for SQLAlchemy with ``driver``, ``query`` appended."""
    scheme, separator, rest = url.partition("://")
    if scheme not in ("postgresql", "postgres") or not separator:
        raise ValueError(f"not a postgresql:// URL: {url}")
    return f"{SCHEMES[driver]}://{rest}{query}"


@dataclass(frozen=True)
class DriverSpeed:
    label: str  # an Engine's
    version: str
    rounds: list[tuple[float, float, float]]  # reads, wall seconds, CPU seconds

    @property
    def rps(self) -> float:
        return statistics.median(reads / wall for reads, wall, _ in self.rounds)

    @property
    def cpu_us_per_read(self) -> float:
        return statistics.median(1e6 * cpu / reads for reads, _, cpu in self.rounds)


@dataclass(frozen=True)
class DriversResult:
    speeds: list[DriverSpeed]
    connects: dict[str, dict[str, str]]  # URL query -> driver -> what happened


def _run(python: Path, spec: dict[str, object], cwd: Path) -> dict[str, object]:
    command = ["taskset", "-c", SERVER_CORE, str(python), str(SCRIPT), json.dumps(spec)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=cwd, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bench/driver_run.py failed:\n{done.stderr}")
    result: dict[str, object] = json.loads(done.stdout)
    return result


def measure(workspace: Workspace, seconds: int, repeat: int) -> DriversResult:
    row = DATABASE_ROWS[0]  # FastAPI: the routes that use the asyncio engine
    service = workspace.generated(row.framework, row.render_answers())
    (entry,) = service.project.glob(f"src/*/{ENTRY_MODULE}")
    bin_dir = workspace.runtime.bin_dir([*project_requirements(service.project), ASYNCPG])
    with bench_postgres() as cluster:
        url = prepared_database(service, cluster)
        speed = _run(
            bin_dir / "python",
            {
                "mode": "speed",
                "engines": {
                    engine.label: {
                        "driver": engine.driver,
                        "url": driver_url(url, engine.driver),
                        "pre_ping": engine.pre_ping,
                    }
                    for engine in ENGINES
                },
                "src": str(entry.parent.parent),
                "package": entry.parent.name,
                "pool": POOL,
                "tasks": TASKS,
                "seconds": seconds,
                "rounds": max(3, repeat),
            },
            service.project,
        )
        connects: dict[str, dict[str, str]] = {}
        for query in URL_QUERIES:
            urls = {driver: driver_url(url, driver, query) for driver in SCHEMES}
            outcome = _run(bin_dir / "python", {"mode": "connect", "urls": urls}, service.project)
            connects[query] = {driver: str(outcome[driver]) for driver in SCHEMES}
    versions, samples = speed["versions"], speed["samples"]
    assert isinstance(versions, dict) and isinstance(samples, dict)
    speeds = [
        DriverSpeed(engine.label, versions[engine.label], [tuple(r) for r in samples[engine.label]])
        for engine in ENGINES
    ]
    return DriversResult(speeds, connects)


def table(result: DriversResult) -> str:
    lines = [
        f"| AsyncSession.get by primary key, {TASKS} tasks, pool {POOL}, one process on "
        "core 0 | reads/s | CPU µs per read |",
        "|---|---:|---:|",
    ]
    for speed in result.speeds:
        lines.append(
            f"| {speed.label} ({speed.version}) | {speed.rps:.0f} | {speed.cpu_us_per_read:.0f} |"
        )
    lines += [
        "",
        "| URL query given to create_async_engine (server without TLS) | "
        + " | ".join(SCHEMES)
        + " |",
        "|---|" + "---|" * len(SCHEMES),
    ]
    for query, outcomes in result.connects.items():
        shown = f"`{query}`" if query else "no parameters"
        cells = [outcomes[driver].replace("|", "\\|") for driver in SCHEMES]
        lines.append(f"| {shown} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
