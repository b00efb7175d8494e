"""Google Calendar push: a watch channel on the primary calendar's events
(`events.watch`, `channels.stop`), and reading what Google posts to it.

Google lets the caller choose a channel's id, posts a `sync` message as soon as the
channel exists, then `exists` (or `not_exists`) whenever the calendar's events change.
Every message carries the channel's token in X-Goog-Channel-Token. Channels cannot be
extended: a new one replaces an old one before it expires.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from providers.errors import BadRequest, NotFound
from providers.push import Channel, Notice, Reading, Watcher

if TYPE_CHECKING:
    from providers.google.session import Session

CALENDAR = "primary"  # Focus Time exists only on primary calendars


class CalendarWatch(Watcher):
    """For GoogleCalendar: its session does the calls."""

    session: Session

    def watch(self, address: str, token: str, now: datetime, chosen: str) -> Channel:
        # No expiration asked: Google's default (a week) is also the longest it gives.
        body = {"id": chosen, "type": "web_hook", "address": address, "token": token}
        request = self.session.calendar.events().watch(calendarId=CALENDAR, body=body)
        # Not retried: a second try with the same id would be refused as a duplicate.
        answer = self.session.call(request, idempotent=False)
        return Channel("calendar", str(answer["id"]), str(answer["resourceId"]), _expiry(answer))

    def unwatch(self, channel: Channel) -> None:
        body = {"id": channel.id, "resourceId": channel.resource}
        with contextlib.suppress(NotFound):  # expired or stopped already
            self.session.call(self.session.calendar.channels().stop(body=body))


def _expiry(answer: Mapping[str, Any]) -> datetime:
    """The channel's end; Google gives epoch milliseconds (a string, as int64s are)."""
    try:
        return datetime.fromtimestamp(int(answer["expiration"]) / 1000, UTC)
    except (KeyError, TypeError, ValueError):
        raise BadRequest("events.watch answered without an expiration") from None


def read(headers: Mapping[str, str]) -> Reading:
    """A notification is all headers; its body is empty."""
    channel, state = headers.get("x-goog-channel-id"), headers.get("x-goog-resource-state")
    if not channel or not state:
        raise BadRequest("not a Google Calendar notification (no channel or resource state)")
    event = "sync" if state == "sync" else "changed"
    return Reading((Notice(channel, headers.get("x-goog-channel-token", ""), event),))


class InboxWatch(Watcher):
    """For GmailMailbox: `users.watch` on the inbox, posting to a Cloud Pub/Sub topic
    (the `address`), whose push subscription posts to us. Gmail has no per-watch id
    or token: the channel is the mailbox's, and each push proves itself with the
    subscription's signed token (`read_pubsub`). Watching again extends it, so a
    renewal is a new watch that keeps the channel's id."""

    session: Session
    source = "inbox"
    confirmed_at_once = True  # Gmail publishes a test message to the topic first

    def watch(self, address: str, token: str, now: datetime, chosen: str) -> Channel:
        body = {"topicName": address, "labelIds": ["INBOX"], "labelFilterBehavior": "include"}
        answer = self.session.call(self.session.gmail.users().watch(userId="me", body=body))
        channel_id = gmail_channel(self.session.options.email)
        return Channel("inbox", channel_id, str(answer.get("historyId", "")), _expiry(answer))

    def unwatch(self, channel: Channel) -> None:
        with contextlib.suppress(NotFound):
            self.session.call(self.session.gmail.users().stop(userId="me"))


def gmail_channel(email: str) -> str:
    return f"gmail:{email.lower()}"
