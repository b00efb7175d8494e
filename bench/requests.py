"""Requests per account-cycle (issue 8), counted at the emulators, for Google and Outlook.

One account lives through a Monday, cycle by cycle, against the loopback emulators:
the real worker (`run_account`, `run_hold`, `run_gaps`, each cycle on a fresh session
with its memory read from disk, as `firstblock run` does it) and, on an emulator of its
own with the same calendar and mail, the naive baseline of `bench.naive`. The cycles
counted are the scenarios below; the others are cycles the day needs between them
(the one after a write reads the writes back, as the cassette tests show). Each figure
is one account-cycle: the emulator's log is cleared before the cycle and read after.

A batch envelope counts as one request (its sub-requests are reported beside it), in
the API of its parts; a request is a write unless it is a GET (a batch: unless all its
parts are). Alerts are off: the follow-up alerts and the daily digest are mail the
naive baseline has no counterpart for (on, the digest is delivered at the release).
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from bench.naive import MAIL_TOP, VIEW_TOP, Naive, NaiveGoogle, NaiveOutlook
from providers.google import calendar as gcal
from providers.google import gmail
from providers.google import session as gsession
from providers.outlook import calendar as ocal
from providers.outlook import session as osession
from tests.emulators.google import GoogleEmulator
from tests.emulators.graph import GraphEmulator
from tests.providers import google_fixtures, outlook_fixtures
from worker.config import Account, Alerts, Config, Hold, default_config
from worker.cycle import AccountRun, run_account, with_calendar_hours
from worker.gapcheck import channels, run_gaps
from worker.inbox import run_hold
from worker.state import State

ZONE = "America/New_York"
NY = ZoneInfo(ZONE)
MONDAY = date(2026, 11, 30)
HELD = {True: 50, False: 1_000}  # messages held at the release, by `quick`
OVERNIGHT = 10  # of them in the inbox when the workday starts (with one allowed message)

SCENARIOS = {  # the cycles counted, in the order of the day
    "first_run": "first run",
    "steady": "steady state",
    "moved": "one meeting moved",
    "hold_start": "hold start, {inbox} in the inbox",
    "steady_holding": "steady state, holding",
    "arrivals": "{arrive} arrive while holding",
    "steady_held": "steady state, {held} held",
    "release": "release of {held} held",
}


def at(hour: int, minute: int = 0, day: date = MONDAY) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=NY)


# -- the account's calendar and mail, the same for every provider and strategy


@dataclass(frozen=True)
class Meeting:
    id: str
    title: str
    start: datetime
    minutes: int
    guest: str = ""  # the other attendee: at a client's domain, a client meeting


def meetings() -> list[Meeting]:
    """A rep's weeks: a stand-up, two client meetings and a 1:1 every workday, from
    three weeks back (the follow-up check reads back) to six weeks ahead."""
    out: list[Meeting] = []
    for offset in range(-21, 43):
        day = MONDAY + timedelta(days=offset)
        if day.weekday() >= 5:
            continue
        n = len(out)
        out += [
            Meeting(f"ev{n:05d}", "Stand-up", at(9, 30, day), 15),
            Meeting(f"ev{n + 1:05d}", "Discovery call", at(11, 0, day), 45, f"buyer@client{n}.com"),
            Meeting(f"ev{n + 2:05d}", "1:1", at(13, 0, day), 30, "manager@{domain}"),
            Meeting(f"ev{n + 3:05d}", "Demo", at(14, 0, day), 60, f"cto@client{n + 3}.com"),
        ]
    return out


def moved(all_meetings: list[Meeting]) -> Meeting:
    """Monday's demo, the client meeting that moves: from 14:00 to 15:30."""
    return next(m for m in all_meetings if m.start == at(14))


def moved_to(m: Meeting) -> tuple[datetime, datetime]:
    return m.start + timedelta(minutes=90), m.start + timedelta(minutes=90 + m.minutes)


def overnight() -> list[tuple[str, datetime]]:
    """Mail since Friday's end of the workday: from others, and one allowed sender."""
    mail = [
        (f"sales{i}@vendor{i % 4}.io", at(22, i, MONDAY - timedelta(1))) for i in range(OVERNIGHT)
    ]
    return [*mail, ("boss@{domain}", at(7, 45))]


def during_hold(n: int) -> list[tuple[str, datetime]]:
    return [
        (f"news{i % 97}@list{i % 13}.io", at(9, 5) + timedelta(seconds=i / 10)) for i in range(n)
    ]


# -- the providers


class Logged(Protocol):
    """What both emulators log of a request (tests/emulators/*/wire.py)."""

    method: str
    path: str
    batch_part: bool


@dataclass
class Firstblock:
    """The worker's cycle for one account, as `worker.runner` runs it (no lock, no log)."""

    open: Callable[[], tuple[Any, Any]]  # a fresh calendar and mailbox, as a new process
    config: Config
    account: Account
    state: State
    planned: tuple[int, int] = (0, 0)  # the last cycle's events read and blocks planned

    def cycle(self, now: datetime) -> datetime | None:
        calendar, mailbox = self.open()
        config = with_calendar_hours(self.config, calendar)[0]
        run = AccountRun.start(config, self.account, calendar, self.state, now)
        outcome = run_account(run, calendar, apply=True)
        held = run_hold(run, mailbox, outcome, apply=True)
        run_gaps(run, outcome, channels(config, mailbox, None), apply=True)
        self.planned = (len(outcome.events), len(outcome.plan.blocks))
        return held.release_at


class Provider:
    """One provider: its emulator, the account on it, and both strategies' cycles."""

    name = key = email = domain = ""

    def settings(self) -> tuple[Config, Account]:
        """The default config, with the hold on for everyone but the boss, and alerts off."""
        base = default_config()
        boss = f"boss@{self.domain}"
        config = dataclasses.replace(base, hold=Hold(True, (boss,), 2), alerts=Alerts(email=False))
        account = dataclasses.replace(
            base.accounts[0], name="rep", provider=self.key, email=self.email
        )
        return config, account

    def emulator(self) -> Any:
        raise NotImplementedError

    def firstblock(self, emu: Any, memo: Path, state: State) -> Firstblock:
        raise NotImplementedError

    def naive(self, emu: Any) -> Naive:
        raise NotImplementedError

    def put(self, emu: Any, m: Meeting) -> None:
        raise NotImplementedError

    def move(self, emu: Any, m: Meeting) -> None:
        raise NotImplementedError

    def arrive(self, emu: Any, sender: str, received: datetime) -> None:
        emu.arrive(sender=sender, received=received)


class Google(Provider):
    name, key, email, domain = "Google", "google", google_fixtures.ME, "example.com"

    def emulator(self) -> GoogleEmulator:
        emu = GoogleEmulator(email=self.email).start()
        emu.clock = lambda: at(6)  # fixed stamps: the same run every time
        return emu

    def firstblock(self, emu: GoogleEmulator, memo: Path, state: State) -> Firstblock:
        sleeps = google_fixtures.Sleeps()
        return Firstblock(
            lambda: google_fixtures.connected(emu, memo, sleeps), *self.settings(), state
        )

    def naive(self, emu: GoogleEmulator) -> Naive:
        session = google_fixtures.session(emu, None, google_fixtures.Sleeps())
        return NaiveGoogle(session, *self.settings(), ZONE)

    def put(self, emu: GoogleEmulator, m: Meeting) -> None:
        me = {"email": self.email, "self": True, "responseStatus": "accepted"}
        guests = [{"email": m.guest, "responseStatus": "accepted"}] if m.guest else []
        end = m.start + timedelta(minutes=m.minutes)
        emu.put_event(
            {
                "id": m.id,
                "summary": m.title,
                "start": google_fixtures.timed(m.start),
                "end": google_fixtures.timed(end),
                "attendees": [me, *guests] if guests else [],
            }
        )

    def move(self, emu: GoogleEmulator, m: Meeting) -> None:
        start, end = moved_to(m)
        emu.patch_event(
            m.id, {"start": google_fixtures.timed(start), "end": google_fixtures.timed(end)}
        )


class Outlook(Provider):
    name, key, email, domain = "Outlook", "outlook", outlook_fixtures.ME, "contoso.com"

    def emulator(self) -> GraphEmulator:
        emu = GraphEmulator(require_auth=False).start()  # seed 0: the same ids every run
        emu.clock = lambda: at(6).astimezone(UTC)
        # The mailbox's working hours are the config's workday, as in the cassette tests.
        hours = {"startTime": "08:30:00.0000000", "endTime": "17:30:00.0000000"}
        emu.user(self.email, timezone="Eastern Standard Time", working_hours=hours)
        return emu

    def firstblock(self, emu: GraphEmulator, memo: Path, state: State) -> Firstblock:
        sleeps = outlook_fixtures.Sleeps()
        return Firstblock(
            lambda: outlook_fixtures.outlook(emu, memo, sleeps), *self.settings(), state
        )

    def naive(self, emu: GraphEmulator) -> Naive:
        session = outlook_fixtures.session(emu, None, outlook_fixtures.Sleeps())
        return NaiveOutlook(session, *self.settings(), ZONE)

    def put(self, emu: GraphEmulator, m: Meeting) -> None:
        end = m.start + timedelta(minutes=m.minutes)
        body: dict[str, Any] = {
            "id": m.id,
            "subject": m.title,
            "start": outlook_fixtures.timed(m.start),
            "end": outlook_fixtures.timed(end),
        }
        if m.guest:
            body["attendees"] = [
                {
                    "type": "required",
                    "emailAddress": {"address": m.guest, "name": m.guest.split("@")[0]},
                    "status": {"response": "accepted", "time": "0001-01-01T00:00:00Z"},
                }
            ]
            body["organizer"] = {"emailAddress": {"address": self.email, "name": "Rep"}}
            body["responseStatus"] = {"response": "organizer", "time": "0001-01-01T00:00:00Z"}
        emu.put_event(body)

    def move(self, emu: GraphEmulator, m: Meeting) -> None:
        start, end = moved_to(m)
        emu.patch_event(
            m.id, {"start": outlook_fixtures.timed(start), "end": outlook_fixtures.timed(end)}
        )


PROVIDERS: tuple[Provider, ...] = (Google(), Outlook())


# -- counting


CALENDAR = re.compile(
    r"^/(batch/)?calendar/"
    r"|^(/v1\.0)?/(me|users/[^/]+)/(events|calendar|calendarView|calendars|mailboxSettings)\b"
)
MAIL = re.compile(
    r"^/(batch/)?gmail/|^(/v1\.0)?/(me|users/[^/]+)/(mailFolders|messages|sendMail)\b"
)


def api_of(path: str) -> str:
    """calendar, mail or other (sign-in, anything else). The mailbox settings count as
    calendar: the calendar step reads them, for the zone and working hours."""
    if CALENDAR.search(path):
        return "calendar"
    return "mail" if MAIL.search(path) else "other"


@dataclass
class Tally:
    """One account-cycle's requests, as the client sent them."""

    calendar_reads: int = 0
    calendar_writes: int = 0
    mail_reads: int = 0
    mail_writes: int = 0
    other: int = 0
    batches: int = 0  # envelopes among the requests above
    sub_requests: int = 0  # what they carried
    sent: dict[str, int] = dataclasses.field(default_factory=dict)  # by method and path shape

    @property
    def total(self) -> int:
        calendar = self.calendar_reads + self.calendar_writes
        return calendar + self.mail_reads + self.mail_writes + self.other

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "total": self.total}


def tally(log: Sequence[Logged]) -> Tally:
    """Requests as the client sent them. A batch's parts are logged right after their
    envelope (the emulators run them one after another), so they are grouped that way."""
    sent: list[tuple[Logged, list[Logged]]] = []
    for r in log:
        if r.batch_part and sent:
            sent[-1][1].append(r)
        else:
            sent.append((r, []))
    t = Tally()
    for request, parts in sent:
        members = parts or [request]
        api = api_of(members[0].path)
        write = any(m.method != "GET" for m in members)
        if api == "other":
            t.other += 1
        else:
            name = f"{api}_{'writes' if write else 'reads'}"
            setattr(t, name, getattr(t, name) + 1)
        if parts:
            t.batches += 1
            t.sub_requests += len(parts)
        shape = f"{request.method} {ID.sub('/{id}', request.path)}"
        t.sent[shape] = t.sent.get(shape, 0) + 1
    return t


ID = re.compile(r"/(?=[^/]*\d)[^/]{12,}")  # an id in a path: long, with a digit


# -- the day


@dataclass
class Day:
    counts: dict[str, Tally]  # by scenario
    events: int  # events the first run read in its window
    blocks: int  # blocks it planned


def day(provider: Provider, strategy: str, n: int) -> Day:
    """One provider's Monday under one strategy ("firstblock" or "naive"), with `n`
    messages held at the release: OVERNIGHT swept at the hold's start, the rest held
    as they arrive."""
    emu = provider.emulator()
    with tempfile.TemporaryDirectory() as folder:
        state = State(Path(folder) / "state.sqlite3")
        try:
            calendar = [
                dataclasses.replace(m, guest=m.guest.format(domain=provider.domain))
                for m in meetings()
            ]
            for m in calendar:
                provider.put(emu, m)
            for sender, received in overnight():
                provider.arrive(emu, sender.format(domain=provider.domain), received)
            runner: Firstblock | Naive = (
                provider.firstblock(emu, Path(folder) / "memo.json", state)
                if strategy == "firstblock"
                else provider.naive(emu)
            )
            counts: dict[str, Tally] = {}

            def count(name: str, now: datetime) -> datetime | None:
                emu.reset_log()
                release = runner.cycle(now)
                counts[name] = tally(emu.requests)
                return release

            count("first_run", at(7))
            first = runner.planned
            runner.cycle(at(7, 15))  # reads its own writes back
            count("steady", at(7, 30))
            provider.move(emu, moved(calendar))
            count("moved", at(7, 45))
            release = count("hold_start", at(8, 30))  # the workday starts
            runner.cycle(at(8, 45))  # reads its own moves back
            count("steady_holding", at(9))
            for sender, received in during_hold(n - OVERNIGHT):
                provider.arrive(emu, sender, received)
            count("arrivals", at(9, 15))
            count("steady_held", at(9, 30))
            assert release is not None, "no hold on a Monday with an admin block"
            count("release", release)  # the admin block starts
        finally:
            state.close()
            emu.stop()
    return Day(counts, *first)


def run(quick: bool) -> dict[str, Any]:
    n = HELD[quick]
    labels = {
        key: label.format(arrive=f"{n - OVERNIGHT:,}", held=f"{n:,}", inbox=OVERNIGHT + 1)
        for key, label in SCENARIOS.items()
    }
    providers: dict[str, Any] = {}
    planned: dict[str, Any] = {}
    for provider in PROVIDERS:
        ours, naive = day(provider, "firstblock", n), day(provider, "naive", n)
        planned[provider.name] = {
            "events_read": ours.events,
            "blocks": ours.blocks,
            "naive_blocks": naive.blocks,  # the same plan, or the comparison is off
        }
        providers[provider.name] = [
            {
                "scenario": key,
                "label": label,
                "firstblock": ours.counts[key].as_dict(),
                "naive": naive.counts[key].as_dict(),
                "ratio": _ratio(naive.counts[key].total, ours.counts[key].total),
            }
            for key, label in labels.items()
        ]
    result: dict[str, Any] = {
        "settings": {
            "quick": quick,
            "day": f"{MONDAY:%A %Y-%m-%d} in {ZONE}; default config, hold on, alerts off",
            "meetings_seeded": len(meetings()),
            "planned": planned,
            "messages": {
                "inbox_at_start": OVERNIGHT + 1,  # one of them from an allowed sender
                "arriving_while_holding": n - OVERNIGHT,
                "held_at_release": n,
            },
            "held_messages": n,
            "page_sizes": {
                "google_calendar": gcal.PAGE,
                "gmail": gmail.PAGE,
                "graph_calendar_view": int(VIEW_TOP),
                "graph_delta_asked": int(ocal.PAGE.rpartition("=")[2]),
                "graph_messages": int(MAIL_TOP),
            },
            "batch_limits": {
                "google_calendar": gsession.CALENDAR_BATCH_LIMIT,
                "gmail": gsession.GMAIL_BATCH_LIMIT,
                "graph": osession.BATCH_LIMIT,
            },
        },
        "providers": providers,
    }
    result["target"] = target(providers)
    return result


# -- the target (docs/design.md §4) and the report


def target(providers: dict[str, Any]) -> dict[str, Any]:
    """Steady state: at most one calendar and one mail request, and no write."""
    misses = []
    for name, rows in providers.items():
        for row in rows:
            if not row["scenario"].startswith("steady"):
                continue
            t = row["firstblock"]
            calendar = t["calendar_reads"] + t["calendar_writes"]
            mail = t["mail_reads"] + t["mail_writes"]
            writes = t["calendar_writes"] + t["mail_writes"]
            over = [
                f"{n} {what} requests ({n - 1} over)"
                for n, what in ((calendar, "calendar"), (mail, "mail"))
                if n > 1
            ]
            over += [f"{writes} writes"] if writes else []
            over += [f"{t['other']} other requests"] if t["other"] else []
            if over:
                misses.append(f"{name}, {row['label']}: " + ", ".join(over))
    return {"met": not misses, "misses": misses}


def _ratio(naive: int, ours: int) -> float | None:
    return round(naive / ours, 1) if ours else None


def markdown(result: dict[str, Any]) -> str:
    s = result["settings"]
    pages, limits, mail = s["page_sizes"], s["batch_limits"], s["messages"]
    lines = [
        "### Requests per account-cycle",
        "",
        "Counted at the emulators, one account-cycle per row (calendar step, inbox hold,"
        f" follow-up check), {s['day']}. {s['meetings_seeded']} meetings seeded"
        f" ({_planned(s['planned'])}); {mail['inbox_at_start']} messages in the inbox at the"
        f" start of the workday (one from an allowed sender), {mail['arriving_while_holding']:,}"
        f" more arriving while the hold is on: {mail['held_at_release']:,} held at the release."
        f" Page sizes: Google Calendar {pages['google_calendar']:,}, Gmail {pages['gmail']},"
        f" Graph calendarView {pages['graph_calendar_view']} (its delta: asks"
        f" {pages['graph_delta_asked']}), Graph messages {pages['graph_messages']}. Batches carry"
        f" at most {limits['google_calendar']:,} (Calendar), {limits['gmail']} (Gmail),"
        f" {limits['graph']} (Graph) sub-requests; an envelope counts as one request, in the"
        " API of its parts. Naive (`bench/naive.py`): list the whole window and rewrite every"
        " block each cycle, move mail one request per message; its split is calendar"
        " reads/writes, mail reads/writes.",
        "",
        "| Provider | Scenario | Cal. reads | Cal. writes | Mail reads | Mail writes"
        " | Auth/other | firstblock | Batched | Naive | Naive / firstblock |",
        "|---|---|--:|--:|--:|--:|--:|--:|---|--:|--:|",
    ]
    for name, rows in result["providers"].items():
        for row in rows:
            t, n = row["firstblock"], row["naive"]
            batched = f"{t['sub_requests']:,} in {t['batches']}" if t["batches"] else ""
            naive = (
                f"{n['total']:,} ({n['calendar_reads']}/{n['calendar_writes']},"
                f" {n['mail_reads']}/{n['mail_writes']:,})"
            )
            ratio = "–" if row["ratio"] is None else f"{row['ratio']:,}×"
            lines.append(
                f"| {name} | {row['label']} | {t['calendar_reads']} | {t['calendar_writes']}"
                f" | {t['mail_reads']} | {t['mail_writes']} | {t['other']} | **{t['total']}**"
                f" | {batched} | {naive} | {ratio} |"
            )
    lines += ["", "Batched: the sub-requests the envelopes among firstblock's requests carried."]
    delta = _sent(result, "Outlook", "first_run", "GET /v1.0/me/calendarView/delta")
    if delta > 1:
        lines[-1] += (
            f" Outlook's first run reads calendarView/delta in {delta} pages: the Graph emulator"
            f" does not raise its page to the {pages['graph_delta_asked']} the worker asks for"
            " (odata.maxpagesize)."
        )
    lines += ["", _verdict(result["target"])]
    return "\n".join(lines) + "\n"


def _sent(result: dict[str, Any], provider: str, scenario: str, shape: str) -> int:
    rows = result["providers"].get(provider) or ()
    return sum(r["firstblock"]["sent"].get(shape, 0) for r in rows if r["scenario"] == scenario)


def _planned(planned: dict[str, Any]) -> str:
    said = {
        name: f"{p['events_read']} in the span the worker reads, {p['blocks']} blocks planned"
        for name, p in planned.items()
    }
    if len(set(said.values())) == 1:
        return next(iter(said.values()))
    return "; ".join(f"{name}: {text}" for name, text in said.items())


def _verdict(target: dict[str, Any]) -> str:
    head = (
        "Steady-state target (docs/design.md §4: at most 1 calendar and 1 mail request, no"
        " write, per account-cycle):"
    )
    if target["met"]:
        return f"{head} **met** in every steady-state row, both providers."
    return f"{head} **not met**: " + "; ".join(target["misses"]) + "."
