"""Apps, blueprints and the routes declared on them, or registered by their extensions.

Apps and blueprints are found by their constructors; routes by decorators (on view
functions and on class-based views), ``add_url_rule`` and ``add_resource``, also in
loops over literal lists and dicts; extensions by their constructors (the routes they
serve are in :mod:`extension_routes`). Blueprints, REST Apis, namespaces and extensions
join an app through ``register_blueprint`` (an import string or ``import_module``
included), ``add_namespace``, their constructor's first argument or ``init_app``, in
chains. What cannot be read statically is an :class:`UnknownRoutes` with its reason.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from apistarter.inspect.extension_routes import (
    EXTENSIONS,
    NAMESPACES,
    Served,
    apiflask_docs,
    config_literals,
    served_by,
)
from apistarter.inspect.report import Evidence, FlaskApp, Route, UnknownRoutes
from apistarter.inspect.routing import (
    Routing,
    Scope,
    Target,
)
from apistarter.inspect.source import (
    Module,
    assignments,
    keyword_of,
    qualified_name,
    text_of,
)
from apistarter.inspect.values import (
    DEPTH,
    Env,
    Imported,
    bind,
    bound,
    elements,
    string_of,
)
from apistarter.inspect.views import HTTP_METHODS, methods_of

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
        "flask_smorest.Blueprint",
    }
)
_IMPORT_STRING = frozenset({"werkzeug.utils.import_string", "werkzeug.import_string"})
_IMPORT_MODULE = frozenset({"importlib.import_module"})


def _constructor(value: ast.expr, module: Module) -> str | None:
    return qualified_name(value.func, module.imports) if isinstance(value, ast.Call) else None


def _declare(routing: Routing, scope: Scope, body: list[ast.stmt], factory: str | None) -> None:
    """Record the apps, blueprints, Apis and extensions a body creates, under their names."""
    module = scope.module
    for name, value, statement in assignments(body):
        constructor = _constructor(value, module)
        if not isinstance(value, ast.Call):
            continue
        if constructor in APP_CLASSES:
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
            target = routing.add(Target(import_path, "app"))
            _app_routes(routing, target, value, constructor, module.at(statement))
        elif constructor in BLUEPRINT_CLASSES:
            prefix = text_of(keyword_of(value, "url_prefix")) or ""
            target = routing.add(Target(f"{module.name}.{name}", "blueprint", prefix))
            if keyword_of(value, "static_folder") is not None:
                static = text_of(keyword_of(value, "static_url_path")) or "/static"
                served = [Served(f"{static}/<path:filename>")]
                _served(routing, target, served, "static", module.at(statement))
        elif constructor in EXTENSIONS:
            prefix = text_of(keyword_of(value, "prefix")) or ""
            target = routing.add(Target(f"{module.name}.{name}", "blueprint", prefix))
        elif constructor in NAMESPACES or _namespace_of(value) is not None:
            path = text_of(keyword_of(value, "path"))
            title = text_of(value.args[0]) if value.args else None
            target = routing.add(
                Target(f"{module.name}.{name}", "blueprint", path or f"/{title or name}")
            )
            owner = _namespace_of(value)
            api = _resolve(owner, scope, routing) if owner is not None else None
            if api is not None:
                routing.registrations.append((target.id, api.id, None))
        else:
            continue
        routing.constructed[id(value)] = target
        scope.names[name] = target
        if factory is None:
            routing.targets[f"{module.name}.{name}"] = target


def _namespace_of(call: ast.Call) -> ast.expr | None:
    """The Api of ``api.namespace("name")`` (Flask-RESTX), else None."""
    func = call.func
    return func.value if isinstance(func, ast.Attribute) and func.attr == "namespace" else None


def _app_routes(
    routing: Routing, app: Target, call: ast.Call, constructor: str | None, at: Evidence
) -> None:
    """What Flask (its static files) and APIFlask (its docs) register on every app."""
    folder = keyword_of(call, "static_folder")
    if not (isinstance(folder, ast.Constant) and folder.value is None):
        static = text_of(keyword_of(call, "static_url_path")) or "/static"
        routing.routes.append(
            (
                app,
                Route(
                    rule=f"{static}/<path:filename>",
                    methods=("GET",),
                    view="static",
                    registered_by="flask",
                    evidence=at,
                ),
            )
        )
    if constructor == "apiflask.APIFlask":
        _served(routing, app, apiflask_docs(call), "apiflask", at)


def _served(
    routing: Routing,
    target: Target,
    served: list[Served],
    view: str,
    evidence: Evidence,
) -> None:
    for route in served:
        routing.routes.append(
            (
                target,
                Route(
                    rule=route.rule,
                    methods=route.methods,
                    view=view,
                    registered_by=view if view != "static" else "flask",
                    docs=route.docs,
                    evidence=evidence,
                ),
            )
        )


def _run_time_import(value: ast.expr, scope: Scope) -> str | None:
    """ "pkg.views.bp" for ``import_string("pkg.views:bp")`` (werkzeug's, either spelling)."""
    if (
        isinstance(value, ast.Call)
        and value.args
        and qualified_name(value.func, scope.module.imports) in _IMPORT_STRING
    ):
        text = string_of(value.args[0], scope.env)
        return text.replace(":", ".") if text else None
    return None


def _resolve(node: ast.expr, scope: Scope, routing: Routing, depth: int = 0) -> Target | None:
    """The app or blueprint an expression names: through local names, the values bound to
    them, imports, import strings and modules imported at run time."""
    if depth > DEPTH:
        return None
    if isinstance(node, ast.Name):
        if node.id in scope.names:
            return scope.names[node.id]
        given = scope.env.get(node.id)
        found = (
            _resolve(given, scope, routing, depth + 1)
            if isinstance(given, ast.expr) and given is not node
            else None
        )
        if found is not None:
            return found
    imported = _run_time_import(node, scope)
    if imported is not None:
        return routing.targets.get(imported)
    owner, attribute = _attribute(node)
    if owner is not None and attribute is not None:
        module = _module_of(owner, scope)
        if module is not None:
            return routing.targets.get(f"{module}.{attribute}")
    qualified = qualified_name(node, scope.module.imports)
    if qualified is None and isinstance(node, ast.Name):
        qualified = f"{scope.module.name}.{node.id}"
    return routing.targets.get(qualified) if qualified else None


def _attribute(node: ast.expr) -> tuple[ast.expr | None, str | None]:
    """``module.bp`` and ``getattr(module, "bp")`` as (module, "bp")."""
    if isinstance(node, ast.Attribute):
        return node.value, node.attr
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "getattr"
        and len(node.args) == 2
    ):
        return node.args[0], text_of(node.args[1])
    return None, None


def _module_of(node: ast.expr, scope: Scope) -> str | None:
    """The module a name imported at run time stands for (``importlib.import_module``)."""
    if isinstance(node, ast.Name):
        given = scope.env.get(node.id)
        if isinstance(given, Imported):
            return given.module
    if _is_import_module(node, scope) and isinstance(node, ast.Call) and node.args:
        return string_of(node.args[0], scope.env)
    return None


def _statements(body: list[ast.stmt], scope: Scope) -> Iterator[ast.AST]:
    """The nodes of a body in order, each seen with the names bound before it: loops over
    literals run once per item, and modules imported at run time are bound."""
    for statement in body:
        if isinstance(statement, ast.For | ast.AsyncFor):
            items = elements(statement.iter, scope.env)
            saved = dict(scope.env)
            for item in items if items is not None else [None]:
                bind(statement.target, item, scope.env)
                yield from _statements(statement.body, scope)
            scope.env.clear()
            scope.env.update(saved)
            continue
        if isinstance(statement, ast.If | ast.While | ast.With | ast.Try):
            yield from _walk_expressions(statement)
            for block in ("body", "orelse", "finalbody"):
                yield from _statements(getattr(statement, block, []), scope)
            for handler in getattr(statement, "handlers", []):
                yield from _statements(handler.body, scope)
            continue
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target = statement.targets[0]
            if isinstance(target, ast.Name):
                module = _module_of(statement.value, scope)
                scope.env[target.id] = (
                    Imported(module)
                    if module is not None or _is_import_module(statement.value, scope)
                    else statement.value
                )
        yield from _walk_scope(statement)


def _is_import_module(value: ast.expr, scope: Scope) -> bool:
    return isinstance(value, ast.Call) and (
        qualified_name(value.func, scope.module.imports) in _IMPORT_MODULE
    )


def _walk_expressions(statement: ast.stmt) -> Iterator[ast.AST]:
    """The expressions heading a compound statement (its test, its context managers)."""
    for name in ("test", "items"):
        value = getattr(statement, name, None)
        for node in value if isinstance(value, list) else [value] if value else []:
            yield from _walk_scope(node)


def _walk_scope(node: ast.AST) -> Iterator[ast.AST]:
    """Nodes of a statement, not descending into nested functions' or classes' bodies."""
    yield node
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return
    for child in ast.iter_child_nodes(node):
        yield from _walk_scope(child)


def _unknown(routing: Routing, target: Target, prefix: str, reason: str, at: Evidence) -> None:
    routing.unknown.append((target, UnknownRoutes(prefix=prefix, reason=reason, evidence=at)))


def _route_calls(routing: Routing, scope: Scope, body: list[ast.stmt]) -> None:
    """Routes declared by decorators, add_url_rule/add_resource, extensions' constructors,
    and what joins what (register_blueprint, add_namespace, init_app).

    Functions nested in a body (views inside a factory) are seen with the body's names,
    so their decorators resolve to the factory's local app.
    """
    module = scope.module
    for node in _statements(body, scope):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            for decorator in node.decorator_list:
                _decorated_route(decorator, node, scope, routing)
        if not isinstance(node, ast.Call):
            continue
        constructor = _constructor(node, module)
        if constructor in EXTENSIONS:
            _extension(routing, scope, node, constructor)
            continue
        if not isinstance(node.func, ast.Attribute):
            continue
        target = _resolve(node.func.value, scope, routing)
        if target is None:
            continue
        method = node.func.attr
        at = module.at(node)
        if method == "add_url_rule" and node.args:
            view = _view_of(node)
            # Without a view function the rule only aliases an endpoint served elsewhere.
            if view is None:
                continue
            routing.followed.add(id(node))
            rule = string_of(node.args[0], scope.env)
            if rule is None:
                _unknown(
                    routing,
                    target,
                    "/",
                    f"add_url_rule({ast.unparse(node.args[0])}, ...): a rule computed from "
                    "values inspect cannot read statically",
                    at,
                )
                continue
            name = ast.unparse(bound(view, scope.env))
            methods = methods_of(node, view, scope, routing)
            routing.routes.append(
                (target, Route(rule=rule, methods=methods, view=name, evidence=at))
            )
        elif method == "add_resource" and len(node.args) > 1:
            resource = node.args[0]
            methods = methods_of(None, resource, scope, routing)
            for url in node.args[1:]:
                rule = string_of(url, scope.env)
                if rule is None:
                    _unknown(
                        routing,
                        target,
                        "/",
                        f"add_resource(..., {ast.unparse(url)}): a URL inspect cannot read",
                        at,
                    )
                    continue
                shown = ast.unparse(bound(resource, scope.env))
                routing.routes.append(
                    (target, Route(rule=rule, methods=methods, view=shown, evidence=at))
                )
        elif method in ("register_blueprint", "add_namespace") and node.args:
            given = keyword_of(node, "url_prefix" if method == "register_blueprint" else "path")
            prefix = string_of(given, scope.env)
            child = _resolve(node.args[0], scope, routing)
            if child is None:
                _unknown(
                    routing,
                    target,
                    prefix or "/",
                    f"{method}({ast.unparse(node.args[0])}): inspect cannot follow it to "
                    "where it is defined",
                    at,
                )
            else:
                routing.registrations.append((child.id, target.id, prefix))
        elif method == "init_app" and node.args and target.kind == "blueprint":
            app = _resolve(node.args[0], scope, routing)
            if app is not None:
                routing.registrations.append((target.id, app.id, None))


def _view_of(call: ast.Call) -> ast.expr | None:
    """The view function an ``add_url_rule`` call gives (None: it only aliases an endpoint)."""
    return keyword_of(call, "view_func") or (call.args[2] if len(call.args) > 2 else None)


def _rule_calls(node: ast.AST, function: str) -> Iterator[tuple[ast.Call, str]]:
    """Every ``add_url_rule`` call with a view under a node, with the function it is in."""
    for child in ast.iter_child_nodes(node):
        inner = (
            child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else function
        )
        if (
            isinstance(child, ast.Call)
            and isinstance(child.func, ast.Attribute)
            and child.func.attr == "add_url_rule"
            and _view_of(child) is not None
        ):
            yield child, inner
        yield from _rule_calls(child, inner)


def _unfollowed_rules(routing: Routing, modules: list[Module]) -> None:
    """add_url_rule calls the reading did not tie to an app (in a method or a nested
    function, on a parameter no call binds, on current_app in a project of several apps):
    they may register routes on any app, so each is reported with where and why."""
    for module in modules:
        if module.is_test:
            continue
        for call, function in _rule_calls(module.tree, ""):
            if id(call) in routing.followed or not isinstance(call.func, ast.Attribute):
                continue
            receiver = ast.unparse(call.func.value)
            where = f" in {function}()" if function else ""
            if qualified_name(call.func.value, module.imports) == "flask.current_app":
                why = f"current_app is whichever of the project's {len(routing.apps)} apps runs it"
            else:
                why = f"inspect cannot follow which app `{receiver}` is when it runs"
            rule = call.args[0] if call.args else keyword_of(call, "rule")
            shown = ast.unparse(rule) if rule is not None else ""
            routing.unattached.append(
                UnknownRoutes(
                    prefix="/",
                    reason=f"{receiver}.add_url_rule({shown}, ...){where}: {why}",
                    evidence=module.at(call),
                )
            )


def _extension(routing: Routing, scope: Scope, call: ast.Call, constructor: str) -> None:
    """An extension's own routes, and the app (or blueprint) it is given, if any."""
    at = scope.module.at(call)
    target = routing.constructed.get(id(call)) or routing.add(
        Target(f"{scope.module.name}:{at.line}", "blueprint")
    )
    name, served, unlisted = served_by(constructor, call, routing.config)
    _served(routing, target, served, name, at)
    for routes in unlisted:
        _unknown(routing, target, routes.prefix, routes.reason, at)
    given = call.args[0] if call.args else keyword_of(call, "app")
    joined = _resolve(given, scope, routing) if given is not None else None
    if joined is not None:
        routing.registrations.append((target.id, joined.id, None))


def _decorated_route(
    decorator: ast.expr,
    view: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef,
    scope: Scope,
    routing: Routing,
) -> None:
    if not (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)):
        return
    verb = decorator.func.attr
    if verb != "route" and verb not in HTTP_METHODS:
        return
    target = _resolve(decorator.func.value, scope, routing)
    if target is None:
        return
    given = decorator.args[0] if decorator.args else keyword_of(decorator, "rule")
    rule = string_of(given, scope.env)
    at = scope.module.at(decorator)
    if rule is None:
        shown = ast.unparse(given) if given is not None else ""
        reason = f"@{ast.unparse(decorator.func)}({shown}): a rule inspect cannot read statically"
        _unknown(routing, target, "/", reason, at)
        return
    if verb == "route":
        methods = methods_of(
            decorator, view if isinstance(view, ast.ClassDef) else None, scope, routing
        )
    else:
        methods = (verb.upper(),)
    routing.routes.append((target, Route(rule=rule, methods=methods, view=view.name, evidence=at)))


def _function_scopes(
    routing: Routing, modules: list[Module]
) -> list[tuple[Scope, list[ast.stmt], ast.FunctionDef | None]]:
    """A scope per module body and per top-level function (which may build an app)."""
    scopes: list[tuple[Scope, list[ast.stmt], ast.FunctionDef | None]] = []
    for module in modules:
        for node in module.tree.body:
            if isinstance(node, ast.ClassDef):
                routing.classes[f"{module.name}.{node.name}"] = (node, module)
    # Module-level names first, in every module, so an import of `app` from another
    # module resolves; then each top-level function.
    for module in modules:
        constants: Env = {name: value for name, value, _ in assignments(module.tree.body)}
        scope = Scope(module, {}, dict(constants))
        _declare(routing, scope, module.tree.body, None)
        scopes.append((scope, module.tree.body, None))
    for module in modules:
        constants = {name: value for name, value, _ in assignments(module.tree.body)}
        for function in module.tree.body:
            if isinstance(function, ast.FunctionDef):
                scope = Scope(module, {}, dict(constants))
                _declare(routing, scope, function.body, function.name)
                scopes.append((scope, function.body, function))
    return scopes


def _parameters(
    routing: Routing, scopes: list[tuple[Scope, list[ast.stmt], ast.FunctionDef | None]]
) -> None:
    """Bind a helper's parameters to the app it is called with (``register_views(app)``),
    so what it registers on its parameter is registered on that app."""
    functions = {
        f"{scope.module.name}.{function.name}": (scope, function)
        for scope, _, function in scopes
        if function is not None
    }
    for scope, body, _ in scopes:
        for node in (n for statement in body for n in _walk_scope(statement)):
            if not isinstance(node, ast.Call):
                continue
            callee = qualified_name(node.func, scope.module.imports)
            if callee is None and isinstance(node.func, ast.Name):
                callee = f"{scope.module.name}.{node.func.id}"
            if callee not in functions:
                continue
            inner, function = functions[callee]
            parameters = [a.arg for a in function.args.posonlyargs + function.args.args]
            given = list(zip(parameters, node.args, strict=False)) + [
                (k.arg, k.value) for k in node.keywords if k.arg in parameters
            ]
            for parameter, argument in given:
                target = _resolve(argument, scope, routing)
                if target is not None:
                    inner.names.setdefault(parameter, target)


def read_routing(modules: list[Module]) -> Routing:
    routing = Routing(config=config_literals(modules))
    scopes = _function_scopes(routing, modules)
    if len(routing.apps) == 1:
        # flask.current_app is the app itself where a project has one.
        routing.targets["flask.current_app"] = routing.by_id[next(iter(routing.apps))]
    _parameters(routing, scopes)
    for scope, body, _ in scopes:
        _route_calls(routing, scope, body)
    _unfollowed_rules(routing, modules)
    return routing
