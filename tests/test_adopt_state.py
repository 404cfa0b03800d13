"""An adopted app's state: its git history, its shadowed routes, its database's readiness,
its start-up errors and its instance volume (`apistarter new --legacy PATH`)."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from apistarter.cli import app
from apistarter.service_routes import SERVICE_ROUTES, service_routes
from tests.flask_examples import FLASK, new_legacy, sdist, write_files
from tests.harness import (
    dockerfile_instruction,
    free_port,
    git,
    http_request,
    markdown_text,
    run,
    serve,
    service_env,
)
from tests.test_adopt import SCRIPT_APP
from tests.test_copier_questions import COPIER_YML
from tests.test_deploy import _kustomize, validate


def _contents(path: Path) -> dict[str, str]:
    """Every file below ``path``, .git included, by content hash: to show nothing was written."""
    return {
        str(file.relative_to(path)): hashlib.sha256(file.read_bytes()).hexdigest()
        for file in sorted(path.rglob("*"))
        if file.is_file()
    }


def _from_source(project: Path) -> dict[str, str]:
    """Run from the source tree, as the tests do: the service's src/ and the app's legacy/."""
    return {"PYTHONPATH": f"{project / 'src'}:{project / 'legacy'}"}


def test_the_app_s_git_history_comes_with_it(tmp_path: Path) -> None:
    repository = tmp_path / "monorepo"
    app = repository / "apps" / "api"
    write_files(app, {"service.py": SCRIPT_APP, "requirements.txt": "flask>=3\n"})
    git(repository, "init", "--quiet")
    git(repository, "add", ".")
    git(repository, "-c", "user.name=Ada", "commit", "--quiet", "-m", "First version of the API")
    write_files(repository, {"docs/notes.md": "not the app\n"})
    git(repository, "add", ".")
    git(repository, "commit", "--quiet", "-m", "Notes outside the app")
    (app / "service.py").write_text(SCRIPT_APP + "# pinned\n")
    git(repository, "commit", "--quiet", "-am", "Pin the ping route")
    # Uncommitted work in the app's folder is copied as it is, never lost.
    (app / "service.py").write_text(SCRIPT_APP + "# pinned\n# work in progress\n")
    before = _contents(repository)

    code, stdout, stderr = new_legacy(tmp_path / "svc", app)
    assert code == 0, stderr
    project = Path(json.loads(stdout)["directory"])
    assert _contents(repository) == before
    # The app's commits that touched its folder, then the service's own commit.
    log = git(project, "log", "--format=%an|%s", "--", "legacy/service.py").splitlines()
    assert log[1:] == ["t|Pin the ping route", "Ada|First version of the API"]
    assert "Generate service" in log[0]
    assert "Notes outside the app" not in git(project, "log", "--format=%s")
    first = git(project, "rev-list", "--max-parents=0", "HEAD").split()
    assert len(first) == 1
    assert git(project, "ls-tree", "--name-only", "-r", first[0]).split() == [
        "legacy/requirements.txt",
        "legacy/service.py",
    ]
    blame = git(project, "blame", "--line-porcelain", "legacy/service.py")
    assert "author Ada" in blame and "summary Pin the ping route" in blame
    assert (project / "legacy" / "service.py").read_text().endswith("# work in progress\n")
    assert git(project, "status", "--porcelain") == ""
    readme = " ".join((project / "README.md").read_text().split())
    assert "the first 2 commit(s) here are the app's own" in readme
    assert "with uncommitted changes" in readme
    assert "the changes that were not committed then are in the service's first commit" in readme


SHADOWING_APP = (
    "from flask import Flask\napp = Flask(__name__)\n"
    "@app.get('/docs')\ndef docs():\n    return 'the app manual'\n"
    "@app.route('/livez', methods=['GET', 'POST'])\ndef alive():\n    return 'yes'\n"
    "@app.post('/readyz')\ndef post_only():\n    return 'posted'\n"
    "@app.get('/v1/<section>')\ndef section(section):\n    return section\n"
    "@app.get('/v1/items/<int:item>')\ndef item(item):\n    return str(item)\n"
    "@app.get('/redoc/')\ndef redoc():\n    return 'old manual'\n"
    "@app.get('/about')\ndef about():\n    return 'about'\n"
)


# Whether the rendered service's own routes take "METHOD /path" (answering it, or 405
# for another method), as Starlette's router matches them before the Flask side.
_SERVICE_TAKES = """
import sys
from starlette.routing import Match
from svc.main import app
for request in sys.argv[1:]:
    method, path = request.split()
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
    print(request, any(r.matches(scope)[0] != Match.NONE for r in app.router.routes))
"""


def test_app_routes_the_service_answers_first_are_reported(tmp_path: Path) -> None:
    source = write_files(tmp_path / "api", {"service.py": SHADOWING_APP})
    code, stdout, stderr = new_legacy(tmp_path / "svc", source)
    assert code == 0, stderr
    project = Path(json.loads(stdout)["directory"])
    # A path the service serves is the service's for every method, and with its slash.
    # The app's own docs (/docs, /redoc/) stay the app's: the service's docs move away.
    shadowed = [
        "GET,POST /livez (service.py:6), answered by the service's /livez",
        "POST /readyz (service.py:9), answered by the service's /readyz",
        "some URLs of GET /v1/<section> (service.py:12), answered by the service's /v1/items",
        "GET /v1/items/<int:item> (service.py:15), answered by the service's /v1/items/{item_id}",
    ]
    assert "warning: 4 route(s) of the app will no longer reach Flask" in stderr
    assert "; ".join(shadowed) in stderr
    assert "APP_LEGACY_PREFIX=/legacy" in stderr
    assert "/about" not in stderr.partition("warning:")[2]
    adr = markdown_text((project / "docs" / "decisions" / "0001-web-framework.md").read_text())
    assert "".join(f"- {line}\n" for line in shadowed) in adr

    # The service takes exactly the paths the report was computed from, whatever the method.
    routes = yaml.safe_load((project / ".copier-answers.yml").read_text())["routes"]
    assert routes == service_routes(["/docs", "/redoc/"]) != SERVICE_ROUTES
    requests = [
        f"{method} {route['path'].replace('{item_id}', '7')}"
        for route in routes.values()
        for method in ("GET", "POST", "PUT")
    ]
    answered = run(
        [sys.executable, "-c", _SERVICE_TAKES, *requests], project, _from_source(project)
    )
    assert answered.splitlines() == [f"{request} True" for request in requests]
    assert COPIER_YML["routes"]["default"] == SERVICE_ROUTES  # plain `copier copy` gets the same

    # What the report says is what the real server does.
    with serve(project, dockerfile_instruction(project, "CMD"), _from_source(project)) as server:
        answers = {
            f"{method} {path}": http_request(server.base_url, method, path)
            for method, path in [
                ("GET", "/docs"),
                ("GET", "/service/docs"),
                ("GET", "/livez"),
                ("GET", "/v1/items"),
                ("GET", "/v1/items/7"),
                ("POST", "/livez"),
                ("POST", "/readyz"),
                ("GET", "/redoc/"),
                ("GET", "/v1/demo"),
                ("GET", "/about"),
            ]
        }
    # The service's Swagger UI, moved out of the way of the app's own /docs.
    assert b"swagger-ui" in answers.pop("GET /service/docs")[2]
    assert json.loads(answers.pop("GET /livez")[2]) == {"status": "ok"}
    assert json.loads(answers.pop("GET /v1/items")[2]) == []
    assert b"Item 7 not found." in answers.pop("GET /v1/items/7")[2]
    assert answers.pop("POST /livez")[0] == answers.pop("POST /readyz")[0] == 405
    # Everything else reached Flask, its docs pages included.
    assert {request: answer[2] for request, answer in answers.items()} == {
        "GET /docs": b"the app manual",
        "GET /redoc/": b"old manual",
        "GET /v1/demo": b"demo",
        "GET /about": b"about",
    }


def test_not_ready_until_the_app_s_database_is_initialised(
    flaskr_service: Path,
    tmp_path: Path,
) -> None:
    project = flaskr_service
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["legacy"]["databases"] == {"flaskr.sqlite": ["post", "user"]}
    run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_health.py"],
        project,
    )
    env = {
        **_from_source(project),
        "APP_SECRET_KEY": "from-the-deployment",
        "APP_LEGACY_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    database = tmp_path / "instance" / "flaskr.sqlite"
    with serve(project, dockerfile_instruction(project, "CMD"), env) as server:
        status, _, body = http_request(server.base_url, "GET", "/readyz")
        assert (status, json.loads(body)) == (
            503,
            {
                "status": "not_ready",
                "checks": {
                    "legacy_database:flaskr.sqlite": f"error: {database} does not exist: "
                    "run python -m blog.migrate"
                },
            },
        )
        # A page served before the init creates an empty file: still not ready.
        assert http_request(server.base_url, "GET", "/")[0] == 500
        status, _, body = http_request(server.base_url, "GET", "/readyz")
        assert status == 503
        assert json.loads(body)["checks"]["legacy_database:flaskr.sqlite"] == (
            f"error: {database} has no table post, user: run python -m blog.migrate"
        )
        # The README's migration step, which every deploy target runs: the app's own
        # init-db with the service's settings, since its database is missing.
        readme = (project / "README.md").read_text()
        assert "\n.venv/bin/python -m blog.migrate\n" in readme
        assert _migration_step(project) == ["python", "-m", "blog.migrate"]
        migrate = [sys.executable, "-m", "blog.migrate"]
        assert "init-db done" in run(migrate, project, env)
        status, _, body = http_request(server.base_url, "GET", "/readyz")
        assert (status, json.loads(body)["checks"]) == (
            200,
            {"legacy_database:flaskr.sqlite": "ok"},
        )
        # Data written over HTTP outlives the next deploy's step: init-db drops its
        # tables, so it runs only while the database is missing.
        form = b"username=ada&password=pw"
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        status, _, _ = http_request(server.base_url, "POST", "/auth/register", form, headers)
        assert status == 302
        assert "init-db not run" in run(migrate, project, env)
        with sqlite3.connect(database) as db:
            assert db.execute("SELECT username FROM user").fetchall() == [("ada",)]


def _migration_step(project: Path) -> list[str]:
    """The command of the Kubernetes initContainer (the default target)."""
    deployment = yaml.safe_load((project / "deploy/kubernetes/deployment.yaml").read_text())
    (step,) = deployment["spec"]["template"]["spec"]["initContainers"]
    return [str(part) for part in step["command"]]


# One Uvicorn process, Uvicorn's supervisor with two workers, Gunicorn's with two.
SERVERS = [("kubernetes", "1"), ("compose", "2"), ("vm", "2")]
PLAIN_APP = "from flask import Flask\napp = Flask(__name__)\n"


@pytest.mark.slow
@pytest.mark.parametrize(("deploy", "workers"), SERVERS)
def test_a_wrong_legacy_app_stops_every_server_with_one_line(
    tmp_path: Path, deploy: str, workers: str
) -> None:
    source = write_files(tmp_path / "api", {"service.py": PLAIN_APP})
    code, stdout, stderr = new_legacy(tmp_path / "svc", source, "--set", f"deploy={deploy}")
    assert code == 0, stderr
    project = Path(json.loads(stdout)["directory"])
    command = dockerfile_instruction(project, "CMD")
    for wrong, why in [
        ("nowhere:app", "No module named 'nowhere'"),
        ("service:nope", "module 'service' has no attribute 'nope'"),
    ]:
        env = {
            **service_env(project),
            **_from_source(project),
            "APP_LEGACY_APP": wrong,
            "WEB_CONCURRENCY": workers,
            "PORT": str(free_port()),
        }
        result = subprocess.run(
            command, cwd=project, env=env, capture_output=True, text=True, timeout=60
        )
        line = f"svc cannot start: APP_LEGACY_APP={wrong!r} cannot be loaded: {why}"
        # Exit status 3: the server stops instead of starting workers again and again.
        assert result.returncode == 3, result.stderr
        assert "Traceback" not in result.stderr
        assert result.stderr.splitlines() == [line]


@pytest.mark.slow
@pytest.mark.parametrize("deploy", ["kubernetes", "compose", "vm"])
def test_the_app_s_database_lives_on_a_volume_that_outlives_the_container(
    tmp_path_factory: pytest.TempPathFactory, deploy: str
) -> None:
    source = sdist(FLASK, tmp_path_factory) / "examples" / "tutorial"
    # The directory's name is the project's, as the unit's /opt path expects.
    destination = tmp_path_factory.mktemp(deploy) / "blog"
    code, stdout, stderr = new_legacy(destination, source, "--set", f"deploy={deploy}")
    assert code == 0, stderr
    project = Path(json.loads(stdout)["directory"])
    result = validate(project, deploy)
    assert result.returncode == 0, result.stdout + result.stderr
    if deploy == "kubernetes":
        built = {doc["kind"]: doc for doc in _kustomize(project) if doc["kind"] != "ConfigMap"}
        claim = built["PersistentVolumeClaim"]
        assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
        pod = built["Deployment"]["spec"]["template"]["spec"]
        (app,) = [c for c in pod["containers"] if c["name"] == "app"]
        mounts = {m["mountPath"]: m["name"] for m in app["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes[mounts["/app/instance"]]["persistentVolumeClaim"] == {
            "claimName": claim["metadata"]["name"]
        }
        assert pod["securityContext"]["fsGroup"] == 10001
        # One writer of the SQLite file: one replica, replaced rather than rolled.
        assert built["Deployment"]["spec"]["strategy"] == {"type": "Recreate"}
        scaler = built["HorizontalPodAutoscaler"]["spec"]
        assert (scaler["minReplicas"], scaler["maxReplicas"]) == (1, 1)
    elif deploy == "compose":
        compose = yaml.safe_load((project / "compose.yaml").read_text())
        assert compose["services"]["app"]["volumes"] == ["instance:/app/instance"]
        assert "/app/instance" not in compose["services"]["app"]["tmpfs"]
        assert "instance" in compose["volumes"]
    else:
        unit = (project / "deploy" / "systemd" / "blog.service").read_text()
        assert "StateDirectory=blog\nEnvironment=APP_LEGACY_INSTANCE_PATH=/var/lib/blog\n" in unit


def test_an_update_keeps_the_adopted_app_s_secret_and_volume(
    flaskr_service: Path, tmp_path: Path
) -> None:
    project = tmp_path / "blog"
    shutil.copytree(flaskr_service, project, symlinks=True)
    kubernetes = project / "deploy" / "kubernetes"
    before = {path.name: path.read_text() for path in kubernetes.iterdir() if path.is_file()}
    assert "persistentvolumeclaim.yaml" in before
    result = CliRunner().invoke(app, ["update", str(project), "--set", "cpus=4"])
    assert result.exit_code == 0, result.output
    after = {path.name: path.read_text() for path in kubernetes.iterdir() if path.is_file()}
    # The plan was computed again (cpus), the adopted app's parts stayed.
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["decision"]["cpus"] == 4
    assert answers["deploy"]["instance_volume"] == {"path": "/app/instance", "size": "1Gi"}
    assert after["persistentvolumeclaim.yaml"] == before["persistentvolumeclaim.yaml"]
    assert "type: Recreate" in after["deployment.yaml"]
    assert "claimName: blog-instance" in after["deployment.yaml"]
    assert "--from-literal=APP_SECRET_KEY=..." in after["kustomization.yaml"]
    assert after["horizontalpodautoscaler.yaml"] == before["horizontalpodautoscaler.yaml"]


def test_an_update_gives_a_service_adopted_before_the_one_step_its_migration_step(
    flaskr_service: Path, tmp_path: Path
) -> None:
    """A service adopted before the migration step existed (its answers without it, no
    migrate modules, no initContainer) gets them from `update`."""
    project = tmp_path / "blog"
    shutil.copytree(flaskr_service, project, symlinks=True)
    answers_file = project / ".copier-answers.yml"
    answers = yaml.safe_load(answers_file.read_text())
    del answers["legacy"]["migration"]
    answers["deploy"]["migration"] = None
    answers_file.write_text(yaml.safe_dump(answers, sort_keys=False))
    for module in ("src/blog/migrate.py", "src/blog/legacy/migrate.py"):
        (project / module).unlink()
    git(project, "commit", "--quiet", "-am", "as adopted before the migration step")

    result = CliRunner().invoke(app, ["update", str(project)])

    assert result.exit_code == 0, result.output
    assert _migration_step(project) == ["python", "-m", "blog.migrate"]
    for module in ("src/blog/migrate.py", "src/blog/legacy/migrate.py"):
        assert (project / module).is_file(), module
    assert "\n.venv/bin/python -m blog.migrate\n" in (project / "README.md").read_text()
    updated = yaml.safe_load(answers_file.read_text())
    assert updated["legacy"]["migration"] == {"args": ["init-db"], "once": True}
