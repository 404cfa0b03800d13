"""The routes Flask extensions register on the app they are given, read from their call.

An extension object (``Swagger(app)``, ``APIFairy(app)``, ``Admin(app)``, a REST
``Api(app)``) joins an app through its constructor's first argument or ``init_app``;
what it serves is its documented default, moved by the arguments and configuration
keys read here when they are literals. What depends on more than that (Flask-Admin's
views, a Flasgger ``config=``) is reported as unknown with the reason.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass

from apistarter.inspect.source import Module, keyword_of, text_of

# Constructors of objects that routes are declared on or that register routes of their own.
REST_APIS = frozenset({"flask_restful.Api", "flask_restx.Api", "flask_smorest.Api"})
NAMESPACES = frozenset({"flask_restx.Namespace"})
EXTENSIONS = frozenset(
    {
        "flasgger.Swagger",
        "flasgger.base.Swagger",
        "apifairy.APIFairy",
        "flask_admin.Admin",
        *REST_APIS,
    }
)


@dataclass(frozen=True)
class Served:
    """A route an extension registers: its rule, methods, and whether it is API docs."""

    rule: str
    methods: tuple[str, ...] = ("GET",)
    docs: bool = False


@dataclass(frozen=True)
class Unenumerated:
    """Routes an extension registers under a prefix that a static reading cannot list."""

    prefix: str
    reason: str


# Configuration key -> its literal string value, or None when set to something else.
Config = dict[str, str | None]


def config_literals(modules: Iterable[Module]) -> Config:
    """Upper-case configuration keys set to a literal string anywhere in the app's code:
    ``KEY = "..."`` (a config class or module), ``app.config["KEY"] = "..."`` and
    ``app.config.update(KEY="...")``."""
    found: Config = {}
    for module in modules:
        if module.is_test:
            continue
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value = node.targets[0], text_of(node.value)
                key = (
                    target.id
                    if isinstance(target, ast.Name)
                    else text_of(target.slice)
                    if isinstance(target, ast.Subscript)
                    else None
                )
                if key and key.isupper():
                    found.setdefault(key, value)
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "update"
            ):
                for keyword in node.keywords:
                    value = text_of(keyword.value)
                    if keyword.arg and keyword.arg.isupper():
                        found.setdefault(keyword.arg, value)
    return found


def _join(prefix: str, path: str) -> str:
    return prefix.rstrip("/") + "/" + path.lstrip("/")


def _flag(call: ast.Call, name: str) -> bool | None:
    value = keyword_of(call, name)
    if isinstance(value, ast.Constant) and isinstance(value.value, bool | type(None)):
        return bool(value.value)
    return None


def served_by(
    constructor: str, call: ast.Call, config: Config
) -> tuple[str, list[Served], list[Unenumerated]]:
    """The extension's name, the routes it registers itself, and what it registers unlisted."""
    if constructor.startswith("flasgger."):
        routes = [
            Served("/apidocs/", docs=True),
            Served("/apidocs/index.html", docs=True),
            Served("/apispec_1.json", docs=True),
            Served("/flasgger_static/<path:filename>", docs=True),
            Served("/oauth2-redirect.html", docs=True),
        ]
        unknown = (
            [
                Unenumerated(
                    "/",
                    "Flasgger's configuration (Swagger(config=...) or app.config['SWAGGER']) "
                    "may move its docs and specs",
                )
            ]
            if keyword_of(call, "config") is not None or "SWAGGER" in config
            else []
        )
        return "flasgger", routes, unknown
    if constructor == "apifairy.APIFairy":
        return (
            "apifairy",
            [
                Served(config.get("APIFAIRY_APISPEC_PATH") or "/apispec.json", docs=True),
                Served(config.get("APIFAIRY_UI_PATH") or "/docs", docs=True),
            ],
            [],
        )
    if constructor == "flask_admin.Admin":
        url = text_of(keyword_of(call, "url")) or "/admin"
        return (
            "flask-admin",
            [Served(_join(url, "/")), Served(_join(url, "static/<path:filename>"))],
            [
                Unenumerated(
                    _join(url, "/"),
                    "Flask-Admin's views (admin.add_view) register routes that depend on "
                    "each view class",
                )
            ],
        )
    if constructor == "flask_restx.Api":
        doc = keyword_of(call, "doc")
        routes = [
            Served("/"),
            Served("/swagger.json", docs=True),
            Served("/swaggerui/<path:filename>"),
        ]
        if not (isinstance(doc, ast.Constant) and doc.value is False):
            routes.append(Served(text_of(doc) or "/", docs=text_of(doc) not in (None, "/")))
        return "flask-restx", routes, []
    if constructor == "flask_smorest.Api":
        prefix = config.get("OPENAPI_URL_PREFIX")
        if prefix is None:
            # Unset, flask-smorest serves no docs; set to something not literal, unknown.
            unknown = (
                [Unenumerated("/", "flask-smorest's OPENAPI_URL_PREFIX is not a literal")]
                if "OPENAPI_URL_PREFIX" in config
                else []
            )
            return "flask-smorest", [], unknown
        pages = [config.get("OPENAPI_JSON_PATH") or "openapi.json"] + [
            page
            for key in ("OPENAPI_SWAGGER_UI_PATH", "OPENAPI_REDOC_PATH", "OPENAPI_RAPIDOC_PATH")
            if (page := config.get(key))
        ]
        return "flask-smorest", [Served(_join(prefix, page), docs=True) for page in pages], []
    return constructor.split(".")[0].replace("_", "-"), [], []


def apiflask_docs(call: ast.Call) -> list[Served]:
    """The docs APIFlask serves unless told not to: its spec, Swagger UI and its redirect."""
    if _flag(call, "enable_openapi") is False:
        return []
    spec = text_of(keyword_of(call, "spec_path")) or "/openapi.json"
    docs = text_of(keyword_of(call, "docs_path")) or "/docs"
    redirect = text_of(keyword_of(call, "docs_oauth2_redirect_path")) or "/docs/oauth2-redirect"
    return [Served(spec, docs=True), Served(docs, docs=True), Served(redirect, docs=True)]
