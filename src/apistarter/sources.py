"""The public articles the decision rules rest on, cited by id in every reason."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Source(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    title: str


SOURCES: dict[str, Source] = {
    source.id: source
    for source in (
        Source(
            id="S0",
            title="FastAPI vs Flask (2026): key takeaways, checklist, common pitfalls, migration "
            "notes and a single-core I/O benchmark with 50 clients and 50 ms simulated I/O",
        ),
        Source(
            id="S1",
            title="FastAPI vs Flask: Python Web Frameworks Compared (technology comparison, 2025)",
        ),
        Source(id="S2", title="FastAPI vs Flask in 2026: Is Flask Finally Dead? (opinion, 2026)"),
        Source(
            id="S3",
            title="FastAPI vs Flask: Why Async Matters for Your API Throughput (May 2026): "
            "worker counts, a realistic endpoint benchmark with gevent, migration plan",
        ),
        Source(
            id="S4",
            title="Flask vs FastAPI: a quantitative and architectural comparison (WSGI vs ASGI, "
            "throughput, latency, deployment)",
        ),
    )
}
