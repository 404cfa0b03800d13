"""Security defaults of every generated service, checked on the running server."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from apistarter.questions import Framework
from apistarter.render import available_frameworks

from .harness import (
    OPENAPI_PATH,
    dockerfile_instruction,
    get,
    git,
    http_request,
    render_service,
    run,
    serve,
)

SECRET = "s3cr3t-token-never-shown"  # noqa: S105 - a value that must never show up
ALLOWED_ORIGIN = "https://app.example.com"

pytestmark = pytest.mark.slow


def _chunked(base_url: str, path: str, size: int) -> tuple[int, bytes]:
    """POST a body of ``size`` bytes without a Content-Length (chunked)."""
    address = urlsplit(base_url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    try:
        payload = json.dumps({"name": "x" * size, "price": "1.00"}).encode()
        connection.request(
            "POST",
            path,
            body=iter([payload[i : i + 4096] for i in range(0, len(payload), 4096)]),
            headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
            encode_chunked=True,
        )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("framework", sorted(available_frameworks()))
def test_security_defaults(
    framework: Framework, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    # With API keys: a secret setting to hold out of every repr, log and body.
    project = render_service(tmp_path / "svc", framework, {"auth": "api-key"})

    # The image runs as a numeric, non-root user in its final stage.
    dockerfile = (project / "Dockerfile").read_text().splitlines()
    final_stage = dockerfile[
        max(i for i, line in enumerate(dockerfile) if line.startswith("FROM")) :
    ]
    users = [line.split()[1] for line in final_stage if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("0", "root"), users

    # Settings and secrets: documented in .env.example, never committed as .env.
    tracked = git(project, "ls-files").split()
    assert ".env.example" in tracked and ".env" not in tracked
    assert ".env" in (project / ".gitignore").read_text().splitlines()

    env = {
        "APP_API_KEYS": json.dumps([SECRET]),
        "APP_LOG_LEVEL": "DEBUG",
        "APP_MAX_BODY_BYTES": "2048",
    }
    package = next(p.name for p in (project / "src").iterdir() if p.is_dir())
    shown = run(
        ["python", "-c", f"from {package}.settings import AppSettings; print(AppSettings())"],
        project,
        env,
    )
    assert "debug=False" in shown  # debug is off unless asked for
    assert SECRET not in shown and "api_keys=[SecretStr('**********')]" in shown

    cors_env = {**env, "APP_CORS_ORIGINS": json.dumps([ALLOWED_ORIGIN])}
    with serve(project, dockerfile_instruction(project, "CMD"), cors_env) as server:
        bodies = [
            get(server.base_url + OPENAPI_PATH)[1],
            get(server.base_url + "/nowhere")[1],
            http_request(server.base_url, "POST", "/v1/items", b"{not json")[2],
        ]
        # No traceback or framework debug page on errors.
        status, _, missing = http_request(server.base_url, "GET", "/nowhere")
        assert status == 404 and json.loads(missing)["error"]["type"] == "not_found"

        # The body limit answers 413 in the shared shape, declared or streamed.
        status, _, too_large = http_request(
            server.base_url,
            "POST",
            "/v1/items",
            json.dumps({"name": "x" * 4096, "price": "1.00"}).encode(),
            {"Content-Type": "application/json"},
        )
        assert status == 413 and json.loads(too_large)["error"]["type"] == "payload_too_large"
        status, streamed = _chunked(server.base_url, "/v1/items", 4096)
        assert status == 413 and json.loads(streamed)["error"]["type"] == "payload_too_large"

        # CORS: the configured origin is allowed, any other is not.
        allowed = {"Origin": ALLOWED_ORIGIN}
        _, headers, _ = http_request(server.base_url, "GET", "/v1/items", headers=allowed)
        assert headers.get("access-control-allow-origin") == ALLOWED_ORIGIN
        other = {"Origin": "https://evil.example"}
        _, headers, _ = http_request(server.base_url, "GET", "/v1/items", headers=other)
        assert "access-control-allow-origin" not in headers
        output = server.output()

    for body in bodies:
        assert SECRET.encode() not in body
        assert b"Traceback" not in body
    assert SECRET not in output  # DEBUG logs included


@pytest.mark.parametrize("framework", sorted(available_frameworks()))
def test_cors_is_closed_unless_configured(
    framework: Framework, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    project = render_service(tmp_path / "svc", framework)
    with serve(project, dockerfile_instruction(project, "CMD")) as server:
        preflight = {
            "Origin": ALLOWED_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        }
        _, headers, _ = http_request(server.base_url, "OPTIONS", "/v1/items", headers=preflight)
        assert not any(name.startswith("access-control-") for name in headers), headers
        _, headers, _ = http_request(
            server.base_url, "GET", "/v1/items", headers={"Origin": ALLOWED_ORIGIN}
        )
        assert "access-control-allow-origin" not in headers
