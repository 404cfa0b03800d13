"""Suite-wide setup."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.flask_examples import FLASK, new_legacy, sdist
from tests.postgres_cluster import system_user

# A suite started in the background by a non-interactive shell (`.ci/run &`) inherits
# SIGINT ignored, and so would every CLI it starts: the Ctrl-C tests would then see
# nothing happen. A handler installed here is reset to the default in each child.
signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_configure(config: pytest.Config) -> None:
    # Before any test starts PostgreSQL as root: see postgres_cluster.system_user.
    system_user()
    # `new` writes uv.lock by default; the suite asks for it only where a test is about
    # the lock (tests/test_lock.py), so other tests neither wait on the index nor print
    # a note that depends on this machine's interpreters.
    os.environ["APISTARTER_LOCK"] = "0"


@pytest.fixture(scope="session", autouse=True)
def _inner_pytest_temproot(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[None]:
    """The pytest runs a test starts (a generated service's own suite) keep their
    temporary folders inside this run's, not in the shared ``/tmp/pytest-of-<user>``.

    Each pytest that starts sets that shared folder back to mode 0700. Run as root,
    pgserver runs PostgreSQL's programs as another user, from a venv under this run's
    temporary folder, and needs to traverse it: an inner run starting on the other
    worker made its ``pg_ctl stop`` fail with EACCES.
    """
    tmp_path_factory.getbasetemp()  # this run's own folder, made before the variable is set
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("PYTEST_DEBUG_TEMPROOT", str(tmp_path_factory.mktemp("inner-pytest")))
        yield


@pytest.fixture(scope="session")
def flaskr_service(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Flask's tutorial app (flaskr) adopted by `new --legacy`; tests that change it copy it."""
    flaskr = sdist(FLASK, tmp_path_factory) / "examples" / "tutorial"
    code, stdout, stderr = new_legacy(tmp_path_factory.mktemp("adopted") / "blog", flaskr)
    assert code == 0, stderr
    return Path(json.loads(stdout)["directory"])
