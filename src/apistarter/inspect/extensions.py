"""Extensions and Flask features that behave differently behind the mount."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from apistarter.inspect.report import Extension
from apistarter.inspect.source import Module

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


def extensions_of(module: Module) -> Iterator[Extension]:
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
