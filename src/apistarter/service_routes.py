"""The service's own HTTP routes, and the routes of an adopted app that they take over.

The templates place these paths (they are written nowhere else). With the Flask app
mounted at the root, a path one of the service's routes serves belongs to the service
for every method and with or without a trailing slash (answered, refused with 405 or
redirected, as without the app): such a request never reaches Flask.
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


def shadowed(routes: Iterable[Route], prefix: str) -> list[Shadowed]:
    """The app's routes (mounted under ``prefix``) that the service's routes answer first."""
    found = []
    for route in routes:
        rule = prefix + route.rule
        # The service redirects the other spelling of its paths, so compare without the slash.
        spelling = rule.rstrip("/") or "/"
        by: list[str] = []
        partly = True
        for service in SERVICE_ROUTES.values():
            overlap = _overlap(spelling, service["path"])
            if overlap is not None:
                by.append(service["path"])
                partly = partly and overlap
        if by:
            found.append(Shadowed(rule, route.methods, str(route.evidence), tuple(by), partly))
    return found
