"""What an adopted app brings: its code, its history, and the template's ``legacy`` answer.

What `inspect` found becomes the template's ``legacy`` answer (placed by the templates
as data), and after Copier has rendered the service, the app's code is copied into
``legacy/`` and the merged dependencies are checked for conflicts, before the first
commit: a refusal leaves nothing behind, as any failed render does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from apistarter.adopt.database import (
    app_database,
    database_findings,
    find_init_command,
    instance_databases,
    is_database_default,
    legacy_migration,
)
from apistarter.adopt.dependencies import check_dependencies, resolve_app_set, resolve_dev_set
from apistarter.adopt.layout import ADOPTED_PREFIX, INSTANCE_PATH, LEGACY_DIR
from apistarter.inspect import (
    Dependency,
    IndexOption,
    InspectReport,
)
from apistarter.legacy_source import (
    AdoptError,
    AppFiles,
    GitOrigin,
    app_files,
    git_origin,
    import_history,
)
from apistarter.resolve import index_note
from apistarter.service_routes import docs_of, service_routes, shadowed

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


# An environment variable's name (a prefix ends in *).
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\*?")


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
    app_set = resolve_app_set(dependencies, undeclared, python_version, report.indexes)
    dev = _dev_dependencies(report)
    dev_set = resolve_dev_set(
        dependencies, dev, undeclared, app_set, python_version, report.indexes
    )
    # Only names a shell or a .env file can set: any other would not stay one line there.
    env = [
        s
        for s in report.settings
        if s.kind in ("env", "env-prefix") and _ENV_NAME.fullmatch(s.name)
    ]
    init = find_init_command(report)
    init_command = init.name if init else ""
    database = app_database(report)
    databases = instance_databases(report) if instance and not database else {}
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
            *(database_findings(report.database) if report.database else []),
        ],
        "tests": report.tests.directory if report.tests else "",
        "test_runner": report.tests.runner if report.tests else "",
        "extensions": [e.name for e in report.extensions],
        # Each of a2wsgi's threads would see its own, empty, in-memory database; not the
        # database's own default, which the service keeps in a file.
        "memory_sqlite": [
            str(s.evidence)
            for s in report.state
            if s.kind == "sqlite-in-memory" and not is_database_default(s.evidence, report)
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
