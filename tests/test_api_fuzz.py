"""Schemathesis against each generated service's own OpenAPI schema, over real HTTP.

Bounded (a fixed seed, a few dozen cases per operation, no shrinking) so it fits in
the suite; it still found two real bugs when first run: Flask's spec said
`securitySchemes: null`, and a malformed JSON body answered an undocumented 400.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from apistarter.questions import Framework
from apistarter.render import available_frameworks

from .harness import BIN, OPENAPI_PATH, dockerfile_instruction, render_service, serve

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("framework", sorted(available_frameworks()))
def test_no_server_errors_and_responses_match_the_schema(
    framework: Framework, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    project = render_service(tmp_path / "svc", framework)
    command = dockerfile_instruction(project, "CMD")
    with serve(project, command, {"APP_DOWNSTREAM_DELAY_MS": "0"}) as server:
        result = subprocess.run(
            [
                str(BIN / "schemathesis"),
                "run",
                server.base_url + OPENAPI_PATH,
                *("--checks", ",".join(CHECKS)),
                *("--phases", "examples,coverage,fuzzing"),
                *("--max-examples", "25", "--seed", "1", "--no-shrink"),
                *("--workers", "1", "--request-timeout", "10"),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            cwd=tmp_path,  # its run data (.schemathesis/) stays out of the checkout
        )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    assert "Tested: 0" not in result.stdout  # a schema it cannot read tests nothing
