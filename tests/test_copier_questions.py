"""Plain `copier copy` users get the rules `apistarter new` applies.

copier.yml validates names and free text in Jinja for people who run Copier directly;
apistarter validates them in questions.py. The two can only drift apart by editing one
of them, which these tests catch (tests/test_entry_paths.py holds them to each other
value by value).
"""

from __future__ import annotations

import codecs
import re
import subprocess
import sys
import tomllib
import unicodedata
from pathlib import Path
from typing import Any

import copier
import jinja2_ansible_filters  # type: ignore[import-untyped]
import pytest
import yaml
from jinja2.sandbox import SandboxedEnvironment

from apistarter.questions import (
    _IMPORT_PATH,
    FREE_TEXT_PATTERN,
    MAX_DOWNSTREAM_DELAY_MS,
    PACKAGE_NAME_PATTERN,
    PROJECT_NAME_PATTERN,
    RESERVED_PACKAGE_NAMES,
    SERVICE_LIMITS,
    AnswerError,
    DecisionAnswers,
    Framework,
    parse_answers,
    whole,
)
from apistarter.render import templates_dir
from bench.runtime import installed_python

from .harness import make_venv, pip_install, render_service

VALIDATOR_PATTERN = re.compile(r"regex_search\('([^']*)'\)")
COPIER_YML: dict[str, Any] = yaml.safe_load((templates_dir() / "copier.yml").read_text())
_JINJA = SandboxedEnvironment(extensions=[jinja2_ansible_filters.AnsibleCoreFiltersExtension])


def copier_refuses(answers: dict[str, str]) -> bool:
    """Whether copier.yml's validators refuse these answers, rendered as Copier renders them.

    A package name left out (or empty, apistarter's way to say so) is derived from the
    project name, as copier.yml's default does.
    """
    context: dict[str, Any] = {
        key: COPIER_YML[key]["default"] for key in ("reserved_package_names", "free_text_pattern")
    }
    context.update({key: value for key, value in answers.items() if value or key != "package_name"})
    project_name = context.setdefault("project_name", COPIER_YML["project_name"]["default"])
    context.setdefault("package_name", project_name.replace("-", "_"))
    return any(
        _JINJA.from_string(COPIER_YML[key]["validator"]).render(context).strip()
        for key in context
        if "validator" in COPIER_YML.get(key, {})
    )


@pytest.mark.parametrize(
    ("question", "pattern"),
    [
        ("project_name", PROJECT_NAME_PATTERN),
        ("package_name", PACKAGE_NAME_PATTERN),
        ("legacy_app", _IMPORT_PATH),
    ],
)
def test_copier_validates_names_with_the_pattern_apistarter_uses(
    question: str, pattern: re.Pattern[str]
) -> None:
    (literal,) = VALIDATOR_PATTERN.findall(COPIER_YML[question]["validator"])
    # Jinja reads backslash escapes in its string literals, as Python's unicode_escape does.
    assert codecs.decode(literal, "unicode_escape") == whole(pattern)


def test_copier_reserves_the_names_apistarter_reserves() -> None:
    assert COPIER_YML["reserved_package_names"]["default"] == sorted(RESERVED_PACKAGE_NAMES)


def test_every_decision_answer_is_a_copier_question_that_refuses_plain_copier() -> None:
    """copier.yml's decision inputs (tests/test_plain_copier_update.py runs them)."""
    refusal = COPIER_YML["api_consumers"]["validator"]
    listed = set(re.findall(r"'(\w+)'", refusal))
    questions = {
        key
        for key, question in COPIER_YML.items()
        if isinstance(question, dict) and question.get("validator") == refusal
    }
    # Decision answers that are Copier questions of their own (deploy names the deploy
    # plan, server the server plan; database is asked) refuse a plan change with
    # validators of their own.
    own = {
        key
        for key in DecisionAnswers.model_fields
        if key not in questions and COPIER_YML.get(key, {}).get("validator")
    }
    assert own == {"deploy", "database", "server"}
    assert listed == questions == set(DecisionAnswers.model_fields) - own


def test_copier_limits_are_apistarters() -> None:
    assert COPIER_YML["limits"]["default"] == SERVICE_LIMITS


def test_free_text_refuses_exactly_control_format_and_separator_characters() -> None:
    """One pass over every code point: the written-out class is what unicodedata says,
    and copier.yml's pattern refuses the same characters as apistarter's."""
    copier_pattern = re.compile(COPIER_YML["free_text_pattern"]["default"])
    joiners = {"\u200c", "\u200d"}
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        refused = FREE_TEXT_PATTERN.fullmatch(char) is None
        assert refused == (copier_pattern.search(char) is None), hex(code)
        category = unicodedata.category(char)
        if category in ("Cc", "Cf", "Cs", "Zl", "Zp") and char not in joiners:
            assert refused, hex(code)
        elif category != "Cn":  # unassigned in this Python's Unicode may be assigned later
            assert not refused, hex(code)


# Every plan's dependencies between them: each framework, both gunicorn worker kinds with
# their extras (gevent; uvicorn-worker), Granian, and both deploy validator groups.
_PLANS: list[tuple[Framework, dict[str, Any]]] = [
    ("fastapi", {"deploy": "vm"}),
    ("fastapi", {"server": "granian"}),
    ("flask", {"peak_concurrency": 2000, "deploy": "compose"}),
    ("flask", {"deploy": "vm"}),
    ("hybrid", {}),
    ("fastapi", {"database": "postgresql"}),
    ("flask", {"database": "postgresql", "peak_concurrency": 2000}),
]
# Lists the top-level import names of every distribution in the environment it runs in.
_LIST_IMPORTS = "import importlib.metadata as m; print(*sorted(m.packages_distributions()))"


@pytest.mark.slow
def test_reserved_names_hold_every_module_a_service_installs(tmp_path: Path) -> None:
    """The source of questions._DEPENDENCY_IMPORTS: what a service's own environment holds.

    A fresh `python3.12 -m venv` (the interpreter services are made for; its pip comes
    with it), with every plan's runtime dependencies, dev extra and dependency groups
    installed from the package index as a user's `pip install` resolves them, transitive
    ones included (pytest's pluggy and iniconfig, locust's requests). Each top-level import
    name found there is one a package of that name would shadow.
    """
    python = installed_python("3.12")
    if python is None:
        pytest.skip("needs Python 3.12, the interpreter services are made for")
    requirements: set[str] = set()
    for index, (framework, answers) in enumerate(_PLANS):
        project = render_service(tmp_path / f"svc{index}", framework, answers)
        declared = tomllib.loads((project / "pyproject.toml").read_text())
        requirements.update(declared["project"]["dependencies"])
        for extra in declared["project"]["optional-dependencies"].values():
            requirements.update(extra)
        for group in declared.get("dependency-groups", {}).values():
            requirements.update(group)
    bin_dir = make_venv(tmp_path / "venv", python)
    pip_install(bin_dir, *sorted(requirements))
    listed = subprocess.run(
        [str(bin_dir / "python"), "-c", _LIST_IMPORTS],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    installed = {name for name in listed if PACKAGE_NAME_PATTERN.fullmatch(name)}

    missing = installed - RESERVED_PACKAGE_NAMES
    assert not missing, f"add to questions._DEPENDENCY_IMPORTS: {sorted(missing)}"


@pytest.mark.parametrize("name", ["pluggy", "iniconfig", "requests", "pip"])
def test_a_name_a_services_tools_import_is_refused_by_apistarter_and_copier(name: str) -> None:
    """The attack: package_name=pluggy rendered a service whose own pytest could not start."""
    with pytest.raises(AnswerError, match="shadow"):
        parse_answers({"project_name": "orders-api", "package_name": name}, "answers")
    assert copier_refuses({"project_name": "orders-api", "package_name": name})


def test_reserved_names_hold_the_stdlib_and_the_test_packages() -> None:
    stdlib = {name for name in sys.stdlib_module_names if PACKAGE_NAME_PATTERN.fullmatch(name)}
    assert stdlib | {"test", "tests"} <= RESERVED_PACKAGE_NAMES


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"project_name": "Orders_API"}, "Use lowercase letters, digits and single hyphens"),
        ({"project_name": "orders-api\n"}, "Use lowercase letters, digits and single hyphens"),
        ({"project_name": "orders-api", "package_name": "9orders"}, "underscores"),
        ({"project_name": "orders-api", "package_name": "uvicorn_worker"}, "would shadow"),
        ({"project_name": "test"}, "would shadow"),
        ({"description": "pay \u202eevil"}, "invisible formatting"),
        ({"author": "a\u2028b"}, "line separator"),
    ],
)
def test_plain_copier_refuses_a_bad_answer_and_writes_nothing(
    tmp_path: Path, answers: dict[str, str], message: str
) -> None:
    destination = tmp_path / "svc"
    with pytest.raises(ValueError, match=message):
        copier.run_copy(str(templates_dir()), destination, data=answers, defaults=True, quiet=True)
    assert not destination.exists() or not any(destination.iterdir())


@pytest.mark.slow
def test_the_longest_downstream_wait_apistarter_accepts_is_one_the_service_accepts(
    tmp_path: Path,
) -> None:
    with pytest.raises(AnswerError, match="downstream_latency_ms"):
        parse_answers({"downstream_latency_ms": MAX_DOWNSTREAM_DELAY_MS + 1}, "answers")
    project = render_service(
        tmp_path / "svc", "fastapi", {"downstream_latency_ms": MAX_DOWNSTREAM_DELAY_MS}
    )
    # The settings the service starts with load (they refused 5001 and more before).
    check = (
        "from orders_api.settings import AppSettings; "
        f"assert AppSettings().downstream_delay_ms == {MAX_DOWNSTREAM_DELAY_MS}"
    )
    subprocess.run(
        [sys.executable, "-c", check], cwd=project / "src", check=True, env={"PATH": "/usr/bin"}
    )
