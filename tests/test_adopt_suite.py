"""An adopted app's own test suite, run through the service with only its client changed."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from apistarter.cli import app
from tests.flask_examples import new_legacy, write_files
from tests.harness import git, tree_state


def _readme_command(project: Path) -> list[str]:
    """The README's command that runs the app's own tests alone, with this interpreter."""
    readme = (project / "README.md").read_text()
    line = next(x.strip() for x in readme.splitlines() if x.strip().startswith("cd legacy && "))
    words = shlex.split(line.removeprefix("cd legacy && "))
    assert words[0] == "PYTHONPATH=.:../src" and words[1] == "../.venv/bin/python", line
    return [sys.executable, *words[2:]]


def _run_suite(project: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """The README's command, from legacy/ (this test environment has the service on its
    path rather than installed in the service's .venv)."""
    return subprocess.run(
        [*_readme_command(project), *extra],
        cwd=project / "legacy",
        env={**os.environ, "PYTHONPATH": f".{os.pathsep}{project / 'src'}"},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_flaskrs_own_suite_passes_through_the_service_unchanged(flaskr_service: Path) -> None:
    result = _run_suite(flaskr_service, "-s")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # All of flaskr's tests ran (its filterwarnings = error included): login sessions,
    # `with client:` reading session and g, redirects, form posts, its CLI command.
    assert re.search(r"\b24 passed\b", output), output
    # ... and their requests went through the service: its request log names them.
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    logged = {line["path"] for line in lines if line.get("logger") == "blog.requests"}
    assert {"/", "/auth/login", "/auth/register", "/create", "/1/update"} <= logged
    # Not one of the app's files was changed for it.
    assert git(flaskr_service, "status", "--porcelain") == ""
    # The service's own test runs the same suite: its CI does too.
    generated = flaskr_service / "tests" / "test_legacy_suite.py"
    assert '"-p",\n    "blog.legacy.testing"' in generated.read_text()


# A unittest suite in tests.py beside the app (no pytest in sight).
UNITTEST_APP = {
    "shop.py": (
        "from flask import Flask, request\n\napp = Flask(__name__)\n\n\n"
        "@app.post('/orders')\ndef order():\n"
        "    return {'item': request.get_json()['item'], 'remote': request.remote_addr}, 201\n"
    ),
    "tests.py": (
        "import unittest\n\nfrom shop import app\n\n\n"
        "class OrderTest(unittest.TestCase):\n"
        "    def test_order(self):\n"
        "        response = app.test_client().post('/orders', json={'item': 'tea'})\n"
        "        self.assertEqual(response.status_code, 201)\n"
        "        self.assertEqual(response.json['item'], 'tea')\n"
        "        # The service's middleware answered too.\n"
        "        self.assertIn('X-Request-ID', response.headers)\n"
    ),
}


def test_a_unittest_suite_runs_through_the_service_with_unittest(tmp_path: Path) -> None:
    source = write_files(tmp_path / "shop-app", UNITTEST_APP)
    code, stdout, stderr = new_legacy(tmp_path / "orders", source)
    assert code == 0, stderr
    project = Path(json.loads(stdout)["directory"])

    result = _run_suite(project)

    output = result.stdout + result.stderr
    assert result.returncode == 0 and "Ran 1 test" in output, output
    assert "orders.legacy.testing discover -s . -t ." in (project / "README.md").read_text()
    # The same suite, run by the service's own tests.
    suite = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_legacy_suite.py",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert suite.returncode == 0 and "2 passed" in suite.stdout, suite.stdout + suite.stderr


def test_the_hook_is_what_makes_the_suite_go_through_the_service(tmp_path: Path) -> None:
    source = write_files(tmp_path / "shop-app", UNITTEST_APP)
    code, stdout, stderr = new_legacy(tmp_path / "orders", source)
    assert code == 0, stderr
    project = Path(json.loads(stdout)["directory"])
    # Plain unittest, without the hook: the app answers alone, without the service's header.
    alone = subprocess.run(
        [sys.executable, "-m", "unittest", "discover", "-s", ".", "-t", "."],
        cwd=project / "legacy",
        env={**os.environ, "PYTHONPATH": f".{os.pathsep}{project / 'src'}"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert alone.returncode != 0 and "X-Request-ID" in alone.stderr, alone.stderr


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


def test_a_package_name_that_is_the_app_s_module_is_refused(tmp_path: Path) -> None:
    source = write_files(tmp_path / "shop-app", UNITTEST_APP)
    before = tree_state(tmp_path)

    code, _, stderr = new_legacy(tmp_path / "shop", source)

    assert code == 2
    assert stderr == (
        "error: package_name shop is also the name of the app's own module; one would hide "
        "the other. Choose another with --set package_name=NAME. Nothing was written"
    )
    assert tree_state(tmp_path) == before
