"""App strings reach generated files as data: whatever an adopted app names its routes,
commands and variables, every generated file still parses and none of it becomes code."""

from __future__ import annotations

import ast
import json
import re
import tempfile
import tomllib
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from tests.flask_examples import new_legacy, write_files

# What breaks out of a string, a comment, a docstring, a YAML or TOML value, a dotenv line.
_PIECES = [
    '"',
    "'",
    '"""',
    "\\",
    "\n",
    "\r",
    "#",
    "`",
    "{{",
    "}}",
    "{%",
    "$",
    ";",
    ":",
    " ",
    "a",
    "/",
]
# Code a string would run if it escaped its quotes.
_PAYLOAD = '__import__("pathlib").Path("escaped").touch()'
# A line of .env.example that sets something: one of the service's own settings.
_SETTING = re.compile(r"^[A-Z][A-Z0-9_]*=[\w./:,*-]*$")
hostile = st.lists(st.sampled_from([*_PIECES, _PAYLOAD]), min_size=1, max_size=12).map("".join)


def _app(text: str) -> str:
    """A Flask app whose route rule, command name and environment variable carry text."""
    return (
        "import os\nimport click\nfrom flask import Flask\napp = Flask(__name__)\n"
        f"TOKEN = os.environ.get({('PARTNER' + text)!r})\n"
        f"@app.get({('/api/x' + text.replace('<', '')).rstrip('/') + '/end'!r})\n"
        "def view():\n    return 'ok'\n"
        f"@app.cli.command({('init' + text)!r})\n"
        "def init():\n    click.echo('init')\n"
    )


def _executable(tree: ast.AST) -> bool:
    return any(
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "__import__"
        for node in ast.walk(tree)
    )


def _check_generated(project: Path) -> None:
    for path in sorted(project.rglob("*")):
        relative = path.relative_to(project)
        if relative.parts[0] in (".git", "legacy") or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".py":
            tree = ast.parse(text, filename=str(relative))
            assert not _executable(tree), f"{relative}: an app string became code"
        elif path.suffix in (".yaml", ".yml"):
            list(yaml.safe_load_all(text))
        elif path.suffix == ".toml":
            tomllib.loads(text)
        elif path.name == ".env.example":
            # The app's variable is listed in a comment; no part of it becomes a setting.
            for line in text.splitlines():
                assert not line or line.startswith("#") or _SETTING.match(line), (relative, line)


@pytest.mark.slow
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(text=hostile)
@example(text='"""; ' + _PAYLOAD + " #")
@example(text='"; ' + _PAYLOAD + " #")
@example(text="\n" + _PAYLOAD)
def test_hostile_app_strings_stay_data_in_every_generated_file(text: str) -> None:
    with tempfile.TemporaryDirectory() as work:
        source = write_files(Path(work) / "api", {"service.py": _app(text)})
        code, stdout, stderr = new_legacy(Path(work) / "svc", source)
        assert code == 0, stderr
        project = Path(json.loads(stdout)["directory"])
        _check_generated(project)
        assert not (project / "escaped").exists()


# What breaks out of a Markdown code span, table cell, list item or heading, or becomes
# HTML or a link there.
_MARKDOWN_PIECES = [
    "`",
    "``",
    "|",
    "<b>x</b>",
    "<",
    ">",
    "*",
    "_",
    "[a](http://e.x)",
    "![i](j)",
    "<http://e.x>",
    "\n",
    "\r",
    "\n# h\n",
    "\n- l",
    "- ",
    "# ",
    "1. ",
    "&lt;",
    "\\",
    " ",
    "a",
    "~~",
    "$",
]
markdown_hostile = st.lists(st.sampled_from(_MARKDOWN_PIECES), min_size=1, max_size=10).map("".join)
_MARKDOWN = MarkdownIt("commonmark").enable("table")


def _harmless(text: str) -> str:
    """``text`` with every character Markdown could read as markup replaced by ``%``; the
    characters a command name or a path may hold kept, so the app has the same findings."""
    return re.sub(r"[^A-Za-z0-9_.:/-]", "%", text)


def _structure(markdown: str) -> list[tuple[str, str, int, tuple[str, ...]]]:
    """The parsed document's blocks, each inline one with the kinds of its parts (runs of
    text as one): what a value that stays data never changes."""
    shape: list[tuple[str, str, int, tuple[str, ...]]] = []
    for token in _MARKDOWN.parse(markdown):
        kinds: list[str] = []
        for child in token.children or []:
            if not (child.type == "text" and kinds and kinds[-1] == "text"):
                kinds.append(child.type)
        shape.append((token.type, token.tag, token.nesting, tuple(kinds)))
    return shape


def _markdown_of(work: Path, text: str) -> dict[str, str]:
    """The Markdown files `new --legacy` writes for an app carrying ``text`` in its route
    rule, command name, variable name and folder's name."""
    source = write_files(work / ("api" + text.replace("/", "")), {"service.py": _app(text)})
    code, stdout, stderr = new_legacy(work / "svc", source)
    assert code == 0, stderr
    project = Path(json.loads(stdout)["directory"])
    return {
        str(path.relative_to(project)): path.read_text(encoding="utf-8")
        for path in sorted(project.rglob("*.md"))
        if not {"legacy", ".git"} & set(path.relative_to(project).parts)
    }


@pytest.mark.slow
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=markdown_hostile)
@example(text="`<b>x</b>|\n# h\n- l [a](http://e.x)")
@example(text="\\`` | *")
def test_hostile_app_strings_keep_the_markdown_structure(text: str) -> None:
    with tempfile.TemporaryDirectory() as hostile, tempfile.TemporaryDirectory() as harmless:
        rendered = _markdown_of(Path(hostile), text)
        expected = _markdown_of(Path(harmless), _harmless(text))
    assert rendered.keys() == expected.keys()
    for name, markdown in rendered.items():
        # Same blocks, same inline parts: no HTML, link or image more than the template's.
        assert _structure(markdown) == _structure(expected[name]), name
