"""Change-notification subscriptions of the Graph emulator, over real sockets both ways: the
API through `requests`, notifications into a loopback http.server receiver."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msal
import pytest
import requests

from tests.emulators.graph import GraphEmulator
from tests.emulators.graph.push import PushPolicy

Json = dict[str, Any]
REP = "rep@contoso.com"
BOSS = "boss@contoso.com"
ALL = "created,updated,deleted"
GRAPH_DEFAULT = "https://graph.microsoft.com/.default"
VALIDATION_FAILED = (
    "Subscription validation request failed. Notification endpoint must respond with 200 OK to "
    "validation request."
)


def timed(subject: str = "Block") -> Json:
    return {
        "subject": subject,
        "start": {"dateTime": "2026-11-30T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-11-30T10:00:00", "timeZone": "UTC"},
    }


class Receiver:
    """A webhook endpoint on 127.0.0.1: answers the handshake (unless told not to echo) and
    records notifications, answering them with `statuses` first, then 202."""

    def __init__(self, *, echo: bool = True) -> None:
        self.echo = echo
        self.statuses: list[int] = []
        self.on_validation: Callable[[], None] | None = None
        self.slow = 0.0  # seconds to sit on each notification
        self.tokens: list[str] = []
        self.posts: list[tuple[str, Json]] = []  # (path with query, body)
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        # A query parameter: Graph keeps it on every POST.
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook?route=a%20b"

    def items(self) -> list[Json]:
        with self.lock:
            return [item for _, body in self.posts for item in body["value"]]


def _handler(owner: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if "validationToken" in query:
                token = query["validationToken"][0]
                owner.tokens.append(token)
                if owner.on_validation is not None:
                    owner.on_validation()
                self._answer(200, token if owner.echo else "no", "text/plain; charset=utf-8")
                return
            with owner.lock:
                owner.posts.append((self.path, json.loads(body)))
                status = owner.statuses.pop(0) if owner.statuses else 202
            time.sleep(owner.slow)
            self._answer(status, "", "text/plain")

        def _answer(self, status: int, text: str, ctype: str) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def graph() -> Iterator[GraphEmulator]:
    with GraphEmulator(require_auth=False, seed=7) as emulator:
        emulator.user(REP)
        emulator.user(BOSS)
        yield emulator


class Client:
    def __init__(self, graph: GraphEmulator, token: str | None = None) -> None:
        self.graph, self.http = graph, requests.Session()
        self.http.trust_env, self.http.verify = False, graph.ca_file
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def __call__(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> requests.Response:
        return self.http.request(
            method,
            self.graph.url + "v1.0/" + path,
            json=body,
            headers={**self.headers, **(headers or {})},
            timeout=15,
        )


@pytest.fixture
def api(graph: GraphEmulator) -> Client:
    return Client(graph)


def error(resp: requests.Response) -> tuple[int, str, str]:
    err = resp.json()["error"]
    return resp.status_code, err["code"], err["message"]


def expiry(graph: GraphEmulator, minutes: float = 60) -> str:
    return (graph.clock() + timedelta(minutes=minutes)).isoformat()


def subscribe(
    api: Client,
    url: str,
    resource: str = "me/events",
    change: str = ALL,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> requests.Response:
    body = {
        "changeType": change,
        "notificationUrl": url,
        "resource": resource,
        "expirationDateTime": expiry(api.graph),
        "clientState": "s3cret",
        **extra,
    }
    return api("POST", "subscriptions", body, headers)


def settle(graph: GraphEmulator) -> None:
    assert graph.wait_for_push(10)


# ---- create, read, renew, delete ---------------------------------------------------------------
def test_handshake_answered_creates_the_subscription(
    graph: GraphEmulator, api: Client, receiver: Receiver
) -> None:
    resp = subscribe(api, receiver.url, lifecycleNotificationUrl=receiver.url)
    assert resp.status_code == 201, resp.text
    sub = resp.json()
    assert sub["@odata.context"].endswith("$metadata#subscriptions/$entity")
    assert sub["resource"] == "me/events" and sub["changeType"] == ALL
    assert sub["clientState"] == "s3cret" and sub["notificationUrl"] == receiver.url
    assert sub["lifecycleNotificationUrl"] == receiver.url
    assert sub["latestSupportedTlsVersion"] == "v1_2" and sub["includeResourceData"] is False
    assert sub["creatorId"] == graph.mailbox(REP).oid and sub["expirationDateTime"].endswith("Z")
    # Both URLs were validated, with a token that needs URL decoding.
    assert len(receiver.tokens) == 2 and receiver.tokens[0].startswith("Validation: ")
    assert [a.outcome for a in graph.push_log] == ["valid", "valid"]
    assert [s["id"] for s in graph.subscriptions] == [sub["id"]]
    assert api("GET", f"subscriptions/{sub['id']}").json()["id"] == sub["id"]
    assert [s["id"] for s in api("GET", "subscriptions").json()["value"]] == [sub["id"]]


def test_receiver_that_does_not_echo_the_token_is_refused(
    graph: GraphEmulator, api: Client, receiver: Receiver
) -> None:
    receiver.echo = False
    assert error(subscribe(api, receiver.url)) == (400, "ValidationError", VALIDATION_FAILED)
    receiver.echo = True
    refused = subscribe(api, receiver.url, lifecycleNotificationUrl="http://127.0.0.1:9/x")
    assert error(refused) == (400, "ValidationError", VALIDATION_FAILED)
    assert graph.subscriptions == []
    assert [a.outcome for a in graph.push_log] == ["invalid", "valid", "invalid"]


def test_validation_runs_outside_the_emulator_lock(
    graph: GraphEmulator, api: Client, receiver: Receiver
) -> None:
    # A receiver may call Graph while it validates: a lock held across the handshake would hang.
    receiver.on_validation = lambda: api("GET", "me/events").raise_for_status()
    assert subscribe(api, receiver.url).status_code == 201


def test_renew_with_patch(graph: GraphEmulator, api: Client, receiver: Receiver) -> None:
    sub_id = subscribe(api, receiver.url).json()["id"]
    later = graph.clock() + timedelta(days=6)
    renewed = api("PATCH", f"subscriptions/{sub_id}", {"expirationDateTime": later.isoformat()})
    assert renewed.status_code == 200
    assert renewed.json()["expirationDateTime"][:19] == later.strftime("%Y-%m-%dT%H:%M:%S")
    too_far = expiry(graph, 10_071)
    assert error(api("PATCH", f"subscriptions/{sub_id}", {"expirationDateTime": too_far})) == (
        400,
        "ExtensionError",
        "Subscription expiration can only be 10070 minutes in the future.",
    )
    status, code, message = error(api("PATCH", f"subscriptions/{sub_id}", {"clientState": "x"}))
    assert (status, code) == (400, "InvalidRequest") and "'expirationDateTime'" in message


def test_expiration_rules(graph: GraphEmulator, api: Client, receiver: Receiver) -> None:
    assert error(subscribe(api, receiver.url, expirationDateTime=expiry(graph, 10_071))) == (
        400,
        "ExtensionError",
        "Subscription expiration can only be 10070 minutes in the future.",
    )
    past = subscribe(api, receiver.url, expirationDateTime=expiry(graph, -1))
    assert error(past)[:2] == (400, "ExtensionError")
    assert subscribe(api, receiver.url, expirationDateTime=expiry(graph, 10_069)).ok
    # Under 45 minutes away is raised to 45 minutes (documented).
    soon = subscribe(api, receiver.url, expirationDateTime=expiry(graph, 5)).json()
    expires = datetime.fromisoformat(soon["expirationDateTime"])
    assert expires - graph.clock() > timedelta(minutes=44)
    assert len(receiver.tokens) == 2  # refused requests never reached the receiver


def test_plain_http_needs_allow_http_push(
    graph: GraphEmulator, api: Client, receiver: Receiver
) -> None:
    message = "NotificationUrl scheme='http' is not supported."
    assert error(subscribe(api, "http://example.com/hook")) == (400, "InvalidRequest", message)
    graph.allow_http_push = False
    assert error(subscribe(api, receiver.url)) == (400, "InvalidRequest", message)
    assert receiver.tokens == []


def test_bad_bodies(graph: GraphEmulator, api: Client, receiver: Receiver) -> None:
    status, code, message = error(subscribe(api, receiver.url, clientState="x" * 129))
    assert (status, code) == (400, "InvalidRequest") and "128" in message
    status, code, message = error(subscribe(api, receiver.url, colour="blue"))
    assert (status, code) == (400, "InvalidRequest") and message.startswith("Could not process")
    assert error(subscribe(api, receiver.url, change="created,moved"))[:2] == (
        400,
        "InvalidRequest",
    )
    assert error(subscribe(api, receiver.url, resource="me/contacts"))[:2] == (
        400,
        "InvalidRequest",
    )


def test_delete_stops_delivery(graph: GraphEmulator, api: Client, receiver: Receiver) -> None:
    sub_id = subscribe(api, receiver.url).json()["id"]
    assert api("DELETE", f"subscriptions/{sub_id}").status_code == 204
    assert api("POST", "me/events", timed()).status_code == 201
    settle(graph)
    assert receiver.items() == []
    gone = (404, "ResourceNotFound", "The object was not found.")
    assert error(api("GET", f"subscriptions/{sub_id}")) == gone
    assert error(api("DELETE", f"subscriptions/{sub_id}")) == gone


# ---- notifications -----------------------------------------------------------------------------
def test_event_created_updated_deleted(
    graph: GraphEmulator, api: Client, receiver: Receiver
) -> None:
    sub = subscribe(api, receiver.url).json()
    event = api("POST", "me/events", timed()).json()
    api("PATCH", f"me/events/{event['id']}", {"subject": "Moved"}).raise_for_status()
    started = time.monotonic()
    assert api("DELETE", f"me/events/{event['id']}").status_code == 204
    assert time.monotonic() - started < 1  # delivery never holds up an answer
    settle(graph)
    items = receiver.items()
    assert [i["changeType"] for i in items] == ["created", "updated", "deleted"]
    oid = graph.mailbox(REP).oid
    for item in items:
        assert item["subscriptionId"] == sub["id"] and item["clientState"] == "s3cret"
        assert item["tenantId"] == graph.tenant_id
        assert item["subscriptionExpirationDateTime"] == sub["expirationDateTime"]
        data = item["resourceData"]
        assert data["id"] == event["id"] and data["@odata.type"] == "#Microsoft.Graph.Event"
        assert data["@odata.id"] == f"Users/{oid}@{graph.tenant_id}/Events/{event['id']}"
        assert item["resource"].lower() == data["@odata.id"].lower()
    assert items[0]["resourceData"]["@odata.etag"] == event["@odata.etag"]
    assert all(parse_qs(urlsplit(path).query) == {"route": ["a b"]} for path, _ in receiver.posts)


def test_change_type_filter_and_other_mailboxes(
    graph: GraphEmulator, api: Client, receiver: Receiver
) -> None:
    subscribe(api, receiver.url, change="deleted")
    event = graph.put_event(timed())
    graph.patch_event(event["id"], {"subject": "Changed"})
    graph.put_event(timed(), upn=BOSS)  # someone else's calendar
    graph.delete_event(event["id"])
    settle(graph)
    assert [(i["changeType"], i["resourceData"]["id"]) for i in receiver.items()] == [
        ("deleted", event["id"])
    ]


def test_inbox_arrivals(graph: GraphEmulator, api: Client, receiver: Receiver) -> None:
    oid = graph.mailbox(REP).oid
    inbox = f"users/{oid}/mailFolders('Inbox')/messages"
    folder = subscribe(api, receiver.url, resource=inbox, change="created,deleted").json()
    immutable = subscribe(
        api,
        receiver.url,
        resource="me/mailfolders('inbox')/messages",
        change="created",
        headers={"Prefer": 'IdType="ImmutableId"'},
    ).json()
    key = graph.arrive(sender="client@fabrikam.com", received=graph.clock())
    api("POST", "me/messages", {"subject": "A draft"}).raise_for_status()  # in Drafts
    regular = graph.message(key)["regularId"]
    assert api("DELETE", f"me/messages/{regular}").status_code == 204  # to Deleted Items
    settle(graph)
    seen = [
        (i["subscriptionId"], i["changeType"], i["resourceData"]["id"]) for i in receiver.items()
    ]
    assert sorted(seen) == sorted(
        [
            (folder["id"], "created", regular),
            (immutable["id"], "created", key),
            (folder["id"], "deleted", regular),  # moved out: DELETE is a soft delete
        ]
    )
    assert receiver.items()[0]["resourceData"]["@odata.type"] == "#Microsoft.Graph.Message"


def test_expired_subscriptions_are_gone(
    graph: GraphEmulator, api: Client, receiver: Receiver
) -> None:
    first = subscribe(api, receiver.url).json()["id"]
    second = subscribe(api, receiver.url).json()["id"]
    graph.expire_subscription(first)
    assert [s["id"] for s in graph.subscriptions] == [second]
    base = graph.clock()
    graph.clock = lambda: base + timedelta(hours=2)  # past the other one's expiry too
    assert graph.subscriptions == []
    assert error(api("GET", f"subscriptions/{second}"))[:2] == (404, "ResourceNotFound")
    graph.put_event(timed())
    settle(graph)
    assert receiver.items() == []


def test_lifecycle_notifications(graph: GraphEmulator, api: Client, receiver: Receiver) -> None:
    with Receiver() as lifecycle:
        sub = subscribe(api, receiver.url, lifecycleNotificationUrl=lifecycle.url).json()
        for event in ("reauthorizationRequired", "missed", "subscriptionRemoved"):
            graph.lifecycle(sub["id"], event)
        settle(graph)
        items = lifecycle.items()
        assert [i["lifecycleEvent"] for i in items] == [
            "reauthorizationRequired",
            "missed",
            "subscriptionRemoved",
        ]
        assert all(i["subscriptionId"] == sub["id"] and i["clientState"] == "s3cret" for i in items)
        assert items[0]["tenantId"] == graph.tenant_id and "changeType" not in items[0]
        assert receiver.items() == []
        assert error(api("GET", f"subscriptions/{sub['id']}"))[:2] == (404, "ResourceNotFound")
        with pytest.raises(KeyError):
            graph.lifecycle(sub["id"], "missed")
        with pytest.raises(ValueError, match="unknown lifecycle event"):
            graph.lifecycle(subscribe(api, receiver.url).json()["id"], "renewed")


# ---- retries and faults ------------------------------------------------------------------------
def test_retries_after_a_503_then_missed(
    graph: GraphEmulator, api: Client, receiver: Receiver
) -> None:
    sub_id = subscribe(api, receiver.url, lifecycleNotificationUrl=receiver.url).json()["id"]
    receiver.statuses = [503, 503]
    graph.put_event(timed())
    settle(graph)
    attempts = [(a.attempt, a.status, a.outcome) for a in graph.push_log if a.kind != "validation"]
    assert attempts == [(1, 503, "retry"), (2, 503, "retry"), (3, 202, "delivered")]
    assert len(receiver.items()) == 3  # the same notification, three times

    graph.push_policy = PushPolicy(backoff=0.01, max_attempts=2)
    receiver.statuses = [500, 500]
    graph.put_event(timed())
    settle(graph)
    last = [(a.kind, a.outcome) for a in graph.push_log[-3:]]
    assert last == [
        ("notification", "retry"),
        ("notification", "failed"),
        ("lifecycle", "delivered"),
    ]
    assert receiver.items()[-1] == {
        "subscriptionId": sub_id,
        "subscriptionExpirationDateTime": graph.subscriptions[0]["expirationDateTime"],
        "tenantId": graph.tenant_id,
        "clientState": "s3cret",
        "lifecycleEvent": "missed",
    }


def _faulty_run(seed: int) -> tuple[list[tuple[str, str, bool]], int]:
    """20 changes under drop/duplicate/delay faults: (outcomes, notifications received)."""
    with GraphEmulator(require_auth=False, seed=seed) as graph, Receiver() as r:
        graph.user(REP)
        assert subscribe(Client(graph), r.url).status_code == 201
        graph.push_faults(drop=0.3, duplicate=0.2, delay=0.2)
        for n in range(20):
            graph.put_event(timed(f"Event {n}"))
        settle(graph)
        log = [
            (a.body["value"][0]["resourceData"]["id"], a.outcome, a.duplicate)
            for a in graph.push_log
            if a.kind == "notification"
        ]
        return sorted(log), len(r.items())  # sorted: delays reorder deliveries


def test_drop_duplicate_and_delay_faults_follow_the_seed() -> None:
    log, received = _faulty_run(seed=3)
    dropped = sum(1 for _, outcome, _ in log if outcome == "dropped")
    duplicates = sum(1 for _, _, duplicate in log if duplicate)
    assert dropped and duplicates
    assert {outcome for _, outcome, _ in log} == {"dropped", "delivered"}
    assert received == 20 - dropped + duplicates
    assert _faulty_run(seed=3)[0] == log  # same seed: the same events dropped and doubled


def test_slow_receiver_and_stop(receiver: Receiver) -> None:
    pushers = {t for t in threading.enumerate() if t.name == "graph-push"}
    with GraphEmulator(require_auth=False) as graph:
        graph.user(REP)
        assert subscribe(Client(graph), receiver.url).status_code == 201
        receiver.slow = 0.5
        started = time.monotonic()
        graph.put_event(timed())
        graph.put_event(timed())
        assert time.monotonic() - started < 0.3
        assert not graph.wait_for_push(0.2)  # still delivering
    assert {t for t in threading.enumerate() if t.name == "graph-push"} <= pushers


# ---- auth --------------------------------------------------------------------------------------
def test_subscriptions_obey_tokens(receiver: Receiver) -> None:
    with GraphEmulator() as graph:
        graph.user(REP)
        graph.user(BOSS)
        graph.app("daemon", secret="s3cret")
        daemon = msal.ConfidentialClientApplication(
            "daemon",
            client_credential="s3cret",
            authority=graph.url + graph.tenant_id,
            http_client=graph.http_client(),
        )
        app = Client(graph, daemon.acquire_token_for_client([GRAPH_DEFAULT])["access_token"])
        created = subscribe(app, receiver.url, resource=f"users/{REP}/events")
        assert created.status_code == 201 and created.json()["applicationId"] == "daemon"
        assert error(subscribe(app, receiver.url))[:2] == (400, "BadRequest")  # me, app-only
        graph.restrict_app("daemon", [REP])
        denied = subscribe(app, receiver.url, resource=f"users/{BOSS}/events")
        assert error(denied)[:2] == (403, "ErrorAccessDenied")

        graph.app("public")
        public = msal.PublicClientApplication(
            "public", authority=graph.url + "organizations", http_client=graph.http_client()
        )
        flow = public.initiate_device_flow(scopes=["Calendars.Read"])
        graph.approve(flow["user_code"], REP)
        rep = Client(graph, public.acquire_token_by_device_flow(flow)["access_token"])
        assert subscribe(rep, receiver.url).status_code == 201
        assert error(subscribe(rep, receiver.url, resource="me/messages"))[:2] == (
            403,
            "ErrorAccessDenied",
        )
        assert error(subscribe(rep, receiver.url, resource=f"users/{BOSS}/events"))[:2] == (
            403,
            "ErrorAccessDenied",
        )
        # Each app sees only its own subscriptions.
        assert [s["applicationId"] for s in rep("GET", "subscriptions").json()["value"]] == [
            "public"
        ]
        assert error(rep("GET", f"subscriptions/{created.json()['id']}"))[0] == 404
        assert error(Client(graph)("GET", "subscriptions"))[0] == 401
