"""Where the template comes from (the bundle, a fork) and rendering it into a folder."""

from __future__ import annotations

import re
import subprocess
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import copier
from copier.errors import CopierError, UnsafeTemplateError
from plumbum import ProcessExecutionError

from apistarter import __version__
from apistarter.render.errors import RenderError, refusing_os_errors
from apistarter.render.place import target_path
from apistarter.template_source import (
    BUNDLE_NAME,
    RECORDED_SOURCE,
    build_bundle,
    install_bundle,
)

CHECKOUT = Path(__file__).resolve().parents[3]


def template_version_ref() -> str:
    """The git tag of the template version this apistarter renders."""
    return f"v{__version__}"


def templates_dir() -> Path:
    """The template tree shipped in the wheel, or the checkout's."""
    shipped = resources.files("apistarter") / "templates"
    if shipped.is_dir():
        return Path(str(shipped))
    return CHECKOUT / "templates"


def available_frameworks() -> frozenset[str]:
    """Frameworks whose template tree exists in this apistarter."""
    return frozenset(
        tree.name
        for tree in templates_dir().iterdir()
        if tree.is_dir() and (tree / "{{_copier_conf.answers_file}}.jinja").is_file()
    )


def _packaged_bundle() -> Path | None:
    """The bundle shipped in the wheel; None when running from a source checkout."""
    shipped = resources.files("apistarter") / BUNDLE_NAME
    return Path(str(shipped)) if shipped.is_file() else None


def ensure_template_source() -> str:
    """Install the template bundle at its fixed path; return the source Copier records."""
    shipped = _packaged_bundle()
    if shipped is not None:
        install_bundle(shipped)
        return RECORDED_SOURCE
    templates = templates_dir()
    if not (templates / "copier.yml").is_file():
        raise RenderError("apistarter is installed without its template bundle; reinstall it")
    with tempfile.TemporaryDirectory(prefix="apistarter-dev-") as tmp:
        built = Path(tmp) / BUNDLE_NAME
        build_bundle(templates, __version__, built, CHECKOUT)
        install_bundle(built)
    return RECORDED_SOURCE


def needs_trust(template: str | None) -> RenderError:
    return RenderError(
        f"{template} runs code while rendering (tasks, migrations or Jinja extensions); "
        "apistarter only renders templates that need no --trust. Nothing was changed"
    )


# Sources Copier clones rather than reads from disk: left for Copier to reach.
_REMOTE_TEMPLATE = re.compile(r"^([a-z][a-z0-9+.-]*://|git@|gh:|gl:)", re.IGNORECASE)


def check_template_source(template: str | None) -> Path | None:
    """Refuse a ``--template`` that is no template, before any question is asked.

    A local source must be a folder holding a copier.yml, or a git bundle; returns the
    folder (None for the bundled template, a bundle or a remote one Copier will clone).
    """
    if template is None:
        return None
    if not template.strip():
        raise RenderError("--template is empty: name a fork (a path or a git URL)")
    location = Path(template).expanduser()
    with refusing_os_errors():
        if not location.exists():
            if _REMOTE_TEMPLATE.match(template):
                return None
            raise RenderError(f"--template {template}: no such file or directory")
        location = location.resolve()
        if location.is_file():
            if not _is_git_bundle(location):
                raise RenderError(
                    f"--template {template}: a file that is not a git bundle; name the "
                    "template's folder, a git bundle or a git URL"
                )
            return None
        if not any((location / name).is_file() for name in ("copier.yml", "copier.yaml")):
            raise RenderError(
                f"--template {template}: {location} is not a Copier template (no copier.yml)"
            )
    return location


def check_template(template: str | None, target: Path) -> None:
    """Refuse a ``--template`` that cannot render ``target``, before anything is written.

    Besides being a template, a local source must not hold the target: Copier would
    copy the half-rendered target into itself.
    """
    location = check_template_source(template)
    if location is not None and target_path(target).is_relative_to(location):
        raise RenderError(
            f"{target} is inside the template {location}; Copier would copy the target "
            "into itself. Choose a directory outside it"
        )


def _is_git_bundle(path: Path) -> bool:
    result = subprocess.run(
        ["git", "bundle", "list-heads", str(path)],
        cwd=path.parent,
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


def render_copy(data: dict[str, Any], destination: Path, template: str | None) -> None:
    source = template or ensure_template_source()
    try:
        copier.run_copy(
            source,
            destination,
            data=data,
            vcs_ref=None if template else template_version_ref(),
            defaults=True,
            overwrite=True,
            quiet=True,
            unsafe=False,
        )
    except UnsafeTemplateError:
        raise needs_trust(template) from None
    except ProcessExecutionError as error:
        # git could not reach or read the source (Copier clones it before writing).
        problem = (str(error.stderr).strip().splitlines() or [f"git exited {error.retcode}"])[-1]
        raise RenderError(f"{source} could not be read: {problem}") from None
    except (CopierError, ValueError) as error:
        # Raised while rendering into a scratch directory: the callers remove it.
        problem = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise RenderError(f"{source} could not be rendered: {problem}") from None
