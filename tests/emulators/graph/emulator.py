"""GraphEmulator: Graph v1.0 (calendar + mail) and the identity platform on one local HTTPS
server, plus test helpers (helpers.py, push_helpers.py).

Pipeline of a Graph call (standalone or batch part): log -> route (400/405) -> bearer check
(401) -> principal (/me needs a delegated token; /users/{id} obeys app access policies) ->
scopes (403) -> mailbox concurrency (429) -> fault injection -> query/body validation (400) ->
handler. One re-entrant lock guards all state; "slow" faults sleep outside it.

/v1.0/subscriptions (subscriptions.py) shares the bearer check, principal, scopes and faults;
change notifications go out over HTTP from the pusher's thread (push.py), never under the lock.
"""

from __future__ import annotations

import json
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tests.emulators.waits import answering

from . import batch, csdl, router, subscriptions, zones
from .delta import DeltaStore
from .faults import Faults, error_for, throttled
from .grants import AccessToken
from .helpers import Helpers
from .identity import Identity
from .odata import parse_prefer
from .push import Pusher
from .push_helpers import PushHelpers
from .server import Server
from .store import Ctx, Ids, Mailbox, State
from .tls import make_certificates
from .wire import Drop, GraphError, Logged, Request, Response, access_denied, json_response

if TYPE_CHECKING:
    from .tls import Certificates

MAILBOX_CONCURRENCY = 4
WRITE_METHODS = ("POST", "PATCH", "PUT")


class GraphEmulator(Helpers, PushHelpers):
    def __init__(
        self, *, require_auth: bool = True, page_size: int | None = None, seed: int = 0
    ) -> None:
        self.require_auth = require_auth
        self.lock = threading.RLock()
        # Settable: what the emulator takes as "now" for created/modified/received stamps.
        self.clock: Callable[[], datetime] = zones.now
        ids = Ids(seed)
        self.state = State(csdl.schema(), ids, lambda: self.clock(), page_size, DeltaStore())
        self.identity = Identity(
            ids.guid(), self._user_info, lambda: {m.upn.split("@")[1] for m in self._all()}
        )
        self.identity.directory = lambda: [(m.oid, m.upn, m.display_name) for m in self._all()]
        self.faults = Faults(seed)
        self.requests: list[Logged] = []
        self.internal_errors: list[str] = []  # tracebacks of emulator bugs (answered as 500)
        self.concurrency_retry_after = 1.0
        # Settable: called with (method, path) just before a change is applied, so a test
        # can edit the calendar between a client's read and its write (a 412 race).
        self.before_write: Callable[[str, str], None] | None = None
        self.latency = 0.0  # settable: seconds added to every answer (benchmarks)
        # Settable: may a notificationUrl be plain http? None: only on a loopback host.
        self.allow_http_push: bool | None = None
        self.subs = subscriptions.Subscriptions(self)
        self.pusher = Pusher(seed, self.subs.is_live)
        self.state.on_change = self.subs.notifier.on_change
        self._in_flight: dict[tuple[str, str], int] = {}
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._certs: Certificates | None = None
        self.url = self.ca_file = ""

    # ---- lifecycle ----------------------------------------------------------------------------
    def start(self) -> GraphEmulator:
        self._certs = make_certificates()
        self.ca_file = self._certs.ca_file
        self._server = Server(self, self._certs.server_context())
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}/"
        self.state.base_url = self.identity.base_url = self.url
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        self.pusher.start()
        return self

    def stop(self) -> None:
        self.pusher.stop()
        if self._server is not None:
            self._server.stopped = True
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._certs is not None:
            self._certs.remove()
            self._certs = None

    def __enter__(self) -> GraphEmulator:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def tenant_id(self) -> str:
        return self.identity.tenant_id

    def _all(self) -> list[Mailbox]:
        return list(self.state.mailboxes.values())

    def _user_info(self, upn: str) -> tuple[str, str, str] | None:
        mb = self.state.mailbox_by(upn)
        return (mb.oid, mb.upn, mb.display_name) if mb else None

    # ---- dispatch -----------------------------------------------------------------------------
    def serve(self, req: Request) -> Response:
        """Answer one request (raises Drop to close the connection without a response)."""
        entry = Logged(
            req.method, req.path, req.query, req.body, 0, req.batch_part, dict(req.headers)
        )
        if req.arrived is not None:
            entry.at = req.arrived
        with self.lock:
            self.requests.append(entry)
        resp = self._route(req)
        entry.status = resp.status
        return resp

    def _route(self, req: Request) -> Response:
        if not req.batch_part:
            with self.lock:
                resp = self.identity.handle(req)
            if resp is not None:
                return resp
            if req.method == "POST" and req.path.rstrip("/") == "/v1.0/$batch":
                return self._batch(req)
            if not req.path.startswith("/v1.0/"):
                version = req.path.strip("/").split("/")[0]
                return GraphError(400, "BadRequest", f"Invalid version: {version}").response()
        return self._graph(req)

    def _error(self, req: Request, err: GraphError) -> Response:
        with self.lock:
            self.faults.note_retry_after(req.headers.get("authorization", ""), err)
        return err.response(req.headers.get("client-request-id"))

    def _apply_fault(self, req: Request, *, envelope: bool = False) -> None:
        with self.lock:
            fault = self.faults.pick(req.path, part=req.batch_part, envelope=envelope)
        if fault is None:
            return
        if fault.kind == "slow":
            with self.lock:
                self.faults.waits.late(fault.slow_seconds)
        elif fault.kind == "drop":
            raise Drop()
        else:
            raise error_for(fault)

    def _answer(self, req: Request) -> AbstractContextManager[None]:
        """One answer to a client: Retry-Afters in it bind only if it is delivered."""
        return answering(self.faults.waits, self.lock, req.headers.get("authorization", ""))

    def _batch(self, req: Request) -> Response:
        with self._answer(req):
            try:
                self._apply_fault(req, envelope=True)
                return batch.run(req, self.serve)
            except GraphError as err:
                return self._error(req, err)

    def _graph(self, req: Request) -> Response:
        if req.batch_part:
            return self._call(req)
        with self._answer(req):
            return self._call(req)

    def _call(self, req: Request) -> Response:
        slot: tuple[str, str] | None = None
        try:
            if subscriptions.PATH.match(req.path):
                return self._subscription_call(req)
            found = router.match(req.method, req.path)
            with self.lock:
                token = self.identity.check(req.headers) if self.require_auth else None
                mb = self._principal(found.user, token)
                self._check_scopes(found.route.scopes, token)
                slot = (token.client_id if token else "", mb.oid)
                if self._in_flight.get(slot, 0) >= MAILBOX_CONCURRENCY:
                    slot = None
                    raise throttled(self.concurrency_retry_after)
                self._in_flight[slot] = self._in_flight.get(slot, 0) + 1
            self._apply_fault(req)
            if self.before_write is not None and req.method in ("POST", "PUT", "PATCH", "DELETE"):
                self.before_write(req.method, req.path)
            body = self._json_body(req)
            with self.lock:
                ctx = Ctx(
                    self.state,
                    mb,
                    req.method,
                    req.path,
                    req.query,
                    req.headers,
                    body,
                    parse_prefer(req.headers.get("prefer", "")),
                    found.args,
                    token.client_id if token else "",
                )
                status, obj, headers = found.route.handler(ctx)
                request_id = str(uuid.uuid4())  # not from the seeded ids: keeps those stable
                headers = {
                    "request-id": request_id,
                    "client-request-id": req.headers.get("client-request-id") or request_id,
                    **headers,
                }
                # Serialised under the lock: obj may share structure with live state.
                return json_response(status, obj, headers)
        except GraphError as err:
            return self._error(req, err)
        except Drop:
            raise
        except Exception as err:
            with self.lock:
                self.internal_errors.append(traceback.format_exc())
            return GraphError(
                500, "emulatorBug", f"emulator: {err!r}; see GraphEmulator.internal_errors"
            ).response()
        finally:
            if slot is not None:
                if not req.batch_part:  # a slow answer still counts against the limit
                    with self.lock:
                        delay = self.faults.waits.take_delay()
                    time.sleep(delay)
                with self.lock:
                    self._in_flight[slot] -= 1

    def _subscription_call(self, req: Request) -> Response:
        with self.lock:
            token = self.identity.check(req.headers) if self.require_auth else None
        self._apply_fault(req)
        return self.subs.handle(req, token, self._json_body(req))

    def _principal(self, user: str | None, token: AccessToken | None) -> Mailbox:
        """The mailbox of /me (user None) or /users/{user}, as this token may reach it."""
        if user is None:
            if token is None:  # require_auth=False: /me is the first user
                first = next(iter(self.state.mailboxes.values()), None)
                if first is None:
                    raise GraphError(404, "ErrorInvalidUser", "emulator: create a user() first.")
                return first
            if token.upn is None:
                raise GraphError(
                    400,
                    "BadRequest",
                    "/me request is only valid with delegated authentication flow.",
                )
            me = self.state.mailbox_by(token.upn)
            assert me is not None
            return me
        mb = self.state.mailbox_by(user)
        if mb is None:
            raise GraphError(404, "ErrorInvalidUser", f"The requested user '{user}' is invalid.")
        if token is None:
            return mb
        if token.upn is not None and token.upn.lower() != mb.upn.lower():
            raise access_denied()  # delegated access to another mailbox needs sharing
        app = self.identity.apps.get(token.client_id)
        policy = app.allowed if app is not None and token.upn is None else None
        if policy is not None and mb.upn.lower() not in policy:
            raise access_denied("Access to OData is disabled.")
        return mb

    def _check_scopes(self, needed: tuple[str, ...], token: AccessToken | None) -> None:
        if token is None:
            return
        granted = {s.lower() for s in (token.scopes if token.upn else token.roles)}
        if token.upn is None:
            granted |= {s.replace(".All", "").lower() for s in token.roles}
        if not granted & {s.lower() for s in needed}:
            if needed == router.USER_READ:  # a directory call: Azure AD's own error shape
                raise GraphError(
                    403,
                    "Authorization_RequestDenied",
                    "Insufficient privileges to complete the operation.",
                )
            raise access_denied()

    def _json_body(self, req: Request) -> Any:
        if req.method not in WRITE_METHODS:
            return None
        if not req.body.strip():
            raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
        if "json" not in req.headers.get("content-type", "").lower():
            raise GraphError(
                415,
                "UnsupportedMediaType",
                "A supported MIME type could not be found that matches the content type of the "
                "response (send Content-Type: application/json).",
            )
        try:
            return json.loads(req.body)
        except ValueError:
            raise GraphError(
                400,
                "BadRequest",
                "Unable to read JSON request payload. Please ensure Content-Type header is set "
                "and payload is of valid JSON format.",
            ) from None
