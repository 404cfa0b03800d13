"""A service's uv.lock, written when uv can resolve its dependencies."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from apistarter.interpreters import python_command
from apistarter.resolve import uv_binary

# Resolving a service's dependencies: a few seconds with the index reachable.
LOCK_TIMEOUT_S = 300


def write_lock(tree: Path, python_version: str) -> str:
    """Run `uv lock` in ``tree``; "" when uv.lock was written, otherwise why not.

    uv resolves for the service's Python (it reads no more than its metadata) and never
    downloads an interpreter; a failure leaves the service as rendered, without a lock.
    """
    try:
        uv = uv_binary()
    except FileNotFoundError:
        return "uv.lock not written: uv is not installed (install it, run `uv lock`, commit)"
    python = python_command(python_version)
    if python is None:
        return (
            f"uv.lock not written: no working python{python_version} on PATH (install it, "
            "run `uv lock` in the service, commit the lock)"
        )
    try:
        result = subprocess.run(
            [uv, "lock", "--quiet", "--python", python],
            cwd=tree,
            env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
            capture_output=True,
            text=True,
            timeout=LOCK_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"uv.lock not written: uv lock took over {LOCK_TIMEOUT_S} s (run it later)"
    if result.returncode == 0:
        return ""
    causes = _uv_causes(result.stderr) or [f"uv exited {result.returncode}"]
    # uv's last "cause:" line is the root of the failure; the address it could not
    # fetch, when there is one, says which index that was.
    fetched = next((c for c in causes if c.startswith("Failed to fetch")), causes[-1])
    problem = causes[-1] if fetched == causes[-1] else f"{fetched}: {causes[-1]}"
    return f"uv.lock not written: {problem}; run `uv lock` when it can resolve, then commit it"


def _uv_causes(stderr: str) -> list[str]:
    """uv's error and its "cause:" lines, each whole.

    uv wraps its messages to the terminal's width (COLUMNS), indenting the rest of a
    message on the lines below: those belong to the message above them.
    """
    causes: list[str] = []
    for line in stderr.splitlines():
        text = line.strip()
        if not text:
            continue
        if causes and not text.startswith(("error:", "cause:", "hint:", "warning:")):
            causes[-1] = f"{causes[-1]} {text}"
        else:
            causes.append(text.removeprefix("cause: "))
    return causes
