"""Whole cycles on the emulator with faults injected at a high rate end where the same
cycles without faults end: no duplicate block, no foreign event touched, no mail lost."""

from __future__ import annotations

import email
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from providers.google import mapping
from tests.emulators.google import GoogleEmulator
from tests.providers.day import MONDAY, run_day
from tests.providers.google_fixtures import ME, Sleeps, connected, timed

FAULTS = ("429", "403-rate", "403-user-rate", "500", "503", "drop", "drop-after")


def scenario(emu: GoogleEmulator) -> None:
    for day in range(5):
        start = MONDAY.replace(hour=11) + timedelta(days=day)
        emu.put_event(
            {
                "id": f"meet{day}0",
                "summary": f"Acme call {day}",
                "start": timed(start),
                "end": timed(start + timedelta(hours=1)),
                "attendees": [{"email": "jane@acme.com"}, {"email": ME, "self": True}],
            }
        )
    friday = MONDAY.replace(hour=15) - timedelta(days=3)  # a client meeting with no next one
    emu.put_event(
        {
            "id": "globex0",
            "summary": "Globex review",
            "start": timed(friday),
            "end": timed(friday + timedelta(hours=1)),
            "attendees": [{"email": "bob@globex.com"}, {"email": ME, "self": True}],
        }
    )
    for i in range(12):
        received = MONDAY.replace(hour=8, minute=40) + timedelta(minutes=i)
        emu.arrive(sender=f"person{i}@vendor{i % 3}.com", received=received)
    emu.arrive(sender="boss@example.com", received=MONDAY.replace(hour=8, minute=45))


def cycles(
    emu: GoogleEmulator,
    tmp_path: Path,
    sleeps: Callable[[float], None],
    each_step: Callable[[int], None] | None = None,
) -> list[str]:
    """Monday's runs every 30 minutes; return the errors seen."""
    return run_day(
        lambda: connected(emu, tmp_path / "memo.json", sleeps),
        provider="google",
        email=ME,
        boss="boss@example.com",
        folder=tmp_path,
        pause=sleeps,
        each_step=each_step,
    )


def picture(emu: GoogleEmulator) -> tuple[Any, ...]:
    """The account as its user sees it: blocks by key, other events, every message."""
    blocks = sorted(
        (e["extendedProperties"]["private"]["firstblock_key"], e["start"]["dateTime"])
        for e in emu.events()
        if mapping.is_owned(e) and e.get("status") != "cancelled"
    )
    others = sorted(
        (e["id"], e["etag"], e.get("summary")) for e in emu.events() if not mapping.is_owned(e)
    )
    kept = [m for m in emu.messages() if "TRASH" not in m["labelIds"]]
    alerts = sorted(m["raw"].split(b"Subject: ")[1].split(b"\n")[0] for m in kept if _alert(m))
    # By sender and arrival, not id: ids count every message stored, alerts included.
    drafts = sorted(m["raw"].split(b"Subject: ")[1].split(b"\n")[0] for m in kept if _draft(m))
    mail = sorted(
        (_sender(m), m["internalDate"], tuple(sorted(m["labelIds"])))
        for m in kept
        if not _alert(m) and not _draft(m)
    )
    return tuple(blocks), tuple(others), tuple(mail), tuple(alerts), tuple(drafts)


def _draft(message: dict[str, Any]) -> bool:
    return "DRAFT" in message["labelIds"]


def _sender(message: dict[str, Any]) -> str:
    parsed = email.message_from_bytes(message["raw"])
    return str(parsed["From"])


def _alert(message: dict[str, Any]) -> bool:
    return b"X-Firstblock-Alert: 1" in message["raw"]


@pytest.mark.parametrize("seed", [1, 2])
def test_faults_at_30_percent_change_nothing_in_the_end(tmp_path: Path, seed: int) -> None:
    calm, stormy = GoogleEmulator(email=ME).start(), GoogleEmulator(email=ME, seed=seed).start()
    try:
        for emu in (calm, stormy):
            emu.clock = lambda: MONDAY  # same etags' inputs on both sides
            scenario(emu)
        assert cycles(calm, tmp_path / "calm", Sleeps()) == []
        stormy.inject(0.3, FAULTS, retry_after=0.01)
        errors = cycles(stormy, tmp_path / "stormy", Sleeps())
        stormy.inject(0)
        cycles(stormy, tmp_path / "stormy", Sleeps())  # the weather clears: one more day
        blocks, others, mail, alerts, drafts = picture(stormy)
        calm_blocks, calm_others, calm_mail, calm_alerts, calm_drafts = picture(calm)
        assert len(calm_alerts) == 2  # the Globex gap, once, and the day's digest
        assert alerts == calm_alerts
        assert len(calm_drafts) == 1 and drafts == calm_drafts  # its draft, once
        assert blocks == calm_blocks
        assert len({key for key, _ in blocks}) == len(blocks)
        assert [(i, s) for i, _, s in others] == [(i, s) for i, _, s in calm_others]
        assert mail == calm_mail
        assert all("INBOX" in labels for *_, labels in mail)  # released at the end of the day
        assert len(stormy.requests) > len(calm.requests)  # faults were really injected
        assert all(e.startswith(("calendar: ", "mail: ", "alerts: ")) for e in errors)
    finally:
        calm.stop()
        stormy.stop()
