"""Read an existing Flask project without running it: what it is, with evidence.

Everything here is static. The project's Python files are parsed with :mod:`ast`
and its packaging files are read as text (setup.py too, as a syntax tree), so
inspecting a project never imports it, runs its code, or needs its dependencies
installed. Each finding carries the file and line it came from, so a person can
check it; :meth:`InspectReport.answers` turns the findings into the answers
apistarter would otherwise ask for (``codebase``, ``existing_routes``,
``blocking_deps``, ``legacy_app``), and leaves the rest to be asked.

A static reading is a floor, not a ceiling: what it cannot follow (a rule computed
at run time, a blueprint registered from an expression) is reported as unknown with
the reason, never guessed and never silently left out.

Each reader is a module of its own (routes, dependencies, settings, state, commands,
tests, ...); this one joins their findings into the report.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from itertools import chain
from pathlib import Path
from typing import TypeVar

from apistarter.inspect.blocking import blocking_uses
from apistarter.inspect.commands import commands_of
from apistarter.inspect.database import database_of
from apistarter.inspect.dependencies import packaging_of
from apistarter.inspect.extensions import extensions_of
from apistarter.inspect.files import load_modules, packages_of
from apistarter.inspect.reader import Reader
from apistarter.inspect.report import (
    AppDatabase,
    BlockingUse,
    Command,
    Dependency,
    Evidence,
    Extension,
    Finding,
    Fixture,
    FlaskApp,
    IndexOption,
    InspectError,
    InspectReport,
    Route,
    RunTimeNeed,
    Setting,
    State,
    TestSuite,
    UnknownRoutes,
)
from apistarter.inspect.routes import read_routing
from apistarter.inspect.routing import routes_of, unknown_routes_of
from apistarter.inspect.runtime import needs_of, translations_of
from apistarter.inspect.settings import env_example_of, settings_of
from apistarter.inspect.state import state_of
from apistarter.inspect.tests import test_suite

__all__ = [
    "AppDatabase",
    "BlockingUse",
    "Command",
    "Dependency",
    "Evidence",
    "Extension",
    "Finding",
    "Fixture",
    "FlaskApp",
    "IndexOption",
    "InspectError",
    "InspectReport",
    "Route",
    "RunTimeNeed",
    "Setting",
    "State",
    "TestSuite",
    "UnknownRoutes",
    "inspect_project",
]

_T = TypeVar("_T")


def _first_of_each(items: Iterable[_T], key: Callable[[_T], Hashable]) -> tuple[_T, ...]:
    """One finding per key (the first seen), in the order found."""
    seen: dict[Hashable, _T] = {}
    for item in items:
        seen.setdefault(key(item), item)
    return tuple(seen.values())


def inspect_project(path: Path, app: str | None = None) -> InspectReport:
    """Read the Flask project at `path` statically; `app` picks one when it has several.

    Raises InspectError (one line) when the path is missing, holds no Flask app, or
    holds several and `app` does not name one of them.
    """
    root = path.expanduser()
    if not root.exists():
        raise InspectError(f"{path}: no such directory")
    if not root.is_dir():
        raise InspectError(f"{path}: not a directory; give the project's folder")
    root = root.resolve()
    reader = Reader(root)
    modules, skipped = load_modules(reader)
    routing = read_routing(modules)
    apps = sorted(routing.apps.values(), key=lambda a: a.import_path)
    if not apps:
        raise InspectError(
            f"{path}: no Flask app found (no Flask(...) call outside tests in "
            f"{sum(not m.is_test for m in modules)} Python files); nothing to adopt"
        )
    listed = ", ".join(f"{a.import_path} ({a.evidence})" for a in apps)
    if app is not None:
        chosen = next((a for a in apps if a.import_path == app), None)
        if chosen is None:
            raise InspectError(f"--app {app}: not a Flask app found in {path} (found: {listed})")
    elif len(apps) > 1:
        raise InspectError(
            f"{path}: several Flask apps: {listed}; choose one with --app MODULE:NAME"
        )
    else:
        chosen = apps[0]
    code = [m for m in modules if not m.is_test]
    dependencies, indexes, python, packaging_skipped = packaging_of(reader)
    return InspectReport(
        root=str(root),
        app=chosen,
        routes=routes_of(routing, chosen),
        unknown_routes=unknown_routes_of(routing, chosen),
        blocking=_first_of_each(
            (use for m in code for use in blocking_uses(m)), lambda u: (u.dep, u.module)
        ),
        dependencies=tuple(dependencies),
        indexes=tuple(indexes),
        requires_python=python[0] if python else None,
        requires_python_evidence=python[1] if python else None,
        # What the code reads first; then what its example environment file documents.
        settings=_first_of_each(
            chain((s for m in code for s in settings_of(m)), env_example_of(reader)),
            lambda s: (s.kind, s.name),
        ),
        state=_first_of_each(
            (s for m in modules for s in state_of(m)),
            lambda s: (s.kind, s.detail, s.evidence.file),
        ),
        extensions=_first_of_each((e for m in code for e in extensions_of(m)), lambda e: e.name),
        commands=_first_of_each((c for m in code for c in commands_of(m)), lambda c: c.name),
        needs=(
            *_first_of_each((n for m in code for n in needs_of(m)), lambda n: n.detail),
            *translations_of(root, code),
        ),
        tests=test_suite(root, modules),
        database=database_of(root, reader, modules),
        packages=packages_of(root, code),
        skipped=tuple(reader.skipped + skipped + packaging_skipped),
    )
