"""The Outlook provider wired to the Graph emulator: real requests, real TLS sockets."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from providers.memo import Memo
from providers.outlook.auth import Grant
from providers.outlook.calendar import OutlookCalendar
from providers.outlook.mail import OutlookMailbox
from providers.outlook.session import Options, Session
from tests.emulators.graph import GraphEmulator
from tests.providers.google_fixtures import Sleeps

ME = "rep@contoso.com"
TIMEOUT = 30.0  # the client's timeout; the chaos test shortens it

__all__ = ["ME", "Sleeps", "graph", "outlook"]


@pytest.fixture
def graph() -> Iterator[GraphEmulator]:
    emu = GraphEmulator(require_auth=False).start()
    emu.user(ME, timezone="Eastern Standard Time")
    try:
        yield emu
    finally:
        emu.stop()


def session(
    emu: GraphEmulator,
    memo: Path | None,
    sleeps: Callable[[float], None],
    upn: str = ME,
    http: requests.Session | None = None,
) -> Session:
    """`http`: a client kept across sessions, as serve keeps its connections."""
    http = http or emu.http_client()  # trusts the emulator's CA, whatever the environment says
    # Another mailbox than the first is reached as /users/{upn}, as app-only access does;
    # a token of its own keeps the emulator's Retry-After bookkeeping per account.
    grant = Grant(lambda force: f"emulator-token-{upn}", upn, upn != ME)
    clock = getattr(sleeps, "monotonic", time.monotonic)
    options = Options(name="rep", api_root=emu.url, sleep=sleeps, monotonic=clock, timeout=TIMEOUT)
    return Session(options, grant, Memo(memo), http)


def outlook(
    emu: GraphEmulator,
    memo: Path | None,
    sleeps: Callable[[float], None],
    upn: str = ME,
    http: requests.Session | None = None,
) -> tuple[OutlookCalendar, OutlookMailbox]:
    shared = session(emu, memo, sleeps, upn, http)
    return OutlookCalendar(shared, name="rep"), OutlookMailbox(shared, name="rep")


def timed(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


@dataclass
class OutlookOutside:
    """The user, in Outlook, behind the worker's back."""

    emu: GraphEmulator

    def _id(self, key: str) -> str:
        for e in self.emu.events():
            for p in e.get("singleValueExtendedProperties") or ():
                if p.get("id", "").endswith("firstblock.key") and p.get("value") == key:
                    return str(e["id"])
        raise KeyError(key)

    def add_event(self, uid: str, title: str, start: datetime, end: datetime) -> None:
        self.emu.put_event({"id": uid, "subject": title, "start": timed(start), "end": timed(end)})

    def move_block(self, key: str, start: datetime, end: datetime) -> None:
        self.emu.patch_event(self._id(key), {"start": timed(start), "end": timed(end)})

    def retitle_block(self, key: str, title: str) -> None:
        self.emu.patch_event(self._id(key), {"subject": title})

    def delete_block(self, key: str) -> None:
        self.emu.delete_event(self._id(key))


@dataclass
class OutlookMailOutside:
    emu: GraphEmulator

    def arrive(self, sender: str, received: datetime, *, read: bool = False) -> str:
        return self.emu.arrive(sender=sender, received=received, is_read=read)

    def flags(self, message_id: str) -> frozenset[str]:
        m = self.emu.message(message_id)
        flags = {"read"} if m.get("isRead") else set()
        if (m.get("flag") or {}).get("flagStatus") == "flagged":
            flags.add("flagged")
        return frozenset(flags | {f"category:{c}" for c in m.get("categories") or ()})

    def content(self, message_id: str) -> bytes:
        m = self.emu.message(message_id)
        return repr((m.get("subject"), m.get("body"))).encode()

    def drafts(self) -> list[tuple[tuple[str, ...], str]]:
        return sorted(
            (
                tuple(sorted(r["emailAddress"]["address"] for r in m.get("toRecipients") or ())),
                str(m.get("subject")),
            )
            for m in self.emu.messages()
            if m["folder"] == "drafts" and m.get("isDraft")
        )

    def sent(self) -> int:
        sends = [r for r in self.emu.requests if r.path.lower().endswith(("/sendmail", "/send"))]
        return len(sends) + sum(1 for m in self.emu.messages() if m["folder"] == "sentitems")
