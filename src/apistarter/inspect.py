"""Read an existing Flask project without running it: what it is, with evidence.

Everything here is static. The project's Python files are parsed with :mod:`ast`
and its packaging files are read as text (setup.py too, as a syntax tree), so
inspecting a project never imports it, runs its code, or needs its dependencies
installed. Each finding carries the file and line it came from, so a person can
check it; :meth:`InspectReport.answers` turns the findings into the answers
apistarter would otherwise ask for (``codebase``, ``existing_routes``,
``blocking_deps``, ``legacy_app``), and leaves the rest to be asked.

A static reading is a floor, not a ceiling: routes built in loops, names read
through helpers, or apps created by third-party factories are not seen. The
report says what it found and where, never what it guessed.
"""

from __future__ import annotations

import ast
import configparser
import re
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from packaging.requirements import InvalidRequirement, Requirement
from pydantic import BaseModel, ConfigDict

from apistarter.questions import BlockingDep

# Constructors whose result is a Flask app or a blueprint (Flask's own, and subclasses
# that keep Flask's routing API).
_APP_CLASSES = frozenset(
    {"flask.Flask", "flask.app.Flask", "apiflask.APIFlask", "flask_openapi3.OpenAPI"}
)
_BLUEPRINT_CLASSES = frozenset(
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

# Imported module -> the `blocking_deps` choice it is evidence for. A module listed
# with a submodule (redis.asyncio) is the async flavour and is not blocking.
_BLOCKING: dict[str, BlockingDep] = {
    "requests": "requests",
    "urllib3": "requests",
    "httplib2": "requests",
    "psycopg2": "psycopg2",
    "pymysql": "pymysql",
    "MySQLdb": "pymysql",
    "boto3": "boto3",
    "botocore": "boto3",
    "redis": "redis-py",
    "sqlalchemy": "sqlalchemy-sync",
    "flask_sqlalchemy": "sqlalchemy-sync",
    "sqlite3": "file-io",
    "stripe": "sync-sdk",
    "twilio": "sync-sdk",
    "sendgrid": "sync-sdk",
    "slack_sdk": "sync-sdk",
}
_ASYNC_FLAVOURS = ("redis.asyncio", "sqlalchemy.ext.asyncio")

# Extensions whose behaviour changes once the app is mounted inside the service.
_EXTENSIONS: dict[str, tuple[str, str]] = {
    "flask_cors": (
        "flask-cors",
        "sets its own CORS headers; reconcile them with the service's one CORS policy",
    ),
    "flask_login": (
        "flask-login",
        "authenticates with a session cookie; the cookie's path must follow the mount",
    ),
    "flask_wtf": ("flask-wtf", "CSRF tokens are signed with SECRET_KEY and bound to the session"),
    "flask_sqlalchemy": (
        "flask-sqlalchemy",
        "blocking database sessions run on the mount's worker threads; size the pool to them",
    ),
    "flask_session": ("flask-session", "server-side sessions keep state outside the process"),
    "flask_limiter": (
        "flask-limiter",
        "rate limits key on the client address, which the mount takes from forwarded headers",
    ),
    "flask_talisman": (
        "flask-talisman",
        "forces HTTPS and security headers; the service may already set them",
    ),
    "flask_socketio": (
        "flask-socketio",
        "WebSockets cannot pass through a WSGI mount; move them to FastAPI",
    ),
    "flask_restful": ("flask-restful", "routes are declared with Api.add_resource"),
    "flask_restx": ("flask-restx", "routes are declared on an Api; it serves its own docs"),
    "flask_migrate": ("flask-migrate", "schema migrations run with `flask db upgrade`"),
    "flask_caching": ("flask-caching", "a per-process cache is per worker in the service"),
    "werkzeug.middleware.proxy_fix": (
        "ProxyFix",
        "the service already trusts forwarded headers; applying both doubles the hops",
    ),
}

_SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|API_KEY|PRIVATE_KEY|CREDENTIAL")
_DATABASE_URL = re.compile(
    r"^(?P<scheme>postgres(?:ql)?|mysql|mariadb|mssql|oracle|redis|rediss|mongodb|sqlite)"
    r"(?:\+\w+)?://"
)
_SQLITE_FILE = re.compile(r"^[\w./-]*\.(?:sqlite3?|db)$")
# Why an in-memory SQLite database breaks behind the mount, and the way out.
_MEMORY_SQLITE = (
    "in memory: a connection opened on another of the mount's threads is a new, empty, "
    "database; use a file (in tests, one in pytest's tmp_path)"
)
_SKIPPED_DIRS = frozenset(
    {"__pycache__", "node_modules", "build", "dist", "site-packages", "venv", "env"}
)
_TEST_DIRS = frozenset({"tests", "test"})
_REQUIREMENT_FILES = ("requirements*.txt", "requirements/*.txt")


class InspectError(ValueError):
    """The project cannot be adopted as it is; the message is one line."""


class Evidence(BaseModel):
    """Where a finding came from: a path relative to the project, and a line."""

    model_config = ConfigDict(frozen=True)

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


class Finding(BaseModel):
    """Something found in the project, and the file and line it was found at."""

    model_config = ConfigDict(frozen=True)

    evidence: Evidence


class FlaskApp(Finding):
    """A Flask app object at module level, or a function that builds one."""

    import_path: str
    kind: Literal["object", "factory"]


class Route(Finding):
    """One URL rule with a view, as declared (a blueprint's prefix included)."""

    rule: str
    methods: tuple[str, ...]
    view: str


class BlockingUse(Finding):
    """An import of a library that blocks the thread while it waits."""

    module: str
    dep: BlockingDep


class Dependency(Finding):
    """A declared requirement, from the file that declares it."""

    requirement: str
    group: str


SettingKind = Literal["config", "env", "env-prefix", "config-file"]


class Setting(Finding):
    """A configuration key or an environment variable the app reads or sets."""

    name: str
    kind: SettingKind
    secret: bool
    literal_in_code: bool


class State(Finding):
    """Where the app keeps state on disk or reaches a database."""

    kind: Literal["instance-folder", "sqlite", "sqlite-in-memory", "database-url"]
    detail: str


class Extension(Finding):
    """An extension or Flask feature that behaves differently behind the mount."""

    name: str
    why: str


class Command(Finding):
    """A command-line command the app defines (``flask NAME``), e.g. to create its tables."""

    name: str


class Fixture(Finding):
    """A pytest fixture a conftest file defines (``client``, ``app``, ...)."""

    name: str


class TestSuite(BaseModel):
    """The app's own tests: where they are, and the fixtures its conftest files give."""

    model_config = ConfigDict(frozen=True)

    directory: str
    files: int
    fixtures: tuple[Fixture, ...]


class InspectReport(BaseModel):
    """What a static reading of a Flask project found, each finding with its evidence."""

    model_config = ConfigDict(frozen=True)

    root: str
    app: FlaskApp
    routes: tuple[Route, ...]
    blocking: tuple[BlockingUse, ...]
    dependencies: tuple[Dependency, ...]
    requires_python: str | None
    requires_python_evidence: Evidence | None
    settings: tuple[Setting, ...]
    state: tuple[State, ...]
    extensions: tuple[Extension, ...]
    commands: tuple[Command, ...]
    tests: TestSuite | None
    # The top-level packages and modules holding the app's code (src/ layout kept),
    # relative to root: what installing the app means.
    packages: tuple[str, ...]
    skipped: tuple[str, ...]

    def answers(self) -> dict[str, Any]:
        """The answers these findings settle, keyed like DecisionAnswers/ProjectAnswers."""
        return {
            "codebase": "existing-flask",
            "existing_routes": len(self.routes),
            "blocking_deps": list(dict.fromkeys(use.dep for use in self.blocking)),
            "legacy_app": self.app.import_path,
        }


# --- reading Python files -------------------------------------------------------------


@dataclass
class _Module:
    name: str
    path: str
    tree: ast.Module
    is_test: bool
    imports: dict[str, str] = field(default_factory=dict)

    def at(self, node: ast.AST) -> Evidence:
        return Evidence(file=self.path, line=getattr(node, "lineno", 1))


def _python_files(root: Path) -> Iterator[Path]:
    """The project's Python files, leaving out virtualenvs, builds and hidden folders."""
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts[:-1]
        if any(part.startswith(".") or part in _SKIPPED_DIRS for part in parts):
            continue
        if any((root.joinpath(*parts[: i + 1]) / "pyvenv.cfg").exists() for i in range(len(parts))):
            continue
        yield path


def _module_name(root: Path, path: Path) -> str | None:
    """The import name of a file, with a src/ layout's src/ left out; None if not importable."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[0] == "src" and len(parts) > 1:
        parts = parts[1:]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    if not parts or not all(part.isidentifier() for part in parts):
        return None
    return ".".join(parts)


def _is_test(relative: Path) -> bool:
    name = relative.name
    return (
        any(part in _TEST_DIRS for part in relative.parts[:-1])
        or name == "conftest.py"
        or name.startswith("test_")
        or name.endswith("_test.py")
    )


def _imports(module: _Module) -> dict[str, str]:
    """Local name -> the qualified name it stands for, relative imports resolved."""
    names: dict[str, str] = {}
    package = module.name if module.path.endswith("__init__.py") else module.name.rpartition(".")[0]
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    names[top] = top
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".") if package else []
                anchor = anchor[: len(anchor) - (node.level - 1)] if node.level > 1 else anchor
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                if alias.name != "*":
                    names[alias.asname or alias.name] = f"{base}.{alias.name}".lstrip(".")
    return names


def _qualified(node: ast.expr, names: dict[str, str]) -> str | None:
    """`flask.Flask` for `Flask` imported from flask, `os.environ.get` for that call, etc."""
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _qualified(node.value, names)
        return f"{base}.{node.attr}" if base else None
    return None


def _text(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _strings(node: ast.expr | None) -> tuple[str, ...] | None:
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        texts = [_text(item) for item in node.elts]
        if all(text is not None for text in texts):
            return tuple(text.upper() for text in texts if text is not None)
    return None


# --- apps, blueprints and routes -----------------------------------------------------


@dataclass
class _Target:
    """Something routes are declared on: an app, a blueprint or a REST Api wrapping an app."""

    id: str
    kind: Literal["app", "blueprint"]
    prefix: str = ""


@dataclass
class _Scope:
    module: _Module
    names: dict[str, _Target]


@dataclass
class _Routing:
    apps: dict[str, FlaskApp] = field(default_factory=dict)
    targets: dict[str, _Target] = field(default_factory=dict)  # "module.name" -> target
    routes: list[tuple[_Target, Route]] = field(default_factory=list)
    # blueprint id -> (app id, url_prefix given at registration or None)
    registrations: list[tuple[str, str, str | None]] = field(default_factory=list)


def _constructed(value: ast.expr, module: _Module) -> str | None:
    """ "app", "blueprint" or "api" when value is a call to one of their constructors."""
    if not isinstance(value, ast.Call):
        return None
    name = _qualified(value.func, module.imports)
    if name in _APP_CLASSES:
        return "app"
    if name in _BLUEPRINT_CLASSES:
        return "blueprint"
    if name in _RESOURCE_APIS:
        return "api"
    return None


def _assignments(body: Iterable[ast.stmt]) -> Iterator[tuple[str, ast.expr, ast.stmt]]:
    """Simple `name = value` statements in a body, including inside if/try/with blocks."""
    for statement in body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target = statement.targets[0]
            if isinstance(target, ast.Name):
                yield target.id, statement.value, statement
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            if isinstance(statement.target, ast.Name):
                yield statement.target.id, statement.value, statement
        elif isinstance(statement, ast.If | ast.Try | ast.With):
            for block in ("body", "orelse", "finalbody", "handlers"):
                inner = getattr(statement, block, [])
                for item in inner:
                    if isinstance(item, ast.ExceptHandler):
                        yield from _assignments(item.body)
                yield from _assignments(s for s in inner if isinstance(s, ast.stmt))


def _declare(routing: _Routing, scope: _Scope, body: list[ast.stmt], factory: str | None) -> None:
    """Record the apps and blueprints a body creates, under the names it binds them to."""
    module = scope.module
    for name, value, statement in _assignments(body):
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
            prefix = _text(_keyword(value, "url_prefix")) or ""
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
    qualified = _qualified(node, scope.module.imports)
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
            rule = _text(node.args[0])
            view = _keyword(node, "view_func") or (node.args[2] if len(node.args) > 2 else None)
            # Without a view function the rule only aliases an endpoint served elsewhere.
            if rule is not None and view is not None:
                methods = _strings(_keyword(node, "methods")) or ("GET",)
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
                rule = _text(url)
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
                prefix = _text(_keyword(node, "url_prefix"))
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
    rule = _text(decorator.args[0]) if decorator.args else _text(_keyword(decorator, "rule"))
    if target is None or rule is None:
        return None
    methods = (
        (_strings(_keyword(decorator, "methods")) or ("GET",))
        if verb == "route"
        else (verb.upper(),)
    )
    return target, Route(
        rule=rule, methods=methods, view=function.name, evidence=scope.module.at(decorator)
    )


def _routing(modules: list[_Module]) -> _Routing:
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


def _routes_of(routing: _Routing, app: FlaskApp) -> tuple[Route, ...]:
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


# --- imports, settings, state ----------------------------------------------------------


def _blocking(module: _Module) -> Iterator[BlockingUse]:
    for node in ast.walk(module.tree):
        imported: list[str] = []
        if isinstance(node, ast.Import):
            imported = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            imported = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        if any(name.startswith(_ASYNC_FLAVOURS) for name in imported):
            continue
        for name in imported[:1] if isinstance(node, ast.ImportFrom) else imported:
            dep = _BLOCKING.get(name.split(".")[0])
            if dep:
                yield BlockingUse(module=name, dep=dep, evidence=module.at(node))


def _extensions(module: _Module) -> Iterator[Extension]:
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module]
            if node.module == "flask" and any(alias.name == "session" for alias in node.names):
                yield Extension(
                    name="sessions",
                    why="Flask's signed session cookie: needs a real SECRET_KEY, and its path "
                    "should follow the mount",
                    evidence=module.at(node),
                )
        else:
            continue
        for name in names:
            known = next(
                (key for key in _EXTENSIONS if name == key or name.startswith(key + ".")), None
            )
            if known:
                label, why = _EXTENSIONS[known]
                yield Extension(name=label, why=why, evidence=module.at(node))


def _setting(name: str, kind: SettingKind, literal: bool, evidence: Evidence) -> Setting:
    return Setting(
        name=name,
        kind=kind,
        secret=bool(_SECRET_NAME.search(name.upper())),
        literal_in_code=literal,
        evidence=evidence,
    )


def _config_call(node: ast.Call, module: _Module) -> Iterator[Setting]:
    """Keys set or read through `app.config.<method>(...)`."""
    assert isinstance(node.func, ast.Attribute)
    method = node.func.attr
    at = module.at(node)
    if method in ("from_mapping", "update"):
        for keyword in node.keywords:
            if keyword.arg:
                literal = isinstance(keyword.value, ast.Constant)
                yield _setting(keyword.arg, "config", literal, module.at(keyword))
        if node.args and isinstance(node.args[0], ast.Dict):
            for key, value in zip(node.args[0].keys, node.args[0].values, strict=True):
                name = _text(key)
                if name and key is not None:
                    literal = isinstance(value, ast.Constant)
                    yield _setting(name, "config", literal, module.at(key))
    elif method in ("get", "setdefault") and node.args:
        name = _text(node.args[0])
        if name:
            yield _setting(name, "config", False, at)
    elif method == "from_prefixed_env":
        prefix = _text(node.args[0] if node.args else _keyword(node, "prefix")) or "FLASK"
        yield _setting(f"{prefix}_*", "env-prefix", False, at)
    elif method == "from_envvar" and node.args:
        name = _text(node.args[0])
        if name:
            yield _setting(name, "env", False, at)
    elif method == "from_pyfile" and node.args:
        name = _text(node.args[0])
        if name:
            yield _setting(name, "config-file", False, at)


def _is_config(node: ast.expr) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "config"


def _settings(module: _Module) -> Iterator[Setting]:
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Call):
            func = _qualified(node.func, module.imports)
            if func in ("os.getenv", "os.environ.get", "os.environ.setdefault") and node.args:
                name = _text(node.args[0])
                if name:
                    default = node.args[1] if len(node.args) > 1 else _keyword(node, "default")
                    yield _setting(name, "env", isinstance(default, ast.Constant), module.at(node))
            elif isinstance(node.func, ast.Attribute) and _is_config(node.func.value):
                yield from _config_call(node, module)
        elif isinstance(node, ast.Subscript):
            name = _text(node.slice)
            if name is None:
                continue
            if _qualified(node.value, module.imports) == "os.environ":
                yield _setting(name, "env", False, module.at(node))
            elif _is_config(node.value):
                yield _setting(name, "config", False, module.at(node))
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Attribute) and target.attr == "secret_key":
                    literal = isinstance(node.value, ast.Constant)
                    yield _setting("SECRET_KEY", "config", literal, module.at(node))
        elif isinstance(node, ast.ClassDef) and "config" in node.name.lower():
            # Settings classes loaded with app.config.from_object: their UPPERCASE attributes.
            for name, value, statement in _assignments(node.body):
                if name.isupper():
                    literal = isinstance(value, ast.Constant)
                    yield _setting(name, "config", literal, module.at(statement))


def _state(module: _Module) -> Iterator[State]:
    for node in ast.walk(module.tree):
        if isinstance(node, ast.keyword) and node.arg in (
            "instance_relative_config",
            "instance_path",
        ):
            yield State(
                kind="instance-folder",
                detail=f"{node.arg}={ast.unparse(node.value)}",
                evidence=module.at(node.value),
            )
        elif isinstance(node, ast.Attribute) and node.attr == "instance_path":
            yield State(
                kind="instance-folder", detail="app.instance_path", evidence=module.at(node)
            )
        elif (
            isinstance(node, ast.Call)
            and _qualified(node.func, module.imports) == "sqlite3.connect"
        ):
            target = _text(node.args[0]) if node.args else None
            yield _sqlite("sqlite3.connect", target == ":memory:", module.at(node))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value.strip()
            url = _DATABASE_URL.match(text)
            if url and url["scheme"] == "sqlite":
                memory = text.rstrip("/") == "sqlite:" or text.endswith(":memory:")
                yield _sqlite("sqlite URL", memory, module.at(node))
            elif url:
                # The scheme only: a URL in code may carry credentials.
                yield State(
                    kind="database-url", detail=f"{url['scheme']}:// URL", evidence=module.at(node)
                )
            elif _SQLITE_FILE.match(text):
                yield State(kind="sqlite", detail=f"file {text}", evidence=module.at(node))


def _sqlite(detail: str, memory: bool, evidence: Evidence) -> State:
    if memory:
        return State(
            kind="sqlite-in-memory", detail=f"{detail} {_MEMORY_SQLITE}", evidence=evidence
        )
    return State(kind="sqlite", detail=detail, evidence=evidence)


def _commands(module: _Module) -> Iterator[Command]:
    for node in ast.walk(module.tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            if not isinstance(decorator, ast.Call):
                continue
            func = _qualified(decorator.func, module.imports) or ""
            if func in ("click.command", "flask.cli.command") or (
                isinstance(decorator.func, ast.Attribute)
                and decorator.func.attr == "command"
                and isinstance(decorator.func.value, ast.Attribute)
                and decorator.func.value.attr == "cli"
            ):
                name = _text(decorator.args[0]) if decorator.args else None
                # Click derives a name from the function: init_db_command -> init-db.
                derived = node.name.removesuffix("_command").removesuffix("_cmd").replace("_", "-")
                yield Command(name=name or derived, evidence=module.at(decorator))


def _fixtures(module: _Module) -> Iterator[Fixture]:
    for node in module.tree.body:
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                func = decorator.func if isinstance(decorator, ast.Call) else decorator
                if (_qualified(func, module.imports) or "").endswith("fixture"):
                    yield Fixture(name=node.name, evidence=module.at(node))


def _tests(root: Path, modules: list[_Module]) -> TestSuite | None:
    tests = [m for m in modules if m.is_test]
    if not tests:
        return None
    folders = sorted({Path(m.path).parts[0] for m in tests if len(Path(m.path).parts) > 1})
    directory = next((f for f in folders if f in _TEST_DIRS), folders[0] if folders else ".")
    fixtures = tuple(f for m in tests if m.path.endswith("conftest.py") for f in _fixtures(m))
    return TestSuite(
        directory=directory,
        files=sum(Path(m.path).name != "conftest.py" for m in tests),
        fixtures=fixtures,
    )


def _packages(root: Path, code: list[_Module]) -> tuple[str, ...]:
    found = set()
    for module in code:
        parts = Path(module.path).parts
        top = parts[:2] if parts[0] == "src" and len(parts) > 1 else parts[:1]
        path = Path(*top)
        if path.suffix == ".py" or (root / path / "__init__.py").is_file():
            found.add(path.as_posix())
    return tuple(sorted(found))


# --- packaging files ---------------------------------------------------------------------


def _line_of(lines: list[str], text: str) -> int:
    """The first line holding `text` (tomllib and configparser keep no line numbers)."""
    return next((i for i, line in enumerate(lines, 1) if text in line), 1)


def _dependency(text: str, group: str, file: str, line: int) -> Dependency | None:
    try:
        requirement = Requirement(text)
    except InvalidRequirement:
        return None
    return Dependency(
        requirement=str(requirement), group=group, evidence=Evidence(file=file, line=line)
    )


def _packaging(root: Path) -> tuple[list[Dependency], tuple[str, Evidence] | None, list[str]]:
    """Requirements and the Python constraint from pyproject.toml, setup.cfg, setup.py and
    requirements files."""
    dependencies: list[Dependency] = []
    python: tuple[str, Evidence] | None = None
    skipped: list[str] = []

    def add(texts: Iterable[str], group: str, file: str, lines: list[str]) -> None:
        for text in texts:
            found = _dependency(text, group, file, _line_of(lines, text))
            if found:
                dependencies.append(found)

    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        text = pyproject.read_text(encoding="utf-8", errors="replace")
        lines = text.splitlines()
        try:
            project = tomllib.loads(text).get("project", {})
        except tomllib.TOMLDecodeError as error:
            skipped.append(f"pyproject.toml: not valid TOML ({error})")
            project = {}
        add(project.get("dependencies", []), "main", "pyproject.toml", lines)
        for extra, texts in project.get("optional-dependencies", {}).items():
            add(texts, extra, "pyproject.toml", lines)
        if isinstance(project.get("requires-python"), str):
            constraint = project["requires-python"]
            python = (
                constraint,
                Evidence(file="pyproject.toml", line=_line_of(lines, "requires-python")),
            )
    setup_cfg = root / "setup.cfg"
    if setup_cfg.is_file():
        text = setup_cfg.read_text(encoding="utf-8", errors="replace")
        lines = text.splitlines()
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(text)
        except configparser.Error as error:
            skipped.append(f"setup.cfg: not readable ({error})")
        if parser.has_option("options", "install_requires"):
            entries = parser.get("options", "install_requires").splitlines()
            add((e.strip() for e in entries if e.strip()), "main", "setup.cfg", lines)
        if python is None and parser.has_option("options", "python_requires"):
            constraint = parser.get("options", "python_requires").strip()
            python = constraint, Evidence(file="setup.cfg", line=_line_of(lines, "python_requires"))
    setup_py = root / "setup.py"
    if setup_py.is_file():
        found_python = _setup_py(setup_py, dependencies)
        python = python or found_python
    for pattern in _REQUIREMENT_FILES:
        for path in sorted(root.glob(pattern)):
            file = path.relative_to(root).as_posix()
            group = path.stem.removeprefix("requirements").strip("-_.") or "main"
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                entry = line.split(" #")[0].strip()
                if entry and not entry.startswith(("#", "-")):
                    found = _dependency(entry, group, file, number)
                    if found:
                        dependencies.append(found)
    return dependencies, python, skipped


def _setup_py(path: Path, dependencies: list[Dependency]) -> tuple[str, Evidence] | None:
    """install_requires and python_requires given as literals to setup(), read as a tree."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    except SyntaxError:
        return None
    python = None
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and ast.unparse(node.func).endswith("setup")):
            continue
        for keyword in node.keywords:
            if keyword.arg == "install_requires" and isinstance(
                keyword.value, ast.List | ast.Tuple
            ):
                for item in keyword.value.elts:
                    text = _text(item)
                    found = _dependency(text, "main", "setup.py", item.lineno) if text else None
                    if found:
                        dependencies.append(found)
            elif keyword.arg == "python_requires" and _text(keyword.value):
                python = (
                    _text(keyword.value) or "",
                    Evidence(file="setup.py", line=keyword.value.lineno),
                )
    return python


# --- the report --------------------------------------------------------------------------


def _first_of_each(items: Iterable[Any], key: Any) -> tuple[Any, ...]:
    """One finding per key (the first seen), in the order found."""
    seen: dict[Any, Any] = {}
    for item in items:
        seen.setdefault(key(item), item)
    return tuple(seen.values())


def _load(root: Path) -> tuple[list[_Module], list[str]]:
    modules: list[_Module] = []
    skipped: list[str] = []
    for path in _python_files(root):
        relative = path.relative_to(root)
        name = _module_name(root, path)
        if name is None or relative.name == "setup.py":
            continue
        try:
            tree = ast.parse(path.read_bytes(), filename=str(relative))
        except (SyntaxError, ValueError) as error:
            skipped.append(f"{relative.as_posix()}: not Python 3 ({error.__class__.__name__})")
            continue
        module = _Module(name, relative.as_posix(), tree, _is_test(relative))
        module.imports = _imports(module)
        modules.append(module)
    return modules, skipped


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
    modules, skipped = _load(root)
    routing = _routing(modules)
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
    dependencies, python, packaging_skipped = _packaging(root)
    return InspectReport(
        root=str(root),
        app=chosen,
        routes=_routes_of(routing, chosen),
        blocking=_first_of_each(
            (use for m in code for use in _blocking(m)), lambda u: (u.dep, u.module)
        ),
        dependencies=tuple(dependencies),
        requires_python=python[0] if python else None,
        requires_python_evidence=python[1] if python else None,
        settings=_first_of_each(
            (s for m in code for s in _settings(m)), lambda s: (s.kind, s.name)
        ),
        state=_first_of_each(
            (s for m in modules for s in _state(m)),
            lambda s: (s.kind, s.detail, s.evidence.file),
        ),
        extensions=_first_of_each((e for m in code for e in _extensions(m)), lambda e: e.name),
        commands=_first_of_each((c for m in code for c in _commands(m)), lambda c: c.name),
        tests=_tests(root, modules),
        packages=_packages(root, code),
        skipped=tuple(skipped + packaging_skipped),
    )
