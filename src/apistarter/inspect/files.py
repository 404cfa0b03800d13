"""Which of the project's files are read, and reading them into syntax trees."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from apistarter.inspect.reader import Reader
from apistarter.inspect.source import Module, imports_of
from apistarter.inspect.tests import is_test

_SKIPPED_DIRS = frozenset(
    {"__pycache__", "node_modules", "build", "dist", "site-packages", "venv", "env"}
)


def _python_files(root: Path) -> Iterator[Path]:
    """The project's Python files, leaving out virtualenvs, builds and hidden folders."""
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts[:-1]
        if any(part.startswith(".") or part in _SKIPPED_DIRS for part in parts):
            continue
        if any((root.joinpath(*parts[: i + 1]) / "pyvenv.cfg").exists() for i in range(len(parts))):
            continue
        yield path


def _module_name(root: Path, path: Path) -> str | None:
    """The import name of a file, with a src/ layout's src/ left out; None if not importable."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[0] == "src" and len(parts) > 1:
        parts = parts[1:]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    if not parts or not all(part.isidentifier() for part in parts):
        return None
    return ".".join(parts)


def packages_of(root: Path, code: list[Module]) -> tuple[str, ...]:
    found = set()
    for module in code:
        parts = Path(module.path).parts
        top = parts[:2] if parts[0] == "src" and len(parts) > 1 else parts[:1]
        path = Path(*top)
        if path.suffix == ".py" or (root / path / "__init__.py").is_file():
            found.add(path.as_posix())
    return tuple(sorted(found))


def load_modules(reader: Reader) -> tuple[list[Module], list[str]]:
    root = reader.root
    modules: list[Module] = []
    skipped: list[str] = []
    for path in _python_files(root):
        relative = path.relative_to(root)
        name = _module_name(root, path)
        if name is None or relative.name == "setup.py":
            continue
        source = reader.read(path)
        if source is None:
            continue
        try:
            tree = ast.parse(source, filename=str(relative))
        except (SyntaxError, ValueError) as error:
            skipped.append(f"{relative.as_posix()}: not Python 3 ({error.__class__.__name__})")
            continue
        module = Module(name, relative.as_posix(), tree, False)
        module.imports = imports_of(module)
        module.is_test = is_test(relative, module)
        modules.append(module)
    return modules, skipped
