"""Class-based views: the HTTP methods a view class answers (MethodView, View, a REST
Resource), read from its methods, its ``methods`` attribute and its bases."""

from __future__ import annotations

import ast

from apistarter.inspect.routing import Routing, Scope
from apistarter.inspect.source import Module, assignments, keyword_of, qualified_name, upper_strings
from apistarter.inspect.values import DEPTH, bound

HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def class_of(node: ast.expr, scope: Scope, routing: Routing) -> tuple[ast.ClassDef, Module] | None:
    node = bound(node, scope.env)
    name = qualified_name(node, scope.module.imports)
    if name is None and isinstance(node, ast.Name):
        name = f"{scope.module.name}.{node.id}"
    return routing.classes.get(name) if name else None


def verbs_of(cls: ast.ClassDef, module: Module, routing: Routing, depth: int = 0) -> list[str]:
    """The HTTP methods a class-based view answers: its methods named after them (its
    bases' included), or its ``methods`` attribute."""
    verbs = [
        item.name.upper()
        for item in cls.body
        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name in HTTP_METHODS
    ]
    for name, value, _ in assignments(cls.body):
        if name == "methods":
            verbs.extend(upper_strings(value) or ())
    if depth < DEPTH:
        for base in cls.bases:
            parent = class_of(base, Scope(module, {}), routing)
            if parent is not None and parent[0] is not cls:
                verbs.extend(verbs_of(*parent, routing, depth + 1))
    return list(dict.fromkeys(verbs))


def methods_of(
    call: ast.Call | None, view: ast.expr | ast.ClassDef | None, scope: Scope, routing: Routing
) -> tuple[str, ...]:
    """Methods given to the rule, else those of the class-based view, else GET."""
    given = upper_strings(keyword_of(call, "methods")) if call is not None else None
    if given:
        return given
    cls = (view, scope.module) if isinstance(view, ast.ClassDef) else None
    if isinstance(view, ast.expr):
        view = bound(view, scope.env)
        # `Pets.as_view("pets")`: the class's methods.
        if isinstance(view, ast.Call) and isinstance(view.func, ast.Attribute):
            view = view.func.value if view.func.attr == "as_view" else view
        cls = class_of(view, scope, routing)
    if cls is not None:
        return tuple(verbs_of(*cls, routing)) or ("GET",)
    return ("GET",)
