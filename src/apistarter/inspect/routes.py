"""Apps, blueprints and the routes declared on them.

Apps and blueprints are found by their constructors, routes by decorators and by
``add_url_rule``/``add_resource``; blueprints join an app through ``register_blueprint``."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from apistarter.inspect.report import FlaskApp, Route
from apistarter.inspect.source import (
    Module,
    assignments,
    keyword_of,
    qualified_name,
    text_of,
    upper_strings,
)

# Constructors whose result is a Flask app or a blueprint (Flask's own, and subclasses
# that keep Flask's routing API).
APP_CLASSES = frozenset(
    {"flask.Flask", "flask.app.Flask", "apiflask.APIFlask", "flask_openapi3.OpenAPI"}
)
BLUEPRINT_CLASSES = frozenset(
    {
        "flask.Blueprint",
        "flask.blueprints.Blueprint",
        "apiflask.APIBlueprint",
        "flask_openapi3.APIBlueprint",
    }
)
# Flask-RESTful and Flask-RESTX route through an Api object wrapping the app.
_RESOURCE_APIS = frozenset({"flask_restful.Api", "flask_restx.Api"})
_HTTP_METHODS = ("get", "post", "put", "patch", "delete")


@dataclass
class _Target:
    """Something routes are declared on: an app, a blueprint or a REST Api wrapping an app."""

    id: str
    kind: Literal["app", "blueprint"]
    prefix: str = ""


@dataclass
class _Scope:
    module: Module
    names: dict[str, _Target]


@dataclass
class _Routing:
    apps: dict[str, FlaskApp] = field(default_factory=dict)
    targets: dict[str, _Target] = field(default_factory=dict)  # "module.name" -> target
    routes: list[tuple[_Target, Route]] = field(default_factory=list)
    # blueprint id -> (app id, url_prefix given at registration or None)
    registrations: list[tuple[str, str, str | None]] = field(default_factory=list)


def _constructed(value: ast.expr, module: Module) -> str | None:
    """ "app", "blueprint" or "api" when value is a call to one of their constructors."""
    if not isinstance(value, ast.Call):
        return None
    name = qualified_name(value.func, module.imports)
    if name in APP_CLASSES:
        return "app"
    if name in BLUEPRINT_CLASSES:
        return "blueprint"
    if name in _RESOURCE_APIS:
        return "api"
    return None


def _declare(routing: _Routing, scope: _Scope, body: list[ast.stmt], factory: str | None) -> None:
    """Record the apps and blueprints a body creates, under the names it binds them to."""
    module = scope.module
    for name, value, statement in assignments(body):
        kind = _constructed(value, module)
        if kind is None:
            continue
        assert isinstance(value, ast.Call)
        if kind == "app":
            import_path = f"{module.name}:{factory or name}"
            if not module.is_test:
                routing.apps.setdefault(
                    import_path,
                    FlaskApp(
                        import_path=import_path,
                        kind="factory" if factory else "object",
                        evidence=module.at(statement),
                    ),
                )
            target = _Target(import_path, "app")
        elif kind == "blueprint":
            prefix = text_of(keyword_of(value, "url_prefix")) or ""
            target = _Target(f"{module.name}.{name}", "blueprint", prefix)
        else:
            wrapped = _resolve(value.args[0], scope, routing) if value.args else None
            if wrapped is None:
                continue
            target = wrapped
        scope.names[name] = target
        if factory is None:
            routing.targets[f"{module.name}.{name}"] = target


def _resolve(node: ast.expr, scope: _Scope, routing: _Routing) -> _Target | None:
    """The app or blueprint an expression names, through local names and imports."""
    if isinstance(node, ast.Name) and node.id in scope.names:
        return scope.names[node.id]
    qualified = qualified_name(node, scope.module.imports)
    if qualified is None and isinstance(node, ast.Name):
        qualified = f"{scope.module.name}.{node.id}"
    return routing.targets.get(qualified) if qualified else None


def _route_calls(
    routing: _Routing, scope: _Scope, body: list[ast.stmt], classes: dict[str, ast.ClassDef]
) -> None:
    """Routes declared by decorators and by add_url_rule/add_resource/register_blueprint.

    Functions nested in a body (views inside a factory) are seen with the body's names,
    so their decorators resolve to the factory's local app.
    """
    module = scope.module
    for node in (n for statement in body for n in _walk_scope(statement)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in node.decorator_list:
                route = _decorated_route(decorator, node, scope, routing)
                if route:
                    routing.routes.append(route)
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        target = _resolve(node.func.value, scope, routing)
        if target is None:
            continue
        method = node.func.attr
        if method == "add_url_rule" and node.args:
            rule = text_of(node.args[0])
            view = keyword_of(node, "view_func") or (node.args[2] if len(node.args) > 2 else None)
            # Without a view function the rule only aliases an endpoint served elsewhere.
            if rule is not None and view is not None:
                methods = upper_strings(keyword_of(node, "methods")) or ("GET",)
                name = ast.unparse(view)
                routing.routes.append(
                    (target, Route(rule=rule, methods=methods, view=name, evidence=module.at(node)))
                )
        elif method == "add_resource" and len(node.args) > 1:
            resource = node.args[0]
            cls = classes.get(resource.id) if isinstance(resource, ast.Name) else None
            methods = tuple(
                item.name.upper()
                for item in (cls.body if cls else [])
                if isinstance(item, ast.FunctionDef) and item.name in _HTTP_METHODS
            ) or ("GET",)
            for url in node.args[1:]:
                rule = text_of(url)
                if rule is not None:
                    routing.routes.append(
                        (
                            target,
                            Route(
                                rule=rule,
                                methods=methods,
                                view=ast.unparse(resource),
                                evidence=module.at(node),
                            ),
                        )
                    )
        elif method == "register_blueprint" and node.args and target.kind == "app":
            blueprint = _resolve(node.args[0], scope, routing)
            if blueprint is not None:
                prefix = text_of(keyword_of(node, "url_prefix"))
                routing.registrations.append((blueprint.id, target.id, prefix))


def _walk_scope(node: ast.AST) -> Iterator[ast.AST]:
    """Nodes of a statement, not descending into nested functions' bodies (their own scope)."""
    yield node
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return
    for child in ast.iter_child_nodes(node):
        yield from _walk_scope(child)


def _decorated_route(
    decorator: ast.expr,
    function: ast.FunctionDef | ast.AsyncFunctionDef,
    scope: _Scope,
    routing: _Routing,
) -> tuple[_Target, Route] | None:
    if not (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)):
        return None
    verb = decorator.func.attr
    if verb != "route" and verb not in _HTTP_METHODS:
        return None
    target = _resolve(decorator.func.value, scope, routing)
    rule = text_of(decorator.args[0]) if decorator.args else text_of(keyword_of(decorator, "rule"))
    if target is None or rule is None:
        return None
    methods = (
        (upper_strings(keyword_of(decorator, "methods")) or ("GET",))
        if verb == "route"
        else (verb.upper(),)
    )
    return target, Route(
        rule=rule, methods=methods, view=function.name, evidence=scope.module.at(decorator)
    )


def read_routing(modules: list[Module]) -> _Routing:
    routing = _Routing()
    scopes: list[tuple[_Scope, list[ast.stmt]]] = []
    # Module-level names first, in every module, so an import of `app` from another
    # module resolves; then each top-level function, which may build an app (a factory).
    for module in modules:
        scope = _Scope(module, {})
        _declare(routing, scope, module.tree.body, None)
        scopes.append((scope, module.tree.body))
    for module in modules:
        for function in module.tree.body:
            if isinstance(function, ast.FunctionDef):
                scope = _Scope(module, {})
                _declare(routing, scope, function.body, function.name)
                scopes.append((scope, function.body))
    for scope, body in scopes:
        classes = {n.name: n for n in scope.module.tree.body if isinstance(n, ast.ClassDef)}
        _route_calls(routing, scope, body, classes)
    return routing


def routes_of(routing: _Routing, app: FlaskApp) -> tuple[Route, ...]:
    routes: list[Route] = []
    for target, route in routing.routes:
        if target.kind == "app" and target.id == app.import_path:
            routes.append(route)
        elif target.kind == "blueprint":
            for blueprint, app_id, prefix in routing.registrations:
                if blueprint == target.id and app_id == app.import_path:
                    joined = (prefix if prefix is not None else target.prefix).rstrip("/")
                    routes.append(route.model_copy(update={"rule": joined + route.rule or "/"}))
    return tuple(sorted(routes, key=lambda r: (r.rule, r.evidence.file, r.evidence.line)))
