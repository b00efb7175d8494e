"""The exact Microsoft Graph requests of the worker's runs, pinned in vcrpy cassettes.

The Outlook twin of test_google_cassettes.py, and built the same way: five scenarios,
one cassette each in tests/cassettes/outlook/ (the first run, a steady-state run, a run
after a client meeting moved, the start of the inbox hold and its release). Each drives
the real worker (`run_account`, `run_hold`) and the real Outlook provider against the
HTTPS Graph emulator; what a scenario only needs as setup runs outside the cassette, so
a cassette holds exactly the requests of the step it pins.

Replay (the default) answers every request from the cassette and fails when the code
makes a request the cassette lacks, makes them in another order, or leaves one
unplayed; nothing reaches the emulator meanwhile. Record them again with

    FIRSTBLOCK_RECORD_CASSETTES=1 pytest tests/providers/test_outlook_cassettes.py

Cassettes are port-independent and deterministic: the emulator's ids come from a seeded
source and its clock is fixed; https://127.0.0.1:PORT becomes https://graph.emulator in
requests and in the links of responses (nextLink, deltaLink, @odata.context), and the
random request ids the emulator stamps on answers are dropped. Requests are matched on
method, path, query, their Prefer and If-Match headers and their JSON body as data
($batch bodies included). Credentials never reach them: the Authorization header and
token fields are filtered out, and a test checks the files.

Shared with the Google test (imported, not copied): the readable YAML layout and the
`Tape` that watches a cassette's play methods.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import pytest
import vcr

from providers.outlook import pool
from providers.outlook.mail import HELD_FOLDER, RULE_NAME
from tests.emulators.graph import GraphEmulator
from tests.providers.outlook_fixtures import ME, Sleeps, outlook, timed
from tests.providers.test_google_cassettes import FILTERED, ReadableYaml, Tape, invite_onto_blocks
from worker.config import Config, Hold, Planning, default_config
from worker.cycle import AccountRun, Outcome, owned_now, rules_for, run_account
from worker.gapcheck import GapOutcome, channels, run_gaps
from worker.hold import Phase
from worker.inbox import HoldOutcome, run_hold
from worker.models import Block, BlockKind, Op
from worker.state import State

CASSETTES = Path(__file__).resolve().parents[1] / "cassettes" / "outlook"
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
    hold=Hold(True, ("boss@contoso.com",), 2),
)
ACCOUNT = dataclasses.replace(_BASE.accounts[0], name="rep", provider="outlook", email=ME)
HOLDING = dataclasses.replace(
    CONFIG, followups=dataclasses.replace(CONFIG.followups, tentative_hold=True)
)


# -- normal forms: what a cassette stores, and what a request is matched on

HOST = "https://graph.emulator"  # the emulator's port changes per run; cassettes don't
EMULATOR = re.compile(r"https://127\.0\.0\.1:\d+(?=/)")
REQUEST_HEADERS = ("content-type", "if-match", "prefer")  # the rest: transport or secrets
RESPONSE_HEADERS = ("content-type", "retry-after", "location")
TOKEN_FIELDS = (
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "client_assertion",
    "assertion",
    "device_code",
)
SECRET_KEYS = (*TOKEN_FIELDS, "authorization")  # JSON keys; a $batch part has headers
# Stamped per answer by the emulator (uuid4 and wall time): noise, never read.
NOISE = ("request-id", "client-request-id", "date")


def _text(body: Any) -> str:
    if body is None:
        return ""
    return body.decode("utf-8") if isinstance(body, bytes) else str(body)


def _scrub(obj: Any) -> Any:
    """JSON with token values (and a $batch part's Authorization) replaced, the
    emulator's address normalised and per-answer noise (request ids, dates) dropped,
    at any depth."""
    if isinstance(obj, dict):
        return {
            k: FILTERED if k.lower() in SECRET_KEYS else _scrub(v)
            for k, v in obj.items()
            if k.lower() not in NOISE
        }
    if isinstance(obj, list):
        return [_scrub(v) for v in obj]
    if isinstance(obj, str):
        return EMULATOR.sub(HOST, obj)
    return obj


def _normal_body(text: str) -> str:
    try:
        return json.dumps(_scrub(json.loads(text)))
    except ValueError:
        return EMULATOR.sub(HOST, text)


def normal_request(request: Any) -> Any:
    """Host-free, transport-header-free, noise-free (vcr passes a copy)."""
    url = urlsplit(request.uri)
    request.uri = HOST + url.path + (f"?{url.query}" if url.query else "")
    if request.body:
        request.body = _normal_body(_text(request.body))
    headers = {k.lower(): str(v) for k, v in request.headers.items()}
    request.headers = {k: v for k, v in headers.items() if k in REQUEST_HEADERS}
    return request


def normal_response(response: dict[str, Any]) -> dict[str, Any]:
    headers = {k.lower(): v[0] for k, v in response["headers"].items()}
    text = _text(response["body"]["string"])
    if text:
        response["body"]["string"] = _normal_body(text).encode()
    if "location" in headers:
        headers["location"] = EMULATOR.sub(HOST, headers["location"])
    response["headers"] = {k: [v] for k, v in headers.items() if k in RESPONSE_HEADERS}
    return response


def payload_of(request: Any) -> tuple[Any, ...]:
    """What a request is matched on besides method, path and query: its preconditions
    and preferences (If-Match, Prefer) and its body as data (a $batch's parts too)."""
    text = _text(request.body)
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = text
    return request.headers.get("if-match"), request.headers.get("prefer"), body


def same_payload(r1: Any, r2: Any) -> None:
    assert payload_of(r1) == payload_of(r2)


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


# -- one line per request

KEY_PARAMS = ("startDateTime", "endDateTime", "$deltatoken", "$skiptoken", "$filter")
# Graph's ids are long; well-known names (inbox) are not.
IDS = re.compile(r"/(events|messages|mailFolders|messageRules)/[A-Za-z0-9_=-]{20,}")


def _param(name: str, value: str) -> str:
    if name in ("$deltatoken", "$skiptoken"):
        value = "…"
    elif "singleValueExtendedProperties" in value:  # a lookup of something by its key
        value = next(
            (f"{{{what} key}}" for what in ("alert", "draft") if f"firstblock.{what}" in value),
            "{block key}",
        )
    return f"{name}={value}"


def _line(method: str, url: str) -> str:
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query))
    shown = [_param(k, params[k]) for k in KEY_PARAMS if k in params]
    return " ".join([method, IDS.sub(r"/\1/{id}", parts.path), *shown])


def summary(request: Any) -> str:
    """One line: method, path (ids as {id}), the parameters that matter, batch parts."""
    line = _line(request.method, request.uri)
    if request.path.endswith("/$batch"):
        parts = [_line(p["method"], p["url"]) for p in json.loads(request.body)["requests"]]
        line += " [" + ", ".join(f"{parts.count(p)} x {p}" for p in dict.fromkeys(parts)) + "]"
    return line


class GraphTape(Tape):
    def lines(self) -> list[str]:
        return [summary(r) for r in self.requests]


@contextlib.contextmanager
def pin(name: str, emulator: GraphEmulator) -> Iterator[GraphTape]:
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
        mock.patch.object(pool, "_shared", None),
        VCR.use_cassette(str(path), record_mode=mode) as cassette,
    ):
        tape = GraphTape(cassette)
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
    """One Microsoft 365 account, run step by step the way `firstblock run` runs it."""

    emu: GraphEmulator
    folder: Path
    state: State
    sleeps: Sleeps = field(default_factory=Sleeps)
    config: Config = CONFIG

    def blocks(self, now: datetime) -> Outcome:
        """One calendar step, on a fresh session (a new process, memory from disk)."""
        cal, _ = outlook(self.emu, self.folder / "memo.json", self.sleeps)
        run = AccountRun.start(self.config, ACCOUNT, cal, self.state, now)
        return run_account(run, cal, apply=True)

    def hold(self, outcome: Outcome, now: datetime) -> HoldOutcome:
        _, box = outlook(self.emu, self.folder / "memo.json", self.sleeps)
        rules = rules_for(CONFIG, ACCOUNT, ZoneInfo(outcome.timezone))
        return run_hold(
            AccountRun(CONFIG, ACCOUNT, self.state, now, rules), box, outcome, apply=True
        )

    def gaps(self, outcome: Outcome, now: datetime) -> GapOutcome:
        """The follow-up step: alerts (with their drafts) into the mailbox."""
        box = outlook(self.emu, self.folder / "memo.json", self.sleeps)[1]
        rules = rules_for(CONFIG, ACCOUNT, ZoneInfo(outcome.timezone))
        run = AccountRun(CONFIG, ACCOUNT, self.state, now, rules)
        return run_gaps(run, outcome, channels(CONFIG, box, None), apply=True)


TEXT = "The private text of a message"  # what a cassette should hold only where Graph insists


def _person(address: str, response: str = "accepted") -> dict[str, Any]:
    return {
        "type": "required",
        "emailAddress": {"address": address, "name": address.split("@")[0]},
        "status": {"response": response, "time": "0001-01-01T00:00:00Z"},
    }


@pytest.fixture
def account(tmp_path: Path) -> Iterator[Account]:
    emu = GraphEmulator(require_auth=False).start()  # seed 0: the same ids every run
    emu.clock = lambda: at(6).astimezone(UTC)  # fixed created/modified stamps
    # The mailbox's working hours are the config's workday (Mon-Fri 08:30-17:30), so the
    # plans are the same whether or not the worker takes the mailbox's hours.
    hours = {"startTime": "08:30:00.0000000", "endTime": "17:30:00.0000000"}
    emu.user(ME, timezone="Eastern Standard Time", working_hours=hours)
    mine = {"organizer": {"emailAddress": {"address": ME, "name": "Rep"}}}
    emu.put_event(
        {
            "id": "acmedemo1",
            "subject": "Acme demo",
            "start": timed(at(14)),
            "end": timed(at(15)),
            "attendees": [_person("jane@fabrikam.com")],
            "responseStatus": {"response": "organizer", "time": "0001-01-01T00:00:00Z"},
            **mine,
        }
    )
    emu.put_event(
        {
            "id": "standup01",
            "subject": "Stand-up",
            "start": timed(at(9, 30)),
            "end": timed(at(9, 45)),
        }
    )
    emu.put_event(
        {
            "id": "oneonone1",
            "subject": "1:1 with Sam",
            "start": timed(at(11, day=MON + timedelta(1))),
            "end": timed(at(11, 30, day=MON + timedelta(1))),
            "attendees": [_person("sam@contoso.com")],
            "responseStatus": {"response": "organizer", "time": "0001-01-01T00:00:00Z"},
            **mine,
        }
    )

    # Since Friday's end of the workday: one allowed sender, two others (one of them
    # twice, in one conversation).
    def arrive(sender: str, received: datetime, conversation: str | None = None) -> None:
        emu.arrive(sender=sender, received=received, conversation_id=conversation, body=TEXT)

    arrive("news@letters.com", at(10, day=MON - timedelta(2)))
    arrive("sales@vendor.io", at(18, day=MON - timedelta(1)), "vendor-thread")
    arrive("sales@vendor.io", at(8, 10), "vendor-thread")
    arrive("boss@contoso.com", at(7, 45))
    state = State(tmp_path / "state.sqlite3")
    try:
        yield Account(emu, tmp_path, state)
    finally:
        state.close()
        emu.stop()


# -- the scenarios


def _json(request: Any) -> Any:
    return json.loads(_text(request.body))


def _parts(request: Any) -> list[dict[str, Any]]:
    return list(_json(request)["requests"])


def test_first_run(account: Account) -> None:
    with pin("first_run", account.emu) as tape:
        outcome = account.blocks(at(7))
    assert tape.lines() == [
        "GET /v1.0/me/mailboxSettings",  # the zone, once; remembered
        # The delta round only earns a deltaLink: calendarView/delta takes no $expand, so
        # the blocks' tags come from the view after it.
        "GET /v1.0/me/calendarView/delta"
        " startDateTime=2026-11-14T00:00:00-05:00 endDateTime=2027-01-08T00:00:00-05:00",
        "GET /v1.0/me/calendar/calendarView"
        " startDateTime=2026-11-14T00:00:00-05:00 endDateTime=2027-01-08T00:00:00-05:00",
        "POST /v1.0/$batch [9 x GET /me/events $filter={block key}]",  # none there yet
        "POST /v1.0/$batch [9 x POST /me/events]",
    ]
    assert [c.op for c in outcome.changes] == [Op.CREATE] * 9  # all in the one batch
    creates = [p["body"] for p in _parts(tape.requests[4])]
    assert all(c["transactionId"] for c in creates)
    # Prospecting is busy from the start; the rest until a day ahead (ramp, 24 hours).
    soon = at(7) + timedelta(hours=24)
    for c in creates:
        start = datetime.fromisoformat(c["start"]["dateTime"] + "+00:00")
        busy = c["subject"] == "Prospecting" or start <= soon
        assert c["showAs"] == ("busy" if busy else "free"), (c["subject"], start)
    assert {c["showAs"] for c in creates} == {"busy", "free"}


def test_steady_state_run(account: Account) -> None:
    account.blocks(at(7))
    # The run after a write run reads its own writes back from the delta, and knows
    # them; the steady state is the run after that.
    account.blocks(at(7, 15))
    with pin("steady_state", account.emu) as tape:
        outcome = account.blocks(at(7, 30))
    assert tape.lines() == ["GET /v1.0/me/calendarView/delta $deltatoken=…"]
    assert outcome.changes == ()  # no writes


def test_run_after_a_meeting_moved(account: Account) -> None:
    account.blocks(at(7))
    account.blocks(at(7, 15))
    account.emu.patch_event("acmedemo1", {"start": timed(at(15, 30)), "end": timed(at(16, 30))})
    with pin("moved_meeting", account.emu) as tape:
        outcome = account.blocks(at(7, 30))
    assert tape.lines() == [
        "GET /v1.0/me/calendarView/delta $deltatoken=…",  # the moved meeting, in full
        # Not only the worker's own writes came back: the span of the delta link is
        # read again (the link is kept, so the span stays the one it covers).
        "GET /v1.0/me/calendar/calendarView"
        " startDateTime=2026-11-14T00:00:00-05:00 endDateTime=2027-01-08T00:00:00-05:00",
        # the meeting's prep and follow-up blocks follow it, in one batch
        "POST /v1.0/$batch [2 x PATCH /me/events/{id}]",
    ]
    moved = sorted(outcome.changes, key=lambda c: c.block.key)
    assert [(c.op, c.block.key) for c in moved] == [
        (Op.UPDATE, "followup/acmedemo1"),
        (Op.UPDATE, "meeting/acmedemo1"),
    ]
    parts = {p["body"]["subject"]: p for p in _parts(tape.requests[2])}
    assert {p["headers"]["If-Match"] for p in parts.values()} == {
        c.before.etag for c in moved if c.before is not None
    }  # conditional
    prep = parts["Prep: Acme demo"]["body"]
    assert prep["start"] == {"dateTime": "2026-11-30T20:15:00", "timeZone": "UTC"}
    after = parts["Follow-up: Acme demo"]["body"]
    assert after["start"] == {"dateTime": "2026-11-30T21:30:00", "timeZone": "UTC"}


def test_hold_start(account: Account) -> None:
    account.blocks(at(7))
    outcome = account.blocks(at(9))
    with pin("hold_start", account.emu) as tape:
        held = account.hold(outcome, at(9))
    assert tape.lines() == [
        f"GET /v1.0/me/mailFolders $filter=displayName eq '{HELD_FOLDER}'",  # none yet
        "GET /v1.0/me/mailFolders/inbox/messages"  # the inbox since Friday 17:30
        " $filter=receivedDateTime ge 2026-11-27T22:30:00Z",
        "GET /v1.0/me/mailFolders/inbox/messageRules",  # an earlier install's rule, by name
        "POST /v1.0/me/mailFolders",  # the folder, made now that something is held
        "POST /v1.0/me/mailFolders/inbox/messageRules",
        "POST /v1.0/$batch [3 x POST /me/messages/{id}/move]",  # where: from the listing
    ]
    assert (held.phase, held.moved_out) == (Phase.HOLDING, 3)  # news, and the vendor twice
    folder = _json(tape.requests[3])
    assert folder == {"displayName": HELD_FOLDER}
    rule = _json(tape.requests[4])
    assert (rule["displayName"], rule["isEnabled"]) == (RULE_NAME, True)
    allowed = [a["emailAddress"]["address"] for a in rule["exceptions"]["fromAddresses"]]
    assert allowed == ["boss@contoso.com", "jane@fabrikam.com", ME, "sam@contoso.com"]
    moves = {p["body"]["destinationId"] for p in _parts(tape.requests[5])}
    assert moves == {rule["actions"]["moveToFolder"]}  # into the held folder


def test_release(account: Account) -> None:
    account.blocks(at(7))
    account.hold(account.blocks(at(9)), at(9))
    outcome = account.blocks(at(16, 45))  # the admin block starts
    with pin("release", account.emu) as tape:
        released = account.hold(outcome, at(16, 45))
    assert tape.lines() == [
        "GET /v1.0/me/mailFolders/inbox/messageRules",  # every rule of ours, by name
        "PATCH /v1.0/me/mailFolders/inbox/messageRules/{id}",  # off first: nothing new held
        "GET /v1.0/me/mailFolders/{id}/messages",  # the held folder
        "GET /v1.0/me/mailFolders/inbox",  # the inbox's id, once; remembered
        "POST /v1.0/$batch [3 x POST /me/messages/{id}/move]",
    ]
    assert (released.phase, released.returned) == (Phase.RELEASED, 3)
    assert _json(tape.requests[1]) == {"isEnabled": False}
    back = [p["body"]["destinationId"] for p in _parts(tape.requests[4])]
    assert back == ["inbox"] * 3


# -- no secrets

SECRET = re.compile(
    r"(?i)\bbearer\b|emulator-accepts-any-token"
    rf"|\b({'|'.join(TOKEN_FIELDS)})\b(?![\"']?\s*[:=]\s*[\"']?{FILTERED}\b)"
)


def test_cassettes_hold_no_secrets() -> None:
    names = {"first_run", "steady_state", "moved_meeting", "hold_start", "release"}
    files = sorted(CASSETTES.glob("*.yaml"))
    assert {f.stem for f in files} >= names
    for f in files:
        text = f.read_text(encoding="utf-8")
        assert SECRET.search(text) is None, f"{f.name}: {SECRET.search(text)}"
        assert "127.0.0.1" not in text, f"{f.name} names the emulator's port"
        # Message text: never asked for (listings select headers only); Graph answers a
        # move with the whole message, though, so it is there in /move answers.
        for i in ReadableYaml.deserialize(text)["interactions"]:
            request, answer = i["request"], _text(i["response"]["body"]["string"])
            asked, batch = _text(request["body"]), request["uri"].endswith("/$batch")
            urls = [p["url"] for p in json.loads(asked)["requests"]] if batch else [request["uri"]]
            if TEXT in answer:
                assert all(u.endswith("/move") for u in urls), f"{f.name}: message text"
            assert TEXT not in asked, f"{f.name}: message text sent"


def test_the_recording_filters_drop_credentials() -> None:
    """The scenarios run with a constant token and no sign-in; this shows what a real
    grant (MSAL's token requests, bearer tokens on Graph calls) would leave."""
    config = VCR.get_merged_config(path="unused")
    scrub_request, scrub_response = (
        config["before_record_request"],
        config["before_record_response"],
    )
    bearer = {"Authorization": "Bearer eyJ0eXAi.SECRET"}
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    login = "https://127.0.0.1:8443/organizations/oauth2/v2.0/token"
    refresh = vcr.request.Request(
        "POST",
        login,
        "grant_type=refresh_token&refresh_token=1.SECRET&client_secret=SECRET"
        "&client_assertion=SECRET&client_id=app",
        form,
    )
    device = vcr.request.Request(
        "POST",
        login,
        "grant_type=urn:ietf:params:oauth:grant-type:device_code&device_code=SECRET",
        form,
    )
    part = {"id": "0", "method": "GET", "url": "/me", "headers": {"Authorization": "Bearer SECRET"}}
    batch = vcr.request.Request(
        "POST",
        "https://127.0.0.1:8443/v1.0/$batch",
        json.dumps({"requests": [part]}),
        {**bearer, "Content-Type": "application/json"},
    )
    graph = vcr.request.Request("GET", "https://127.0.0.1:8443/v1.0/me", None, bearer)
    tokens = {
        "token_type": "Bearer",
        "access_token": "eyJ0eXAi.SECRET",
        "refresh_token": "1.SECRET",
        "id_token": "eyJ0eXAi.SECRET",
        "device_code": "SECRET",
    }
    answer = {
        "status": {"code": 200, "message": "OK"},
        "headers": {"Content-Type": ["application/json"], "Set-Cookie": ["x=SECRET"]},
        "body": {"string": json.dumps(tokens).encode()},
    }
    for request in (refresh, device, batch, graph):
        kept = scrub_request(request)._to_dict()
        assert "SECRET" not in repr(kept), kept
        assert "127.0.0.1" not in kept["uri"]
    assert "SECRET" not in repr(scrub_response(answer))


def test_gap_alert_with_its_draft(account: Account) -> None:
    account.blocks(at(7))
    outcome = account.blocks(at(16, 5))  # the Acme demo ended an hour ago, nothing booked
    with pin("gap_draft", account.emu) as tape:
        gaps = account.gaps(outcome, at(16, 5))
    assert len(gaps.alerted) == 1 and gaps.problems == ()
    assert tape.lines() == [
        "GET /v1.0/me/messages $filter={draft key}",  # saved once: looked for first
        "POST /v1.0/me/messages",  # the draft: created in Drafts, never sent
        "GET /v1.0/me/messages $filter={alert key}",
        "POST /v1.0/me/sendMail",  # the alert, from the user to the user
    ]
    draft = _json(tape.requests[1])
    assert draft["toRecipients"] == [{"emailAddress": {"address": "jane@fabrikam.com"}}]
    assert draft["subject"] == "Our next meeting: Acme demo"
    alert = _json(tape.requests[3])["message"]
    assert alert["toRecipients"] == [{"emailAddress": {"address": ME}}]


def test_tentative_hold(account: Account) -> None:
    account.config = HOLDING
    with pin("tentative_hold", account.emu) as tape:
        outcome = account.blocks(at(7))
    assert tape.lines()[-2:] == [
        "POST /v1.0/$batch [10 x GET /me/events $filter={block key}]",
        "POST /v1.0/$batch [10 x POST /me/events]",
    ]
    [hold] = [c.block for c in outcome.changes if c.block.tentative]
    [proposal] = outcome.plan.proposals
    first = proposal.slots[0]
    assert hold.key == "hold/acmedemo1" and (hold.start, hold.end) == (first.start, first.end)
    creates = {p["body"]["subject"]: p["body"] for p in _parts(tape.requests[-1])}
    held = creates.pop(hold.title)
    assert held["showAs"] == "tentative"  # colleagues see it as tentative, not busy
    assert {c["showAs"] for c in creates.values()} == {"busy", "free"}  # ramping


def test_booking_the_next_meeting_removes_the_hold(account: Account) -> None:
    account.config = HOLDING
    outcome = account.blocks(at(7))
    [hold] = [c.block for c in outcome.changes if c.block.tentative]
    stored = [e for e in account.emu.events() if e["subject"] == hold.title]
    assert [e["showAs"] for e in stored] == ["tentative"]
    thursday = MON + timedelta(days=3)
    account.emu.put_event(
        {
            "id": "acmenext1",
            "subject": "Acme: next steps",
            "start": timed(at(15, day=thursday)),
            "end": timed(at(15, 30, day=thursday)),
            "attendees": [_person("jane@fabrikam.com")],
            "organizer": {"emailAddress": {"address": ME, "name": "Rep"}},
        }
    )
    after = account.blocks(at(8))
    assert [(c.op, c.block.key) for c in after.changes if c.block.key == hold.key] == [
        (Op.DELETE, hold.key)
    ]
    assert not [e for e in account.emu.events() if e["subject"] == hold.title]


def _invitation(ident: str, organizer: str, start: datetime, minutes: int = 30) -> dict[str, Any]:
    """Someone else's meeting, waiting on the rep's answer."""
    return {
        "id": ident,
        "subject": f"Invite from {organizer.split('@')[0]}",
        "start": timed(start),
        "end": timed(start + timedelta(minutes=minutes)),
        "attendees": [_person(organizer), _person(ME, "none")],
        "organizer": {"emailAddress": {"address": organizer, "name": organizer}},
        "isOrganizer": False,
        "responseStatus": {"response": "notResponded", "time": "0001-01-01T00:00:00Z"},
    }


def _invite_onto_blocks(account: Account) -> tuple[Block, Block, Block]:
    who = {"colleague": "sam@contoso.com", "client": "jane@fabrikam.com"}
    return invite_onto_blocks(
        account.blocks,
        lambda ident, kind, start: account.emu.put_event(_invitation(ident, who[kind], start)),
    )


def test_declining_a_colleagues_invitation(account: Account) -> None:
    _invite_onto_blocks(account)
    with pin("decline", account.emu) as tape:
        outcome = account.blocks(at(7, 30))
    assert tape.lines()[:3] == [
        "GET /v1.0/me/calendarView/delta $deltatoken=…",
        "GET /v1.0/me/calendar/calendarView"
        " startDateTime=2026-11-14T00:00:00-05:00 endDateTime=2027-01-08T00:00:00-05:00",
        # The rep's own answer, and nothing else about the invitation, before the
        # blocks move (which the declined invitation no longer asks for).
        "POST /v1.0/me/events/colleague1/decline",
    ]
    assert [line for line in tape.lines() if "decline" in line] == [
        "POST /v1.0/me/events/colleague1/decline"
    ]
    assert _json(tape.requests[2]) == {
        "comment": CONFIG.focus_time.decline_message,
        "sendResponse": True,
    }
    assert [d.event.id for d in outcome.declines] == ["colleague1"], outcome.problems


def test_a_colleagues_invitation_is_declined_once_and_a_clients_never(account: Account) -> None:
    today, tomorrow, free = _invite_onto_blocks(account)
    outcome = account.blocks(at(7, 30))
    assert [d.event.id for d in outcome.declines] == ["colleague1"], outcome.problems
    answers = {e["id"]: e["responseStatus"]["response"] for e in account.emu.events()}
    assert (answers["colleague1"], answers["client1"], answers["colleague2"]) == (
        "declined",
        "notResponded",
        "notResponded",
    )
    mailbox = account.emu.mailbox(ME)
    assert mailbox.answers == [("colleague1", "declined", CONFIG.focus_time.decline_message, True)]
    # The declined one keeps its block; the client's invitation and the one on a block
    # still free: their blocks gave way.
    now_there = owned_now(outcome)
    assert [b.kind for b in now_there if b.start == today.start] == [BlockKind.PROSPECTING]
    client = (tomorrow.start, tomorrow.start + timedelta(minutes=30))
    assert not [b for b in now_there if b.start < client[1] and client[0] < b.end]
    assert not [b for b in now_there if b.start < free.end and free.start < b.end]
    # Once, ever: the organizer sends it again, unanswered, onto the same busy block;
    # it is left alone (and the block now gives way to it).
    account.emu.patch_event(
        "colleague1",
        {"responseStatus": {"response": "notResponded", "time": "0001-01-01T00:00:00Z"}},
    )
    again = account.blocks(at(7, 45))
    assert again.declines == () and len(mailbox.answers) == 1
    assert not [
        b
        for b in owned_now(again)
        if b.start < today.start + timedelta(minutes=30) and today.start < b.end
    ]
