"""Whole cycles on the Graph emulator with faults injected at a high rate end where
the same cycles without faults end: no duplicate block, no foreign event touched, no
mail lost or left in the held folder, one alert per gap."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from providers.outlook import mapping
from tests.emulators.graph import GraphEmulator
from tests.providers.day import MONDAY, run_day
from tests.providers.google_fixtures import Sleeps
from tests.providers.outlook_fixtures import ME, outlook, timed

FAULTS = ("429", "503", "500", "502", "504", "drop", "concurrency")


def scenario(emu: GraphEmulator, upn: str = ME) -> None:
    def attendees(*emails: str) -> list[dict[str, Any]]:
        return [{"type": "required", "emailAddress": {"address": e}} for e in emails]

    for day in range(5):
        start = MONDAY.replace(hour=11) + timedelta(days=day)
        emu.put_event(
            {
                "subject": f"Fabrikam call {day}",
                "start": timed(start),
                "end": timed(start + timedelta(hours=1)),
                "attendees": attendees("jane@fabrikam.com"),
            },
            upn,
        )
    friday = MONDAY.replace(hour=15) - timedelta(days=3)
    emu.put_event(
        {
            "subject": "Northwind review",
            "start": timed(friday),
            "end": timed(friday + timedelta(hours=1)),
            "attendees": attendees("bob@northwind.com"),
        },
        upn,
    )
    for i in range(12):
        received = MONDAY.replace(hour=8, minute=40) + timedelta(minutes=i)
        emu.arrive(sender=f"person{i}@vendor{i % 3}.com", received=received, upn=upn)
    emu.arrive(sender="boss@contoso.com", received=MONDAY.replace(hour=8, minute=45), upn=upn)


def cycles(
    emu: GraphEmulator,
    folder: Path,
    upn: str = ME,
    sleep: Callable[[float], None] | None = None,
    each_step: Callable[[int], None] | None = None,
) -> list[str]:
    """Monday's runs every 30 minutes for the mailbox `upn`; return the errors seen."""
    return run_day(
        lambda: outlook(emu, folder / "memo.json", sleep or Sleeps(), upn),
        provider="outlook",
        email=upn,
        boss="boss@contoso.com",
        folder=folder,
        pause=sleep or Sleeps(),
        each_step=each_step,
    )


def picture(emu: GraphEmulator, upn: str | None = None) -> tuple[Any, ...]:
    """What the user sees; Graph ids differ between emulators, so a prep block's key
    names its meeting by subject."""
    blocks, others = [], []
    subjects = {str(e["id"]): str(e.get("subject")) for e in emu.events(upn)}
    for e in emu.events(upn):
        tag = next(
            (
                p["value"]
                for p in e.get("singleValueExtendedProperties") or ()
                if p["id"] == mapping.BLOCK_PROP
            ),
            None,
        )
        if tag is None:
            others.append((e.get("subject"), json.dumps(e.get("start"), sort_keys=True)))
        else:
            key = str(json.loads(tag)["key"])
            if key.startswith(("meeting/", "followup/")):  # named by the meeting's id
                kind, _, meeting = key.partition("/")
                key = f"{kind}/{subjects.get(meeting, '?')}"
            blocks.append((key, json.dumps(e.get("start"), sort_keys=True)))
    inbox = [m for m in emu.messages(upn) if m["folder"] not in ("sentitems", "drafts")]
    mail = sorted((m["subject"], m["from"]["emailAddress"]["address"], m["folder"]) for m in inbox)
    drafts = sorted(str(m["subject"]) for m in emu.messages(upn) if m["folder"] == "drafts")
    return tuple(sorted(blocks)), tuple(sorted(others)), tuple(mail), tuple(drafts)


@pytest.mark.parametrize("seed", [1, 2])
def test_faults_at_30_percent_change_nothing_in_the_end(tmp_path: Path, seed: int) -> None:
    calm, stormy = (
        GraphEmulator(require_auth=False).start(),
        GraphEmulator(require_auth=False, seed=seed).start(),
    )
    try:
        for emu in (calm, stormy):
            emu.user(ME, timezone="Eastern Standard Time")
            scenario(emu)
        (tmp_path / "calm").mkdir()
        (tmp_path / "stormy").mkdir()
        assert cycles(calm, tmp_path / "calm") == []
        stormy.inject(0.3, FAULTS, retry_after=0.01)
        errors = cycles(stormy, tmp_path / "stormy")
        stormy.inject(0)
        cycles(stormy, tmp_path / "stormy")  # the weather clears: one more day
        blocks, others, mail, drafts = picture(stormy)
        calm_blocks, calm_others, calm_mail, calm_drafts = picture(calm)
        assert len(calm_drafts) == 1 and drafts == calm_drafts  # the gap's draft, once
        assert blocks == calm_blocks
        assert len({key for key, _ in blocks}) == len(blocks)
        assert others == calm_others
        assert mail == calm_mail
        assert all(folder == "inbox" for _, _, folder in mail)  # released at the end of the day
        alerts = [m for m in mail if m[1] == ME]
        assert len(alerts) == 2  # the Northwind gap, once, and the day's digest
        assert len(stormy.requests) > len(calm.requests)
        assert all(e.startswith(("calendar: ", "mail: ", "alerts: ")) for e in errors)
    finally:
        calm.stop()
        stormy.stop()
