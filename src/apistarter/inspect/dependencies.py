"""Declared requirements and the Python constraint, from the packaging files."""

from __future__ import annotations

import ast
import configparser
import tomllib
from collections.abc import Iterable
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from apistarter.inspect.reader import Reader
from apistarter.inspect.report import Dependency, Evidence
from apistarter.inspect.source import text_of

_REQUIREMENT_FILES = ("requirements*.txt", "requirements/*.txt")


def _line_of(lines: list[str], text: str) -> int:
    """The first line holding `text` (tomllib and configparser keep no line numbers)."""
    return next((i for i, line in enumerate(lines, 1) if text in line), 1)


def _dependency(text: str, group: str, file: str, line: int) -> Dependency | None:
    try:
        requirement = Requirement(text)
    except InvalidRequirement:
        return None
    return Dependency(
        requirement=str(requirement), group=group, evidence=Evidence(file=file, line=line)
    )


def packaging_of(
    reader: Reader,
) -> tuple[list[Dependency], tuple[str, Evidence] | None, list[str]]:
    """Requirements and the Python constraint from pyproject.toml, setup.cfg, setup.py and
    requirements files."""
    dependencies: list[Dependency] = []
    python: tuple[str, Evidence] | None = None
    skipped: list[str] = []

    def add(texts: Iterable[str], group: str, file: str, lines: list[str]) -> None:
        for text in texts:
            found = _dependency(text, group, file, _line_of(lines, text))
            if found:
                dependencies.append(found)

    root = reader.root
    text = _present(reader, root / "pyproject.toml")
    if text is not None:
        lines = text.splitlines()
        try:
            project = tomllib.loads(text).get("project", {})
        except tomllib.TOMLDecodeError as error:
            skipped.append(f"pyproject.toml: not valid TOML ({error})")
            project = {}
        add(project.get("dependencies", []), "main", "pyproject.toml", lines)
        for extra, texts in project.get("optional-dependencies", {}).items():
            add(texts, extra, "pyproject.toml", lines)
        if isinstance(project.get("requires-python"), str):
            constraint = project["requires-python"]
            python = (
                constraint,
                Evidence(file="pyproject.toml", line=_line_of(lines, "requires-python")),
            )
    text = _present(reader, root / "setup.cfg")
    if text is not None:
        lines = text.splitlines()
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(text)
        except configparser.Error as error:
            skipped.append(f"setup.cfg: not readable ({error})")
        if parser.has_option("options", "install_requires"):
            entries = parser.get("options", "install_requires").splitlines()
            add((e.strip() for e in entries if e.strip()), "main", "setup.cfg", lines)
        if python is None and parser.has_option("options", "python_requires"):
            constraint = parser.get("options", "python_requires").strip()
            python = constraint, Evidence(file="setup.cfg", line=_line_of(lines, "python_requires"))
    text = _present(reader, root / "setup.py")
    if text is not None:
        found_python = _setup_py(text, dependencies)
        python = python or found_python
    for pattern in _REQUIREMENT_FILES:
        for path in sorted(root.glob(pattern)):
            file = path.relative_to(root).as_posix()
            group = path.stem.removeprefix("requirements").strip("-_.") or "main"
            text = reader.text(path)
            for number, line in enumerate((text or "").splitlines(), 1):
                entry = line.split(" #")[0].strip()
                if entry and not entry.startswith(("#", "-")):
                    found = _dependency(entry, group, file, number)
                    if found:
                        dependencies.append(found)
    return dependencies, python, skipped


def _present(reader: Reader, path: Path) -> str | None:
    """A packaging file's text; None when there is none, or it is not read."""
    return reader.text(path) if path.exists() or path.is_symlink() else None


def _setup_py(text: str, dependencies: list[Dependency]) -> tuple[str, Evidence] | None:
    """install_requires and python_requires given as literals to setup(), read as a tree."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    python = None
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and ast.unparse(node.func).endswith("setup")):
            continue
        for keyword in node.keywords:
            if keyword.arg == "install_requires" and isinstance(
                keyword.value, ast.List | ast.Tuple
            ):
                for item in keyword.value.elts:
                    entry = text_of(item)
                    found = _dependency(entry, "main", "setup.py", item.lineno) if entry else None
                    if found:
                        dependencies.append(found)
            elif keyword.arg == "python_requires" and text_of(keyword.value):
                python = (
                    text_of(keyword.value) or "",
                    Evidence(file="setup.py", line=keyword.value.lineno),
                )
    return python
