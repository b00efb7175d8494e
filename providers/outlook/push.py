"""Microsoft Graph push: change-notification subscriptions on the calendar's events
and on the inbox's messages, and reading what Graph posts to them.

Graph first checks the address: it posts a `validationToken` that must come back as
plain text within ten seconds, so a subscription that was made works. Each
notification carries the subscription's `clientState` (our token). Lifecycle
notifications (`reauthorizationRequired`, `subscriptionRemoved`, `missed`) come to
the same address, told apart by their `lifecycleEvent`. Subscriptions are extended in
place (PATCH) up to 10,070 minutes ahead: Graph documents 10,080 for Outlook
resources, but tenants have been seen refusing anything beyond 10,070.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from providers.errors import BadRequest, NotFound
from providers.outlook.session import Call, Session
from providers.push import Channel, Notice, Reading, Watcher

LONGEST = timedelta(minutes=10_070)
LIFECYCLE = {
    "reauthorizationRequired": "reauthorize",
    "subscriptionRemoved": "removed",
    "missed": "missed",
}


class Subscribed(Watcher):
    """For OutlookCalendar and OutlookMailbox: their session does the calls."""

    session: Session
    confirmed_at_once = True
    names_items = True
    resource = "events"  # under the user: me/events, users/{id}/events
    change_types = "created,updated,deleted"

    def watch(self, address: str, token: str, now: datetime, chosen: str) -> Channel:
        body = {
            "changeType": self.change_types,
            "notificationUrl": address,
            "lifecycleNotificationUrl": address,
            "resource": f"{self.session.user}/{self.resource}",
            "expirationDateTime": _stamp(now + LONGEST),
            "clientState": token,
        }
        # Not retried: a lost answer would leave a second subscription behind.
        answer = self.session.object(Call("POST", "subscriptions", body=body, idempotent=False))
        return self._channel(answer)

    def renew(self, channel: Channel, now: datetime) -> Channel | None:
        body = {"expirationDateTime": _stamp(now + LONGEST)}
        answer = self.session.object(Call("PATCH", f"subscriptions/{channel.id}", body=body))
        return self._channel(answer)

    def unwatch(self, channel: Channel) -> None:
        with contextlib.suppress(NotFound):  # expired or removed already
            self.session.call(Call("DELETE", f"subscriptions/{channel.id}"))

    def _channel(self, answer: Mapping[str, Any]) -> Channel:
        try:
            expires = datetime.fromisoformat(str(answer["expirationDateTime"]))
            return Channel(self.source, str(answer["id"]), str(answer["resource"]), expires)
        except (KeyError, ValueError):
            raise BadRequest("Graph answered a subscription without id or expiry") from None


class EventsSubscribed(Subscribed):
    source = "calendar"


class InboxSubscribed(Subscribed):
    source = "inbox"
    resource = "mailFolders('inbox')/messages"
    change_types = "created"  # new mail is what the hold waits for


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def read(query: Mapping[str, str], body: bytes) -> Reading:
    """A validation handshake, or a batch of notifications (changes and lifecycle)."""
    token = query.get("validationToken")
    if token is not None:
        return Reading(reply=token)
    try:
        items = json.loads(body)["value"]
        notices = tuple(_notice(item) for item in items)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise BadRequest("not a Microsoft Graph notification (no value list)") from None
    return Reading(notices)


def _notice(item: Mapping[str, Any]) -> Notice:
    channel, state = item["subscriptionId"], item.get("clientState") or ""
    if not isinstance(channel, str) or not isinstance(state, str):
        raise TypeError("subscriptionId and clientState are strings")
    event = LIFECYCLE.get(str(item.get("lifecycleEvent")), "changed")
    data = item.get("resourceData")
    if event != "changed" or not isinstance(data, Mapping):
        return Notice(channel, state, event)
    deleted = item.get("changeType") == "deleted"
    # The version as an ETag (W/"changeKey"); worker/push.py compares without the marks.
    version = "deleted" if deleted else str(data.get("@odata.etag") or "")
    return Notice(channel, state, event, item=str(data.get("id") or ""), version=version)
