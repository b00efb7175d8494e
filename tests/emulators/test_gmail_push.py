"""Gmail push notifications through Cloud Pub/Sub from the Google emulator, received over real
HTTP on loopback and authenticated with google-auth."""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials
from google.auth.exceptions import GoogleAuthError
from google.auth.transport.requests import Request as AuthRequest
from google.oauth2 import id_token
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from tests.emulators.google import GoogleEmulator

Json = dict[str, Any]
NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
TOPIC = "projects/firstblock-test/topics/gmail"
SENDER = "client@example.org"


@dataclass
class Got:
    headers: dict[str, str]  # lower-case names
    body: Json

    @property
    def token(self) -> str:
        scheme, _, token = self.headers["authorization"].partition(" ")
        assert scheme == "Bearer"
        return token

    @property
    def data(self) -> Json:
        decoded: Json = json.loads(base64.b64decode(self.body["message"]["data"], validate=True))
        return decoded

    @property
    def message_id(self) -> str:
        return str(self.body["message"]["messageId"])


class Receiver:
    """A push endpoint on 127.0.0.1: records each push, answers `statuses` in turn, then 200."""

    def __init__(self, path: str = "/pubsub") -> None:
        self.got: list[Got] = []
        self.statuses: list[int] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver.lock:
                    receiver.got.append(Got(headers, json.loads(body)))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def history_ids(self) -> list[int]:
        with self.lock:
            return [int(g.data["historyId"]) for g in self.got]


def gmail_service(google: GoogleEmulator) -> Any:
    return build(
        "gmail",
        "v1",
        static_discovery=True,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": google.url},
    )


def watch(gmail: Any, topic: str = TOPIC, **extra: Any) -> Json:
    answer: Json = gmail.users().watch(userId="me", body={"topicName": topic, **extra}).execute()
    return answer


def arrive(google: GoogleEmulator, labels: tuple[str, ...] = ("INBOX", "UNREAD")) -> str:
    return google.arrive(sender=SENDER, received=NOW, labels=labels)


def error_of(err: HttpError) -> tuple[int, str, str]:
    error = json.loads(err.content)["error"]
    return err.resp.status, str(error["errors"][0]["reason"]), str(error["message"])


def verify(google: GoogleEmulator, token: str, audience: str) -> Json:
    claims: Json = dict(
        id_token.verify_token(token, AuthRequest(), audience=audience, certs_url=google.certs_url)
    )
    return claims


@pytest.fixture
def google() -> Iterator[GoogleEmulator]:
    with GoogleEmulator() as emulator:
        emulator.clock = lambda: NOW
        emulator.pubsub.courier.backoff = 0.02
        yield emulator


@pytest.fixture
def gmail(google: GoogleEmulator) -> Any:
    return gmail_service(google)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.close()


@pytest.fixture
def topic(google: GoogleEmulator, receiver: Receiver) -> str:
    google.pubsub_topic(TOPIC, receiver.url)
    return TOPIC


def test_watch_answers_the_history_id_and_an_expiry_a_week_ahead(
    google: GoogleEmulator, gmail: Any, topic: str
) -> None:
    arrive(google)
    answer = watch(gmail, topic, labelIds=["INBOX"])
    profile = gmail.users().getProfile(userId="me").execute()
    assert answer == {
        "historyId": profile["historyId"],
        "expiration": str(int((NOW + timedelta(days=7)).timestamp() * 1000)),
    }
    watch_ = google.gmail_watch
    assert watch_ is not None and watch_.topic == topic and watch_.label_ids == ("INBOX",)


def test_new_mail_is_pushed_as_a_pubsub_message(
    google: GoogleEmulator, gmail: Any, topic: str, receiver: Receiver
) -> None:
    watch(gmail, topic)
    arrive(google)
    assert google.wait_for_push()
    [got] = receiver.got
    profile = gmail.users().getProfile(userId="me").execute()
    assert got.data == {"emailAddress": google.email, "historyId": int(profile["historyId"])}
    message = got.body["message"]
    assert message["messageId"] == message["message_id"] and message["messageId"].isdigit()
    assert message["publishTime"] == message["publish_time"] == "2025-03-03T09:00:00.000Z"
    assert message["attributes"] == {}
    assert got.body["subscription"] == "projects/firstblock-test/subscriptions/gmail-push"
    assert got.headers["content-type"] == "application/json"
    assert [(a.outcome, a.status) for a in google.pubsub_log] == [("delivered", 200)]
    # A message added through the API goes through the same history record, so it is pushed.
    raw = base64.urlsafe_b64encode(b"From: a@example.org\r\nSubject: x\r\n\r\nbody").decode()
    gmail.users().messages().insert(userId="me", body={"raw": raw, "labelIds": ["INBOX"]}).execute()
    assert google.wait_for_push()
    assert len(receiver.got) == 2
    assert receiver.got[1].data["historyId"] > got.data["historyId"]
    assert receiver.got[1].message_id != got.message_id


def test_the_push_token_verifies_with_google_auth_for_its_audience_only(
    google: GoogleEmulator, gmail: Any, topic: str, receiver: Receiver
) -> None:
    watch(gmail, topic)
    arrive(google)
    assert google.wait_for_push()
    token = receiver.got[0].token
    claims = verify(google, token, receiver.url)  # the audience defaults to the endpoint
    assert claims["iss"] == "https://accounts.google.com"
    assert claims["aud"] == receiver.url
    assert claims["email"] == "pubsub-push@emulator-project.iam.gserviceaccount.com"
    assert claims["email_verified"] is True
    assert claims["sub"] == claims["azp"] and claims["sub"].isdigit()
    assert claims["exp"] - claims["iat"] == 3600
    with pytest.raises(GoogleAuthError, match="audience"):
        verify(google, token, "https://elsewhere.example.com/push")


def test_a_configured_audience_and_service_account_are_signed_in(
    google: GoogleEmulator, gmail: Any, receiver: Receiver
) -> None:
    google.pubsub_topic(
        TOPIC,
        receiver.url,
        audience="https://app.example.com/gmail",
        service_account_email="pusher@firstblock-test.iam.gserviceaccount.com",
    )
    watch(gmail)
    arrive(google)
    assert google.wait_for_push()
    claims = verify(google, receiver.got[0].token, "https://app.example.com/gmail")
    assert claims["email"] == "pusher@firstblock-test.iam.gserviceaccount.com"


def test_forged_and_expired_tokens_do_not_verify(google: GoogleEmulator) -> None:
    audience = "https://app.example.com/gmail"
    assert verify(google, google.pubsub_token(audience), audience)["aud"] == audience
    forged = google.pubsub_token(audience, key="other")
    with pytest.raises(GoogleAuthError, match="signature"):
        verify(google, forged, audience)
    expired = google.pubsub_token(audience, expired=True)
    with pytest.raises(GoogleAuthError, match="expired"):
        verify(google, expired, audience)


def test_stop_ends_the_notifications(
    google: GoogleEmulator, gmail: Any, topic: str, receiver: Receiver
) -> None:
    watch(gmail, topic)
    arrive(google)
    assert google.wait_for_push()
    assert gmail.users().stop(userId="me").execute() in ("", None)
    assert google.gmail_watch is None
    arrive(google)
    assert google.wait_for_push()
    assert len(receiver.got) == 1 and len(google.pubsub_log) == 1


def test_an_expired_watch_is_silent(
    google: GoogleEmulator, gmail: Any, topic: str, receiver: Receiver
) -> None:
    watch(gmail, topic)
    google.clock = lambda: NOW + timedelta(days=7)
    arrive(google)
    assert google.wait_for_push()
    assert receiver.got == [] and google.gmail_watch is None


def test_a_second_watch_replaces_the_first(
    google: GoogleEmulator, gmail: Any, topic: str, receiver: Receiver
) -> None:
    other = Receiver("/other")
    try:
        google.pubsub_topic("projects/firstblock-test/topics/other", other.url)
        watch(gmail, topic)
        watch(gmail, "projects/firstblock-test/topics/other")
        arrive(google)
        assert google.wait_for_push()
        assert receiver.got == [] and len(other.got) == 1
    finally:
        other.close()


def test_a_topic_that_is_not_there_or_not_granted_is_refused(
    google: GoogleEmulator, gmail: Any, receiver: Receiver
) -> None:
    with pytest.raises(HttpError) as missing:
        watch(gmail, "projects/firstblock-test/topics/nope")
    assert error_of(missing.value) == (
        404,
        "notFound",
        "Error sending test message to Cloud PubSub projects/firstblock-test/topics/nope : "
        "Resource not found (resource=nope).",
    )
    with pytest.raises(HttpError) as malformed:
        watch(gmail, "gmail-topic")
    assert error_of(malformed.value)[:2] == (400, "invalidArgument")
    assert "Invalid topicName does not match projects/" in error_of(malformed.value)[2]
    with pytest.raises(HttpError) as absent:
        gmail.users().watch(userId="me", body={}).execute()
    assert error_of(absent.value) == (400, "invalidArgument", "topicName required")
    google.pubsub_topic(TOPIC, receiver.url, publisher_granted=False)
    with pytest.raises(HttpError) as denied:
        watch(gmail)
    assert error_of(denied.value)[:2] == (403, "forbidden")
    google.pubsub.project = "another-project"
    google.pubsub_topic(TOPIC, receiver.url)
    with pytest.raises(HttpError) as elsewhere:
        watch(gmail)
    assert error_of(elsewhere.value)[2] == (
        "Invalid topicName does not match projects/another-project/topics/*"
    )
    assert google.gmail_watch is None
    arrive(google)
    assert google.wait_for_push() and receiver.got == []


def test_label_filters_include_and_exclude(
    google: GoogleEmulator, gmail: Any, topic: str, receiver: Receiver
) -> None:
    watch(gmail, topic, labelIds=["INBOX"], labelFilterBehavior="include")
    arrive(google, ("CATEGORY_PROMOTIONS",))
    inbox = arrive(google)
    assert google.wait_for_push()
    assert receiver.history_ids() == [int(google.message(inbox)["historyId"])]
    receiver.got.clear()
    # The deprecated field is honoured when labelFilterBehavior is absent.
    watch(gmail, topic, labelIds=["SPAM"], labelFilterAction="exclude")
    arrive(google, ("SPAM",))
    other = arrive(google, ("CATEGORY_PROMOTIONS",))
    assert google.wait_for_push()
    assert receiver.history_ids() == [int(google.message(other)["historyId"])]
    receiver.got.clear()
    # Archiving an inbox message is a change about INBOX.
    watch(gmail, topic, labelIds=["INBOX"])
    google.relabel(inbox, add=[], remove=["INBOX"])
    assert google.wait_for_push()
    assert receiver.history_ids() == [int(google.message(inbox)["historyId"])]


def test_unacknowledged_pushes_are_retried_with_the_same_message(
    google: GoogleEmulator, gmail: Any, topic: str, receiver: Receiver
) -> None:
    receiver.statuses = [503, 400]  # Pub/Sub resends on any code but a success
    watch(gmail, topic)
    arrive(google)
    assert google.wait_for_push()
    assert [(a.attempt, a.outcome, a.status) for a in google.pubsub_log] == [
        (1, "retry", 503),
        (2, "retry", 400),
        (3, "delivered", 200),
    ]
    assert len({g.message_id for g in receiver.got}) == 1 and len(receiver.got) == 3
    tokens = {g.token for g in receiver.got}
    assert all(verify(google, t, receiver.url) for t in tokens)


def test_an_unreachable_endpoint_gives_up_after_max_tries(
    google: GoogleEmulator, gmail: Any, receiver: Receiver
) -> None:
    google.pubsub.courier.max_tries = 3
    google.pubsub.courier.timeout = 0.5
    receiver.close()
    google.pubsub_topic(TOPIC, receiver.url)
    watch(gmail)
    arrive(google)
    assert google.wait_for_push()
    assert [(a.outcome, a.status) for a in google.pubsub_log] == [
        ("retry", None),
        ("retry", None),
        ("failed", None),
    ]
    assert all(a.error for a in google.pubsub_log)


def _faulty_run(seed: int, receiver: Receiver) -> list[tuple[str, str]]:
    with GoogleEmulator(seed=seed) as google:
        google.pubsub_faults(drop=0.3, duplicate=0.3)
        google.pubsub_topic(TOPIC, receiver.url)
        watch(gmail_service(google))
        for _ in range(15):
            arrive(google)
        assert google.wait_for_push()
        return [(a.message_id, a.outcome) for a in google.pubsub_log]


def test_drop_and_duplicate_faults_follow_the_seed(receiver: Receiver) -> None:
    log = _faulty_run(5, receiver)
    got = Counter(g.message_id for g in receiver.got)
    dropped = {m for m, outcome in log if outcome == "dropped"}
    delivered = Counter(m for m, outcome in log if outcome == "delivered")
    assert dropped and not dropped & set(got)  # a dropped message is never pushed
    assert 2 in delivered.values()  # some were pushed twice, with one messageId
    assert got == delivered
    receiver.got.clear()
    assert _faulty_run(5, receiver) == log  # the same seed, the same faults


def test_a_delay_fault_holds_the_push_back(
    google: GoogleEmulator, gmail: Any, topic: str, receiver: Receiver
) -> None:
    google.pubsub_faults(delay=1.0)  # with seed 0 the first push waits about 0.84 s
    watch(gmail, topic)
    arrive(google)
    assert not google.wait_for_push(timeout=0.3)
    assert receiver.got == []
    assert google.wait_for_push(timeout=5)
    assert len(receiver.got) == 1
    with pytest.raises(ValueError, match="probability"):
        google.pubsub_faults(drop=2.0)


def test_the_calendar_and_pubsub_threads_stop_with_the_emulator(receiver: Receiver) -> None:
    google = GoogleEmulator().start()
    google.pubsub_topic(TOPIC, receiver.url)
    watch(gmail_service(google))
    arrive(google)
    assert google.wait_for_push()
    threads = [t for t in threading.enumerate() if t.name == "google-pubsub"]
    assert threads
    google.stop()
    assert not any(t.is_alive() for t in threads)
