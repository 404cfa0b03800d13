"""Declared requirements and the Python constraint, from the packaging files."""

from __future__ import annotations

import ast
import configparser
import re
import tomllib
from collections.abc import Iterable
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from apistarter.inspect.reader import Reader
from apistarter.inspect.report import Dependency, Evidence, IndexOption
from apistarter.inspect.source import text_of
from apistarter.resolve import INDEX_OPTIONS, masked

_REQUIREMENT_FILES = (
    "requirements*.txt",
    "requirements/*.txt",
    "*-requirements.txt",
    "*_requirements.txt",
)


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
) -> tuple[list[Dependency], list[IndexOption], tuple[str, Evidence] | None, list[str]]:
    """Requirements, the requirement files' index options and the Python constraint from
    pyproject.toml, setup.cfg, setup.py and requirements files."""
    dependencies: list[Dependency] = []
    indexes: list[IndexOption] = []
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
            add(texts, group_of(extra), "pyproject.toml", lines)
        for name, entries in _dependency_groups(text).items():
            add(entries, group_of(name), "pyproject.toml", lines)
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
    seen: set[Path] = set()
    for path in _requirement_files(root):
        if path.resolve() in seen:
            continue  # already read through another file's -r: its entries are there
        chain = _RequirementChain(reader, _file_group(path), seen, skipped, indexes)
        dependencies.extend(chain.read(path, via=(), constraint=False, stack=()))
    return dependencies, indexes, python, skipped


# requirements/base.txt, prod.txt and the like are what the app runs with; dev and test
# files (requirements-dev.txt, dev-requirements.txt, requirements/test.txt, a `test`
# extra) what its development and tests need.
_GROUPS = {
    **{name: "main" for name in ("", "base", "common", "prod", "production", "main")},
    **{name: "dev" for name in ("dev", "develop", "development", "test", "tests", "testing")},
}


def group_of(name: str) -> str:
    """The group of a requirement file's or an extra's name: main, dev, or the name."""
    return _GROUPS.get(name.lower(), name)


def _dependency_groups(text: str) -> dict[str, list[str]]:
    """A pyproject's [dependency-groups] (PEP 735): each group's requirement strings (an
    {include-group = ...} entry names another group, read there)."""
    try:
        groups = tomllib.loads(text).get("dependency-groups", {})
    except tomllib.TOMLDecodeError:
        return {}  # already reported with [project]
    if not isinstance(groups, dict):
        return {}
    return {
        str(name): [entry for entry in entries if isinstance(entry, str)]
        for name, entries in groups.items()
        if isinstance(entries, list)
    }


# Options that name another file: -r adds its requirements, -c its constraints.
_INCLUDES = {"-r": False, "--requirement": False, "-c": True, "--constraint": True}
# pip's short names for the index options.
_SHORT = {"-i": "--index-url", "-f": "--find-links"}
# An option line: `--name value`, `--name=value`, `-i value` or `-ivalue`.
_OPTION = re.compile(r"(--[a-z-]+|-[a-zA-Z])(?:\s*=\s*|\s+)?(.*)")
# A pip-compile annotation: the packages (or -r files) a pin is there for.
_VIA = re.compile(r"^\s*via\b(.*)")


def _file_group(path: Path) -> str:
    return group_of(path.stem.replace("requirements", "", 1).strip("-_."))


def _requirement_files(root: Path) -> list[Path]:
    """The requirement files at the app's root and in requirements/: requirements.txt,
    then the other main files, then the rest (a dev file's -r of a main file then finds
    that file read, as main)."""
    found = sorted({p for pattern in _REQUIREMENT_FILES for p in root.glob(pattern)})
    return sorted(found, key=lambda p: (p != root / "requirements.txt", _file_group(p) != "main"))


def _logical_lines(text: str) -> list[tuple[int, str, str]]:
    """(first line number, entry, comment) per logical line: continuations joined, and the
    comment lines under an entry (pip-compile's multi-line `# via`) added to its comment."""
    lines: list[tuple[int, str, str]] = []
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not pending:
            start = number
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        line, pending = pending + raw, ""
        entry, _, comment = (" " + line).partition(" #")
        entry = entry.strip()
        if line.lstrip().startswith("#"):
            entry, comment = "", line.lstrip()[1:]
        if not entry and lines and raw[:1].isspace():
            first, previous, annotation = lines[-1]
            lines[-1] = (first, previous, f"{annotation} {comment.strip()}".strip())
        elif entry:
            lines.append((start, entry, comment.strip()))
    return lines


def _transitive(comment: str) -> bool:
    """A pip-compile pin that is there for other packages only, not asked for by a -r file."""
    via = _VIA.search(comment)
    return via is not None and not re.search(r"(^|\s)-r\s", via.group(1))


class _RequirementChain:
    """Reads one requirement file and the files its -r/-c lines name, inside the app."""

    def __init__(
        self,
        reader: Reader,
        group: str,
        seen: set[Path],
        skipped: list[str],
        indexes: list[IndexOption],
    ) -> None:
        self.reader = reader
        self.group = group
        self.seen = seen
        self.skipped = skipped
        self.indexes = indexes

    def read(
        self, path: Path, via: tuple[Evidence, ...], constraint: bool, stack: tuple[Path, ...]
    ) -> list[Dependency]:
        root = self.reader.root
        self.seen.add(path.resolve())
        file = path.relative_to(root).as_posix()
        found: list[Dependency] = []
        for number, entry, comment in _logical_lines(self.reader.text(path) or ""):
            option, _, target = entry.replace("=", " ", 1).partition(" ")
            if option[:2] in ("-r", "-c") and option not in _INCLUDES:
                option, target = option[:2], option[2:]  # -rfile, as pip reads it
            if option in _INCLUDES:
                here = Evidence(file=file, line=number)
                included = self._included(path, target.strip(), here, stack)
                if included is not None:
                    found += self.read(
                        included,
                        (*via, here),
                        constraint or _INCLUDES[option],
                        (*stack, path.resolve()),
                    )
                continue
            if entry.startswith("-"):
                self._index_option(path, entry, Evidence(file=file, line=number))
                continue  # -e and other options: not requirements
            requirement = entry.split(" --")[0].strip()  # --hash and per-line options
            dependency = _dependency(requirement, self.group, file, number)
            if dependency is not None:
                found.append(
                    dependency.model_copy(
                        update={"via": via, "constraint": constraint or _transitive(comment)}
                    )
                )
        return found

    def _index_option(self, path: Path, entry: str, here: Evidence) -> None:
        """Record an index option line (--index-url, --find-links, ...), if it is one."""
        found = _OPTION.fullmatch(entry)
        if found is None:
            return
        option = _SHORT.get(found.group(1), found.group(1))
        if option not in INDEX_OPTIONS:
            return
        value = found.group(2).strip()
        if option == "--find-links" and value and "://" not in value:
            value = str((path.parent / value).resolve())  # pip reads it from the file's folder
        index = IndexOption(
            option=option, value=value, shown=masked(found.group(2).strip()), evidence=here
        )
        if index not in self.indexes:  # a file read again through another file's -r
            self.indexes.append(index)

    def _included(
        self, path: Path, target: str, here: Evidence, stack: tuple[Path, ...]
    ) -> Path | None:
        """The file a -r/-c line names, or None (and a line in skipped) when not read."""
        root = self.reader.root
        if not target or "://" in target:
            self.skipped.append(f"{here}: {target or 'no file'} not read (not a file of the app)")
            return None
        included = (path.parent / target).resolve()
        if included != root and root.resolve() not in included.parents:
            self.skipped.append(f"{here}: {target} is outside the app, not read")
            return None
        if included in (*stack, path.resolve()):
            self.skipped.append(f"{here}: {target} includes itself (a cycle), not read again")
            return None
        if not included.is_file():
            self.skipped.append(f"{here}: {target} does not exist, not read")
            return None
        return included


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
