"""`apistarter inspect`: a static reading of real Flask projects, each finding with evidence."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from apistarter.cli import app
from apistarter.inspect import InspectError, inspect_project
from apistarter.inspect.reader import FILE_CAP
from tests.flask_examples import (
    FLASK,
    FLASK_CORS,
    FLASK_RESTFUL,
    line_at,
    sdist,
    write_files,
)
from tests.harness import tree_state

runner = CliRunner()


@pytest.fixture(scope="session")
def flaskr(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sdist(FLASK, tmp_path_factory) / "examples" / "tutorial"


@pytest.fixture(scope="session")
def cors_examples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sdist(FLASK_CORS, tmp_path_factory) / "examples"


def _inspect_json(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["inspect", *args, "--json"])
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def _where(finding: dict[str, Any]) -> str:
    return f"{finding['evidence']['file']}:{finding['evidence']['line']}"


def test_flaskr_factory_routes_state_secrets_and_tests(flaskr: Path) -> None:
    before = tree_state(flaskr)
    report = _inspect_json(str(flaskr))
    # Read, never imported or run: not even a __pycache__ appears.
    assert tree_state(flaskr) == before

    assert report["app"]["import_path"] == "flaskr:create_app"
    assert report["app"]["kind"] == "factory"
    assert "Flask(__name__" in line_at(flaskr, _where(report["app"]))

    routes = {r["rule"]: r for r in report["routes"]}
    # The blueprints' url_prefix is applied; the `add_url_rule("/", endpoint="index")`
    # alias has no view of its own and is not a route.
    assert sorted(routes) == [
        "/",
        "/<int:id>/delete",
        "/<int:id>/update",
        "/auth/login",
        "/auth/logout",
        "/auth/register",
        "/create",
        "/hello",
        # Flask's own, on every app with a static folder: registered at Flask(...).
        "/static/<path:filename>",
    ]
    assert routes["/auth/login"]["methods"] == ["GET", "POST"]
    assert routes["/<int:id>/delete"]["methods"] == ["POST"]
    assert routes["/static/<path:filename>"]["registered_by"] == "flask"
    assert "Flask(__name__" in line_at(flaskr, _where(routes["/static/<path:filename>"]))
    for route in report["routes"]:
        if not route["registered_by"]:
            assert ".route(" in line_at(flaskr, _where(route)), route
    assert report["unknown_routes"] == []

    secret = next(s for s in report["settings"] if s["name"] == "SECRET_KEY")
    assert secret["secret"] and secret["literal_in_code"]
    assert "SECRET_KEY" in line_at(flaskr, _where(secret))

    instance = next(s for s in report["state"] if s["kind"] == "instance-folder")
    assert "instance_relative_config=True" in line_at(flaskr, _where(instance))
    sqlite = [s for s in report["state"] if s["kind"] == "sqlite"]
    assert any("sqlite3.connect" in line_at(flaskr, _where(s)) for s in sqlite)
    assert [c["name"] for c in report["commands"]] == ["init-db"]
    assert "sessions" in {e["name"] for e in report["extensions"]}

    assert report["tests"]["directory"] == "tests"
    fixtures = {f["name"]: f for f in report["tests"]["fixtures"]}
    assert {"app", "client"} <= set(fixtures)
    assert "def client" in line_at(flaskr, _where(fixtures["client"]))

    assert report["answers"] == {
        "codebase": "existing-flask",
        "existing_routes": 8,
        "blocking_deps": ["file-io"],
        "legacy_app": "flaskr:create_app",
    }
    assert [d["requirement"] for d in report["dependencies"]] == ["flask", "pytest"]


def test_human_output_names_the_app_and_its_evidence(flaskr: Path) -> None:
    result = runner.invoke(app, ["inspect", str(flaskr)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "flaskr:create_app (factory, flaskr/__init__.py:" in result.stdout
    assert "9 routes" in result.stdout
    assert "SECRET_KEY secret set in code" in result.stdout


def test_app_object_whose_views_live_in_another_module(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    root = sdist(FLASK, tmp_path_factory) / "examples" / "javascript"
    report = inspect_project(root)
    assert report.app.import_path == "js_example:app"
    assert report.app.kind == "object"
    # views.py does `from . import app`: its decorators still resolve to that app.
    assert {(r.rule, r.methods) for r in report.routes} == {
        ("/", ("GET",)),
        ("/<any(xhr, jquery, fetch):js>", ("GET",)),
        ("/add", ("POST",)),
        ("/static/<path:filename>", ("GET",)),
    }
    assert report.answers()["blocking_deps"] == []


def test_several_apps_are_listed_and_one_is_chosen_with_app(cors_examples: Path) -> None:
    before = tree_state(cors_examples)
    result = runner.invoke(app, ["inspect", str(cors_examples)])
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "several Flask apps: app_based_example:app (app_based_example.py:" in message
    assert "blueprints_based_example:app" in message and "view_based_example:app" in message
    assert "--app MODULE:NAME" in message
    assert "Traceback" not in result.output

    report = _inspect_json(str(cors_examples), "--app", "app_based_example:app")
    assert tree_state(cors_examples) == before
    # A JSON API in a plain script: no packaging, no tests of its own.
    assert [r["rule"] for r in report["routes"]] == [
        "/",
        "/api/exception",
        "/api/v1/users/",
        "/api/v1/users/create",
        "/static/<path:filename>",
    ]
    assert report["dependencies"] == [] and report["tests"] is None
    cors = next(e for e in report["extensions"] if e["name"] == "flask-cors")
    assert "flask_cors" in line_at(cors_examples, _where(cors))
    assert report["answers"]["legacy_app"] == "app_based_example:app"


def test_flask_restful_resources_are_routes(tmp_path_factory: pytest.TempPathFactory) -> None:
    root = sdist(FLASK_RESTFUL, tmp_path_factory) / "examples"
    report = inspect_project(root, "todo:app")
    assert {(r.rule, r.methods, r.view) for r in report.routes} == {
        ("/static/<path:filename>", ("GET",), "static"),
        ("/todos", ("GET", "POST"), "TodoList"),
        ("/todos/<string:todo_id>", ("GET", "DELETE", "PUT"), "Todo"),
    }


def test_decide_from_a_project_asks_only_what_the_code_cannot_tell(flaskr: Path) -> None:
    result = runner.invoke(app, ["decide", "--from", str(flaskr)])
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "no answer for: measured_problem, workload" in message
    assert "codebase" not in message and "existing_routes" not in message

    # What the code shows reaches the rules (sqlite3 is blocking file I/O) ...
    args = ["decide", "--from", str(flaskr), "--preset", "modernise-flask-app", "--defaults"]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    recommendation = json.loads(result.stdout)
    assert recommendation["framework"] == "hybrid"
    assert "blocking_deps=file-io" in {w["answer"] for w in recommendation["warnings"]}
    # ... and what the person says stands above it.
    result = runner.invoke(app, [*args, "--set", "blocking_deps=", "--json"])
    warnings = json.loads(result.stdout)["warnings"]
    assert not any("blocking_deps" in w["answer"] for w in warnings)

    result = runner.invoke(app, ["decide", "--app", "flaskr:create_app", "--defaults"])
    assert result.exit_code == 2
    assert "--app needs the project to read (--from or --legacy PATH)" in result.stderr


def test_settings_environment_and_blocking_libraries(tmp_path: Path) -> None:
    root = write_files(
        tmp_path,
        {
            "service.py": (
                "import os\n"
                "from os import environ\n"
                "import requests\n"
                "import redis.asyncio\n"
                "from sqlalchemy import create_engine\n"
                "from flask import Flask\n"
                "app = Flask(__name__)\n"
                "app.config['API_TOKEN'] = os.environ['API_TOKEN']\n"
                "app.secret_key = 'change-me'\n"
                "app.config.from_prefixed_env()\n"
                "URL = os.getenv('DATABASE_URL', 'postgresql://u:p@db/app')\n"
                "HOST = environ.get('REDIS_HOST')\n"
                "@app.get('/items')\n"
                "def items(): ...\n"
            ),
            "requirements.txt": "flask<3  # old pin\n-r other.txt\nrequests==2.31.0\n",
            "setup.cfg": "[options]\npython_requires = >=3.9\n",
        },
    )
    report = inspect_project(root)
    settings = {(s.kind, s.name): s for s in report.settings}
    assert settings[("env", "API_TOKEN")].secret
    assert settings[("config", "SECRET_KEY")].literal_in_code
    assert not settings[("env", "REDIS_HOST")].secret
    assert ("env-prefix", "FLASK_*") in settings
    assert settings[("env", "DATABASE_URL")].evidence.line == 11
    # The URL's scheme is reported, never its credentials.
    urls = [s for s in report.state if s.kind == "database-url"]
    assert [u.detail for u in urls] == ["postgresql:// URL"]
    # redis.asyncio is the async client: not a blocking library.
    assert report.answers()["blocking_deps"] == ["requests", "sqlalchemy-sync"]
    assert [(d.requirement, str(d.evidence)) for d in report.dependencies] == [
        ("flask<3", "requirements.txt:1"),
        ("requests==2.31.0", "requirements.txt:3"),
    ]
    assert report.requires_python == ">=3.9"
    assert str(report.requires_python_evidence) == "setup.cfg:2"
    assert [(r.rule, r.methods) for r in report.routes if not r.registered_by] == [
        ("/items", ("GET",))
    ]


def test_setup_py_is_read_as_a_tree_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    root = write_files(
        tmp_path / "app",
        {
            "setup.py": (
                f"open({str(marker)!r}, 'w').close()\n"
                "from setuptools import setup\n"
                "setup(name='x', install_requires=['flask>=2', 'psycopg2-binary'],\n"
                "      python_requires='>=3.8')\n"
            ),
            "x/__init__.py": "import psycopg2\nfrom flask import Flask\ndef make():\n"
            "    app = Flask('x')\n    return app\n",
        },
    )
    report = inspect_project(root)
    assert not marker.exists()
    assert report.app.import_path == "x:make"
    assert [d.requirement for d in report.dependencies] == ["flask>=2", "psycopg2-binary"]
    assert report.requires_python == ">=3.8"
    assert report.answers()["blocking_deps"] == ["psycopg2"]


@pytest.mark.parametrize(
    ("files", "target", "app_option", "message"),
    [
        ({}, "missing", None, "missing: no such directory"),
        ({"a.py": "print('hi')\n"}, "a.py", None, "not a directory"),
        (
            {"a.py": "import flask\n", "tests/test_a.py": "from flask import Flask\nFlask('t')\n"},
            ".",
            None,
            "no Flask app found",
        ),
        ({"a.py": "from flask import Flask\napp = Flask('a')\n"}, ".", "b:app", "--app b:app"),
    ],
)
def test_refusals_are_one_line_exit_2_and_write_nothing(
    tmp_path: Path, files: dict[str, str], target: str, app_option: str | None, message: str
) -> None:
    root = write_files(tmp_path / "p", files) if files else tmp_path / "p"
    before = tree_state(tmp_path)
    args = ["inspect", str(root / target if target != "." else root)]
    result = runner.invoke(app, [*args, *(["--app", app_option] if app_option else [])])
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 or "Traceback" not in result.output
    assert tree_state(tmp_path) == before
    with pytest.raises(InspectError):
        inspect_project(Path(args[1]), app_option)


def test_only_regular_files_inside_the_project_are_read_within_caps(tmp_path: Path) -> None:
    """A pipe that blocks whoever opens it, a link to an endless device, a link out of
    the project and a file over the cap: each skipped with one line, inspect completes."""
    root = write_files(
        tmp_path / "api",
        {"app.py": "from flask import Flask\napp = Flask(__name__)\n", "reqs/base.txt": "flask\n"},
    )
    os.mkfifo(root / "pipe.py")
    os.mkfifo(root / "requirements.txt")
    (root / "zero.py").symlink_to("/dev/zero")
    (root / "requirements-dev.txt").symlink_to(tmp_path.parent / "elsewhere.txt")
    (root / "big.py").write_text("#" * (FILE_CAP + 1))
    before = tree_state(root)

    # In a process of its own: before the fix this read blocked on the pipe for ever.
    result = subprocess.run(
        [sys.executable, "-m", "apistarter", "inspect", str(root), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["app"]["import_path"] == "app:app"
    skipped = sorted(report["skipped"])
    assert skipped == [
        "big.py: skipped, larger than 1 MiB (1,048,577 bytes)",
        "pipe.py: skipped, not a regular file",
        "requirements-dev.txt: skipped, a link to something outside the project",
        "requirements.txt: skipped, not a regular file",
        "zero.py: skipped, a link to something outside the project",
    ]
    assert tree_state(root) == before


def test_commands_are_named_as_flask_names_them(tmp_path: Path) -> None:
    root = write_files(
        tmp_path / "api",
        {
            "app.py": (
                "import click\nfrom flask import Blueprint, Flask\n"
                "from flask.cli import AppGroup\nfrom flask_migrate import Migrate\n"
                "from flask_sqlalchemy import SQLAlchemy\n"
                "app = Flask(__name__)\ndb = SQLAlchemy(app)\nmigrate = Migrate(app, db)\n"
                "bp = Blueprint('admin', __name__)\n"
                "plain = Blueprint('plain', __name__, cli_group=None)\n"
                "users = AppGroup('user')\n"
                "@app.cli.command('init-db')\ndef init_db():\n    pass\n"
                "@bp.cli.command('reset')\ndef reset():\n    pass\n"
                "@plain.cli.command()\ndef seed_command():\n    pass\n"
                "@users.command('create')\ndef create():\n    pass\n"
                "@app.cli.group()\ndef translate():\n    pass\n"
                "@translate.command()\ndef compile():\n    pass\n"
                "app.cli.add_command(users)\napp.register_blueprint(bp)\n"
            ),
        },
    )
    commands = {c.name: c.evidence.line for c in inspect_project(root).commands}
    assert commands == {
        "init-db": 12,
        "admin reset": 15,
        "seed": 18,
        "user create": 21,
        "translate compile": 27,
        # Flask-Migrate's group, registered by Migrate(app, db).
        "db upgrade": 8,
    }


def test_unittest_suites_and_a_top_level_tests_py_are_found(tmp_path: Path) -> None:
    root = write_files(
        tmp_path / "api",
        {
            "app.py": "from flask import Flask\napp = Flask(__name__)\n",
            "tests.py": "def test_home():\n    pass\n",
            "app_checks.py": (
                "import unittest\nfrom app import app\n"
                "class HomeCase(unittest.TestCase):\n    def test_home(self):\n        pass\n"
            ),
        },
    )
    report = inspect_project(root)
    assert report.tests is not None
    assert report.tests.files == 2
    assert report.tests.directory == "."
    assert report.packages == ("app.py",)


def test_a_file_sqlite_url_is_never_in_memory(tmp_path: Path) -> None:
    root = write_files(
        tmp_path / "api",
        {
            "app.py": (
                "import os\nfrom flask import Flask\napp = Flask(__name__)\n"
                "BASE = os.path.dirname(__file__)\n"
                "A = 'sqlite:///' + os.path.join(BASE, 'app.db')\n"
                "B = f'sqlite:///{BASE}/app.db'\n"
                "C = 'sqlite:////var/lib/app/x.db'\n"
                "D = 'sqlite:///x.db'\n"
            ),
            "memory.py": "E = 'sqlite://'\nF = 'sqlite:///:memory:'\n",
        },
    )
    state = inspect_project(root).state
    assert {s.evidence.file for s in state if s.kind == "sqlite-in-memory"} == {"memory.py"}
    assert {s.evidence.file for s in state if s.kind == "sqlite"} == {"app.py"}


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("SECRET_KEY", True),
        ("API_TOKEN", True),
        ("MAIL_PASSWORD", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("STRIPE_API_KEY", True),
        ("SECURITY_PASSWORD_SALT", True),
        ("GOOGLE_CREDENTIALS", True),
        ("JWT_ACCESS_TOKEN_EXPIRES", False),
        ("PASSWORD_MIN_LENGTH", False),
        ("SECURITY_PASSWORD_HASH", False),
        ("TOKEN_URL", False),
        ("SECRET_KEY_FALLBACKS", False),
        ("REDIS_HOST", False),
    ],
)
def test_only_secret_looking_keys_are_secrets(tmp_path: Path, name: str, secret: bool) -> None:
    root = write_files(
        tmp_path / "api",
        {"app.py": f"from flask import Flask\napp = Flask(__name__)\nX = app.config[{name!r}]\n"},
    )
    found = next(s for s in inspect_project(root).settings if s.name == name)
    assert found.secret is secret


def test_what_inspect_skipped_is_a_warning_line_each_when_answers_are_inferred(
    tmp_path: Path,
) -> None:
    root = write_files(
        tmp_path / "api", {"app.py": "from flask import Flask\napp = Flask(__name__)\n"}
    )
    os.mkfifo(root / "pipe.py")
    (root / "zero.py").symlink_to("/dev/zero")

    result = runner.invoke(app, ["decide", "--from", str(root), "--defaults"])

    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: pipe.py: skipped, not a regular file",
        "warning: zero.py: skipped, a link to something outside the project",
        # An app with no route of its own is never a silent 0.
        "warning: no routes of app:app's own were found: inspect reads routes declared with "
        "route decorators, add_url_rule, add_resource and register_blueprint; check how the "
        "app registers its views",
    ]


def test_routes_inspect_cannot_place_are_unknown_with_the_reason(tmp_path: Path) -> None:
    root = write_files(
        tmp_path,
        {
            "shop/__init__.py": (
                "from flask import Flask\n\n"
                "def create_app(config):\n"
                "    app = Flask(__name__)\n"
                "    for blueprint in config.BLUEPRINTS:\n"
                "        app.register_blueprint(blueprint)\n"
                "    return app\n"
            ),
            "shop/views.py": (
                "from flask import Blueprint\n\n"
                "bp = Blueprint('views', __name__)\n\n"
                "@bp.route('/cart')\n"
                "def cart():\n"
                "    return 'cart'\n"
            ),
        },
    )
    report = inspect_project(root)
    assert [(u.prefix, u.reason, str(u.evidence)) for u in report.unknown_routes] == [
        (
            "/",
            "register_blueprint(blueprint): inspect cannot follow it to where it is defined",
            "shop/__init__.py:6",
        ),
        (
            "/",
            "shop.views.bp declares 1 route(s) (the first: /cart) but joins no app in a way "
            "inspect can follow",
            "shop/views.py:5",
        ),
    ]
    assert report.answers()["existing_routes"] == 0


def test_add_url_rule_inspect_cannot_tie_to_an_app_is_unknown_with_the_reason(
    tmp_path: Path,
) -> None:
    root = write_files(
        tmp_path,
        {
            "site/__init__.py": (
                "from flask import Flask, current_app\n\n"
                "def ping():\n"
                "    return 'pong'\n\n"
                "def hooks():\n"
                "    current_app.add_url_rule('/ping', view_func=ping)\n\n"
                "def setup(target):\n"
                "    target.add_url_rule('/setup', 'setup', ping)\n\n"
                "public = Flask('public')\n"
                "admin = Flask('admin')\n"
            ),
        },
    )
    report = inspect_project(root, "site:public")
    assert [(u.prefix, u.reason, str(u.evidence)) for u in report.unknown_routes] == [
        (
            "/",
            "current_app.add_url_rule('/ping', ...) in hooks(): current_app is whichever of "
            "the project's 2 apps runs it",
            "site/__init__.py:7",
        ),
        (
            "/",
            "target.add_url_rule('/setup', ...) in setup(): inspect cannot follow which app "
            "`target` is when it runs",
            "site/__init__.py:10",
        ),
    ]
