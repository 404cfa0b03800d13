"""Deploy artefacts: derived from the server plan, validated offline, run as the platform would.

For every framework x deploy target the rendered artefact (the Kustomize base, compose.yaml
or the systemd unit) is validated by the commands the service's own CI runs, checked against
the contract a platform relies on (probes on the ports the server listens on, a grace period
longer than the drain, the image's non-root user, a pinned image), and exercised: the test
reads the artefact, starts the container command with exactly the environment it declares,
probes what it declares with its timeouts, and sends SIGTERM under load. Each check is shown
to fail on a deliberately broken artefact.

Ports are mapped as a container runtime maps them: each declared port becomes a free
loopback port, so parallel runs never collide; a probe on an undeclared port finds nothing.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import jinja2
import pytest
import yaml

from apistarter.decision import decide
from apistarter.deploy import plan_deploy
from apistarter.questions import DecisionAnswers, Framework
from apistarter.render import available_frameworks, templates_dir
from apistarter.server import SERVERS_FOR

from .harness import (
    BIN,
    CLEAN_EXITS,
    dockerfile_instruction,
    free_port,
    front_proxy,
    get,
    render_service,
    run,
    serve,
)
from .test_shutdown import Plan, Shutdown, _load, _request_log

FRAMEWORKS: tuple[Framework, ...] = tuple(sorted(available_frameworks()))  # type: ignore[arg-type]
TARGETS = ("kubernetes", "compose", "vm")
CELLS = [
    pytest.param(framework, target, "auto", id=f"{framework}-{target}")
    for framework, target in itertools.product(FRAMEWORKS, TARGETS)
] + [
    # The servers the plan does not pick there, by the server answer: Uvicorn for FastAPI,
    # Granian's launcher for the rest, each behind its target's probes and stop.
    pytest.param(framework, target, server, id=f"{framework}-{target}-{server}")
    for framework, target, server in [
        ("fastapi", "kubernetes", "uvicorn"),
        ("fastapi", "compose", "uvicorn"),
        ("fastapi", "vm", "granian"),
        ("hybrid", "kubernetes", "granian"),
        *(("flask", target, "granian") for target in TARGETS),
    ]
]
DELAY_MS = 200
T = TypeVar("T")
WARM_UP_S = 1.0
GRID = {
    "workload": ("sync", "io-bound", "cpu-bound", "mixed"),
    "deploy": TARGETS,
    "cpus": (1, 2, 8),
    "cpu_tasks": ("none", "inline"),
}


# --- The plan (fast) -------------------------------------------------------------------


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_plain_copier_deploy_default_equals_the_engine(framework: Framework) -> None:
    """copier.yml's hidden deploy default is what apistarter computes for its default answers."""
    question = yaml.safe_load((templates_dir() / "copier.yml").read_text())["deploy"]
    rendered = jinja2.Environment(autoescape=True).from_string(question["default"])
    answers = DecisionAnswers()
    expected = plan_deploy(answers.deploy, decide(answers, framework).server)
    assert yaml.safe_load(rendered.render(framework=framework)) == expected.model_dump(mode="json")


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_every_plan_leaves_the_drain_inside_the_grace_period(framework: Framework) -> None:
    servers = ("auto", *SERVERS_FOR[framework])
    for *values, server_answer in itertools.product(*GRID.values(), servers):
        answers = DecisionAnswers.model_validate(
            {**dict(zip(GRID, values, strict=True)), "server": server_answer}
        )
        server = decide(answers, framework).server
        deploy = plan_deploy(answers.deploy, server)
        assert deploy.grace_period_s > server.graceful_timeout + server.shutdown_delay
        assert deploy.cpu == server.workers  # a limit that disagrees with the workers
        assert deploy.env["WEB_CONCURRENCY"] == str(server.workers)
        assert deploy.env["WEB_LIVENESS_PORT"] == str(deploy.liveness_port)
        assert deploy.env["PORT"] == str(deploy.app_port)
        proxy = server.front_proxy
        if proxy is not None:  # clients reach nginx; the app listens behind it on loopback
            assert (deploy.port, deploy.app_port) == (proxy.listen_port, proxy.upstream_port)
            assert deploy.env["HOST"] == "127.0.0.1"


# --- Reading the artefacts as a platform does ------------------------------------------


@dataclass(frozen=True)
class HttpProbe:
    name: str
    port: int
    path: str
    timeout_s: float
    attempts: int


@dataclass(frozen=True)
class Proxy:
    """The proxy an artefact runs in front of the app: its config and the port it listens on."""

    config: str
    listen_port: int

    def upstream_port(self) -> int:
        match = re.search(r"server 127\.0\.0\.1:(\d+);", self.config)
        assert match, self.config
        return int(match.group(1))


@dataclass(frozen=True)
class Platform:
    """What a platform takes from a deploy artefact to run and stop the service."""

    command: list[str]
    env: dict[str, str]
    user: str
    image: str | None
    grace_s: float
    startup_window_s: float
    writable: tuple[str, ...] = ()
    probes: tuple[HttpProbe, ...] = ()
    health_command: list[str] = field(default_factory=list)
    health_timeout_s: float = 0
    health_attempts: int = 0
    proxy: Proxy | None = None
    # The port clients are sent to (Service targetPort, the published port).
    service_port: int = 0
    # The app's CPU (cores) and memory (MiB) limits, where the platform sets them.
    limits: tuple[float, int] | None = None


def _kustomize(project: Path) -> list[dict[str, Any]]:
    built = run(["kubectl", "kustomize", "deploy/kubernetes"], project)
    return [doc for doc in yaml.safe_load_all(built) if doc]


def _quantity(value: str | float, units: dict[str, float]) -> float:
    """A CPU or memory amount as a number, in the unit ``units`` maps to 1."""
    match = re.fullmatch(r"([\d.]+)([A-Za-z]*)", str(value))
    assert match and match.group(2) in units, f"not a known quantity: {value}"
    return float(match.group(1)) * units[match.group(2)]


CORES: dict[str, float] = {"": 1, "m": 0.001}
# Kubernetes' units, and Compose's (which counts M as 1024 KiB, as Docker does).
MIB: dict[str, float] = {"Mi": 1, "Gi": 1024, "M": 1, "G": 1024}


def _limits(cpu: str | float, memory: str) -> tuple[float, int]:
    return _quantity(cpu, CORES), int(_quantity(memory, MIB))


def _seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)s", value)
    assert match, f"not a duration in seconds: {value}"
    return float(match.group(1))


def read_kubernetes(project: Path) -> Platform:
    built = _kustomize(project)
    docs = {doc["kind"]: doc for doc in built if doc["kind"] != "ConfigMap"}
    config_maps = {d["metadata"]["name"]: d["data"] for d in built if d["kind"] == "ConfigMap"}
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    containers = {container["name"]: container for container in pod["containers"]}
    container = containers.pop("app")
    assert "command" not in container and "args" not in container  # the image's CMD runs
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env |= config_maps[source["configMapRef"]["name"]]
    context = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
    probes = []
    for name in ("startupProbe", "livenessProbe", "readinessProbe"):
        probe = container[name]
        # Over HTTP on every plan: an exec probe starts a process in the container each time.
        assert "httpGet" in probe, f"{name} is not an HTTP probe: {probe}"
        probes.append(
            HttpProbe(
                name,
                probe["httpGet"]["port"],
                probe["httpGet"]["path"],
                probe["timeoutSeconds"],
                probe["failureThreshold"],
            )
        )
    startup = container["startupProbe"]
    return Platform(
        command=dockerfile_instruction(project, "CMD"),
        env=env,
        user=str(context.get("runAsUser", "")) if context.get("runAsNonRoot") else "root",
        image=container["image"],
        grace_s=pod["terminationGracePeriodSeconds"],
        startup_window_s=startup.get("initialDelaySeconds", 0)
        + startup["periodSeconds"] * startup["failureThreshold"],
        writable=tuple(mount["mountPath"] for mount in container["volumeMounts"]),
        probes=tuple(probes),
        proxy=_kubernetes_proxy(containers.pop("nginx", None), pod["volumes"], config_maps),
        service_port=_service_port(docs["Service"], pod["containers"]),
        limits=_limits(**container["resources"]["limits"]),
    )


def _kubernetes_proxy(
    container: dict[str, Any] | None,
    volumes: list[dict[str, Any]],
    config_maps: dict[str, dict[str, str]],
) -> Proxy | None:
    """The nginx sidecar: its config from the generated ConfigMap, its port."""
    if container is None:
        return None
    (mount,) = [m for m in container["volumeMounts"] if m.get("subPath") == "nginx.conf"]
    (volume,) = [v for v in volumes if v["name"] == mount["name"]]
    config = config_maps[volume["configMap"]["name"]][mount["subPath"]]
    (port,) = container["ports"]
    return Proxy(config=config, listen_port=port["containerPort"])


def _service_port(service: dict[str, Any], containers: list[dict[str, Any]]) -> int:
    """The container port the Service sends traffic to (its named targetPort resolved)."""
    (port,) = service["spec"]["ports"]
    target = port["targetPort"]
    if isinstance(target, int):
        return target
    (number,) = [
        p["containerPort"] for c in containers for p in c.get("ports", []) if p["name"] == target
    ]
    return int(number)


def read_compose(project: Path) -> Platform:
    services = yaml.safe_load((project / "compose.yaml").read_text())["services"]
    service = services["app"]
    (published,) = service["ports"]
    assert "command" not in service  # the image's CMD runs
    health = service["healthcheck"]
    assert health["test"][0] == "CMD"
    return Platform(
        command=dockerfile_instruction(project, "CMD"),
        env={name: str(value) for name, value in service["environment"].items()},
        user=str(service.get("user", "root")).split(":")[0],
        image=service["image"],
        grace_s=_seconds(service["stop_grace_period"]),
        startup_window_s=_seconds(health["start_period"]),
        writable=tuple(service["tmpfs"]) if service.get("read_only") else ("/",),
        health_command=health["test"][1:],
        health_timeout_s=_seconds(health["timeout"]),
        health_attempts=health["retries"],
        proxy=_compose_proxy(project, services.get("nginx")),
        service_port=int(published.rpartition(":")[2]),
        limits=_compose_limits(service),
    )


def _compose_limits(service: dict[str, Any]) -> tuple[float, int] | None:
    limits = service.get("deploy", {}).get("resources", {}).get("limits")
    return None if limits is None else _limits(limits["cpus"], limits["memory"])


def _compose_proxy(project: Path, service: dict[str, Any] | None) -> Proxy | None:
    """The nginx service: in the app's network namespace, its config the mounted file."""
    if service is None:
        return None
    assert service["network_mode"] == "service:app"  # 127.0.0.1 is the app's loopback
    (volume,) = service["volumes"]
    source, _, options = volume.partition(":")
    assert options.endswith(":ro"), volume
    config = (project / source).read_text()
    listen = re.search(r"\blisten (\d+)\b", config)
    assert listen, config
    return Proxy(config=config, listen_port=int(listen.group(1)))


def _unit(project: Path) -> Path:
    (unit,) = project.glob("deploy/systemd/*.service")
    return unit


def read_unit(project: Path) -> Platform:
    settings: dict[str, list[str]] = {}
    for line in _unit(project).read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    (start,) = settings["ExecStart"]
    program, *args = start.split()
    installed = Path(f"/opt/{project.name}/bin")
    assert Path(program).parent == installed, start
    return Platform(
        # Run from this test's venv, where the unit would run it from the service's.
        command=[Path(program).name, *args],
        env=dict(value.split("=", 1) for value in settings.get("Environment", [])),
        user="dynamic"
        if settings.get("DynamicUser") == ["yes"]
        else settings.get("User", ["root"])[0],
        image=None,
        grace_s=float(settings["TimeoutStopSec"][0]),
        # systemd starts the command and leaves readiness to a balancer's checks.
        startup_window_s=30,
    )


READERS: dict[str, Callable[[Path], Platform]] = {
    "kubernetes": read_kubernetes,
    "compose": read_compose,
    "vm": read_unit,
}


def contract_problems(platform: Platform, project: Path) -> list[str]:
    """What a platform running this artefact would get wrong; [] when nothing."""
    env = platform.env
    problems = []
    image_user = dockerfile_instruction_text(project, "USER").split(":")[0]
    if platform.user in ("root", "0"):
        problems.append("runs as root")
    elif platform.image is not None and platform.user != image_user:
        problems.append(f"runs as {platform.user!r}, not the image's user {image_user}")
    if platform.image is not None:
        name, _, tag = platform.image.rpartition(":")
        if not name or tag in ("", "latest"):
            problems.append(f"image {platform.image!r} is not pinned to a version")
    drain = float(env["WEB_GRACEFUL_TIMEOUT"]) + float(env["WEB_SHUTDOWN_DELAY"])
    if platform.grace_s <= drain:
        problems.append(f"grace period {platform.grace_s} s is not longer than the drain {drain} s")
    proxy = platform.proxy
    clients = int(env["PORT"]) if proxy is None else proxy.listen_port
    if proxy is not None and (env.get("HOST"), env["PORT"]) != (
        "127.0.0.1",
        str(proxy.upstream_port()),
    ):
        where = f"HOST={env.get('HOST')} PORT={env['PORT']}"
        problems.append(f"app not on the proxy's upstream: {where}")
    if platform.service_port and platform.service_port != clients:
        problems.append(f"clients sent to port {platform.service_port}, not {clients}")
    for probe in platform.probes:
        if probe.name == "readinessProbe":
            expected = (clients, "/readyz")
        else:
            expected = (int(env["WEB_LIVENESS_PORT"]), "/livez")
        if (probe.port, probe.path) != expected:
            problems.append(f"probe {probe.name} asks {probe.port}{probe.path}, not {expected}")
    if platform.image is not None:  # a container platform: it limits what the app may use
        planned = yaml.safe_load((project / ".copier-answers.yml").read_text())["deploy"]
        limits = (float(planned["cpu"]), int(planned["memory_mib"]))
        if platform.limits != limits:
            problems.append(f"limits {platform.limits} are not the plan's {limits}")
    if platform.image is not None and "/tmp" not in platform.writable:
        problems.append(f"writable paths {platform.writable} do not include /tmp")
    said, said_clients = adr_ports(project)
    carried = {name: int(env[name]) for name in ("PORT", "WEB_LIVENESS_PORT")}
    if said != carried:
        problems.append(f"the ADR says the environment carries ports {said}, it has {carried}")
    # nginx's port, where the plan puts it in front (a VM runs it beside the unit).
    listens = [
        int(port)
        for conf in project.glob("deploy/**/nginx.conf")
        for port in re.findall(r"\blisten (\d+)\b", conf.read_text())
    ]
    if said_clients != (listens[0] if listens else None):
        problems.append(f"the ADR names client port {said_clients}, nginx listens on {listens}")
    return problems


def adr_ports(project: Path) -> tuple[dict[str, int], int | None]:
    """The ports the ADR says the environment carries, and the proxy port it names if any."""
    (adr,) = project.glob("docs/decisions/*.md")
    text = " ".join(adr.read_text().split())
    said = re.findall(r"(\d+) \(`(PORT|WEB_LIVENESS_PORT)`", text)
    clients = re.search(r"Port (\d+), where clients connect", text)
    return {name: int(port) for port, name in said}, clients and int(clients.group(1))


def dockerfile_instruction_text(project: Path, name: str) -> str:
    """The argument of the last shell-form ``name`` instruction (USER, EXPOSE)."""
    lines = [
        line.split(None, 1)[1]
        for line in (project / "Dockerfile").read_text().splitlines()
        if line.startswith(name + " ")
    ]
    assert lines, f"no {name} in the Dockerfile"
    return lines[-1].strip()


# --- Running the artefact --------------------------------------------------------------


@dataclass
class PortMap:
    """Declared port -> free loopback port, as `docker run -p` maps them."""

    ports: dict[int, int] = field(default_factory=dict)

    def __call__(self, declared: int) -> int:
        return self.ports.setdefault(declared, free_port())


def _attempts(label: str, attempts: int, check: Callable[[], T]) -> T:
    """``check``, tried as often as the platform tolerates a timed-out probe.

    A timeout (a loaded machine) is retried, as the platform retries up to its
    failure threshold; a refused connection or a failed check fails at once.
    """
    for attempt in range(1, attempts + 1):
        try:
            return check()
        except (OSError, subprocess.TimeoutExpired) as error:
            reason = error.reason if isinstance(error, urllib.error.URLError) else error
            timed_out = isinstance(reason, TimeoutError | subprocess.TimeoutExpired)
            if not timed_out or attempt == attempts:
                raise AssertionError(f"{label}: {error}") from error
    raise AssertionError(f"{label}: no attempt")


def pod_address() -> str:
    """This machine's address on its network, as a pod's IP is to the kubelet."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(("192.0.2.1", 9))  # picks the route's source address; sends nothing
        return str(sock.getsockname()[0])


def exercise(platform: Platform, project: Path, framework: Framework) -> Shutdown:
    """Start, probe and SIGTERM the service under load exactly as ``platform`` declares it."""
    mapped = PortMap()
    env = dict(platform.env)
    declared_port = int(env.pop("PORT"))
    env["WEB_LIVENESS_PORT"] = str(mapped(int(env["WEB_LIVENESS_PORT"])))
    env["APP_DOWNSTREAM_DELAY_MS"] = str(DELAY_MS)
    with contextlib.ExitStack() as stack:
        # The writable paths are the only ones the service may write to: give it a fresh /tmp.
        env["TMPDIR"] = stack.enter_context(tempfile.TemporaryDirectory(prefix="writable-"))
        server = stack.enter_context(
            serve(project, platform.command, env, boot_timeout=platform.startup_window_s)
        )
        mapped.ports[declared_port] = server.port
        if platform.proxy is not None:
            # nginx started as the artefact describes, in front of the app's loopback port.
            nginx = front_proxy(project, server.port, Path(env["TMPDIR"]) / "nginx")
            mapped.ports[platform.proxy.listen_port] = stack.enter_context(nginx)
        if platform.probes and env.get("HOST") == "127.0.0.1":
            # The kubelet asks the pod's address: the liveness port must answer there while
            # the app's own port stays on loopback, behind nginx.
            address = pod_address()
            assert get(f"http://{address}:{env['WEB_LIVENESS_PORT']}/livez")[0] == 200
            with pytest.raises(OSError):
                socket.create_connection((address, server.port), timeout=2).close()
        for probe in platform.probes:
            url = f"http://127.0.0.1:{mapped(probe.port)}{probe.path}"
            label = f"{probe.name} {probe.port}{probe.path}"
            ask = functools.partial(get, url, timeout=probe.timeout_s)
            status, body = _attempts(label, probe.attempts, ask)
            assert status == 200, f"{label}: {status} {body!r}"
        if platform.health_command:
            health_env = {**env, "PORT": str(server.port)}
            _attempts(
                "healthcheck",
                platform.health_attempts,
                lambda: run(
                    platform.health_command, project, health_env, timeout=platform.health_timeout_s
                ),
            )
        plan = Plan(framework, "", "io-bound", "", clients=8)
        with _load(server, plan, DELAY_MS) as (load, polls):
            time.sleep(WARM_UP_S)
            sigterm = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            try:
                status = server.process.wait(timeout=platform.grace_s)
            except subprocess.TimeoutExpired:
                raise AssertionError(
                    f"still running {platform.grace_s} s after SIGTERM: the platform kills it"
                ) from None
            exited = time.monotonic()
        output = server.output()
    return Shutdown(
        sigterm, exited, status, output, load.outcomes, polls.outcomes, _request_log(output)
    )


# --- Validators: the commands the generated CI runs ------------------------------------


def _ci_validation(project: Path) -> str:
    workflow = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())
    (step,) = [
        s
        for s in workflow["jobs"]["check"]["steps"]
        if s.get("name") == "Validate the deploy artefacts"
    ]
    return str(step["run"])


def require(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool, path=_tool_path()) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (.ci/run installs it)")


def _tool_path() -> str:
    return f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"


def validate(project: Path, target: str) -> subprocess.CompletedProcess[str]:
    """Run the service's CI validation step, as CI would (for vm: /opt linked privately)."""
    script = _ci_validation(project)
    env = {**os.environ, "PATH": _tool_path()}
    if target == "vm":
        require("systemd-analyze", "unshare")
        # CI links the program under /opt with sudo; here /opt is a private tmpfs of a
        # mount namespace (the test runs as root, so `sudo` is the command itself).
        script = "mount -t tmpfs none /opt\n" + script.replace("sudo ", "")
        args = ["unshare", "--mount", "bash", "-euo", "pipefail", "-c", script]
    else:
        require(*(("kubectl", "uv") if target == "kubernetes" else ("check-jsonschema",)))
        args = ["bash", "-euo", "pipefail", "-c", script]
    return subprocess.run(
        args, cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False
    )


# --- Rendered services, once per module ------------------------------------------------


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    cache: dict[tuple[str, str, str], Path] = {}
    root = tmp_path_factory.mktemp("deploy")

    def get_service(framework: Framework, target: str, server: str = "auto") -> Path:
        if (framework, target, server) not in cache:
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("HOME", str(root / "home"))
                # The directory's name is the project's, as the unit's /opt path expects.
                cache[framework, target, server] = render_service(
                    root / f"{framework}-{target}-{server}" / "orders-api",
                    framework,
                    {"deploy": target, "cpus": 2, "server": server},
                )
        return cache[framework, target, server]

    return get_service


def _broken_copy(project: Path, tmp_path: Path, path: str, old: str, new: str) -> Path:
    copy = tmp_path / "broken" / project.name
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns(".git"))
    target = copy / path
    text = target.read_text()
    assert old in text, f"{old!r} not in {path}"
    target.write_text(text.replace(old, new))
    return copy


def _artefact(project: Path, target: str) -> str:
    if target == "kubernetes":
        return "deploy/kubernetes/deployment.yaml"
    if target == "compose":
        return "compose.yaml"
    return str(_unit(project).relative_to(project))


# --- The tests -------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("framework", "target", "server"), CELLS)
def test_artefact_is_valid_and_keeps_the_contract(
    framework: Framework, target: str, server: str, rendered: Callable[..., Path]
) -> None:
    project = rendered(framework, target, server)
    others = {"kubernetes": "deploy/kubernetes", "compose": "compose.yaml", "vm": "deploy/systemd"}
    for other, path in others.items():
        assert (project / path).exists() == (other == target), path
    result = validate(project, target)
    assert result.returncode == 0, result.stdout + result.stderr
    # The workflow that runs these checks is itself a valid GitHub Actions workflow.
    workflow = ["check-jsonschema", "--builtin-schema", "vendor.github-workflows"]
    run([*workflow, ".github/workflows/ci.yml"], project)
    if target == "kubernetes":
        require("kubectl")
        # Every skipped check names its reason.
        for doc in _kustomize(project):
            for key, value in doc["metadata"].get("annotations", {}).items():
                if key.startswith("checkov.io/skip"):
                    assert re.fullmatch(r"CKV2?_K8S_\d+=\S.{20,}", value), value
    platform = READERS[target](project)
    assert contract_problems(platform, project) == []
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["deploy"]["target"] == target
    assert platform.grace_s == answers["deploy"]["grace_period_s"]
    # The proxy the plan puts in front is the one the artefact runs (Flask's gthread plan);
    # on a VM the README says how to run it beside the unit.
    if target != "vm":
        assert (platform.proxy is not None) == (answers["deploy"]["proxy"] is not None)


@pytest.mark.slow
@pytest.mark.parametrize(("framework", "target", "server"), CELLS)
def test_platform_runs_probes_and_stops_the_service(
    framework: Framework, target: str, server: str, rendered: Callable[..., Path]
) -> None:
    if target == "kubernetes":
        require("kubectl")
    project = rendered(framework, target, server)
    platform = READERS[target](project)
    result = exercise(platform, project, framework)
    summary = result.summary()
    assert result.status in CLEAN_EXITS, summary
    assert result.exited - result.sigterm < platform.grace_s, summary
    in_flight = [o for o in result.load if o.sent < result.sigterm < o.done]
    assert in_flight, summary
    assert result.failures(float(platform.env["WEB_SHUTDOWN_DELAY"])) == [], summary
    assert "Traceback" not in result.output, summary


# Broken artefacts: (target, file, old, new, what must catch it).
K8S = "deploy/kubernetes/"
BROKEN = [
    pytest.param(
        "kubernetes",
        K8S + "deployment.yaml",
        "              port: 8081\n",
        "              port: 8082\n",
        "probe",
        id="k8s-probe-port",
    ),
    pytest.param(
        "kubernetes",
        K8S + "deployment.yaml",
        "terminationGracePeriodSeconds: 35",
        "terminationGracePeriodSeconds: 3",
        "grace",
        id="k8s-grace",
    ),
    pytest.param(
        "kubernetes",
        K8S + "deployment.yaml",
        "runAsUser: 10001",
        "runAsUser: 0",
        "root",
        id="k8s-root",
    ),
    pytest.param(
        "kubernetes",
        K8S + "kustomization.yaml",
        'newTag: "0.1.0"',
        "newTag: latest",
        "pinned",
        id="k8s-latest",
    ),
    pytest.param(
        "compose",
        "compose.yaml",
        "stop_grace_period: 13s",
        "stop_grace_period: 2s",
        "grace",
        id="compose-grace",
    ),
    pytest.param(
        "compose", "compose.yaml", 'user: "10001:10001"', 'user: "0:0"', "root", id="compose-root"
    ),
    pytest.param(
        "compose", "compose.yaml", "memory: 640M", "memory: 64M", "limits", id="compose-memory"
    ),
    pytest.param(
        "kubernetes",
        K8S + "deployment.yaml",
        "memory: 384Mi",
        "memory: 256Mi",
        "limits",
        id="k8s-memory",
    ),
    pytest.param(
        "compose",
        "compose.yaml",
        "image: orders-api:0.1.0",
        "image: orders-api:latest",
        "pinned",
        id="compose-latest",
    ),
    pytest.param("vm", "unit", "TimeoutStopSec=30", "TimeoutStopSec=10", "grace", id="vm-grace"),
    pytest.param("vm", "unit", "DynamicUser=yes", "User=root", "root", id="vm-root"),
]
# Flask's gthread plan puts nginx in front: traffic that goes around it.
AROUND_THE_PROXY = [
    pytest.param(
        "kubernetes",
        K8S + "service.yaml",
        "targetPort: http",
        "targetPort: liveness",
        "clients sent to port 8081",
        id="k8s-service-around-proxy",
    ),
    pytest.param(
        "kubernetes",
        K8S + "configmap.yaml",
        'HOST: "127.0.0.1"',
        'HOST: "0.0.0.0"',
        "app not on the proxy's upstream",
        id="k8s-app-on-every-interface",
    ),
    pytest.param(
        "compose",
        "compose.yaml",
        '"8000:8000"',
        '"8001:8001"',
        "clients sent to port 8001",
        id="compose-app-published",
    ),
    pytest.param(
        "compose",
        "compose.yaml",
        'PORT: "8001"',
        'PORT: "8000"',
        "app not on the proxy's upstream",
        id="compose-app-on-proxy-port",
    ),
]
CONTRACT_BREAKS = [
    *(pytest.param("fastapi", *case.values, id=case.id) for case in BROKEN),
    *(pytest.param("flask", *case.values, id=case.id) for case in AROUND_THE_PROXY),
]


@pytest.mark.slow
@pytest.mark.parametrize(("framework", "target", "path", "old", "new", "fault"), CONTRACT_BREAKS)
def test_contract_catches_a_broken_artefact(
    framework: Framework,
    target: str,
    path: str,
    old: str,
    new: str,
    fault: str,
    rendered: Callable[[Framework, str], Path],
    tmp_path: Path,
) -> None:
    if target == "kubernetes":
        require("kubectl")
    project = rendered(framework, target)
    path = _artefact(project, target) if path == "unit" else path
    broken = _broken_copy(project, tmp_path, path, old, new)
    problems = contract_problems(READERS[target](broken), broken)
    # One break may show in several places (an app port also makes the ADR's ports wrong).
    assert any(fault in problem for problem in problems), problems


@pytest.mark.slow
@pytest.mark.parametrize(
    ("path", "old", "new", "check"),
    [
        # The validators: kubernetes-validate (strict), checkov (root user, :latest).
        pytest.param(
            K8S + "deployment.yaml",
            "revisionHistoryLimit",
            "revisionHistoryLimits",
            "revisionHistoryLimits",
            id="unknown-field",
        ),
        pytest.param(
            K8S + "deployment.yaml",
            "runAsUser: 10001",
            "runAsUser: 0",
            "CKV_K8S_40",
            id="root",
        ),
        pytest.param(
            K8S + "kustomization.yaml",
            'newTag: "0.1.0"',
            "newTag: latest",
            "CKV_K8S_14",
            id="latest",
        ),
    ],
)
def test_kubernetes_validators_catch_a_broken_base(
    path: str,
    old: str,
    new: str,
    check: str,
    rendered: Callable[[Framework, str], Path],
    tmp_path: Path,
) -> None:
    require("kubectl", "uv")
    broken = _broken_copy(rendered("flask", "kubernetes"), tmp_path, path, old, new)
    result = validate(broken, "kubernetes")
    output = result.stdout + result.stderr
    assert result.returncode != 0 and check in output, output


@pytest.mark.slow
@pytest.mark.parametrize(
    ("target", "path", "old", "new", "message"),
    [
        pytest.param(
            "compose",
            "compose.yaml",
            "stop_grace_period:",
            "stop_grace_periods:",
            "stop_grace_periods",
            id="compose-schema",
        ),
        pytest.param(
            "vm",
            "unit",
            "ProtectSystem=strict",
            "ProtectSystm=strict",
            "ProtectSystm",
            id="unit-unknown-key",
        ),
        pytest.param(
            "vm", "unit", "TimeoutStopSec=30", "TimeoutStopSec=soon", "soon", id="unit-bad-value"
        ),
    ],
)
def test_compose_and_unit_validators_catch_a_broken_artefact(
    target: str,
    path: str,
    old: str,
    new: str,
    message: str,
    rendered: Callable[[Framework, str], Path],
    tmp_path: Path,
) -> None:
    project = rendered("hybrid", target)
    path = _artefact(project, target) if path == "unit" else path
    broken = _broken_copy(project, tmp_path, path, old, new)
    result = validate(broken, target)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and message in output, output


@pytest.mark.slow
@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        pytest.param(
            "              port: 8081\n",
            "              port: 8082\n",
            "startupProbe 8082/livez",
            id="probe-port",
        ),
        pytest.param(
            "terminationGracePeriodSeconds: 35",
            "terminationGracePeriodSeconds: 3",
            "still running 3 s",
            id="grace",
        ),
    ],
)
def test_the_platform_run_fails_on_a_broken_deployment(
    old: str, new: str, message: str, rendered: Callable[[Framework, str], Path], tmp_path: Path
) -> None:
    """A probe on a port nothing listens on, or a grace shorter than the drain, fails the run."""
    require("kubectl")
    broken = _broken_copy(
        rendered("fastapi", "kubernetes"), tmp_path, K8S + "deployment.yaml", old, new
    )
    platform = READERS["kubernetes"](broken)
    with pytest.raises(AssertionError, match=re.escape(message)):
        exercise(platform, broken, "fastapi")
