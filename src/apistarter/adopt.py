"""Adopting an existing Flask app into a hybrid service (`apistarter new --legacy PATH`).

What `inspect` found becomes the template's ``legacy`` answer (placed by the templates
as data), and after Copier has rendered the service, the app's code is copied into
``legacy/`` and the merged dependencies are checked for conflicts, before the first
commit: a refusal leaves nothing behind, as any failed render does.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from apistarter.database import migrate_command
from apistarter.deploy import MigrationDeploy
from apistarter.inspect import (
    AppDatabase,
    Command,
    Dependency,
    Evidence,
    IndexOption,
    InspectReport,
)
from apistarter.inspect.reader import Reader
from apistarter.legacy_source import (
    NOT_COPIED,
    AdoptError,
    AppFiles,
    GitOrigin,
    app_files,
    git_origin,
    import_history,
)
from apistarter.resolve import ResolveError, compile_set, index_note, mentioned
from apistarter.service_routes import docs_of, service_routes, shadowed

__all__ = [
    "AdoptError",
    "Adoption",
    "adopted_deploy",
    "adoption",
    "check_dependencies",
    "legacy_migration",
]

# Where the app's code lives in the service, at the project root.
LEGACY_DIR = "legacy"
# Mounted at the root, existing clients keep their URLs: FastAPI's routes are matched
# first, everything else reaches Flask, so a route moves by being written in FastAPI.
ADOPTED_PREFIX = ""
# Where the image keeps the app's instance folder: writable by the service's user, a
# volume in the deploy artefacts.
INSTANCE_PATH = "/app/instance"
# The instance folder's volume when it holds the app's SQLite files (a claim's request).
INSTANCE_VOLUME_SIZE = "1Gi"
# The service setting holding the app's database URL when the app reads it from no
# variable of its own.
LEGACY_DATABASE_SETTING = "APP_LEGACY_DATABASE_URL"
# Flask-Migrate's command that applies the app's migrations.
FLASK_MIGRATE_UPGRADE = ["db", "upgrade"]
# The file in the instance folder that stands for an in-memory SQLite default URL.
IN_MEMORY_SQLITE_FILE = "database.sqlite"
_IN_MEMORY_URLS = frozenset({"sqlite://", "sqlite:///:memory:"})
# The service setting that becomes the app's SECRET_KEY.
SECRET_KEY_SETTING = "APP_SECRET_KEY"  # noqa: S105 - a variable name, not its value
# Extensions needing the app's secret key: signed cookies, CSRF tokens, login sessions.
_SIGNED = frozenset({"sessions", "flask-login", "flask-wtf", "flask-session"})


@dataclass(frozen=True)
class Adoption:
    """The app to bring in: where from, and the template's ``legacy`` answer."""

    source: Path
    data: dict[str, Any]
    app_dependencies: tuple[Dependency, ...]
    files: AppFiles
    origin: GitOrigin | None = None
    python_version: str = ""
    # The app's requirement files' index options: the resolver uses them too.
    indexes: tuple[IndexOption, ...] = ()
    # One line each for the user: how the dependencies were resolved, when it matters.
    notes: list[str] = field(default_factory=list)

    def bring_in(self, project: Path) -> None:
        """Copy the app's code into the rendered project, then resolve the merged
        dependencies as the README installs them."""
        self.files.copy_into(project / LEGACY_DIR)
        note = check_dependencies(
            project / "pyproject.toml", self.app_dependencies, self.python_version, self.indexes
        )
        if note and note not in self.notes:
            self.notes.append(note)

    def bring_history(self, repository: Path) -> None:
        """In the service's new repository: the app's history first (when it has one)."""
        if self.origin is not None:
            import_history(self.origin, repository, LEGACY_DIR)


def adopted_deploy(plan: dict[str, Any], legacy: dict[str, Any], package: str) -> dict[str, Any]:
    """The deploy plan's data with what an adopted app adds: its secret, its instance
    folder, its database's URL and the step that migrates it.

    ``legacy`` is the template's ``legacy`` answer (at `new`, or as an update reads it
    back from the service's answers); ``package`` is the service's import name. An
    instance folder holding the app's SQLite files is a volume that outlives the
    container (a PersistentVolumeClaim, a named Compose volume, a systemd
    StateDirectory), written by one pod: SQLite is one file with local locks, so one
    replica, replaced rather than rolled. Without a database the folder is scratch space
    like the service's other writable paths.
    """
    database = legacy.get("database") or {}
    secrets = [
        *plan["secrets"],
        *([SECRET_KEY_SETTING] if legacy.get("secret_key") else []),
        *([database["setting"]] if database else []),
    ]
    plan = {**plan, "secrets": secrets}
    # A server's URL has no default the service could use: it cannot start without it.
    if database and not database["sqlite"]:
        plan["required_secrets"] = [*plan["required_secrets"], database["setting"]]
    if legacy_migration(legacy):
        # One step migrates everything the service owns: its own tables first (when it
        # has them), then the app's database (legacy/migrate.py).
        own = plan.get("migration") or {}
        plan["migration"] = MigrationDeploy(
            command=migrate_command(package),
            # Every secret either side may need (the app's SECRET_KEY, its URL, the service's).
            secrets=tuple(dict.fromkeys([*own.get("secrets", ()), *secrets])),
            state_volume=bool(database.get("sqlite") or legacy.get("databases")),
            postgres_image=own.get("postgres_image"),
        ).model_dump(mode="json")
    if legacy.get("databases") or database.get("sqlite"):
        volume = {"path": INSTANCE_PATH, "size": INSTANCE_VOLUME_SIZE}
        return {**plan, "instance_volume": volume, "min_replicas": 1, "max_replicas": 1}
    paths = [*plan["writable_paths"], *([INSTANCE_PATH] if legacy.get("instance") else [])]
    return {**plan, "writable_paths": paths}


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


def _app_database(report: InspectReport) -> dict[str, Any]:
    """The template's ``legacy.database``: the app's URL as a service setting, where it
    points by default, the tables /readyz expects and the command that migrates it."""
    found = report.database
    if found is None:
        return {}
    # The app's own variable when it reads one (a deployment may already set it).
    setting = found.env if _is_name(found.env) else LEGACY_DATABASE_SETTING
    init = _init_command(report)
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


def _is_database_default(where: Evidence, report: InspectReport) -> bool:
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


def _database_findings(found: AppDatabase) -> list[str]:
    findings = [f"database: {found.library}, {found.evidence}"]
    if found.url_evidence:
        findings.append(f"database URL: {found.config_key or found.env}, {found.url_evidence}")
    if found.migrate:
        where = found.migrate_evidence or f"{found.migrations}/"
        findings.append(f"migrations: {found.migrate} ({found.migrations or 'no folder'}), {where}")
    return findings


def _init_command(report: InspectReport) -> Command | None:
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
# An environment variable's name (a prefix ends in *).
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\*?")
# A table a schema file creates: `CREATE TABLE [IF NOT EXISTS] name`, quoted or not.
_CREATE_TABLE = re.compile(
    r"\bcreate\s+table\s+(?:if\s+not\s+exists\s+)?[\"'`\[]?(\w+)", re.IGNORECASE
)


def _instance_databases(report: InspectReport) -> dict[str, list[str]]:
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


# Where Flask looks for an app's templates and static files: beside its module.
_FLASK_FOLDERS = ("templates", "static")


def _beside_module_apps(report: InspectReport) -> list[str]:
    """The template and static folders of an app that is one module at the project's root.

    Flask finds them from the module's own folder (its root path); installed as a module
    of site-packages, the app looks for them there, so they are installed beside it.
    """
    module = report.app.import_path.partition(":")[0]
    if f"{module}.py" not in report.packages:
        return []
    return [name for name in _FLASK_FOLDERS if (Path(report.root) / name).is_dir()]


def _main_dependencies(report: InspectReport) -> tuple[Dependency, ...]:
    return tuple(d for d in report.dependencies if d.group == "main")


def _dev_dependencies(report: InspectReport) -> tuple[Dependency, ...]:
    """The app's development and test requirements the main ones do not already hold (a
    dev file's -r of requirements.txt reads those again)."""
    main = {d.requirement for d in report.dependencies if d.group == "main"}
    return tuple(d for d in report.dependencies if d.group == "dev" and d.requirement not in main)


def _undeclared_extensions(report: InspectReport, declared: Iterable[Dependency]) -> list[str]:
    """Extensions the code imports but no packaging file declares (a script, not a package)."""
    names = {canonicalize_name(Requirement(d.requirement).name) for d in declared}
    return [
        extension.name
        for extension in report.extensions
        if extension.name.startswith("flask-") and canonicalize_name(extension.name) not in names
    ]


def adoption(report: InspectReport, source: Path, python_version: str) -> Adoption:
    """Plan the adoption of the inspected app, or refuse it in one line."""
    if report.requires_python and not SpecifierSet(report.requires_python).contains(
        f"{python_version}.0", prereleases=True
    ):
        raise AdoptError(
            f"{source}: the app needs Python {report.requires_python} "
            f"({report.requires_python_evidence}) and the service would run {python_version}; "
            "choose one both support with --set python_version=X.Y"
        )
    root = Path(report.root)
    origin = git_origin(root)
    # An app with a database gets an instance folder: its SQLite file's place by default.
    instance = any(s.kind == "instance-folder" for s in report.state) or bool(report.database)
    dependencies = _main_dependencies(report)
    undeclared = _undeclared_extensions(report, dependencies)
    app_set = _app_set(dependencies, undeclared, python_version, report.indexes)
    dev = _dev_dependencies(report)
    dev_set = _dev_set(dependencies, dev, undeclared, app_set, python_version, report.indexes)
    # Only names a shell or a .env file can set: any other would not stay one line there.
    env = [
        s
        for s in report.settings
        if s.kind in ("env", "env-prefix") and _ENV_NAME.fullmatch(s.name)
    ]
    init = _init_command(report)
    init_command = init.name if init else ""
    database = _app_database(report)
    databases = _instance_databases(report) if instance and not database else {}
    smoke_paths = sorted(
        {
            r.rule
            for r in report.routes
            if "GET" in r.methods and "<" not in r.rule and not r.registered_by
        }
    )
    app_docs = docs_of(report.routes)
    data = {
        "source": str(source),
        "commit": origin.described if origin else "",
        # The app's commits the service's history starts with (none outside git).
        "history": origin.commits if origin else 0,
        # The source's working tree had changes on top of that commit: copied as they are.
        "uncommitted": bool(origin and origin.dirty),
        "app": report.app.import_path,
        "prefix": ADOPTED_PREFIX,
        # Top-level packages and modules, installed from legacy/ under their own names,
        # and the folders the tests import them from.
        "modules": {
            **{f"{LEGACY_DIR}/{path}": Path(path).name for path in report.packages},
            **{f"{LEGACY_DIR}/{name}": name for name in _beside_module_apps(report)},
        },
        "import_roots": sorted(
            {f"{LEGACY_DIR}/{path}".rpartition("/")[0] for path in report.packages}
        ),
        "dependencies": list(app_set.written),
        # Its development and test requirements: the service's dev extra, for its tests.
        "dev_dependencies": list(dev_set.written),
        "environment": [
            {"name": s.name, "secret": s.secret, "where": str(s.evidence)} for s in env
        ],
        "secret_key": any(s.name == "SECRET_KEY" for s in report.settings)
        or any(e.name in _SIGNED for e in report.extensions),
        "instance": instance,
        "instance_path": INSTANCE_PATH,
        # SQLite files in the instance folder, and the tables the app's schema creates:
        # the service is not ready until they are there.
        "databases": databases,
        "init_command": init_command,
        # The app's SQLAlchemy database: its URL as a setting, its tables, its migrations.
        "database": database,
        # What the migration step does for the app's database (legacy/migrate.py).
        "migration": legacy_migration(
            {"database": database, "init_command": init_command, "databases": databases}
        ),
        "smoke_paths": smoke_paths,
        # The page the load test calls and the generated test moves to FastAPI.
        "load_path": smoke_paths[0] if smoke_paths else "/",
        "routes": [
            {"rule": r.rule, "methods": list(r.methods), "where": str(r.evidence)}
            for r in report.routes
        ],
        # The app's own API docs: it keeps them, the service's move (service_routes).
        "app_docs": app_docs,
        # Matched by the service's own routes first: these no longer reach Flask.
        "shadowed": [
            str(s) for s in shadowed(report.routes, ADOPTED_PREFIX, service_routes(app_docs))
        ],
        # What the app needs at run time, each with the command that provides it.
        "run_time_needs": [
            {"what": n.detail, "where": str(n.evidence), "command": n.command} for n in report.needs
        ],
        # Routes a static reading could not list, and why.
        "unknown_routes": [
            f"under {u.prefix}: {u.reason} ({u.evidence})" for u in report.unknown_routes
        ],
        "findings": [
            *(f"blocking library {b.module} ({b.dep}), {b.evidence}" for b in report.blocking),
            *(f"{s.kind} {s.detail}, {s.evidence}" for s in report.state),
            *(f"{e.name}: {e.why}, {e.evidence}" for e in report.extensions),
            *(_database_findings(report.database) if report.database else []),
        ],
        "tests": report.tests.directory if report.tests else "",
        "test_runner": report.tests.runner if report.tests else "",
        "extensions": [e.name for e in report.extensions],
        # Each of a2wsgi's threads would see its own, empty, in-memory database; not the
        # database's own default, which the service keeps in a file.
        "memory_sqlite": [
            str(s.evidence)
            for s in report.state
            if s.kind == "sqlite-in-memory" and not _is_database_default(s.evidence, report)
        ],
    }
    return Adoption(
        source=root,
        data=data,
        app_dependencies=(*dependencies, *dev),
        files=app_files(root),
        origin=origin,
        python_version=python_version,
        indexes=report.indexes,
        notes=[
            *(index_note(i.option, i.shown, str(i.evidence)) for i in report.indexes),
            *dict.fromkeys(n for n in (app_set.note, dev_set.note) if n),
        ],
    )


def _candidates(specifier: SpecifierSet) -> set[Version]:
    """Versions at and just past each bound: one of them satisfies two specifiers when any does."""
    found: set[Version] = set()
    for spec in specifier:
        try:
            version = Version(spec.version.removesuffix(".*"))
        except InvalidVersion:
            continue
        major, minor, micro = (*version.release, 0, 0)[:3]
        found |= {
            version,
            Version(f"{major}.{minor}.{micro + 1}"),
            Version(f"{major}.{minor + 1}"),
            Version(f"{major + 1}"),
        }
    return found


def conflict(first: Requirement, second: Requirement) -> bool:
    """Whether no version can satisfy both requirements of one distribution."""
    both = first.specifier & second.specifier
    candidates = _candidates(both)
    return bool(candidates) and not any(both.contains(v, prereleases=True) for v in candidates)


@dataclass(frozen=True)
class _AppSet:
    """The app's requirements as the service's pyproject carries them."""

    written: tuple[str, ...]
    note: str
    # The packages the set installs (canonical names).
    installs: frozenset[str] = frozenset()


def _dev_set(
    main: Iterable[Dependency],
    dev: Iterable[Dependency],
    undeclared: Iterable[str],
    app_set: _AppSet,
    python_version: str,
    indexes: Iterable[IndexOption],
) -> _AppSet:
    """The app's dev and test requirements, resolved with its main ones, and the
    constraints for what only they install: the service's dev extra."""
    main, dev = list(main), list(dev)
    if not dev:
        return _AppSet((), "")
    both = _app_set([*main, *dev], undeclared, python_version, indexes)
    requirements = {d.requirement for d in dev if not d.constraint}
    written = [
        text
        for text in both.written
        if text in requirements
        or (
            text not in app_set.written
            and canonicalize_name(Requirement(text).name) not in app_set.installs
        )
    ]
    return _AppSet(tuple(written), both.note, both.installs)


def _app_set(
    dependencies: Iterable[Dependency],
    undeclared: Iterable[str],
    python_version: str,
    indexes: Iterable[IndexOption],
) -> _AppSet:
    """The app's requirements, its undeclared extensions, and its constraints (a -c file's,
    pip-compile's pins) for the packages the app's own set installs: written into the
    service's dependencies, they hold there as they did in the app. Refused when the app's
    own set does not resolve."""
    dependencies = list(dependencies)
    requirements = [d.requirement for d in dependencies if not d.constraint]
    constraints = [d.requirement for d in dependencies if d.constraint]
    if not requirements and not constraints:
        return _AppSet(tuple(undeclared), "")
    try:
        resolved = compile_set(
            python_version,
            requirements=[*requirements, *undeclared],
            constraints=constraints,
            indexes=_pairs(indexes),
        )
    except ResolveError as error:
        texts = mentioned(str(error), [d.requirement for d in dependencies])
        named = [d for d in dependencies if d.requirement in texts]
        chains = ", ".join(f"{d.requirement} ({d.where()})" for d in named) or "its requirements"
        raise AdoptError(
            f"the app's own requirements do not resolve: {chains}: {error}; fix them in the app, "
            "then run the command again. Nothing was written"
        ) from None
    installed = [
        text for text in constraints if canonicalize_name(Requirement(text).name) in resolved.pins
    ]
    written = tuple(dict.fromkeys([*requirements, *undeclared, *installed]))
    return _AppSet(written, resolved.note, frozenset(resolved.pins))


# Why the hybrid cannot mount an older version of these (the floors are in its pyproject).
_MOUNTED = {
    "flask": "the mount sets up the app's JSON provider, app.json, which Flask 2.2 brought",
    "werkzeug": "Flask 2.2, the oldest the mount runs on, needs Werkzeug 2.2",
}


def _too_old(app: Requirement, service: Requirement) -> Version | None:
    """The service's lower bound for a mounted framework, when the app's requirement
    allows no version from there on (the service's floor is its only bound)."""
    same = canonicalize_name(app.name) == canonicalize_name(service.name)
    if not same or canonicalize_name(app.name) not in _MOUNTED or not conflict(app, service):
        return None
    if not service.specifier or any(s.operator != ">=" for s in service.specifier):
        return None
    return max(Version(s.version) for s in service.specifier)


def _pairs(indexes: Iterable[IndexOption]) -> list[tuple[str, str]]:
    return [(i.option, i.value) for i in indexes]


def check_dependencies(
    pyproject: Path,
    app_dependencies: Iterable[Dependency],
    python_version: str,
    indexes: Iterable[IndexOption] = (),
) -> str:
    """Resolve the service's dependencies with the app's, as `pip install -e '.[dev]'`
    installs them (with the app's index options); a note when resolved offline. Refused in
    one line naming both sides."""
    app = list(app_dependencies)
    try:
        resolution = compile_set(
            python_version, pyproject=pyproject, extras=["dev"], indexes=_pairs(indexes)
        )
        return resolution.note
    except ResolveError as error:
        reason = str(error)
        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
        dev = project.get("optional-dependencies", {}).get("dev", [])
        declared = [*project["dependencies"], *dev]
        app_texts = {d.requirement for d in app}
        service = mentioned(reason, [t for t in declared if t not in app_texts])
        named = [d for d in app if d.requirement in mentioned(reason, app_texts)]
    for dependency in named:
        wanted = Requirement(dependency.requirement)
        for text in service:
            required = Requirement(text)
            floor = _too_old(wanted, required)
            if floor is not None:
                raise AdoptError(
                    f"the app's {wanted} ({dependency.where()}) is too old to mount "
                    f"({_MOUNTED[canonicalize_name(wanted.name)]}): the first version that "
                    f"works is {floor} (the service's {required}, its pyproject.toml). Move the "
                    f"app to {required.name}>={floor}, then run the command again. Nothing was "
                    "written"
                )
    apps = ", ".join(f"{d.requirement} ({d.where()})" for d in named) or "requirements"
    services = ", ".join(service) or "dependencies"
    raise AdoptError(
        f"dependency conflict: the app's {apps} and the service's {services} (its "
        f"pyproject.toml) cannot all hold: {reason}; change the app's requirement, then run "
        "the command again. Nothing was written"
    )
