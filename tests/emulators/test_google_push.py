"""Calendar push notifications from the Google emulator, received over real HTTP on loopback."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from tests.emulators.google import GoogleEmulator

Json = dict[str, Any]
NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
WEEK_MS = 604800 * 1000


@dataclass
class Got:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def state(self) -> str:
        return self.headers["x-goog-resource-state"]

    @property
    def number(self) -> int:
        return int(self.headers["x-goog-message-number"])


class Receiver:
    """A webhook on 127.0.0.1: records each notification, answers `statuses` in turn, then 200."""

    def __init__(self) -> None:
        self.got: list[Got] = []
        self.statuses: list[int] = []
        self.pause = 0.0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver.lock:
                    receiver.got.append(Got(self.command, self.path, headers, body))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                time.sleep(receiver.pause)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def states(self) -> list[str]:
        with self.lock:
            return [g.state for g in self.got]


def calendar_service(google: GoogleEmulator) -> Any:
    return build(
        "calendar",
        "v3",
        static_discovery=True,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": google.url + "calendar/v3/"},
    )


def watch(
    cal: Any, address: str, channel_id: str = "ch-1", event_types: Any = None, **extra: Any
) -> Json:
    body = {"id": channel_id, "type": "web_hook", "address": address, **extra}
    query = {"eventTypes": event_types} if event_types else {}
    answer: Json = cal.events().watch(calendarId="primary", body=body, **query).execute()
    return answer


def insert(cal: Any, summary: str = "Call") -> Json:
    body = {
        "summary": summary,
        "start": {"dateTime": "2025-03-04T10:00:00Z"},
        "end": {"dateTime": "2025-03-04T11:00:00Z"},
    }
    event: Json = cal.events().insert(calendarId="primary", body=body).execute()
    return event


def error_of(err: HttpError) -> tuple[int, str]:
    return err.resp.status, str(json.loads(err.content)["error"]["errors"][0]["reason"])


@pytest.fixture
def google() -> Iterator[GoogleEmulator]:
    with GoogleEmulator() as emulator:
        emulator.clock = lambda: NOW
        emulator.push.courier.backoff = 0.02
        yield emulator


@pytest.fixture
def cal(google: GoogleEmulator) -> Any:
    return calendar_service(google)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.close()


def test_sync_on_create_then_exists_after_an_insert_and_a_delete(
    google: GoogleEmulator, cal: Any, receiver: Receiver
) -> None:
    answer = watch(cal, receiver.url, token="target=tests")
    assert answer["kind"] == "api#channel" and answer["id"] == "ch-1"
    assert answer["token"] == "target=tests"
    assert answer["expiration"] == str(int(NOW.timestamp() * 1000) + WEEK_MS)  # the default
    assert answer["resourceUri"].endswith("/calendars/primary/events?alt=json")
    assert google.wait_for_push()
    assert receiver.states() == ["sync"]

    event = insert(cal)
    cal.events().delete(calendarId="primary", eventId=event["id"]).execute()
    assert google.wait_for_push()
    assert receiver.states() == ["sync", "exists", "exists"]

    numbers = [g.number for g in receiver.got]
    assert numbers[0] == 1 and numbers == sorted(set(numbers))  # increasing
    for got in receiver.got:
        assert got.method == "POST" and got.path == "/hook" and got.body == b""
        assert got.headers["x-goog-channel-id"] == "ch-1"
        assert got.headers["x-goog-channel-token"] == "target=tests"
        assert got.headers["x-goog-resource-id"] == answer["resourceId"]
        assert got.headers["x-goog-resource-uri"] == answer["resourceUri"]
        expires = parsedate_to_datetime(got.headers["x-goog-channel-expiration"])
        assert int(expires.timestamp() * 1000) == int(answer["expiration"])
        assert got.headers["user-agent"].startswith("APIs-Google")
    assert [(a.number, a.outcome) for a in google.push_log] == [(n, "delivered") for n in numbers]


def test_no_token_header_without_a_token_and_ttl_sets_the_lifetime(
    google: GoogleEmulator, cal: Any, receiver: Receiver
) -> None:
    answer = watch(cal, receiver.url, params={"ttl": "3600"})
    assert "token" not in answer
    assert answer["expiration"] == str(int((NOW + timedelta(hours=1)).timestamp() * 1000))
    assert google.wait_for_push()
    assert "x-goog-channel-token" not in receiver.got[0].headers
    [channel] = google.channels
    assert channel.id == "ch-1" and channel.token is None and channel.address == receiver.url
    assert channel.expiration == NOW + timedelta(hours=1)
    assert channel.calendar == google.email and channel.resource_id == answer["resourceId"]


def test_every_change_path_notifies_including_the_test_helpers(
    google: GoogleEmulator, cal: Any, receiver: Receiver
) -> None:
    watch(cal, receiver.url)
    event = insert(cal)
    cal.events().patch(calendarId="primary", eventId=event["id"], body={"summary": "X"}).execute()
    put = google.put_event(
        {"summary": "Other", "start": {"date": "2025-03-05"}, "end": {"date": "2025-03-06"}}
    )
    google.patch_event(put["id"], {"summary": "Edited"})
    google.delete_event(put["id"])
    assert google.wait_for_push()
    assert receiver.states() == ["sync"] + ["exists"] * 5


def test_event_types_limit_what_a_channel_is_told(
    google: GoogleEmulator, cal: Any, receiver: Receiver
) -> None:
    watch(cal, receiver.url, event_types=["focusTime"])
    insert(cal)  # a default event
    google.put_event(
        {
            "eventType": "focusTime",
            "start": {"dateTime": "2025-03-04T14:00:00Z"},
            "end": {"dateTime": "2025-03-04T15:00:00Z"},
        }
    )
    assert google.wait_for_push()
    assert receiver.states() == ["sync", "exists"]


def test_a_watch_answers_without_waiting_for_a_slow_receiver(
    google: GoogleEmulator, cal: Any, receiver: Receiver
) -> None:
    receiver.pause = 0.6
    started = time.monotonic()
    watch(cal, receiver.url)
    insert(cal)
    assert time.monotonic() - started < 0.5
    assert google.wait_for_push()
    assert receiver.states() == ["sync", "exists"]


def test_stop_ends_delivery_and_an_unknown_channel_is_not_found(
    google: GoogleEmulator, cal: Any, receiver: Receiver
) -> None:
    answer = watch(cal, receiver.url)
    assert google.wait_for_push()
    with pytest.raises(HttpError) as wrong:
        cal.channels().stop(body={"id": "ch-1", "resourceId": "someone-else"}).execute()
    assert error_of(wrong.value) == (404, "notFound")
    cal.channels().stop(body={"id": "ch-1", "resourceId": answer["resourceId"]}).execute()
    assert google.channels == []
    insert(cal)
    assert google.wait_for_push()
    assert receiver.states() == ["sync"]
    with pytest.raises(HttpError) as again:
        cal.channels().stop(body={"id": "ch-1", "resourceId": answer["resourceId"]}).execute()
    assert error_of(again.value) == (404, "notFound")


def test_expiry_by_the_clock_ends_delivery_and_stop_no_longer_finds_it(
    google: GoogleEmulator, cal: Any, receiver: Receiver
) -> None:
    answer = watch(cal, receiver.url, params={"ttl": "60"})
    assert google.wait_for_push()
    google.clock = lambda: NOW + timedelta(seconds=60)
    insert(cal)
    assert google.wait_for_push()
    assert receiver.states() == ["sync"] and google.channels == []
    with pytest.raises(HttpError) as gone:
        cal.channels().stop(body={"id": "ch-1", "resourceId": answer["resourceId"]}).execute()
    assert error_of(gone.value) == (404, "notFound")
    watch(cal, receiver.url)  # a dead channel's id may be taken again
    assert google.wait_for_push()
    assert receiver.states() == ["sync", "sync"]


def test_expire_channel_is_checked_when_a_delayed_message_falls_due(
    google: GoogleEmulator, cal: Any, receiver: Receiver
) -> None:
    watch(cal, receiver.url)
    assert google.wait_for_push()
    google.push_faults(delay=1.0)
    insert(cal)
    google.expire_channel("ch-1")
    assert google.wait_for_push()
    assert receiver.states() == ["sync"]
    assert google.push_log[-1].outcome == "expired" and google.push_log[-1].attempt == 0
    with pytest.raises(KeyError):
        google.expire_channel("nobody")


def test_a_503_is_retried_with_backoff_and_a_404_is_not(
    google: GoogleEmulator, cal: Any, receiver: Receiver
) -> None:
    receiver.statuses = [503, 503]
    watch(cal, receiver.url)
    assert google.wait_for_push()
    assert [(a.attempt, a.outcome, a.status) for a in google.push_log] == [
        (1, "retry", 503),
        (2, "retry", 503),
        (3, "delivered", 200),
    ]
    assert [g.number for g in receiver.got] == [1, 1, 1]

    receiver.statuses = [404]
    insert(cal)
    assert google.wait_for_push()
    assert [(a.attempt, a.outcome, a.status) for a in google.push_log[3:]] == [(1, "failed", 404)]


def test_retries_give_up_after_max_tries_and_an_unreachable_address_is_retried(
    google: GoogleEmulator, cal: Any, receiver: Receiver
) -> None:
    google.push.courier.max_tries = 3
    receiver.statuses = [500] * 10
    watch(cal, receiver.url)
    assert google.wait_for_push()
    assert [a.outcome for a in google.push_log] == ["retry", "retry", "failed"]

    receiver.close()
    watch(cal, receiver.url, channel_id="ch-2")
    assert google.wait_for_push()
    unreachable = [a for a in google.push_log if a.channel_id == "ch-2"]
    assert [(a.outcome, a.status) for a in unreachable] == [
        ("retry", None),
        ("retry", None),
        ("failed", None),
    ]
    assert all(a.error for a in unreachable)


def _faulty_run(seed: int, receiver: Receiver) -> list[tuple[int, str]]:
    with GoogleEmulator(seed=seed) as google:
        google.push_faults(drop=0.3, duplicate=0.3)
        cal = calendar_service(google)
        watch(cal, receiver.url)
        for i in range(15):
            google.put_event(
                {
                    "summary": f"E{i}",
                    "start": {"date": "2025-03-05"},
                    "end": {"date": "2025-03-06"},
                }
            )
        assert google.wait_for_push()
        return [(a.number, a.outcome) for a in google.push_log]


def test_drop_and_duplicate_faults_follow_the_seed(receiver: Receiver) -> None:
    log = _faulty_run(3, receiver)
    got = Counter(g.number for g in receiver.got)
    dropped = {n for n, outcome in log if outcome == "dropped"}
    delivered = Counter(n for n, outcome in log if outcome == "delivered")
    assert dropped and not dropped & set(got)  # a dropped message is never sent
    assert 2 in delivered.values()  # some were sent twice, with one number
    assert got == delivered
    receiver.got.clear()
    assert _faulty_run(3, receiver) == log  # the same seed, the same faults


def test_a_delay_fault_holds_the_message_back(
    google: GoogleEmulator, cal: Any, receiver: Receiver
) -> None:
    google.push_faults(delay=1.0)  # with seed 0 the sync waits about 0.84 s
    watch(cal, receiver.url)
    assert not google.wait_for_push(timeout=0.3)
    assert receiver.states() == []
    assert google.wait_for_push(timeout=5)
    assert receiver.states() == ["sync"]


def test_plain_http_is_refused_unless_allowed(
    google: GoogleEmulator, cal: Any, receiver: Receiver
) -> None:
    with pytest.raises(HttpError) as remote:
        watch(cal, "http://example.com/hook")
    assert error_of(remote.value) == (400, "push.webhookUrlNotHttps")
    google.allow_http_push = False
    with pytest.raises(HttpError) as local:
        watch(cal, receiver.url)
    assert error_of(local.value) == (400, "push.webhookUrlNotHttps")
    assert b"WebHook callback must be HTTPS" in local.value.content
    assert google.channels == [] and google.push_log == []


def test_a_live_channel_id_is_refused_and_the_body_is_checked(
    google: GoogleEmulator, cal: Any, receiver: Receiver
) -> None:
    watch(cal, receiver.url)
    with pytest.raises(HttpError) as taken:
        watch(cal, receiver.url)
    assert error_of(taken.value) == (400, "channelIdNotUnique")
    watch(cal, receiver.url, channel_id="ch-2", type="webhook")  # the other spelling
    for body, reason in [
        ({"type": "web_hook", "address": receiver.url}, "required"),
        ({"id": "x", "type": "web_hook"}, "required"),
        ({"id": "x", "type": "email", "address": receiver.url}, "invalid"),
        ({"id": "x" * 65, "type": "web_hook", "address": receiver.url}, "invalid"),
    ]:
        with pytest.raises(HttpError) as bad:
            cal.events().watch(calendarId="primary", body=body).execute()
        assert error_of(bad.value) == (400, reason)
    with pytest.raises(HttpError) as elsewhere:
        cal.events().watch(
            calendarId="someone@example.com",
            body={"id": "y", "type": "web_hook", "address": receiver.url},
        ).execute()
    assert error_of(elsewhere.value) == (404, "notFound")
    assert {c.id for c in google.channels} == {"ch-1", "ch-2"}


def test_both_channels_of_a_calendar_share_its_resource_id_and_are_both_told(
    google: GoogleEmulator, cal: Any, receiver: Receiver
) -> None:
    first = watch(cal, receiver.url)
    second = watch(cal, receiver.url, channel_id="ch-2")
    assert first["resourceId"] == second["resourceId"]
    insert(cal)
    assert google.wait_for_push()
    told = Counter((g.headers["x-goog-channel-id"], g.state) for g in receiver.got)
    assert set(told) == {("ch-1", "sync"), ("ch-2", "sync"), ("ch-1", "exists"), ("ch-2", "exists")}
    assert set(told.values()) == {1}


def test_stopping_the_emulator_stops_the_delivery_thread(receiver: Receiver) -> None:
    google = GoogleEmulator().start()
    watch(calendar_service(google), receiver.url)
    assert google.wait_for_push()
    threads = [t for t in threading.enumerate() if t.name == "google-push"]
    assert threads
    google.stop()
    assert not any(t.is_alive() for t in threads)
