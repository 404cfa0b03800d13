"""What an adoption records and says: the app's own docs kept, the service's moved (README,
ADR, the rendered app), routes that could not be listed, and why the hybrid was chosen."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from apistarter import cli
from apistarter.cli import app
from apistarter.inspect import inspect_project
from apistarter.service_routes import SERVICE_ROUTES, docs_of, service_routes
from tests.flask_examples import FLASK, PYTHON, new_legacy, sdist, write_files
from tests.harness import BIN, markdown_text, run, tree_state
from tests.test_adopt_state import SHADOWING_APP

APIFLASK = "apiflask==3.1.2"


def _adr(project: Path) -> str:
    return markdown_text((project / "docs" / "decisions" / "0001-web-framework.md").read_text())


def test_an_app_with_its_own_docs_keeps_them_and_the_services_move(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # APIFlask serves Swagger UI at /docs and its spec at /openapi.json, as FastAPI would.
    example = sdist(APIFLASK, tmp_path_factory) / "examples" / "basic"
    code, _, stderr = new_legacy(tmp_path / "pets", example)
    assert code == 0, stderr
    project = tmp_path / "pets"
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["legacy"]["app_docs"] == ["/docs", "/docs/oauth2-redirect", "/openapi.json"]
    assert answers["routes"]["docs"]["path"] == "/service/docs"
    # No route of the app is taken over by the service's docs any more.
    assert answers["legacy"]["shadowed"] == []
    asgi = next(project.glob("src/*/app.py")).read_text()
    assert 'docs_url="/service/docs"' in asgi and 'openapi_url="/service/openapi.json"' in asgi
    assert 'redoc_url="/service/redoc"' in asgi
    readme = (project / "README.md").read_text()
    assert "| `GET /service/docs` |" in readme
    assert "| `/docs`, `/docs/oauth2-redirect`, `/openapi.json` | The app's own API docs" in readme
    adr = " ".join(_adr(project).split())
    assert "keeps them at those URLs" in adr and "Swagger UI at `/service/docs`" in adr
    assert "The root `/` stays the app's." in adr


def test_an_app_without_docs_leaves_the_services_where_they_are(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    flaskr = inspect_project(sdist(FLASK, tmp_path_factory) / "examples" / "tutorial")
    assert docs_of(flaskr.routes) == []
    assert service_routes([]) == SERVICE_ROUTES
    moved = service_routes(["/apidocs/"])
    assert {name: r["path"] for name, r in moved.items() if r != SERVICE_ROUTES[name]} == {
        "openapi": "/service/openapi.json",
        "docs": "/service/docs",
        "docs_oauth2_redirect": "/service/docs/oauth2-redirect",
        "redoc": "/service/redoc",
    }


UNLISTED = {
    "shop/__init__.py": (
        "import os\n"
        "from flask import Flask\n"
        "from werkzeug.utils import import_string\n\n"
        "def create_app():\n"
        "    app = Flask(__name__)\n"
        "    app.register_blueprint(import_string(os.environ['VIEWS']))\n"
        "    return app\n"
    ),
}


def test_routes_not_listed_are_warned_about_and_recorded(tmp_path: Path) -> None:
    root = write_files(tmp_path / "shop", UNLISTED)
    result = CliRunner().invoke(app, ["inspect", str(root)])
    assert result.exit_code == 0, result.output
    warnings = " ".join(result.stderr.split())
    assert "routes under / not listed: register_blueprint(import_string(os.environ['VIEWS']))" in (
        warnings
    )
    assert "shop/__init__.py:7" in warnings
    assert "no routes of shop:create_app's own were found" in warnings

    code, _, stderr = new_legacy(tmp_path / "service", root)
    assert code == 0, stderr
    assert "no routes of shop:create_app's own were found" in stderr
    adr = " ".join(_adr(tmp_path / "service").split())
    assert "could not list, with the reason" in adr
    assert "inspect cannot follow it to where it is defined (shop/__init__.py:7)" in adr


def _interactive_new(
    monkeypatch: pytest.MonkeyPatch, destination: Path, legacy: Path, reply: str
) -> tuple[int, str]:
    monkeypatch.setattr(cli, "_interactive", lambda: True)
    result = CliRunner().invoke(
        app,
        [
            "new",
            str(destination),
            "--legacy",
            str(legacy),
            "--defaults",
            # Nothing measured: the answers alone recommend Flask, not the hybrid.
            "--set",
            "measured_problem=none",
            "--set",
            f"python_version={PYTHON}",
        ],
        input=f"{reply}\n",
        env={"COLUMNS": "200"},
    )
    return result.exit_code, result.output


def test_interactive_adoption_shows_the_recommendation_and_asks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    flaskr = sdist(FLASK, tmp_path_factory) / "examples" / "tutorial"
    before = tree_state(tmp_path)
    code, output = _interactive_new(monkeypatch, tmp_path / "blog", flaskr, "no")
    text = " ".join(output.split())
    # The answers alone (flaskr's routes, no measured need for async) recommend Flask.
    assert "Recommendation: Flask (for the adoption: FastAPI with the Flask app mounted" in text
    assert "The answers alone recommend Flask; --legacy adopts the app into" in text
    assert "Go on with FastAPI with the Flask app mounted (hybrid)?" in text
    assert code == 2 and "stopped before writing anything" in text
    assert tree_state(tmp_path) == before

    code, output = _interactive_new(monkeypatch, tmp_path / "blog", flaskr, "yes")
    assert code == 0, output
    adr = " ".join(_adr(tmp_path / "blog").split())
    assert "### Chosen for the adoption" in _adr(tmp_path / "blog")
    assert "was chosen for the adoption, not from the answers" in adr
    assert "The answers alone recommend **Flask**" in adr
    assert "the team chose" not in adr
    assert "Chosen for the adoption of an existing Flask app" in adr
    assert "Chosen by hand" not in adr


RUN_TIME = {
    "blog/__init__.py": (
        "import logging\n"
        "import os\n"
        "from logging.handlers import RotatingFileHandler\n\n"
        "from celery import Celery\n"
        "from flask import Flask\n"
        "from flask_babel import Babel\n\n"
        "celery = Celery(__name__)\n\n"
        "def create_app():\n"
        "    app = Flask(__name__)\n"
        "    Babel(app)\n"
        "    if os.environ.get('LOG_TO_STDOUT'):\n"
        "        app.logger.addHandler(logging.StreamHandler())\n"
        "    else:\n"
        "        app.logger.addHandler(RotatingFileHandler('logs/blog.log'))\n\n"
        "    @app.route('/')\n"
        "    def index():\n"
        "        return 'blog'\n\n"
        "    return app\n"
    ),
    "blog/jobs.py": "from rq import Queue\n\nmail = Queue('mail')\n",
    "blog/translations/es/LC_MESSAGES/messages.po": 'msgid ""\nmsgstr ""\n',
}


def test_run_time_needs_are_found_with_their_commands_and_listed_in_the_adr(
    tmp_path: Path,
) -> None:
    root = write_files(tmp_path / "blog", RUN_TIME)
    needs = {(n.kind, n.command, str(n.evidence)) for n in inspect_project(root).needs}
    assert needs == {
        ("task-worker", "celery -A blog:celery worker --loglevel=INFO", "blog/__init__.py:9"),
        ("stdout-logging", "LOG_TO_STDOUT=1", "blog/__init__.py:14"),
        ("log-folder", "", "blog/__init__.py:17"),
        ("task-worker", "rq worker mail", "blog/jobs.py:3"),
        ("translations", "pybabel compile -d blog/translations", "blog/__init__.py:1"),
    }
    # Shown by inspect, one row each (a row's text may wrap in the table).
    shown = CliRunner().invoke(app, ["inspect", str(root)]).stdout
    for kind in ("log-folder", "stdout-logging", "translations", "task-worker"):
        assert f"│ {kind}" in shown

    code, _, stderr = new_legacy(tmp_path / "service", root)
    assert code == 0, stderr
    adr = " ".join(_adr(tmp_path / "service").split())
    assert "What the app needs at run time besides serving" in adr
    for command in ("celery -A blog:celery worker --loglevel=INFO", "rq worker mail"):
        assert f": `{command}`" in adr
    assert "`pybabel compile -d blog/translations`" in adr
    assert "writes its log to logs/blog.log" in adr and "(blog/__init__.py:17)" in adr


@pytest.mark.slow
def test_a_service_whose_docs_moved_passes_its_own_checks(tmp_path: Path) -> None:
    # The app has /docs and /redoc/ of its own: the generated tests, README and app use
    # the service's moved paths, and its checks pass as rendered.
    source = write_files(tmp_path / "api", {"service.py": SHADOWING_APP})
    code, _, stderr = new_legacy(tmp_path / "svc", source)
    assert code == 0, stderr
    project = tmp_path / "svc"
    generated = (project / "tests" / "test_legacy.py").read_text()
    assert '("GET", "/service/docs/", 307, "/service/docs")' in generated
    assert 'legacy_client.get("/service/openapi.json")' in generated
    run([str(BIN / "ruff"), "check", "--no-cache", "."], project)
    run([str(BIN / "ruff"), "format", "--check", "--no-cache", "."], project)
    run([str(BIN / "mypy"), "--cache-dir", str(tmp_path / "mypy")], project)
    run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)


@pytest.mark.slow
def test_an_update_keeps_the_services_docs_out_of_the_apps_way(tmp_path: Path) -> None:
    source = write_files(tmp_path / "api", {"service.py": SHADOWING_APP})
    code, _, stderr = new_legacy(tmp_path / "svc", source)
    assert code == 0, stderr
    project = tmp_path / "svc"
    adr = _adr(project)
    result = CliRunner().invoke(app, ["update", str(project), "--set", "cpus=4"])
    assert result.exit_code == 0, result.output
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["decision"]["cpus"] == 4
    assert answers["routes"] == service_routes(["/docs", "/redoc/"])
    assert 'docs_url="/service/docs"' in (project / "src" / "svc" / "app.py").read_text()
    # The record of why the hybrid was chosen stays as it was written.
    assert _adr(project) == adr and "### Chosen for the adoption" in adr
