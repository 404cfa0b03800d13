"""OpenTelemetry traces from real services, received by an OTLP/HTTP receiver in the test.

Each framework's service is started by its image's command (Flask with two Gunicorn
workers, behind the plan's nginx) with OTEL_EXPORTER_OTLP_ENDPOINT pointing here. The
receiver decodes each ExportTraceServiceRequest with opentelemetry-proto. A request sent
with a W3C traceparent gets a server span in that trace, and its log line carries the
trace and span ids of that span; the hybrid's mounted Flask app adds a child of the ASGI
request's span.
"""

from __future__ import annotations

import contextlib
import gzip
import http.server
import json
import secrets
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from prometheus_client.parser import text_string_to_metric_families

from apistarter.questions import Framework

from .harness import (
    CLEAN_EXITS,
    dockerfile_instruction,
    free_port,
    front_proxy,
    get,
    http_request,
    image_env,
    render_service,
    serve,
    stop,
)

FRAMEWORKS: tuple[Framework, ...] = ("fastapi", "flask", "hybrid")
TRACES_PATH = "/v1/traces"


@dataclass(frozen=True)
class ReceivedSpan:
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: int
    service: str


class Receiver(http.server.ThreadingHTTPServer):
    """An OTLP/HTTP trace receiver: what a collector does with the spans, minus the rest."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)
        self.spans: list[ReceivedSpan] = []
        self.paths: list[str] = []
        self.lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def add(self, path: str, body: bytes) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        received = []
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                received += [
                    ReceivedSpan(
                        span.trace_id.hex(),
                        span.span_id.hex(),
                        span.parent_span_id.hex(),
                        span.name,
                        span.kind,
                        attributes.get("service.name", ""),
                    )
                    for span in scope_spans.spans
                ]
        with self.lock:
            self.paths.append(path)
            self.spans += received

    def wait_for(self, trace_id: str, count: int, timeout: float = 15) -> list[ReceivedSpan]:
        """The spans of ``trace_id`` once at least ``count`` have arrived."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                found = [span for span in self.spans if span.trace_id == trace_id]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


class _ReceiverHandler(http.server.BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.server.add(self.path, body)
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: pytest shows the test's own output."""


@contextlib.contextmanager
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _log_lines(output: str) -> dict[str, dict[str, Any]]:
    """The request log lines by request id."""
    lines = {}
    for text in output.splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(text)
            if isinstance(entry, dict) and entry.get("message") == "request":
                lines[entry["request_id"]] = entry
    return lines


def _traceparent() -> tuple[str, str, str]:
    """A caller's sampled W3C traceparent: (header, trace id, parent span id)."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{span_id}-01", trace_id, span_id


def _send(port: int, method: str, path: str, request_id: str, **headers: str) -> bytes:
    body = json.dumps({"name": "widget", "price": 3}).encode() if method == "POST" else b""
    sent = {"X-Request-ID": request_id, "Content-Type": "application/json", **headers}
    status, _, answer = http_request(f"http://127.0.0.1:{port}", method, path, body, sent)
    assert status < 300, (status, answer)
    return answer


def _service_env(project: Path, framework: Framework, tmp_path: Path) -> dict[str, str]:
    env = image_env(project)
    if "PROMETHEUS_MULTIPROC_DIR" in env:  # the image's folder, under this test's own
        env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "prometheus")
        (tmp_path / "prometheus").mkdir()
    return env | {
        "WEB_LIVENESS_PORT": str(free_port()),
        "WEB_CONCURRENCY": "2" if framework == "flask" else "1",
    }


@pytest.mark.slow
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_spans_reach_an_otlp_receiver(
    framework: Framework, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    project = render_service(tmp_path / "svc", framework)
    proxied = any(project.glob("deploy/**/nginx.conf"))
    assert proxied == (framework == "flask"), "the default Flask plan has nginx in front"
    command = dockerfile_instruction(project, "CMD")
    with receiver() as otlp, contextlib.ExitStack() as stack:
        env = _service_env(project, framework, tmp_path) | {
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "50",  # ms: spans leave at once, not after 5 s
        }
        server = stack.enter_context(serve(project, command, env))
        # Through nginx where the plan puts it in front: traceparent must pass it.
        port = (
            stack.enter_context(front_proxy(project, server.port, tmp_path / "nginx"))
            if proxied
            else server.port
        )
        created = json.loads(_send(port, "POST", "/v1/items", "trace-post"))
        header, caller_trace, caller_span = _traceparent()
        _send(port, "GET", f"/v1/items/{created['id']}", "trace-read", traceparent=header)
        if framework == "hybrid":
            legacy_header, legacy_trace, _ = _traceparent()
            _send(port, "GET", "/legacy/hello", "trace-legacy", traceparent=legacy_header)

        read_spans = otlp.wait_for(caller_trace, 1)
        legacy_spans = otlp.wait_for(legacy_trace, 2) if framework == "hybrid" else []
        lines = _log_lines(server.output())
        posted = lines["trace-post"]
        post_spans = otlp.wait_for(posted["trace_id"], 1)

    assert otlp.paths and set(otlp.paths) == {TRACES_PATH}
    # The read: one server span, a child of the caller's, named by the route template.
    (read,) = read_spans
    assert read.parent_span_id == caller_span
    assert read.kind == Span.SPAN_KIND_SERVER
    assert read.name.startswith("GET /v1/items/") and "item_id" in read.name, read.name
    assert not read.name.endswith(f"/{created['id']}"), read.name
    assert read.service == "orders-api"
    # Its log line names that trace and that span.
    assert (lines["trace-read"]["trace_id"], lines["trace-read"]["span_id"]) == (
        caller_trace,
        read.span_id,
    )
    # A request without a traceparent starts a trace of its own, the one its line names.
    assert [span.span_id for span in post_spans] == [posted["span_id"]]
    assert post_spans[0].parent_span_id == ""
    if framework == "hybrid":
        # The mounted Flask app's span is a child of the ASGI request's span.
        (outer,) = [span for span in legacy_spans if span.kind == Span.SPAN_KIND_SERVER]
        (inner,) = [span for span in legacy_spans if span.parent_span_id == outer.span_id]
        assert inner.kind == Span.SPAN_KIND_INTERNAL
        assert inner.name == "GET /hello", inner.name
        assert lines["trace-legacy"]["span_id"] == outer.span_id


@pytest.mark.slow
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_without_an_endpoint_no_trace_ids_are_logged(
    framework: Framework, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    project = render_service(tmp_path / "svc", framework)
    command = dockerfile_instruction(project, "CMD")
    header, _, _ = _traceparent()
    with serve(project, command, _service_env(project, framework, tmp_path)) as server:
        _send(server.port, "GET", "/v1/items", "untraced", traceparent=header)
        time.sleep(0.2)
        line = _log_lines(server.output())["untraced"]
    assert "trace_id" not in line and "span_id" not in line, line


@pytest.mark.slow
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_an_unreachable_collector_fails_no_request_and_holds_no_stop(
    framework: Framework, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    project = render_service(tmp_path / "svc", framework)
    command = dockerfile_instruction(project, "CMD")
    env = _service_env(project, framework, tmp_path) | {
        # Nothing listens there: every export fails, and is retried, on the export thread.
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port()}",
        "OTEL_BSP_SCHEDULE_DELAY": "50",
        # Spans beyond the queue are dropped, not waited on.
        "OTEL_BSP_MAX_QUEUE_SIZE": "8",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "8",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "1",  # s: each failed export gives up soon
    }
    with serve(project, command, env) as server, ThreadPoolExecutor(8) as burst:
        # At once, so spans arrive faster than any export ends, however fast this machine
        # answers: sent one by one to a slow service, every batch could still be exported.
        list(
            burst.map(
                lambda index: _send(server.port, "GET", "/v1/items", f"unexported-{index}"),
                range(40),
            )
        )
        # Every lost span is counted on the metrics port, by why it was lost: the spans
        # that found the queue full while an export was retrying, then the batches the
        # closed port never took (each export gives up after OTEL_EXPORTER_OTLP_TIMEOUT).
        _wait_for_drops(int(env["WEB_LIVENESS_PORT"]), {"queue_full", "export_failed"})
        status, output = stop(server)
    assert status in CLEAN_EXITS, output
    lines = _log_lines(output)
    assert all(len(lines[f"unexported-{index}"]["trace_id"]) == 32 for index in range(40))


def _spans_dropped(liveness: int) -> dict[str, float]:
    """otel_spans_dropped_total by reason, scraped from the liveness port's /metrics."""
    status, body = get(f"http://127.0.0.1:{liveness}/metrics")
    assert status == 200, body
    return {
        sample.labels["reason"]: sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
        if sample.name == "otel_spans_dropped_total"
    }


def _wait_for_drops(liveness: int, reasons: set[str], timeout: float = 30) -> dict[str, float]:
    """The drop counts once every reason in ``reasons`` has counted a span."""
    deadline = time.monotonic() + timeout
    while True:
        dropped = _spans_dropped(liveness)
        if all(dropped.get(reason, 0) > 0 for reason in reasons):
            return dropped
        assert time.monotonic() < deadline, f"drops counted: {dropped}, wanted {reasons}"
        time.sleep(0.2)
