"""Errors every render step raises, and OS errors said in one line."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class RenderError(RuntimeError):
    """Refused: nothing was changed (exit code 2)."""


class RestoredError(RenderError):
    """Failed part-way: what was written was undone (exit code 1)."""


def describe(error: OSError) -> str:
    """An OS error as one line: the path it concerns and what went wrong."""
    where = f"{error.filename}: " if error.filename else ""
    return f"{where}{error.strerror or error}"


@contextlib.contextmanager
def refusing_os_errors() -> Iterator[None]:
    """Turn an OS error raised before anything was written into a refusal."""
    try:
        yield
    except OSError as error:
        raise RenderError(describe(error)) from error
