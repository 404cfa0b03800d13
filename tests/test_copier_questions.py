"""Plain `copier copy` users get the name rules `apistarter new` applies.

copier.yml validates names in Jinja for people who run Copier directly; apistarter
validates them in questions.py. The two can only drift apart by editing one of them,
which these tests catch.
"""

from __future__ import annotations

import re
from pathlib import Path

import copier
import pytest
import yaml

from apistarter.questions import PACKAGE_NAME_PATTERN, PROJECT_NAME_PATTERN
from apistarter.render import templates_dir

VALIDATOR_PATTERN = re.compile(r"regex_search\('([^']*)'\)")


@pytest.mark.parametrize(
    ("question", "pattern"),
    [
        ("project_name", PROJECT_NAME_PATTERN.pattern),
        ("package_name", PACKAGE_NAME_PATTERN.pattern),
    ],
)
def test_copier_validates_names_with_the_pattern_apistarter_uses(
    question: str, pattern: str
) -> None:
    questions = yaml.safe_load((templates_dir() / "copier.yml").read_text())
    assert VALIDATOR_PATTERN.findall(questions[question]["validator"]) == [pattern]


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"project_name": "Orders_API"}, "Use lowercase letters, digits and single hyphens"),
        ({"project_name": "orders-api", "package_name": "9orders"}, "underscores"),
    ],
)
def test_plain_copier_refuses_a_bad_name_and_writes_nothing(
    tmp_path: Path, answers: dict[str, str], message: str
) -> None:
    destination = tmp_path / "svc"
    with pytest.raises(ValueError, match=message):
        copier.run_copy(str(templates_dir()), destination, data=answers, defaults=True, quiet=True)
    assert not destination.exists() or not any(destination.iterdir())
