"""An adopted app's dependencies: read through their -r/-c chains, resolved with the
service's by a real resolver (uv), refused in one line when they cannot hold, installed
by the README's one command when they can; the services' own lower bounds installed."""

from __future__ import annotations

import base64
import json
import re
import socket
import subprocess
import threading
import tomllib
import zipfile
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from apistarter import resolve
from apistarter.cli import app
from apistarter.inspect import inspect_project
from apistarter.questions import Framework
from apistarter.resolve import OFFLINE_NOTE, uv_binary
from tests.flask_examples import PYTHON, new_legacy, write_files
from tests.harness import free_port, git, make_venv, render_service, run, tree_state

APP = (
    "import dateutil.parser\nimport humanize\nimport marshmallow\nimport tabulate\n"
    "import yaml\nfrom flask import Flask, jsonify\n\napp = Flask(__name__)\n\n\n"
    "@app.get('/api/when')\ndef when():\n"
    "    moment = dateutil.parser.isoparse('2024-03-01T12:00:00')\n"
    "    return jsonify(year=moment.year, size=humanize.naturalsize(2048))\n"
)
APP_TEST = (
    "from service import app\n\n\ndef test_when():\n"
    "    assert app.test_client().get('/api/when').get_json()['year'] == 2024\n"
)
# A pip-compile output: what the app asked for (-r requirements.in) and what those bring.
PINS = """\
flask==2.3.3  # via -r requirements.in
werkzeug==2.3.7  # via flask
jinja2==3.1.2  # via flask
itsdangerous==2.1.2  # via flask
click==8.1.7  # via flask
blinker==1.6.3  # via flask
markupsafe==2.1.3
    # via
    #   jinja2
    #   werkzeug
requests==2.31.0  # via -r requirements.in
urllib3==2.0.7  # via requests
idna==3.20  # via requests
certifi==2023.7.22  # via requests
charset-normalizer==3.3.2  # via requests
python-dateutil==2.8.2  # via -r requirements.in
six==1.16.0  # via python-dateutil
marshmallow==3.20.1  # via -r requirements.in
packaging==23.2  # via marshmallow
pyyaml==6.0.1  # via -r requirements.in
python-dotenv==1.0.0  # via -r requirements.in
tabulate==0.9.0  # via -r requirements.in
simplejson==3.19.2  # via -r requirements.in
cachetools==5.3.2  # via -r requirements.in
more-itertools==10.1.0  # via -r requirements.in
humanize==4.8.0  # via -r requirements.in
pytz==2023.3.post1  # via -r requirements.in
babel==2.13.1  # via -r requirements.in
attrs==23.1.0  # via -r requirements.in
toolz==0.12.0  # via -r requirements.in
jmespath==1.0.1  # via -r requirements.in
decorator==5.1.1  # via -r requirements.in
wrapt==1.16.0  # via -r requirements.in
"""
CHAINED = {
    "service.py": APP,
    "tests/test_service.py": APP_TEST,
    "requirements.txt": "-r requirements/prod.txt\n",
    "requirements/prod.txt": "# what production runs\n-r base.txt\n-c ../constraints.txt\n",
    "requirements/base.txt": PINS,
    # A constraint on a package the app never installs: not the service's dependency.
    "constraints.txt": "urllib3==2.0.7\nnumpy==1.26.4\n",
}


def _names(texts: list[str]) -> dict[str, str]:
    return {re.split(r"[=<>!~ \[;]", text)[0].lower(): text for text in texts}


def test_inspect_follows_requirement_chains_with_their_lines(tmp_path: Path) -> None:
    files = {
        **CHAINED,
        "requirements/prod.txt": "-r base.txt\n-c ../constraints.txt\n-r ../../outside.txt\n"
        "-r prod.txt\n-rmissing.txt\n",
    }
    report = inspect_project(write_files(tmp_path / "api", files))
    found = {d.requirement: d for d in report.dependencies}
    assert len([d for d in report.dependencies if d.evidence.file == "requirements/base.txt"]) == 30
    flask = found["flask==2.3.3"]
    assert (flask.where(), flask.constraint, flask.group) == (
        "requirements/base.txt:1 via requirements/prod.txt:1 via requirements.txt:1",
        False,
        "main",
    )
    # Pins pip-compile added for other packages, and -c lines, are constraints.
    assert found["werkzeug==2.3.7"].constraint and found["markupsafe==2.1.3"].constraint
    assert found["numpy==1.26.4"].where() == (
        "constraints.txt:2 via requirements/prod.txt:2 via requirements.txt:1"
    )
    assert found["numpy==1.26.4"].constraint
    assert {line for line in report.skipped if line.startswith("requirements/prod.txt")} == {
        "requirements/prod.txt:3: ../../outside.txt is outside the app, not read",
        "requirements/prod.txt:4: prod.txt includes itself (a cycle), not read again",
        "requirements/prod.txt:5: missing.txt does not exist, not read",
    }


@pytest.mark.slow
def test_a_chain_of_30_pins_is_merged_and_installed_by_the_readme_command(
    tmp_path: Path,
) -> None:
    source = write_files(tmp_path / "api", CHAINED)
    code, stdout, stderr = new_legacy(tmp_path / "svc", source)
    assert code == 0, stderr
    project = Path(json.loads(stdout)["directory"])
    declared = tomllib.loads((project / "pyproject.toml").read_text())["project"]["dependencies"]
    names = _names(declared)
    for line in PINS.splitlines():
        if "==" in line:
            pin = line.split()[0]
            assert names[pin.partition("==")[0]] == pin
    # The service's floors gave way to the app's pins; the unused constraint stayed out.
    assert "numpy" not in names
    assert "flask>=2.2" in declared

    # The README's install, as written, from a fresh interpreter of the service's version.
    readme = (project / "README.md").read_text()
    install = next(line for line in readme.splitlines() if "pip install -e '.[dev]'" in line)
    assert install.startswith(f"python{PYTHON} -m venv .venv && ")
    subprocess.run(["bash", "-c", install], cwd=project, check=True, timeout=900)
    python = str(project / ".venv" / "bin" / "python")
    versions = run(
        [python, "-c", "import flask, importlib.metadata as m; print(m.version('flask'))"], project
    )
    assert versions.strip() == "2.3.3"
    # The service's tests load the app through the mount; then the app's own tests.
    run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project, timeout=600)
    run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "legacy/tests"], project)


def _refused(root: Path, files: dict[str, str]) -> str:
    """`new --legacy` of an app of ``files`` in ``root``: exit 2, nothing written; stderr."""
    source = write_files(root / "api", files)
    before = tree_state(root)
    code, _, stderr = new_legacy(root / "svc", source)
    assert code == 2, stderr
    assert "Traceback" not in stderr
    assert stderr.startswith("error: ")
    assert tree_state(root) == before
    assert sorted(p.name for p in root.iterdir()) == ["api"]
    return stderr


@pytest.mark.parametrize(
    ("base", "clash"),
    [
        (
            "requests==2.31.0\npydantic<2\n",
            "the app's pydantic<2 (requirements/base.txt:2 via requirements/prod.txt:2 via "
            "requirements.txt:1) and the service's pydantic>=2.7 (its pyproject.toml)",
        ),
        # Through what each side's packages require: the app's pip-compiled idna (there for
        # requests) is older than the one the service's test client needs.
        (
            "requests==2.31.0  # via -r requirements.in\nidna==3.4  # via requests\n",
            "the app's idna==3.4 (requirements/base.txt:2 via requirements/prod.txt:2 via "
            "requirements.txt:1) and the service's httpx2>=2.16 (its pyproject.toml)",
        ),
    ],
)
def test_a_conflict_is_refused_naming_both_chains(tmp_path: Path, base: str, clash: str) -> None:
    message = _refused(tmp_path, {**CHAINED, "requirements/base.txt": base})
    assert f"dependency conflict: {clash} cannot all hold" in message


@pytest.mark.parametrize(
    ("pin", "floor"),
    [("flask==1.1.4", "flask 2.2"), ("werkzeug<2", "werkzeug 2.2"), ("flask~=2.1.0", "flask 2.2")],
)
def test_a_framework_too_old_to_mount_is_refused_with_the_first_that_works(
    tmp_path: Path, pin: str, floor: str
) -> None:
    message = _refused(tmp_path, {"service.py": APP, "requirements.txt": f"requests\n{pin}\n"})
    name, _, version = floor.partition(" ")
    assert f"the app's {pin} (requirements.txt:2) is too old to mount" in message
    assert f"the first version that works is {version}" in message
    assert f"Move the app to {name}>={version}" in message


def _unreachable_index(monkeypatch: pytest.MonkeyPatch, cache: Path) -> None:
    """PyPI behind a proxy nobody listens on; uv's cache at ``cache``."""
    closed = f"http://127.0.0.1:{free_port()}"
    for variable in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(variable, closed)
    monkeypatch.setenv("UV_CACHE_DIR", str(cache))


def test_an_unreachable_index_resolves_from_the_cache_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_files(tmp_path / "api", {"service.py": APP, "requirements.txt": "requests\n"})
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "cache"))
    code, _, stderr = new_legacy(tmp_path / "online", source)
    assert code == 0, stderr
    assert "offline" not in stderr

    _unreachable_index(monkeypatch, tmp_path / "cache")
    code, _, stderr = new_legacy(tmp_path / "offline", source)
    assert code == 0, stderr
    assert f"note: {OFFLINE_NOTE}" in stderr


def test_an_unreachable_index_and_a_cache_without_the_packages_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _unreachable_index(monkeypatch, tmp_path / "empty-cache")
    message = _refused(tmp_path / "work", {"service.py": APP, "requirements.txt": "requests\n"})
    assert "the package index could not be reached and uv's local cache lacks what" in message


def test_an_index_that_never_answers_is_refused_after_the_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A proxy that takes connections (the kernel's backlog) and never says a word.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        _unreachable_index(monkeypatch, tmp_path / "empty-cache")
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{silent.getsockname()[1]}")
        monkeypatch.setattr(resolve, "RESOLVE_TIMEOUT_S", 3)
        message = _refused(tmp_path / "work", {"service.py": APP, "requirements.txt": "requests\n"})
    assert "resolving the dependencies took over 3 s" in message


def test_an_update_whose_dependencies_do_not_resolve_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The template source this apistarter records (in HOME) is this checkout's, not
    # whatever another run left in the real HOME.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    source = write_files(tmp_path / "api", {"service.py": APP, "requirements.txt": "requests\n"})
    code, stdout, stderr = new_legacy(tmp_path / "svc", source)
    assert code == 0, stderr
    project = Path(json.loads(stdout)["directory"])
    # As an apistarter that did not resolve would have recorded and written it.
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    answers["legacy"]["dependencies"].append("pydantic<2")
    (project / ".copier-answers.yml").write_text(yaml.safe_dump(answers, sort_keys=False))
    pyproject = project / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace('    "requests",\n', '    "requests",\n    "pydantic<2",\n')
    )
    git(project, "commit", "--quiet", "-am", "recorded unresolved")
    before = tree_state(project)
    result = CliRunner().invoke(app, ["update", str(project), "--set", "deploy=vm"])
    stderr = " ".join(result.stderr.split())
    assert result.exit_code == 2, stderr
    assert "update refused: the updated pyproject.toml's dependencies do not resolve" in stderr
    assert "pydantic>=2.7 and pydantic<2" in stderr
    assert "Traceback" not in stderr
    assert tree_state(project) == before


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["fastapi", "flask", "hybrid"])
def test_services_run_their_tests_on_their_lowest_declared_versions(
    framework: Framework, tmp_path: Path
) -> None:
    project = render_service(tmp_path / "svc", framework, {}, {"python_version": PYTHON})
    bin_dir = make_venv(tmp_path / "venv")
    subprocess.run(
        [
            uv_binary(),
            "pip",
            "install",
            "--quiet",
            "--python",
            str(bin_dir / "python"),
            "--resolution",
            "lowest-direct",
            f"{project}[dev]",
        ],
        check=True,
        timeout=900,
    )
    run([str(bin_dir / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)


# A package only the app's own index has (a name no public index holds).
PRIVATE = "acme-s17-ledger-private"
TOKEN = "s3cr3t-t0ken"  # noqa: S105 - the test's own credential, to be kept out of output


def _private_wheel(folder: Path) -> Path:
    """A minimal pure-Python wheel of PRIVATE 1.0, written here (no build backend)."""
    folder.mkdir(parents=True, exist_ok=True)
    module = PRIVATE.replace("-", "_")
    dist = f"{module}-1.0"
    wheel = folder / f"{dist}-py3-none-any.whl"
    files = {
        f"{module}/__init__.py": "",
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {PRIVATE}\nVersion: 1.0\n",
        f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in files) + f"{dist}.dist-info/RECORD,,\n"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in {**files, f"{dist}.dist-info/RECORD": record}.items():
            archive.writestr(name, text)
    return wheel


class _PrivateIndex(SimpleHTTPRequestHandler):
    """A simple index (PEP 503) that answers only requests carrying its credentials."""

    authorized: list[str]

    def do_GET(self) -> None:
        expected = "Basic " + base64.b64encode(f"user:{TOKEN}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="private"')
            self.end_headers()
            return
        self.authorized.append(self.path)
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def private_index(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """A running index of PRIVATE behind basic auth: its URL with credentials, and the
    paths it served to an authorized client."""
    root = tmp_path / "index"
    wheel = _private_wheel(root / "files")
    page = root / "simple" / PRIVATE / "index.html"
    page.parent.mkdir(parents=True)
    page.write_text(f'<a href="../../files/{wheel.name}">{wheel.name}</a>\n')
    served: list[str] = []
    handler = type("Handler", (_PrivateIndex,), {"authorized": served})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://user:{TOKEN}@127.0.0.1:{server.server_address[1]}/simple", served
    finally:
        server.shutdown()
        server.server_close()


def test_find_links_in_the_app_requirements_are_honoured_and_noted(tmp_path: Path) -> None:
    source = write_files(
        tmp_path / "api",
        {"service.py": APP, "requirements.txt": f"--find-links ./wheels\n{PRIVATE}==1.0\n"},
    )
    _private_wheel(source / "wheels")
    code, stdout, stderr = new_legacy(tmp_path / "svc", source)
    assert code == 0, stderr
    project = Path(json.loads(stdout)["directory"])
    declared = tomllib.loads((project / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"{PRIVATE}==1.0" in declared
    assert (
        "note: requirements.txt:1: the app's `--find-links ./wheels` was used to resolve the "
        "dependencies; the service's install needs it too: set PIP_FIND_LINKS for pip, "
        "UV_FIND_LINKS for uv and `apistarter update`"
    ) in stderr


def _generated_text(project: Path) -> str:
    """Every file apistarter wrote (the app's own copy in legacy/ and git's store aside)."""
    return "".join(
        path.read_text(errors="replace")
        for path in project.rglob("*")
        if path.is_file() and not {"legacy", ".git"} & set(path.relative_to(project).parts)
    )


def test_a_private_index_is_used_and_its_credentials_never_shown_or_written(
    tmp_path: Path, private_index: tuple[str, list[str]]
) -> None:
    url, served = private_index
    requirements = f"-i https://pypi.org/simple\n--extra-index-url={url}\n{PRIVATE}==1.0\n"
    source = write_files(tmp_path / "api", {"service.py": APP, "requirements.txt": requirements})
    inspected = CliRunner().invoke(app, ["inspect", str(source), "--json"])
    assert inspected.exit_code == 0, inspected.stderr
    assert TOKEN not in inspected.stdout + inspected.stderr
    assert "http://***@127.0.0.1" in inspected.stdout

    code, stdout, stderr = new_legacy(tmp_path / "svc", source)
    assert code == 0, stderr
    assert any(path.startswith(f"/simple/{PRIVATE}") for path in served)
    assert TOKEN not in stdout + stderr
    assert "requirements.txt:2: the app's `--extra-index-url http://***@127.0.0.1:" in stderr
    assert "set PIP_EXTRA_INDEX_URL for pip, UV_EXTRA_INDEX_URL for uv" in stderr
    assert "requirements.txt:1: the app's `--index-url https://pypi.org/simple`" in stderr
    project = Path(json.loads(stdout)["directory"])
    assert f"{PRIVATE}==1.0" in _generated_text(project)
    assert TOKEN not in _generated_text(project)

    # A refusal through the same index keeps the credentials out of its message too.
    files = {"service.py": APP, "requirements.txt": requirements.replace("==1.0", "==2.0")}
    message = _refused(tmp_path / "refused", files)
    assert f"{PRIVATE}==2.0 (requirements.txt:3)" in message
    assert TOKEN not in message


# An app whose own tests need what only its dev requirements install.
DEV_APP = {
    "service.py": APP,
    "tests/test_service.py": (
        "import freezegun\n\nfrom service import app\n\n\n"
        "@freezegun.freeze_time('2024-03-01')\ndef test_when():\n"
        "    assert app.test_client().get('/api/when').get_json()['year'] == 2024\n"
    ),
    "requirements.txt": (
        "flask>=2.2\npython-dateutil>=2.8\nhumanize>=4\nmarshmallow>=3\ntabulate>=0.9\npyyaml>=6\n"
    ),
    "requirements-dev.txt": "-r requirements.txt\nfreezegun==1.5.1\n",
    # pip-compile output of a test file: its pins, and the packages they bring.
    "requirements/test.txt": "pytest-timeout==2.3.1  # via -r test.in\n",
}


def test_dev_requirement_files_are_merged_into_the_dev_extra(tmp_path: Path) -> None:
    source = write_files(
        tmp_path / "api", {**DEV_APP, "dev-requirements.txt": "pytest-randomly==3.15.0\n"}
    )
    report = inspect_project(source)
    # requirements.txt read again through requirements-dev.txt's -r aside.
    groups = {d.evidence.file: d.group for d in report.dependencies if not d.via}
    assert groups == {
        "requirements.txt": "main",
        "requirements-dev.txt": "dev",
        "requirements/test.txt": "dev",
        "dev-requirements.txt": "dev",
    }
    code, stdout, stderr = new_legacy(tmp_path / "svc", source)
    assert code == 0, stderr
    project = Path(json.loads(stdout)["directory"])
    declared = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    dev = declared["optional-dependencies"]["dev"]
    assert {"freezegun==1.5.1", "pytest-randomly==3.15.0", "pytest-timeout==2.3.1"} <= set(dev)
    # What requirements.txt declares is the service's, once; nothing of the tests' is.
    assert "flask>=2.2" not in dev and "flask>=2.2" in declared["dependencies"]
    assert not {"freezegun", "pytest-randomly", "pytest-timeout"} & set(
        _names(declared["dependencies"])
    )


def test_a_dev_requirement_the_service_cannot_hold_is_refused_naming_its_file(
    tmp_path: Path,
) -> None:
    message = _refused(
        tmp_path, {**DEV_APP, "requirements-dev.txt": "-r requirements.txt\npydantic<2\n"}
    )
    assert (
        "dependency conflict: the app's pydantic<2 (requirements-dev.txt:2) and the service's "
        "pydantic>=2.7 (its pyproject.toml) cannot all hold"
    ) in message


@pytest.mark.slow
def test_the_apps_own_tests_get_their_dev_requirements_from_the_readme_install(
    tmp_path: Path,
) -> None:
    source = write_files(tmp_path / "api", DEV_APP)
    code, stdout, stderr = new_legacy(tmp_path / "svc", source)
    assert code == 0, stderr
    project = Path(json.loads(stdout)["directory"])
    readme = (project / "README.md").read_text()
    install = next(line for line in readme.splitlines() if "pip install -e '.[dev]'" in line)
    subprocess.run(["bash", "-c", install], cwd=project, check=True, timeout=900)
    python = str(project / ".venv" / "bin" / "python")
    # The service's tests, the app's own suite through the service among them.
    run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project, timeout=600)
