"""The hold's property tests (test_hold_properties.py) on an IMAP mailbox, against a
real Dovecot: the same scenarios, runs, crashes and properties, with the messages
appended to a real server and read back from it by another client.

Crashes come between the single-message moves (`UID MOVE`, atomic on the server) and
inside listings, as on the other mailboxes. Crashes inside the three-step move of a
server without MOVE are tested in tests/providers/test_imap.py, where a message may
be in both folders until the next call finishes the move.
"""

from __future__ import annotations

import imaplib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import example, given, settings

pytest.importorskip("imapclient", reason="the IMAP mailbox needs imapclient")

from providers.imap.ids import ALERT_HEADER
from providers.imap.mailbox import ImapMailbox
from tests.servers.dovecot import PASSWORD, Dovecot, running
from tests.worker.test_hold_properties import (
    AFTER_THE_RELEASE,
    CRASHES,
    ME,
    MEETING,
    Arrive,
    Expected,
    Fuse,
    Scenario,
    play,
    scenarios,
    scratch,
)
from worker.models import Alert, Message

HELD = "Firstblock-Held"
FLAGS = {"S": "\\Seen", "F": "\\Flagged", "R": "\\Answered"}


class CrashingImapMailbox(ImapMailbox):
    def __init__(self, server: Dovecot, user: str) -> None:
        super().__init__(
            server.host, server.imap_port, user=user, password=PASSWORD, ssl="none", timeout=10
        )
        self.fuse = Fuse()

    def list_inbox(self, since: datetime | None) -> list[Message]:
        self.fuse.tick()
        return super().list_inbox(since)

    def list_held(self) -> list[Message]:
        self.fuse.tick()
        return super().list_held()

    def _move(self, source: str, target: str, ids: Sequence[str], found: set[str]) -> int:
        # One message at a time, so a crash can come after some but not all.
        moved = 0
        for i in ids:
            if not self.fuse.after:
                self.fuse.tick()
            moved += super()._move(source, target, [i], found)
            if self.fuse.after:
                self.fuse.tick()
        return moved


@dataclass
class ImapOutside:
    """Appends like a delivery would and reads every folder with its own client."""

    box: CrashingImapMailbox
    server: Dovecot
    user: str
    expected: dict[str, Expected] = field(default_factory=dict)
    imap: imaplib.IMAP4 = field(init=False)

    def __post_init__(self) -> None:
        self.imap = imaplib.IMAP4(self.server.host, self.server.imap_port)
        self.imap.login(self.user, PASSWORD)

    @property
    def fuse(self) -> Fuse:
        return self.box.fuse

    def arrive(self, n: int, arrival: Arrive, received: datetime) -> None:
        nl = "\r\n" if arrival.crlf else "\n"
        lines = ["From: " + arrival.sender[0].format(nl=nl), f"To: {ME}", f"Subject: note {n}"]
        if n % 2:  # half with a Message-ID, half found by their other headers
            lines.append(f"Message-ID: <note{n}@outside.test>")
        body = nl.join([*lines, "", f"body {n} that must never change", ""]).encode()
        flags = frozenset(FLAGS[c] for c in arrival.read or "")
        when = imaplib.Time2Internaldate(received)
        shown = f"({' '.join(sorted(flags))})" if flags else None
        assert self.imap.append("INBOX", shown, when, body)[0] == "OK"
        # The server keeps CRLF line ends whatever was sent; that is what it returns.
        stored = body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        key = f"note {n}"
        self.expected[key] = Expected(key, arrival.sender[1], received, flags=flags, body=stored)

    def notify(self, key: str, created: datetime) -> None:
        self.box.deliver(Alert(key, "firstblock", "text", created))
        for name, (_, _, body) in self._read("INBOX").items():
            if name not in self.expected:
                self.expected[name] = Expected(name, "", created, alert=True, body=body)

    def _read(self, folder: str) -> dict[str, tuple[frozenset[str], datetime, bytes]]:
        """Every message in `folder` by its key: (flags, arrival, bytes)."""
        typ, count = self.imap.select(f'"{folder}"', readonly=True)
        if typ != "OK":
            return {}
        found: dict[str, tuple[frozenset[str], datetime, bytes]] = {}
        if count[0] == b"0":
            self.imap.close()
            return found
        _, data = self.imap.fetch("1:*", "(FLAGS INTERNALDATE BODY.PEEK[])")
        for part in data:
            if not isinstance(part, tuple):
                continue
            meta, body = part
            flags = frozenset(f.decode() for f in imaplib.ParseFlags(meta) if f != b"\\Recent")
            key = _key(body)
            assert key not in found, f"{key} twice in {folder}"
            found[key] = (flags, _arrival(meta), body)
        self.imap.close()
        return found

    def places(self) -> dict[str, bool]:
        found: dict[str, bool] = {}
        for folder, held in (("INBOX", False), (HELD, True)):
            for key, (flags, arrival, body) in self._read(folder).items():
                assert key not in found, f"{key} in the inbox and the hold"
                e = self.expected[key]
                assert body == e.body, "content changed"
                if not e.alert:
                    assert (flags, arrival) == (e.flags, e.received), "flags changed"
                found[key] = held
        assert set(found) == set(self.expected)
        return found

    def close(self) -> None:
        self.imap.logout()
        self.box.close()


def _key(body: bytes) -> str:
    alert = re.search(rb"^" + ALERT_HEADER.encode() + rb": *(.+?)\r?$", body, re.M | re.I)
    if alert:
        return "alert " + alert.group(1).decode()
    subject = re.search(rb"^Subject: (note \d+)", body, re.M)
    assert subject, body[:200]
    return subject.group(1).decode()


def _arrival(meta: bytes) -> datetime:
    found = re.search(rb'INTERNALDATE "([^"]+)"', meta)
    assert found
    return datetime.strptime(found.group(1).decode(), "%d-%b-%Y %H:%M:%S %z")


@pytest.fixture(scope="module")
def server() -> Iterator[Dovecot]:
    with running() as dovecot:
        yield dovecot


@settings(max_examples=40, deadline=None)
@given(scenario=scenarios())
@example(scenario=AFTER_THE_RELEASE)
@example(scenario=CRASHES)
@example(scenario=MEETING)
def test_the_hold_keeps_every_message_and_returns_it_on_imap(
    server: Dovecot, scenario: Scenario
) -> None:
    user = server.new_user()
    outside = ImapOutside(CrashingImapMailbox(server, user), server, user)
    try:
        with scratch() as tmp:
            play(scenario, "imap", Path(tmp), outside=outside)
    finally:
        outside.close()
