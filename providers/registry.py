"""Providers by name, imported only when used: the Google and Outlook libraries are extras."""

from __future__ import annotations

import importlib

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


class UnknownProvider(LookupError):
    pass


def calendar_class(name: str) -> type:
    """The calendar provider class called `name`. Raises UnknownProvider with the reason."""
    return _load(CALENDARS, name)


def mailbox_class(name: str) -> type:
    """The mail provider class called `name`. Raises UnknownProvider with the reason."""
    return _load(MAILBOXES, name)


def _load(table: dict[str, str], name: str) -> type:
    try:
        target = table[name]
    except KeyError:
        raise UnknownProvider(f"unknown provider {name!r}") from None
    module, _, attr = target.partition(":")
    try:
        cls: type = getattr(importlib.import_module(module), attr)
    except ModuleNotFoundError as exc:
        if exc.name and (exc.name == "providers" or exc.name.startswith("providers.")):
            raise UnknownProvider(f"provider {name!r} is not part of this version yet") from None
        raise UnknownProvider(
            f"provider {name!r} is not available here ({exc.name or exc}); "
            f"install it with: pip install 'firstblock[{name}]'"
        ) from None
    return cls
