"""Where the app keeps state: its instance folder, SQLite files and database URLs."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from apistarter.inspect.report import Evidence, State
from apistarter.inspect.source import Module, qualified_name, text_of

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


def state_of(module: Module) -> Iterator[State]:
    # Strings that only begin a value built in code (`"sqlite:///" + path`, an f-string):
    # a URL's scheme there is followed by a file's path.
    prefixes = {
        id(part)
        for node in ast.walk(module.tree)
        for part in (
            node.values[:1]
            if isinstance(node, ast.JoinedStr)
            else [node.left]
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add)
            else []
        )
    }
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
            and qualified_name(node.func, module.imports) == "sqlite3.connect"
        ):
            target = text_of(node.args[0]) if node.args else None
            yield _sqlite("sqlite3.connect", target == ":memory:", module.at(node))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value.strip()
            url = _DATABASE_URL.match(text)
            if url and url["scheme"] == "sqlite":
                memory = text.endswith(":memory:") or (
                    text.rstrip("/") == "sqlite:" and id(node) not in prefixes
                )
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
