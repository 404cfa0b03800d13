"""What the app needs at run time beyond serving: a log folder, a stdout-logging switch,
compiled translations, a task-queue worker. Each with the command that provides it."""

from __future__ import annotations

import ast
import shlex
from collections.abc import Iterator
from pathlib import Path

from apistarter.inspect.report import Evidence, RunTimeNeed
from apistarter.inspect.source import Module, assignments, qualified_name, text_of

_FILE_HANDLERS = frozenset(
    {
        "logging.FileHandler",
        "logging.handlers.RotatingFileHandler",
        "logging.handlers.TimedRotatingFileHandler",
        "logging.handlers.WatchedFileHandler",
    }
)
_ENV_READS = frozenset({"os.environ.get", "os.getenv", "os.environ.__getitem__"})
# Folders never searched for translations (the app's environment, not its code).
_NOT_CODE = frozenset({".git", ".venv", "venv", "node_modules", "__pycache__"})


def _path_text(node: ast.expr) -> str:
    """A literal path as written, or the expression that builds it."""
    return text_of(node) or ast.unparse(node)


def needs_of(module: Module) -> Iterator[RunTimeNeed]:
    """Log files, stdout switches and task queues one module of the app's code declares."""
    for node in ast.walk(module.tree):
        if not isinstance(node, ast.Call):
            continue
        name = qualified_name(node.func, module.imports)
        if name in _FILE_HANDLERS and node.args:
            path = _path_text(node.args[0])
            yield RunTimeNeed(
                kind="log-folder",
                detail=f"writes its log to {path}: the image's root is read-only, so that "
                "folder must be writable (under the instance folder) or the log go to stdout",
                command="",
                evidence=module.at(node),
            )
        elif name in _ENV_READS and node.args:
            variable = text_of(node.args[0])
            if variable and "STDOUT" in variable.upper():
                yield RunTimeNeed(
                    kind="stdout-logging",
                    detail=f"{variable} switches its logs to stdout, where the platform "
                    "collects them",
                    command=f"{variable}=1",
                    evidence=module.at(node),
                )
    for name, value, statement in assignments(module.tree.body):
        constructor = (
            qualified_name(value.func, module.imports) if isinstance(value, ast.Call) else None
        )
        if constructor == "celery.Celery":
            yield RunTimeNeed(
                kind="task-worker",
                detail="Celery tasks run in a worker process of their own",
                command=f"celery -A {module.name}:{name} worker --loglevel=INFO",
                evidence=module.at(statement),
            )
        elif constructor == "rq.Queue":
            queue = text_of(value.args[0]) if isinstance(value, ast.Call) and value.args else None
            yield RunTimeNeed(
                kind="task-worker",
                detail="RQ jobs run in a worker process of their own",
                command=f"rq worker {queue or 'default'}",
                evidence=module.at(statement),
            )


def translations_of(root: Path, modules: list[Module]) -> Iterator[RunTimeNeed]:
    """Flask-Babel catalogs shipped as .po sources without their compiled .mo files."""
    babel = next(
        (
            module
            for module in modules
            if any(v.startswith("flask_babel") for v in module.imports.values())
        ),
        None,
    )
    if babel is None:
        return
    folders: set[str] = set()
    for source in root.rglob("*.po"):
        relative = source.relative_to(root)
        if set(relative.parts) & _NOT_CODE or source.is_symlink():
            continue
        if not source.with_suffix(".mo").exists() and len(relative.parts) >= 4:
            # <folder>/<language>/LC_MESSAGES/<domain>.po
            folders.add(Path(*relative.parts[:-3]).as_posix())
    for folder in sorted(folders):
        yield RunTimeNeed(
            kind="translations",
            detail=f"Flask-Babel reads compiled .mo catalogs; {folder} has only .po sources",
            command=f"pybabel compile -d {shlex.quote(folder)}",
            evidence=Evidence(file=babel.path, line=1),
        )
