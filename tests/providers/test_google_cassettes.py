"""The exact Google requests of the worker's runs, pinned in vcrpy cassettes.

Five scenarios, one cassette each in tests/cassettes/google/: the first run, a
steady-state run, a run after a client meeting moved, the start of the inbox hold and
its release. Each drives the real worker (`run_account`, `run_hold`) and the real
Google provider against the loopback emulator; what a scenario only needs as setup
(the first run before the steady-state one, ...) runs outside the cassette, so a
cassette holds exactly the requests of the step it pins. A change in the number or the
shape of the calls changes a cassette, and shows in review.

Replay (the default) answers every request from the cassette and fails when the code
makes a request the cassette lacks, makes them in another order, or leaves one
unplayed; nothing reaches the emulator meanwhile. Record them again with

    FIRSTBLOCK_RECORD_CASSETTES=1 pytest tests/providers/test_google_cassettes.py

Cassettes are port-independent and deterministic (the emulator's clock is fixed; batch
boundaries and Content-IDs are normalised), so a re-record changes them only when the
calls change. Credentials never reach them: Authorization headers and token fields are
filtered out, and a test checks the files.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import parse_qsl, urlencode, urlsplit
from zoneinfo import ZoneInfo

import pytest
import vcr
import yaml

from providers.errors import BadRequest
from providers.google import pool
from tests.emulators.google import GoogleEmulator
from tests.providers.google_fixtures import ME, Sleeps, calendar, mailbox, timed
from worker.config import Config, Hold, Planning, default_config
from worker.cycle import AccountRun, Outcome, owned_now, rules_for, run_account
from worker.gapcheck import GapOutcome, channels, run_gaps
from worker.hold import Phase
from worker.inbox import HoldOutcome, run_hold
from worker.models import Block, BlockKind, Op
from worker.state import State

CASSETTES = Path(__file__).resolve().parents[1] / "cassettes" / "google"
RECORDING = os.environ.get("FIRSTBLOCK_RECORD_CASSETTES") == "1"

NY = ZoneInfo("America/New_York")
MON = date(2026, 11, 30)


def at(hour: int, minute: int = 0, day: date = MON) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=NY)


# Small on purpose: today and tomorrow; prospecting, meeting prep and admin.
_BASE = default_config()
CONFIG = dataclasses.replace(
    _BASE,
    blocks=tuple(p for p in _BASE.blocks if p.kind is not BlockKind.DEALS),
    planning=Planning(horizon_workdays=1),
    hold=Hold(True, ("boss@example.org",), 2),
)
ACCOUNT = dataclasses.replace(_BASE.accounts[0], name="rep", provider="google", email=ME)
HOLDING = dataclasses.replace(
    CONFIG, followups=dataclasses.replace(CONFIG.followups, tentative_hold=True)
)


# -- normal forms: what a cassette stores, and what a request is matched on

HOST = "http://emulator"  # the emulator's port changes per run; cassettes don't
BOUNDARY = "BOUNDARY"  # googleapiclient and the emulator pick random batch boundaries
REQUEST_HEADERS = ("content-type", "if-match")  # the rest is transport, versions or secrets
RESPONSE_HEADERS = ("content-type", "retry-after")
PART_HEADERS = ("content-type", "if-match", "retry-after")
TOKEN_FIELDS = ("access_token", "refresh_token", "id_token", "client_secret", "assertion")
FILTERED = "FILTERED"


def _text(body: Any) -> str:
    if body is None:
        return ""
    return body.decode("utf-8") if isinstance(body, bytes) else str(body)


def _boundary(content_type: str) -> str:
    found = re.search(r'boundary="?([^";]+)"?', content_type)
    return found.group(1) if found else ""


def parse_batch(text: str, boundary: str) -> list[dict[str, Any]]:
    """The parts of a batch request or response, as plain data."""
    parts = []
    for chunk in text.split(f"--{boundary}")[1:]:
        if chunk.startswith("--"):
            break  # the closing delimiter
        outer, _, inner = re.split(r"(\r?\n\r?\n)", chunk.lstrip("\r\n"), maxsplit=1)
        head, _, body = (*re.split(r"(\r?\n\r?\n)", inner, maxsplit=1), "", "")[:3]
        content_id = re.search(r"(?im)^content-id:\s*<[^>]*\+\s*([^>\s]+)\s*>", outer)
        lines = head.splitlines()
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() in PART_HEADERS:
                headers[name.strip().lower()] = value.strip()
        part: dict[str, Any] = {
            "id": content_id.group(1) if content_id else "",
            "http": lines[0].strip(),
            "headers": headers,
        }
        body = re.sub(r"\r?\n$", "", body)
        try:
            part["json"] = _scrub(json.loads(body))
        except ValueError:
            if body:
                part["body"] = body
        parts.append(part)
    return parts


def render_batch(parts: list[dict[str, Any]]) -> str:
    """A batch body in one normal form: fixed boundary and Content-IDs, CRLF lines."""
    out = []
    for part in parts:
        response = part["http"].startswith("HTTP/")
        body = json.dumps(part["json"]) if "json" in part else part.get("body", "")
        head = [part["http"], *(f"{k}: {v}" for k, v in part["headers"].items())]
        if response:  # googleapiclient needs a header line after the status line
            head.append(f"content-length: {len(body.encode())}")
        content_id = f"<{'response-' if response else ''}batch + {part['id']}>"
        out.append(
            f"--{BOUNDARY}\r\nContent-Type: application/http\r\nContent-ID: {content_id}\r\n\r\n"
            + "\r\n".join(head)
            + "\r\n\r\n"
            + body
            + "\r\n"
        )
    out.append(f"--{BOUNDARY}--\r\n")
    return "".join(out)


def _normal_body(text: str, content_type: str) -> str:
    if content_type.startswith("multipart/"):
        return render_batch(parse_batch(text, _boundary(content_type)))
    try:
        return json.dumps(_scrub(json.loads(text)))
    except ValueError:
        return text


def _scrub(obj: Any) -> Any:
    """JSON with the values of token fields replaced, at any depth."""
    if isinstance(obj, dict):
        return {k: FILTERED if k in TOKEN_FIELDS else _scrub(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_scrub(v) for v in obj]
    return obj


def normal_request(request: Any) -> Any:
    """Port-free, boundary-free, transport-header-free (vcr passes a copy)."""
    url = urlsplit(request.uri)
    request.uri = HOST + url.path + (f"?{url.query}" if url.query else "")
    headers = {k.lower(): str(v) for k, v in request.headers.items()}
    content_type = headers.get("content-type", "")
    if request.body:
        request.body = _normal_body(_text(request.body), content_type)
    if content_type.startswith("multipart/"):
        headers["content-type"] = f"multipart/mixed; boundary={BOUNDARY}"
    request.headers = {k: v for k, v in headers.items() if k in REQUEST_HEADERS}
    return request


def normal_response(response: dict[str, Any]) -> dict[str, Any]:
    headers = {k.lower(): v[0] for k, v in response["headers"].items()}
    content_type = headers.get("content-type", "")
    text = _text(response["body"]["string"])
    if text:
        response["body"]["string"] = _normal_body(text, content_type).encode()
    if content_type.startswith("multipart/"):
        headers["content-type"] = f"multipart/mixed; boundary={BOUNDARY}"
    response["headers"] = {k: [v] for k, v in headers.items() if k in RESPONSE_HEADERS}
    return response


def payload_of(request: Any) -> tuple[Any, ...]:
    """What a request is matched on besides method, path and query: its precondition
    (If-Match) and its body as data (JSON parsed; a batch as its parts, each parsed)."""
    text = _text(request.body)
    if request.headers.get("content-type", "").startswith("multipart/"):
        body: Any = parse_batch(text, BOUNDARY)
    else:
        try:
            body = json.loads(text) if text else None
        except ValueError:
            body = text
    return request.headers.get("if-match"), body


def same_payload(r1: Any, r2: Any) -> None:
    assert payload_of(r1) == payload_of(r2)


# -- a YAML layout a reviewer can read: JSON bodies and batch parts as data


def _data_body(text: str | None) -> Any:
    if not text:
        return text
    try:
        obj = json.loads(text)
    except ValueError:
        obj = None
    if obj is not None and json.dumps(obj) == text:
        return {"json": obj}
    if text.startswith(f"--{BOUNDARY}\r\n"):
        parts = parse_batch(text, BOUNDARY)
        if render_batch(parts) == text:
            return {"batch": parts}
    return text


def _text_body(data: Any) -> str | None:
    if isinstance(data, dict) and "json" in data:
        return json.dumps(data["json"])
    if isinstance(data, dict) and "batch" in data:
        return render_batch(data["batch"])
    return data  # type: ignore[no-any-return]


def _data_uri(uri: str) -> dict[str, Any]:
    base, _, query = uri.partition("?")
    pairs = parse_qsl(query, keep_blank_values=True)
    if not query or urlencode(pairs) != query or len({k for k, _ in pairs}) != len(pairs):
        return {"uri": uri}
    return {"uri": base, "query": dict(pairs)}


def _text_uri(data: dict[str, Any]) -> str:
    query = data.get("query")
    return str(data["uri"]) + (f"?{urlencode(query)}" if query else "")


def _readable(interaction: dict[str, Any]) -> dict[str, Any]:
    request, response = interaction["request"], interaction["response"]
    return {
        "request": {
            "method": request["method"],
            **_data_uri(request["uri"]),
            "headers": {k: v[0] for k, v in request["headers"].items()},
            "body": _data_body(request["body"]),
        },
        "response": {
            "status": response["status"],
            "headers": {k: v[0] for k, v in response["headers"].items()},
            "body": _data_body(response["body"]["string"]),
        },
    }


def _plain(interaction: dict[str, Any]) -> dict[str, Any]:
    request, response = interaction["request"], interaction["response"]
    return {
        "request": {
            "method": request["method"],
            "uri": _text_uri(request),
            "body": _text_body(request["body"]),
            "headers": {k: [v] for k, v in request["headers"].items()},
        },
        "response": {
            "status": response["status"],
            "headers": {k: [v] for k, v in response["headers"].items()},
            "body": {"string": _text_body(response["body"])},
        },
    }


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(
    str,
    lambda dumper, text: dumper.represent_scalar(
        "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None
    ),
)


class ReadableYaml:
    """vcrpy's serializer interface; every interaction round-trips exactly, or it fails."""

    @staticmethod
    def serialize(data: dict[str, Any]) -> str:
        readable = [_readable(i) for i in data["interactions"]]
        for original, shown in zip(data["interactions"], readable, strict=True):
            assert _plain(shown) == original, f"layout would change {original['request']['uri']}"
        out = {"version": data["version"], "interactions": readable}
        return yaml.dump(out, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=10**6)

    @staticmethod
    def deserialize(text: str) -> dict[str, Any]:
        data = yaml.safe_load(text)
        data["interactions"] = [_plain(i) for i in data["interactions"]]
        return data  # type: ignore[no-any-return]


VCR = vcr.VCR(
    serializer="readable",
    match_on=("method", "path", "query", "payload"),
    filter_headers=["authorization"],
    filter_post_data_parameters=[(name, FILTERED) for name in TOKEN_FIELDS],
    filter_nested_post_data_parameters=True,
    before_record_request=normal_request,
    before_record_response=normal_response,
)
VCR.register_serializer("readable", ReadableYaml)
VCR.register_matcher("payload", same_payload)


# -- pinning one step


@dataclass
class Tape:
    """One cassette in use, and what happened to it."""

    cassette: Any
    played: list[int] = field(default_factory=list)  # interaction indexes, in playing order
    misses: list[str] = field(default_factory=list)  # requests the cassette could not answer

    def watch(self) -> None:
        cassette = self.cassette
        play, can_play = cassette.play_response, cassette.can_play_response_for

        def play_response(request: Any) -> Any:
            response = play(request)
            self.played.append(next(i for i, (_, r) in enumerate(cassette.data) if r is response))
            return response

        def can_play_response_for(request: Any) -> bool:
            known = bool(can_play(request))
            if not known and not RECORDING:
                normal = cassette.filter_request(request)
                self.misses.append(f"{normal.method} {normal.uri} {_text(normal.body)[:300]}")
            return known

        cassette.play_response = play_response
        cassette.can_play_response_for = can_play_response_for

    @property
    def requests(self) -> list[Any]:
        return list(self.cassette.requests)

    def lines(self) -> list[str]:
        """One line per request: method, path, the parameters that matter, batch parts."""
        return [summary(r) for r in self.requests]


KEY_PARAMS = ("timeMin", "timeMax", "syncToken", "startHistoryId", "labelIds", "q", "format")
IDS = re.compile(r"/(events|messages|threads|filters)/(?!batchModify\b)[^/?\s]+")


def summary(request: Any) -> str:
    """One line: method, path (ids as {id}), the parameters that matter, batch parts."""
    params = dict(parse_qsl(urlsplit(request.uri).query))
    shown = [f"{k}={'…' if k == 'syncToken' else params[k]}" for k in KEY_PARAMS if k in params]
    line = " ".join([request.method, IDS.sub(r"/\1/{id}", request.path), *shown])
    if request.headers.get("content-type", "").startswith("multipart/"):
        parts = [
            IDS.sub(r"/\1/{id}", p["http"].split("?")[0].rsplit(" HTTP/", 1)[0])
            for p in parse_batch(_text(request.body), BOUNDARY)
        ]
        line += " [" + ", ".join(f"{parts.count(p)} x {p}" for p in dict.fromkeys(parts)) + "]"
    return line


@contextlib.contextmanager
def pin(name: str, emulator: GoogleEmulator) -> Iterator[Tape]:
    """Run the block against cassette `name`: replay it, or record it again."""
    path = CASSETTES / f"{name}.yaml"
    if RECORDING:
        path.unlink(missing_ok=True)
    elif not path.exists():
        pytest.fail(f"{path} is missing: record it with FIRSTBLOCK_RECORD_CASSETTES=1")
    seen = len(emulator.requests)
    mode = "all" if RECORDING else "none"
    # Connections opened before the cassette would bypass it: fresh ones, kept apart.
    with (
        mock.patch.object(pool, "LENDER", pool.Lender()),
        VCR.use_cassette(str(path), record_mode=mode) as cassette,
    ):
        tape = Tape(cassette)
        tape.watch()
        try:
            yield tape
        except Exception as exc:
            if tape.misses:
                raise AssertionError("not in the cassette: " + "; ".join(tape.misses)) from exc
            raise
    reached = [r for r in emulator.requests[seen:] if not r.batch_part]
    if RECORDING:
        assert len(reached) == len(cassette), "a request went around the cassette"
        return
    assert tape.misses == [], "not in the cassette: " + "; ".join(tape.misses)
    assert reached == [], "a replayed cassette let requests through to the emulator"
    unplayed = [summary(r) for i, r in enumerate(cassette.requests) if i not in tape.played]
    assert unplayed == [], "in the cassette but never made"
    assert cassette.all_played and cassette.play_count == len(cassette)
    assert tape.played == list(range(len(cassette))), "requests made in another order"


# -- the account


@dataclass
class Account:
    """One Google account, run step by step the way `firstblock run` runs it."""

    emu: GoogleEmulator
    folder: Path
    state: State
    sleeps: Sleeps = field(default_factory=Sleeps)
    config: Config = CONFIG

    def blocks(self, now: datetime) -> Outcome:
        """One calendar step, on a fresh session (a new process, memory from disk)."""
        cal = calendar(self.emu, self.folder / "memo.json", self.sleeps)
        run = AccountRun.start(self.config, ACCOUNT, cal, self.state, now)
        return run_account(run, cal, apply=True)

    def hold(self, outcome: Outcome, now: datetime) -> HoldOutcome:
        box = mailbox(self.emu, self.folder / "memo.json", self.sleeps)
        rules = rules_for(CONFIG, ACCOUNT, ZoneInfo(outcome.timezone))
        return run_hold(
            AccountRun(CONFIG, ACCOUNT, self.state, now, rules), box, outcome, apply=True
        )

    def gaps(self, outcome: Outcome, now: datetime) -> GapOutcome:
        """The follow-up step: alerts (with their drafts) into the mailbox."""
        box = mailbox(self.emu, self.folder / "memo.json", self.sleeps)
        rules = rules_for(CONFIG, ACCOUNT, ZoneInfo(outcome.timezone))
        run = AccountRun(CONFIG, ACCOUNT, self.state, now, rules)
        return run_gaps(run, outcome, channels(CONFIG, box, None), apply=True)


@pytest.fixture
def account(tmp_path: Path) -> Iterator[Account]:
    emu = GoogleEmulator(email=ME).start()
    emu.clock = lambda: at(6)  # fixed `created`, `updated` and etags
    me = {"email": ME, "self": True, "responseStatus": "accepted"}
    emu.put_event(
        {
            "id": "acmedemo1",
            "summary": "Acme demo",
            "start": timed(at(14)),
            "end": timed(at(15)),
            "attendees": [me, {"email": "jane@acme.com", "responseStatus": "accepted"}],
        }
    )
    emu.put_event(
        {
            "id": "standup01",
            "summary": "Stand-up",
            "start": timed(at(9, 30)),
            "end": timed(at(9, 45)),
        }
    )
    emu.put_event(
        {
            "id": "oneonone1",
            "summary": "1:1 with Sam",
            "start": timed(at(11, day=MON + timedelta(1))),
            "end": timed(at(11, 30, day=MON + timedelta(1))),
            "attendees": [me, {"email": "sam@example.com", "responseStatus": "accepted"}],
        }
    )
    # Since Friday's end of the workday: one allowed sender, two others (one of them a
    # thread of two messages).
    emu.arrive(sender="news@letters.com", received=at(10, day=MON - timedelta(2)))
    first = emu.arrive(sender="sales@vendor.io", received=at(18, day=MON - timedelta(1)))
    thread = emu.message(first)["threadId"]
    emu.arrive(sender="sales@vendor.io", received=at(8, 10), thread_id=thread)
    emu.arrive(sender="boss@example.org", received=at(7, 45))
    state = State(tmp_path / "state.sqlite3")
    try:
        yield Account(emu, tmp_path, state)
    finally:
        state.close()
        emu.stop()


# -- the scenarios


def test_first_run(account: Account) -> None:
    with pin("first_run", account.emu) as tape:
        outcome = account.blocks(at(7))
    assert tape.lines() == [
        "GET /calendar/v3/users/me/settings/timezone",
        "GET /calendar/v3/calendars/primary/events"
        " timeMin=2026-11-14T00:00:00-05:00 timeMax=2027-01-08T00:00:00-05:00",
        "POST /batch/calendar/v3 [9 x POST /calendar/v3/calendars/primary/events]",
    ]
    assert [c.op for c in outcome.changes] == [Op.CREATE] * 9  # all in the one batch


def test_steady_state_run(account: Account) -> None:
    account.blocks(at(7))
    # The run after a write run reads its own writes back (its sync token predates
    # them); the steady state is the run after that.
    account.blocks(at(7, 15))
    with pin("steady_state", account.emu) as tape:
        outcome = account.blocks(at(7, 30))
    assert tape.lines() == ["GET /calendar/v3/calendars/primary/events syncToken=…"]
    assert "timeMin=" not in tape.requests[0].uri  # incremental, not the window again
    assert outcome.changes == ()  # no writes


def test_run_after_a_meeting_moved(account: Account) -> None:
    account.blocks(at(7))
    account.blocks(at(7, 15))
    account.emu.patch_event("acmedemo1", {"start": timed(at(15, 30)), "end": timed(at(16, 30))})
    with pin("moved_meeting", account.emu) as tape:
        outcome = account.blocks(at(7, 30))
    assert tape.lines() == [
        "GET /calendar/v3/calendars/primary/events syncToken=…",
        # the meeting's prep and follow-up blocks follow it, in one batch
        "POST /batch/calendar/v3 [2 x PATCH /calendar/v3/calendars/primary/events/{id}]",
    ]
    moved = sorted(outcome.changes, key=lambda c: c.block.key)
    assert [(c.op, c.block.key) for c in moved] == [
        (Op.UPDATE, "followup/acmedemo1"),
        (Op.UPDATE, "meeting/acmedemo1"),
    ]
    sent = _text(tape.requests[1].body).lower()
    for c in moved:  # conditional
        assert c.before is not None and f"if-match: {c.before.etag}".lower() in sent


def test_hold_start(account: Account) -> None:
    account.blocks(at(7))
    outcome = account.blocks(at(9))
    with pin("hold_start", account.emu) as tape:
        held = account.hold(outcome, at(9))
    assert tape.lines() == [
        "GET /gmail/v1/users/me/profile",
        "GET /gmail/v1/users/me/messages labelIds=INBOX q=after:1795818599",  # Fri 17:30
        "GET /gmail/v1/users/me/labels",
        "POST /gmail/v1/users/me/labels",  # Firstblock/Alerts
        "POST /batch/gmail/v1 [4 x GET /gmail/v1/users/me/messages/{id}]",
        "POST /gmail/v1/users/me/labels",  # Firstblock/Held: the one look found neither
        "GET /gmail/v1/users/me/messages labelIds=Label_2",
        "GET /gmail/v1/users/me/settings/filters",
        "POST /gmail/v1/users/me/settings/filters",
        "POST /batch/gmail/v1 [2 x GET /gmail/v1/users/me/threads/{id}]",
        "POST /gmail/v1/users/me/messages/batchModify",
    ]
    assert (held.phase, held.moved_out) == (Phase.HOLDING, 3)  # news, and the vendor's thread
    [move] = [r for r in tape.requests if r.path.endswith("/batchModify")]
    assert len(json.loads(move.body)["ids"]) == 3  # in one call


def test_release(account: Account) -> None:
    account.blocks(at(7))
    account.hold(account.blocks(at(9)), at(9))
    outcome = account.blocks(at(16, 45))  # the admin block starts
    with pin("release", account.emu) as tape:
        released = account.hold(outcome, at(16, 45))
    assert tape.lines() == [
        "DELETE /gmail/v1/users/me/settings/filters/{id}",
        "GET /gmail/v1/users/me/history startHistoryId=1004",  # only the hold's own moves
        "POST /gmail/v1/users/me/messages/batchModify",
    ]
    assert (released.phase, released.returned) == (Phase.RELEASED, 3)
    [back] = [json.loads(r.body) for r in tape.requests if r.path.endswith("/batchModify")]
    assert (len(back["ids"]), back["addLabelIds"]) == (3, ["INBOX"])


# -- no secrets

SECRET = re.compile(
    r"(?i)\bbearer\b"
    rf"|\b(access_token|refresh_token|client_secret)\b(?![\"']?\s*[:=]\s*[\"']?{FILTERED}\b)"
)


def test_cassettes_hold_no_secrets() -> None:
    names = {"first_run", "steady_state", "moved_meeting", "hold_start", "release"}
    files = sorted(CASSETTES.glob("*.yaml"))
    assert {f.stem for f in files} >= names
    for f in files:
        text = f.read_text(encoding="utf-8")
        assert SECRET.search(text) is None, f"{f.name}: {SECRET.search(text)}"
        assert "snippet" not in text, f"{f.name}: message text (a snippet) was recorded"
        assert "127.0.0.1" not in text, f"{f.name} names the emulator's port"


def test_the_recording_filters_drop_credentials() -> None:
    """The scenarios run without credentials; this shows what a real grant would leave."""
    config = VCR.get_merged_config(path="unused")
    scrub_request, scrub_response = (
        config["before_record_request"],
        config["before_record_response"],
    )
    bearer = {"Authorization": "Bearer ya29.SECRET"}
    token = vcr.request.Request(
        "POST",
        "http://127.0.0.1:8080/token",
        "grant_type=refresh_token&refresh_token=1//SECRET&client_secret=SECRET",
        {**bearer, "Content-Type": "application/x-www-form-urlencoded"},
    )
    part = "GET /gmail/v1/users/me/labels HTTP/1.1\nauthorization: Bearer ya29.SECRET\n\n"
    batch = vcr.request.Request(
        "POST",
        "http://127.0.0.1:8080/batch/gmail/v1",
        f"--b\nContent-Type: application/http\nContent-ID: <x + 0>\n\n{part}\n--b--",
        {**bearer, "Content-Type": 'multipart/mixed; boundary="b"'},
    )
    answer = {
        "status": {"code": 200, "message": "OK"},
        "headers": {"Content-Type": ["application/json"]},
        "body": {"string": b'{"access_token": "ya29.SECRET", "refresh_token": "1//SECRET"}'},
    }
    for request in (token, batch):
        assert "SECRET" not in repr(scrub_request(request)._to_dict())
    assert "SECRET" not in repr(scrub_response(answer))


def test_gap_alert_with_its_draft(account: Account) -> None:
    account.blocks(at(7))
    outcome = account.blocks(at(16, 5))  # the Acme demo ended an hour ago, nothing booked
    with pin("gap_draft", account.emu) as tape:
        gaps = account.gaps(outcome, at(16, 5))
    assert len(gaps.alerted) == 1 and gaps.problems == ()
    draft_id, alert_id = (
        f"<{hashlib.sha256(k.encode()).hexdigest()[:32]}@firstblock.invalid>"
        for k in ("draft:rep:acmedemo1", gaps.alerted[0].key and _alert_key(gaps))
    )
    assert tape.lines() == [
        f"GET /gmail/v1/users/me/messages q=rfc822msgid:{draft_id}",  # saved once
        "POST /gmail/v1/users/me/drafts",  # the draft: created, never sent
        f"GET /gmail/v1/users/me/messages q=rfc822msgid:{alert_id}",
        "GET /gmail/v1/users/me/labels",
        "POST /gmail/v1/users/me/labels",  # Firstblock/Alerts
        "POST /gmail/v1/users/me/messages",  # the alert, inserted into the inbox
        f"GET /gmail/v1/users/me/messages q=rfc822msgid:{alert_id}",
    ]
    raw = base64.urlsafe_b64decode(json.loads(_text(tape.requests[1].body))["message"]["raw"])
    assert b"To: jane@acme.com" in raw and b"Subject: Our next meeting: Acme demo" in raw


def test_tentative_hold(account: Account) -> None:
    account.config = HOLDING
    with pin("tentative_hold", account.emu) as tape:
        outcome = account.blocks(at(7))
    assert (
        tape.lines()[-1]
        == "POST /batch/calendar/v3 [10 x POST /calendar/v3/calendars/primary/events]"
    )
    [hold] = [c.block for c in outcome.changes if c.block.tentative]
    [proposal] = outcome.plan.proposals
    first = proposal.slots[0]
    assert hold.key == "hold/acmedemo1" and (hold.start, hold.end) == (first.start, first.end)
    bodies = {
        p["json"]["id"]: p["json"] for p in parse_batch(_text(tape.requests[-1].body), BOUNDARY)
    }
    held = bodies.pop(hold.id)
    # Tentative, and no Focus Time: a hold must not decline the client's invitation.
    assert held["status"] == "tentative" and "eventType" not in held
    # Busy blocks are Focus Time; a ramping block, free for now, is a plain event.
    shapes = {(b["status"], b["transparency"], b.get("eventType")) for b in bodies.values()}
    assert shapes == {("confirmed", "opaque", "focusTime"), ("confirmed", "transparent", None)}


def test_booking_the_next_meeting_removes_the_hold(account: Account) -> None:
    account.config = HOLDING
    outcome = account.blocks(at(7))
    [hold] = [c.block for c in outcome.changes if c.block.tentative]
    stored = account.emu.event(hold.id)
    assert stored is not None and stored["status"] == "tentative"
    me = {"email": ME, "self": True, "responseStatus": "accepted"}
    thursday = MON + timedelta(days=3)
    account.emu.put_event(
        {
            "id": "acmenext1",
            "summary": "Acme: next steps",
            "start": timed(at(15, day=thursday)),
            "end": timed(at(15, 30, day=thursday)),
            "attendees": [me, {"email": "jane@acme.com", "responseStatus": "accepted"}],
        }
    )
    after = account.blocks(at(8))
    assert [(c.op, c.block.key) for c in after.changes if c.block.key == hold.key] == [
        (Op.DELETE, hold.key)
    ]
    gone = account.emu.event(hold.id)
    assert gone is not None and gone["status"] == "cancelled"


def _alert_key(gaps: GapOutcome) -> str:
    [g] = gaps.alerted
    return f"gap:{g.account}:{g.key}"


def _invitation(ident: str, organizer: str, start: datetime, minutes: int = 30) -> dict[str, Any]:
    """Someone else's meeting, waiting on the rep's answer."""
    return {
        "id": ident,
        "summary": f"Invite from {organizer.split('@')[0]}",
        "start": timed(start),
        "end": timed(start + timedelta(minutes=minutes)),
        "organizer": {"email": organizer},
        "creator": {"email": organizer},
        "attendees": [
            {"email": organizer, "organizer": True, "responseStatus": "accepted"},
            {"email": ME, "self": True, "responseStatus": "needsAction"},
        ],
    }


def invite_onto_blocks(
    blocks: Callable[[datetime], Outcome], invite: Callable[[str, str, datetime], object]
) -> tuple[Block, Block, Block]:
    """The steady state (`blocks` runs a cycle), then three invitations (`invite`: id,
    "colleague" or "client", start): a colleague's onto today's prospecting, a
    client's onto tomorrow's, a colleague's onto a block still free. Shared with the
    Outlook cassettes; returns those three blocks."""
    blocks(at(7))
    first = blocks(at(7, 15))  # reads its own writes back: the steady state
    today, tomorrow = (
        next(b for b in owned_now(first) if b.day == d and b.kind is BlockKind.PROSPECTING)
        for d in (MON, MON + timedelta(1))
    )
    free = next(b for b in owned_now(first) if b.day == MON + timedelta(1) and b.free)
    invite("colleague1", "colleague", today.start)
    invite("client1", "client", tomorrow.start)
    invite("colleague2", "colleague", free.start)
    return today, tomorrow, free


def _invite_onto_blocks(account: Account) -> tuple[Block, Block, Block]:
    who = {"colleague": "sam@example.com", "client": "jane@acme.com"}
    return invite_onto_blocks(
        account.blocks,
        lambda ident, kind, start: account.emu.put_event(_invitation(ident, who[kind], start)),
    )


def test_declining_a_colleagues_invitation(account: Account) -> None:
    _invite_onto_blocks(account)
    with pin("decline", account.emu) as tape:
        outcome = account.blocks(at(7, 30))
    assert tape.lines()[1:3] == [
        # Read first: a patch replaces the whole attendee list, so it is sent back
        # whole, under the etag it was read with; then the blocks, in one batch.
        "GET /calendar/v3/calendars/primary/events/{id}",
        "PATCH /calendar/v3/calendars/primary/events/{id}",
    ]
    declining = [1, 2]
    assert all("/events/colleague1" in tape.requests[i].uri for i in declining)
    assert "sendUpdates=all" in tape.requests[2].uri  # the organizer hears it, with the note
    patch = tape.requests[declining[1]]
    assert patch.headers.get("If-Match") or patch.headers.get("if-match")
    assert json.loads(_text(patch.body)) == {
        "attendees": [
            {"email": "sam@example.com", "organizer": True, "responseStatus": "accepted"},
            {
                "email": ME,
                "self": True,
                "responseStatus": "declined",
                "comment": CONFIG.focus_time.decline_message,
            },
        ]
    }
    assert [d.event.id for d in outcome.declines] == ["colleague1"], outcome.problems


def test_a_colleagues_invitation_is_declined_once_and_a_clients_never(account: Account) -> None:
    today, tomorrow, free = _invite_onto_blocks(account)
    outcome = account.blocks(at(7, 30))
    assert [d.event.id for d in outcome.declines] == ["colleague1"], outcome.problems

    def mine(ident: str) -> dict[str, Any]:
        event = account.emu.event(ident)
        assert event is not None
        return next(a for a in event["attendees"] if a.get("self"))

    assert mine("colleague1") == {
        "email": ME,
        "self": True,
        "responseStatus": "declined",
        "comment": CONFIG.focus_time.decline_message,
    }
    assert (
        mine("client1")["responseStatus"] == mine("colleague2")["responseStatus"] == ("needsAction")
    )
    now_there = owned_now(outcome)
    assert [b.kind for b in now_there if b.start == today.start] == [BlockKind.PROSPECTING]
    client = (tomorrow.start, tomorrow.start + timedelta(minutes=30))
    assert not [b for b in now_there if b.start < client[1] and client[0] < b.end]
    assert not [b for b in now_there if b.start < free.end and free.start < b.end]
    # Once, ever: sent again, unanswered, onto the same block: left alone, and the
    # block gives way to it.
    sam = {"email": "sam@example.com", "organizer": True, "responseStatus": "accepted"}
    waiting = {"email": ME, "self": True, "responseStatus": "needsAction"}
    account.emu.patch_event("colleague1", {"attendees": [sam, waiting]})
    seen = len(account.emu.requests)
    again = account.blocks(at(7, 45))
    assert again.declines == ()
    assert not [r for r in account.emu.requests[seen:] if "colleague1" in r.path]
    slot = (today.start, today.start + timedelta(minutes=30))
    assert not [b for b in owned_now(again) if b.start < slot[1] and slot[0] < b.end]


def test_a_non_organizer_may_change_only_their_own_answer(account: Account) -> None:
    account.emu.put_event(_invitation("colleague1", "sam@example.com", at(12)))
    cal = calendar(account.emu, None, account.sleeps)
    request = cal.session.calendar.events().patch(
        calendarId="primary", eventId="colleague1", body={"summary": "Mine now"}
    )
    with pytest.raises(BadRequest, match="organizer"):
        cal.session.call(request)
