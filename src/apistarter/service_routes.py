"""The service's own HTTP routes, and the routes of an adopted app that they take over.

The templates place these paths (they are written nowhere else). With the Flask app
mounted at the root, a path one of the service's routes serves belongs to the service
for every method and with or without a trailing slash (answered, refused with 405 or
redirected, as without the app): such a request never reaches Flask. An app that
serves API docs of its own keeps them: the service's docs move under
:data:`SERVICE_DOCS_PREFIX` (:func:`service_routes`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypedDict

from apistarter.inspect import Route


class ServiceRoute(TypedDict):
    path: str
    methods: list[str]


def _get(path: str) -> ServiceRoute:
    return {"path": path, "methods": ["GET"]}


SERVICE_ROUTES: dict[str, ServiceRoute] = {
    "livez": _get("/livez"),
    "healthz": _get("/healthz"),
    "readyz": _get("/readyz"),
    "item_list": {"path": "/v1/items", "methods": ["GET", "POST"]},
    "item": _get("/v1/items/{item_id}"),
    "demo_io": _get("/v1/demo/io"),
    # FastAPI's own pages, at the URLs asgi_app.py gives them.
    "openapi": _get("/openapi.json"),
    "docs": _get("/docs"),
    "docs_oauth2_redirect": _get("/docs/oauth2-redirect"),
    "redoc": _get("/redoc"),
}


# FastAPI's own pages: they move out of the way of an app's docs.
DOCS_ROUTES = ("openapi", "docs", "docs_oauth2_redirect", "redoc")
# Where they move to, then.
SERVICE_DOCS_PREFIX = "/service"
# A first path segment starting with one of these is API docs (Swagger UI, ReDoc, a spec):
# /docs, /openapi.json, /apispec.json, /apispec_1.json, /swagger.json, /swagger-ui, /apidocs/.
_DOCS_SEGMENTS = ("docs", "openapi", "apispec", "swagger", "apidocs", "redoc")


def docs_of(routes: Iterable[Route]) -> list[str]:
    """The app's own API docs pages and specs: those its extensions register, and its
    routes at the usual docs paths."""
    return sorted(
        {
            route.rule
            for route in routes
            if route.docs or route.rule.lstrip("/").split("/")[0].startswith(_DOCS_SEGMENTS)
        }
    )


def service_routes(app_docs: Iterable[str]) -> dict[str, ServiceRoute]:
    """The service's routes beside an app whose docs are at ``app_docs``: FastAPI's own
    docs under SERVICE_DOCS_PREFIX when the app has any, so the app keeps its own."""
    if not list(app_docs):
        return SERVICE_ROUTES
    return {
        name: {**route, "path": SERVICE_DOCS_PREFIX + route["path"]}
        if name in DOCS_ROUTES
        else route
        for name, route in SERVICE_ROUTES.items()
    }


@dataclass(frozen=True)
class Shadowed:
    """An app route whose URLs the service's routes answer instead."""

    rule: str
    methods: tuple[str, ...]
    where: str
    # The service's paths that match first.
    by: tuple[str, ...]
    # Only some of the rule's URLs (one of its variable parts can take the service's value).
    partly: bool

    def __str__(self) -> str:
        some = "some URLs of " if self.partly else ""
        return (
            f"{some}{','.join(self.methods)} {self.rule} ({self.where}), "
            f"answered by the service's {', '.join(self.by)}"
        )


def _overlap(rule: str, path: str) -> bool | None:
    """None when no URL matches both; else whether only some of the rule's URLs match."""
    wanted, taken = rule.split("/"), path.split("/")
    # Flask's path converter takes the rest of the URL, slashes included.
    rest = next((i for i, segment in enumerate(wanted) if "<path:" in segment), None)
    if rest is not None and len(taken) > rest:
        wanted, taken = wanted[:rest], taken[:rest]
    elif len(wanted) != len(taken):
        return None
    partly = rest is not None
    for segment, fixed in zip(wanted, taken, strict=True):
        if fixed.startswith("{"):  # Starlette's {name}: any non-empty segment
            if not segment:
                return None
        elif "<" in segment:  # a Flask variable that can take the fixed value
            partly = True
        elif segment != fixed:
            return None
    return partly


def shadowed(
    routes: Iterable[Route], prefix: str, service: dict[str, ServiceRoute] = SERVICE_ROUTES
) -> list[Shadowed]:
    """The app's routes (mounted under ``prefix``) that the service's routes answer first."""
    found = []
    for route in routes:
        rule = prefix + route.rule
        # The service redirects the other spelling of its paths, so compare without the slash.
        spelling = rule.rstrip("/") or "/"
        by: list[str] = []
        partly = True
        for own in service.values():
            overlap = _overlap(spelling, own["path"])
            if overlap is not None:
                by.append(own["path"])
                partly = partly and overlap
        if by:
            found.append(Shadowed(rule, route.methods, str(route.evidence), tuple(by), partly))
    return found
