"""Presets, organisation policies and the machine-readable questions."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from apistarter.cli import app
from apistarter.presets import POLICY_ENV, POLICY_FILE, shipped_presets
from apistarter.questions import AnswerError, answers_schema, parse_answers

from .harness import run

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
SCHEMA = answers_schema()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(POLICY_ENV, raising=False)
    return tmp_path


def _write(path: Path, content: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(content))
    return path


def _new_json(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["new", "svc", "--defaults", "--json", *args])
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def _refused(*args: str) -> str:
    result = runner.invoke(app, ["new", "svc", "--defaults", *args])
    assert result.exit_code == 2, result.output
    assert not Path("svc").exists()
    return " ".join(result.stderr.split())


def test_precedence_preset_policy_file_set_and_locks(workdir: Path) -> None:
    preset = _write(
        workdir / "team.yml",
        {"defaults": {"cpus": 3, "peak_concurrency": 60, "downstream_latency_ms": 70}},
    )
    _write(
        workdir / POLICY_FILE,
        {
            "name": "Acme policy",
            "defaults": {"peak_concurrency": 61, "downstream_latency_ms": 71, "team_async": "none"},
            # The preset says cpus=3; a lock is above every other layer.
            "locked": {"cpus": 4, "python_version": 3.12},
        },
    )
    answers = _write(workdir / "answers.yml", {"downstream_latency_ms": 72, "team_async": "some"})

    report = _new_json(
        "--preset", str(preset), "--answers", str(answers), "--set", "team_async=strong"
    )

    chosen = report["answers"]
    assert chosen["cpus"] == 4  # lock over preset
    assert chosen["peak_concurrency"] == 61  # policy defaults over preset
    assert chosen["downstream_latency_ms"] == 72  # answers file over policy
    assert chosen["team_async"] == "strong"  # --set over answers file
    assert chosen["python_version"] == "3.12"
    adr = (workdir / "svc" / "docs" / "decisions" / "0001-web-framework.md").read_text()
    assert f"`cpus` = 4, locked by Acme policy ({workdir / POLICY_FILE})" in adr


def test_answers_that_break_a_lock_are_refused(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = _write(
        workdir / "org.yml",
        {"name": "Org", "locked": {"deploy": "kubernetes", "cpus": 2}, "frameworks": ["fastapi"]},
    )
    monkeypatch.setenv(POLICY_ENV, str(policy))

    assert "deploy=vm: Org" in _refused("--set", "deploy=vm")
    assert "locks deploy to kubernetes" in _refused("--set", "deploy=vm")
    from_file = _write(workdir / "a.yml", {"cpus": 8})
    assert "cpus=8: Org" in _refused("--answers", str(from_file))
    assert "allows only fastapi" in _refused("--framework", "flask")
    # The recommendation itself is outside the policy: say so, and how to choose.
    assert "recommends flask, but Org" in _refused("--preset", "internal-sync-tool")
    # The same value as the lock, in another spelling, is no conflict.
    assert _new_json("--set", "cpus=2", "--set", "deploy=kubernetes")["answers"]["cpus"] == 2


def test_a_policy_can_lock_auth(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    policy = _write(workdir / "org.yml", {"name": "Org", "locked": {"auth": "jwt"}})
    monkeypatch.setenv(POLICY_ENV, str(policy))

    assert "auth=none: Org" in _refused("--set", "auth=none")
    # auth=auto would give internal callers none: the lock holds over the consumers' rule.
    report = _new_json("--set", "api_consumers=internal")
    assert report["answers"]["auth"] == "jwt"
    adr = (workdir / "svc" / "docs" / "decisions" / "0001-web-framework.md").read_text()
    assert "auth=jwt: answered, so the rule" in adr
    assert f"`auth` = jwt, locked by Org ({policy})" in adr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"locked": {"colour": "blue"}}, "unknown question colour"),
        ({"defaults": {"cpus": "many"}}, "cpus: Input should be a valid integer"),
        ({"frameworks": ["fastapi", "django"]}, "frameworks: 'django' is not one of 'fastapi'"),
        ({"locked": {"deploy": "mainframe"}}, "deploy: Input should be"),
        ({"default": {}}, "default: Extra inputs are not permitted"),
    ],
)
def test_bad_policy_files_name_the_file_and_the_key(
    workdir: Path, content: dict[str, Any], message: str
) -> None:
    _write(workdir / POLICY_FILE, content)
    refused = _refused()
    assert str(workdir / POLICY_FILE) in refused
    assert message in refused


def test_missing_presets_and_policies_are_errors(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "no such preset or file (presets: internal-sync-tool" in _refused("--preset", "nope")
    (workdir / "broken.yml").write_text("defaults: [\n")
    assert "not valid YAML" in _refused("--preset", str(workdir / "broken.yml"))
    monkeypatch.setenv(POLICY_ENV, str(workdir / "missing.yml"))
    assert f"{POLICY_ENV}={workdir / 'missing.yml'}: no such policy file" in _refused()


def test_presets_command_lists_every_shipped_preset() -> None:
    result = runner.invoke(app, ["presets", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert sorted(listed) == sorted(p.name for p in shipped_presets())
    assert all(entry["summary"] for entry in listed.values())


EXPECTED_FRAMEWORK = {
    "internal-sync-tool": "flask",
    "io-heavy-public-api": "fastapi",
    "ml-model-serving": "fastapi",
    "modernise-flask-app": "hybrid",
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED_FRAMEWORK))
def test_every_shipped_preset_renders_a_working_service(workdir: Path, name: str) -> None:
    assert name in {p.name for p in shipped_presets()}
    report = _new_json("--preset", name)
    assert report["framework"] == EXPECTED_FRAMEWORK[name]
    run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], Path(report["directory"]))


def _accepted(answers: dict[str, Any]) -> bool:
    try:
        parse_answers(dict(answers), "answers")
    except AnswerError:
        return False
    return True


def _valid(answers: dict[str, Any]) -> bool:
    valid: bool = jsonschema.Draft202012Validator(SCHEMA).is_valid(answers)
    return valid


def _values(spec: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values one property of the schema allows (its type, choices, bounds, pattern)."""
    if "enum" in spec:
        return st.sampled_from(spec["enum"])
    if spec["type"] == "boolean":
        return st.booleans()
    if spec["type"] == "integer":
        return st.integers(spec.get("minimum"), spec.get("maximum"))
    if spec["type"] == "array":
        return st.lists(st.sampled_from(spec["items"]["enum"]), unique=True)
    text = st.from_regex(spec["pattern"], fullmatch=True) if "pattern" in spec else st.text()
    return text.filter(lambda value: len(value) <= spec.get("maxLength", 10_000))


# Any subset of the questions, each with a value of the right shape; the schema's
# cross-field rules then decide which of these it allows.
_SHAPED = st.fixed_dictionaries(
    {}, optional={key: _values(spec) for key, spec in SCHEMA["properties"].items()}
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(_SHAPED.filter(_valid))
def test_every_answer_set_the_schema_allows_is_accepted(answers: dict[str, Any]) -> None:
    assert _accepted(answers), answers


# Values near the edges of what `new` accepts, to check the schema refuses what it refuses.
_EDGY = st.fixed_dictionaries(
    {},
    optional={
        "project_name": st.sampled_from(
            ["orders-api", "", "Orders", "a--b", "class", "json", "x" * 51, "ok-2", "-x"]
        ),
        "package_name": st.sampled_from(["", "orders_api", "def", "typing", "1x", "a" * 51]),
        "description": st.sampled_from(["Fine.", "tab\there", "x" * 501, 'quote " and {{ 7*7 }}']),
        "legacy_app": st.sampled_from(["", "legacy.app:create_app", "legacy.app", "a:b:c"]),
        "python_version": st.sampled_from(["3.12", "3.10", "3.13"]),
        "codebase": st.sampled_from(["new", "existing-flask", "other"]),
        "existing_routes": st.integers(-1, 3),
        "measured_problem": st.sampled_from(["none", "latency", "boredom"]),
        "workload": st.sampled_from(["io-bound", "gpu-bound"]),
        "cpus": st.integers(0, 300),
        "blocking_deps": st.lists(st.sampled_from(["requests", "boto3", "curl"]), max_size=3),
        "realtime": st.booleans(),
        "colour": st.just("blue"),
    },
)


@settings(max_examples=400, deadline=None)
@given(_EDGY)
def test_the_schema_refuses_exactly_what_new_refuses(answers: dict[str, Any]) -> None:
    assert _valid(answers) == _accepted(answers), answers


def test_questions_schema_command_prints_the_schema() -> None:
    result = runner.invoke(app, ["questions", "--schema"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == json.loads(json.dumps(SCHEMA))


def test_backstage_example_asks_only_what_apistarter_accepts() -> None:
    template = yaml.safe_load((ROOT / "docs" / "backstage" / "template.yaml").read_text())
    fields: dict[str, Any] = {}
    for page in template["spec"]["parameters"]:
        fields.update(page["properties"])
    presets = fields.pop("preset")
    assert set(presets["enum"]) == {""} | {p.name for p in shipped_presets()}
    properties = SCHEMA["properties"]
    for question, field in fields.items():
        assert question in properties, question
        expected = properties[question]
        assert field["type"] == expected["type"], question
        assert field.get("enum") == expected.get("enum"), question
        if "items" in field:
            assert field["items"]["enum"] == expected["items"]["enum"], question
        if "default" in field:
            assert field["default"] == expected["default"], question
        # A form's bounds and patterns are the schema's, where the form states them.
        for rule in ("minimum", "maximum", "maxLength", "pattern"):
            if rule in field:
                assert field[rule] == expected[rule], (question, rule)
    step = next(s for s in template["spec"]["steps"] if s["action"] == "apistarter:new")
    assert set(step["input"]["answers"]) == set(fields)
