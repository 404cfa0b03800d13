"""An adopted app's own test suite, run through the service with only its client changed."""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from apistarter.cli import app
from tests.flask_examples import new_legacy, write_files

# The README's change to the client fixture, for a service whose package is `blog`.
IMPORT = "from blog.legacy.testing import service_client"
CLIENT = "    return service_client(app)"


def _run_suite(legacy: Path, src: Path) -> subprocess.CompletedProcess[str]:
    """The README's command, `cd legacy && PYTHONPATH=. python -m pytest tests`, with the
    service's src/ on the path too (this test environment has it not installed)."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-s", "tests"],
        cwd=legacy,
        env={**os.environ, "PYTHONPATH": f"{src}{os.pathsep}."},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_flaskrs_own_suite_passes_through_the_service(flaskr_service: Path, tmp_path: Path) -> None:
    readme = (flaskr_service / "README.md").read_text()
    assert IMPORT in readme and f"{CLIENT}  # was: app.test_client()" in readme
    project = tmp_path / "blog"
    shutil.copytree(flaskr_service, project)

    conftest = project / "legacy" / "tests" / "conftest.py"
    before = conftest.read_text()
    after = before.replace("import pytest\n", f"import pytest\n\n{IMPORT}\n", 1).replace(
        "    return app.test_client()\n", f"{CLIENT}\n"
    )
    conftest.write_text(after)
    changed = [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    assert changed == ["+", f"+{IMPORT}", "-    return app.test_client()", f"+{CLIENT}"]

    result = _run_suite(project / "legacy", project / "src")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # All of flaskr's tests ran (its filterwarnings = error included): login sessions,
    # `with client:` reading session and g, redirects, form posts, its CLI command.
    assert re.search(r"\b24 passed\b", output), output
    # ... and their requests went through the service: its request log names them.
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    logged = {line["path"] for line in lines if line.get("logger") == "blog.requests"}
    assert {"/", "/auth/login", "/auth/register", "/create", "/1/update"} <= logged


# An app of our own whose tests give SQLAlchemy an in-memory database (its default pool
# then opens one connection, one database, per thread).
MEMORY_APP = {
    "notes/__init__.py": (
        "from flask import Flask\nfrom sqlalchemy import create_engine, text\n\n\n"
        "def create_app(config=None):\n"
        "    app = Flask(__name__)\n"
        "    app.config['DATABASE_URL'] = 'sqlite:///notes.db'\n"
        "    app.config.update(config or {})\n"
        "    engine = create_engine(app.config['DATABASE_URL'])\n\n"
        "    @app.get('/notes')\n"
        "    def notes():\n"
        "        with engine.connect() as db:\n"
        "            return [row.text for row in db.execute(text('SELECT text FROM note'))]\n\n"
        "    return app\n"
    ),
    "tests/conftest.py": (
        "import pytest\n\nfrom notes import create_app\n\n\n"
        "@pytest.fixture\n"
        "def app():\n"
        "    return create_app({'DATABASE_URL': 'sqlite://'})\n"
    ),
}


def test_an_in_memory_test_database_is_found_and_explained(tmp_path: Path) -> None:
    source = write_files(tmp_path / "notes-app", MEMORY_APP)
    inspected = CliRunner().invoke(app, ["inspect", str(source), "--json"])
    assert inspected.exit_code == 0, inspected.stderr
    state = json.loads(inspected.stdout)["state"]
    (memory,) = [s for s in state if s["kind"] == "sqlite-in-memory"]
    assert memory["evidence"] == {"file": "tests/conftest.py", "line": 8}
    # Why it breaks behind the mount, and the way out.
    assert "another of the mount's threads is a new, empty, database" in memory["detail"]
    assert "in tests, one in pytest's tmp_path" in memory["detail"]

    code, stdout, stderr = new_legacy(tmp_path / "svc", source)
    assert code == 0, stderr
    readme = " ".join((Path(json.loads(stdout)["directory"]) / "README.md").read_text().split())
    assert "**In-memory SQLite** (tests/conftest.py:8)" in readme
    assert "in tests, one in pytest's `tmp_path` (`f\"sqlite:///{tmp_path" in readme
