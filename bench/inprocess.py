"""Time requests through app variants in one process, with no server and no network.

Run by bench.features with the services' runtime Python (bench.runtime), as a script:
it imports only the standard library and what the generated service depends on.

    python bench/inprocess.py SPEC_JSON

SPEC_JSON names the framework, the generated project's src directory and package, the
twin's app file, how many rounds of how many requests to run, and the service's auth
answer: an auth=jwt service (bench.features renders one beside the api-key one) runs only
its full variant with and without a bearer token, verified against a JWKS served here.
Every variant serves ``GET /v1/demo/io?delay_ms=0`` (the load tests' route, without its
wait) and must answer 200. The variants take turns within each round, so a slow phase
of this shared machine hits them all alike; the output (JSON on stdout) is each variant's
fastest round, as CPU time per request in microseconds: other processes on the core only
ever add to a round's time (cache misses, interrupts), so the fastest round is the nearest
to the code's own cost.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import io
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PATH = "/v1/demo/io"
QUERY = "delay_ms=0"
CALLER_ID = "bench-0123456789"

Runner = Callable[[int], None]


def _load_twin(path: str) -> Any:
    spec = importlib.util.spec_from_file_location("twin_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


def _asgi_runner(app: Any, headers: list[tuple[bytes, bytes]]) -> Runner:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": QUERY.encode(),
        "root_path": "",
        "headers": [(b"host", b"localhost"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def serve(count: int) -> None:
        for _ in range(count):
            await app({**scope, "state": {}}, receive, send)

    loop = asyncio.new_event_loop()

    def run(count: int) -> None:
        statuses.clear()
        loop.run_until_complete(serve(count))
        if set(statuses) != {200}:
            raise SystemExit(f"unexpected statuses {sorted(set(statuses))}")

    return run


def _wsgi_runner(app: Any, headers: list[tuple[str, str]]) -> Runner:
    from werkzeug.test import EnvironBuilder

    environ = EnvironBuilder(path=PATH, query_string=QUERY, headers=headers).get_environ()
    statuses: list[str] = []

    def start_response(status: str, _headers: object, _exc_info: object = None) -> object:
        statuses.append(status)
        return None

    def run(count: int) -> None:
        statuses.clear()
        for _ in range(count):
            body = app({**environ, "wsgi.input": io.BytesIO(b"")}, start_response)
            for _chunk in body:
                pass
            getattr(body, "close", lambda: None)()
        if {status[:3] for status in statuses} != {"200"}:
            raise SystemExit(f"unexpected statuses {sorted(set(statuses))}")

    return run


def _jwt_issuer() -> str:
    """Serve a JWKS on loopback, point the settings at it; return a token it verifies.

    The service fetches the JWKS once (the warm-up) and verifies from its cache after,
    as in production between two rotations; the serving thread then idles.
    """
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": "bench", "alg": "RS256"}
    body = json.dumps({"keys": [jwk]}).encode()

    class Keys(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Keys)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    issuer, audience = "https://issuer.bench/", "bench"
    os.environ["APP_JWT_ISSUER"] = issuer
    os.environ["APP_JWT_AUDIENCE"] = audience
    os.environ["APP_JWT_JWKS_URL"] = f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    claims = {"iss": issuer, "aud": audience, "sub": "bench", "exp": int(time.time()) + 86400}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "bench"})


def _variants(spec: dict[str, Any]) -> dict[str, Runner]:
    """The twin, then the generated app with its features added one at a time."""
    sys.path.insert(0, spec["src"])
    if spec.get("metrics_dir"):
        # As the server runs it: every worker's metrics in memory-mapped files. Set before
        # prometheus_client is imported, which picks its mode then.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = spec["metrics_dir"]
        Path(spec["metrics_dir"]).mkdir(parents=True, exist_ok=True)
    # The service is rendered with auth=api-key: its settings need keys. Reads stay public
    # (the demo route's check only reads the setting) except in the "full_api_key" variant.
    # An auth=jwt service needs its issuer's settings instead, and protects reads in
    # "full_jwt".
    jwt = spec.get("auth") == "jwt"
    if jwt:
        bearer = _jwt_issuer()
    else:
        os.environ["APP_API_KEYS"] = json.dumps([spec["api_key"], "other-key-0123456789abcdef"])
    package = spec["package"]
    app_module = importlib.import_module(f"{package}.app")
    settings_module = importlib.import_module(f"{package}.settings")
    middleware = importlib.import_module(f"{package}.middleware").RequestContextMiddleware
    metrics = importlib.import_module(f"{package}.metrics")
    tracing: Any = importlib.import_module(f"{package}.tracing")
    logs = importlib.import_module(f"{package}.logs")
    asgi = spec["framework"] != "flask"

    def generated(
        with_middleware: bool = True, with_metrics: bool = True, auth_reads: bool = False
    ) -> Any:
        app = app_module.create_app(settings_module.AppSettings(auth_reads=auth_reads))
        removed = {
            cls
            for cls, present in (
                (middleware, with_middleware),
                (metrics.MetricsMiddleware, with_metrics),
            )
            if not present
        }
        if asgi:
            app.user_middleware = [m for m in app.user_middleware if m.cls not in removed]
            app.middleware_stack = None
            return app
        # Flask: MetricsMiddleware(RequestContextMiddleware(Flask's own)), peeled from the
        # outside (no variant keeps the metrics without the middleware), and the hook that
        # notes the matched route for the metrics.
        assert with_metrics <= with_middleware
        if not with_metrics:
            app.wsgi_app = app.wsgi_app.app
            app.before_request_funcs[None].remove(metrics._note_route)
        if not with_middleware:
            app.wsgi_app = app.wsgi_app.app
        return app

    def traced() -> tuple[Any, Any]:
        """The full service with tracing on, and the log lines' trace-id source.

        Every request is sampled (the SDK's default) and its span goes through the batch
        processor, as with an OTLP endpoint set; the exporter drops the batches, so their
        protobuf encoding and HTTP post (on the exporter's thread) are not counted.
        """
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            SpanExporter,
            SpanExportResult,
        )

        class Dropped(SpanExporter):
            def export(self, spans: Any) -> SpanExportResult:
                return SpanExportResult.SUCCESS

        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(Dropped()))
        found = tracing.process_provider
        tracing.process_provider = lambda: provider
        try:
            app = generated()
        finally:
            tracing.process_provider = found
        ids = logs._trace_ids
        logs.log_trace_ids(None)  # the other variants' lines stay without ids
        return app, ids

    def runner(
        app: Any,
        log_level: int,
        caller_id: bool = False,
        key: bool = False,
        trace_ids: Any = None,
        token: str = "",
    ) -> Runner:
        headers = [
            *([("X-Request-ID", CALLER_ID)] if caller_id else []),
            *([("X-API-Key", spec["api_key"])] if key else []),
            *([("Authorization", f"Bearer {token}")] if token else []),
        ]
        if asgi:
            run = _asgi_runner(app, [(k.lower().encode(), v.encode()) for k, v in headers])
        else:
            run = _wsgi_runner(app, headers)

        def at_level(count: int) -> None:
            # The apps share the root logger (configure_logging): each run sets its level.
            logging.getLogger().setLevel(log_level)
            logs.log_trace_ids(trace_ids)
            run(count)

        return at_level

    if jwt:
        return {
            "full_jwt_base": runner(generated(), logging.INFO),
            "full_jwt": runner(generated(auth_reads=True), logging.INFO, token=bearer),
        }
    traced_app, traced_ids = traced()
    return {
        "twin": runner(_load_twin(spec["twin"]), logging.INFO),
        "routes": runner(generated(with_middleware=False, with_metrics=False), logging.WARNING),
        "middleware": runner(generated(with_metrics=False), logging.WARNING),
        "full_no_metrics": runner(generated(with_metrics=False), logging.INFO),
        "full": runner(generated(), logging.INFO),
        "full_caller_id": runner(generated(), logging.INFO, caller_id=True),
        "full_api_key": runner(generated(auth_reads=True), logging.INFO, key=True),
        "full_traced": runner(traced_app, logging.INFO, trace_ids=traced_ids),
    }


def main() -> None:
    spec = json.loads(sys.argv[1])
    # Log lines go where a container's stdout would, minus the reader: one write each.
    sys.stdout = Path(os.devnull).open("w")  # noqa: SIM115 - open for the whole run
    variants = _variants(spec)
    for run in variants.values():
        run(spec["requests"])  # warm-up: imports, caches, the middleware stack
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(spec["rounds"]):
        for name, run in variants.items():
            started = time.process_time()
            run(spec["requests"])
            samples[name].append((time.process_time() - started) / spec["requests"] * 1e6)
    sys.stdout = sys.__stdout__
    print(json.dumps({name: min(values) for name, values in samples.items()}))


if __name__ == "__main__":
    main()
