"""Resolving a set of requirements with a real resolver (`uv pip compile`).

An adopted app's requirements merged with the service's are only installable if one
version of every package meets them all, including what each package requires in
turn: only a resolver can tell. uv does it from the index's metadata in about a second
(it is a dependency of apistarter for that reason; pip's `install --dry-run --report`
needs the target Python and downloads wheels to read theirs). Where the index cannot be
reached, uv resolves again from its local cache, and the result says so.

The pure part turns uv's answer into pins or a one-line reason; :func:`compile_set`
runs it, with a timeout.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from uv import find_uv_bin

__all__ = ["Resolution", "ResolveError", "compile_set", "mentioned", "pins_of", "uv_binary"]

# Resolving is a second or two with the index reachable; a hung index must not hang `new`.
RESOLVE_TIMEOUT_S = 120
# What uv prints when the index could not be reached (as opposed to a set with no solution).
_UNREACHABLE = (
    "failed to fetch",
    "error sending request",
    "client error (connect)",
    "dns error",
    "operation timed out",
    "connection refused",
)
# What uv prints offline when its cache lacks a package the set needs.
_NOT_CACHED = ("network was disabled", "not found in the cache", "needs to be downloaded")
OFFLINE_NOTE = (
    "the package index could not be reached: the dependencies were resolved offline, "
    "from uv's local cache"
)


class ResolveError(ValueError):
    """The set does not resolve, or could not be resolved; the message is one line."""


@dataclass(frozen=True)
class Resolution:
    """The version chosen for each package (canonical names), and how it was resolved."""

    pins: dict[str, str]
    # Empty when the index answered; otherwise OFFLINE_NOTE.
    note: str = ""


def uv_binary() -> str:
    """uv's executable, installed with apistarter (FileNotFoundError when it is not)."""
    return find_uv_bin()


def pins_of(output: str) -> dict[str, str]:
    """``name==version`` lines of uv's output, by canonical name."""
    pins: dict[str, str] = {}
    for line in output.splitlines():
        name, separator, version = line.split(";")[0].split("#")[0].strip().partition("==")
        if separator and name and "[" not in name:
            pins[canonicalize_name(name)] = version.strip()
    return pins


def cause(stderr: str) -> str:
    """Why uv failed, in one line: its derivation's first step (where the clash starts),
    the conclusion the last step builds on, and the last step; or its last `cause:`."""
    text = " ".join(line.strip() for line in stderr.splitlines() if line.strip())
    causes = [part.strip() for part in re.split(r"\bcause: ", text)[1:]]
    reason = next((c for c in reversed(causes) if "Because" in c), None)
    if reason is None:
        return (causes or [text or "uv gave no reason"])[-1].rstrip(".")
    steps = [step.strip().rstrip(".") for step in re.split(r"\.\s+And because ", reason)]
    if len(steps) <= 2:
        return "; and because ".join(steps)
    _, _, built_on = steps[-2].rpartition("we can conclude that ")
    return f"{steps[0]}; ...; so {built_on}; and because {steps[-1]}"


def _unreachable(stderr: str) -> bool:
    text = stderr.lower()
    return any(marker in text for marker in _UNREACHABLE)


def mentioned(reason: str, requirements: Iterable[str]) -> list[str]:
    """The requirements whose package a resolver's reason names."""
    words = {canonicalize_name(w) for w in re.findall(r"[A-Za-z0-9][A-Za-z0-9._-]*", reason)}
    return [text for text in requirements if canonicalize_name(Requirement(text).name) in words]


def _run(arguments: Sequence[str], cwd: Path, offline: bool) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        # Resolving reads metadata; it never needs an interpreter downloaded.
        "UV_PYTHON_DOWNLOADS": "never",
        # A passing network error is retried; an unreachable index is told in seconds.
        "UV_HTTP_RETRIES": "2",
        "UV_HTTP_TIMEOUT": "30",
    }
    options = ["--no-header", "--no-annotate", "--quiet", *(["--offline"] if offline else [])]
    try:
        return subprocess.run(
            [uv_binary(), "pip", "compile", *arguments, *options],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=RESOLVE_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ResolveError(
            f"resolving the dependencies took over {RESOLVE_TIMEOUT_S} s (is the package index "
            "answering?); run the command again"
        ) from None
    except OSError as error:
        raise ResolveError(f"could not run uv to resolve the dependencies ({error})") from None


def compile_set(
    python_version: str,
    *,
    requirements: Sequence[str] = (),
    constraints: Sequence[str] = (),
    pyproject: Path | None = None,
    extras: Sequence[str] = (),
) -> Resolution:
    """Resolve ``requirements`` (and a pyproject's dependencies with ``extras``) under
    ``constraints`` for ``python_version``; offline from the cache when the index cannot
    be reached. Raises ResolveError with uv's reason when there is no solution."""
    with tempfile.TemporaryDirectory(prefix="apistarter-resolve-") as scratch:
        work = Path(scratch)
        arguments = ["--python-version", python_version]
        if pyproject is not None:
            arguments += [str(pyproject.resolve()), *(f"--extra={extra}" for extra in extras)]
        if requirements or pyproject is None:
            (work / "requirements.in").write_text("\n".join([*requirements, ""]), "utf-8")
            arguments.append("requirements.in")
        if constraints:
            (work / "constraints.txt").write_text("\n".join([*constraints, ""]), "utf-8")
            arguments += ["--constraint", "constraints.txt"]
        result = _run(arguments, work, offline=False)
        note = ""
        if result.returncode != 0 and _unreachable(result.stderr):
            note = OFFLINE_NOTE
            result = _run(arguments, work, offline=True)
            if result.returncode != 0 and any(m in result.stderr for m in _NOT_CACHED):
                raise ResolveError(
                    "the package index could not be reached and uv's local cache lacks what "
                    f"the dependencies need ({cause(result.stderr)}); run the command again "
                    "where the index is reachable"
                )
    if result.returncode != 0:
        offline = " (resolved offline, from uv's cache)" if note else ""
        raise ResolveError(cause(result.stderr) + offline)
    return Resolution(pins_of(result.stdout), note)
