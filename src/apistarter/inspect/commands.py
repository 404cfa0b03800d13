"""The command-line commands the app defines, named as `flask` runs them.

Flask names a command by its group: the app's own commands stand alone (``flask
init-db``), a blueprint's sit under the blueprint's name unless its ``cli_group`` says
otherwise, and commands of a group (``app.cli.group()``, ``AppGroup("user")``) under
that group (``flask user create``). Flask-Migrate adds its ``db`` group.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from apistarter.inspect.report import Command
from apistarter.inspect.routes import APP_CLASSES, BLUEPRINT_CLASSES
from apistarter.inspect.source import Module, assignments, keyword_of, qualified_name, text_of

_GROUP_CLASSES = frozenset({"flask.cli.AppGroup", "click.Group", "click.group"})
_MIGRATE = "flask_migrate.Migrate"
# The command of Flask-Migrate's group that brings a database to the current schema.
MIGRATE_COMMAND = "db upgrade"


def _derived(function: str) -> str:
    # Click derives a name from the function: init_db_command -> init-db.
    return function.removesuffix("_command").removesuffix("_cmd").replace("_", "-")


def _groups(module: Module) -> dict[str, str]:
    """Local name -> the words `flask` puts before its commands ("" for the app's own)."""
    groups: dict[str, str] = {}
    for name, value, _ in assignments(module.tree.body):
        if not isinstance(value, ast.Call):
            continue
        constructor = qualified_name(value.func, module.imports)
        first = text_of(value.args[0]) if value.args else None
        if constructor in APP_CLASSES:
            groups[name] = ""
        elif constructor in BLUEPRINT_CLASSES:
            given = keyword_of(value, "cli_group")
            if isinstance(given, ast.Constant) and given.value is None:
                groups[name] = ""
            else:
                groups[name] = text_of(given) or first or name
        elif constructor in _GROUP_CLASSES:
            groups[name] = text_of(keyword_of(value, "name")) or first or name
    for node in module.tree.body:
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                parent = _parent(decorator, "group", module, groups)
                if parent is not None:
                    own = _named(decorator) or _derived(node.name)
                    groups[node.name] = f"{parent} {own}".strip()
    return groups


def _named(decorator: ast.expr) -> str | None:
    if not isinstance(decorator, ast.Call):
        return None
    return text_of(decorator.args[0]) if decorator.args else text_of(keyword_of(decorator, "name"))


def _parent(decorator: ast.expr, verb: str, module: Module, groups: dict[str, str]) -> str | None:
    """The group words of a `@X.cli.<verb>(...)`, `@G.<verb>(...)` or `@click.<verb>()`
    decorator, or None when it is not one."""
    func = decorator.func if isinstance(decorator, ast.Call) else decorator
    if not isinstance(func, ast.Attribute) or func.attr != verb:
        return None
    if qualified_name(func, module.imports) in (f"click.{verb}", f"flask.cli.{verb}"):
        return ""
    owner = func.value
    if isinstance(owner, ast.Attribute) and owner.attr == "cli":
        base = owner.value
        return groups.get(base.id, "") if isinstance(base, ast.Name) else ""
    if isinstance(owner, ast.Name) and owner.id in groups:
        return groups[owner.id]
    return None


def commands_of(module: Module) -> Iterator[Command]:
    groups = _groups(module)
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Call) and qualified_name(node.func, module.imports) == _MIGRATE:
            yield Command(name=MIGRATE_COMMAND, evidence=module.at(node))
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            parent = _parent(decorator, "command", module, groups)
            if parent is not None:
                name = _named(decorator) or _derived(node.name)
                yield Command(name=f"{parent} {name}".strip(), evidence=module.at(decorator))
