"""Push notifications, the provider's side (docs/design.md §2.7): a calendar or a
mailbox that can be watched implements `Watcher`; its provider's `read_push` turns a
request the provider posted into `Notice`s. Nothing here trusts a notice: the worker
checks each one's token against the channel it names (worker/push.py).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime

SOURCES = ("calendar", "inbox")
# What a notice says happened; `changed` also stands for Graph's `missed`.
EVENTS = ("sync", "changed", "missed", "reauthorize", "removed")


@dataclass(frozen=True)
class Channel:
    """A provider's promise to post to our address when a source changes, until
    `expires`: a Google watch channel, a Graph subscription."""

    source: str  # one of SOURCES
    id: str
    resource: str  # what stopping it needs besides its id (Google's resourceId)
    expires: datetime


@dataclass(frozen=True)
class Notice:
    """One notification as it came: the channel it names and the token it carries."""

    channel: str
    token: str
    event: str  # one of EVENTS
    # Proven by its provider's signature (Gmail's Pub/Sub token), checked when read;
    # others prove themselves by the channel's token.
    verified: bool = False
    # The item that changed and its version after the change, where the provider
    # says (Graph: resourceData); "" where it does not (Google says only "changed").
    item: str = ""
    version: str = ""


@dataclass(frozen=True)
class Reading:
    """What one request to /push/NAME holds: notices, or a handshake to answer (Graph
    posts a validation token that must come back as text, and nothing else happens)."""

    notices: tuple[Notice, ...] = ()
    reply: str | None = None


class Watcher(abc.ABC):
    """A source that posts its changes to an address.

    Raises what the provider's reads raise: AuthError, TransientError, RateLimited,
    BadRequest (an address the provider refuses)."""

    source: str = "calendar"
    #: A channel works once made (Graph checks the address first); else it is proven
    #: by its first notification (Google's sync message).
    confirmed_at_once: bool = False
    #: Its notices name the item and its version: the worker's own writes can then be
    #: told from news (worker/push.py, remember_writes).
    names_items: bool = False

    @abc.abstractmethod
    def watch(self, address: str, token: str, now: datetime, chosen: str) -> Channel:
        """A new channel posting to `address` with `token` on every notification, for
        as long as the provider allows from `now`. Its id is `chosen` where the
        provider lets the caller choose (Google); others give their own."""

    def renew(self, channel: Channel, now: datetime) -> Channel | None:
        """The same channel, lasting as long as allowed from `now`; None where a
        provider cannot extend one
        (Google): the caller then watches anew and stops the old one.
        Raises NotFound when the channel is gone."""
        return None

    @abc.abstractmethod
    def unwatch(self, channel: Channel) -> None:
        """Stop the channel. One already gone is not an error."""
