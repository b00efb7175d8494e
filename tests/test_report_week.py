"""A rep's working week through the `firstblock` command on each provider's emulator:
connect once, run four times a day, meetings booked over blocks, client meetings with
and without a next one, mail arriving. Then `firstblock report` must say what the test
counted itself from the emulator, run by run."""

from __future__ import annotations

import base64
import email
import email.policy
import io
import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from tests import test_cli_google as google
from tests import test_cli_outlook as outlook
from tests.emulators.google import GoogleEmulator
from tests.emulators.graph import GraphEmulator
from tests.test_cli import run

NY = ZoneInfo("America/New_York")
MONDAY = date(2026, 11, 30)
WEEK = [MONDAY + timedelta(days=i) for i in range(5)]
RUNS = (time(7, 0), time(9, 5), time(12, 0), time(17, 30))


class World(Protocol):
    """One provider's emulator, read and changed as the test's own eyes and hands."""

    me: str

    def blocks(self) -> dict[str, tuple[str, datetime, datetime]]: ...  # key: kind, span

    def meeting(self, uid: str, title: str, start: datetime, guests: list[str]) -> None: ...

    def deliver(self, sender: str, received: datetime) -> str: ...

    def in_inbox(self, message_id: str) -> bool: ...

    def delete_block(self, key: str) -> None: ...  # as the rep does in their calendar app

    def reports(self) -> list[Report]: ...  # the weekly report emails in the mailbox


@dataclass(frozen=True)
class Report:
    subject: str
    html: str
    pictures: dict[str, bytes]  # by Content-ID
    in_inbox: bool


def _moment(value: dict[str, Any]) -> datetime:
    text = str(value["dateTime"]).replace("Z", "+00:00")
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # Graph's are UTC here


@dataclass
class GoogleWorld:
    emu: GoogleEmulator
    me: str = google.ME

    def blocks(self) -> dict[str, tuple[str, datetime, datetime]]:
        out = {}
        for e in self.emu.events():
            tags = (e.get("extendedProperties") or {}).get("private") or {}
            if tags.get("firstblock") == "1" and e.get("status") != "cancelled":
                span = (_moment(e["start"]), _moment(e["end"]))
                out[tags["firstblock_key"]] = (tags["firstblock_kind"], *span)
        return out

    def meeting(self, uid: str, title: str, start: datetime, guests: list[str]) -> None:
        end = start + timedelta(hours=1)
        people = [{"email": self.me, "self": True, "responseStatus": "accepted"}]
        self.emu.put_event(
            {
                "id": uid,
                "summary": title,
                "start": {"dateTime": start.isoformat()},
                "end": {"dateTime": end.isoformat()},
                "attendees": people + [{"email": g, "responseStatus": "accepted"} for g in guests],
            }
        )

    def deliver(self, sender: str, received: datetime) -> str:
        return self.emu.arrive(sender=sender, received=received)

    def in_inbox(self, message_id: str) -> bool:
        return "INBOX" in self.emu.message(message_id)["labelIds"]

    def reports(self) -> list[Report]:
        out = []
        for m in self.emu.messages():
            msg = email.message_from_bytes(m["raw"], policy=email.policy.default)
            assert isinstance(msg, EmailMessage)
            if not str(msg["Subject"]).startswith("Your week"):
                continue
            html = msg.get_body(preferencelist=("html",))
            assert html is not None and msg.get_body(preferencelist=("plain",)) is not None
            pictures = {
                str(p["Content-ID"]).strip("<>"): p.get_content()
                for p in msg.walk()
                if p.get_content_type() == "image/png" and p.get_content_disposition() == "inline"
            }
            inbox = "INBOX" in m["labelIds"]
            out.append(Report(str(msg["Subject"]), html.get_content(), pictures, inbox))
        return out

    def delete_block(self, key: str) -> None:
        for e in self.emu.events():
            tags = (e.get("extendedProperties") or {}).get("private") or {}
            if tags.get("firstblock_key") == key:
                self.emu.delete_event(e["id"])


@dataclass
class OutlookWorld:
    emu: GraphEmulator
    me: str = outlook.ME

    def blocks(self) -> dict[str, tuple[str, datetime, datetime]]:
        out = {}
        for e in self.emu.events():
            for p in e.get("singleValueExtendedProperties") or ():
                if str(p.get("id", "")).endswith("firstblock.block") and not e.get("isCancelled"):
                    tag = json.loads(p["value"])
                    out[tag["key"]] = (tag["kind"], _moment(e["start"]), _moment(e["end"]))
        return out

    def meeting(self, uid: str, title: str, start: datetime, guests: list[str]) -> None:
        def utc(moment: datetime) -> dict[str, str]:
            return {
                "dateTime": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "timeZone": "UTC",
            }

        self.emu.put_event(
            {
                "id": uid,
                "subject": title,
                "start": utc(start),
                "end": utc(start + timedelta(hours=1)),
                "attendees": [{"type": "required", "emailAddress": {"address": g}} for g in guests],
            }
        )

    def deliver(self, sender: str, received: datetime) -> str:
        return self.emu.arrive(sender=sender, received=received)

    def in_inbox(self, message_id: str) -> bool:
        return str(self.emu.message(message_id)["folder"]).lower() == "inbox"

    def reports(self) -> list[Report]:
        return [
            Report(
                str(m["subject"]),
                str(m["body"]["content"]),
                {
                    str(a["contentId"]): base64.b64decode(a["contentBytes"])
                    for a in m["attachments"]
                    if a.get("isInline") and a.get("contentType") == "image/png"
                },
                str(m["folder"]).lower() == "inbox",
            )
            for m in self.emu.messages()
            if str(m.get("subject", "")).startswith("Your week")
        ]

    def delete_block(self, key: str) -> None:
        for e in self.emu.events():
            for p in e.get("singleValueExtendedProperties") or ():
                if str(p.get("id", "")).endswith("firstblock.key") and p.get("value") == key:
                    self.emu.delete_event(e["id"])


@pytest.fixture(params=["google", "outlook"])
def world(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[tuple[World, str]]:
    """A connected account on the provider's emulator, and its config file."""
    for name, value in (
        ("FIRSTBLOCK_DATA_DIR", tmp_path / "data"),
        ("FIRSTBLOCK_STATE_DIR", tmp_path / "state"),
        ("XDG_CONFIG_HOME", tmp_path / "config"),
    ):
        monkeypatch.setenv(name, str(value))
    monkeypatch.delenv("FIRSTBLOCK_CONFIG", raising=False)
    monkeypatch.delenv("FIRSTBLOCK_SECRET_KEY", raising=False)
    if request.param == "google":
        gemu = GoogleEmulator(email=google.ME, require_auth=True).start()
        gemu.client(google.CLIENT_ID, google.CLIENT_SECRET)
        try:
            cfg = google.config(tmp_path, gemu)
            code, _, err = google.connect(capsys, monkeypatch, cfg, tmp_path, gemu)
            assert (code, err) == (0, "")
            yield GoogleWorld(gemu), cfg
        finally:
            gemu.stop()
        return
    memu = GraphEmulator().start()
    memu.app(outlook.CLIENT_ID)
    memu.user(outlook.ME, timezone="Eastern Standard Time")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", memu.ca_file)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    try:
        cfg = outlook.config(tmp_path, memu)
        code, _, err = outlook.connect(capsys, monkeypatch, cfg, memu)
        assert (code, err) == (0, "")
        yield OutlookWorld(memu), cfg
    finally:
        memu.stop()


@dataclass
class Count:
    """The test's own count, from the emulator before and after every run."""

    planned: dict[date, int] = field(default_factory=dict)
    lost: Counter[str] = field(default_factory=Counter)
    most_held: dict[date, int] = field(default_factory=dict)
    released: Counter[date] = field(default_factory=Counter)


def prospecting_minutes(blocks: dict[str, tuple[str, datetime, datetime]], day: date) -> int:
    return sum(
        int((end - start).total_seconds() // 60)
        for kind, start, end in blocks.values()
        if kind == "prospecting" and start.astimezone(NY).date() == day
    )


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), NY)


def test_a_simulated_week_reports_what_happened(
    world: tuple[World, str], capsys: pytest.CaptureFixture[str]
) -> None:
    w, cfg = world
    client, other_client, colleague = (
        "buyer@acme.com",
        "cto@globex.com",
        f"lee@{w.me.split('@')[1]}",
    )
    w.meeting("discovery", "Discovery with Acme", at(MONDAY, 13), [client])
    w.meeting("demo", "Demo for Globex", at(WEEK[3], 15), [other_client])
    count, mail = Count(), []
    first_report: datetime | None = None
    for day in WEEK:
        for k, moment in enumerate(datetime.combine(day, t, NY) for t in RUNS):
            if k == 1:  # before the second run: mail, and on Tuesday a meeting booked
                # over Wednesday's prospecting block
                mail += [w.deliver(f"vendor{i}@example.net", at(day, 9)) for i in range(2)]
                if day == WEEK[1]:
                    start = next(
                        s
                        for kind, s, _ in w.blocks().values()
                        if kind == "prospecting" and s.astimezone(NY).date() == WEEK[2]
                    )
                    w.meeting("review", "Pipeline review", start, [colleague])
            if day == WEEK[3] and k == 1:  # Thursday: the rep skips prospecting
                key = next(
                    key
                    for key, (kind, s, _) in w.blocks().items()
                    if kind == "prospecting" and s.astimezone(NY).date() == day
                )
                w.delete_block(key)
            if day == WEEK[2] and k == 2:  # the next meeting with Acme is booked
                w.meeting(
                    "next", "Proposal with Acme", at(MONDAY + timedelta(days=8), 10), [client]
                )
            before = w.blocks()
            held_before = {m for m in mail if not w.in_inbox(m)}
            code, _, err = run(capsys, "run", "--config", cfg, "--now", moment.isoformat())
            assert (code, err) == (0, ""), err
            after = w.blocks()
            if k == 0:
                count.planned[day] = prospecting_minutes(after, day)
            for key, (kind, start, _) in before.items():
                in_week = MONDAY <= start.astimezone(NY).date() < MONDAY + timedelta(days=7)
                if in_week and (key not in after or after[key][1] != start):
                    count.lost[kind] += 1  # moved or removed: a block of the week lost
            held = [m for m in mail if not w.in_inbox(m)]
            count.most_held[day] = max(count.most_held.get(day, 0), len(held))
            count.released[day] += sum(1 for m in held_before if w.in_inbox(m))
            if w.reports() and first_report is None:
                first_report = moment
    after_week = at(MONDAY + timedelta(days=7), 7)
    code, _, err = run(capsys, "run", "--config", cfg, "--now", after_week.isoformat())
    assert (code, err) == (0, "")
    final = w.blocks()

    code, out, err = run(
        capsys,
        "report",
        "--config",
        cfg,
        "--now",
        after_week.isoformat(),
        "--week",
        "2026-W49",
        "--format",
        "json",
    )
    assert (code, err) == (0, "")
    [r] = json.loads(out)["reports"]
    assert count.lost["prospecting"] >= 1  # the week did lose a block, or this proves little
    days = {date.fromisoformat(d["day"]): d for d in r["days"]}
    for day in WEEK:
        d = days[day]
        assert d["prospecting_planned_minutes"] == count.planned[day], day
        assert d["prospecting_kept_minutes"] == prospecting_minutes(final, day), day
        held, released = count.most_held[day], count.released[day]
        expected = (held, released) if held or released else (None, None)
        assert (d["mail_most_held"], d["mail_released"]) == expected, day
    weekend = [days[MONDAY + timedelta(days=i)] for i in (5, 6)]
    assert all(d["prospecting_planned_minutes"] is None for d in weekend)
    assert {k: n for k, n in r["blocks_lost_by_kind"].items() if n} == dict(count.lost)
    # Acme's meeting ended Monday 14:00; its next one was found at Wednesday's noon run.
    waited = (at(WEEK[2], 12) - at(MONDAY, 14)).total_seconds() / 86400
    assert r["gaps"] == {"opened": 2, "closed": 1, "median_days_to_next_meeting": round(waited, 1)}
    assert r["since"] is None and r["timezone"] == "America/New_York"

    report = ("report", "--config", cfg, "--now", after_week.isoformat(), "--week", "2026-W49")
    code, out, _ = run(capsys, *report)
    assert code == 0 and "prospecting kept, last 8 weeks" in out
    assert "follow-up gaps: 2 opened, 1 closed" in out
    assert days[WEEK[3]]["prospecting_kept_minutes"] == 0 < count.planned[WEEK[3]]  # skipped
    # The weekly email came at Friday's admin block, once, into the inbox, pictures and all.
    assert first_report is not None and first_report.date() == WEEK[4], first_report
    [mailed] = w.reports()
    # Sent before Friday was over: Monday to Thursday count.
    share = sum(prospecting_minutes(final, d) for d in WEEK[:4]) / sum(
        count.planned[d] for d in WEEK[:4]
    )
    assert (
        mailed.in_inbox and mailed.subject == f"Your week 2026-W49: {share:.0%} of prospecting kept"
    )
    cids = re.findall(r'src="cid:([^"]+)"', mailed.html)
    assert len(cids) == 5 and sorted(cids) == sorted(mailed.pictures)
    assert all(Image.open(io.BytesIO(png)).size == (640, 280) for png in mailed.pictures.values())
    assert len(re.findall(r' alt="[^"]{20,}"', mailed.html)) == 5
    shots = os.environ.get("FIRSTBLOCK_SCREENSHOTS")  # the README's picture, from this week
    if shots and isinstance(w, GoogleWorld):
        sheet = Path(shots) / "report.png"
        assert run(capsys, *report, "--format", "png", "--out", str(sheet))[0] == 0


def test_a_team_across_zones_counts_each_reps_own_days(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """New York and Sydney on one team: one moment is a different day for each."""
    path = home / "firstblock.toml"
    path.write_text(
        f'[[accounts]]\nname = "ny"\ncalendar = "{home / "ny.ics"}"\n'
        'timezone = "America/New_York"\n'
        f'[[accounts]]\nname = "syd"\ncalendar = "{home / "syd.ics"}"\n'
        'timezone = "Australia/Sydney"\n'
    )
    # Sunday evening in New York is Monday noon in Sydney; then Monday morning in New
    # York is Monday night in Sydney; then Monday evening in New York is Tuesday there.
    for moment in (
        "2026-11-29T20:00:00-05:00",
        "2026-11-30T07:00:00-05:00",
        "2026-11-30T17:00:00-05:00",
    ):
        assert run(capsys, "run", "--config", str(path), "--now", moment)[0] == 0
    args = (
        "report",
        "--config",
        str(path),
        "--now",
        "2026-11-30T17:05:00-05:00",
        "--format",
        "json",
    )
    code, out, err = run(capsys, *args, "--week", "2026-W49")
    assert (code, err) == (0, "")
    reports = {r["account"]: r for r in json.loads(out)["reports"]}
    ny, syd = reports["ny"], reports["syd"]
    assert (ny["timezone"], syd["timezone"]) == ("America/New_York", "Australia/Sydney")
    ny_monday, syd_monday = ny["days"][0], syd["days"][0]
    assert ny_monday["prospecting_planned_minutes"] and syd_monday["prospecting_planned_minutes"]
    # Monday is over in Sydney (kept known) and still today in New York (not yet).
    assert syd_monday["prospecting_kept_minutes"] is not None
    assert ny_monday["prospecting_kept_minutes"] is None
    assert syd["days"][1]["prospecting_planned_minutes"]  # Tuesday has begun in Sydney
    assert ny["days"][1]["prospecting_planned_minutes"] is None
    # New York's Sunday run recorded nothing for a day off, in either week.
    code, out, _ = run(capsys, *args, "--week", "2026-W48")
    previous = {r["account"]: r for r in json.loads(out)["reports"]}
    assert not previous["ny"]["recorded"] and not previous["syd"]["recorded"]
