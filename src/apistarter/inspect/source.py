"""A parsed module of the project, and the syntax helpers every reader shares."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from apistarter.inspect.report import Evidence


@dataclass
class Module:
    name: str
    path: str
    tree: ast.Module
    is_test: bool
    imports: dict[str, str] = field(default_factory=dict)

    def at(self, node: ast.AST) -> Evidence:
        return Evidence(file=self.path, line=getattr(node, "lineno", 1))


def imports_of(module: Module) -> dict[str, str]:
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


def qualified_name(node: ast.expr, names: dict[str, str]) -> str | None:
    """`flask.Flask` for `Flask` imported from flask, `os.environ.get` for that call, etc."""
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.Attribute):
        base = qualified_name(node.value, names)
        return f"{base}.{node.attr}" if base else None
    return None


def text_of(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def keyword_of(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def upper_strings(node: ast.expr | None) -> tuple[str, ...] | None:
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        texts = [text_of(item) for item in node.elts]
        if all(text is not None for text in texts):
            return tuple(text.upper() for text in texts if text is not None)
    return None


def assignments(body: Iterable[ast.stmt]) -> Iterator[tuple[str, ast.expr, ast.stmt]]:
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
                        yield from assignments(item.body)
                yield from assignments(s for s in inner if isinstance(s, ast.stmt))
