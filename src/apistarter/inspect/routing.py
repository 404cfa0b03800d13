"""What routes are declared on and how it reaches an app: the reading's shared state, and
the chains of registrations (blueprint in blueprint, namespace in Api in app) that give each
route its full rule under the app."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Literal

from apistarter.inspect.report import FlaskApp, Route, UnknownRoutes
from apistarter.inspect.source import Module
from apistarter.inspect.values import DEPTH, Env


@dataclass
class Target:
    """Something routes are declared on: an app, or what joins one (a blueprint, a REST
    Api, a namespace, an extension), with the prefix it gives its routes."""

    id: str
    kind: Literal["app", "blueprint"]
    prefix: str = ""


@dataclass
class Scope:
    module: Module
    names: dict[str, Target]
    env: Env = field(default_factory=dict)


@dataclass
class Routing:
    apps: dict[str, FlaskApp] = field(default_factory=dict)
    targets: dict[str, Target] = field(default_factory=dict)  # "module.name" -> target
    by_id: dict[str, Target] = field(default_factory=dict)
    # Targets created by a constructor call, by the call node's id (to link them to an app).
    constructed: dict[int, Target] = field(default_factory=dict)
    routes: list[tuple[Target, Route]] = field(default_factory=list)
    unknown: list[tuple[Target, UnknownRoutes]] = field(default_factory=list)
    # Routes that may be registered on any app: add_url_rule where inspect cannot tell on
    # which (a method, a nested function, a parameter no call binds).
    unattached: list[UnknownRoutes] = field(default_factory=list)
    # The add_url_rule calls read as routes of a known target, by node id.
    followed: set[int] = field(default_factory=set)
    # (what joins, what it joins, the url prefix given there or None for its own)
    registrations: list[tuple[str, str, str | None]] = field(default_factory=list)
    # "module.Class" -> the class and the module defining it
    classes: dict[str, tuple[ast.ClassDef, Module]] = field(default_factory=dict)
    config: dict[str, str | None] = field(default_factory=dict)

    def add(self, target: Target) -> Target:
        self.by_id.setdefault(target.id, target)
        return self.by_id[target.id]


def _join(prefix: str, rule: str) -> str:
    """A rule under a prefix, as Flask joins them (a blueprint's url_prefix, nested too)."""
    if not prefix:
        return rule or "/"
    if not rule:
        return prefix
    return prefix.rstrip("/") + "/" + rule.lstrip("/")


def _prefixes(routing: Routing, target: Target, app: str, depth: int = 0) -> list[str]:
    """The prefixes under which a target's routes reach the app (none: it never does)."""
    if target.kind == "app":
        return [""] if target.id == app else []
    if depth > DEPTH:
        return []
    found: list[str] = []
    for child, parent, given in routing.registrations:
        if child != target.id or parent not in routing.by_id:
            continue
        own = given if given is not None else target.prefix
        for outer in _prefixes(routing, routing.by_id[parent], app, depth + 1):
            found.append(_join(outer, own) if outer else own)
    return list(dict.fromkeys(found))


def routes_of(routing: Routing, app: FlaskApp) -> tuple[Route, ...]:
    routes: list[Route] = []
    for target, route in routing.routes:
        for prefix in _prefixes(routing, target, app.import_path):
            routes.append(route.model_copy(update={"rule": _join(prefix, route.rule)}))
    unique = {(r.rule, r.methods, r.view): r for r in routes}
    return tuple(sorted(unique.values(), key=lambda r: (r.rule, r.evidence.file, r.evidence.line)))


def unknown_routes_of(routing: Routing, app: FlaskApp) -> tuple[UnknownRoutes, ...]:
    found: list[UnknownRoutes] = []
    for target, unknown in routing.unknown:
        for prefix in _prefixes(routing, target, app.import_path):
            found.append(unknown.model_copy(update={"prefix": _join(prefix, unknown.prefix)}))
    found += routing.unattached
    # Routes declared on a blueprint that joins no app as far as inspect can follow: they
    # may be registered in a way it cannot read, so they are named, not dropped.
    joined = {child for child, _, _ in routing.registrations}
    stranded: dict[str, list[Route]] = {}
    for target, route in routing.routes:
        if target.kind == "blueprint" and target.id not in joined:
            stranded.setdefault(target.id, []).append(route)
    for name, routes in stranded.items():
        first = min(routes, key=lambda r: (r.evidence.file, r.evidence.line))
        found.append(
            UnknownRoutes(
                prefix="/",
                reason=f"{name} declares {len(routes)} route(s) (the first: {first.rule}) but "
                "joins no app in a way inspect can follow",
                evidence=first.evidence,
            )
        )
    return tuple(found)
