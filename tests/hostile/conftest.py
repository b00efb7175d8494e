"""Shared set-up for the hostile-input suite: a home with no config of its own, and
the CLI driven in-process."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from worker import cli

NOW = "2026-11-30T07:00:00-05:00"  # a Monday morning in New York


def write_config(home: Path, accounts: str = "", extra: str = "") -> Path:
    """A config with the given [[accounts]] text, or one local account "work"."""
    path = home / "firstblock.toml"
    accounts = accounts or (
        f'[[accounts]]\nname = "work"\ncalendar = "{home / "cal.ics"}"\nemail = "me@example.com"\n'
    )
    path.write_text(
        'timezone = "America/New_York"\n'
        '[followups]\ninternal_domains = ["example.com"]\n' + extra + accounts
    )
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@contextlib.contextmanager
def small_disk(path: Path, size: str = "1m") -> Iterator[bool]:
    """A tmpfs of `size` mounted at `path` where this machine allows mounting (root,
    as CI here is); yields whether it is mounted. Without it, tests simulate ENOSPC."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = (
        shutil.which("mount") is not None
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
            capture_output=True,
        ).returncode
        == 0
    )
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(disk: Path) -> Path:
    """Use up every free byte of the filesystem under `disk`; returns the filler."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    finally:
        os.close(fd)
    return filler


def read_only(path: Path) -> None:
    """Make the tmpfs at `path` read-only: unwritable even for root."""
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True, capture_output=True)
