"""An adopted app's database: where its URL comes from, its SQLite files, and the
migration step that creates or upgrades its schema.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from apistarter.adopt.layout import LEGACY_DATABASE_SETTING, LEGACY_DIR
from apistarter.inspect import (
    AppDatabase,
    Command,
    Evidence,
    InspectReport,
)
from apistarter.inspect.reader import Reader
from apistarter.legacy_source import (
    NOT_COPIED,
)

# Flask-Migrate's command that applies the app's migrations.
FLASK_MIGRATE_UPGRADE = ["db", "upgrade"]


# The file in the instance folder that stands for an in-memory SQLite default URL.
IN_MEMORY_SQLITE_FILE = "database.sqlite"


_IN_MEMORY_URLS = frozenset({"sqlite://", "sqlite:///:memory:"})


def legacy_migration(legacy: dict[str, Any]) -> dict[str, Any]:
    """What the migration step does for the adopted app's database, {} when nothing.

    The app's own command, run as `flask` would run it with the service's settings (or
    Alembic's, for an app without Flask-Migrate): its migrations on every deploy; an init
    command only while readiness finds the database missing, since it may drop what is
    there (flaskr's `init-db` does). ``legacy`` is the template's ``legacy`` answer, at
    `new` or as an update reads it back.
    """
    database = legacy.get("database") or {}
    if database.get("alembic"):
        # Plain Alembic: its command API with the app's ini, not a Flask command.
        return {"args": ["upgrade", "head"], "once": False, "alembic": True}
    args = list(database.get("migrate_args") or [])
    if database and args:
        return {"args": args, "once": args != FLASK_MIGRATE_UPGRADE}
    init = legacy.get("init_command")
    if init and legacy.get("databases"):
        return {"args": [init], "once": True}
    return {}


def app_database(report: InspectReport) -> dict[str, Any]:
    """The template's ``legacy.database``: the app's URL as a service setting, where it
    points by default, the tables /readyz expects and the command that migrates it."""
    found = report.database
    if found is None:
        return {}
    # The app's own variable when it reads one (a deployment may already set it).
    setting = found.env if _is_name(found.env) else LEGACY_DATABASE_SETTING
    init = find_init_command(report)
    if found.migrate == "flask-migrate" and found.migrations:
        args = FLASK_MIGRATE_UPGRADE
    elif init:
        args = [init.name]
    else:
        args = []
    # Names and files as plain words only: they go into generated code and comments.
    sqlite = (
        found.sqlite_file if found.sqlite_file and _FILE_NAME.fullmatch(found.sqlite_file) else ""
    )
    # An in-memory default is a new, empty database for every connection (and the mount
    # serves each request on a thread of its own): a file in the instance folder instead,
    # which starts empty too, so no table is expected in it before the app makes them.
    in_memory = found.default in _IN_MEMORY_URLS
    if in_memory:
        sqlite = IN_MEMORY_SQLITE_FILE
    migrations = (
        found.migrations
        and _FILE_NAME.fullmatch(found.migrations.replace("/", "_"))
        and ".." not in found.migrations.split("/")
    )
    return {
        "library": found.library,
        "config_key": found.config_key if _is_name(found.config_key) else "",
        "env": found.env if _is_name(found.env) else "",
        "setting": setting,
        # A SQLite file: in the instance folder (a volume), never beside the app's code.
        "sqlite": sqlite,
        # The app's own default was in memory: the file stands for it.
        "in_memory": in_memory,
        "migrations": f"{LEGACY_DIR}/{found.migrations}" if migrations else "",
        # Plain Alembic (no Flask-Migrate): its ini, shipped with its migrations.
        "alembic": (
            f"{LEGACY_DIR}/{found.alembic_ini}"
            if migrations and found.migrate == "alembic" and found.alembic_ini == "alembic.ini"
            else ""
        ),
        "migrate_args": args,
        # An app object (not a factory) is made once per process, as its module is imported;
        # so is plain SQLAlchemy's engine, as a rule (`engine = create_engine(...)` at the top).
        "made_at_import": report.app.kind == "object" or found.library == "sqlalchemy",
        "tables": [] if in_memory else [table for table in found.tables if _is_name(table)],
    }


# The lines an expression reading the URL spans, as written (`os.environ.get(` then its
# default on the next line or two).
_URL_EXPRESSION_LINES = 3


def is_database_default(where: Evidence, report: InspectReport) -> bool:
    """Whether ``where`` is in the expression that gives the app's database its default URL."""
    found = report.database
    url = found.url_evidence if found else None
    return bool(
        found
        and found.default in _IN_MEMORY_URLS
        and url
        and where.file == url.file
        and 0 <= where.line - url.line < _URL_EXPRESSION_LINES
    )


def _is_name(text: str | None) -> bool:
    return bool(text and _NAME.fullmatch(text))


def database_findings(found: AppDatabase) -> list[str]:
    findings = [f"database: {found.library}, {found.evidence}"]
    if found.url_evidence:
        findings.append(f"database URL: {found.config_key or found.env}, {found.url_evidence}")
    if found.migrate:
        where = found.migrate_evidence or f"{found.migrations}/"
        findings.append(f"migrations: {found.migrate} ({found.migrations or 'no folder'}), {where}")
    return findings


def find_init_command(report: InspectReport) -> Command | None:
    # A command of the app's own, one plain word: the generated tests, comments and deploy
    # steps place it as one argument.
    return next(
        (c for c in report.commands if "init" in c.name and _COMMAND_NAME.fullmatch(c.name)),
        None,
    )


# A configuration key, a variable or a table, and a file's name, as generated code takes them.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


# A click command's name as a shell, YAML and a Python comment take it unquoted.
_COMMAND_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]*")


# A table a schema file creates: `CREATE TABLE [IF NOT EXISTS] name`, quoted or not.
_CREATE_TABLE = re.compile(
    r"\bcreate\s+table\s+(?:if\s+not\s+exists\s+)?[\"'`\[]?(\w+)", re.IGNORECASE
)


def instance_databases(report: InspectReport) -> dict[str, list[str]]:
    """The SQLite files named in the app's code (kept in its instance folder), with the
    tables its .sql schema files create when there is one database to give them to."""
    names = sorted(
        {
            s.detail.removeprefix("file ")
            for s in report.state
            if s.kind == "sqlite" and s.detail.startswith("file ") and "/" not in s.detail
        }
    )
    root = Path(report.root)
    reader = Reader(root)
    tables = sorted(
        {
            table.lower()
            for schema in root.rglob("*.sql")
            if not set(schema.relative_to(root).parts) & NOT_COPIED
            for table in _CREATE_TABLE.findall(reader.text(schema) or "")
        }
    )
    return {name: tables if len(names) == 1 else [] for name in names}
