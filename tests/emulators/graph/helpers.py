"""The test-facing side of GraphEmulator: directory, calendar, mail and fault helpers.

Helpers act on a user's mailbox given by UPN; without one, on the first user created. They
bypass the HTTP pipeline (no auth, faults or logging) but keep the emulator's rules: bodies
are still checked against the schema, and every write stamps change keys and delta counters.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cryptography import x509

from . import events, messages, recurrence, rules
from .grants import App
from .identity import Identity
from .store import Mailbox, State, public
from .wire import GraphError
from .zones import iso_utc

if TYPE_CHECKING:
    import requests

    from .faults import Faults
    from .wire import Logged

AAD = "https://login.microsoftonline.com/"


class Helpers:
    lock: threading.RLock
    state: State
    identity: Identity
    faults: Faults
    requests: list[Logged]
    url: str
    ca_file: str

    # ---- log ----------------------------------------------------------------------------------
    def reset_log(self) -> None:
        with self.lock:
            self.requests.clear()

    @property
    def early_retries(self) -> int:
        return self.faults.early_retries

    @property
    def rule_errors(self) -> list[str]:
        """Inbox rules that used a predicate or action the emulator does not evaluate."""
        with self.lock:
            return list(self.state.rule_errors)

    # ---- directory and sign-in ----------------------------------------------------------------
    def app(
        self,
        client_id: str,
        *,
        secret: str | None = None,
        certificate_pem: bytes | None = None,
        redirect_uris: Sequence[str] = (),
    ) -> None:
        """Register an app; `certificate_pem` is the public certificate of its signing key.
        With `redirect_uris` (a "Web" platform's), the sign-in page refuses any other
        (AADSTS50011); an app with a secret or certificate must use it to redeem a code."""
        cert = x509.load_pem_x509_certificate(certificate_pem) if certificate_pem else None
        with self.lock:
            self.identity.apps[client_id] = App(
                client_id, secret, cert, redirect_uris=list(redirect_uris)
            )

    def user(
        self,
        upn: str,
        *,
        timezone: str = "Pacific Standard Time",
        working_hours: dict[str, Any] | None = None,
    ) -> str:
        """Create a user with a mailbox; answers its object id. `working_hours` is checked
        against the schema (a customTimeZone in its timeZone, say), then served as given."""
        with self.lock:
            if self.state.mailbox_by(upn) is not None:
                raise ValueError(f"user {upn!r} already exists")
            if working_hours is not None:
                self.state.schema.validate(working_hours, "microsoft.graph.workingHours")
            return self.state.new_mailbox(upn, timezone, working_hours).oid

    def mailbox(self, upn: str | None = None) -> Mailbox:
        """The live mailbox; set `.timezone` on it to change mailboxSettings.timeZone."""
        with self.lock:
            return self._mb(upn)

    def approve(self, user_code: str, upn: str) -> None:
        """Complete a pending device-code sign-in as this user."""
        with self.lock:
            self.identity.approve(user_code, upn)

    def revoke(self, upn: str) -> None:
        """Revoke the user's refresh tokens (like a password change)."""
        with self.lock:
            self.identity.revoke(upn)

    def expire_access_tokens(self) -> None:
        with self.lock:
            self.identity.expire_access_tokens()

    def expire_codes(self) -> None:
        """Authorization codes issued so far are refused from now on (as after 10 minutes)."""
        with self.lock:
            self.identity.expire_codes()

    def access_tokens_issued(self) -> list[str]:
        """Every access token handed out, to look for in logs and output."""
        with self.lock:
            return list(self.identity.access)

    @property
    def access_token_lifetime(self) -> int:
        """expires_in of tokens issued from now on (MSAL refreshes below 300 s)."""
        return self.identity.access_lifetime

    @access_token_lifetime.setter
    def access_token_lifetime(self, seconds: int) -> None:
        with self.lock:
            self.identity.access_lifetime = seconds

    def restrict_app(self, client_id: str, upns: Sequence[str]) -> None:
        """An ApplicationAccessPolicy: app-only calls may reach only these mailboxes."""
        with self.lock:
            self.identity.apps[client_id].allowed = {u.lower() for u in upns}

    @property
    def grants(self) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(self.identity.grants)

    def http_client(self) -> requests.Session:
        """A requests.Session for MSAL's http_client: trusts the emulator's CA and sends
        requests for login.microsoftonline.com (where MSAL's instance discovery always goes
        for an unknown authority host) to the emulator instead."""
        import requests

        base = self.url

        class Session(requests.Session):
            def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:
                if isinstance(url, str) and url.startswith(AAD):
                    url = base + url[len(AAD) :]
                return super().request(method, url, *args, **kwargs)

        session = Session()
        # Without this, REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE from the environment silently beat
        # session.verify (requests merges env settings over the session's for each call).
        session.trust_env = False
        session.verify = self.ca_file
        return session

    # ---- calendar -----------------------------------------------------------------------------
    def _mb(self, upn: str | None) -> Mailbox:
        if upn is None:
            mb = next(iter(self.state.mailboxes.values()), None)
        else:
            mb = self.state.mailbox_by(upn)
        if mb is None:
            raise KeyError(f"no user {upn!r}" if upn else "no users yet; call user() first")
        return mb

    def put_event(self, body: dict[str, Any], upn: str | None = None) -> dict[str, Any]:
        """Store an event as another client would: any showAs, attendees, organizer,
        responseStatus, recurrence, isAllDay, isCancelled, even an id of its own."""
        with self.lock:
            self.state.schema.validate(body, events.EVENT)
            stored = events.store_new(self.state, self._mb(upn), body, as_is=True)
            return public(stored)

    def patch_event(
        self, event_id: str, changes: dict[str, Any], upn: str | None = None
    ) -> dict[str, Any]:
        """Patch as another client would; an occurrence id stores an exception."""
        with self.lock:
            self.state.schema.validate(changes, events.EVENT)
            mb = self._mb(upn)
            return public(events.apply_changes(self.state, mb, event_id, changes, api=False))

    def delete_event(self, event_id: str, upn: str | None = None) -> None:
        with self.lock:
            events.remove(self.state, self._mb(upn), event_id)

    def cancel_occurrence(
        self, series_id: str, original_start: datetime, upn: str | None = None
    ) -> None:
        """Cancel the occurrence of a series that originally starts at `original_start`."""
        with self.lock:
            mb = self._mb(upn)
            master = mb.events[series_id]
            key = recurrence.original_key(master, original_start)
            events.remove(self.state, mb, f"{series_id}_{key}")

    def event(self, event_id: str, upn: str | None = None) -> dict[str, Any] | None:
        """The stored event (or occurrence) including singleValueExtendedProperties."""
        with self.lock:
            try:
                item, _, _ = events.resolve(self._mb(upn), event_id)
            except GraphError:
                return None
            out = public(item)
            if item.get("recurrence"):
                out["cancelledOccurrences"] = list(item["_cancelled"])
            return out

    def events(self, upn: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [public(ev) for ev in self._mb(upn).events.values()]

    def expire_delta(self, kind: str = "410") -> None:
        """Every delta/skip token issued so far fails: "410" (Gone + Location) or
        "syncStateNotFound" (400)."""
        with self.lock:
            self.state.deltas.expire(kind)

    # ---- mail ---------------------------------------------------------------------------------
    def arrive(
        self,
        *,
        sender: str,
        received: datetime,
        subject: str = "Hello",
        upn: str | None = None,
        conversation_id: str | None = None,
        is_read: bool = False,
        body: str = "Hi there",
    ) -> str:
        """Deliver mail through the mailbox's inbox rules; answers its immutable id."""
        if received.tzinfo is None:
            raise ValueError("received must be an aware datetime")
        with self.lock:
            mb = self._mb(upn)
            known = self.state.mailbox_by(sender)
            name = known.display_name if known else sender.split("@")[0]
            fields: dict[str, Any] = {
                "from": messages.address(name, sender),
                "sender": messages.address(name, sender),
                "toRecipients": [messages.address(mb.display_name, mb.upn)],
                "subject": subject,
                "body": {"contentType": "text", "content": body},
                "receivedDateTime": iso_utc(received),
                "sentDateTime": iso_utc(received),
                "isRead": is_read,
            }
            if conversation_id is not None:
                fields["conversationId"] = conversation_id
            before = set(mb.messages)
            rules.deliver(self.state, mb, fields)
            created = [k for k in mb.messages if k not in before]
            return created[0] if created else ""

    def message(self, message_id: str, upn: str | None = None) -> dict[str, Any]:
        """The stored message: immutable `id`, `regularId`, `folder` (well-known or display
        name), isRead, flag, categories, subject, body, singleValueExtendedProperties..."""
        with self.lock:
            mb = self._mb(upn)
            return messages.stored_copy(mb, messages.find(mb, message_id))

    def messages(self, upn: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            mb = self._mb(upn)
            return [messages.stored_copy(mb, m) for m in mb.messages.values()]

    def folders(self, upn: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            mb = self._mb(upn)
            return [
                {**public(f), "wellKnownName": f.get("_wellKnown")} for f in mb.folders.values()
            ]

    def rules(self, upn: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [public(r) for r in self._mb(upn).rules.values()]

    # ---- faults -------------------------------------------------------------------------------
    def fail_next(
        self,
        kind: str,
        *,
        count: int = 1,
        retry_after: float | None = None,
        path_contains: str = "",
    ) -> None:
        with self.lock:
            self.faults.fail_next(kind, count, retry_after, path_contains)

    def inject(
        self,
        rate: float,
        kinds: Sequence[str] = ("429", "503", "500", "slow", "drop", "concurrency"),
        *,
        slow_seconds: float = 2.0,
        retry_after: float = 0.5,
        batch_parts: bool = True,
    ) -> None:
        with self.lock:
            self.faults.inject(rate, kinds, slow_seconds, retry_after, batch_parts)
