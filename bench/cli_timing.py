"""How long `apistarter new` and `apistarter update` take, run as a user runs them.

Both run the installed CLI (the one beside this Python) in a subprocess with a
fresh HOME, so the template bundle is installed on the way, as on a first use.

The update brings a service generated at an older template version up to this
one, the way tests/test_update.py sets it up: an older template (the READMEs
lack their closing lines) tagged v0.0.1 in the bundle, a service rendered from
that tag and committed, then `apistarter update`, which re-renders both
versions and merges the difference into the service.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from unittest import mock

from packaging.version import Version

from apistarter import __version__
from apistarter.render import templates_dir
from apistarter.template_source import BUNDLE_NAME, build_bundle, install_bundle
from tests.harness import (
    BIN,
    PREVIOUS_VERSION,
    git,
    render_previous,
    write_previous_templates,
)

PROJECT_NAME = "orders-api"
PREVIOUS = PREVIOUS_VERSION
NEW_ARGS = ("new", PROJECT_NAME, "--defaults")


@dataclass(frozen=True)
class Timing:
    label: str
    seconds: list[float]


def _run_timed(args: list[str], cwd: Path, home: Path) -> float:
    """Wall seconds of one CLI run; it must succeed."""
    start = time.perf_counter()
    result = subprocess.run(
        args,
        cwd=cwd,
        env={**os.environ, "HOME": str(home)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{args} exited {result.returncode}:\n{result.stdout}{result.stderr}")
    return elapsed


def time_new(apistarter: Path, scratch: Path, runs: int) -> Timing:
    seconds = []
    for run in range(runs):
        home, work = scratch / f"new-{run}" / "home", scratch / f"new-{run}" / "work"
        home.mkdir(parents=True)
        work.mkdir()
        seconds.append(_run_timed([str(apistarter), *NEW_ARGS], work, home))
    return Timing(f"`apistarter {' '.join(NEW_ARGS)}`", seconds)


def _current_templates(destination: Path) -> None:
    shutil.copytree(templates_dir(), destination)


def _install_two_versions(home: Path, scratch: Path) -> None:
    """A bundle holding v0.0.1 and this version in ``home``, one the CLI keeps.

    A CLI without a shipped bundle (an editable install) rebuilds one from the
    checkout on every call and installs it over any bundle that is not newer, so
    this one also carries this template as the next patch version: the CLI then
    leaves it in place and updates to its own version, which the bundle holds.
    """
    history = scratch / "history"
    history.mkdir()
    git(history, "init", "--quiet")
    current = Version(__version__)
    for version, fill in ((PREVIOUS, write_previous_templates), (__version__, _current_templates)):
        shutil.rmtree(history / "templates", ignore_errors=True)
        fill(history / "templates")
        git(history, "add", "-A")
        git(history, "commit", "--quiet", "-m", f"template {version}")
        git(history, "tag", f"v{version}")
    newer = f"{current.major}.{current.minor}.{current.micro + 1}"
    bundle = scratch / BUNDLE_NAME
    build_bundle(templates_dir(), newer, bundle, history)
    install_bundle(bundle, home)


def _generate_previous(destination: Path, home: Path) -> Path:
    """The service `new --defaults` makes, rendered from the older template and committed."""
    with mock.patch.dict(os.environ, {"HOME": str(home)}):  # Copier expands ~ in the source
        return render_previous(destination)


def time_update(apistarter: Path, scratch: Path, runs: int) -> Timing:
    home = scratch / "update-home"
    home.mkdir(parents=True)
    _install_two_versions(home, scratch)
    seconds = []
    for run in range(runs):
        project = _generate_previous(scratch / f"update-{run}" / PROJECT_NAME, home)
        seconds.append(_run_timed([str(apistarter), "update", str(project)], project.parent, home))
    return Timing(f"`apistarter update` (template v{PREVIOUS} -> v{__version__})", seconds)


def measure(scratch: Path, runs: int) -> list[Timing]:
    apistarter = BIN / "apistarter"
    return [time_new(apistarter, scratch, runs), time_update(apistarter, scratch, runs)]


def ships_bundle() -> bool:
    """False for an editable install, which builds the bundle from the checkout per call."""
    return (resources.files("apistarter") / BUNDLE_NAME).is_file()


def table(timings: list[Timing]) -> str:
    lines = [
        "| Command (installed CLI, fresh HOME) | median | fastest | slowest | runs |",
        "|---|---:|---:|---:|---:|",
    ]
    for timing in timings:
        lines.append(
            f"| {timing.label} | {statistics.median(timing.seconds):.2f} s | "
            f"{min(timing.seconds):.2f} s | {max(timing.seconds):.2f} s | {len(timing.seconds)} |"
        )
    if not ships_bundle():
        lines.append(
            "\nThis apistarter is an editable install: each call first builds the template "
            "bundle from the checkout, which an installed wheel ships ready."
        )
    return "\n".join(lines)
