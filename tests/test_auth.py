"""auth=api-key: the plan, and real servers refusing every way around the key."""

from __future__ import annotations

import hashlib
import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import jinja2
import pytest
import yaml
from typer.testing import CliRunner

from apistarter.auth import (
    ANSWERED,
    API_KEY_HEADER,
    API_KEYS_SETTING,
    AUTH_FOR_CONSUMERS,
    plan_auth,
)
from apistarter.cli import app
from apistarter.decision import decide
from apistarter.questions import Auth, Consumers, DecisionAnswers, Framework, ProjectAnswers
from apistarter.render import template_data, templates_dir

from .harness import (
    RunningServer,
    dockerfile_instruction,
    http_request,
    render_service,
    serve,
)
from .test_hostile_clients import documented_startup_failure, refused_start

FRAMEWORKS: list[Framework] = ["fastapi", "flask", "hybrid"]
KEYS = ["first-key-0123456789abcdef", "second-key-0123456789abcdef"]
ITEMS = "/v1/items"
ITEM = json.dumps({"name": "Cup", "price": "2.50"}).encode()
JSON = {"Content-Type": "application/json"}
ORIGIN = "https://app.example.com"
CHALLENGE = f'APIKey header="{API_KEY_HEADER}"'


def test_api_keys_are_a_required_secret_on_every_target() -> None:
    names = ProjectAnswers(project_name="orders-api")
    jwt_config = ["APP_JWT_ISSUER", "APP_JWT_AUDIENCE", "APP_JWT_JWKS_URL"]
    cases: list[tuple[Auth, list[str], list[str]]] = [
        ("none", [], []),
        ("api-key", [API_KEYS_SETTING], []),
        # The token issuer's settings are plain configuration: required, never a Secret.
        ("jwt", [], jwt_config),
    ]
    for auth, secrets, config in cases:
        answers = DecisionAnswers(auth=auth)
        deploy = template_data(names, answers, decide(answers, "fastapi"))["deploy"]
        assert deploy["secrets"] == deploy["required_secrets"] == secrets
        assert deploy["required_config"] == config


def test_plain_copier_auth_default_equals_the_engine() -> None:
    question = yaml.safe_load((templates_dir() / "copier.yml").read_text())["auth_plan"]
    rendered = jinja2.Environment(autoescape=True).from_string(json.dumps(question["default"]))
    assert json.loads(rendered.render()) == plan_auth(DecisionAnswers()).model_dump(mode="json")


@pytest.mark.parametrize(
    ("consumers", "scheme"), [("partners", "jwt"), ("frontend", "jwt"), ("internal", "none")]
)
def test_auth_auto_follows_who_calls_the_api(consumers: Consumers, scheme: Auth) -> None:
    plan = plan_auth(DecisionAnswers(api_consumers=consumers))
    assert plan.scheme == scheme
    assert plan.chosen.startswith(f"api_consumers={consumers}: auth={scheme}.")
    # An answer other than auto is the team's: it wins over the consumers' row.
    for chosen in ("none", "api-key", "jwt"):
        override = plan_auth(DecisionAnswers(api_consumers=consumers, auth=chosen))
        assert (override.scheme, override.chosen) == (chosen, f"auth={chosen}: {ANSWERED}")


def test_an_adopted_app_keeps_its_own_auth_and_starts_without_new_settings() -> None:
    answers = DecisionAnswers(api_consumers="partners")
    adopted = decide(answers, adopted=True).auth
    assert (adopted.scheme, adopted.config) == ("none", ())
    assert adopted.chosen.startswith("new --legacy: auth=none.")
    assert decide(answers.model_copy(update={"auth": "jwt"}), adopted=True).auth.scheme == "jwt"


def test_the_record_and_the_panel_say_why_the_scheme(tmp_path: Path) -> None:
    project = render_service(tmp_path / "svc", "fastapi", {"auth": "auto"})
    reason = AUTH_FOR_CONSUMERS["frontend"][1]
    adr = " ".join((project / "docs" / "decisions" / "0001-web-framework.md").read_text().split())
    assert f"api_consumers=frontend: auth=jwt. {reason}" in adr
    shown = CliRunner().invoke(app, ["decide", "--defaults"])
    assert shown.exit_code == 0, shown.output
    # The panel wraps its second column inside box borders: read the words only.
    words = " ".join(re.sub(r"[│╭╮╰╯─]", " ", shown.stdout).split())
    assert f"api_consumers=frontend: auth=jwt. {reason}" in words


# --- Real servers (slow) ----------------------------------------------------------------


@pytest.fixture(scope="module", params=FRAMEWORKS)
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, RunningServer]]:
    """A service with auth=api-key and two keys, served by its image's command."""
    framework: Framework = request.param
    project = render_service(tmp_path_factory.mktemp(framework), framework, {"auth": "api-key"})
    command = dockerfile_instruction(project, "CMD")
    # One process: the example items live in each process's memory, and the tests count them.
    environment = {
        API_KEYS_SETTING: json.dumps(KEYS),
        "WEB_CONCURRENCY": "1",
        "APP_CORS_ORIGINS": json.dumps([ORIGIN]),
    }
    with serve(project, command, environment) as server:
        yield project, server


def _items(server: RunningServer) -> list[object]:
    status, _, body = http_request(server.base_url, "GET", ITEMS + "?limit=1000")
    assert status == 200
    items: list[object] = json.loads(body)
    return items


@pytest.mark.slow
def test_writes_need_one_of_the_keys(service: tuple[Path, RunningServer]) -> None:
    _, server = service
    for headers in ({}, {API_KEY_HEADER: "wrong-key-0123456789abcdef"}, {API_KEY_HEADER: ""}):
        status, answer, body = http_request(
            server.base_url, "POST", ITEMS, ITEM, {**JSON, **headers, "X-Request-ID": "auth-1"}
        )
        assert status == 401, body
        assert answer["www-authenticate"] == CHALLENGE
        assert json.loads(body)["error"]["type"] == "unauthorized"
        assert json.loads(body)["request_id"] == "auth-1"
    # Either key during a rotation; a header name in any case, as HTTP has it.
    for header, key in ((API_KEY_HEADER, KEYS[0]), (API_KEY_HEADER.lower(), KEYS[1])):
        status, _, body = http_request(server.base_url, "POST", ITEMS, ITEM, {**JSON, header: key})
        assert status == 201, body


# Every way around a write route's check that does not depend on the credential: each
# scheme's real-server tests (here and tests/test_auth_jwt.py) send them all.
BYPASSES = [
    pytest.param("POST", ITEMS + "/", {}, id="trailing slash"),
    pytest.param("POST", "/" + ITEMS, {}, id="double slash"),
    pytest.param("POST", "/v1/%69tems", {}, id="encoded path"),
    pytest.param("POST", ITEMS.upper(), {}, id="upper case"),
    pytest.param("POST", ITEMS + ";key=1", {}, id="path parameter"),
    pytest.param("POST", ITEMS + "/.", {}, id="dot segment"),
    pytest.param("POST", ITEMS, {"X-HTTP-Method-Override": "GET"}, id="override to GET"),
    pytest.param("PUT", ITEMS, {}, id="PUT"),
    pytest.param("PATCH", ITEMS, {}, id="PATCH"),
    pytest.param("DELETE", ITEMS, {}, id="DELETE"),
    pytest.param("OPTIONS", ITEMS, {}, id="OPTIONS"),
    pytest.param("HEAD", ITEMS, {"X-HTTP-Method-Override": "POST"}, id="HEAD overridden to POST"),
]


def assert_nothing_written(
    server: RunningServer, method: str, path: str, headers: dict[str, str]
) -> None:
    """``method`` on ``path`` with ``headers`` is not a 2xx and writes no item."""
    before = len(_items(server))
    status, _, body = http_request(server.base_url, method, path, ITEM, {**JSON, **headers})
    # HEAD reads where the framework answers it (Flask does, FastAPI 405s); it never writes.
    assert method == "HEAD" or not 200 <= status < 300, (status, body)
    assert len(_items(server)) == before


def assert_raw_write_refused(server: RunningServer, credential_lines: str) -> None:
    """A write whose credential header lines are sent exactly as written writes nothing."""
    before = len(_items(server))
    answer = _raw(
        server,
        f"POST {ITEMS} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"{credential_lines}Content-Length: {len(ITEM)}\r\nConnection: close\r\n\r\n",
    )
    status = int(answer.split(b" ", 2)[1])
    assert not 200 <= status < 300, answer
    assert len(_items(server)) == before


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        *BYPASSES,
        pytest.param("POST", ITEMS, {API_KEY_HEADER: KEYS[0].upper()}, id="key in other case"),
        pytest.param(
            "POST", ITEMS, {API_KEY_HEADER: f"{KEYS[0]},{KEYS[1]}"}, id="both keys in one header"
        ),
    ],
)
def test_no_spelling_of_a_write_gets_past_the_check(
    service: tuple[Path, RunningServer], method: str, path: str, headers: dict[str, str]
) -> None:
    _, server = service
    assert_nothing_written(server, method, path, headers)


def _raw(server: RunningServer, head: str) -> bytes:
    """Send a request head exactly as written (http.client refuses malformed ones)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(head.encode("latin-1") + ITEM)
        return connection.recv(65536)


@pytest.mark.slow
@pytest.mark.parametrize(
    "key_lines",
    [
        f"{API_KEY_HEADER} : {KEYS[0]}\r\n",  # a space before the colon
        f"{API_KEY_HEADER}: wrong-key-0123456789abcdef\r\n{API_KEY_HEADER}: {KEYS[0]}\r\n",
        f"{API_KEY_HEADER}:\r\n {KEYS[0]}\r\n",  # obsolete line folding
    ],
    ids=["space before colon", "a wrong key first", "folded"],
)
def test_malformed_key_headers_do_not_write(
    service: tuple[Path, RunningServer], key_lines: str
) -> None:
    _, server = service
    assert_raw_write_refused(server, key_lines)


@pytest.mark.slow
def test_the_log_names_the_key_by_its_hash_never_the_key(
    service: tuple[Path, RunningServer],
) -> None:
    _, server = service
    status, _, _ = http_request(
        server.base_url, "POST", ITEMS, ITEM, {**JSON, API_KEY_HEADER: KEYS[1]}
    )
    assert status == 201
    logged = [json.loads(line) for line in server.output().splitlines() if line.startswith("{")]
    writes = [e for e in logged if e.get("method") == "POST" and e.get("status") == 201]
    assert writes and writes[-1]["api_key_id"] == hashlib.sha256(KEYS[1].encode()).hexdigest()[:8]
    assert not any(key in server.output() for key in KEYS)


@pytest.mark.slow
def test_reads_and_the_probes_stay_open(service: tuple[Path, RunningServer]) -> None:
    project, server = service
    for path in (ITEMS, "/v1/demo/io?delay_ms=1", "/livez", "/readyz"):
        assert http_request(server.base_url, "GET", path)[0] == 200, path
    if (project / "src" / "orders_api" / "legacy").is_dir():
        # The hybrid's mounted Flask app keeps its own authentication (here, none).
        assert http_request(server.base_url, "GET", "/legacy/hello")[0] == 200


@pytest.mark.slow
def test_a_browser_may_send_the_key_from_an_allowed_origin(
    service: tuple[Path, RunningServer],
) -> None:
    """The CORS preflight carries no key (browsers never send one); it must pass."""
    _, server = service
    preflight = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": f"content-type,{API_KEY_HEADER.lower()}",
    }
    status, headers, _ = http_request(server.base_url, "OPTIONS", ITEMS, headers=preflight)
    assert status == 200
    assert headers["access-control-allow-origin"] == ORIGIN
    assert API_KEY_HEADER.lower() in headers["access-control-allow-headers"].lower()


@pytest.mark.slow
@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize(
    ("keys", "problem"),
    [(None, "not set"), ('["short"]', "16 characters or more")],
    ids=["no keys", "a short key"],
)
def test_the_service_refuses_to_start_without_usable_keys(
    tmp_path: Path, framework: Framework, keys: str | None, problem: str
) -> None:
    project = render_service(tmp_path, framework, {"auth": "api-key"})
    environment = {API_KEYS_SETTING: keys} if keys else {}
    exit_code = documented_startup_failure(project)
    line = refused_start(project, API_KEYS_SETTING, environment, exit_code)
    assert problem in line and '"short"' not in line  # the value is never echoed


def test_a_partner_api_without_credentials_is_warned_about() -> None:
    def warned(**answers: object) -> bool:
        recommendation = decide(DecisionAnswers.model_validate(answers), "fastapi")
        return any(w.answer.startswith("api_consumers=partners") for w in recommendation.warnings)

    assert warned(api_consumers="partners", auth="none")
    # auth=auto gives partners jwt: nothing to warn about.
    assert not warned(api_consumers="partners")
    assert not warned(api_consumers="partners", auth="api-key")
    assert not warned(api_consumers="partners", auth="jwt")
    assert not warned(api_consumers="internal")
