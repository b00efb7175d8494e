"""Providers by name: one plugin object each (providers.base.Provider), imported only
when asked for. Adding a provider is its package plus one line here."""

from __future__ import annotations

import functools
import importlib

from providers.base import Provider

PROVIDERS = {
    "local": "providers.local.plugin:LocalProvider",
    "memory": "providers.memory:MemoryProvider",
    "google": "providers.google.plugin:GoogleProvider",
    "outlook": "providers.outlook.plugin:OutlookProvider",
    "caldav": "providers.caldav.plugin:CalDAVProvider",
    "imap": "providers.imap.plugin:ImapProvider",
}


class UnknownProvider(LookupError):
    pass


def names() -> list[str]:
    return list(PROVIDERS)


@functools.cache
def provider(name: str) -> Provider:
    """The provider called `name`. Raises UnknownProvider with the reason."""
    try:
        target = PROVIDERS[name]
    except KeyError:
        raise UnknownProvider(f"unknown provider {name!r} (use {', '.join(PROVIDERS)})") from None
    module, _, attr = target.partition(":")
    try:
        found = getattr(importlib.import_module(module), attr)
    except ModuleNotFoundError as exc:
        if exc.name and (exc.name == "providers" or exc.name.startswith("providers.")):
            raise UnknownProvider(f"provider {name!r} is not part of this version yet") from None
        raise UnknownProvider(
            f"provider {name!r} is not available here ({exc.name or exc}); "
            f"install it with: pip install 'firstblock[{name}]'"
        ) from None
    plugin: Provider = found()
    return plugin


def missing(name: str, exc: ModuleNotFoundError) -> UnknownProvider:
    """What to say when provider `name`'s code needs a library this install lacks (its
    extra): plugin modules import nothing heavy, so this shows at open or connect.
    Our own modules missing is a broken install, not an extra: re-raised."""
    if not exc.name or exc.name.split(".")[0] in ("providers", "worker"):
        raise exc
    return UnknownProvider(
        f"provider {name!r} needs {exc.name}, which is not installed here; "
        f"install it with: pip install 'firstblock[{name}]'"
    )


def connectable() -> list[str]:
    return [n for n in PROVIDERS if provider(n).connectable]
