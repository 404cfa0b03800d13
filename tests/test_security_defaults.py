"""Security defaults that tests/test_security.py leaves open, for every framework.

test_security.py covers the non-root USER, .env kept out of git, SecretStr in
reprs and logs, the 413 body limit and CORS for simple requests. Here: the app the
server imports has debug off and answers an unhandled exception without a trace
(the Flask app mounted in a hybrid too); every secret-named setting is a SecretStr;
a local .env never enters the image's build context; and configured CORS answers
preflights for the listed origin only, never with a wildcard or credentials.
"""

from __future__ import annotations

import fnmatch
import http.client
import json
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from apistarter.questions import Framework
from apistarter.render import available_frameworks

from .harness import dockerfile_instruction, render_service, run, serve

pytestmark = pytest.mark.slow

FRAMEWORKS = sorted(available_frameworks())
# Settings whose names say they hold credentials; each must be a SecretStr.
SECRET_NAME = re.compile(r"(key|token|secret|password|passwd|credential)", re.IGNORECASE)
CRASH_MESSAGE = "crash-detail-for-the-log-only"
ALLOWED_ORIGIN = "https://app.example.com"

# Run in the generated project's environment: imports `<package>.main:app` as the
# server does (default settings, no APP_DEBUG), adds a route that raises, and reports
# what a client gets back, as JSON on the line marked PROBE-REPORT (logs share stdout).
PROBE = """
import json, sys
from {package}.main import app
from {package}.settings import AppSettings

def crash():
    raise RuntimeError({message!r})

report = {{"secrets": {{}}}}
for name, field in AppSettings.model_fields.items():
    report["secrets"][name] = "SecretStr" in str(field.annotation)
if {framework!r} == "flask":
    report["debug"] = [app.debug, app.config["DEBUG"]]
    app.add_url_rule("/crash-probe", "crash_probe", crash)
    response = app.test_client().get("/crash-probe")
    report["crash"] = [response.status_code, response.get_data(as_text=True)]
else:
    from fastapi.testclient import TestClient
    from starlette.routing import Mount

    report["debug"] = [app.debug]
    app.add_api_route("/crash-probe", crash)
    paths = ["/crash-probe"]
    for route in app.routes:
        if isinstance(route, Mount):  # the hybrid's Flask app, behind a2wsgi
            legacy = route.app.app
            report["debug"].append(legacy.debug)
            legacy.add_url_rule("/crash-probe", "crash_probe", crash)
            paths.append(route.path + "/crash-probe")
    client = TestClient(app, raise_server_exceptions=False)
    report["crash"] = []
    for path in paths:
        response = client.get(path)
        report["crash"] += [response.status_code, response.text]
print("PROBE-REPORT", json.dumps(report))
"""


def _package(project: Path) -> str:
    return next(p.name for p in (project / "src").iterdir() if (p / "main.py").is_file())


def _probe(project: Path, framework: Framework) -> dict[str, Any]:
    script = PROBE.format(package=_package(project), framework=framework, message=CRASH_MESSAGE)
    # The service with API keys needs one to import (its settings refuse an empty list).
    keys = {"APP_API_KEYS": json.dumps(["probe-key-0123456789abcdef"])}
    output = run([sys.executable, "-c", script], project, keys)
    marked = [line for line in output.splitlines() if line.startswith("PROBE-REPORT ")]
    assert len(marked) == 1, output
    report: dict[str, Any] = json.loads(marked[0].removeprefix("PROBE-REPORT "))
    return report


def _in_build_context(dockerignore: str, path: str) -> bool:
    """Whether Docker sends ``path`` with the build context: the last matching rule wins."""
    included = True
    for line in dockerignore.splitlines():
        rule = line.strip()
        if not rule or rule.startswith("#"):
            continue
        negated = rule.startswith("!")
        pattern = rule.lstrip("!").strip("/")
        if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
            included = negated
    return included


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_errors_hide_details_and_secrets_are_typed(
    framework: Framework, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    # With API keys: the default service (auth=none) has no secret setting to check.
    project = render_service(tmp_path / "svc", framework, {"auth": "api-key"})
    report = _probe(project, framework)

    # Debug off by default in every app the server runs (the hybrid's Flask app too).
    assert report["debug"] and not any(report["debug"]), report["debug"]
    expected_apps = 2 if framework == "hybrid" else 1
    assert len(report["crash"]) == 2 * expected_apps
    for status, body in zip(report["crash"][::2], report["crash"][1::2], strict=True):
        assert status == 500, body
        assert json.loads(body)["error"]["type"] == "internal_error"
        # The cause is for the log; the client learns nothing of the code.
        for detail in ("Traceback", "RuntimeError", CRASH_MESSAGE, ".py"):
            assert detail not in body

    secret_fields = {name for name in report["secrets"] if SECRET_NAME.search(name)}
    assert secret_fields, "no secret setting: the service shows no way to hold one"
    untyped = sorted(name for name in secret_fields if not report["secrets"][name])
    assert untyped == [], f"secret settings that are not SecretStr: {untyped}"

    # `docker build .` never sends a developer's real settings into the image.
    dockerignore = (project / ".dockerignore").read_text()
    for path in (".env", ".env.local", ".env.production"):
        assert not _in_build_context(dockerignore, path), path
    assert _in_build_context(dockerignore, "src/" + _package(project) + "/main.py")


def _preflight(base_url: str, origin: str) -> dict[str, str]:
    address = urlsplit(base_url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    try:
        connection.request(
            "OPTIONS",
            "/v1/items",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        response = connection.getresponse()
        response.read()
        return {name.lower(): value for name, value in response.getheaders()}
    finally:
        connection.close()


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_configured_cors_answers_preflight_for_listed_origins_only(
    framework: Framework, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    project = render_service(tmp_path / "svc", framework)
    env = {"APP_CORS_ORIGINS": json.dumps([ALLOWED_ORIGIN])}
    with serve(project, dockerfile_instruction(project, "CMD"), env) as server:
        allowed = _preflight(server.base_url, ALLOWED_ORIGIN)
        other = _preflight(server.base_url, "https://evil.example")

    assert allowed.get("access-control-allow-origin") == ALLOWED_ORIGIN, allowed
    assert "POST" in allowed.get("access-control-allow-methods", ""), allowed
    # Cookies and auth headers are not shared across origins unless a service opts in.
    assert "access-control-allow-credentials" not in allowed, allowed
    assert "access-control-allow-origin" not in other, other
