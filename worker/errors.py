"""Errors the user sees, each with its own exit code so cron and systemd can tell them apart."""

from __future__ import annotations

from providers import errors as pe


class WorkerError(Exception):
    EXIT_CODE = 1


class UsageError(WorkerError):
    """A command-line argument names something that is not what it must be."""

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


class CalendarDataError(WorkerError):
    """The calendar holds data that cannot be read; nothing was written."""

    EXIT_CODE = 6


def from_provider(account: str, exc: pe.ProviderError) -> WorkerError:
    """Translate a provider failure into what the user should do about it."""
    if isinstance(exc, pe.AuthError):
        return ReconnectNeeded(f"account {account}: reconnect this account ({exc})")
    if isinstance(exc, pe.DataError):
        return CalendarDataError(f"account {account}: {exc}")
    if isinstance(exc, pe.RateLimited | pe.TransientError):
        return ProviderUnavailable(f"account {account}: provider unavailable, try later ({exc})")
    return WorkerError(f"account {account}: {exc}")
