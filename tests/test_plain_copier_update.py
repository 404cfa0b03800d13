"""Plain `copier update` on a service apistarter made: what it can render coherently it
renders completely; what it cannot (a plan apistarter computes) it refuses before writing.

The attacks of #25 item 12, run as a user runs them: the real `copier` command in a
subprocess on a rendered, committed service. A refusal is Copier's own validation error,
one line naming the apistarter command that does the change, and leaves the tree and
its history as they were (tests.harness.tree_state).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from apistarter.cli import app
from apistarter.questions import DecisionAnswers

from .harness import BIN, tree_state

pytestmark = pytest.mark.slow
runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    return home


def _new(home: Path, destination: Path, *args: str) -> Path:
    result = runner.invoke(app, ["new", str(destination), "--defaults", *args])
    assert result.exit_code == 0, result.output
    return destination


@pytest.fixture
def service(home: Path, tmp_path: Path) -> Path:
    """A FastAPI service on Kubernetes, committed (its first commit is apistarter's)."""
    return _new(home, tmp_path / "svc", "--set", "project_name=orders-api")


def _copier_update(project: Path, home: Path, *data: str) -> subprocess.CompletedProcess[str]:
    args = [str(BIN / "copier"), "update", "--defaults"]
    for item in data:
        args += ["--data", item]
    return subprocess.run(
        [*args, str(project)],
        env={**os.environ, "HOME": str(home)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize(
    ("data", "refusal"),
    [
        # Each crashed in Jinja half-way through the update, or was ignored with exit 0.
        ("deploy=vm", "'decision': deploy=vm: apistarter computes the deploy plan"),
        ("cpus=4", "'cpus': cpus is one of apistarter's decision answers"),
        ("peak_concurrency=900", "'peak_concurrency': peak_concurrency is one of apistarter's"),
        ("framework=flask", "'framework': This service's server plan was computed for fastapi"),
        ("database=postgresql", "'database': This service's data plan was computed for"),
        ("server=gunicorn", "'decision': server=gunicorn: apistarter computes the server plan"),
        ("load_test={users: 5}", "'decision': load_test: computed by apistarter"),
    ],
)
def test_a_plan_plain_copier_cannot_compute_is_refused_before_any_write(
    service: Path, home: Path, data: str, refusal: str
) -> None:
    key, value = data.split("=", 1)
    command = f"apistarter update --set {key}={value}"
    if key == "load_test":  # no answer of that name: the user picks one
        command = "apistarter update --set KEY=VALUE"
    before = tree_state(service)

    result = _copier_update(service, home, data)

    assert result.returncode != 0, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if "Validation error" in line]
    # Copier's own form: its validation error on one line (Copier prints a traceback
    # above it for every answer it refuses from --data).
    assert len(lines) == 1, result.stderr
    assert f"Validation error for question {refusal}" in lines[0]
    assert command in lines[0]
    assert "jinja2.exceptions" not in result.stderr
    assert tree_state(service) == before


def test_every_decision_answer_given_to_plain_copier_is_refused(service: Path, home: Path) -> None:
    """Not only the attacked ones: each decision question apistarter asks (one run)."""
    before = tree_state(service)
    for question in DecisionAnswers.model_fields:
        if question in ("deploy", "database", "server"):
            continue  # questions of their own, refused above
        result = _copier_update(service, home, f"{question}=x")
        assert f"apistarter update --set {question}=x" in result.stderr, (question, result.stderr)
        assert tree_state(service) == before, question


@pytest.mark.parametrize("data", ["python_version=3.13", "description=Orders, as a service."])
def test_what_plain_copier_can_render_it_renders_as_apistarter_does(
    service: Path, home: Path, tmp_path: Path, data: str
) -> None:
    twin = tmp_path / "twin"
    shutil.copytree(service, twin, symlinks=True)

    result = _copier_update(service, home, data)
    assert result.returncode == 0, result.stderr
    through_apistarter = runner.invoke(app, ["update", str(twin), "--set", data])
    assert through_apistarter.exit_code == 0, through_apistarter.output

    assert tree_state(service) == tree_state(twin)
