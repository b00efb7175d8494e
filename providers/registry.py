"""Providers by name, imported only when used: the Google and Outlook libraries are extras."""

from __future__ import annotations

import importlib
from typing import Any

CALENDARS = {
    "local": "providers.local.calendar:LocalCalendar",
    "memory": "providers.memory:MemoryCalendar",
    "google": "providers.google:GoogleCalendar",
    "outlook": "providers.outlook:OutlookCalendar",
}


MAILBOXES = {
    "local": "providers.local.maildir:LocalMailbox",
    "memory": "providers.memory:MemoryMailbox",
    "google": "providers.google:GmailMailbox",
    "outlook": "providers.outlook:OutlookMailbox",
}


# Connected providers open an account's calendar and mailbox together: they share
# one sign-in and one connection.
ACCOUNTS = {
    "google": "providers.google:open_account",
    "outlook": "providers.outlook:open_account",
}


class UnknownProvider(LookupError):
    pass


def calendar_class(name: str) -> type:
    """The calendar provider class called `name`. Raises UnknownProvider with the reason."""
    cls: type = _load(CALENDARS, name)
    return cls


def mailbox_class(name: str) -> type:
    """The mail provider class called `name`. Raises UnknownProvider with the reason."""
    cls: type = _load(MAILBOXES, name)
    return cls


CONNECTORS = {
    "google": "providers.google:connect",
    "outlook": "providers.outlook:connect",
}


FORGETTERS = {
    "google": "providers.google:forget",
    "outlook": "providers.outlook:forget",
}


def forgetter(name: str) -> Any:
    """`forget(spec)`: delete a connected account's grant and memory."""
    return _load(FORGETTERS, name)


def connector(name: str) -> Any:
    """`connect(spec, **how) -> address`: the one-time sign-in of a connected provider."""
    return _load(CONNECTORS, name)


def account_opener(name: str) -> Any:
    """`open_account(spec) -> (calendar, mailbox)` of a connected provider."""
    return _load(ACCOUNTS, name)


def _load(table: dict[str, str], name: str) -> Any:
    try:
        target = table[name]
    except KeyError:
        raise UnknownProvider(f"unknown provider {name!r}") from None
    module, _, attr = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except ModuleNotFoundError as exc:
        if exc.name and (exc.name == "providers" or exc.name.startswith("providers.")):
            raise UnknownProvider(f"provider {name!r} is not part of this version yet") from None
        raise UnknownProvider(
            f"provider {name!r} is not available here ({exc.name or exc}); "
            f"install it with: pip install 'firstblock[{name}]'"
        ) from None
    return cls
