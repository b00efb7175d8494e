"""Requests per account-cycle for a CalDAV calendar and an IMAP mailbox, counted at
the client, against real Radicale and Dovecot on loopback (tests/servers/).

The same Monday as bench/requests.py: the rep's meetings, mail overnight, a meeting
moved, the hold's start, mail arriving while holding, the release. Every cycle opens
the calendar and the mailbox afresh, with their memos as the last cycle left them
(as `firstblock run` from cron does, and `serve` for each cycle), so the figures
include the IMAP login (the greeting, LOGIN, CAPABILITY) each cycle pays.

The naive baseline does the same job the obvious way (bench/naive.py): each cycle it
lists the window in full and rewrites every planned block, one PUT each; it logs in
to IMAP, lists and fetches the headers of the whole inbox (or the held folder), and
moves each message with a command of its own. HTTP requests and IMAP commands are
counted, not timed.
"""

from __future__ import annotations

import dataclasses
import imaplib
import json
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Any

import requests as http

from bench.naive import Naive
from bench.requests import (
    HELD,
    MONDAY,
    OVERNIGHT,
    SCENARIOS,
    ZONE,
    at,
    during_hold,
    meetings,
    moved,
    moved_to,
    overnight,
)
from providers.caldav.calendar import CalDAVCalendar
from providers.imap.folders import HELD as HELD_FOLDER
from providers.imap.mailbox import ImapMailbox
from tests.servers import dovecot, radicale
from worker import hold
from worker.config import Account, Alerts, Config, Hold, default_config
from worker.cycle import AccountRun, run_account, with_calendar_hours
from worker.gapcheck import channels, run_gaps
from worker.inbox import run_hold
from worker.models import Block, Change, Event, Op, Window
from worker.state import State

DOMAIN = "example.com"


@dataclasses.dataclass
class Servers:
    dav: radicale.Radicale
    imap: dovecot.Dovecot
    calendar: str = ""  # the collection's URL
    user: str = ""  # the IMAP login
    _outside: imaplib.IMAP4 | None = None  # the mail's delivery, as another client

    def new_account(self) -> None:
        self.calendar = f"{self.dav.url}{radicale.USER}/{uuid.uuid4().hex}/"
        answer = http.request(
            "MKCALENDAR", self.calendar, auth=(radicale.USER, radicale.PASSWORD), timeout=10
        )
        answer.raise_for_status()
        self.user = self.imap.new_user()
        if self._outside is not None:
            self._outside.logout()
            self._outside = None

    def put(self, meeting: Any, start: datetime | None = None) -> None:
        start = start or meeting.start
        end = start + timedelta(minutes=meeting.minutes)
        people = ""
        if meeting.guest:
            people = (
                f"ORGANIZER:mailto:{self.user}\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:{self.user}"
                f"\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:{meeting.guest}\r\n"
            )
        text = (
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{meeting.id}\r\nDTSTAMP:20261101T000000Z\r\nSUMMARY:{meeting.title}\r\n"
            f"DTSTART:{_utc(start)}\r\nDTEND:{_utc(end)}\r\n{people}"
            "END:VEVENT\r\nEND:VCALENDAR\r\n"
        )
        answer = http.put(
            f"{self.calendar}{meeting.id}.ics",
            data=text.encode(),
            auth=(radicale.USER, radicale.PASSWORD),
            headers={"Content-Type": "text/calendar"},
            timeout=10,
        )
        answer.raise_for_status()

    def arrive(self, sender: str, received: datetime, n: int) -> None:
        raw = (
            f"From: {sender}\r\nTo: {self.user}\r\nSubject: note {n}\r\n"
            f"Message-ID: <bench{n}@outside>\r\n\r\nhello\r\n"
        ).encode()
        if self._outside is None:
            self._outside = imaplib.IMAP4(self.imap.host, self.imap.imap_port)
            self._outside.login(self.user, dovecot.PASSWORD)
        self._outside.append("INBOX", None, imaplib.Time2Internaldate(received), raw)

    def calendar_provider(self, memo: dict[str, Any] | None) -> CalDAVCalendar:
        return CalDAVCalendar(
            self.calendar, radicale.USER, radicale.PASSWORD, name="rep", memo=memo
        )

    def mailbox(self, memo: dict[str, Any]) -> ImapMailbox:
        return ImapMailbox(
            self.imap.host,
            self.imap.imap_port,
            user=self.user,
            password=dovecot.PASSWORD,
            ssl="none",
            name="rep",
            memo=memo,
        )


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def settings(email: str) -> tuple[Config, Account]:
    """The default config in New York, the hold on for everyone but the boss, alerts off."""
    base = default_config()
    # CalDAV declares no zone and working hours here (Radicale keeps none): the config's.
    config = dataclasses.replace(
        base, timezone=ZONE, hold=Hold(True, (f"boss@{DOMAIN}",), 2), alerts=Alerts(email=False)
    )
    account = dataclasses.replace(base.accounts[0], name="rep", provider="caldav", email=email)
    return config, account


class Ours:
    """firstblock's cycle, on a calendar and mailbox opened afresh with their memos."""

    def __init__(self, servers: Servers, state: State) -> None:
        self.servers, self.state = servers, state
        self.config, self.account = settings(servers.user)
        self.memos: dict[str, str] = {"calendar": "{}", "mail": "{}"}  # as the files hold them
        self.planned = (0, 0)
        self.sent = (0, 0)  # the last cycle's HTTP requests and IMAP commands

    def cycle(self, now: datetime) -> datetime | None:
        memo = {k: json.loads(v) for k, v in self.memos.items()}
        calendar = self.servers.calendar_provider(memo["calendar"])
        mailbox = self.servers.mailbox(memo["mail"])
        config = with_calendar_hours(self.config, calendar)[0]
        run = AccountRun.start(config, self.account, calendar, self.state, now)
        outcome = run_account(run, calendar, apply=True)
        held = run_hold(run, mailbox, outcome, apply=True)
        run_gaps(run, outcome, channels(config, mailbox, None), apply=True)
        self.planned = (len(outcome.events), len(outcome.plan.blocks))
        self.sent = (calendar.requests, mailbox.commands)
        mailbox.close()
        self.memos = {k: json.dumps(v) for k, v in memo.items()}
        return held.release_at


class NaiveDav(Naive):
    """bench/naive.py's strategy on CalDAV and IMAP: list everything, rewrite every
    block, move every message with a command of its own."""

    def __init__(self, servers: Servers) -> None:
        super().__init__(*settings(servers.user), ZONE)
        self.servers = servers
        self.requests = self.commands = 0
        self.imap: imaplib.IMAP4 | None = None
        self.calendar: CalDAVCalendar | None = None

    def cycle(self, now: datetime) -> datetime | None:
        self.requests = self.commands = 0
        self.calendar = self.servers.calendar_provider(None)  # remembers nothing
        try:
            return super().cycle(now)
        finally:
            self.requests = self.calendar.requests
            if self.imap is not None:
                self.imap.logout()
                self.commands += 1
                self.imap = None
            self.sent = (self.requests, self.commands)

    def _box(self) -> imaplib.IMAP4:
        if self.imap is None:
            self.imap = imaplib.IMAP4(self.servers.imap.host, self.servers.imap.imap_port)
            self.imap.login(self.servers.user, dovecot.PASSWORD)
            self.commands += 3  # the greeting, CAPABILITY, LOGIN
        return self.imap

    def list_calendar(
        self, start: datetime, end: datetime, fallback: datetime
    ) -> tuple[list[Event], dict[str, Block]]:
        assert self.calendar is not None
        found = self.calendar.fetch(Window(start, end, ZONE))
        return list(found.events), {b.key: b for b in found.blocks}

    def _write(self, change: Change) -> None:
        assert self.calendar is not None
        self.calendar.apply([change])

    def insert(self, block: Block) -> None:
        self._write(Change(Op.CREATE, block))

    def rewrite(self, block: Block, found: Block) -> None:
        self._write(Change(Op.UPDATE, dataclasses.replace(block, etag=found.etag), before=found))

    def remove(self, found: Block) -> None:
        self._write(Change(Op.DELETE, found, before=found))

    def _senders(self, folder: str) -> dict[str, str]:
        box = self._box()
        self.commands += 1
        if box.select(folder)[0] != "OK":
            return {}
        self.commands += 1
        _, data = box.uid("SEARCH", "ALL")
        uids = (data[0] or b"").decode().split()
        if not uids:
            return {}
        self.commands += 1
        _, parts = box.uid("FETCH", ",".join(uids), "(BODY.PEEK[HEADER.FIELDS (FROM)])")
        found = {}
        for part in parts:
            if isinstance(part, tuple):
                uid = part[0].split(b"UID ")[1].split()[0].decode()
                found[uid] = parseaddr(part[1].decode().split(":", 1)[1])[1].lower()
        return found

    def list_inbox(self, since: datetime, allow: hold.AllowList) -> list[str]:
        return [u for u, sender in self._senders("INBOX").items() if not allow.allows(sender)]

    def list_held(self) -> list[str]:
        return list(self._senders(HELD_FOLDER))

    def move(self, ident: str, *, held: bool) -> None:
        box = self._box()
        if held:
            self.commands += 1
            box.create(HELD_FOLDER)  # answered NO when it exists; a naive client asks
        self.commands += 1
        box.uid("MOVE", ident, HELD_FOLDER if held else "INBOX")


@contextmanager
def servers() -> Iterator[Servers]:
    dav = radicale.Radicale()
    imap = dovecot.Dovecot(dovecot.dovecot_or_skip())
    dav.start()
    try:
        imap.start()
        try:
            yield Servers(dav, imap)
        finally:
            imap.stop()
    finally:
        dav.remove()


def day(found: Servers, strategy: str, n: int) -> dict[str, Any]:
    """The Monday under one strategy: each counted cycle's requests and commands."""
    found.new_account()
    calendar = [
        dataclasses.replace(m, guest=m.guest.format(domain=DOMAIN))
        for m in meetings()
        if abs((m.start.date() - MONDAY).days) <= 14  # the window and the look back
    ]
    for m in calendar:
        found.put(m)
    arrivals = iter(range(1_000_000))
    for sender, received in overnight():
        found.arrive(sender.format(domain=DOMAIN), received, next(arrivals))
    with tempfile.TemporaryDirectory() as folder:
        state = State(Path(folder) / "state.sqlite3")
        runner: Ours | NaiveDav = (
            Ours(found, state) if strategy == "firstblock" else NaiveDav(found)
        )
        counts: dict[str, dict[str, int]] = {}

        def count(name: str, now: datetime) -> datetime | None:
            release = runner.cycle(now)
            counts[name] = {"http": runner.sent[0], "imap": runner.sent[1]}
            return release

        try:
            count("first_run", at(7))
            runner.cycle(at(7, 15))  # reads its own writes back
            count("steady", at(7, 30))
            demo = moved(calendar)
            found.put(demo, moved_to(demo)[0])
            count("moved", at(7, 45))
            release = count("hold_start", at(8, 30))
            runner.cycle(at(8, 45))
            count("steady_holding", at(9))
            for sender, received in during_hold(n - OVERNIGHT):
                found.arrive(sender, received, next(arrivals))
            count("arrivals", at(9, 15))
            count("steady_held", at(9, 30))
            assert release is not None, "no hold on a Monday with an admin block"
            count("release", release)
        finally:
            state.close()
    return counts


def run(quick: bool) -> dict[str, Any]:
    n = HELD[quick]
    labels = {
        key: label.format(arrive=f"{n - OVERNIGHT:,}", held=f"{n:,}", inbox=OVERNIGHT + 1)
        for key, label in SCENARIOS.items()
    }
    with servers() as found:
        ours, naive = day(found, "firstblock", n), day(found, "naive", n)
    rows = [
        {"scenario": key, "label": label, "firstblock": ours[key], "naive": naive[key]}
        for key, label in labels.items()
    ]
    return {
        "settings": {
            "quick": quick,
            "servers": "Radicale (CalDAV) and Dovecot (IMAP) on loopback",
            "held_messages": n,
        },
        "rows": rows,
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "### CalDAV and IMAP: requests per account-cycle",
        "",
        f"{result['settings']['servers']}; HTTP requests to the calendar and IMAP commands "
        "(the login's three included) per cycle, firstblock against the naive strategy.",
        "",
        "| Cycle | firstblock HTTP | naive HTTP | firstblock IMAP | naive IMAP |",
        "|---|--:|--:|--:|--:|",
    ]
    for r in result["rows"]:
        ours, naive = r["firstblock"], r["naive"]
        lines.append(
            f"| {r['label']} | {ours['http']} | {naive['http']} | {ours['imap']} | "
            f"{naive['imap']} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(run(quick=True)))
