"""SQLAlchemy's AsyncSession on two drivers, in one process: speed, and what a URL does.

Run by bench.drivers with the services' runtime Python (bench.runtime), as a script:
it imports only the standard library, SQLAlchemy, the drivers and the generated
service's tables module.

    python bench/driver_run.py SPEC_JSON

SPEC_JSON is either {"mode": "speed", "engines": {label: {"driver", "url", "pre_ping"}},
"src", "package", "pool", "tasks", "seconds", "rounds"}: ``tasks`` coroutines each read
the item by primary key (`AsyncSession.get`, a new session per read, as the service's
store does) through each engine, all with the same pool, for ``seconds``; the engines
take turns within each round; the output is each engine's driver version and its list
of (reads, wall seconds, CPU seconds) per round. Or {"mode": "connect", "urls":
{label: url}}: each URL is given to create_async_engine and one connection is opened;
the output is what happened, in one line per URL. JSON on stdout.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import time
from importlib.metadata import version
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

ITEM_ID = 1
WARM_UP_S = 1.0
TLS = text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")


async def _reads(engine: AsyncEngine, row: Any, tasks: int, seconds: float) -> list[float]:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    done = 0
    deadline = time.monotonic() + seconds

    async def reader() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            async with sessions() as session:
                if await session.get(row, ITEM_ID) is None:
                    raise RuntimeError(f"item {ITEM_ID} is missing")
            done += 1

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(reader() for _ in range(tasks)))
    return [done, time.perf_counter() - wall, time.process_time() - cpu]


async def _speed(spec: dict[str, Any]) -> dict[str, Any]:
    sys.path.insert(0, spec["src"])
    row = importlib.import_module(f"{spec['package']}.tables").ItemRow
    engines = {
        label: create_async_engine(
            engine["url"],
            pool_size=spec["pool"],
            max_overflow=0,
            pool_pre_ping=engine["pre_ping"],
        )
        for label, engine in spec["engines"].items()
    }
    for engine in engines.values():  # connections opened, statements prepared
        await _reads(engine, row, spec["tasks"], WARM_UP_S)
    samples: dict[str, list[list[float]]] = {label: [] for label in engines}
    for round_index in range(spec["rounds"]):
        order = list(engines)[:: 1 if round_index % 2 == 0 else -1]
        for label in order:
            samples[label].append(await _reads(engines[label], row, spec["tasks"], spec["seconds"]))
    for engine in engines.values():
        await engine.dispose()
    versions = {label: version(engine["driver"]) for label, engine in spec["engines"].items()}
    return {"versions": versions, "samples": samples}


async def _connect(url: str) -> str:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            tls = await connection.scalar(TLS)
        return f"connected, TLS {'on' if tls else 'off'}"
    except Exception as error:  # what each driver raises is the finding
        cause = getattr(error, "orig", None) or error
        first = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
        return f"{type(cause).__name__}: {first}"
    finally:
        await engine.dispose()


async def _connects(spec: dict[str, Any]) -> dict[str, Any]:
    return {label: await _connect(url) for label, url in spec["urls"].items()}


def main() -> None:
    spec = json.loads(sys.argv[1])
    run = _speed if spec["mode"] == "speed" else _connects
    print(json.dumps(asyncio.run(run(spec))))


if __name__ == "__main__":
    main()
