"""An adopted app's dependencies, resolved with the service's: its own set, its dev set,
and the check that both install together.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from apistarter.inspect import (
    Dependency,
    IndexOption,
)
from apistarter.legacy_source import (
    AdoptError,
)
from apistarter.resolve import ResolveError, compile_set, mentioned


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


def resolve_dev_set(
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
    both = resolve_app_set([*main, *dev], undeclared, python_version, indexes)
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


def resolve_app_set(
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
