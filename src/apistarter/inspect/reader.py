"""Reading the project's files safely: what inspect reads, it reads in bounded time.

A project handed to inspect may hold anything: a named pipe that blocks whoever opens
it, a link to /dev/zero that never ends, a link out of the project, a file of
gigabytes. Only regular files inside the project are read, each under a size cap and
all of them under a total one; every file left out is one line of the report's
``skipped``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

# At most this much of one file, and of all files together, is read.
FILE_CAP = 1024 * 1024
TOTAL_CAP = 32 * 1024 * 1024


def _mib(size: int) -> str:
    return f"{size // (1024 * 1024)} MiB"


class Reader:
    """Reads regular files under ``root`` within the caps; notes each file it skips."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.total = 0
        self.skipped: list[str] = []

    def _skip(self, path: Path, why: str) -> None:
        self.skipped.append(f"{path.relative_to(self.root).as_posix()}: skipped, {why}")

    def read(self, path: Path) -> bytes | None:
        """The file's bytes, or None (and a line in ``skipped``) when it is not read."""
        try:
            resolved = path.resolve()
            if resolved != self.root and self.root not in resolved.parents:
                self._skip(path, "a link to something outside the project")
                return None
            if not stat.S_ISREG(resolved.stat().st_mode):
                self._skip(path, "not a regular file")
                return None
            # Non-blocking and not through a link: what was checked is what is opened.
            descriptor = os.open(resolved, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
            with os.fdopen(descriptor, "rb") as file:
                info = os.fstat(file.fileno())
                if not stat.S_ISREG(info.st_mode):
                    self._skip(path, "not a regular file")
                    return None
                if info.st_size > FILE_CAP:
                    self._skip(path, f"larger than {_mib(FILE_CAP)} ({info.st_size:,} bytes)")
                    return None
                if self.total + info.st_size > TOTAL_CAP:
                    self._skip(path, f"the {_mib(TOTAL_CAP)} read in all was reached")
                    return None
                data = file.read(FILE_CAP + 1)
        except OSError as error:
            self._skip(path, f"not readable ({error.strerror or error.__class__.__name__})")
            return None
        if len(data) > FILE_CAP:
            self._skip(path, f"larger than {_mib(FILE_CAP)}")
            return None
        self.total += len(data)
        return data

    def text(self, path: Path) -> str | None:
        data = self.read(path)
        return None if data is None else data.decode("utf-8", errors="replace")
