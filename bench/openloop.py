"""An open-loop load generator: requests leave on a fixed schedule, answered or not.

`hey -q` (and any closed-loop client) sends a client's next request only once the
previous one is answered, so when the server stalls the load drops with it and the
requests that would have waited are never sent: the tail is under-counted
("coordinated omission"). wrk2 fixes this with a constant-throughput schedule and
latency counted from each request's scheduled send time; it is not packaged in
Debian, so this is the same method in asyncio (the HTTP/1.1 it needs is one GET and
its response, on kept-alive connections).

Request ``i`` is scheduled ``i / rate`` seconds after the start and goes out on
connection ``i % connections``, so each connection sends every ``connections / rate``
seconds. A connection still waiting for its previous answer sends late, and that
wait counts in the latency, as it would for a real caller arriving on time. The
generator's own lateness (how late its event loop woke for a send that was due) is
reported apart: when it is large, the generator, not the server, is the bottleneck.

    python -m bench.openloop URL --rate 600 --seconds 10 --connections 1000

prints one JSON object (see `OpenLoopReport`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from bench.load import CLIENT_CORE, Core0Steal, LoadReport


def scheduled_offsets(
    connection: int, connections: int, rate: float, seconds: float
) -> list[float]:
    """When (seconds after the start) ``connection`` sends each of its requests."""
    count = math.ceil(seconds * rate)
    return [index / rate for index in range(connection, count, connections)]


def percentile(sorted_values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (``share`` in 0..1) of ascending values; NaN if none."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(share * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class Tally:
    """What the connections recorded, in seconds."""

    latencies: list[float] = field(default_factory=list)  # answered, from the scheduled time
    wake_lags: list[float] = field(default_factory=list)  # the loop's lateness for due sends
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0

    def answered(self, scheduled: float, answered_at: float, status: int) -> None:
        self.latencies.append(answered_at - scheduled)
        self.statuses[status] = self.statuses.get(status, 0) + 1


@dataclass(frozen=True)
class OpenLoopReport:
    offered_rps: float
    load: LoadReport  # the answers; rps counts them over the schedule's span
    generator_p99_lag_ms: float  # how late the generator itself sent, p99
    generator_cpu_pct: float  # of one core, over the run

    @classmethod
    def from_tally(cls, tally: Tally, rate: float, seconds: float, cpu_s: float) -> OpenLoopReport:
        latencies = sorted(tally.latencies)
        load = LoadReport(
            rps=len(latencies) / seconds,
            p50_ms=1000 * percentile(latencies, 0.50),
            p95_ms=1000 * percentile(latencies, 0.95),
            p99_ms=1000 * percentile(latencies, 0.99),
            slowest_ms=1000 * latencies[-1] if latencies else math.nan,
            non_2xx=sum(n for status, n in tally.statuses.items() if not 200 <= status < 300),
            errors=tally.errors,
        )
        lag = 1000 * percentile(sorted(tally.wake_lags), 0.99)
        return cls(rate, load, lag, 100 * cpu_s / seconds)

    @classmethod
    def from_json(cls, text: str) -> OpenLoopReport:
        fields = json.loads(text)
        return cls(**{**fields, "load": LoadReport(**fields["load"])})


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """(status, whether the server keeps the connection) of one response, body read."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip().lower()
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            await reader.readexactly(size + 2)
        await reader.readuntil(b"\r\n")  # no trailers are expected
    return int(status_line.split()[1]), headers.get("connection") != "close"


class _Connection:
    def __init__(self, host: str, port: int, request: bytes) -> None:
        self.host, self.port, self.request = host, port, request
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def connect(self) -> None:
        self.streams = await asyncio.open_connection(self.host, self.port)

    async def connect_ahead(self) -> None:
        """Connect before the schedule starts; a failure is retried at the first send."""
        with contextlib.suppress(OSError):
            await self.connect()

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None

    async def send(self, timeout_s: float) -> int:
        if self.streams is None:
            await self.connect()
        assert self.streams is not None
        reader, writer = self.streams
        writer.write(self.request)
        status, keep = await asyncio.wait_for(_read_response(reader), timeout_s)
        if not keep:
            self.close()
        return status


async def _drive(
    connection: _Connection, offsets: list[float], start: float, tally: Tally, timeout_s: float
) -> None:
    loop = asyncio.get_running_loop()
    for offset in offsets:
        scheduled = start + offset
        if (delay := scheduled - loop.time()) > 0:
            await asyncio.sleep(delay)
            tally.wake_lags.append(loop.time() - scheduled)
        try:
            status = await connection.send(timeout_s)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            tally.errors += 1
            connection.close()
            continue
        tally.answered(scheduled, loop.time(), status)
    connection.close()


async def run(
    url: str, rate: float, seconds: float, connections: int, timeout_s: float = 20
) -> OpenLoopReport:
    """Offer ``rate`` requests a second to ``url`` for ``seconds`` (see the module doc)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    request = f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode()
    pool = [_Connection(host, port, request) for _ in range(connections)]
    # Connected before the clock starts: the schedule measures requests, not handshakes.
    await asyncio.gather(*(connection.connect_ahead() for connection in pool))
    tally = Tally()
    cpu_start = time.process_time()
    start = asyncio.get_running_loop().time() + 0.1
    await asyncio.gather(
        *(
            _drive(c, scheduled_offsets(n, connections, rate, seconds), start, tally, timeout_s)
            for n, c in enumerate(pool)
        )
    )
    return OpenLoopReport.from_tally(tally, rate, seconds, time.process_time() - cpu_start)


def offered_run(url: str, rate: float, seconds: float, connections: int) -> OpenLoopReport:
    """This generator on the client core, with the server core's steal over the same span."""
    command = ["taskset", "-c", CLIENT_CORE, sys.executable, "-m", "bench.openloop", url]
    command += ["--rate", str(rate), "--seconds", str(seconds), "--connections", str(connections)]
    root = Path(__file__).resolve().parent.parent  # where `bench` is importable from
    with Core0Steal() as steal:
        output = subprocess.run(command, capture_output=True, text=True, check=True, cwd=root)
    report = OpenLoopReport.from_json(output.stdout)
    return replace(report, load=replace(report.load, steal_pct=steal.pct))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=20, help="per request, seconds")
    args = parser.parse_args(argv)
    report = asyncio.run(run(args.url, args.rate, args.seconds, args.connections, args.timeout))
    print(json.dumps(asdict(report)))


if __name__ == "__main__":
    main()
