"""A liveness prober, as a kubelet probes: a new connection per probe, on a fixed clock.

    python -m bench.probe URL --seconds 10 --rate 20 --timeout 10

Prints one JSON object (bench.probe.ProbeReport). Probes start every 1/rate
seconds whether or not earlier ones have answered, so a stuck probe does not
hide the ones after it (hey's clients wait for their previous request, and hey
prints no p99 under 100 answers, which a stalled server easily gives). A probe
that fails (no answer within the timeout, or not a 2xx) counts as infinitely
slow, so the percentiles include it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import time
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ProbeReport:
    probes: int
    failed: int
    p50_ms: float
    p99_ms: float
    slowest_ms: float

    @classmethod
    def from_json(cls, text: str) -> ProbeReport:
        return cls(**json.loads(text))


def _probe(url: str, timeout: float) -> float:
    """Milliseconds to a 2xx answer; infinity for anything else."""
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            response.read()
            ok = 200 <= response.status < 300
    except (OSError, http.client.HTTPException):  # refused, reset, timed out, not 2xx
        ok = False
    return (time.perf_counter() - start) * 1000 if ok else math.inf


def _nearest_rank(ordered: list[float], fraction: float) -> float:
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def probe(url: str, seconds: float, rate: float, timeout: float) -> ProbeReport:
    count = max(1, round(seconds * rate))
    # Enough threads for every probe that can be waiting at once.
    with ThreadPoolExecutor(max_workers=math.ceil(rate * timeout) + 1) as pool:
        started = time.perf_counter()
        futures: list[Future[float]] = []
        for index in range(count):
            time.sleep(max(0.0, started + index / rate - time.perf_counter()))
            futures.append(pool.submit(_probe, url, timeout))
        ordered = sorted(future.result() for future in futures)
    answered = [latency for latency in ordered if math.isfinite(latency)]
    return ProbeReport(
        probes=len(ordered),
        failed=len(ordered) - len(answered),
        p50_ms=_nearest_rank(ordered, 0.50),
        p99_ms=_nearest_rank(ordered, 0.99),
        slowest_ms=max(answered, default=math.nan),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--seconds", type=float, default=10, help="How long to keep probing.")
    parser.add_argument("--rate", type=float, default=20, help="Probes started per second.")
    parser.add_argument("--timeout", type=float, default=10, help="Seconds a probe may wait.")
    args = parser.parse_args()
    print(json.dumps(asdict(probe(args.url, args.seconds, args.rate, args.timeout))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
