"""`apistarter new --legacy PATH`: an existing Flask app adopted into a hybrid service."""

from __future__ import annotations

import http.cookiejar
import json
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from apistarter.adopt import conflict
from tests.flask_examples import FLASK_CORS, PYTHON, new_legacy, sdist, write_files
from tests.harness import (
    BIN,
    as_image_user,
    dockerfile_instruction,
    git,
    run,
    serve,
    stop,
    tree_state,
)

SCRIPT_APP = (
    "import os\nfrom flask import Flask, jsonify\napp = Flask(__name__)\n"
    "TOKEN = os.environ.get('PARTNER_TOKEN')\n"
    "@app.get('/api/ping')\ndef ping():\n    return jsonify(pong=True)\n"
)


@pytest.mark.parametrize(
    ("app_pin", "service_pin", "clash"),
    [
        ("flask<3", "flask>=3.1", True),
        ("flask~=2.3", "flask>=3.1", True),
        ("flask==3.0.3", "flask>=3.1", True),
        ("flask>=2", "flask>=3.1", False),
        ("flask", "flask>=3.1", False),
        ("flask==3.1.0", "flask>=3.1", False),
        ("flask!=3.1.0", "flask>=3.1", False),
    ],
)
def test_conflicts_are_requirements_no_version_meets(
    app_pin: str, service_pin: str, clash: bool
) -> None:
    assert conflict(Requirement(app_pin), Requirement(service_pin)) is clash


def test_a_script_app_in_a_git_repository_is_copied_with_its_origin(tmp_path: Path) -> None:
    source = write_files(
        tmp_path / "api",
        {
            "service.py": SCRIPT_APP,
            "requirements.txt": "flask>=3\nrequests\n",
            "tests/conftest.py": "import sqlite3\nDB = sqlite3.connect(':memory:')\n",
            ".env": "PARTNER_TOKEN=real-secret\n",
            "instance/data.db": "state",
        },
    )
    git(source, "init", "--quiet")
    git(source, "add", "service.py", "requirements.txt", "tests")
    git(source, "commit", "--quiet", "-m", "app")
    commit = git(source, "rev-parse", "HEAD").strip()

    code, stdout, stderr = new_legacy(tmp_path / "svc", source)
    assert code == 0, stderr
    project = Path(json.loads(stdout)["directory"])
    assert json.loads(stdout)["framework"] == "hybrid"
    assert (project / "legacy" / "service.py").read_text() == SCRIPT_APP
    # Never copied: the app's history, its local secrets, its instance data.
    for absent in (".git", ".env", "instance"):
        assert not (project / "legacy" / absent).exists(), absent
    # The bundled example is left out.
    assert not (project / "src" / "svc" / "legacy" / "app.py").exists()
    assert not (project / "tests" / "test_hybrid.py").exists()
    readme = (project / "README.md").read_text()
    assert commit in readme
    assert "**In-memory SQLite** (tests/conftest.py:2)" in readme
    assert '"legacy/service.py" = "service.py"' in (project / "pyproject.toml").read_text()
    assert '    "requests",' in (project / "pyproject.toml").read_text()
    assert (
        "# PARTNER_TOKEN=   # a secret   # service.py:4" in (project / ".env.example").read_text()
    )
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["legacy_app"] == "service:app"
    assert answers["legacy"]["prefix"] == ""
    # Rendered, copied and committed in one step.
    assert git(project, "status", "--porcelain") == ""
    assert "legacy/service.py" in git(project, "ls-files")


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"service.py": SCRIPT_APP, "requirements.txt": "requests\npydantic<2\n"},
            "dependency conflict: the app's pydantic<2 (requirements.txt:2) and the service's "
            "pydantic>=2.7",
        ),
        (
            {
                "service.py": SCRIPT_APP,
                "pyproject.toml": '[project]\nname = "api"\nrequires-python = "<3.10"\n',
            },
            f"the app needs Python <3.10 (pyproject.toml:3) and the service would run {PYTHON}",
        ),
        ({"a.py": SCRIPT_APP, "b.py": SCRIPT_APP}, "several Flask apps: a:app (a.py:3), b:app"),
        ({"notes.py": "print('no app')\n"}, "no Flask app found"),
    ],
)
def test_refusals_write_nothing(tmp_path: Path, files: dict[str, str], message: str) -> None:
    source = write_files(tmp_path / "api", files)
    before = tree_state(tmp_path)
    code, _, stderr = new_legacy(tmp_path / "svc", source)
    assert code == 2
    assert message in stderr
    assert "Traceback" not in stderr
    assert tree_state(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["api"]


def test_only_the_hybrid_adopts(tmp_path: Path) -> None:
    source = write_files(tmp_path / "api", {"service.py": SCRIPT_APP})
    code, _, stderr = new_legacy(tmp_path / "svc", source, "--framework", "flask")
    assert code == 2
    assert "--legacy adopts an app into the hybrid" in stderr
    assert not (tmp_path / "svc").exists()


def test_flaskr_adoption_records_what_inspect_found(flaskr_service: Path) -> None:
    project = flaskr_service
    assert (project / "legacy" / "flaskr" / "schema.sql").is_file()
    assert (project / "legacy" / "tests" / "conftest.py").is_file()
    adr = (project / "docs" / "decisions" / "0001-web-framework.md").read_text()
    assert "- route `GET,POST /auth/login` (flaskr/auth.py:" in adr
    assert "blocking library sqlite3 (file-io), flaskr/db.py:1" in adr
    assert "The measured problem: saturated-workers." in adr
    env = (project / ".env.example").read_text()
    assert "# APP_SECRET_KEY=" in env and "APP_LEGACY_INSTANCE_PATH=instance" in env
    dockerfile = (project / "Dockerfile").read_text()
    assert "COPY legacy ./legacy" in dockerfile
    assert "chown 10001:10001 /app/instance" in dockerfile
    readme = (project / "README.md").read_text()
    # One migration step, which runs the app's init-db while its database is missing.
    assert "\n.venv/bin/python -m blog.migrate\n" in readme
    assert "runs the app's own `flask init-db`" in " ".join(readme.split())
    smoke = (project / "tests" / "test_legacy.py").read_text()
    assert 'SMOKE_PATHS: list[str] = ["/", "/auth/login"' in smoke


def _browser() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )


def _open(
    browser: urllib.request.OpenerDirector, url: str, form: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """(status, final URL after redirects, body) of a GET, or of a form POST."""
    data = urllib.parse.urlencode(form).encode() if form else None
    with browser.open(url, data=data, timeout=10) as response:
        return int(response.status), str(response.geturl()), response.read().decode()


@pytest.mark.slow
def test_adopted_flaskr_passes_its_checks_and_serves_the_app_from_a_wheel(
    flaskr_service: Path, tmp_path: Path
) -> None:
    project = flaskr_service
    run([str(BIN / "ruff"), "check", "--no-cache", "."], project)
    run([str(BIN / "ruff"), "format", "--check", "--no-cache", "."], project)
    run([str(BIN / "mypy"), "--cache-dir", str(tmp_path / "mypy")], project)
    run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)
    assert run([str(BIN / "hadolint"), "Dockerfile"], project).strip() == ""

    # As in the image: a non-editable install (the wheel must carry the app's code,
    # templates and schema), run by the Dockerfile's numeric USER with only its instance
    # folder writable. Outside root the tests already run as a user of their own.
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        root.chmod(0o755)
        installed, workdir = root / "site", root / "app"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--target",
                str(installed),
                str(project),
            ],
            check=True,
        )
        (workdir / "instance").mkdir(parents=True)
        as_user = as_image_user(project, workdir / "instance")
        env = {
            "PYTHONPATH": str(installed),
            "APP_SECRET_KEY": "from-the-deployment",
            "APP_LEGACY_INSTANCE_PATH": str(workdir / "instance"),
        }
        # The migration step: the app's own init command with the service's settings.
        run([*as_user, sys.executable, "-m", "blog.migrate"], workdir, env)
        # The image's command, with this virtualenv's python named by its path: PATH
        # lookups by another user may not reach it.
        program, *args = dockerfile_instruction(project, "CMD")
        command = [*as_user, sys.executable if program == "python" else program, *args]
        with serve(workdir, command, env) as server:
            if as_user:
                status_file = Path(f"/proc/{server.process.pid}/status").read_text()
                assert f"Uid:\t{as_user[1].removeprefix('--reuid=')}\t" in status_file
            browser = _browser()
            base = server.base_url
            assert _open(browser, base + "/hello")[2] == "Hello, World!"
            assert _open(browser, base + "/static/style.css")[0] == 200
            form = {"username": "ada", "password": "pw"}
            status, url, _ = _open(browser, base + "/auth/register", form)
            assert (status, url) == (200, base + "/auth/login")
            status, url, page = _open(browser, base + "/auth/login", form)
            assert url == base + "/" and "Log Out" in page
            _open(browser, base + "/create", {"title": "First post", "body": "via the mount"})
            assert "First post" in _open(browser, base + "/")[2]
            assert (workdir / "instance" / "flaskr.sqlite").is_file()
            # The service's own routes still come first.
            assert json.loads(_open(browser, base + "/readyz")[2])["status"] == "ready"
            status, output = stop(server)
        assert status in (0, -15), output


@pytest.mark.slow
def test_a_json_api_script_is_adopted_and_served_at_its_urls(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    examples = sdist(FLASK_CORS, tmp_path_factory) / "examples"
    code, stdout, stderr = new_legacy(tmp_path / "api", examples, "--app", "app_based_example:app")
    assert code == 0, stderr
    project = Path(json.loads(stdout)["directory"])
    # Its one undeclared extension became a dependency of the service.
    assert '    "flask-cors",' in (project / "pyproject.toml").read_text()
    run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)
    # Run from the source tree, as the tests do: the service's src/ and the app's legacy/.
    path = {"PYTHONPATH": f"{project / 'src'}:{project / 'legacy'}"}
    with serve(project, dockerfile_instruction(project, "CMD"), path) as server:
        request = urllib.request.Request(
            server.base_url + "/api/v1/users/", headers={"Origin": "https://example.com"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.loads(response.read()) == {"user": "joe"}
            # The app's own flask-cors answers, though the service's CORS is closed:
            # what the README's CORS note is about.
            allowed = response.headers["Access-Control-Allow-Origin"]
            assert allowed in ("*", "https://example.com")


def test_the_apps_example_environment_is_kept_and_merged(tmp_path: Path) -> None:
    source = write_files(
        tmp_path / "api",
        {
            "service.py": SCRIPT_APP,
            ".env.example": "# for local runs\nPARTNER_TOKEN=\nexport MAIL_SERVER=smtp.example\n",
            ".env": "PARTNER_TOKEN=real-secret\n",
            ".env.production": "PARTNER_TOKEN=production-secret\n",
        },
    )
    code, stdout, stderr = new_legacy(tmp_path / "svc", source)
    assert code == 0, stderr
    project = Path(json.loads(stdout)["directory"])

    # The example is documentation, kept; the environments with values stay behind.
    kept = sorted(p.name for p in (project / "legacy").iterdir())
    assert kept == [".env.example", "service.py"]
    example = (project / ".env.example").read_text()
    # Read by the code (its evidence wins), or only documented by the app's example.
    assert "# PARTNER_TOKEN=   # a secret   # service.py:4" in example
    assert "# MAIL_SERVER=   # .env.example:3" in example
    assert "real-secret" not in example and "smtp.example" not in example
