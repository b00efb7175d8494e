"""Gmail push notifications through Cloud Pub/Sub: `users.watch`, `users.stop`, the emulated
topics (one push subscription each) and the authenticated push requests.

Facts are from the Gmail push guide (developers.google.com/workspace/gmail/api/guides/push),
the users.watch reference, and Pub/Sub's push subscription and push authentication guides
(cloud.google.com/pubsub/docs/push, .../authenticate-push-subscriptions); where they are
silent the choice is marked "undocumented" or "observed" (seen in public bug reports).

- A watch covers the one mailbox and lasts 7 days by `clock`; calling watch again replaces it
  (topic, labels, expiry): the reference says "set up or update" a watch. `stop` ends it.
- Each Gmail history record (Gmail.record, which every change of the mailbox goes through,
  the test helpers' included) publishes {"emailAddress", "historyId"} to the watched topic,
  filtered by labelIds/labelFilterBehavior. Gmail's limit of one notification per second per
  mailbox ("above that rate will be dropped", guide) is not emulated.
- A published message is then Pub/Sub's: it goes to the topic's push endpoint (read at each
  try) until acknowledged (102, 200, 201, 202, 204), even once the watch has stopped.
- Each push carries `Authorization: Bearer <OIDC ID token>`, RS256-signed by the key the
  OAuth endpoints publish (oauth.py; /oauth2/v1/certs, the format google-auth's verify_token
  fetches by default). iat/exp follow real time, not `clock`: receivers verify them against
  their own clock.

State only, under `lock` (shared with the delivery thread); the API methods and `changed` also
run under the emulator's lock, which the delivery thread never takes.
"""

from __future__ import annotations

import base64
import functools
import itertools
import json
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from tests.emulators.signing import Signer

from . import timeutil
from .discovery import Call
from .gmail import Gmail, Reply, gmail_error
from .gmail_history import touches
from .oauth import ISSUER, account_id
from .push import USER_AGENT
from .push_delivery import Courier, FaultPlan, Target

WATCH_LIFETIME = timedelta(days=7)  # guide: "re-call watch at least every 7 days"
TOKEN_LIFETIME = 3600  # the authentication guide's example token: exp - iat = 3600
GMAIL_PUBLISHER = "gmail-api-push@system.gserviceaccount.com"  # guide: grant it publish rights
# Undocumented, chosen: the account a subscription signs its tokens as, unless told otherwise.
DEFAULT_SERVICE_ACCOUNT = "pubsub-push@emulator-project.iam.gserviceaccount.com"
TOPIC_NAME = re.compile(r"projects/([^/]+)/topics/([^/]+)")


@dataclass(frozen=True)
class Subscription:
    """A topic's push subscription, as tests see it (GoogleEmulator.pubsub_topic)."""

    name: str  # projects/<project>/subscriptions/<id>
    topic: str  # projects/<project>/topics/<id>
    push_endpoint: str
    audience: str  # the token's aud: as configured, else the push endpoint (Pub/Sub's default)
    service_account_email: str  # the token's email claim
    publisher_granted: bool = True  # False: Gmail may not publish to the topic (watch: 403)


@dataclass(frozen=True)
class GmailWatch:
    """The mailbox's watch (GoogleEmulator.gmail_watch)."""

    topic: str
    label_ids: tuple[str, ...]
    behavior: str  # "include" or "exclude"; only read with label_ids
    expiration: datetime


@dataclass(frozen=True)
class PubsubAttempt:
    """One entry of GoogleEmulator.pubsub_log; outcomes as PushAttempt's ("delivered", "retry",
    "failed", and with nothing sent, attempt 0: "dropped" by a fault, or "deleted" when the
    subscription is gone)."""

    subscription: str
    message_id: str
    history_id: int
    attempt: int
    outcome: str
    status: int | None = None
    error: str = ""


@dataclass(frozen=True)
class _Message:
    subscription: str
    message_id: str
    history_id: int
    data: str  # base64
    publish_time: str


def _entry(
    m: _Message, attempt: int, outcome: str, status: int | None, error: str
) -> PubsubAttempt:
    return PubsubAttempt(
        m.subscription, m.message_id, m.history_id, attempt, outcome, status, error
    )


@functools.cache
def _other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class _Forger(Signer):
    """Signs with a key nobody published, under the published key's id (a forger copies it),
    so a verifier has to check the signature itself to refuse the token."""

    def __init__(self, published: Signer) -> None:
        self._published = published

    @functools.cached_property
    def key(self) -> rsa.RSAPrivateKey:
        return _other_key()

    @functools.cached_property
    def kid(self) -> str:
        return self._published.kid


class PubSub:
    def __init__(self, seed: int, clock: Callable[[], datetime], signer: Signer) -> None:
        self.lock = threading.Condition(threading.RLock())
        self.courier: Courier[_Message, PubsubAttempt] = Courier(
            self.lock, self._target, _entry, retry_any=True, name="google-pubsub"
        )
        self.courier.backoff = 0.1  # settable, as all the courier's knobs
        self.clock = clock
        self.signer = signer
        self.forger = _Forger(signer)
        self.rng = random.Random(seed)
        self.fault_plan = FaultPlan()
        # Settable: the caller's Cloud project; Gmail refuses a topic of another project
        # (reference: the project "must exactly match"). None: any project.
        self.project: str | None = None
        self.topics: dict[str, Subscription] = {}  # by topic name
        self.watch: GmailWatch | None = None
        # Pub/Sub message ids are decimal strings, "unique within the topic" (PubsubMessage);
        # that they count up from here is undocumented.
        self._ids = itertools.count(4_100_000_000_000_001)

    # ---- test helpers ------------------------------------------------------------------------
    def topic(
        self,
        topic_name: str,
        push_endpoint: str,
        audience: str | None,
        service_account_email: str,
        subscription: str | None,
        publisher_granted: bool,
    ) -> Subscription:
        found = TOPIC_NAME.fullmatch(topic_name)
        if found is None:
            raise ValueError(f"a topic is named projects/<project>/topics/<id>, not {topic_name!r}")
        sub_id = subscription or f"{found.group(2)}-push"
        sub = Subscription(
            f"projects/{found.group(1)}/subscriptions/{sub_id}",
            topic_name,
            push_endpoint,
            audience or push_endpoint,
            service_account_email,
            publisher_granted,
        )
        with self.lock:
            self.topics[topic_name] = sub
        return sub

    def token(
        self, audience: str, email: str, *, expired: bool = False, key: str = "google"
    ) -> str:
        """An OIDC ID token as Pub/Sub signs it (claims from the authentication guide)."""
        if key not in ("google", "other"):
            raise ValueError(f"key is 'google' or 'other', not {key!r}")
        now = int(time.time()) - (2 * TOKEN_LIFETIME if expired else 0)
        subject = account_id(email)  # the service account's unique id, as in the guide's example
        claims = {
            "aud": audience,
            "azp": subject,
            "email": email,
            "email_verified": True,
            "exp": now + TOKEN_LIFETIME,
            "iat": now,
            "iss": ISSUER,
            "sub": subject,
        }
        return (self.signer if key == "google" else self.forger).sign(claims)

    def faults(self, drop: float, delay: float, duplicate: float) -> None:
        with self.lock:
            self.fault_plan.set(drop, delay, duplicate)

    def live_watch(self) -> GmailWatch | None:
        with self.lock:
            watch = self.watch
            return watch if watch is not None and self.clock() < watch.expiration else None

    # ---- API methods (the emulator's lock is held) ------------------------------------------
    def watch_mailbox(self, gmail: Gmail, call: Call) -> Reply:
        gmail.check_user(call.params["userId"])
        body = call.body or {}
        topic = body.get("topicName")
        if not topic:
            raise gmail_error(400, "invalidArgument", "topicName required")  # observed
        found = TOPIC_NAME.fullmatch(topic)
        if found is None or (self.project is not None and found.group(1) != self.project):
            # Observed; Gmail names the caller's project where the emulator may say "*".
            raise gmail_error(
                400,
                "invalidArgument",
                f"Invalid topicName does not match projects/{self.project or '*'}/topics/*",
            )
        with self.lock:
            sub = self.topics.get(topic)
        # Gmail publishes a test message at watch time; these are its observed answers.
        test = f"Error sending test message to Cloud PubSub {topic} : "
        if sub is None:
            missing = f"Resource not found (resource={found[2]})."
            raise gmail_error(404, "notFound", test + missing)
        if not sub.publisher_granted:
            denied = "User not authorized to perform this action."
            raise gmail_error(403, "forbidden", test + denied)
        label_ids = tuple(body.get("labelIds") or ())
        gmail.check_labels(label_ids, modifying=False)  # undocumented: unknown labels refused
        # labelFilterBehavior wins when set (reference); unset, "include" (undocumented).
        behavior = body.get("labelFilterBehavior") or body.get("labelFilterAction") or "include"
        expiration = _ms(self.clock() + WATCH_LIFETIME)
        with self.lock:
            self.watch = GmailWatch(topic, label_ids, behavior, expiration)
        return 200, {
            "historyId": str(gmail.history_id),
            "expiration": str(int(expiration.timestamp() * 1000)),  # int64: a string
        }

    def stop(self, gmail: Gmail, call: Call) -> Reply:
        gmail.check_user(call.params["userId"])
        with self.lock:
            self.watch = None  # undocumented: stopping without a watch succeeds too
        return 204, None

    # ---- the mailbox changed (the emulator's lock is held) ----------------------------------
    def changed(self, email: str, record: dict[str, Any]) -> None:
        watch = self.live_watch()
        if watch is None:
            return
        if watch.label_ids:
            related = any(touches(record, label) for label in watch.label_ids)
            if related != (watch.behavior == "include"):
                return
        history_id = int(record["id"])
        # The guide's example shows the id quoted; Gmail's deliveries carry a JSON number.
        payload = json.dumps({"emailAddress": email, "historyId": history_id}).encode()
        with self.lock:
            sub = self.topics.get(watch.topic)
            if sub is None:
                return
            message = _Message(
                sub.name,
                str(next(self._ids)),
                history_id,
                # Standard base64 (proto3 JSON bytes); the guide calls it base64url.
                base64.b64encode(payload).decode(),
                timeutil.rfc3339_ms(self.clock()),
            )
            delays = self.fault_plan.plan(self.rng)
            if not delays:
                self.courier.drop(message)
            for delay in delays:  # a duplicate is the same message, delivered twice
                self.courier.send(message, delay)

    # ---- inside ------------------------------------------------------------------------------
    def _target(self, message: _Message) -> Target:
        sub = next((s for s in self.topics.values() if s.name == message.subscription), None)
        if sub is None:
            return "deleted"
        body = {
            "message": {
                "attributes": {},  # Gmail sets none; that an empty map is sent is undocumented
                "data": message.data,
                "messageId": message.message_id,
                "message_id": message.message_id,
                "publishTime": message.publish_time,
                "publish_time": message.publish_time,
            },
            "subscription": sub.name,
        }
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            # A fresh token per try, as each push request is signed anew.
            "Authorization": "Bearer " + self.token(sub.audience, sub.service_account_email),
        }
        return sub.push_endpoint, headers, json.dumps(body).encode()


def _ms(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def handlers(gmail: Gmail, pubsub: PubSub) -> dict[str, Callable[[Call], Reply]]:
    return {
        "gmail.users.watch": lambda call: pubsub.watch_mailbox(gmail, call),
        "gmail.users.stop": lambda call: pubsub.stop(gmail, call),
    }
