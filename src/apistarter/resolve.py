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

__all__ = [
    "INDEX_OPTIONS",
    "Resolution",
    "ResolveError",
    "compile_set",
    "index_note",
    "masked",
    "mentioned",
    "pins_of",
    "uv_binary",
]

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

# A requirement file's index options (pip's long names): uv's flag for each, and the
# variables pip and uv read it from, which the service's install and `update` need set.
INDEX_OPTIONS = {
    "--index-url": ("--index-url", "PIP_INDEX_URL", "UV_INDEX_URL"),
    "--extra-index-url": ("--extra-index-url", "PIP_EXTRA_INDEX_URL", "UV_EXTRA_INDEX_URL"),
    "--find-links": ("--find-links", "PIP_FIND_LINKS", "UV_FIND_LINKS"),
    "--trusted-host": ("--allow-insecure-host", "PIP_TRUSTED_HOST", "UV_INSECURE_HOST"),
    "--no-index": ("--no-index", "PIP_NO_INDEX", "UV_NO_INDEX"),
}
# The user (and password, or token) of a URL: https://user:secret@host/...
_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


def masked(text: str) -> str:
    """``text`` with the credentials of every URL in it replaced by ``***``."""
    return _CREDENTIALS.sub("***@", text)


def index_note(option: str, shown: str, where: str) -> str:
    """The note telling that an app's index option was used to resolve, and where the
    service's install needs it too (``shown`` has its credentials masked)."""
    _, pip, uv = INDEX_OPTIONS[option]
    given = f"{option} {shown}".strip()
    return (
        f"{where}: the app's `{given}` was used to resolve the dependencies; the service's "
        f"install needs it too: set {pip} for pip, {uv} for uv and `apistarter update`"
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


def _index_arguments(indexes: Sequence[tuple[str, str]]) -> list[str]:
    """uv's flags for a requirement file's index options; with extra indexes, the best
    version from any of them, as pip chooses (uv's default takes the first index's)."""
    arguments: list[str] = []
    last_index = max((i for i, (o, _) in enumerate(indexes) if o == "--index-url"), default=-1)
    for number, (option, value) in enumerate(indexes):
        if option == "--index-url" and number != last_index:
            continue  # pip uses the last one
        flag = INDEX_OPTIONS[option][0]
        arguments += [flag] if option == "--no-index" else [flag, value]
    if any(option == "--extra-index-url" for option, _ in indexes):
        arguments += ["--index-strategy", "unsafe-best-match"]
    return arguments


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
    indexes: Sequence[tuple[str, str]] = (),
) -> Resolution:
    """Resolve ``requirements`` (and a pyproject's dependencies with ``extras``) under
    ``constraints`` for ``python_version``, from the index (or with the index options,
    pip's long names, given); offline from the cache when the index cannot be reached.
    Raises ResolveError with uv's reason when there is no solution, credentials masked."""
    with tempfile.TemporaryDirectory(prefix="apistarter-resolve-") as scratch:
        work = Path(scratch)
        arguments = ["--python-version", python_version, *_index_arguments(indexes)]
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
                    f"the dependencies need ({masked(cause(result.stderr))}); run the command "
                    "again where the index is reachable"
                )
    if result.returncode != 0:
        offline = " (resolved offline, from uv's cache)" if note else ""
        raise ResolveError(masked(cause(result.stderr)) + offline)
    return Resolution(pins_of(result.stdout), note)
