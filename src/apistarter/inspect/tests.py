"""The app's own tests: where they are and the fixtures its conftest files give."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from apistarter.inspect.report import Fixture, TestSuite
from apistarter.inspect.source import Module, qualified_name

TEST_DIRS = frozenset({"tests", "test"})
# Base classes of unittest suites (Flask-Testing's builds on unittest's).
_TEST_CASES = frozenset(
    {"unittest.TestCase", "unittest.IsolatedAsyncioTestCase", "flask_testing.TestCase"}
)


def is_test(relative: Path, module: Module) -> bool:
    """Whether a module holds tests: by where it is, its name, or unittest classes in it."""
    name = relative.name
    return (
        any(part in TEST_DIRS for part in relative.parts[:-1])
        or name in ("conftest.py", "tests.py")
        or name.startswith("test_")
        or name.endswith("_test.py")
        or any(
            qualified_name(base, module.imports) in _TEST_CASES
            for node in module.tree.body
            if isinstance(node, ast.ClassDef)
            for base in node.bases
        )
    )


def _fixtures(module: Module) -> Iterator[Fixture]:
    for node in module.tree.body:
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                func = decorator.func if isinstance(decorator, ast.Call) else decorator
                if (qualified_name(func, module.imports) or "").endswith("fixture"):
                    yield Fixture(name=node.name, evidence=module.at(node))


def _needs_pytest(module: Module) -> bool:
    """A conftest, a pytest import or a test function: only pytest runs these."""
    return (
        Path(module.path).name == "conftest.py"
        or any(name.split(".")[0] == "pytest" for name in module.imports.values())
        or any(
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name.startswith("test")
            for node in module.tree.body
        )
    )


def test_suite(root: Path, modules: list[Module]) -> TestSuite | None:
    tests = [m for m in modules if m.is_test]
    if not tests:
        return None
    folders = sorted({Path(m.path).parts[0] for m in tests if len(Path(m.path).parts) > 1})
    directory = next((f for f in folders if f in TEST_DIRS), folders[0] if folders else ".")
    fixtures = tuple(f for m in tests if m.path.endswith("conftest.py") for f in _fixtures(m))
    return TestSuite(
        directory=directory,
        files=sum(Path(m.path).name != "conftest.py" for m in tests),
        fixtures=fixtures,
        runner="pytest" if any(_needs_pytest(m) for m in tests) else "unittest",
    )
