"""The account lock: one committing cycle per account at a time, across threads and
processes (serve, a cron `run`, team workers sharing a state directory).

flock(2) on one file per account, taken without waiting and released when the file
is closed, or when the process dies. filelock did the same for 40 times the CPU (its
registry, path resolution and fork bookkeeping: a twentieth of a steady cycle).
flock is POSIX: Linux and macOS, where firstblock runs.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class Held(Exception):
    """Another thread or process holds the lock."""


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold the lock at `path` for the block. Raises Held at once when it is taken,
    and OSError when the lock file cannot be opened."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Held(str(path)) from None
        yield
    finally:
        os.close(fd)  # releases the lock
