"""The test-facing side of change notifications: subscriptions, lifecycle events, push faults."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .push import PushAttempt, Pusher, PushPolicy
    from .subscriptions import Subscriptions


class PushHelpers:
    lock: threading.RLock
    clock: Callable[[], datetime]
    subs: Subscriptions
    pusher: Pusher

    @property
    def subscriptions(self) -> list[dict[str, Any]]:
        """The live (unexpired) subscriptions, as GET /subscriptions/{id} shows them."""
        with self.lock:
            found = [s for s in list(self.subs.live.values()) if self.subs.is_live(s.id)]
            return [s.render() for s in found]

    def expire_subscription(self, subscription_id: str) -> None:
        """Let a subscription run out now: from here on it is 404 and delivers nothing."""
        with self.lock:
            sub = self.subs.live[subscription_id]
            sub.expires = min(sub.expires, self.clock())

    def lifecycle(self, subscription_id: str, event: str) -> None:
        """Send a lifecycle notification (reauthorizationRequired | subscriptionRemoved |
        missed) to the subscription's lifecycleNotificationUrl; none without one, as in Graph.
        subscriptionRemoved also deletes the subscription."""
        with self.lock:
            self.subs.notifier.lifecycle(subscription_id, event)

    def push_faults(self, *, drop: float = 0.0, delay: float = 0.0, duplicate: float = 0.0) -> None:
        """Change notifications from now on: `drop` (a probability) are never sent, each waits
        up to `delay` seconds, `duplicate` (a probability) are sent twice. Drawn from the
        emulator's seed, in the order changes happen."""
        self.pusher.faults(drop, delay, duplicate)

    def wait_for_push(self, timeout: float = 5.0) -> bool:
        """Wait until every queued notification (retries included) is sent or given up."""
        return self.pusher.wait(timeout)

    @property
    def push_log(self) -> list[PushAttempt]:
        """Every validation, notification and lifecycle POST made, or dropped, in order."""
        return self.pusher.log

    @property
    def push_policy(self) -> PushPolicy:
        """Timeouts and retries (settable; Graph retries for up to 4 hours)."""
        return self.pusher.policy

    @push_policy.setter
    def push_policy(self, policy: PushPolicy) -> None:
        self.pusher.policy = policy
