"""Alert content is safe and says what to do; the webhook retries and keeps its secret."""

from __future__ import annotations

import email
import email.policy
import http.server
import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import ClassVar
from zoneinfo import ZoneInfo

import pytest

from providers.errors import BadRequest, TransientError
from providers.local.maildir import LocalMailbox
from worker.alerts import OpenGap, WeekFigures, client_name, digest, gap_alert, one_line
from worker.notify import Webhook

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 12, 1, 14, tzinfo=UTC)
EVIL = "Q4 review\r\nBcc: everyone@evil.example\x00<script>alert(1)</script>"
GAP = OpenGap(
    "work",
    "m1|acme.com",
    EVIL,
    NOW - timedelta(days=1, hours=2),
    NOW - timedelta(days=1, hours=1),
    "acme.com",
)


def test_one_line_strips_every_control_character() -> None:
    assert one_line("a\r\nb\tc\x00d\u2028e") == "a b c d e"
    assert len(one_line("x" * 500)) == 120


def test_client_names() -> None:
    assert client_name("acme.com") == "Acme"
    assert client_name("www.globex.co.uk") == "Globex"
    assert client_name("sam@gmail.com") == "sam@gmail.com"


def test_gap_alert_says_what_to_do_and_cannot_inject_headers(tmp_path: Path) -> None:
    alert = gap_alert([GAP], NY, NOW)
    assert "\r" not in alert.subject and "\n" not in alert.subject
    assert alert.subject.startswith("Book the next meeting with Acme")
    assert "<script>" not in alert.html
    assert "&lt;script&gt;" in alert.html
    assert "Book the next meeting with Acme." in alert.text
    box = LocalMailbox(tmp_path / "Mail")
    box.deliver(alert)
    [path] = list((tmp_path / "Mail" / "new").iterdir())
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert msg["Bcc"] is None
    assert msg["X-Firstblock-Alert"] == alert.key
    assert {p.get_content_type() for p in msg.walk()} >= {"text/plain", "text/html"}


def test_digest_lists_open_gaps_oldest_first_closed_and_figures() -> None:
    older = OpenGap(
        "work",
        "m0|globex.com",
        "Globex demo",
        NOW - timedelta(days=5, hours=1),
        NOW - timedelta(days=5),
        "globex.com",
    )
    closed = OpenGap(
        "work", "m2|initech.com", "Initech call", NOW, NOW, "initech.com", closed_at=NOW
    )
    d = digest("work", date(2026, 12, 1), [GAP, older], [closed], WeekFigures(180, 120, 2), NY, NOW)
    assert d.text.index("Globex demo") < d.text.index("Q4 review")
    assert "5 day(s) ago" in d.text
    assert "Closed since the last digest" in d.text and "Initech call" in d.text
    assert "120 of 180 planned minutes kept" in d.text
    assert "blocks lost to meetings: 2" in d.text
    assert "<script>" not in d.html
    assert d.key == "digest:work:2026-12-01"


class Hook(http.server.BaseHTTPRequestHandler):
    answers: ClassVar[list[int]] = []
    bodies: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        self.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        code = self.answers.pop(0) if self.answers else 200
        self.send_response(code)
        if code == 429:
            self.send_header("Retry-After", "7")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[str]:
    Hook.answers, Hook.bodies = [], []
    server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/services/T000/B000/secret-token"
    server.shutdown()
    server.server_close()


def test_webhook_posts_slack_json_and_retries_with_backoff(hook: str) -> None:
    Hook.answers = [503, 429]
    waits: list[float] = []
    Webhook(hook, sleep=waits.append).send(gap_alert([GAP], NY, NOW))
    assert len(Hook.bodies) == 3
    body = json.loads(Hook.bodies[-1])
    assert body["text"].startswith("*Book the next meeting with Acme")
    assert waits[1] == 7.0  # Retry-After honoured
    assert 0 <= waits[0] <= 1.0


def test_a_failing_webhook_gives_up_without_revealing_its_url(hook: str) -> None:
    Hook.answers = [500, 500, 500]
    with pytest.raises(TransientError) as err:
        Webhook(hook, sleep=lambda _: None).send(gap_alert([GAP], NY, NOW))
    assert "secret-token" not in str(err.value)
    Hook.answers = [404]
    with pytest.raises(BadRequest):
        Webhook(hook, sleep=lambda _: None).send(gap_alert([GAP], NY, NOW))
    assert len(Hook.bodies) == 4  # a 4xx is not retried


def test_an_unreachable_webhook_is_transient() -> None:
    with pytest.raises(TransientError):
        Webhook("http://127.0.0.1:9/hook", attempts=1, timeout=2).send(gap_alert([GAP], NY, NOW))


def test_one_alert_names_every_client_of_the_meeting() -> None:
    other = OpenGap("work", "m1|globex.com", GAP.title, GAP.start, GAP.end, "globex.com")
    alert = gap_alert([GAP, other], NY, NOW)
    assert "Book the next meeting with Acme." in alert.text
    assert "Book the next meeting with Globex." in alert.text
    assert alert.subject.startswith("Book the next meeting with Acme, Globex")


def test_the_alert_and_the_digest_carry_the_proposed_slots_as_text() -> None:
    said = "Proposed: Thu 03 Dec 10:00 (15:00 London), Fri 04 Dec 10:00 (15:00 London)"
    alert = gap_alert([GAP], NY, NOW, said, "A draft to acme.com is in your Drafts.")
    assert f"{said}.\nA draft to acme.com is in your Drafts.\n" in alert.text
    assert f"<p>{said}.</p>" in alert.html
    note = digest("work", date(2026, 12, 1), [GAP], [], WeekFigures(), NY, NOW, {"m1": said})
    assert f"book the next meeting with Acme\n    {said}\n" in note.text
    assert f"<br>{said}</li>" in note.html
    bare = digest("work", date(2026, 12, 1), [GAP], [], WeekFigures(), NY, NOW)
    assert "Proposed" not in bare.text
