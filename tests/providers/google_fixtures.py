"""The Google provider wired to the emulator: real client library, real sockets."""

from __future__ import annotations

import email
import email.policy
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
from google.auth.credentials import AnonymousCredentials

from providers.google.calendar import GoogleCalendar
from providers.google.gmail import GmailMailbox
from providers.google.session import Options, Session
from providers.memo import Memo
from tests.emulators.google import GoogleEmulator
from worker.models import block_id

ME = "rep@example.com"
TIMEOUT = 30.0  # the client's socket timeout; the chaos test shortens it


@dataclass
class Sleeps:
    """Stands in for time.sleep: records the waits the retry policy asked for, and
    moves its own clock (`monotonic`) on by them, as real sleeping would."""

    waits: list[float] = field(default_factory=list)
    now: float = 0.0

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def emulator() -> Iterator[GoogleEmulator]:
    emu = GoogleEmulator(email=ME).start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def session(emu: GoogleEmulator, memo: Path | None, sleeps: Sleeps, **options: object) -> Session:
    clock = getattr(sleeps, "monotonic", time.monotonic)
    options = {"timeout": TIMEOUT, **options}
    opts = Options(name="rep", email=ME, api_root=emu.url, sleep=sleeps, monotonic=clock, **options)  # type: ignore[arg-type]
    return Session(opts, AnonymousCredentials(), Memo(memo))


def calendar(
    emu: GoogleEmulator, memo: Path | None, sleeps: Sleeps, **options: object
) -> GoogleCalendar:
    return GoogleCalendar(session(emu, memo, sleeps, **options), name="rep")


def mailbox(emu: GoogleEmulator, memo: Path | None, sleeps: Sleeps) -> GmailMailbox:
    return GmailMailbox(session(emu, memo, sleeps), name="rep")


def connected(
    emu: GoogleEmulator, memo: Path | None, sleeps: Sleeps
) -> tuple[GoogleCalendar, GmailMailbox]:
    """Calendar and mailbox on one session, as `providers.google.open_account` makes them."""
    shared = session(emu, memo, sleeps)
    return GoogleCalendar(shared, name="rep"), GmailMailbox(shared, name="rep")


def timed(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.isoformat()}


@dataclass
class GoogleOutside:
    """The user, in Google Calendar's own app, behind the worker's back."""

    emu: GoogleEmulator

    def add_event(self, uid: str, title: str, start: datetime, end: datetime) -> None:
        self.emu.put_event({"id": uid, "summary": title, "start": timed(start), "end": timed(end)})

    def move_block(self, key: str, start: datetime, end: datetime) -> None:
        self.emu.patch_event(block_id(key), {"start": timed(start), "end": timed(end)})

    def retitle_block(self, key: str, title: str) -> None:
        self.emu.patch_event(block_id(key), {"summary": title})

    def delete_block(self, key: str) -> None:
        self.emu.delete_event(block_id(key))


@dataclass
class GmailOutside:
    emu: GoogleEmulator

    def arrive(self, sender: str, received: datetime, *, read: bool = False) -> str:
        labels = ("INBOX",) if read else ("INBOX", "UNREAD")
        return self.emu.arrive(sender=sender, received=received, labels=labels)

    def flags(self, message_id: str) -> frozenset[str]:
        labels = set(self.emu.message(message_id)["labelIds"])
        return frozenset(labels & {"UNREAD", "STARRED", "IMPORTANT"})

    def content(self, message_id: str) -> bytes:
        raw: bytes = self.emu.message(message_id)["raw"]
        return raw

    def drafts(self) -> list[tuple[tuple[str, ...], str]]:
        out = []
        for m in self.emu.messages():
            if "DRAFT" in m["labelIds"]:
                msg = email.message_from_bytes(m["raw"], policy=email.policy.default)
                to = tuple(sorted(a.strip() for a in str(msg["To"]).split(",")))
                out.append((to, str(msg["Subject"])))
        return sorted(out)

    def sent(self) -> int:
        sends = [r for r in self.emu.requests if r.path.endswith(("/send", "/drafts/send"))]
        return len(sends) + sum(1 for m in self.emu.messages() if "SENT" in m["labelIds"])
