"""Errors the user sees, each with its own exit code so cron and systemd can tell them apart."""

from __future__ import annotations

import errno

from providers import errors as pe
from worker.text import excerpt


class WorkerError(Exception):
    EXIT_CODE = 1


class UsageError(WorkerError):
    """A command-line argument is wrong: a bad --now, or a path that is not what the
    command needs (argparse itself exits 2 for the rest)."""

    EXIT_CODE = 2


class ConfigError(WorkerError):
    """The config file is missing, malformed or inconsistent."""

    EXIT_CODE = 3


class ReconnectNeeded(WorkerError):
    """The account's grant is missing, expired or revoked."""

    EXIT_CODE = 4


class ProviderUnavailable(WorkerError):
    """The calendar or mailbox could not be reached (outage, rate limit, timeout)."""

    EXIT_CODE = 5


class StateUnavailable(WorkerError):
    """The shared state database could not be reached: an outage, like a provider's."""

    EXIT_CODE = 5


class OutOfSpace(WorkerError):
    """A disk firstblock writes to is full; nothing was written. Try again later."""

    EXIT_CODE = 5


class StorageError(WorkerError):
    """A file or folder firstblock needs cannot be read or written (permissions, a
    file where a folder should be, state from a newer version); nothing was written."""

    EXIT_CODE = 6


class CalendarDataError(WorkerError):
    """The calendar holds data that cannot be read; nothing was written."""

    EXIT_CODE = 6


def from_os(what: str, exc: OSError) -> WorkerError:
    """An OSError as one line: what failed, the file, and why."""
    name = exc.filename if isinstance(exc.filename, str) else ""
    why = exc.strerror or type(exc).__name__
    text = f"{what}: {excerpt(name, 300)}: {why}" if name else f"{what}: {why}"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return OutOfSpace(f"{text}; nothing was written, free some space")
    return StorageError(text)


def from_provider(account: str, exc: pe.ProviderError) -> WorkerError:
    """Translate a provider failure into what the user should do about it."""
    if isinstance(exc, pe.AuthError):
        return ReconnectNeeded(f"account {account}: reconnect this account ({exc})")
    if isinstance(exc, pe.DataError):
        return CalendarDataError(f"account {account}: {exc}")
    if isinstance(exc, pe.RateLimited | pe.TransientError):
        return ProviderUnavailable(f"account {account}: provider unavailable, try later ({exc})")
    return WorkerError(f"account {account}: {exc}")
