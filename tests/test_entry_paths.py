"""Every way an answer reaches apistarter judges it alike.

A value is accepted or refused the same by `--set`, an answers file, a policy file,
the JSON Schema (`apistarter questions --schema`) and, for the questions plain Copier
asks, copier.yml's validators. The interactive prompts validate with the same
parse_answers the files and flags go through (tests/test_interactive.py drives them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from apistarter.cli import app
from apistarter.questions import (
    _IMPORT_PATH,
    MAX_DOWNSTREAM_DELAY_MS,
    PACKAGE_NAME_PATTERN,
    PROJECT_NAME_PATTERN,
    RESERVED_PACKAGE_NAMES,
    answers_schema,
)

from .test_copier_questions import copier_refuses

runner = CliRunner()
SCHEMA = jsonschema.Draft202012Validator(answers_schema())
# What hostile or careless input looks like at the edges of each rule.
EDGES = st.sampled_from(
    [
        "\n",
        "\r\n",
        " ",
        "\t",
        "\u202e",
        "\u2028",
        "\u2029",
        "\u200b",
        "\u200d",
        "\x85",
        "\x00",
        "[/]",
    ]
)


def _names(pattern: Any) -> st.SearchStrategy[str]:
    valid = st.from_regex(pattern, fullmatch=True).filter(lambda name: len(name) <= 60)
    return st.one_of(
        valid,
        st.tuples(valid, EDGES).map("".join),
        st.sampled_from(sorted(RESERVED_PACKAGE_NAMES)),
        st.text(max_size=12),
    )


def _free_text() -> st.SearchStrategy[str]:
    return st.lists(st.one_of(EDGES, st.text(max_size=6)), max_size=5).map("".join)


VALUES = st.one_of(
    st.tuples(st.just("project_name"), _names(PROJECT_NAME_PATTERN)),
    st.tuples(st.just("package_name"), _names(PACKAGE_NAME_PATTERN)),
    st.tuples(st.just("legacy_app"), _names(_IMPORT_PATH)),
    st.tuples(st.sampled_from(["description", "author"]), _free_text()),
    st.tuples(
        st.just("downstream_latency_ms"),
        st.integers(-2, MAX_DOWNSTREAM_DELAY_MS + 2) | st.integers(-(10**7), 10**7),
    ),
)


def _decide(tmp_path: Path, *args: str) -> bool:
    """Whether `apistarter decide` takes the answers (0) or refuses them (2)."""
    result = runner.invoke(app, ["decide", "--defaults", "--json", *args])
    assert result.exit_code in (0, 2), result.output
    assert "Traceback" not in result.output
    return result.exit_code == 0


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(VALUES)
def test_every_entry_path_accepts_or_refuses_a_value_alike(
    tmp_path_factory: pytest.TempPathFactory, item: tuple[str, Any]
) -> None:
    key, value = item
    directory = tmp_path_factory.mktemp("answers")
    answers = directory / "answers.yml"
    answers.write_text(yaml.safe_dump({key: value}), encoding="utf-8")
    policy = directory / "policy.yml"
    policy.write_text(yaml.safe_dump({"defaults": {key: value}}), encoding="utf-8")
    verdicts = {
        "--set": _decide(directory, "--set", f"{key}={value}"),
        "answers file": _decide(directory, "--answers", str(answers)),
        "policy": _decide(directory, "--preset", str(policy)),
        "JSON Schema": SCHEMA.is_valid({key: value}),
    }
    if key in ("project_name", "package_name", "description", "author", "legacy_app"):
        verdicts["copier.yml"] = not copier_refuses({key: value})
    assert len(set(verdicts.values())) == 1, (key, value, verdicts)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("project_name", "orders-api\n"),
        ("package_name", "orders_api\n"),
        ("package_name", "uvicorn_worker"),
        ("project_name", "tests"),
        ("description", "Takes orders.\u202e"),
        ("author", "team\u2028orders"),
        ("downstream_latency_ms", MAX_DOWNSTREAM_DELAY_MS + 1),
    ],
)
def test_values_the_service_cannot_take_are_refused_everywhere(key: str, value: Any) -> None:
    assert not SCHEMA.is_valid({key: value})
    result = runner.invoke(app, ["decide", "--defaults", "--set", f"{key}={value}"])
    assert result.exit_code == 2
    assert key in result.stderr
    if key != "downstream_latency_ms":
        assert copier_refuses({key: value})
