"""GoogleEmulator: Calendar v3 + Gmail v1 + OAuth on one local HTTP server, plus test helpers.

Request pipeline for an API call (standalone or batch part): log -> route by the discovery
documents (404) -> fault injection -> bearer check (require_auth) -> parameter and body
validation (400) -> handler (501 if documented but not emulated). One re-entrant lock guards
all state; "slow" faults sleep outside it. Push notifications (push.py for Calendar, pubsub.py
for Gmail) go out on their own threads, which never take that lock.
"""

from __future__ import annotations

import copy
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from types import TracebackType
from typing import Any

from tests.emulators.waits import answering

from . import (
    batch,
    calendar_misc,
    discovery,
    fields,
    gmail_history,
    gmail_settings,
    pubsub,
    push,
    timeutil,
)
from .calendar import Calendar, Reply, merge
from .discovery import Call
from .faults import Faults, error_for
from .gmail import Gmail
from .oauth import OAuth
from .pubsub import PubSub
from .pubsub_helpers import PubsubHelpers
from .push import Channel, Push
from .push_delivery import PushAttempt
from .server import Server
from .wire import ApiError, Drop, Logged, Request, Response, json_response

BATCH_PATHS = {"/batch/calendar/v3": "calendar", "/batch/gmail/v1": "gmail", "/batch": "gmail"}
BATCH_LIMITS = {"calendar": 1000, "gmail": 100}
API_PREFIXES = {"calendar": "/calendar/v3/", "gmail": "/gmail/v1/"}
WRITES = ("POST", "PUT", "PATCH", "DELETE")
ALL_FAULTS = ("429", "403-rate", "403-user-rate", "500", "503", "slow", "drop")


class GoogleEmulator(PubsubHelpers):
    def __init__(
        self,
        *,
        email: str = "rep@example.com",
        timezone: str = "America/New_York",
        focus_time: bool = True,
        page_size: int | None = None,
        require_auth: bool = False,
        seed: int = 0,
    ) -> None:
        self.email = email
        self.require_auth = require_auth
        self.lock = threading.RLock()
        # Settable: what the emulator takes as "now" for created/updated stamps and arrivals.
        self.clock: Callable[[], datetime] = timeutil.now
        # Settable: called with (method, path) just before a change is applied, so a test
        # can edit the calendar between a client's read and its write (a 412 race).
        self.before_write: Callable[[str, str], None] | None = None
        self.latency = 0.0  # settable: seconds added to every answer (benchmarks)
        self.calendar = Calendar(email, timezone, focus_time, page_size, lambda: self.clock())
        self.gmail = Gmail(email, lambda: self.clock(), page_size)
        self.oauth = OAuth(email)
        self.faults = Faults(seed)
        self.push = Push(seed, lambda: self.clock())
        self.calendar.on_change = lambda ev: self.push.changed(self.calendar.email, ev)
        self.pubsub = PubSub(seed, lambda: self.clock(), self.oauth.signer)
        self.gmail.on_change = lambda record: self.pubsub.changed(self.gmail.email, record)
        self.requests: list[Logged] = []
        self.internal_errors: list[str] = []  # tracebacks of emulator bugs (answered as 500)
        self._handlers: dict[str, Callable[[Call], Reply]] = {
            **self.calendar.handlers(),
            **calendar_misc.handlers(self.calendar),
            **self.gmail.handlers(),
            **gmail_settings.handlers(self.gmail),
            **gmail_history.handlers(self.gmail),
            **push.handlers(self.calendar, self.push),
            **pubsub.handlers(self.gmail, self.pubsub),
        }
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self.url = self.auth_uri = self.token_uri = ""

    # ---- lifecycle ----------------------------------------------------------------------------
    def start(self) -> GoogleEmulator:
        self._server = Server(self)
        self.push.courier.open()
        self.pubsub.courier.open()
        port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{port}/"
        self.auth_uri, self.token_uri = self.url + "o/oauth2/auth", self.url + "token"
        self.oauth.token_uri = self.token_uri
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stopped = True
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.push.courier.close()
        self.pubsub.courier.close()

    def __enter__(self) -> GoogleEmulator:
        return self.start() if self._server is None else self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ---- what was asked -----------------------------------------------------------------------
    def reset_log(self) -> None:
        with self.lock:
            self.requests.clear()

    @property
    def early_retries(self) -> int:
        return self.faults.early_retries

    # ---- calendar helpers ---------------------------------------------------------------------
    @property
    def timezone(self) -> str:
        return self.calendar.timezone

    @timezone.setter
    def timezone(self, value: str) -> None:
        timeutil.zone(value)  # fail fast on a typo
        with self.lock:
            self.calendar.timezone = value

    def put_event(self, body: dict[str, Any]) -> dict[str, Any]:
        """Insert as the user or another app would: any eventType, no API rules but start/end."""
        with self.lock:
            if body.get("id") in self.calendar.events:
                raise ValueError(f"event {body['id']!r} already exists")
            timeutil.check_edges(body)
            return copy.deepcopy(self.calendar.store_new(body))

    def patch_event(self, event_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Patch semantics as the API's; an instance id of a series stores an exception."""
        with self.lock:
            current, _ = self._resolve(event_id)
            updated = merge(current, changes)
            timeutil.check_edges(updated)
            self.calendar.events[event_id] = updated
            self.calendar.touch(updated)
            return copy.deepcopy(updated)

    def delete_event(self, event_id: str) -> None:
        with self.lock:
            current, virtual = self._resolve(event_id)
            ev = copy.deepcopy(current) if virtual else current
            ev["status"] = "cancelled"
            self.calendar.events[event_id] = ev
            self.calendar.touch(ev)

    def _resolve(self, event_id: str) -> tuple[dict[str, Any], bool]:
        try:
            return self.calendar.resolve(event_id)
        except ApiError:
            raise KeyError(event_id) from None

    def event(self, event_id: str) -> dict[str, Any] | None:
        with self.lock:
            found = self.calendar.events.get(event_id)
            return copy.deepcopy(found) if found is not None else None

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(list(self.calendar.events.values()))

    def expire_history(self) -> None:
        """Gmail history ids issued before now answer 404 from now on. The mailbox's
        current id (what getProfile answers) moves on and stays valid, as Gmail's does."""
        with self.lock:
            self.gmail.history_floor = int(self.gmail.bump())

    def expire_sync_tokens(self) -> None:
        with self.lock:
            self.calendar.token_generation += 1

    # ---- gmail helpers ------------------------------------------------------------------------
    def arrive(
        self,
        *,
        sender: str,
        received: datetime,
        subject: str = "Hello",
        to: str | None = None,
        thread_id: str | None = None,
        labels: Sequence[str] = ("INBOX", "UNREAD"),
        body: str = "Hi there",
    ) -> str:
        with self.lock:
            return gmail_settings.arrive(
                self.gmail,
                sender=sender,
                received=received,
                subject=subject,
                to=to,
                thread_id=thread_id,
                labels=labels,
                body=body,
            )

    def relabel(self, message_id: str, add: Sequence[str], remove: Sequence[str]) -> None:
        """Change a message's labels as the user does in Gmail (history records it)."""
        with self.lock:
            self.gmail.relabel(self.gmail.messages[message_id], add, remove)

    def message(self, message_id: str) -> dict[str, Any]:
        with self.lock:
            rec = self.gmail.messages[message_id]
            return {**copy.deepcopy(rec), "labelIds": list(rec["labelIds"])}

    def messages(self) -> list[dict[str, Any]]:
        with self.lock:
            return [self.message(m) for m in self.gmail.messages]

    def labels(self) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(list(self.gmail.labels.values()))

    def filters(self) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(list(self.gmail.filters.values()))

    # ---- oauth --------------------------------------------------------------------------------
    def client(
        self, client_id: str, client_secret: str, *, redirect_uris: Sequence[str] = ()
    ) -> None:
        """Register an OAuth client; with `redirect_uris`, the authorization endpoint refuses
        any other (Error 400: redirect_uri_mismatch), as for a "Web application" client."""
        with self.lock:
            self.oauth.clients[client_id] = client_secret
            if redirect_uris:
                self.oauth.redirect_uris[client_id] = list(redirect_uris)
            else:
                self.oauth.redirect_uris.pop(client_id, None)

    @property
    def consent_page(self) -> bool:
        """False (the default): GET /o/oauth2/auth approves at once with a 302. True: it
        answers an HTML consent page whose Allow/Deny buttons post to /o/oauth2/approve."""
        return self.oauth.consent_page

    @consent_page.setter
    def consent_page(self, value: bool) -> None:
        with self.lock:
            self.oauth.consent_page = value

    def expire_codes(self) -> None:
        """Authorization codes issued so far are refused from now on (as after 10 minutes)."""
        with self.lock:
            self.oauth.expire_codes()

    def register_service_account(self, client_email: str, public_key_pem: bytes) -> None:
        with self.lock:
            self.oauth.register_service_account(client_email, public_key_pem)

    def revoke_all(self) -> None:
        with self.lock:
            self.oauth.revoke_all()

    def access_tokens_issued(self) -> list[str]:
        """Every access token handed out, to look for in logs and output."""
        with self.lock:
            return list(self.oauth.issued)

    def expire_access_tokens(self) -> None:
        with self.lock:
            self.oauth.expire_access_tokens()

    @property
    def grants(self) -> list[dict[str, Any]]:
        return self.oauth.grants

    # ---- faults -------------------------------------------------------------------------------
    def fail_next(
        self,
        kind: str,
        *,
        count: int = 1,
        retry_after: float | None = None,
        path_contains: str = "",
        method: str = "",
    ) -> None:
        with self.lock:
            self.faults.fail_next(kind, count, retry_after, path_contains, method)

    def inject(
        self,
        rate: float,
        kinds: Sequence[str] = ALL_FAULTS,
        *,
        slow_seconds: float = 2.0,
        retry_after: float = 1.0,
        batch_parts: bool = True,
    ) -> None:
        with self.lock:
            self.faults.inject(rate, kinds, slow_seconds, retry_after, batch_parts)

    # ---- push notifications (push.py) --------------------------------------------------------
    @property
    def allow_http_push(self) -> bool | None:
        """None (the default): a plain-http address is accepted only on loopback (127.0.0.1,
        ::1, localhost), so tests can listen without TLS; True: any; False: HTTPS only."""
        return self.push.allow_http

    @allow_http_push.setter
    def allow_http_push(self, value: bool | None) -> None:
        with self.push.lock:
            self.push.allow_http = value

    @property
    def push_log(self) -> list[PushAttempt]:
        """Every delivery attempt so far, with its outcome, oldest first (a copy)."""
        with self.push.lock:
            return list(self.push.courier.log)

    @property
    def channels(self) -> list[Channel]:
        """The live channels (not stopped, not expired by `clock`)."""
        return self.push.channels()

    def expire_channel(self, channel_id: str | None = None) -> None:
        """Expire one channel as of `clock()`, or every channel with None."""
        self.push.expire(channel_id)

    def wait_for_push(self, timeout: float = 5.0) -> bool:
        """Wait until no notification, Calendar's or Gmail's (Pub/Sub), is queued, delayed,
        retrying or in flight."""
        deadline = time.monotonic() + timeout
        calendar_done = self.push.courier.wait(timeout)
        return self.pubsub.courier.wait(max(0.0, deadline - time.monotonic())) and calendar_done

    def push_faults(self, *, drop: float = 0.0, delay: float = 0.0, duplicate: float = 0.0) -> None:
        """Per message, with the seeded randomness: `drop` the chance it is never sent,
        `delay` the most seconds it waits before sending, `duplicate` the chance it is sent
        twice with one message number. All zero (the default) turns push faults off."""
        self.push.faults(drop, delay, duplicate)

    # ---- dispatch -----------------------------------------------------------------------------
    def serve(self, req: Request) -> Response:
        """Answer one request (raises Drop to close the connection without a response)."""
        entry = Logged(
            req.method, req.path, req.query, req.body, 0, req.batch_part, dict(req.headers)
        )
        with self.lock:
            self.requests.append(entry)
        resp = self._route(req)
        entry.status = resp.status
        return resp

    def _route(self, req: Request) -> Response:
        if req.batch_part:
            return self._api(req)
        endpoints = {
            ("GET", "/o/oauth2/auth"): self.oauth.authorize,
            ("GET", "/o/oauth2/v2/auth"): self.oauth.authorize,
            ("POST", "/o/oauth2/approve"): self.oauth.approve,
            ("GET", "/oauth2/v3/certs"): self.oauth.certs,
            ("GET", "/oauth2/v1/certs"): self.oauth.certs,
            ("GET", "/.well-known/openid-configuration"): self.oauth.openid_configuration,
            ("POST", "/token"): self.oauth.token,
            ("POST", "/revoke"): self.oauth.revoke,
        }
        endpoint = endpoints.get((req.method, req.path))
        if endpoint is not None:
            with self.lock:
                return endpoint(req)
        if req.method == "POST" and req.path in BATCH_PATHS:
            return self._batch(req, BATCH_PATHS[req.path])
        return self._api(req)

    def _apply_fault(self, req: Request, api: str, *, envelope: bool = False) -> bool:
        """Raise the fault picked for this request; True: do the work, then drop the
        connection (the client never learns that it succeeded)."""
        with self.lock:
            fault = self.faults.pick(
                req.path, part=req.batch_part, envelope=envelope, method=req.method
            )
        if fault is None:
            return False
        if fault.kind == "slow":
            with self.lock:
                self.faults.waits.late(fault.slow_seconds)
        elif fault.kind == "drop":
            raise Drop()
        elif fault.kind == "drop-after":
            return True
        else:
            raise error_for(fault, api)
        return False

    def _error(self, req: Request, err: ApiError, api: str) -> Response:
        if api == "gmail":
            err.with_status = True  # One Platform errors carry "status"
        with self.lock:
            self.faults.note_retry_after(req.headers.get("authorization", ""), err)
        return err.response()

    def _answer(self, req: Request) -> AbstractContextManager[None]:
        """One answer to a client: Retry-Afters in it bind only if it is delivered."""
        return answering(self.faults.waits, self.lock, req.headers.get("authorization", ""))

    def _api(self, req: Request) -> Response:
        if req.batch_part:
            return self._call(req)
        with self._answer(req):
            return self._call(req)

    def _call(self, req: Request) -> Response:
        api = "gmail" if req.path.startswith("/gmail/") else "calendar"
        try:
            method, path_params = discovery.match(req.method, req.path)
            drop_after = self._apply_fault(req, api)
            if self.require_auth:
                with self.lock:
                    self.oauth.check(req.headers, req.query)
            if self.before_write is not None and req.method in WRITES:
                self.before_write(req.method, req.path)
            call = discovery.build_call(method, path_params, req.query, req.body, req.headers)
            handler = self._handlers.get(method.id)
            if handler is None:
                raise ApiError(501, "notImplemented", f"emulator: {method.id} is not implemented")
            with self.lock:
                status, obj = handler(call)
                if "fields" in call.params and status < 300 and obj is not None:
                    obj = fields.apply(obj, fields.parse(call.params["fields"]))
                answer = json_response(status, obj)  # serialised under the lock: live state
            if drop_after:
                raise Drop()
            return answer
        except ApiError as err:
            return self._error(req, err, api)
        except Drop:
            raise
        except Exception:
            with self.lock:
                self.internal_errors.append(traceback.format_exc())
            return ApiError(
                500, "emulatorBug", "emulator bug; see GoogleEmulator.internal_errors"
            ).response()

    def _batch(self, req: Request, api: str) -> Response:
        with self._answer(req):
            return self._envelope(req, api)

    def _envelope(self, req: Request, api: str) -> Response:
        try:
            self._apply_fault(req, api, envelope=True)
            parts = batch.parse(req)
            if len(parts) > BATCH_LIMITS[api]:
                raise ApiError(
                    400,
                    "badRequest",
                    f"A batch request cannot contain more than {BATCH_LIMITS[api]} requests",
                )
        except ApiError as err:
            return self._error(req, err, api)
        results: list[Any] = []
        self._parts(req, api, parts, results)
        return batch.join(results)

    def _parts(self, req: Request, api: str, parts: Any, results: list[Any]) -> None:
        for content_id, part in parts:
            if "authorization" in req.headers:
                part.headers.setdefault("authorization", req.headers["authorization"])
            if not part.path.startswith(API_PREFIXES[api]):
                # Another API's call in this API's batch endpoint: Google refuses the part.
                resp = self._error(part, ApiError(404, "notFound", "Not Found"), api)
                with self.lock:
                    self.requests.append(
                        Logged(
                            part.method,
                            part.path,
                            part.query,
                            part.body,
                            resp.status,
                            True,
                            dict(part.headers),
                        )
                    )
                results.append((content_id, resp))
                continue
            results.append((content_id, self.serve(part)))  # a dropped part drops the envelope
