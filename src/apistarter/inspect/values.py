"""What an expression stands for, read statically: a string built from literals, the names
bound to them, the items of a loop over a literal list or dict, a module imported at run
time. Never evaluated: anything else is unknown (None)."""

from __future__ import annotations

import ast
from dataclasses import dataclass

from apistarter.inspect.source import text_of

# How deep a name is followed through the values bound to it.
DEPTH = 8


@dataclass(frozen=True)
class Imported:
    """A module imported by name at run time (``importlib.import_module("pkg.views")``)."""

    module: str | None


# What a name stands for inside a body: the expression last bound to it, or a module.
Env = dict[str, ast.expr | Imported]


def string_of(node: ast.expr | None, env: Env, depth: int = 0) -> str | None:
    """A string's value: a literal, a name bound to one, an f-string or a sum of them."""
    if node is None or depth > DEPTH:
        return None
    if isinstance(node, ast.Name):
        given = env.get(node.id)
        return string_of(given, env, depth + 1) if isinstance(given, ast.expr) else None
    if isinstance(node, ast.JoinedStr):
        parts = [
            string_of(part.value, env, depth + 1)
            if isinstance(part, ast.FormattedValue)
            and part.conversion == -1
            and part.format_spec is None
            else text_of(part)
            for part in node.values
        ]
        return "".join(p for p in parts if p is not None) if None not in parts else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = string_of(node.left, env, depth + 1), string_of(node.right, env, depth + 1)
        return left + right if left is not None and right is not None else None
    return text_of(node)


def bound(node: ast.expr, env: Env) -> ast.expr:
    """The expression a name stands for (followed through names bound to names)."""
    for _ in range(DEPTH):
        if not isinstance(node, ast.Name):
            break
        given = env.get(node.id)
        if not isinstance(given, ast.expr):
            break
        node = given
    return node


def elements(node: ast.expr, env: Env) -> list[ast.expr] | None:
    """The items a loop over a literal list, tuple, set or dict (or its items()) takes."""
    node = bound(node, env)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and not node.args:
        mapping = bound(node.func.value, env)
        if isinstance(mapping, ast.Dict) and None not in mapping.keys:
            keys = [k for k in mapping.keys if k is not None]
            if node.func.attr == "items":
                return [
                    ast.Tuple(elts=[k, v], ctx=ast.Load())
                    for k, v in zip(keys, mapping.values, strict=True)
                ]
            if node.func.attr in ("keys", "values"):
                return keys if node.func.attr == "keys" else list(mapping.values)
        return None
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return list(node.elts)
    if isinstance(node, ast.Dict) and None not in node.keys:
        return [k for k in node.keys if k is not None]
    return None


def bind(target: ast.expr, value: ast.expr | None, env: Env) -> None:
    """Bind a loop's target names to one item's parts (unknown when it cannot be split)."""
    if isinstance(target, ast.Name):
        if value is None:
            env.pop(target.id, None)
        else:
            env[target.id] = value
    elif isinstance(target, ast.Tuple | ast.List):
        parts = bound(value, env) if value is not None else None
        split = isinstance(parts, ast.Tuple | ast.List) and len(parts.elts) == len(target.elts)
        for index, name in enumerate(target.elts):
            part = parts.elts[index] if split and isinstance(parts, ast.Tuple | ast.List) else None
            bind(name, part, env)
