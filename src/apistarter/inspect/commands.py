"""The command-line commands the app defines (``flask NAME``)."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from apistarter.inspect.report import Command
from apistarter.inspect.source import Module, qualified_name, text_of


def commands_of(module: Module) -> Iterator[Command]:
    for node in ast.walk(module.tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            if not isinstance(decorator, ast.Call):
                continue
            func = qualified_name(decorator.func, module.imports) or ""
            if func in ("click.command", "flask.cli.command") or (
                isinstance(decorator.func, ast.Attribute)
                and decorator.func.attr == "command"
                and isinstance(decorator.func.value, ast.Attribute)
                and decorator.func.value.attr == "cli"
            ):
                name = text_of(decorator.args[0]) if decorator.args else None
                # Click derives a name from the function: init_db_command -> init-db.
                derived = node.name.removesuffix("_command").removesuffix("_cmd").replace("_", "-")
                yield Command(name=name or derived, evidence=module.at(decorator))
