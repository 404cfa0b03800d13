"""Helpers that render real services and drive their own tools and servers."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import copier

from apistarter.decision import decide
from apistarter.questions import DecisionAnswers, Framework, ProjectAnswers
from apistarter.render import STAGING_MARKER, new_project, template_data, templates_dir
from apistarter.template_source import RECORDED_SOURCE

BIN = Path(sys.executable).parent
UNRENDERED = re.compile(r"(?<!\$)\{\{|\{%")


def render_service(
    destination: Path,
    framework: Framework,
    answers: Mapping[str, Any] | None = None,
    project: Mapping[str, Any] | None = None,
) -> Path:
    """Render a service the way `apistarter new` does, with the engine's data.

    auth is none unless the answers name it: the suites probe the HTTP layer without
    credentials in the way (the default service's auth=jwt would refuse to start without
    an identity provider); tests/test_auth*.py render every scheme, auto included.
    """
    decision = DecisionAnswers.model_validate({"auth": "none", **(answers or {})})
    names = ProjectAnswers.model_validate({"project_name": "orders-api", **(project or {})})
    recommendation = decide(decision, framework)
    return new_project(destination, template_data(names, decision, recommendation)).directory


# Where every framework's service serves its OpenAPI schema.
OPENAPI_PATH = "/openapi.json"
# The template version older services are made with in update tests and benchmarks.
PREVIOUS_VERSION = "0.0.1"


def write_previous_templates(destination: Path) -> None:
    """The template tree as version PREVIOUS_VERSION had it: every README lacks its last
    lines, and there are no deploy artefacts (Kubernetes, Compose, systemd) yet."""
    shutil.copytree(templates_dir(), destination)
    for readme in destination.rglob("*README*"):
        lines = readme.read_text().splitlines(keepends=True)
        readme.write_text("".join(lines[:-3]))
    for tree in destination.glob("[!_]*/"):  # each framework's tree, not _shared
        for artefact in [*tree.glob("deploy"), *tree.glob("*compose.yaml*")]:
            if artefact.is_dir():
                shutil.rmtree(artefact)
            else:
                artefact.unlink()


def render_previous(destination: Path, framework: Framework = "fastapi") -> Path:
    """A service made with the installed bundle's PREVIOUS_VERSION, committed in its own repo
    (auth=none, as render_service has it)."""
    decision = DecisionAnswers(auth="none")
    project = ProjectAnswers(project_name="orders-api")
    copier.run_copy(
        RECORDED_SOURCE,
        destination,
        data=template_data(project, decision, decide(decision, framework)),
        vcs_ref=f"v{PREVIOUS_VERSION}",
        defaults=True,
        quiet=True,
    )
    git(destination, "init", "--quiet")
    git(destination, "add", "-A")
    git(destination, "commit", "--quiet", "-m", "generated")
    return destination


def markdown_text(markdown: str) -> str:
    """Generated Markdown as its reader sees the text: the backslashes escaping an adopted
    app's strings (templates/_shared/markdown.jinja) taken out, as Markdown does."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


def unrendered_lines(root: Path) -> list[str]:
    """Lines that still hold Jinja syntax (GitHub's `${{ }}` expressions are fine)."""
    found = []
    for path in root.rglob("*"):
        if ".git" in path.parts or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        found += [f"{path}: {line}" for line in text.splitlines() if UNRENDERED.search(line)]
    return found


def run(
    args: list[str], cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 300
) -> str:
    """Run a tool in a generated project; fail with its output when it fails."""
    result = subprocess.run(
        args,
        cwd=cwd,
        env={**service_env(cwd), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{shlex.join(args)} exited {result.returncode}:\n{output}"
    return output


def git(cwd: Path, *args: str) -> str:
    """Run git with a throwaway identity (test repositories only); return its output."""
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def signal_new_once_staging(work: Path, env: Mapping[str, str], stop: signal.Signals) -> int | None:
    """Run `apistarter new svc --defaults` in ``work`` and send ``stop`` once its staging
    directory exists (with its marker); its exit code, or None when it finished before the
    signal could land."""
    process = subprocess.Popen(
        [sys.executable, "-m", "apistarter", "new", "svc", "--defaults"],
        cwd=work,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not any((p / STAGING_MARKER).is_file() for p in work.glob(".svc.*")):
        if process.poll() is not None:
            return None
        assert time.monotonic() < deadline, "no staging directory within 60 s"
        time.sleep(0.01)
    process.send_signal(stop)
    return process.wait(timeout=60)


def tree_state(path: Path) -> str:
    """Everything a refused or restored command must leave as it was, as comparable text.

    Each entry below ``path`` (links not followed) with its type, mode and content
    hash or link target, then, for every git repository found, its history (all
    refs), its index and its status. ``.git`` itself is not hashed: git rewrites
    its index's stat cache on a mere `git status`.
    """
    lines = []
    for root, folders, files in os.walk(path):
        folders.sort()
        if ".git" in folders and not (Path(root) / ".git").is_symlink():
            folders.remove(".git")
            repo = Path(root)
            lines.append(f"repo {repo.relative_to(path)}")
            for args in (
                ("log", "--all", "--format=%H %P %s"),
                ("for-each-ref",),
                ("ls-files", "--stage"),
                ("status", "--porcelain", "--untracked-files=all", "--ignored"),
            ):
                lines.append(git(repo, *args))
        for name in sorted([*files, *(f for f in folders if (Path(root) / f).is_symlink())]):
            entry = Path(root) / name
            info = entry.lstat()
            if stat.S_ISLNK(info.st_mode):
                content = f"-> {entry.readlink()}"
            elif stat.S_ISREG(info.st_mode):
                content = hashlib.sha256(entry.read_bytes()).hexdigest()
            else:
                content = "special"
            lines.append(f"{entry.relative_to(path)} {oct(info.st_mode)} {content}")
        for name in folders:
            entry = Path(root) / name
            lines.append(f"{entry.relative_to(path)}/ {oct(entry.lstat().st_mode)}")
    return "\n".join(lines)


def service_env(project: Path, bin_dir: Path = BIN) -> dict[str, str]:
    """The environment a generated service runs in locally, its src on the path.

    Its programs (python, gunicorn) are looked up in ``bin_dir`` first: this venv, or
    a venv that holds only what the service declares.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APP_", "WEB_"))}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(project / "src")
    return env


def dockerfile_instruction(project: Path, name: str) -> list[str]:
    """The exec-form JSON array of the last ``name`` instruction in the Dockerfile."""
    text = (project / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line for line in text.splitlines() if line.strip().startswith(name + " ")]
    assert lines, f"no {name} in the Dockerfile"
    value = lines[-1].strip()[len(name) :].strip()
    if name == "HEALTHCHECK":
        value = value[value.index("CMD ") + 4 :]
    parsed = json.loads(value)
    assert isinstance(parsed, list), f"{name} is not in exec form: {value}"
    return [str(part) for part in parsed]


def image_env(project: Path) -> dict[str, str]:
    """The variables the Dockerfile's final stage sets (ENV), except PATH.

    PATH is left to whoever runs the command here, which looks its programs up in a
    local virtualenv rather than the image's /opt/venv.
    """
    text = (project / "Dockerfile").read_text().replace("\\\n", " ")
    final_stage = text[text.rindex("\nFROM ") :]
    env: dict[str, str] = {}
    for line in final_stage.splitlines():
        if line.startswith("ENV "):
            for assignment in shlex.split(line[len("ENV ") :]):
                name, separator, value = assignment.partition("=")
                assert separator, f"ENV without '=' is not supported: {line}"
                env[name] = value
    env.pop("PATH", None)
    return env


def as_image_user(project: Path, writable: Path) -> list[str]:
    """A command prefix running as the Dockerfile's USER (when the tests run as root)."""
    if os.geteuid() != 0:
        return []
    user = next(
        line.split()[1]
        for line in (project / "Dockerfile").read_text().splitlines()
        if line.startswith("USER ")
    )
    uid, _, gid = user.partition(":")
    os.chown(writable, int(uid), int(gid))
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]


def make_venv(path: Path, python: str | Path = sys.executable) -> Path:
    """A new virtualenv of ``python`` at ``path``; returns its bin directory."""
    subprocess.run([str(python), "-m", "venv", str(path)], check=True)
    return path / "bin"


def pip_install(bin_dir: Path, *requirements: str) -> None:
    """Install ``requirements`` (names, specifiers or paths) into the venv of ``bin_dir``."""
    pip = [str(bin_dir / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--disable-pip-version-check", *requirements], check=True)


def proc_stat_fields(stat: Path) -> list[str]:
    """The fields of a /proc/<pid>[/task/<tid>]/stat file after the command name.

    The name is in parentheses and may itself hold spaces or parentheses, so the
    split is at the last ")". Field 3 of proc(5), the state, is the first returned.
    """
    return stat.read_text().rpartition(")")[2].split()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def http_request(
    base_url: str, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One raw request (no redirect followed): status, lower-cased headers, body."""
    address = urlsplit(base_url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    try:
        connection.request(method, path, body=body or None, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


@dataclass
class RunningServer:
    process: subprocess.Popen[str]
    base_url: str
    port: int
    log: IO[str]

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()


@contextlib.contextmanager
def serve(
    project: Path,
    command: list[str],
    extra_env: Mapping[str, str] | None = None,
    boot_timeout: float = 30,
    bin_dir: Path = BIN,
) -> Iterator[RunningServer]:
    """Start ``command`` in ``project`` on a free loopback port; wait until /livez answers."""
    port = free_port()
    env = {
        **service_env(project, bin_dir),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        **(extra_env or {}),
    }
    # A file, not a pipe: a busy server would fill a pipe nobody reads and stall.
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed when the server stops
    process = subprocess.Popen(
        command,
        cwd=project,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    server = RunningServer(process, f"http://127.0.0.1:{port}", port, log)
    try:
        deadline = time.monotonic() + boot_timeout
        while True:
            if process.poll() is not None:
                raise AssertionError(f"{command} exited {process.returncode}:\n{server.output()}")
            try:
                if get(server.base_url + "/livez", timeout=1)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{command} did not answer /livez in {boot_timeout} s")
            time.sleep(0.2)
        yield server
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def wait_for_port(port: int, timeout: float = 10) -> None:
    """Return once something accepts connections on 127.0.0.1:``port``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@contextlib.contextmanager
def front_proxy(project: Path, upstream_port: int, workdir: Path) -> Iterator[int]:
    """nginx run with the project's deploy/nginx.conf in front of ``upstream_port``.

    The rendered ports (the plan's) are swapped for free ones so tests run side by
    side; everything else is the file as generated. Yields the port nginx listens on.
    """
    # deploy/nginx.conf, or deploy/kubernetes/nginx.conf where Kustomize generates its ConfigMap.
    (path,) = project.glob("deploy/**/nginx.conf")
    conf = path.read_text()
    port = free_port()
    conf, listens = re.subn(r"\blisten \d+\b", f"listen 127.0.0.1:{port}", conf)
    conf, upstreams = re.subn(
        r"server 127\.0\.0\.1:\d+;", f"server 127.0.0.1:{upstream_port};", conf
    )
    assert (listens, upstreams) == (1, 1), conf
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "nginx.conf").write_text(conf)
    process = subprocess.Popen(
        ["nginx", "-p", str(workdir), "-c", str(workdir / "nginx.conf"), "-e", "stderr"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_port(port)
        yield port
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


# Uvicorn drains, then re-raises SIGTERM so the exit status says why it stopped
# (143 to a shell, as orchestrators expect); Gunicorn's master exits 0.
CLEAN_EXITS = (0, -signal.SIGTERM)


def stop(server: RunningServer, timeout: float = 30) -> tuple[int, str]:
    """SIGTERM the server; it must exit by itself within ``timeout``. (status, output)."""
    server.process.send_signal(signal.SIGTERM)
    status = server.process.wait(timeout=timeout)
    return status, server.output()
