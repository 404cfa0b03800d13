"""inspect's routes against the real app's url_map: every rule found, or reported unknown.

inspect never imports the app; this test does, in a subprocess of a virtualenv with the
apps' dependencies installed (pinned, from the package index), and dumps each app's
``url_map``. Every real rule must be one inspect found (with the same methods, HEAD and
OPTIONS aside) or lie under a prefix inspect reported as unknown with its reason; and
every rule inspect found for the app's own code must be real.

The apps: example apps from pinned sdists (APIFlask's, with its own /docs; Flasgger's;
Flask-RESTful's todo; flaskr), and small apps written here for the shapes no sdist has
(blueprints by import string and import_module, rules in loops, class-based views,
Flask-RESTX, flask-smorest, APIFairy, Flask-Admin).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from apistarter.inspect import InspectReport, inspect_project
from tests.flask_examples import FLASK, FLASK_RESTFUL, sdist, write_files

pytestmark = pytest.mark.slow

APIFLASK = "apiflask==3.1.2"
FLASGGER = "flasgger==0.9.7.1"
# What the apps import, pinned: the virtualenv the url_maps are read in.
RUNTIME = [
    "flask==3.1.3",
    "werkzeug==3.1.4",
    APIFLASK,
    FLASGGER,
    FLASK_RESTFUL,
    "flask-restx==1.3.2",
    "flask-smorest==0.47.0",
    "apifairy==1.5.1",
    "flask-admin==2.2.1",
]

DUMP = """
import importlib, json, sys
module, _, name = sys.argv[1].partition(":")
found = getattr(importlib.import_module(module), name)
app = found if hasattr(found, "url_map") else found()
rules = {}
for rule in app.url_map.iter_rules():
    rules.setdefault(rule.rule, set()).update(rule.methods - {"HEAD", "OPTIONS"})
print(json.dumps({rule: sorted(methods) for rule, methods in rules.items()}))
"""

# Blueprints registered by import string and by import_module in a loop, rules in
# loops over literal lists and dicts, class-based views, a helper given the app, and
# one rule computed at run time (unknown, with the reason).
PORTAL = {
    "portal/__init__.py": """
        import importlib
        import os

        from flask import Flask
        from werkzeug.utils import import_string

        from portal.views import ItemAPI, PageView, ping, pong

        BLUEPRINTS = ["portal.users:bp", "portal.posts.bp"]
        SECTIONS = ("reports", "billing")


        def create_app():
            app = Flask(__name__)
            for path in BLUEPRINTS:
                app.register_blueprint(import_string(path))
            for name in SECTIONS:
                module = importlib.import_module(f"portal.{name}")
                app.register_blueprint(module.bp, url_prefix=f"/{name}")
            register_views(app)
            app.add_url_rule(os.environ.get("EXTRA_RULE", "/extra"), view_func=ping)
            return app


        def register_views(app):
            app.add_url_rule("/page", view_func=PageView.as_view("page"))
            for rule, endpoint in [("/items", "items"), ("/things", "things")]:
                app.add_url_rule(rule, view_func=ItemAPI.as_view(endpoint))
            for rule, view in {"/ping": ping, "/pong": pong}.items():
                app.add_url_rule(rule, view_func=view, endpoint=rule)
    """,
    "portal/views.py": """
        from flask.views import MethodView, View


        class PageView(View):
            methods = ["GET", "POST"]

            def dispatch_request(self):
                return "page"


        class BaseAPI(MethodView):
            def get(self):
                return "list"


        class ItemAPI(BaseAPI):
            def post(self):
                return "made"


        def ping():
            return "ping"


        def pong():
            return "pong"
    """,
    "portal/users.py": """
        from flask import Blueprint

        bp = Blueprint("users", __name__, url_prefix="/users")


        @bp.get("/")
        def index():
            return "users"
    """,
    "portal/posts.py": """
        from flask import Blueprint

        bp = Blueprint("posts", __name__, url_prefix="/posts")


        @bp.route("/<int:id>", methods=["GET", "DELETE"])
        def post(id):
            return "post"
    """,
    "portal/reports.py": """
        from flask import Blueprint

        bp = Blueprint("reports", __name__)


        @bp.route("/daily")
        def daily():
            return "daily"
    """,
    "portal/billing.py": """
        from flask import Blueprint

        bp = Blueprint("billing", __name__)


        @bp.post("/pay")
        def pay():
            return "paid"
    """,
}

# Rules added through current_app (the project's one app) in a function the factory runs
# in an app context, and by an extension-like class's method inspect cannot follow.
HOOKS = {
    "hooks/__init__.py": """
        from flask import Flask, current_app

        from hooks.plugin import Plugin


        def health():
            return "ok"


        def stats():
            return "stats"


        def register_health():
            current_app.add_url_rule("/health", view_func=health)
            current_app.add_url_rule("/stats", view_func=stats, methods=["GET", "POST"])


        def create_app():
            app = Flask(__name__)
            with app.app_context():
                register_health()
            Plugin().init_app(app)
            return app
    """,
    "hooks/plugin.py": """
        class Plugin:
            def init_app(self, app):
                app.add_url_rule("/plugin", view_func=self.view)

            def view(self):
                return "plugin"
    """,
}

EXTENSIONS = {
    "restx_app.py": """
        from flask import Flask
        from flask_restx import Api, Resource

        app = Flask(__name__)
        api = Api(app, doc="/apidoc/")
        todos = api.namespace("todos")


        @api.route("/hello")
        class Hello(Resource):
            def get(self):
                return {}


        @todos.route("/<int:id>")
        class Todo(Resource):
            def get(self, id):
                return {}

            def put(self, id):
                return {}
    """,
    "smorest_app.py": """
        from flask import Flask
        from flask.views import MethodView
        from flask_smorest import Api, Blueprint

        app = Flask(__name__)
        app.config.update(
            API_TITLE="pets",
            API_VERSION="1",
            OPENAPI_VERSION="3.0.2",
            OPENAPI_URL_PREFIX="/",
            OPENAPI_SWAGGER_UI_PATH="/swagger-ui",
            OPENAPI_SWAGGER_UI_URL="https://cdn.example/swagger/",
        )
        api = Api(app)
        blp = Blueprint("pets", __name__, url_prefix="/pets")


        @blp.route("/")
        class Pets(MethodView):
            def get(self):
                return []

            def post(self):
                return {}


        api.register_blueprint(blp)
    """,
    "apifairy_app.py": """
        from apifairy import APIFairy
        from flask import Flask

        apifairy = APIFairy()


        def create_app():
            app = Flask(__name__)
            apifairy.init_app(app)

            @app.get("/tokens")
            def tokens():
                return []

            return app
    """,
    "admin_app.py": """
        from flask import Flask
        from flask_admin import Admin
        from flask_admin.contrib.fileadmin import FileAdmin

        app = Flask(__name__)
        admin = Admin(app, url="/manage")
        admin.add_view(FileAdmin("/tmp", name="Files"))
    """,
}


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv with the apps' dependencies: its python."""
    venv = tmp_path_factory.mktemp("url-map-venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *RUNTIME],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if install.returncode != 0:
        reason = (install.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"cannot install the apps' dependencies from the package index: {reason}")
    return python


def real_url_map(python: Path, root: Path, target: str, tmp_path: Path) -> dict[str, list[str]]:
    """The app's url_map, imported from a copy of it (the original is never written)."""
    copy = tmp_path / "app"
    shutil.copytree(root, copy)
    result = subprocess.run(
        [str(python), "-c", DUMP, target],
        cwd=copy,
        env={**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rules: dict[str, list[str]] = json.loads(result.stdout.splitlines()[-1])
    return rules


def uncovered(real: dict[str, list[str]], report: InspectReport) -> list[str]:
    """Real rules inspect neither found (with their methods) nor reported as unknown, and
    rules inspect found in the app's own code that the app does not have."""
    found: dict[str, set[str]] = {}
    for route in report.routes:
        found.setdefault(route.rule, set()).update(route.methods)
    problems = []
    for rule, methods in real.items():
        if rule in found:
            if set(methods) != found[rule]:
                problems.append(f"{rule}: methods {methods}, inspect found {sorted(found[rule])}")
        elif not any(rule.startswith(u.prefix) for u in report.unknown_routes):
            problems.append(f"{rule}: not found and not reported unknown")
    own = {r.rule for r in report.routes if not r.registered_by}
    problems += [f"{rule}: found by inspect, not in the app" for rule in own - set(real)]
    return problems


def check(python: Path, root: Path, target: str, tmp_path: Path) -> InspectReport:
    report = inspect_project(root, target)
    real = real_url_map(python, root, target, tmp_path)
    assert uncovered(real, report) == [], target
    return report


@pytest.mark.parametrize("example", ["basic", "cbv", "blueprint_tags", "openapi/basic"])
def test_apiflask_examples_with_their_own_docs(
    runtime: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, example: str
) -> None:
    root = sdist(APIFLASK, tmp_path_factory) / "examples" / example
    report = check(runtime, root, "app:app", tmp_path)
    docs = {r.rule for r in report.routes if r.docs}
    assert docs == {"/docs", "/docs/oauth2-redirect", "/openapi.json"}


@pytest.mark.parametrize("example", ["colors", "restful", "example_blueprint"])
def test_flasgger_examples(
    runtime: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, example: str
) -> None:
    root = sdist(FLASGGER, tmp_path_factory) / "examples"
    report = check(runtime, root, f"{example}:app", tmp_path)
    assert {"/apidocs/", "/apispec_1.json"} <= {r.rule for r in report.routes if r.docs}


def test_flasgger_demo_app(
    runtime: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    # The demo mounts every example under its own path with a DispatcherMiddleware (not
    # url_map rules): its app has its index page and static files.
    root = sdist(FLASGGER, tmp_path_factory)
    report = inspect_project(root / "demo_app", "app:app")
    assert {r.rule for r in report.routes} == {"/", "/static/<path:filename>"}


def test_flask_restful_todo_and_flaskr(
    runtime: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    check(runtime, sdist(FLASK_RESTFUL, tmp_path_factory) / "examples", "todo:app", tmp_path)
    flaskr = sdist(FLASK, tmp_path_factory) / "examples" / "tutorial"
    check(runtime, flaskr, "flaskr:create_app", tmp_path / "flaskr")


def _written(tmp_path: Path, files: dict[str, str]) -> Path:
    return write_files(
        tmp_path / "src", {name: textwrap.dedent(text) for name, text in files.items()}
    )


def test_import_strings_loops_and_class_based_views(runtime: Path, tmp_path: Path) -> None:
    root = _written(tmp_path, PORTAL)
    report = check(runtime, root, "portal:create_app", tmp_path)
    routes = {r.rule: r.methods for r in report.routes}
    assert routes["/users/"] == ("GET",)
    assert set(routes["/posts/<int:id>"]) == {"GET", "DELETE"}
    assert routes["/reports/daily"] == ("GET",) and routes["/billing/pay"] == ("POST",)
    assert set(routes["/items"]) == set(routes["/things"]) == {"GET", "POST"}
    assert set(routes["/page"]) == {"GET", "POST"}
    assert "/ping" in routes and "/pong" in routes
    # The rule read from the environment: unknown, with the reason and where.
    [unknown] = report.unknown_routes
    assert "os.environ.get" in unknown.reason and "cannot read statically" in unknown.reason
    assert unknown.evidence.file == "portal/__init__.py"


def test_current_app_rules_are_found_and_unfollowed_ones_reported(
    runtime: Path, tmp_path: Path
) -> None:
    root = _written(tmp_path, HOOKS)
    report = check(runtime, root, "hooks:create_app", tmp_path)
    routes = {r.rule: set(r.methods) for r in report.routes}
    assert routes["/health"] == {"GET"} and routes["/stats"] == {"GET", "POST"}
    assert "/plugin" not in routes
    [unknown] = report.unknown_routes
    assert str(unknown.evidence) == "hooks/plugin.py:4"
    assert unknown.reason == (
        "app.add_url_rule('/plugin', ...) in init_app(): inspect cannot follow which app "
        "`app` is when it runs"
    )


@pytest.mark.parametrize(
    ("name", "extension"),
    [
        ("restx_app:app", "flask-restx"),
        ("smorest_app:app", "flask-smorest"),
        ("admin_app:app", "flask-admin"),
    ],
)
def test_routes_extensions_register(
    runtime: Path, tmp_path: Path, name: str, extension: str
) -> None:
    root = _written(tmp_path, EXTENSIONS)
    report = check(runtime, root, name, tmp_path)
    assert {r.registered_by for r in report.routes} - {"", "flask"} == {extension}


def test_apifairy_in_a_factory(runtime: Path, tmp_path: Path) -> None:
    root = _written(tmp_path, EXTENSIONS)
    report = check(runtime, root, "apifairy_app:create_app", tmp_path)
    assert {r.rule for r in report.routes if r.docs} == {"/docs", "/apispec.json"}
