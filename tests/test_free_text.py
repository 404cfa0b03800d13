"""Free-text answers are written literally: quotes, backslashes, unicode and Jinja syntax."""

from __future__ import annotations

import ast
import tempfile
import tomllib
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from .harness import render_service

pytestmark = pytest.mark.slow

TRICKY = st.sampled_from(['"', "'", "\\", "{{ 7*7 }}", "{% if x %}", "${{ env }}", "é✓", "#", ":"])
# Control, format and separator characters are refused with a clear error (ProjectAnswers);
# everything else goes.
PRINTABLE = st.text(st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Zl", "Zp")), max_size=8)
FREE_TEXT = st.lists(st.one_of(TRICKY, PRINTABLE), max_size=6).map("".join)


@settings(
    max_examples=8,
    deadline=None,
    # Each example renders a project (about a second): report a failure without shrinking it.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(description=FREE_TEXT, author=FREE_TEXT)
def test_free_text_is_written_literally(
    description: str, author: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        monkeypatch.setenv("HOME", str(Path(tmp) / "home"))
        project = render_service(
            Path(tmp) / "svc", "fastapi", project={"description": description, "author": author}
        )
        pyproject = tomllib.loads((project / "pyproject.toml").read_text())
        assert pyproject["project"]["description"] == description
        if author:
            assert pyproject["project"]["authors"] == [{"name": author}]
        answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
        assert answers["description"] == description
        assert answers["author"] == author
        for path in project.rglob("*.py"):
            ast.parse(path.read_text(), filename=str(path))
        for path in project.rglob("*.y*ml"):
            yaml.safe_load(path.read_text())
        readme = (project / "README.md").read_text()
        assert description.strip() in readme
