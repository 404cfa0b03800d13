"""An adopted app's database is the service's concern (`apistarter new --legacy PATH`).

inspect finds the app's SQLAlchemy layer, its URL and its migrations; the service hands the
URL to the app as a setting (a SQLite file in the instance folder by default), ships the
migrations in its wheel, runs the app's migration command before traffic on every deploy
target, and its /readyz checks the app's real database through that URL.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from apistarter.adopt import adopted_deploy, adoption
from apistarter.cli import app
from apistarter.inspect import inspect_project
from tests.flask_examples import new_legacy, sdist, write_files
from tests.harness import as_image_user, dockerfile_instruction, http_request, serve, stop
from tests.postgres_cluster import Cluster, postgres_cluster
from tests.test_database import _reset
from tests.test_deploy import _kustomize, validate

# Flask-Migrate's sdist ships tests/app.py: Flask-SQLAlchemy with a URL built from the
# module's own folder ('sqlite:///' + os.path.join(basedir, 'app.db')), Flask-Migrate, and
# a command of its own (`flask add`) that writes a row.
FLASK_MIGRATE = "flask-migrate==4.1.0"

# A small app written for these tests: an app factory, Flask-SQLAlchemy, Flask-Migrate,
# its URL from DATABASE_URL with a SQLite default beside the code, JSON routes that write
# and read rows.
NOTES_APP = """\
import os

from flask import Flask, jsonify, request
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()
migrate = Migrate()


class Note(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    text = db.Column(db.String(200), nullable=False)


def create_app():
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ.get("DATABASE_URL", "sqlite:///notes.db")
    db.init_app(app)
    migrate.init_app(app, db)

    @app.post("/notes")
    def add():
        note = Note(text=request.get_json()["text"])
        db.session.add(note)
        db.session.commit()
        return jsonify(id=note.id, text=note.text), 201

    @app.get("/notes")
    def notes():
        return jsonify([{"id": n.id, "text": n.text} for n in Note.query.order_by(Note.id)])

    return app
"""
# The one migration step of every target, and the README's local command.
MIGRATE_COMMAND = ["python", "-m", "svc.migrate"]


def _flask(app: str, cwd: Path, *args: str) -> None:
    """The app's own Flask command in its own folder (only tests ever import an app)."""
    env = {**os.environ, "FLASK_APP": app, "PYTHONPATH": str(cwd)}
    env.pop("DATABASE_URL", None)
    subprocess.run(
        [sys.executable, "-m", "flask", *args], cwd=cwd, env=env, check=True, capture_output=True
    )


def _with_migrations(root: Path, app: str) -> Path:
    """The app with the migrations its team would have committed, made by its own tools
    (as Flask-Migrate's own tests do); the database file they needed is not part of it."""
    _flask(app, root, "db", "init")
    _flask(app, root, "db", "migrate", "-m", "first")
    for leftover in [*root.rglob("*.db"), *root.rglob("__pycache__"), root / "instance"]:
        if leftover.is_dir():
            shutil.rmtree(leftover)
        elif leftover.exists():
            leftover.unlink()
    return root


@pytest.fixture(scope="module")
def notes_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_files(
        tmp_path_factory.mktemp("source") / "notes-app",
        {
            "notes/__init__.py": NOTES_APP,
            "requirements.txt": "flask>=3\nflask-sqlalchemy>=3.1\nflask-migrate>=4\n",
        },
    )
    return _with_migrations(root, "notes:create_app")


def test_inspect_finds_the_database_its_url_and_its_migrations(notes_app: Path) -> None:
    found = inspect_project(notes_app).database
    assert found is not None
    assert found.model_dump(exclude={"evidence", "url_evidence", "migrate_evidence"}) == {
        "library": "flask-sqlalchemy",
        "config_key": "SQLALCHEMY_DATABASE_URI",
        "env": "DATABASE_URL",
        "default": "sqlite:///notes.db",
        "sqlite_file": "notes.db",
        "migrate": "flask-migrate",
        "migrations": "migrations",
        "alembic_ini": None,
        "tables": ("alembic_version", "note"),
    }
    lines = (notes_app / "notes" / "__init__.py").read_text().splitlines()
    assert "SQLAlchemy()" in lines[found.evidence.line - 1]
    assert found.url_evidence is not None
    assert "DATABASE_URL" in lines[found.url_evidence.line - 1]
    assert found.migrate_evidence is not None
    assert "Migrate()" in lines[found.migrate_evidence.line - 1]
    # What `apistarter inspect` shows: the same, on its table and in its JSON.
    shown = CliRunner().invoke(app, ["inspect", str(notes_app)])
    assert shown.exit_code == 0, shown.output
    # Table cells wrap with the terminal's width: the rows' names (the JSON has the rest).
    assert "│ database " in shown.output and "│ migrations " in shown.output
    as_json = CliRunner().invoke(app, ["inspect", str(notes_app), "--json"])
    assert json.loads(as_json.stdout)["database"]["env"] == "DATABASE_URL"


def test_inspect_finds_plain_sqlalchemy_and_alembic(tmp_path: Path) -> None:
    root = write_files(
        tmp_path / "api",
        {
            "api.py": (
                "import os\nfrom flask import Flask\nfrom sqlalchemy import create_engine\n"
                "DB_URL = os.getenv('DB_URL', 'postgresql://localhost/widgets')\n"
                "engine = create_engine(DB_URL)\napp = Flask(__name__)\n"
            ),
            "alembic.ini": "[alembic]\nscript_location = %(here)s/alembic\n",
            "alembic/env.py": "from alembic import context\n",
            "alembic/versions/0001_widgets.py": (
                "from alembic import op\nimport sqlalchemy as sa\n\ndef upgrade():\n"
                "    op.create_table('widgets', sa.Column('id', sa.Integer, primary_key=True))\n"
            ),
        },
    )
    found = inspect_project(root).database
    assert found is not None
    assert (found.library, found.config_key, found.env, found.default) == (
        "sqlalchemy",
        None,
        "DB_URL",
        "postgresql://localhost/widgets",
    )
    assert (found.sqlite_file, found.migrate, found.migrations, found.alembic_ini) == (
        None,
        "alembic",
        "alembic",
        "alembic.ini",
    )
    assert found.tables == ("alembic_version", "widgets")
    assert str(found.evidence) == "api.py:5"


def _site(project: Path, root: Path) -> Path:
    """The service installed as in the image: a non-editable install (the wheel)."""
    site = root / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), project],
        check=True,
    )
    return site


def _readme_migration(project: Path) -> str:
    """The README's one command that migrates, as written there."""
    readme = (project / "README.md").read_text()
    (line,) = [line for line in readme.splitlines() if line.endswith(" -m svc.migrate")]
    return line


def _as_readme_venv(project: Path) -> None:
    """The README's `.venv/bin/python`: this interpreter, the service installed by _site."""
    python = project / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)


@contextlib.contextmanager
def _adopted(source: Path, *extra: str) -> Iterator[tuple[Path, Path]]:
    """(project, scratch): the app adopted, in a folder the image's user can read."""
    with tempfile.TemporaryDirectory(dir="/tmp") as scratch, pytest.MonkeyPatch.context() as patch:
        root = Path(scratch)
        root.chmod(0o755)
        # The template bundle is installed below HOME: this test's own, not one another
        # checkout of apistarter may be installing at the same time.
        patch.setenv("HOME", str(root / "home"))
        code, stdout, stderr = new_legacy(root / "svc", source, *extra)
        assert code == 0, stderr
        yield Path(json.loads(stdout)["directory"]), root


def _json(server_url: str, method: str, path: str, body: object = None) -> tuple[int, object]:
    payload = json.dumps(body).encode() if body is not None else b""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    status, _, raw = http_request(server_url, method, path, payload, headers)
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


@pytest.mark.slow
def test_a_sqlite_app_is_migrated_by_the_readme_and_served_from_the_wheel(
    notes_app: Path,
) -> None:
    with _adopted(notes_app) as (project, root):
        answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
        assert answers["legacy"]["database"]["setting"] == "DATABASE_URL"
        site = _site(project, root)
        # The migrations came with the wheel; the app's default file did not go there.
        assert (site / "svc" / "legacy" / "migrations" / "env.py").is_file()
        workdir = root / "app"
        (workdir / "instance").mkdir(parents=True)
        as_user = as_image_user(project, workdir / "instance")
        env = {
            "PYTHONPATH": str(site),
            "APP_LEGACY_INSTANCE_PATH": str(workdir / "instance"),
        }
        program, *args = dockerfile_instruction(project, "CMD")
        command = [*as_user, sys.executable if program == "python" else program, *args]
        database = workdir / "instance" / "notes.db"
        with serve(workdir, command, env) as server:
            # Not migrated yet: not ready, and the app's route fails.
            status, body = _json(server.base_url, "GET", "/readyz")
            assert status == 503, body
            assert isinstance(body, dict)
            assert body["checks"]["legacy_database"] == (
                f"error: {database} does not exist: run python -m svc.migrate"
            )
            assert _json(server.base_url, "GET", "/notes")[0] == 500
            # The README's command, as written, from the service's root.
            line = _readme_migration(project)
            assert line.split() == [".venv/bin/python", *MIGRATE_COMMAND[1:]]
            # As the image's user, whose exec of this interpreter must be direct (through a
            # shell it cannot reach the interpreter's home); the PostgreSQL case runs the
            # line itself through a shell.
            migrated = subprocess.run(
                [*as_user, sys.executable, *line.split()[1:]],
                cwd=project,
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                check=False,
            )
            assert migrated.returncode == 0, migrated.stderr
            status, body = _json(server.base_url, "GET", "/readyz")
            assert (status, body) == (200, {"status": "ready", "checks": {"legacy_database": "ok"}})
            # A row written and read back at the app's own URLs.
            assert _json(server.base_url, "POST", "/notes", {"text": "first"}) == (
                201,
                {"id": 1, "text": "first"},
            )
            assert _json(server.base_url, "GET", "/notes") == (200, [{"id": 1, "text": "first"}])
            with sqlite3.connect(database) as db:
                assert db.execute("SELECT text FROM note").fetchall() == [("first",)]
            assert not list(site.rglob("*.db"))
            # The file moved away: not ready at once, though connections the app's pool
            # already holds still reach the moved file (its writes would be lost there).
            database.rename(database.with_suffix(".moved"))
            status, body = _json(server.base_url, "GET", "/readyz")
            assert status == 503, body
            status, output = stop(server)
        assert status in (0, -15), output
        # Started again without it: the app's reads fail, and readiness says so throughout
        # (a read leaves an empty file behind, without the app's tables).
        with serve(workdir, command, env) as server:
            for _ in range(2):
                assert _json(server.base_url, "GET", "/notes")[0] == 500
                status, body = _json(server.base_url, "GET", "/readyz")
                assert status == 503, body
            assert isinstance(body, dict)
            assert body["checks"]["legacy_database"] == (
                f"error: {database} has no table alembic_version, note: run python -m svc.migrate"
            )


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with postgres_cluster() as running:
        yield running


@pytest.mark.slow
def test_a_postgresql_url_is_migrated_checked_and_served(notes_app: Path, cluster: Cluster) -> None:
    with _adopted(notes_app) as (project, root):
        site = _site(project, root)
        workdir = root / "app"
        (workdir / "instance").mkdir(parents=True)
        # The app's own variable, set as its deployment set it before.
        url = cluster.url().replace("postgresql://", "postgresql+psycopg://")
        env = {
            "PYTHONPATH": str(site),
            "APP_LEGACY_INSTANCE_PATH": str(workdir / "instance"),
            "DATABASE_URL": url,
        }
        _as_readme_venv(project)
        migrated = subprocess.run(
            ["sh", "-c", _readme_migration(project)],
            cwd=project,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=False,
        )
        assert migrated.returncode == 0, migrated.stderr
        program, *args = dockerfile_instruction(project, "CMD")
        command = [sys.executable if program == "python" else program, *args]
        with serve(workdir, command, env) as server:
            status, body = _json(server.base_url, "GET", "/readyz")
            assert (status, body) == (200, {"status": "ready", "checks": {"legacy_database": "ok"}})
            assert _json(server.base_url, "POST", "/notes", {"text": "in postgres"})[0] == 201
            assert _json(server.base_url, "GET", "/notes") == (
                200,
                [{"id": 1, "text": "in postgres"}],
            )
            assert not list(workdir.rglob("*.db"))  # nothing fell back to SQLite
            cluster.stop()
            try:
                status, body = _json(server.base_url, "GET", "/readyz")
                assert status == 503, body
                assert isinstance(body, dict)
                assert body["checks"]["legacy_database"].startswith("error: ")
                assert _json(server.base_url, "GET", "/notes")[0] == 500
            finally:
                cluster.start()
            assert _json(server.base_url, "GET", "/readyz")[0] == 200


@pytest.mark.slow
def test_flask_migrate_s_own_example_app_is_adopted_and_migrated(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    example = sdist(FLASK_MIGRATE, tmp_path_factory) / "tests" / "app.py"
    source = tmp_path_factory.mktemp("flask-migrate") / "users"
    source.mkdir()
    shutil.copy(example, source / "app.py")
    (source / "requirements.txt").write_text("flask-sqlalchemy\nflask-migrate\n")
    _with_migrations(source, "app:app")
    found = inspect_project(source).database
    assert found is not None
    # Its URL is built from its own folder: only the file's name is kept.
    assert (found.env, found.default, found.sqlite_file) == (None, "sqlite:///app.db", "app.db")
    with _adopted(source) as (project, root):
        answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
        assert answers["legacy"]["database"]["setting"] == "APP_LEGACY_DATABASE_URL"
        site = _site(project, root)
        instance = root / "app" / "instance"
        instance.mkdir(parents=True)
        as_user = as_image_user(project, instance)
        env = {**os.environ, "PYTHONPATH": str(site), "APP_LEGACY_INSTANCE_PATH": str(instance)}
        line = _readme_migration(project).split()
        assert line == [".venv/bin/python", *MIGRATE_COMMAND[1:]]
        flask = [sys.executable, "-m", "flask", "--app", "svc.legacy.mount:configured_app"]
        # The README's step, then the app's own command.
        for step in ([sys.executable, *line[1:]], [*flask, "add"]):
            done = subprocess.run(
                [*as_user, *step], cwd=project, env=env, capture_output=True, text=True
            )
            assert done.returncode == 0, done.stderr
        with sqlite3.connect(instance / "app.db") as db:
            assert db.execute("SELECT name FROM user").fetchall() == [("test",)]
        assert not list(site.rglob("*.db"))
        program, *args = dockerfile_instruction(project, "CMD")
        command = [*as_user, sys.executable if program == "python" else program, *args]
        with serve(
            root / "app",
            command,
            {"PYTHONPATH": str(site), "APP_LEGACY_INSTANCE_PATH": str(instance)},
        ) as server:
            status, body = _json(server.base_url, "GET", "/readyz")
            assert (status, body) == (200, {"status": "ready", "checks": {"legacy_database": "ok"}})


def _kubernetes_step(project: Path) -> list[str]:
    built = {doc["kind"]: doc for doc in _kustomize(project) if doc["kind"] != "ConfigMap"}
    deployment = built["Deployment"]
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    scaler = built["HorizontalPodAutoscaler"]["spec"]
    assert (scaler["minReplicas"], scaler["maxReplicas"]) == (1, 1)
    pod = deployment["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    assert init["image"] == pod["containers"][0]["image"]
    # The app's URL from the Secret (optional: unset, it is the SQLite file on the volume).
    (url,) = [e for e in init["env"] if e["name"] == "DATABASE_URL"]
    assert url["valueFrom"]["secretKeyRef"]["optional"] is True
    mounts = {m["mountPath"]: m["name"] for m in init["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "persistentVolumeClaim" in volumes[mounts["/app/instance"]]
    return [str(part) for part in init["command"]]


def _compose_step(project: Path) -> list[str]:
    services = yaml.safe_load((project / "compose.yaml").read_text())["services"]
    assert services["app"]["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"}
    }
    assert "postgres" not in services  # the app's database is its SQLite file
    assert services["migrate"]["volumes"] == ["instance:/app/instance"]
    return [str(part) for part in services["migrate"]["command"]]


def _systemd_step(project: Path) -> list[str]:
    (unit,) = project.glob("deploy/systemd/*.service")
    text = unit.read_text()
    assert "StateDirectory=svc\n" in text
    (line,) = [line for line in text.splitlines() if line.startswith("ExecStartPre=")]
    program, *args = line.removeprefix("ExecStartPre=").split()
    assert program == "/opt/svc/bin/python"
    return ["python", *args]


STEPS = {"kubernetes": _kubernetes_step, "compose": _compose_step, "vm": _systemd_step}


@pytest.mark.slow
@pytest.mark.parametrize("deploy", list(STEPS))
def test_every_target_migrates_the_app_s_database_before_traffic(
    notes_app: Path, deploy: str
) -> None:
    with _adopted(notes_app, "--set", f"deploy={deploy}") as (project, _):
        result = validate(project, deploy)
        assert result.returncode == 0, result.stdout + result.stderr
        assert STEPS[deploy](project) == MIGRATE_COMMAND
        adr = " ".join(
            (project / "docs" / "decisions" / "0001-web-framework.md").read_text().split()
        )
        assert "One replica, replaced rather than rolled." in adr
        assert "Two instances writing it would corrupt it or fail on its lock" in adr
        if deploy == "kubernetes":
            assert "(`Recreate`, a short gap in service each time)" in adr


@pytest.mark.slow
def test_one_step_migrates_the_service_s_own_tables_then_the_app_s_database(
    notes_app: Path, cluster: Cluster
) -> None:
    """A service with its own PostgreSQL and an adopted app's SQLite: one command migrates
    both, in order, on every target and locally."""
    with _adopted(notes_app, "--set", "database=postgresql", "--set", "deploy=compose") as (
        project,
        root,
    ):
        result = validate(project, "compose")
        assert result.returncode == 0, result.stdout + result.stderr
        services = yaml.safe_load((project / "compose.yaml").read_text())["services"]
        step = services["migrate"]
        assert step["command"] == MIGRATE_COMMAND
        # The service's PostgreSQL beside it, and the app's SQLite file on the volume.
        assert "postgres" in services
        assert "instance:/app/instance" in step["volumes"]
        site = _site(project, root)
        instance = root / "app" / "instance"
        instance.mkdir(parents=True)
        # The cluster is the module's: another test may have left its own alembic_version.
        _reset(cluster)
        env = {
            **os.environ,
            "PYTHONPATH": str(site),
            "APP_LEGACY_INSTANCE_PATH": str(instance),
            "APP_DATABASE_URL": cluster.url(),
        }
        env.pop("DATABASE_URL", None)
        _as_readme_venv(project)
        readme_step = ["sh", "-c", _readme_migration(project)]
        # Without the service's URL: one line naming it, nothing migrated, no traceback.
        unset = {k: v for k, v in env.items() if k != "APP_DATABASE_URL"}
        refused = subprocess.run(
            readme_step, cwd=project, env=unset, capture_output=True, text=True, check=False
        )
        assert refused.returncode == 1, refused.stderr
        assert refused.stderr.startswith("svc cannot migrate: APP_DATABASE_URL"), refused.stderr
        assert "Traceback" not in refused.stderr
        assert not (instance / "notes.db").exists()
        migrated = subprocess.run(
            readme_step, cwd=project, env=env, capture_output=True, text=True, check=False
        )
        assert migrated.returncode == 0, migrated.stderr
        lines = migrated.stderr.splitlines()
        own = next(i for i, line in enumerate(lines) if "database at migration" in line)
        app_step = next(i for i, line in enumerate(lines) if "flask db upgrade done" in line)
        assert own < app_step, lines
        program, *args = dockerfile_instruction(project, "CMD")
        command = [sys.executable if program == "python" else program, *args]
        serve_env = {k: env[k] for k in ("PYTHONPATH", "APP_LEGACY_INSTANCE_PATH")}
        serve_env["APP_DATABASE_URL"] = cluster.url()
        with serve(root / "app", command, serve_env) as server:
            status, body = _json(server.base_url, "GET", "/readyz")
            assert status == 200, body
            assert isinstance(body, dict)
            assert body["checks"] == {"database": "ok", "legacy_database": "ok"}
            assert _json(server.base_url, "POST", "/notes", {"text": "both"})[0] == 201
            item = {"name": "both", "price": "1.50"}
            assert _json(server.base_url, "POST", "/v1/items", item)[0] == 201


@pytest.mark.parametrize("default", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_default_becomes_a_file_in_the_instance_folder(
    tmp_path: Path, default: str
) -> None:
    root = write_files(
        tmp_path / "app",
        {
            "app.py": (
                "import os\nfrom flask import Flask\nfrom flask_sqlalchemy import SQLAlchemy\n"
                "db = SQLAlchemy()\n\n\nclass User(db.Model):\n"
                "    id = db.Column(db.Integer, primary_key=True)\n\n\n"
                "def create_app():\n    app = Flask(__name__)\n"
                "    app.config['SQLALCHEMY_DATABASE_URI'] = os.environ.get(\n"
                f"        'DATABASE_URL', {default!r}\n    )\n"
                "    db.init_app(app)\n    return app\n"
            ),
            "requirements.txt": "flask>=3\nflask-sqlalchemy>=3.1\n",
        },
    )
    report = inspect_project(root)
    assert report.database is not None and report.database.default == default
    data = adoption(report, root, "3.12").data
    database = data["database"]
    # A file in the instance folder, starting empty as the app's own default did: no
    # table is expected in it, and the service starts without the setting.
    assert (database["sqlite"], database["in_memory"], database["tables"]) == (
        "database.sqlite",
        True,
        [],
    )
    # The README's note about in-memory SQLite is not about this URL any more.
    assert data["memory_sqlite"] == []
    deploy = adopted_deploy(
        {"secrets": ["APP_API_KEY"], "required_secrets": [], "writable_paths": ["/tmp"]},
        data,
        "svc",
    )
    assert deploy["required_secrets"] == []
    assert deploy["instance_volume"] == {"path": "/app/instance", "size": "1Gi"}
