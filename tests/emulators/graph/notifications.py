"""What a change to an event or message notifies, and lifecycle notifications.

Payload shapes are the documented ones (learn.microsoft.com/graph/change-notifications-delivery-
webhooks, .../change-notifications-lifecycle-events). Everything here runs under the emulator's
lock but _missed(), which the pusher's thread calls without it; the POSTs happen later, on that
thread (push.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .push import Job

if TYPE_CHECKING:
    from .store import Change
    from .subscriptions import Subscription, Subscriptions

LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")
ODATA = {
    "event": ("#Microsoft.Graph.Event", "Events"),
    "message": ("#Microsoft.Graph.Message", "Messages"),
}


def stamp(moment: datetime) -> str:
    """Graph's form, seven fractional digits: "2016-11-20T18:23:45.9356910Z"."""
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}0Z"


class Notifier:
    def __init__(self, subs: Subscriptions) -> None:
        self.subs = subs
        self.emu = subs.emu

    def on_change(self, change: Change) -> None:
        """State.on_change: queue a notification for each live subscription that asked."""
        for sub in list(self.subs.live.values()):
            if sub.mailbox != change.mailbox or sub.kind != change.kind:
                continue
            if not self.subs.alive(sub):
                continue
            for change_type, item_id in seen_by(sub, change):
                if change_type in sub.change_types:
                    item_id = change.immutable_id if sub.immutable else item_id
                    self._notify(sub, change_type, item_id, change.etag)

    def _notify(self, sub: Subscription, change_type: str, item_id: str, etag: str | None) -> None:
        odata_type, segment = ODATA[sub.kind]
        owner = f"{sub.mailbox}@{self.emu.tenant_id}"  # as the docs' example names the user
        body = {
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": stamp(sub.expires),
            "changeType": change_type,
            "resource": f"users/{owner}/{segment.lower()}/{item_id}",
            "resourceData": {
                "@odata.type": odata_type,
                "@odata.id": f"Users/{owner}/{segment}/{item_id}",
                "@odata.etag": etag,
                "id": item_id,
            },
            "clientState": sub.client_state,
            "tenantId": self.emu.tenant_id,
        }
        job = Job("notification", sub.id, sub.notification_url, change_type, {"value": [body]})
        # Graph sends `missed` when notifications could not be delivered (lifecycle docs).
        job.on_failure = lambda: self._missed(sub.id)
        self.emu.pusher.enqueue(job)

    def _missed(self, sub_id: str) -> None:
        with self.emu.lock:
            sub = self.subs.live.get(sub_id)
            if sub is not None and self.subs.alive(sub):
                self._lifecycle(sub, "missed")

    def _lifecycle(self, sub: Subscription, event: str) -> None:
        if not sub.lifecycle_url:
            return  # documented: no lifecycleNotificationUrl, no lifecycle notifications
        body = {
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": stamp(sub.expires),
            "tenantId": self.emu.tenant_id,
            "clientState": sub.client_state,
            "lifecycleEvent": event,
        }
        # Sent even if the subscription is gone by then (subscriptionRemoved says it is).
        job = Job("lifecycle", sub.id, sub.lifecycle_url, event, {"value": [body]}, False)
        self.emu.pusher.enqueue(job)

    def lifecycle(self, sub_id: str, event: str) -> None:
        """The lifecycle() test helper; subscriptionRemoved also deletes the subscription."""
        if event not in LIFECYCLE_EVENTS:
            raise ValueError(f"unknown lifecycle event {event!r}; known: {LIFECYCLE_EVENTS}")
        sub = self.subs.live.get(sub_id)
        if sub is None or not self.subs.alive(sub):
            raise KeyError(f"no live subscription {sub_id!r}")
        if event == "subscriptionRemoved":
            del self.subs.live[sub_id]
        self._lifecycle(sub, event)


def seen_by(sub: Subscription, change: Change) -> list[tuple[str, str]]:
    """(changeType, item id) pairs a change means to a subscription.

    Our choice (undocumented): to a folder's subscription, a message moved out is deleted
    (under its old id) and one moved in is created; to the mailbox's, a move is an update."""
    if sub.folder is None:
        return [(change.change_type, change.item_id)]
    seen = []
    if change.moved_from == sub.folder and change.previous_id:
        seen.append(("deleted", change.previous_id))
    if change.folder == sub.folder:
        seen.append(("created" if change.moved_from else change.change_type, change.item_id))
    return seen
