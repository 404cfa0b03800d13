"""The open-loop generator's schedule and latency math (bench/openloop.py).

No timing is asserted: the stall test bounds latencies from below by a stall the
server makes, which no slowness of the machine can shorten.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
from dataclasses import asdict

from bench.openloop import OpenLoopReport, Tally, percentile, run, scheduled_offsets

STALL_S = 1.0


def test_the_connections_share_one_fixed_schedule() -> None:
    rate, seconds, connections = 40.0, 2.5, 7
    per_connection = [scheduled_offsets(n, connections, rate, seconds) for n in range(connections)]
    every_send = sorted(offset for offsets in per_connection for offset in offsets)
    assert every_send == [index / rate for index in range(100)]
    for offsets in per_connection:
        gaps = {round(later - earlier, 9) for earlier, later in itertools.pairwise(offsets)}
        assert gaps == {round(connections / rate, 9)}


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.0) == 1.0
    assert percentile([3.0], 0.99) == 3.0
    assert math.isnan(percentile([], 0.5))


def test_latency_counts_from_the_scheduled_time_and_the_report_counts_statuses() -> None:
    tally = Tally(wake_lags=[0.001, 0.002])
    tally.answered(scheduled=10.0, answered_at=10.25, status=200)
    tally.answered(scheduled=10.5, answered_at=11.0, status=503)
    tally.errors = 1
    report = OpenLoopReport.from_tally(tally, rate=2, seconds=1, cpu_s=0.25)
    assert OpenLoopReport.from_json(json.dumps(asdict(report))) == report
    load = report.load
    assert (load.p50_ms, load.p99_ms, load.slowest_ms) == (250, 500, 500)
    assert (load.rps, load.non_2xx, load.errors) == (2, 1, 1)
    assert report.generator_p99_lag_ms == 2
    assert report.generator_cpu_pct == 25


async def _serve_after_a_stall(requests: list[bytes]) -> asyncio.Server:
    """A server whose first answer waits STALL_S; every other answer is immediate.

    Answers alternate between a sized body, a chunked body and `Connection: close`,
    the three ways an HTTP/1.1 response can end.
    """
    answers = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    ]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                requests.append(head)
                if len(requests) == 1:
                    await asyncio.sleep(STALL_S)
                writer.write(answers[(len(requests) - 1) % len(answers)])
                await writer.drain()
                if (len(requests) - 1) % len(answers) == 2:
                    break
        except asyncio.IncompleteReadError:
            pass
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def test_a_stall_delays_every_request_scheduled_during_it() -> None:
    """One connection, 20 requests over one second, the first answered after 1 s.

    A closed-loop client would send the other 19 after the stall and time them from
    then, reporting one slow request in twenty. Scheduled every 50 ms, request i
    waited at least STALL_S - i * 50 ms, so half of them waited at least 0.5 s.
    """
    requests: list[bytes] = []

    async def scenario() -> OpenLoopReport:
        server = await _serve_after_a_stall(requests)
        port = server.sockets[0].getsockname()[1]
        async with server:
            return await run(f"http://127.0.0.1:{port}/v1/demo/io?x=1", 20, 1.0, connections=1)

    report = asyncio.run(scenario())
    assert len(requests) == 20
    assert requests[0].startswith(b"GET /v1/demo/io?x=1 HTTP/1.1\r\nHost: 127.0.0.1:")
    load = report.load
    assert (load.rps, load.errors, load.non_2xx) == (20, 0, 6)  # every third is 503
    assert load.p50_ms >= 1000 * (STALL_S - 10 / 20)
    assert load.slowest_ms >= 1000 * STALL_S
