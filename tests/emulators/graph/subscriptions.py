"""Change-notification subscriptions: POST/GET /v1.0/subscriptions, GET/PATCH/DELETE
/v1.0/subscriptions/{id}. What a change notifies is in notifications.py, delivery in push.py.

Documented (learn.microsoft.com/graph/...): api/subscription-post-subscriptions (201 and the
subscription; resources me/events, me/messages, me/mailFolders('inbox')/messages and users/{id}/
in place of me; Calendars.Read for events, Mail.ReadBasic or Mail.Read for messages; delegated
tokens reach only the signed-in user's mailbox); api/resources/subscription (clientState at most
128 characters, HTTPS URLs, latestSupportedTlsVersion defaults to v1_2, an expiration under 45
minutes away is raised to 45 minutes); change-notifications-delivery-webhooks (both URLs pass
the validation handshake before the subscription exists); outlook-immutable-id (Prefer:
IdType="ImmutableId" on creation makes the notifications carry immutable ids).

Error texts are the ones Graph has been seen to answer (GitHub issues cited where used); codes
or texts marked "chosen" are undocumented. An expired subscription is gone: 404, not listed,
nothing delivered. Everything but handle() and is_live() runs under the emulator's lock.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .csdl import SUBSCRIPTION
from .notifications import Notifier, stamp
from .odata import check_options, parse_prefer
from .push import TOKEN, PushAttempt, handshake
from .wire import GraphError, Request, Response, json_response, not_found
from .zones import parse_offset

if TYPE_CHECKING:
    from .emulator import GraphEmulator
    from .grants import AccessToken

PATH = re.compile(r"^/v1\.0/subscriptions(?:/(?P<id>[^/]+))?/?$", re.IGNORECASE)
RESOURCE = re.compile(
    r"^/?(?:(?P<me>me)|users/(?P<user>[^/]+))/(?:(?P<events>(?:calendar/)?events)"
    r"|(?P<messages>messages)|mailfolders(?:\('(?P<quoted>[^']+)'\)|/(?P<folder>[^/]+))/messages)$",
    re.IGNORECASE,
)
CHANGE_TYPES = ("created", "updated", "deleted")
TLS_VERSIONS = ("v1_0", "v1_1", "v1_2", "v1_3")
SCOPES = {
    "event": ("Calendars.Read", "Calendars.ReadWrite"),
    "message": ("Mail.ReadBasic", "Mail.Read", "Mail.ReadWrite"),
}
# The docs give 10,080 minutes ("under 7 days") for Outlook resources; Graph itself refuses more
# than 10070 ("Subscription expiration can only be 10070 minutes in the future.", seen in
# openclaw/openclaw#111658), as it once enforced 4230 for a documented "3 days" (docs#2988).
MAX_MINUTES = 10_070
MIN_MINUTES = 45
LOOPBACK = ("127.0.0.1", "localhost", "::1")
VALIDATION_FAILED = (
    "Subscription validation request failed. Notification endpoint must respond with 200 OK to "
    "validation request."
)


def invalid(message: str) -> GraphError:
    return GraphError(400, "InvalidRequest", message)


def payload_error(operation: str) -> GraphError:
    # Graph's answer to a body it can't read (microsoft-graph-docs#3041); "update" is chosen.
    return invalid(
        f"Could not process subscription {operation} payload. Are all property names spelled "
        "and camelCased properly?"
    )


def gone() -> GraphError:
    # As Graph answers for an unknown subscription (microsoft-graph-docs#5725).
    return GraphError(404, "ResourceNotFound", "The object was not found.")


@dataclass
class Subscription:
    id: str
    resource: str
    change_types: tuple[str, ...]
    notification_url: str
    lifecycle_url: str | None
    expires: datetime
    client_state: str | None
    tls: str
    application_id: str | None
    creator_id: str
    mailbox: str  # the owner's object id
    kind: str  # "event" | "message"
    folder: str | None  # a message folder's id; None for the whole mailbox
    immutable: bool  # notifications carry immutable ids

    def render(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "resource": self.resource,
            "applicationId": self.application_id,
            "changeType": ",".join(self.change_types),
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "notificationQueryOptions": None,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": stamp(self.expires),
            "creatorId": self.creator_id,
            "includeResourceData": False,
            "latestSupportedTlsVersion": self.tls,
            "encryptionCertificate": None,
            "encryptionCertificateId": None,
            "notificationUrlAppId": None,
        }


class Subscriptions:
    def __init__(self, emulator: GraphEmulator) -> None:
        self.emu = emulator
        self.live: dict[str, Subscription] = {}
        self.max_minutes = MAX_MINUTES  # settable, e.g. to the documented 10_080
        self.notifier = Notifier(self)

    # ---- HTTP (called without the lock: the handshake is HTTP) -------------------------------
    def handle(self, req: Request, token: AccessToken | None, body: Any) -> Response:
        check_options(req.query, set())
        match = PATH.match(req.path)
        assert match is not None
        sub_id = match.group("id")
        if sub_id is None and req.method == "POST":
            return self._reply(req, 201, self._create(req, token, body))
        if sub_id is None and req.method == "GET":
            with self.emu.lock:
                found = [s.render() for s in list(self.live.values()) if self._visible(s, token)]
            return self._reply(req, 200, {"value": found}, "#subscriptions")
        if sub_id is not None and req.method == "GET":
            with self.emu.lock:
                return self._reply(req, 200, self._find(sub_id, token).render())
        if sub_id is not None and req.method == "PATCH":
            return self._reply(req, 200, self._update(sub_id, token, body))
        if sub_id is not None and req.method == "DELETE":
            with self.emu.lock:
                del self.live[self._find(sub_id, token).id]
            return self._reply(req, 204, None)
        allowed = "GET, POST" if sub_id is None else "DELETE, GET, PATCH"
        raise GraphError(
            405,
            "MethodNotAllowed",
            f"The HTTP method '{req.method}' is not supported for this resource; "
            f"supported: {allowed}.",
        )

    def _reply(self, req: Request, status: int, obj: Any, context: str = "") -> Response:
        if isinstance(obj, dict):
            base = self.emu.state.base_url + "v1.0/$metadata"
            obj = {"@odata.context": base + (context or "#subscriptions/$entity"), **obj}
        request_id = str(uuid.uuid4())
        client = req.headers.get("client-request-id") or request_id
        return json_response(status, obj, {"request-id": request_id, "client-request-id": client})

    def _create(self, req: Request, token: AccessToken | None, body: Any) -> dict[str, Any]:
        immutable = parse_prefer(req.headers.get("prefer", "")).immutable
        with self.emu.lock:
            sub = self._prepare(body, token, immutable)
        self._validate(sub.id, sub.notification_url)
        if sub.lifecycle_url:
            self._validate(sub.id, sub.lifecycle_url)
        with self.emu.lock:
            self.live[sub.id] = sub
            return sub.render()

    def _prepare(self, body: Any, token: AccessToken | None, immutable: bool) -> Subscription:
        self._check_body(body, "creation")
        for name in ("changeType", "notificationUrl", "resource", "expirationDateTime"):
            if not body.get(name):
                # Graph's text for a missing expirationDateTime (microsoft-graph-docs#7399).
                raise invalid(f"{name} is a required property for subscription creation.")
        changes = [part.strip() for part in str(body["changeType"]).split(",")]
        if not all(part in CHANGE_TYPES for part in changes):  # chosen text
            raise invalid(f"Invalid changeType '{body['changeType']}'; use {CHANGE_TYPES}.")
        self._check_url("NotificationUrl", body["notificationUrl"])
        lifecycle = body.get("lifecycleNotificationUrl") or None
        if lifecycle is not None:
            self._check_url("LifecycleNotificationUrl", lifecycle)
        state = body.get("clientState")
        if state is not None and len(state) > 128:  # the documented limit; the text is chosen
            raise invalid("clientState can be at most 128 characters long.")
        tls = body.get("latestSupportedTlsVersion") or "v1_2"
        if tls not in TLS_VERSIONS:  # chosen text
            raise invalid(f"Invalid latestSupportedTlsVersion '{tls}'; use {TLS_VERSIONS}.")
        if body.get("includeResourceData"):
            raise invalid("emulator: includeResourceData (rich notifications) is not supported.")
        found = RESOURCE.match(body["resource"])
        if found is None:  # chosen text
            raise invalid(f"emulator: unsupported subscription resource '{body['resource']}'.")
        kind = "event" if found.group("events") else "message"
        mb = self.emu._principal(found.group("user"), token)
        self.emu._check_scopes(SCOPES[kind], token)
        folder_ref = found.group("quoted") or found.group("folder")
        folder = mb.folder_id(folder_ref) if folder_ref else None
        if folder_ref and folder is None:
            raise not_found()
        app_id = token.client_id if token is not None else None
        # creatorId: the signed-in user; for an app-only token the app's id stands in for its
        # service principal's (chosen: the emulator has no service principals).
        creator = token.client_id if token is not None and token.upn is None else mb.oid
        return Subscription(
            self.emu.state.ids.guid(),
            body["resource"],
            tuple(dict.fromkeys(changes)),
            body["notificationUrl"],
            lifecycle,
            self._expiry(body["expirationDateTime"], "creation"),
            state,
            tls,
            app_id,
            creator,
            mb.oid,
            kind,
            folder,
            immutable,
        )

    def _update(self, sub_id: str, token: AccessToken | None, body: Any) -> dict[str, Any]:
        self._check_body(body, "update")
        if not (body.get("expirationDateTime") or body.get("notificationUrl")):
            # Graph's text (microsoft-graph-docs-contrib#9498); the code is chosen.
            raise invalid(
                "Subscription must contain either the 'expirationDateTime' or 'notificationUrl' "
                "property and its value."
            )
        if "lifecycleNotificationUrl" in body:  # documented as impossible; the text is chosen
            raise invalid("The lifecycleNotificationUrl of a subscription can't be updated.")
        url = body.get("notificationUrl")
        with self.emu.lock:
            self._find(sub_id, token)
            when = body.get("expirationDateTime")
            expires = self._expiry(when, "update") if when else None
            if url:
                self._check_url("NotificationUrl", url)
        if url:
            self._validate(sub_id, url)
        with self.emu.lock:
            sub = self._find(sub_id, token)
            sub.expires = expires or sub.expires
            sub.notification_url = url or sub.notification_url
            return sub.render()

    def _check_body(self, body: Any, operation: str) -> None:
        if not isinstance(body, dict):
            raise payload_error(operation)
        try:
            self.emu.state.schema.validate(body, SUBSCRIPTION)
        except GraphError:
            raise payload_error(operation) from None

    def _check_url(self, label: str, url: str) -> None:
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), parts.hostname or ""
        allow = self.emu.allow_http_push
        http_ok = host in LOOPBACK if allow is None else allow
        if host and (scheme == "https" or (scheme == "http" and http_ok)):
            return
        # Graph's text for an http URL (microsoft-graph-docs-contrib#7821).
        raise invalid(f"{label} scheme='{parts.scheme}' is not supported.")

    def _expiry(self, value: str, operation: str) -> datetime:
        try:
            when = parse_offset(value)
        except ValueError:
            raise payload_error(operation) from None
        now = self.emu.clock()
        if when <= now:  # chosen: Graph's answer for this case is undocumented
            raise GraphError(400, "ExtensionError", "Subscription expiration is in the past.")
        if when - now > timedelta(minutes=self.max_minutes):
            raise GraphError(
                400,
                "ExtensionError",
                f"Subscription expiration can only be {self.max_minutes} minutes in the future.",
            )
        return max(when, now + timedelta(minutes=MIN_MINUTES))

    def _validate(self, sub_id: str, url: str) -> None:
        """The handshake, without the lock; 400 ValidationError if it fails."""
        token = TOKEN.format(uuid.uuid4())
        ok, status, why = handshake(url, token, self.emu.pusher.policy.validation_timeout)
        outcome = "valid" if ok else "invalid"
        self.emu.pusher.note(PushAttempt("validation", sub_id, url, "", 1, status, outcome, why))
        if not ok:
            raise GraphError(400, "ValidationError", VALIDATION_FAILED)

    def alive(self, sub: Subscription) -> bool:
        """Unexpired by the emulator's clock; an expired one is dropped here."""
        if sub.expires > self.emu.clock():
            return True
        self.live.pop(sub.id, None)
        return False

    def _visible(self, sub: Subscription, token: AccessToken | None) -> bool:
        """Live, and created by this app (and, for a delegated token, this user): chosen."""
        if not self.alive(sub):
            return False
        if token is None or token.upn is None:
            return token is None or sub.application_id == token.client_id
        me = self.emu.state.mailbox_by(token.upn)
        mine = me is not None and sub.creator_id == me.oid
        return mine and sub.application_id == token.client_id

    def _find(self, sub_id: str, token: AccessToken | None) -> Subscription:
        sub = self.live.get(sub_id)
        if sub is None or not self._visible(sub, token):
            raise gone()
        return sub

    def is_live(self, sub_id: str) -> bool:
        with self.emu.lock:
            sub = self.live.get(sub_id)
            return sub is not None and self.alive(sub)
