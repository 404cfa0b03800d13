"""Imports of libraries that block the thread while they wait."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from apistarter.inspect.report import BlockingUse
from apistarter.inspect.source import Module
from apistarter.questions import BlockingDep

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


def blocking_uses(module: Module) -> Iterator[BlockingUse]:
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
