"""Updating services: template changes arrive, the user's edits stay, refusals change nothing."""

from __future__ import annotations

import shutil
import sys
import tomllib
from pathlib import Path

import copier
import pytest
import yaml
from typer.testing import CliRunner

from apistarter import render, workflow
from apistarter.cli import app
from apistarter.questions import Framework
from apistarter.render import ANSWERS_FILE, available_frameworks, templates_dir
from apistarter.render import source as render_source
from apistarter.template_source import RECORDED_SOURCE, build_bundle

from .harness import (
    BIN,
    PREVIOUS_VERSION,
    git,
    render_previous,
    run,
    write_previous_templates,
)

runner = CliRunner()
PREVIOUS = PREVIOUS_VERSION
# What the previous template version lacked: a line the current README has.
CHANGED_FILE = "README.md"

pytestmark = pytest.mark.slow


def _previous_templates(tmp_path: Path) -> Path:
    """A history repo whose tag v0.0.1 holds an older template: one shared file trimmed."""
    history = tmp_path / "history"
    write_previous_templates(history / "templates")
    git(history, "init", "--quiet")
    git(history, "add", "-A")
    git(history, "commit", "--quiet", "-m", "old template")
    git(history, "tag", f"v{PREVIOUS}")
    return history


@pytest.fixture
def two_versions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME with a bundle holding the previous version and this one; apistarter ships it."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    bundle = tmp_path / "packaged" / "template.bundle"
    version = render.template_version_ref().removeprefix("v")
    build_bundle(templates_dir(), version, bundle, _previous_templates(tmp_path))
    monkeypatch.setattr(render_source, "_packaged_bundle", lambda: bundle)
    render.ensure_template_source()
    return tmp_path


def _own_checks_pass(project: Path) -> str:
    """Run the service's mypy and its tests (failing the test if either fails); pytest's output."""
    run([str(BIN / "mypy"), "--no-incremental"], project)
    return run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)


def _edit_like_a_user(project: Path) -> tuple[Path, str, Path]:
    models = next(project.glob("src/*/models.py"))
    edited = models.read_text() + "\n\n# Our own note, kept across updates.\n"
    models.write_text(edited)
    own = project / "src" / "orders_api" / "billing.py"
    own.write_text('"""Our own module."""\n')
    git(project, "add", "-A")
    git(project, "commit", "--quiet", "-m", "our changes")
    return models, edited, own


@pytest.mark.parametrize("framework", sorted(available_frameworks()))
@pytest.mark.parametrize("tool", ["apistarter", "copier"])
def test_update_brings_changes_and_keeps_edits(
    framework: Framework, tool: str, two_versions: Path
) -> None:
    project = render_previous(two_versions / "svc", framework)
    readme_before = (project / CHANGED_FILE).read_text()
    models, edited, own = _edit_like_a_user(project)

    if tool == "apistarter":
        result = runner.invoke(app, ["update", str(project)])
        assert result.exit_code == 0, result.output
    else:
        copier.run_update(project, defaults=True, overwrite=True, quiet=True, skip_answered=True)

    assert (project / CHANGED_FILE).read_text() != readme_before  # the template change arrived
    assert models.read_text() == edited
    assert own.read_text() == '"""Our own module."""\n'
    status = git(project, "status", "--porcelain")
    assert "<<<<<<<" not in "".join(p.read_text() for p in project.rglob("*.py"))
    assert not list(project.rglob("*.rej")), status
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_commit"] == render.template_version_ref()
    run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)


def test_check_reports_an_available_update(two_versions: Path) -> None:
    project = render_previous(two_versions / "svc", "fastapi")
    result = runner.invoke(app, ["update", str(project), "--check", "--json"])
    assert result.exit_code == 1
    assert '"update_available": true' in result.stdout
    runner.invoke(app, ["update", str(project)])
    git(project, "add", "-A")
    git(project, "commit", "--quiet", "-m", "update")
    assert runner.invoke(app, ["update", str(project), "--check"]).exit_code == 0


def test_changed_answer_rerenders_the_server_plan_but_not_the_adr(two_versions: Path) -> None:
    project = render_previous(two_versions / "svc", "fastapi")
    adr = next(project.glob("docs/decisions/0001-*.md"))
    adr_before = adr.read_text()
    result = runner.invoke(app, ["update", str(project), "--set", "deploy=vm", "--set", "cpus=4"])
    assert result.exit_code == 0, result.output
    assert "gunicorn" in (project / "Dockerfile").read_text()
    assert adr.read_text() == adr_before


def _refused(project: Path, *args: str) -> str:
    before = git(project, "status", "--porcelain") if (project / ".git").exists() else ""
    result = runner.invoke(app, ["update", str(project), *args])
    assert result.exit_code == 2, result.output
    if (project / ".git").exists():
        assert git(project, "status", "--porcelain") == before
    return " ".join(result.stderr.split())


def test_refusals_change_nothing(two_versions: Path) -> None:
    project = render_previous(two_versions / "svc", "fastapi")

    assert "unknown question" in _refused(project, "--set", "colour=blue")
    assert "cannot be renamed" in _refused(project, "--set", "package_name=other")

    (project / "README.md").write_text("dirty\n")
    assert "uncommitted changes" in _refused(project)
    git(project, "checkout", "README.md")

    answers = project / ".copier-answers.yml"
    answers.write_text(answers.read_text().replace(f"v{PREVIOUS}", "v99.0.0"))
    git(project, "commit", "--quiet", "-am", "from the future")
    assert "newer than this apistarter" in _refused(project)

    plain = two_versions / "plain"
    shutil.copytree(project, plain, ignore=shutil.ignore_patterns(".git"))
    assert "not a git repository" in _refused(plain)

    (plain / ".copier-answers.yml").unlink()
    assert "no .copier-answers.yml" in _refused(plain)


def test_framework_change_adds_a_superseding_adr(two_versions: Path) -> None:
    project = render_previous(two_versions / "svc", "fastapi")
    first = project / "docs" / "decisions" / "0001-web-framework.md"
    first_before = first.read_text()

    result = runner.invoke(app, ["update", str(project), "--set", "framework=flask"])

    assert result.exit_code == 0, result.output
    assert first.read_text() == first_before
    second = (project / "docs" / "decisions" / "0002-change-web-framework.md").read_text()
    assert "# Use Flask for orders-api" in second
    assert "Supersedes [0001-web-framework.md]" in second
    assert "Chosen by hand" in second  # the engine recommended FastAPI: the override is kept
    assert "gunicorn" in (project / "Dockerfile").read_text()
    package = project / "src" / "orders_api"
    assert not (package / "serve.py").exists()  # ASGI-only files leave with FastAPI
    assert "starlette" not in (package / "middleware.py").read_text()  # Flask's WSGI one
    _own_checks_pass(project)


def test_framework_change_shows_the_plan_and_its_warnings(two_versions: Path) -> None:
    """The superseding ADR says its warnings "were shown": `update` shows them as `new` does."""
    project = render_previous(two_versions / "svc", "fastapi")
    planned = workflow.plan_update(
        workflow.update_target(project, None), ["framework=flask"], ()
    ).recommendation
    assert planned.warnings  # an override always carries what it costs

    result = runner.invoke(app, ["update", str(project), "--set", "framework=flask"])

    assert result.exit_code == 0, result.output
    assert "Recommendation: FastAPI (chosen: Flask)" in result.output
    # The panel wraps long lines inside its borders: read it as one line of words.
    shown = " ".join(result.output.replace("│", " ").split())
    for warning in planned.warnings:
        assert warning.text in shown
    assert planned.server.server in shown


@pytest.mark.parametrize(
    ("rendered_with", "kept"),
    [
        # Made before the auth question: neither the answer nor a plan is recorded.
        (None, "none"),
        # Made by plain `copier copy --defaults`: no decision answers, the default plan.
        ("jwt", "jwt"),
    ],
)
def test_an_update_keeps_the_scheme_a_service_was_rendered_with(
    two_versions: Path, rendered_with: str | None, kept: str
) -> None:
    project = render_previous(two_versions / "svc", "fastapi")
    answers_file = project / ANSWERS_FILE
    recorded = yaml.safe_load(answers_file.read_text())
    del recorded["decision"]["auth"]
    if rendered_with is None:
        del recorded["auth_plan"]
    else:
        recorded["auth_plan"]["scheme"] = rendered_with
    answers_file.write_text(yaml.safe_dump(recorded))
    git(project, "commit", "--quiet", "-am", "auth not answered")

    def planned(*options: str) -> str:
        target = workflow.update_target(project, None)
        return workflow.plan_update(target, list(options), ()).recommendation.auth.scheme

    # auto would give its frontend jwt: a service serving without credentials today
    # would start refusing every caller.
    assert planned() == kept
    assert planned("auth=auto") == "jwt"
    assert planned("auth=api-key") == "api-key"


def test_adding_a_database_adds_the_layer_and_its_record(two_versions: Path) -> None:
    project = render_previous(two_versions / "svc", "fastapi")
    first = project / "docs" / "decisions" / "0001-web-framework.md"
    first_before = first.read_text()

    result = runner.invoke(app, ["update", str(project), "--set", "database=postgresql"])

    assert result.exit_code == 0, result.output
    assert first.read_text() == first_before  # history stays as written
    record = (project / "docs" / "decisions" / "0003-keep-items-in-postgresql.md").read_text()
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    plan = answers["database_plan"]
    assert f"= {plan['connections']}**" in record  # the connection sum, from the plan
    assert "initContainer" in record
    package = project / "src" / "orders_api"
    for module in ("db.py", "tables.py", "migrate.py", "migrations/env.py"):
        assert (package / module).is_file(), module
    assert "initContainers" in (project / "deploy/kubernetes/deployment.yaml").read_text()
    assert "APP_DATABASE_URL" in (project / ".env.example").read_text()
    # The service's own checks pass, its tests against an embedded PostgreSQL.
    _own_checks_pass(project)


def test_turning_on_api_keys_protects_the_writes(two_versions: Path) -> None:
    project = render_previous(two_versions / "svc", "flask")

    result = runner.invoke(app, ["update", str(project), "--set", "auth=api-key"])

    assert result.exit_code == 0, result.output
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["auth_plan"]["scheme"] == "api-key"
    package = project / "src" / "orders_api"
    assert "before_request(authenticate)" in (package / "routes" / "items.py").read_text()
    assert "key: APP_API_KEYS" in (project / "deploy/kubernetes/deployment.yaml").read_text()
    assert "APP_API_KEYS" in (project / ".env.example").read_text()
    assert "## Authentication" in (project / "README.md").read_text()
    # The service's own checks pass, its new auth tests among them.
    output = _own_checks_pass(project)
    assert "passed" in output and (project / "tests" / "test_auth.py").is_file()


def test_turning_on_jwt_protects_the_writes(two_versions: Path) -> None:
    project = render_previous(two_versions / "svc", "fastapi")

    result = runner.invoke(app, ["update", str(project), "--set", "auth=jwt"])

    assert result.exit_code == 0, result.output
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["auth_plan"]["scheme"] == "jwt"
    package = project / "src" / "orders_api"
    assert "dependencies=[Writer]" in (package / "routes" / "items.py").read_text()
    assert (package / "tokens.py").is_file()
    # The issuer's settings are plain configuration: in the ConfigMap to fill in, no Secret.
    config_map = (project / "deploy/kubernetes/configmap.yaml").read_text()
    assert 'APP_JWT_JWKS_URL: ""' in config_map
    assert "secretKeyRef" not in (project / "deploy/kubernetes/deployment.yaml").read_text()
    assert "APP_JWT_ISSUER" in (project / ".env.example").read_text()
    assert '"pyjwt[crypto]' in (project / "pyproject.toml").read_text()
    # The service's own checks pass, its new auth tests among them.
    output = _own_checks_pass(project)
    assert "passed" in output and (project / "tests" / "test_auth.py").is_file()


def _dependencies(project: Path) -> list[str]:
    dependencies: list[str] = tomllib.loads((project / "pyproject.toml").read_text())["project"][
        "dependencies"
    ]
    return dependencies


def _served_by(project: Path) -> str:
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    server: str = answers["server"]["server"]
    return server


def test_update_moves_a_service_to_uvicorn_and_back_to_granian(two_versions: Path) -> None:
    project = render_previous(two_versions / "svc", "fastapi")  # the plan's Granian
    package = project / "src" / "orders_api"
    assert _served_by(project) == "granian"

    result = runner.invoke(app, ["update", str(project), "--set", "server=uvicorn"])

    assert result.exit_code == 0, result.output
    assert _served_by(project) == "uvicorn"
    assert "import uvicorn" in (package / "serve.py").read_text()
    assert (package / "http_limits.py").is_file()  # Uvicorn's head limit
    assert "granian" not in (project / "pyproject.toml").read_text()
    _own_checks_pass(project)
    git(project, "add", "-A")
    git(project, "commit", "--quiet", "-m", "served by Uvicorn")

    result = runner.invoke(app, ["update", str(project), "--set", "server=auto"])

    assert result.exit_code == 0, result.output
    assert _served_by(project) == "granian"
    assert "from granian" in (package / "serve.py").read_text()
    assert not (package / "http_limits.py").exists()  # Granian bounds heads itself
    pyproject = (project / "pyproject.toml").read_text()
    assert "granian[uvloop]" in pyproject and "uvicorn[standard]" not in pyproject
    _own_checks_pass(project)


def test_update_moves_a_flask_service_to_granian_and_back(two_versions: Path) -> None:
    project = render_previous(two_versions / "svc", "flask")  # the plan's Gunicorn
    package = project / "src" / "orders_api"

    result = runner.invoke(app, ["update", str(project), "--set", "server=granian"])

    assert result.exit_code == 0, result.output
    assert _served_by(project) == "granian"
    assert "from granian" in (package / "serve.py").read_text()
    assert not (package / "gunicorn_conf.py").exists()
    dependencies = _dependencies(project)
    assert "granian[uvloop]>=2.8.0" in dependencies
    assert not [d for d in dependencies if d.startswith("gunicorn")]
    _own_checks_pass(project)
    git(project, "add", "-A")
    git(project, "commit", "--quiet", "-m", "served by Granian")

    result = runner.invoke(app, ["update", str(project), "--set", "server=auto"])

    assert result.exit_code == 0, result.output
    assert _served_by(project) == "gunicorn"
    assert (package / "gunicorn_conf.py").is_file()
    assert not (package / "serve.py").exists()
    assert not [d for d in _dependencies(project) if d.startswith("granian")]
    _own_checks_pass(project)


def test_a_server_the_framework_cannot_run_is_refused(two_versions: Path) -> None:
    project = render_previous(two_versions / "svc", "flask")
    refusal = _refused(project, "--set", "server=uvicorn")
    assert "server=uvicorn: cannot serve a flask plan" in refusal, refusal


def _platform_fork(two_versions: Path) -> Path:
    """A platform team's fork: the upstream history plus a commit of its own, tagged."""
    fork = two_versions / "fork"
    git(two_versions, "clone", "--quiet", str(Path(RECORDED_SOURCE).expanduser()), str(fork))
    readme = fork / "_shared" / "README.md.jinja"
    readme.write_text(readme.read_text() + "\nPlatform team: ask #platform for help.\n")
    git(fork, "commit", "--quiet", "-am", "our golden path")
    git(fork, "tag", "v99.1.0")
    return fork


def test_update_moves_a_service_onto_a_fork(two_versions: Path) -> None:
    project = render_previous(two_versions / "svc", "flask")
    models, edited, own = _edit_like_a_user(project)
    commits_before = git(project, "rev-list", "--count", "HEAD")
    fork = _platform_fork(two_versions)

    result = runner.invoke(app, ["update", str(project), "--template", str(fork)])

    assert result.exit_code == 0, result.output
    assert "ask #platform for help" in (project / "README.md").read_text()
    assert models.read_text() == edited
    assert own.read_text() == '"""Our own module."""\n'
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert (answers["_src_path"], answers["_commit"]) == (str(fork), "v99.1.0")
    # The update is left for the user to review; no commit was added on their behalf.
    assert git(project, "rev-list", "--count", "HEAD") == commits_before
    assert " M README.md" in git(project, "status", "--porcelain")
    # From now on, plain Copier updates from the fork as well.
    git(project, "add", "--all")  # the update also adds files (the deploy artefacts)
    git(project, "commit", "--quiet", "-m", "onto the fork")
    copier.run_update(project, defaults=True, overwrite=True, quiet=True, skip_answered=True)
    assert git(project, "status", "--porcelain") == ""


def test_update_refuses_a_fork_without_the_projects_version(two_versions: Path) -> None:
    project = render_previous(two_versions / "svc", "fastapi")
    unrelated = two_versions / "unrelated"
    shutil.copytree(templates_dir(), unrelated)
    git(unrelated, "init", "--quiet")
    git(unrelated, "add", "-A")
    git(unrelated, "commit", "--quiet", "-m", "a template with its own history")
    git(unrelated, "tag", "v99.1.0")
    head = git(project, "rev-parse", "HEAD")

    message = _refused(project, "--template", str(unrelated))

    assert "must keep the history" in message
    assert git(project, "rev-parse", "HEAD") == head
    assert "ask #platform" not in (project / "README.md").read_text()
    git(unrelated, "tag", "--delete", "v99.1.0")
    assert "no version tags" in _refused(project, "--template", str(unrelated))
    nowhere = two_versions / "nowhere"
    assert f"{nowhere}: no such file or directory" in _refused(project, "--template", str(nowhere))
    # A folder that is a template but no git repository: Copier could not diff it.
    assert "not a git repository" in _refused(project, "--template", str(templates_dir()))


def test_update_keeps_to_the_organisation_policy(
    two_versions: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = render_previous(two_versions / "svc", "fastapi")
    policy = two_versions / "policy.yml"
    policy.write_text("name: Org\nlocked:\n  deploy: kubernetes\nframeworks: [fastapi, hybrid]\n")
    monkeypatch.setenv("APISTARTER_POLICY", str(policy))

    assert "deploy=vm: Org" in _refused(project, "--set", "deploy=vm")
    assert "allows only fastapi, hybrid" in _refused(project, "--set", "framework=flask")
