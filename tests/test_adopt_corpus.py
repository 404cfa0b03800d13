"""The adoption corpus (#24): real Flask apps adopted with zero manual steps.

Each app is obtained at test time, pinned, from the package index (the example apps
several Flask projects ship in their sdists), or is a small app written here where no
sdist has the shape. For each one, only what a team would do is done:

1. the app's folder becomes a git repository, as the team's would be;
2. ``apistarter new --legacy`` adopts it;
3. the generated README's "Run it" commands are run as written (install, then migrate
   or initialise when the README says so), with this machine's Python 3.12;
4. the service's own tests (which run the app's tests through the mount), ruff, ruff
   format and mypy pass in that environment;
5. the service is installed as the image installs it (not editable), its migration step
   runs as the Kubernetes artefact runs it, and the image's command serves it as the
   image's user with only the instance folder writable;
6. the app's main flows answer over real HTTP at their original URLs.

docs/adoption-corpus.md has the table of results.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from bench.runtime import installed_python
from tests.flask_examples import FLASK, FLASK_RESTFUL, sdist, write_files
from tests.harness import (
    as_image_user,
    dockerfile_instruction,
    free_port,
    git,
    image_env,
    serve,
    stop,
)

pytestmark = pytest.mark.slow

APIFLASK = "apiflask==3.1.2"
FLASGGER = "flasgger==0.9.7.1"
FLASK_WTF = "flask-wtf==1.3.0"
FLASK_SECURITY = "flask-security==5.9.2"

Flow = Callable[["Browser"], None]


class Browser:
    """A client with cookies, at the served service's base URL; never raises on a status."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def call(
        self,
        path: str,
        *,
        method: str | None = None,
        form: dict[str, str] | None = None,
        json_body: object = None,
    ) -> tuple[int, str, str]:
        """(status, final URL after redirects, body); a POST when there is a body."""
        headers = {}
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
        elif json_body is not None:
            data = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(
            self.base_url + path, data=data, method=method, headers=headers
        )
        try:
            with self._opener.open(request, timeout=15) as response:
                return int(response.status), str(response.geturl()), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, str(error.geturl()), error.read().decode(errors="replace")


@dataclass(frozen=True)
class CorpusApp:
    """One app of the corpus: where it comes from, and what its users do with it."""

    name: str
    shape: str
    # The app's folder, unpacked or written into the given directory.
    source: Callable[[pytest.TempPathFactory, Path], Path]
    flows: Flow
    # `--app` when the folder holds several Flask apps.
    app: str | None = None
    # Files the team's repository has beside the example (a requirements file where the
    # example relies on its parent project's).
    extra_files: dict[str, str] = field(default_factory=dict)
    # What still takes a manual step for this app, until it does not (the case then
    # fails as an unexpected pass, and this goes).
    known_gap: str = ""


def _from_sdist(requirement: str, inside: str) -> Callable[[pytest.TempPathFactory, Path], Path]:
    def source(factory: pytest.TempPathFactory, _: Path) -> Path:
        return sdist(requirement, factory) / inside

    return source


def _one_module(requirement: str, inside: str) -> Callable[[pytest.TempPathFactory, Path], Path]:
    """A single-file app of an sdist, alone in its folder as a team's would be."""

    def source(factory: pytest.TempPathFactory, scratch: Path) -> Path:
        folder = scratch / "module"
        folder.mkdir(parents=True)
        shutil.copy2(sdist(requirement, factory) / inside, folder)
        return folder

    return source


def _as_package(requirement: str, inside: str) -> Callable[[pytest.TempPathFactory, Path], Path]:
    """An example that is a package (its tests import it by name): the repository holds it."""

    def source(factory: pytest.TempPathFactory, scratch: Path) -> Path:
        package = sdist(requirement, factory) / inside
        shutil.copytree(package, scratch / "repository" / package.name)
        return scratch / "repository"

    return source


def _written(files: dict[str, str]) -> Callable[[pytest.TempPathFactory, Path], Path]:
    def source(_: pytest.TempPathFactory, scratch: Path) -> Path:
        return write_files(scratch / "written", files)

    return source


# ---------------------------------------------------------------- the apps' flows


def _flaskr(browser: Browser) -> None:
    assert browser.call("/hello")[2] == "Hello, World!"
    assert browser.call("/static/style.css")[0] == 200
    form = {"username": "ada", "password": "pw"}
    assert browser.call("/auth/register", form=form)[:2] == (200, browser.base_url + "/auth/login")
    _, url, page = browser.call("/auth/login", form=form)
    assert url == browser.base_url + "/" and "Log Out" in page
    browser.call("/create", form={"title": "First post", "body": "via the mount"})
    assert "First post" in browser.call("/")[2]


def _apiflask_pets(browser: Browser) -> None:
    assert json.loads(browser.call("/pets/1")[2])["name"] == "Coco"
    status, _, body = browser.call(
        "/pets", method="POST", json_body={"name": "Rex", "category": "dog"}
    )
    assert status == 201 and json.loads(body)["name"] == "Rex", body
    # apiflask's own validation error, not the service's shape.
    status, _, body = browser.call("/pets", method="POST", json_body={"name": "Rex"})
    assert status == 422 and "category" in body, body
    # The app keeps its own docs and spec; the service's moved out of their way.
    assert "/pets/{pet_id}" in json.loads(browser.call("/openapi.json")[2])["paths"]
    status, _, page = browser.call("/docs")
    assert status == 200 and "openapi.json" in page


def _flasgger(browser: Browser) -> None:
    colors = json.loads(browser.call("/colors/rgb/")[2])
    assert colors == {"rgb": ["red", "green", "blue"]}, colors
    status, _, page = browser.call("/apidocs/")
    assert status == 200 and "swagger" in page.lower()
    assert browser.call("/apispec_1.json")[0] == 200


def _todo(browser: Browser) -> None:
    assert json.loads(browser.call("/todos")[2])["todo1"] == {"task": "build an API"}
    status, _, body = browser.call("/todos", method="POST", json_body={"task": "adopt it"})
    assert status == 201 and json.loads(body) == {"task": "adopt it"}, body
    assert browser.call("/todos/todo9")[0] == 404


def _uploadr(browser: Browser) -> None:
    status, _, page = browser.call("/")
    assert status == 200 and 'name="csrf_token"' in page
    # A post without the form's token is refused by the app's CSRF protection.
    assert "filedata" not in browser.call("/", form={"uploads-0": "x"})[2]


def _security(browser: Browser) -> None:
    # Its users and tables are made only when app.py runs as a script (`__main__`), so a
    # served copy shows the login form, protected by its CSRF token, and no more.
    status, url, page = browser.call("/")
    assert status == 200 and url.startswith(browser.base_url + "/login"), (status, url)
    assert 'name="csrf_token"' in page


def _csrf(page: str) -> str:
    token = re.search(r'name="?csrf_token"?[^>]*?value="([^"]+)"', page)
    assert token, page[:500]
    return token.group(1)


def _journal(browser: Browser) -> None:
    status, url, _ = browser.call("/")
    assert url == browser.base_url + "/login?next=%2F", (status, url)
    # A post without the form's CSRF token is refused by Flask-WTF.
    refused = browser.call("/register", form={"username": "ada", "password": "pw"})
    assert refused[0] == 400, refused
    form = {"username": "ada", "password": "pw"}
    token = _csrf(browser.call("/register")[2])
    assert browser.call("/register", form={**form, "csrf_token": token})[1].endswith("/login")
    token = _csrf(browser.call("/login")[2])
    status, url, page = browser.call("/login", form={**form, "csrf_token": token})
    assert url == browser.base_url + "/" and "Hello ada" in page, (status, url, page[:300])


def _shop(browser: Browser) -> None:
    assert json.loads(browser.call("/catalog/items")[2]) == {"items": ["tea", "cake"]}
    assert json.loads(browser.call("/orders/7")[2]) == {"order": 7}
    status, _, body = browser.call("/orders", method="POST", json_body={"item": "tea"})
    assert status == 201 and json.loads(body)["item"] == "tea", body


def _widgets(browser: Browser) -> None:
    status, _, body = browser.call("/widgets", method="POST", json_body={"name": "cog"})
    assert status == 201, body
    assert json.loads(browser.call("/widgets")[2]) == [{"id": 1, "name": "cog"}]


def _notes(browser: Browser) -> None:
    status, _, body = browser.call("/notes", method="POST", json_body={"text": "kept"})
    assert status == 201, body
    assert json.loads(browser.call("/notes")[2]) == [{"id": 1, "text": "kept"}]


# ---------------------------------------------------------------- written apps

# Blueprints registered by import string, a unittest suite, and pinned requirements
# chained through -r: shapes no sdist above has.
SHOP = {
    "shop/__init__.py": (
        "from flask import Flask\nfrom werkzeug.utils import import_string\n\n"
        "BLUEPRINTS = ['shop.catalog:bp', 'shop.orders:bp']\n\n\n"
        "def create_app():\n    app = Flask(__name__)\n"
        "    for name in BLUEPRINTS:\n        app.register_blueprint(import_string(name))\n"
        "    return app\n"
    ),
    "shop/catalog.py": (
        "from flask import Blueprint\n\n"
        "bp = Blueprint('catalog', __name__, url_prefix='/catalog')\n\n\n"
        "@bp.get('/items')\ndef items():\n    return {'items': ['tea', 'cake']}\n"
    ),
    "shop/orders.py": (
        "from flask import Blueprint, request\n\n"
        "bp = Blueprint('orders', __name__, url_prefix='/orders')\n\n\n"
        "@bp.get('/<int:number>')\ndef order(number):\n    return {'order': number}\n\n\n"
        "@bp.post('')\ndef create():\n    return {'item': request.get_json()['item']}, 201\n"
    ),
    "tests.py": (
        "import unittest\n\nfrom shop import create_app\n\n\n"
        "class ShopTest(unittest.TestCase):\n"
        "    def setUp(self):\n        self.client = create_app().test_client()\n\n"
        "    def test_items(self):\n"
        "        items = self.client.get('/catalog/items').json['items']\n"
        "        self.assertEqual(items, ['tea', 'cake'])\n"
    ),
    "requirements.txt": "-r requirements/base.txt\n",
    "requirements/base.txt": (
        "# pip-compile style pins\n-c constraints.txt\nflask==3.1.0\n    # via -r base.in\n"
        "werkzeug==3.1.3\n    # via flask\n"
    ),
    "requirements/constraints.txt": (
        "blinker==1.9.0\nclick==8.1.8\nitsdangerous==2.2.0\njinja2==3.1.5\nmarkupsafe==3.0.2\n"
    ),
}

# Flask-SQLAlchemy with Flask-Migrate: the migrations folder is made at test time by
# Flask-Migrate itself (`flask db init` and `flask db migrate`), as a team would commit it.
NOTES = {
    "notes.py": (
        "import os\n\nfrom flask import Flask, request\nfrom flask_migrate import Migrate\n"
        "from flask_sqlalchemy import SQLAlchemy\n\n"
        "app = Flask(__name__)\n"
        "app.config['SQLALCHEMY_DATABASE_URI'] = os.environ.get('DATABASE_URL', 'sqlite:///notes.db')\n"
        "db = SQLAlchemy(app)\nmigrate = Migrate(app, db)\n\n\n"
        "class Note(db.Model):\n    id = db.Column(db.Integer, primary_key=True)\n"
        "    text = db.Column(db.String(200), nullable=False)\n\n\n"
        "@app.get('/notes')\ndef notes():\n"
        "    return [{'id': n.id, 'text': n.text} for n in Note.query.order_by(Note.id)]\n\n\n"
        "@app.post('/notes')\ndef add():\n    note = Note(text=request.get_json()['text'])\n"
        "    db.session.add(note)\n    db.session.commit()\n    return {'id': note.id}, 201\n"
    ),
    "requirements.txt": "flask==3.1.0\nflask-sqlalchemy==3.1.1\nflask-migrate==4.1.0\n",
}


# Plain SQLAlchemy with Alembic (alembic.ini and its folder, no Flask-Migrate): the engine is
# made as the module is imported, from the app's own variable with a SQLite default.
WIDGETS = {
    "widgets/__init__.py": (
        "import os\n\nfrom flask import Flask, request\n"
        "from sqlalchemy import String, create_engine, select\n"
        "from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column\n\n"
        "engine = create_engine(os.environ.get('WIDGETS_DATABASE_URL', 'sqlite:///widgets.db'))\n"
        "\n\nclass Base(DeclarativeBase):\n    pass\n\n\n"
        "class Widget(Base):\n    __tablename__ = 'widgets'\n"
        "    id: Mapped[int] = mapped_column(primary_key=True)\n"
        "    name: Mapped[str] = mapped_column(String(80))\n\n\n"
        "def create_app():\n    app = Flask(__name__)\n\n"
        "    @app.get('/widgets')\n    def widgets():\n"
        "        with Session(engine) as session:\n"
        "            rows = session.scalars(select(Widget).order_by(Widget.id))\n"
        "            return [{'id': w.id, 'name': w.name} for w in rows]\n\n"
        "    @app.post('/widgets')\n    def add():\n"
        "        with Session(engine) as session:\n"
        "            widget = Widget(name=request.get_json()['name'])\n"
        "            session.add(widget)\n            session.commit()\n"
        "            return {'id': widget.id, 'name': widget.name}, 201\n\n"
        "    return app\n"
    ),
    "alembic.ini": (
        "[alembic]\nscript_location = %(here)s/alembic\nsqlalchemy.url = sqlite:///widgets.db\n"
    ),
    "alembic/env.py": (
        "from alembic import context\nfrom sqlalchemy import engine_from_config, pool\n\n"
        "from widgets import Base\n\nconfig = context.config\n\n"
        "connectable = engine_from_config(\n"
        "    config.get_section(config.config_ini_section), prefix='sqlalchemy.',\n"
        "    poolclass=pool.NullPool)\n"
        "with connectable.connect() as connection:\n"
        "    context.configure(connection=connection, target_metadata=Base.metadata)\n"
        "    with context.begin_transaction():\n        context.run_migrations()\n"
    ),
    "alembic/script.py.mako": (
        '"""${message}"""\nfrom alembic import op\nimport sqlalchemy as sa\n'
        "${imports if imports else ''}\n"
        "revision = ${repr(up_revision)}\ndown_revision = ${repr(down_revision)}\n\n\n"
        "def upgrade():\n    ${upgrades if upgrades else 'pass'}\n\n\n"
        "def downgrade():\n    ${downgrades if downgrades else 'pass'}\n"
    ),
    "alembic/versions/0001_widgets.py": (
        '"""widgets"""\nfrom alembic import op\nimport sqlalchemy as sa\n\n'
        "revision = '0001'\ndown_revision = None\n\n\n"
        "def upgrade():\n    op.create_table(\n        'widgets',\n"
        "        sa.Column('id', sa.Integer, primary_key=True),\n"
        "        sa.Column('name', sa.String(80), nullable=False))\n\n\n"
        "def downgrade():\n    op.drop_table('widgets')\n"
    ),
    "requirements.txt": "flask==3.1.0\nsqlalchemy==2.0.36\nalembic==1.14.0\n",
}


# Flask-Login sessions and Flask-WTF CSRF on server-rendered forms, users in SQLite made
# by the app's own `init-db` command.
JOURNAL = {
    "journal/__init__.py": (
        "import os\n\nimport click\n"
        "from flask import Flask, redirect, render_template_string, request\n"
        "from flask_login import (\n"
        "    LoginManager, UserMixin, current_user, login_required, login_user)\n"
        "from flask_sqlalchemy import SQLAlchemy\nfrom flask_wtf.csrf import CSRFProtect\n"
        "from werkzeug.security import check_password_hash, generate_password_hash\n\n"
        "db = SQLAlchemy()\nlogin = LoginManager()\nlogin.login_view = 'login'\n\n"
        "FORM = '<form method=post>'\\\n"
        "    '<input type=hidden name=csrf_token value=\"{{ csrf_token() }}\">'\\\n"
        "    '<input name=username><input name=password type=password></form>'\n\n\n"
        "class User(UserMixin, db.Model):\n    id = db.Column(db.Integer, primary_key=True)\n"
        "    username = db.Column(db.String(80), unique=True, nullable=False)\n"
        "    password = db.Column(db.String(200), nullable=False)\n\n\n"
        "@login.user_loader\ndef load(user_id):\n"
        "    return db.session.get(User, int(user_id))\n\n\n"
        "def create_app():\n    app = Flask(__name__, instance_relative_config=True)\n"
        "    app.config['SECRET_KEY'] = os.environ.get('SECRET_KEY', 'dev')\n"
        "    app.config['SQLALCHEMY_DATABASE_URI'] = 'sqlite:///journal.sqlite'\n"
        "    db.init_app(app)\n    login.init_app(app)\n    CSRFProtect(app)\n\n"
        "    @app.route('/register', methods=['GET', 'POST'])\n    def register():\n"
        "        if request.method == 'POST':\n"
        "            db.session.add(User(username=request.form['username'],\n"
        "                                password=generate_password_hash(\n"
        "                                    request.form['password'])))\n"
        "            db.session.commit()\n            return redirect('/login')\n"
        "        return render_template_string(FORM)\n\n"
        "    @app.route('/login', methods=['GET', 'POST'], endpoint='login')\n"
        "    def login_page():\n"
        "        if request.method == 'POST':\n"
        "            user = User.query.filter_by(username=request.form['username']).first()\n"
        "            if user and check_password_hash(user.password, request.form['password']):\n"
        "                login_user(user)\n                return redirect('/')\n"
        "        return render_template_string(FORM)\n\n"
        "    @app.get('/')\n    @login_required\n    def index():\n"
        "        return f'Hello {current_user.username}'\n\n"
        "    @app.cli.command('init-db')\n    def init_db():\n"
        "        db.create_all()\n        click.echo('Initialized the database.')\n\n"
        "    return app\n"
    ),
    "requirements.txt": (
        "flask==3.1.0\nflask-login==0.6.3\nflask-wtf==1.2.2\nflask-sqlalchemy==3.1.1\n"
    ),
}


def _notes_source(factory: pytest.TempPathFactory, scratch: Path) -> Path:
    root = write_files(scratch / "notes", NOTES)
    venv = factory.getbasetemp() / "notes-migrations-venv"
    if not venv.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "--quiet", "-r", str(root / "requirements.txt")],
            check=True,
        )
    flask = [str(venv / "bin" / "flask"), "--app", "notes"]
    for command in (["db", "init"], ["db", "migrate", "-m", "notes"]):
        subprocess.run([*flask, *command], cwd=root, check=True, capture_output=True)
    # The team's database (Flask-SQLAlchemy keeps a relative SQLite path in the instance
    # folder) is not in its repository.
    shutil.rmtree(root / "instance")
    return root


CORPUS = [
    CorpusApp(
        "flaskr",
        "factory, blueprints, templates, login sessions, SQLite through init-db, pytest suite",
        _from_sdist(FLASK, "examples/tutorial"),
        _flaskr,
    ),
    CorpusApp(
        "apiflask-basic",
        "JSON API whose OpenAPI extension serves its own /docs and /openapi.json",
        _from_sdist(APIFLASK, "examples/basic"),
        _apiflask_pets,
        extra_files={"requirements.txt": "apiflask==3.1.2\n"},
    ),
    CorpusApp(
        "flasgger-colors",
        "one module; Swagger UI at /apidocs and its spec, from docstrings",
        _one_module(FLASGGER, "examples/colors.py"),
        _flasgger,
        extra_files={"requirements.txt": "flasgger==0.9.7.1\n"},
    ),
    CorpusApp(
        "restful-todo",
        "JSON API of Flask-RESTful resources (add_resource)",
        _from_sdist(FLASK_RESTFUL, "examples"),
        _todo,
        app="todo:app",
        extra_files={"requirements.txt": "flask-restful==0.3.10\n"},
    ),
    CorpusApp(
        "wtf-uploadr",
        "server-rendered forms with CSRF (Flask-WTF)",
        _from_sdist(FLASK_WTF, "examples/uploadr"),
        _uploadr,
        extra_files={"requirements.txt": "flask-wtf==1.3.0\n"},
    ),
    CorpusApp(
        "security-fsqlalchemy",
        "Flask-Security login form with CSRF, Babel, Flask-SQLAlchemy models, its pytest suite",
        _as_package(FLASK_SECURITY, "examples/fsqlalchemy1"),
        _security,
        app="fsqlalchemy1.app:create_app",
        extra_files={
            "requirements.txt": (
                "flask-security[fsqla,common,babel]==5.9.2\nzxcvbn==4.5.0\nargon2-cffi==25.1.0\n"
            )
        },
    ),
    CorpusApp(
        "journal",
        "server-rendered login (Flask-Login) with CSRF (Flask-WTF), users in SQLite by init-db",
        _written(JOURNAL),
        _journal,
    ),
    CorpusApp(
        "shop",
        "blueprints registered by import string, a unittest suite, pins chained by -r and -c",
        _written(SHOP),
        _shop,
    ),
    CorpusApp(
        "notes",
        "Flask-SQLAlchemy with Flask-Migrate: `flask db upgrade` before traffic",
        _notes_source,
        _notes,
    ),
    CorpusApp(
        "widgets",
        "plain SQLAlchemy with Alembic (alembic.ini, no Flask-Migrate): `alembic upgrade head`",
        _written(WIDGETS),
        _widgets,
    ),
]


# ---------------------------------------------------------------- the pipeline


def _step(name: str, command: list[str] | str, cwd: Path, env: dict[str, str]) -> str:
    """Run one step; on failure, say which step and show its output."""
    result = subprocess.run(
        command,
        cwd=cwd,
        env=env,
        shell=isinstance(command, str),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, f"{name} failed ({command}):\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _run_it(readme: str) -> list[str]:
    """The command lines of the README's "Run it" block, in order."""
    section = readme.split("## Run it\n", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


def _team_repository(corpus_app: CorpusApp, factory: pytest.TempPathFactory, scratch: Path) -> Path:
    repository = scratch / corpus_app.name
    shutil.copytree(corpus_app.source(factory, scratch / "source"), repository)
    write_files(repository, corpus_app.extra_files)
    git(repository, "init", "--quiet")
    git(repository, "add", "--all")
    git(
        repository,
        "-c",
        "user.name=Team",
        "-c",
        "user.email=team@example.com",
        "commit",
        "-qm",
        "app",
    )
    return repository


@pytest.mark.parametrize(
    "corpus_app",
    [
        pytest.param(
            a,
            id=a.name,
            marks=[pytest.mark.xfail(strict=True, reason=a.known_gap)] if a.known_gap else [],
        )
        for a in CORPUS
    ],
)
def test_an_adopted_app_serves_its_flows_with_zero_manual_steps(
    corpus_app: CorpusApp,
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
    image_interpreter: tuple[Path, Path],
) -> None:
    python = installed_python("3.12")
    if python is None:
        pytest.skip("needs Python 3.12")
    repository = _team_repository(corpus_app, tmp_path_factory, tmp_path)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3.12").symlink_to(python)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APP_", "WEB_"))}
    env["PATH"] = f"{bin_dir}:{env['PATH']}"

    # 2. Adopt it.
    new = [sys.executable, "-m", "apistarter", "new", str(tmp_path / "service"), "--legacy"]
    new += [str(repository), "--defaults", "--set", "python_version=3.12", "--json"]
    new += ["--app", corpus_app.app] if corpus_app.app else []
    project = Path(json.loads(_step("new --legacy", new, tmp_path, env))["directory"])
    readme = (project / "README.md").read_text()

    # 3. The README's commands as written, but for the serve command (started below).
    *setup, _serve = _run_it(readme)
    for line in setup:
        _step(f"README: {line}", line, project, env)
    venv_bin = project / ".venv" / "bin"

    # 4. The generated checks.
    _step(
        "the service's tests",
        [str(venv_bin / "pytest"), "-q", "-p", "no:cacheprovider"],
        project,
        env,
    )
    _step("ruff", [str(venv_bin / "ruff"), "check", "--no-cache", "."], project, env)
    _step(
        "ruff format",
        [str(venv_bin / "ruff"), "format", "--check", "--no-cache", "."],
        project,
        env,
    )
    _step("mypy", [str(venv_bin / "mypy"), "--cache-dir", str(tmp_path / "mypy")], project, env)

    # 5. As the image: its own virtualenv with a non-editable install, the migration
    # step, the image's command, run by the image's user.
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        root.chmod(0o755)
        image_python, library = image_interpreter
        image_bin = root / "venv" / "bin"
        _step("image venv", [str(image_python), "-m", "venv", str(root / "venv")], root, env)
        _step("image install", [str(image_bin / "pip"), "install", "--quiet", "."], project, env)
        workdir = root / "app"
        (workdir / "instance").mkdir(parents=True)
        as_user = as_image_user(project, workdir / "instance")
        # The container's own /tmp, and a liveness port of its own: other tests run
        # services at the same time on this machine.
        private_tmp = root / "tmp"
        private_tmp.mkdir(mode=0o1777)
        private_tmp.chmod(0o1777)
        container = {
            k: v.replace("/app/", f"{workdir}/").replace("/tmp/", f"{private_tmp}/")
            for k, v in image_env(project).items()
        }
        served = {
            **env,
            **container,
            "WEB_LIVENESS_PORT": str(free_port()),
            "LD_LIBRARY_PATH": str(library),
            "APP_SECRET_KEY": "from-the-deployment",
        }
        migrate = _migration_command(project)
        if migrate:
            _step("the migration step", [*as_user, *_local(migrate, image_bin)], workdir, served)
        program, *args = dockerfile_instruction(project, "CMD")
        command = [*as_user, *_local([program, *args], image_bin)]
        with serve(workdir, command, served, bin_dir=image_bin) as server:
            # 6. The app's flows, at their original URLs.
            corpus_app.flows(Browser(server.base_url))
            status, _, body = Browser(server.base_url).call("/readyz")
            assert status == 200 and json.loads(body)["status"] == "ready", body
            code, output = stop(server)
        assert code in (0, -15), output


@pytest.fixture(scope="module")
def image_interpreter() -> Iterator[tuple[Path, Path]]:
    """Python 3.12 where the image's user can run it: (its python, its lib folder).

    Tests running as root switch to the image's user, who cannot read root's home, where
    pyenv keeps this machine's 3.12: a copy outside it stands in for the image's Python.
    """
    python = installed_python("3.12")
    if python is None:
        pytest.skip("needs Python 3.12")
    home = Path(python).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="apistarter-python-") as scratch:
        copy = Path(scratch) / "python"
        shutil.copytree(home, copy, symlinks=True, ignore=shutil.ignore_patterns("test"))
        Path(scratch).chmod(0o755)
        yield copy / "bin" / "python3.12", copy / "lib"


def _migration_command(project: Path) -> list[str]:
    """The command the Kubernetes artefact runs before the service starts, if any."""
    deployment = project / "deploy" / "kubernetes" / "deployment.yaml"
    spec = yaml.safe_load(deployment.read_text())["spec"]["template"]["spec"]
    containers = spec.get("initContainers") or []
    return [str(part) for part in containers[0]["command"]] if containers else []


def _local(command: list[str], venv_bin: Path) -> list[str]:
    """The image's command with its programs taken from the service's virtualenv."""
    program, *args = command
    local = venv_bin / program
    return [str(local) if local.exists() else program, *args]
