"""The deploy plan: what the platform must know to run the server plan.

Pure: derived from the deploy answer and the server plan only. The deploy
artefacts (Kubernetes manifests, compose.yaml, the systemd unit) place these
values; none of them is typed again in a template.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from apistarter.questions import Deploy
from apistarter.server import ServerPlan

# The ports the service listens on: the API (and /readyz), and a second port that
# answers only /livez from its own thread, so a saturated instance is not restarted
# for being busy (see the generated liveness.py).
PORT = 8000
LIVENESS_PORT = 8081
LIVENESS_PATH = "/livez"
READINESS_PATH = "/readyz"
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
CPU_TARGET_PERCENT = 70
# The Kubernetes version the manifests are validated against (kubernetes-validate).
KUBERNETES_VERSION = "1.34.0"
# checkov, run in its own environment (uvx): it pins libraries a project's tools need newer.
CHECKOV_VERSION = "3.3.30"
# Settings held in a Secret, never in a ConfigMap or the repository: the generated
# settings' SecretStr fields (each service's own tests/test_deploy.py checks the two agree).
SECRET_SETTINGS = ("APP_API_KEY",)


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


class DeployPlan(BaseModel):
    """Every number the deploy artefacts carry, with the server plan's environment."""

    model_config = ConfigDict(frozen=True)

    target: Deploy
    port: int
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
    cpu_target_percent: int
    kubernetes_version: str
    checkov_version: str
    # The server plan as the environment the platform sets (non-secret settings).
    env: dict[str, str]
    secrets: tuple[str, ...]


def plan_env(plan: ServerPlan) -> dict[str, str]:
    """The server plan as the variables the generated settings read."""
    env = {
        "PORT": str(PORT),
        "WEB_LIVENESS_PORT": str(LIVENESS_PORT),
        "WEB_CONCURRENCY": str(plan.workers),
        "WEB_THREADS": str(plan.threads),
        "WEB_GRACEFUL_TIMEOUT": str(plan.graceful_timeout),
        "WEB_SHUTDOWN_DELAY": str(plan.shutdown_delay),
        "WEB_KEEPALIVE": str(plan.keepalive),
    }
    if plan.server == "gunicorn":
        env |= {
            "WEB_WORKER_CLASS": plan.worker_class,
            "WEB_TIMEOUT": str(plan.timeout),
            "WEB_MAX_REQUESTS": str(plan.max_requests),
            "WEB_MAX_REQUESTS_JITTER": str(plan.max_requests_jitter),
        }
    return env


def plan_deploy(target: Deploy, plan: ServerPlan) -> DeployPlan:
    """The deploy plan for running ``plan`` on ``target``."""
    return DeployPlan(
        target=target,
        port=PORT,
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
        cpu_target_percent=CPU_TARGET_PERCENT,
        kubernetes_version=KUBERNETES_VERSION,
        checkov_version=CHECKOV_VERSION,
        env=plan_env(plan),
        secrets=SECRET_SETTINGS,
    )
