"""Generated FastAPI and Flask services answer bad input with the same error body."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from apistarter.questions import Framework

from .harness import dockerfile_instruction, render_service, serve

pytestmark = pytest.mark.slow

INVALID_REQUESTS: list[tuple[str, str, bytes | None]] = [
    ("POST", "/v1/items", json.dumps({"name": "", "price": -1, "colour": "red"}).encode()),
    ("POST", "/v1/items", json.dumps({"price": "abc", "tags": ["x" * 40]}).encode()),
    ("GET", "/v1/demo/io?delay_ms=-5", None),
    ("GET", "/v1/items/424242", None),
]


def _send(base_url: str, method: str, path: str, body: bytes | None) -> tuple[int, Any]:
    request = urllib.request.Request(base_url + path, data=body, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _shape(body: Any) -> Any:
    """The body with request ids and messages dropped: what must match exactly."""
    error = body["error"]
    fields = sorted((tuple(f["loc"]), f["type"]) for f in error["fields"])
    return {
        "keys": sorted(body),
        "error_keys": sorted(error),
        "type": error["type"],
        "fields": fields,
    }


def _answers(tmp_path: Path, framework: Framework) -> list[tuple[int, Any]]:
    project = render_service(tmp_path / framework, framework)
    with serve(project, dockerfile_instruction(project, "CMD")) as server:
        return [_send(server.base_url, *request) for request in INVALID_REQUESTS]


def test_fastapi_and_flask_reject_bad_input_the_same_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    fastapi = _answers(tmp_path, "fastapi")
    flask = _answers(tmp_path, "flask")
    for (fastapi_status, fastapi_body), (flask_status, flask_body) in zip(
        fastapi, flask, strict=True
    ):
        assert fastapi_status == flask_status
        assert _shape(fastapi_body) == _shape(flask_body)
        assert isinstance(fastapi_body["request_id"], str) and flask_body["request_id"]
    assert [status for status, _ in fastapi] == [422, 422, 422, 404]
