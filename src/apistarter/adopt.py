"""Adopting an existing Flask app into a hybrid service (`apistarter new --legacy PATH`).

What `inspect` found becomes the template's ``legacy`` answer (placed by the templates
as data), and after Copier has rendered the service, the app's code is copied into
``legacy/`` and the merged dependencies are checked for conflicts, before the first
commit: a refusal leaves nothing behind, as any failed render does.
"""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from apistarter.inspect import Dependency, InspectReport
from apistarter.render import RenderError

# Where the app's code lives in the service, at the project root.
LEGACY_DIR = "legacy"
# Mounted at the root, existing clients keep their URLs: FastAPI's routes are matched
# first, everything else reaches Flask, so a route moves by being written in FastAPI.
ADOPTED_PREFIX = ""
# Never copied: version control, environments, caches, build output, local state and
# local secrets (.env files); the instance folder's data stays where it was.
_NOT_COPIED = frozenset(
    {
        ".git",
        ".hg",
        ".venv",
        "venv",
        "__pycache__",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        "node_modules",
        "build",
        "dist",
        "instance",
    }
)
# Where the image keeps the app's instance folder: writable by the service's user, a
# volume in the deploy artefacts.
INSTANCE_PATH = "/app/instance"
# The service setting that becomes the app's SECRET_KEY.
SECRET_KEY_SETTING = "APP_SECRET_KEY"  # noqa: S105 - a variable name, not its value
# Extensions needing the app's secret key: signed cookies, CSRF tokens, login sessions.
_SIGNED = frozenset({"sessions", "flask-login", "flask-wtf", "flask-session"})


class AdoptError(RenderError):
    """The app cannot be adopted as it is; nothing was written."""


@dataclass(frozen=True)
class Adoption:
    """The app to bring in: where from, and the template's ``legacy`` answer."""

    source: Path
    data: dict[str, Any]
    app_dependencies: tuple[Dependency, ...]

    def deploy(self, plan: dict[str, Any]) -> dict[str, Any]:
        """The deploy plan's data with what the app adds: its secret and its instance folder."""
        secrets = [*plan["secrets"], *([SECRET_KEY_SETTING] if self.data["secret_key"] else [])]
        paths = [*plan["writable_paths"], *([INSTANCE_PATH] if self.data["instance"] else [])]
        return {**plan, "secrets": secrets, "writable_paths": paths}

    def bring_in(self, project: Path) -> None:
        """Copy the app's code into the rendered project, then check the merged dependencies."""
        shutil.copytree(self.source, project / LEGACY_DIR, ignore=_ignored, symlinks=True)
        check_dependencies(project / "pyproject.toml", self.app_dependencies)


def _ignored(directory: str, names: list[str]) -> set[str]:
    return {
        name
        for name in names
        if name in _NOT_COPIED
        or name.endswith((".egg-info", ".pyc"))
        or name == ".env"
        or name.startswith(".env.")
        or (Path(directory, name, "pyvenv.cfg").exists())
    }


def _git_commit(source: Path) -> str:
    """The commit the app's code was taken at, when it is a git work tree (else empty)."""
    result = subprocess.run(
        ["git", "-C", str(source), "rev-parse", "--show-toplevel", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        return ""
    _, commit = result.stdout.split()
    dirty = subprocess.run(
        ["git", "-C", str(source), "status", "--porcelain", "--", "."],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return f"{commit} (with uncommitted changes)" if dirty else commit


def _main_dependencies(report: InspectReport) -> tuple[Dependency, ...]:
    return tuple(d for d in report.dependencies if d.group == "main")


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
    dependencies = _main_dependencies(report)
    env = [s for s in report.settings if s.kind in ("env", "env-prefix")]
    init = next((c for c in report.commands if "init" in c.name), None)
    smoke_paths = sorted(
        {r.rule for r in report.routes if "GET" in r.methods and "<" not in r.rule}
    )
    data = {
        "source": str(source),
        "commit": _git_commit(root),
        "app": report.app.import_path,
        "prefix": ADOPTED_PREFIX,
        # Top-level packages and modules, installed from legacy/ under their own names,
        # and the folders the tests import them from.
        "modules": {f"{LEGACY_DIR}/{path}": Path(path).name for path in report.packages},
        "import_roots": sorted(
            {f"{LEGACY_DIR}/{path}".rpartition("/")[0] for path in report.packages}
        ),
        "dependencies": [
            *(d.requirement for d in dependencies),
            *_undeclared_extensions(report, dependencies),
        ],
        "environment": [
            {"name": s.name, "secret": s.secret, "where": str(s.evidence)} for s in env
        ],
        "secret_key": any(s.name == "SECRET_KEY" for s in report.settings)
        or any(e.name in _SIGNED for e in report.extensions),
        "instance": any(s.kind == "instance-folder" for s in report.state),
        "instance_path": INSTANCE_PATH,
        "init_command": init.name if init else "",
        "smoke_paths": smoke_paths,
        # The page the load test calls and the generated test moves to FastAPI.
        "load_path": smoke_paths[0] if smoke_paths else "/",
        "routes": [
            {"rule": r.rule, "methods": list(r.methods), "where": str(r.evidence)}
            for r in report.routes
        ],
        "findings": [
            *(f"blocking library `{b.module}` ({b.dep}), {b.evidence}" for b in report.blocking),
            *(f"{s.kind} {s.detail}, {s.evidence}" for s in report.state),
            *(f"{e.name}: {e.why}, {e.evidence}" for e in report.extensions),
        ],
        "tests": report.tests.directory if report.tests else "",
        "extensions": [e.name for e in report.extensions],
        # Each of a2wsgi's threads would see its own, empty, in-memory database.
        "memory_sqlite": [str(s.evidence) for s in report.state if s.kind == "sqlite-in-memory"],
    }
    return Adoption(source=root, data=data, app_dependencies=dependencies)


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


def check_dependencies(pyproject: Path, app_dependencies: Iterable[Dependency]) -> None:
    """Refuse when one of the app's requirements cannot hold with one of the service's."""
    declared = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    app = list(app_dependencies)
    app_texts = {d.requirement for d in app}
    service = [Requirement(text) for text in declared if text not in app_texts]
    for dependency in app:
        wanted = Requirement(dependency.requirement)
        for required in service:
            same = canonicalize_name(required.name) == canonicalize_name(wanted.name)
            if same and conflict(wanted, required):
                raise AdoptError(
                    f"dependency conflict: the app's {wanted} ({dependency.evidence}) and the "
                    f"service's {required} (its pyproject.toml) cannot both hold; update the "
                    "app's requirement, then run the command again. Nothing was written"
                )
