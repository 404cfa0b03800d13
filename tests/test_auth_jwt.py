"""auth=jwt: real servers with a local identity provider, refusing every token that
does not pass and every way around the check."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from apistarter.auth import (
    JWT_AUDIENCE_SETTING,
    JWT_ISSUER_SETTING,
    JWT_JWKS_URL_SETTING,
    JWT_RETRY_AFTER_S,
    JWT_WRITE_SCOPE,
)
from apistarter.questions import Framework

from .harness import (
    RunningServer,
    dockerfile_instruction,
    free_port,
    http_request,
    render_service,
    serve,
)
from .test_auth import (
    BYPASSES,
    ITEM,
    ITEMS,
    JSON,
    _items,
    assert_nothing_written,
    assert_raw_write_refused,
)
from .test_hostile_clients import documented_startup_failure, refused_start

FRAMEWORKS: list[Framework] = ["fastapi", "flask", "hybrid"]
ISSUER = "https://issuer.test/"
AUDIENCE = "orders-api"
KID = "key-1"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_PEM = KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)


def token(key: Any = KEY, kid: str = KID, lifetime_s: int = 300, **claims: Any) -> str:
    """An RS256 token from the test issuer; a claim given as None is left out."""
    now = int(time.time())
    payload = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "partner-7",
        "iat": now,
        "exp": now + lifetime_s,
        "scope": f"items:read {JWT_WRITE_SCOPE}",
        **claims,
    }
    payload = {name: value for name, value in payload.items() if value is not None}
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(alg: str) -> str:
    """alg=none, or HS256 with the public key as the HMAC secret (PyJWT makes neither)."""
    header = _b64(json.dumps({"alg": alg, "typ": "JWT", "kid": KID}).encode())
    claims = jwt.decode(token(), options={"verify_signature": False})
    signed = f"{header}.{_b64(json.dumps(claims).encode())}"
    if alg == "none":
        return signed + "."
    return f"{signed}.{_b64(hmac.new(PUBLIC_PEM, signed.encode(), hashlib.sha256).digest())}"


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


class _Keys(BaseHTTPRequestHandler):
    fetches = 0

    def do_GET(self) -> None:
        type(self).fetches += 1
        jwk = json.loads(RSAAlgorithm.to_jwk(KEY.public_key()))
        body = json.dumps({"keys": [{**jwk, "kid": KID, "alg": "RS256", "use": "sig"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Keys)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    server.shutdown()
    server.server_close()


def _issuer_env(jwks_url: str) -> dict[str, str]:
    return {
        JWT_ISSUER_SETTING: ISSUER,
        JWT_AUDIENCE_SETTING: AUDIENCE,
        JWT_JWKS_URL_SETTING: jwks_url,
        "WEB_CONCURRENCY": "1",  # the items live in the process's memory; tests count them
    }


@pytest.fixture(scope="module")
def project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    framework: Framework = request.param
    return render_service(tmp_path_factory.mktemp(framework), framework, {"auth": "jwt"})


@pytest.fixture(scope="module")
def service(project: Path, jwks_url: str) -> Iterator[RunningServer]:
    """The service with auth=jwt, served by its image's command, trusting the test issuer."""
    with serve(project, dockerfile_instruction(project, "CMD"), _issuer_env(jwks_url)) as server:
        yield server


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "project" in metafunc.fixturenames:
        metafunc.parametrize("project", FRAMEWORKS, indirect=True, scope="module")


def _post(server: RunningServer, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
    status, answer, body = http_request(
        server.base_url, "POST", ITEMS, ITEM, {**JSON, **headers, "X-Request-ID": "jwt-1"}
    )
    return status, answer, json.loads(body)


@pytest.mark.slow
def test_a_valid_token_writes_and_the_log_names_its_sub(service: RunningServer) -> None:
    sent = token()
    status, _, body = _post(service, bearer(sent))
    assert status == 201, body
    # The line is written as the response ends: it may land just after the client has it.
    deadline = time.monotonic() + 10
    while True:
        lines = service.output().splitlines()
        logged = [json.loads(line) for line in lines if line.startswith("{")]
        writes = [e for e in logged if e.get("method") == "POST" and e.get("status") == 201]
        if writes or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert writes and writes[-1]["sub"] == "partner-7", lines[-5:]
    assert sent not in service.output()


@pytest.mark.slow
@pytest.mark.parametrize("spaces", [2, 3])
def test_several_spaces_after_bearer_are_one_separator(service: RunningServer, spaces: int) -> None:
    # RFC 6750: credentials = "Bearer" 1*SP b64token. Every framework reads the same token.
    status, _, body = _post(service, {"Authorization": "Bearer" + " " * spaces + token()})
    assert status == 201, body
    status, _, body = _post(service, {"Authorization": "Bearer" + " " * spaces + forged("none")})
    assert status == 401, body


@pytest.mark.slow
@pytest.mark.parametrize(
    "sent",
    [
        pytest.param(token(lifetime_s=-120), id="expired"),
        pytest.param(token(nbf=int(time.time()) + 3600), id="not yet valid"),
        pytest.param(token(iss="https://another-issuer.test/"), id="wrong issuer"),
        pytest.param(token(aud="another-service"), id="wrong audience"),
        pytest.param(token(kid="nobody-published-this"), id="unknown kid"),
        pytest.param(token(key=OTHER_KEY), id="bad signature"),
        pytest.param(forged("none"), id="alg none"),
        pytest.param(forged("HS256"), id="HS256 with the public key"),
    ],
)
def test_a_token_that_does_not_pass_is_401(service: RunningServer, sent: str) -> None:
    before = len(_items(service))
    status, answer, body = _post(service, bearer(sent))
    assert status == 401, body
    assert answer["www-authenticate"] == 'Bearer error="invalid_token"'
    assert body["error"]["type"] == "unauthorized" and body["request_id"] == "jwt-1"
    assert len(_items(service)) == before


@pytest.mark.slow
def test_no_token_is_401_and_no_write_scope_is_403(service: RunningServer) -> None:
    status, answer, body = _post(service, {})
    assert (status, answer["www-authenticate"]) == (401, "Bearer"), body
    status, answer, body = _post(service, bearer(token(scope="items:read")))
    assert status == 403, body
    assert body["error"]["type"] == "forbidden" and body["request_id"] == "jwt-1"
    assert 'error="insufficient_scope"' in answer["www-authenticate"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        *BYPASSES,
        pytest.param("POST", ITEMS, {"Authorization": f"Basic {token()}"}, id="another scheme"),
        pytest.param("POST", ITEMS + f"?access_token={token()}", {}, id="token in the query"),
        pytest.param("POST", ITEMS, {"X-Authorization": f"Bearer {token()}"}, id="other header"),
        pytest.param("POST", ITEMS, bearer(token(scope="items:read")), id="read scope"),
    ],
)
def test_no_spelling_of_a_write_gets_past_the_check(
    service: RunningServer, method: str, path: str, headers: dict[str, str]
) -> None:
    assert_nothing_written(service, method, path, headers)


@pytest.mark.slow
@pytest.mark.parametrize(
    "lines",
    [
        pytest.param(f"Authorization : Bearer {token()}\r\n", id="space before colon"),
        pytest.param(f"Authorization:\r\n Bearer {token()}\r\n", id="folded"),
        pytest.param(
            f"Authorization: Bearer {token(key=OTHER_KEY)}\r\nAuthorization: Bearer {token()}\r\n",
            id="a bad token first",
        ),
    ],
)
def test_malformed_authorization_headers_do_not_write(service: RunningServer, lines: str) -> None:
    assert_raw_write_refused(service, lines)


@pytest.mark.slow
def test_reads_and_the_probes_stay_open(service: RunningServer) -> None:
    for path in (ITEMS, "/v1/demo/io?delay_ms=1", "/livez", "/readyz"):
        assert http_request(service.base_url, "GET", path)[0] == 200, path


@contextlib.contextmanager
def _answering(body: bytes | None) -> Iterator[str]:
    """A JWKS URL that answers ``body`` with 200; None: nothing listens there."""
    if body is None:
        yield f"http://127.0.0.1:{free_port()}/jwks.json"
        return
    answer: bytes = body

    class _Answer(_Keys):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(None, id="unreachable"),
        pytest.param(b"<html>maintenance</html>", id="not JSON"),
        pytest.param(b"[]", id="not a JSON object"),
        pytest.param(b'{"keys": []}', id="no keys"),
        pytest.param(
            b'{"keys": [{"kty": "oct", "k": "c2VjcmV0", "use": "enc"}]}', id="no signing key"
        ),
    ],
)
def test_no_usable_keys_and_nothing_cached_is_503_not_401(
    project: Path, answer: bytes | None
) -> None:
    # The issuer's keys cannot be had: the caller's token may be fine, so never 401.
    with (
        _answering(answer) as url,
        serve(project, dockerfile_instruction(project, "CMD"), _issuer_env(url)) as server,
    ):
        status, answer_headers, body = _post(server, bearer(token()))
    assert status == 503, body
    assert answer_headers["retry-after"] == str(JWT_RETRY_AFTER_S)
    assert body["error"]["type"] == "unavailable" and body["request_id"] == "jwt-1"


@pytest.mark.slow
def test_an_issuer_without_a_jwks_url_stops_the_start(project: Path) -> None:
    environment = {JWT_ISSUER_SETTING: ISSUER, JWT_AUDIENCE_SETTING: AUDIENCE}
    line = refused_start(
        project, JWT_JWKS_URL_SETTING, environment, documented_startup_failure(project)
    )
    assert "not set" in line
