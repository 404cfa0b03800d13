"""The liveness listener stays an OS thread under gevent's monkey patching.

Gunicorn's gevent worker patches threading and socket, so a listener started the
ordinary way becomes a greenlet that answers only when the busy hub gets round to
it: seconds at 1,000 clients. Here the main thread holds the interpreter without
ever yielding to gevent (the limit of a saturated worker), and the probe must
still be answered. A greenlet listener cannot answer it at all.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .harness import free_port, get, render_service, service_env

# Patch like Gunicorn's gevent worker, start the listener, then block without
# yielding to gevent: the unpatched sleep releases the GIL but never runs the hub.
WORKER = """
from gevent import monkey
monkey.patch_all()

import sys
from orders_api.liveness import LivenessListener

LivenessListener("127.0.0.1", int(sys.argv[1]))
print("listening", flush=True)
monkey.get_original("time", "sleep")(30)
"""


@pytest.mark.slow
def test_listener_answers_while_the_gevent_hub_is_blocked(tmp_path: Path) -> None:
    answers = {"workload": "io-bound", "peak_concurrency": 1000}
    project = render_service(tmp_path / "svc", "flask", answers)
    settings = (project / "src/orders_api/settings.py").read_text()
    assert 'web_worker_class: str = "gevent"' in settings  # the plan this test is about
    port = free_port()
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(port)],
        env=service_env(project),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "listening"
        status, body = get(f"http://127.0.0.1:{port}/livez", timeout=10)
        assert (status, body) == (200, b'{"status": "ok"}')
    finally:
        worker.kill()
        worker.wait()
