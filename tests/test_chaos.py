"""Twenty accounts, ten on Google and ten on Outlook, through a simulated Monday of
half-hourly cycles, all at once on a pool of threads, with faults injected at 30%:
429 with Retry-After, 403 rate limits, 5xx, ApplicationThrottled, dropped
connections, replies lost after the work was done, replies slower than the client's
timeout; while the calendar and mailbox change underneath: a meeting lands on Wednesday's
prep block and the user renames that block just as the worker writes to it (a 412 race),
and new mail arrives during the hold; and sync state expiring twice
during the day (410 fullSyncRequired, Gmail
history 404, Graph 410 and syncStateNotFound). At the end every account equals its
twin that ran without faults: the same blocks, other people's events untouched,
every message where it belongs, the same alerts. No request came before a
Retry-After had passed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from providers.google import mapping as google_mapping
from providers.outlook import mapping as outlook_mapping
from tests.emulators.google import GoogleEmulator
from tests.emulators.graph import GraphEmulator
from tests.providers import google_fixtures, outlook_fixtures
from tests.providers import test_google_faults as google
from tests.providers import test_outlook_faults as outlook
from tests.providers.day import MONDAY, NY
from tests.providers.google_fixtures import ME as GOOGLE_ME
from tests.providers.google_fixtures import timed as google_timed
from tests.providers.outlook_fixtures import timed as outlook_timed

ACCOUNTS = 10  # per provider
TIMEOUT = 0.5  # the clients' timeout in the stormy world; "slow" answers take twice that
USERS = [f"rep{i}@contoso.com" for i in range(ACCOUNTS)]


WEDNESDAY = MONDAY.date() + timedelta(days=2)
CHANGES = 8  # 10:00: from this run on, the calendar changes under the worker
MEETING = (
    datetime(2026, 12, 2, 12, 30, tzinfo=NY),
    datetime(2026, 12, 2, 13, 0, tzinfo=NY),
)  # on Wednesday's prep block


class Race:
    """The user renames a block just as the worker writes to it: the edit lands between
    the worker's read and its write, so the write meets a changed etag (412)."""

    def __init__(self) -> None:
        self.armed: dict[tuple[object, str], Callable[[], None]] = {}
        self.fired: set[tuple[object, str]] = set()
        self.lock = threading.Lock()

    def arm(self, emu: object, event_id: str, edit: Callable[[], None]) -> None:
        with self.lock:
            self.armed[(emu, event_id)] = edit

    def hook(self, emu: object) -> Callable[[str, str], None]:
        """The emulator's before_write: Google's block ids repeat across its emulators."""

        def before_write(method: str, path: str) -> None:
            with self.lock:
                hit = next(
                    (k for k in self.armed if k[0] is emu and path.endswith("/" + k[1])), None
                )
                edit = self.armed.pop(hit) if hit is not None else None
            if edit is not None and hit is not None:
                edit()
                with self.lock:
                    self.fired.add(hit)

        return before_write


def quick(seconds: float) -> None:
    """Waits as the policy asks, but a backoff of seconds is cut short: only a server's
    Retry-After (0.02 s here) must be honoured in full."""
    time.sleep(min(seconds, 0.05))


def google_day(emu: GoogleEmulator, race: Race | None) -> Callable[[int], None]:
    """Sync state expires at steps 6 and 14; from CHANGES on, the calendar changes and
    the user renames the block (at once without a race, else as the worker writes)."""
    changed: list[str] = []

    def each_step(step: int) -> None:
        if step in (6, 14):
            emu.expire_sync_tokens()
            emu.expire_history()
        if step == CHANGES + 1 and len(changed) == 1:
            changed.append("mail")
            emu.arrive(sender="lead@initech.com", received=MONDAY.replace(hour=10, minute=20))
        if step < CHANGES or changed:
            return
        prep = next((e for e in emu.events() if _google_prep(e)), None)
        if prep is None:  # not written yet: faults got in the way of every run so far
            return
        changed.append(prep["id"])
        emu.put_event(
            {
                "id": "pipeline2",
                "summary": "Pipeline review",
                "start": google_timed(MEETING[0]),
                "end": google_timed(MEETING[1]),
            }
        )

        def rename() -> None:
            emu.patch_event(prep["id"], {"summary": "Prep: pricing deck"})

        if race is None:
            rename()
        else:
            race.arm(emu, prep["id"], rename)

    return each_step


def _google_prep(event: dict[str, Any]) -> bool:
    if not google_mapping.is_owned(event) or event.get("status") == "cancelled":
        return False
    start = datetime.fromisoformat(event["start"]["dateTime"]).astimezone(NY)
    return event.get("summary") == "Prep" and start.date() == WEDNESDAY


def graph_day(graph: GraphEmulator, upn: str, race: Race | None) -> Callable[[int], None]:
    """As google_day. Graph's delta tokens are the emulator's, for every mailbox: one
    account's run expires them, at its own steps 6 and 14."""
    changed: list[str] = []

    def each_step(step: int) -> None:
        if upn == USERS[0] and step in (6, 14):
            graph.expire_delta("410" if step == 6 else "syncStateNotFound")
        if step == CHANGES + 1 and len(changed) == 1:
            changed.append("mail")
            received = MONDAY.replace(hour=10, minute=20)
            graph.arrive(sender="lead@initech.com", received=received, upn=upn)
        if step < CHANGES or changed:
            return
        prep = next((e for e in graph.events(upn) if _graph_prep(e)), None)
        if prep is None:
            return
        changed.append(prep["id"])
        meeting = {"start": outlook_timed(MEETING[0]), "end": outlook_timed(MEETING[1])}
        graph.put_event({"subject": "Pipeline review", **meeting}, upn)

        def rename() -> None:
            graph.patch_event(prep["id"], {"subject": "Prep: pricing deck"}, upn)

        if race is None:
            rename()
        else:
            race.arm(graph, prep["id"], rename)

    return each_step


def _graph_prep(event: dict[str, Any]) -> bool:
    tags = event.get("singleValueExtendedProperties") or ()
    if not any(p["id"] == outlook_mapping.BLOCK_PROP for p in tags):
        return False
    assert event["start"]["timeZone"] == "UTC"
    start = datetime.fromisoformat(event["start"]["dateTime"]).replace(tzinfo=UTC)
    return event.get("subject") == "Prep" and start.astimezone(NY).date() == WEDNESDAY


def test_twenty_accounts_under_faults_end_as_without_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    worlds: dict[str, dict[str, Any]] = {}
    for world, rate in (("calm", 0.0), ("stormy", 0.3)):
        gmail = [GoogleEmulator(email=GOOGLE_ME, seed=i + 1).start() for i in range(ACCOUNTS)]
        graph = GraphEmulator(require_auth=False, seed=7).start()
        graph.concurrency_retry_after = 0.02  # the ApplicationThrottled wait, like the rest
        for emu in gmail:
            emu.clock = lambda: google.MONDAY
            google.scenario(emu)
        for upn in USERS:
            graph.user(upn, timezone="Eastern Standard Time")
            outlook.scenario(graph, upn)
        race = Race() if rate else None
        for emu in (*gmail, graph):
            emu.before_write = race.hook(emu) if race else None
        worlds[world] = {"google": gmail, "graph": graph, "rate": rate, "race": race}
    try:
        for world, w in worlds.items():
            if w["rate"]:
                monkeypatch.setattr(google_fixtures, "TIMEOUT", TIMEOUT)
                monkeypatch.setattr(outlook_fixtures, "TIMEOUT", TIMEOUT)
            slow = {"retry_after": 0.02, "slow_seconds": 2 * TIMEOUT}
            for emu in w["google"]:
                emu.inject(w["rate"], (*google.FAULTS, "slow"), **slow)
            w["graph"].inject(w["rate"], (*outlook.FAULTS, "slow"), **slow)
            jobs: list[Callable[[], list[str]]] = []
            for i, emu in enumerate(w["google"]):
                folder = tmp_path / world / f"g{i}"
                folder.mkdir(parents=True)
                day = google_day(emu, w["race"])
                jobs.append(partial(google.cycles, emu, folder, quick, day))
            graph = w["graph"]
            for upn in USERS:
                folder = tmp_path / world / upn
                folder.mkdir(parents=True)
                day = graph_day(graph, upn, w["race"])
                jobs.append(partial(outlook.cycles, graph, folder, upn, quick, day))
            with ThreadPoolExecutor(max_workers=8) as pool:
                w["errors"] = [e for errs in pool.map(lambda job: job(), jobs) for e in errs]
            if w["rate"]:
                w["requests"] = len(w["graph"].requests) + sum(len(e.requests) for e in w["google"])
                for emu in w["google"]:
                    emu.inject(0)
                w["graph"].inject(0)
                with ThreadPoolExecutor(max_workers=8) as pool:  # the weather clears
                    list(pool.map(lambda job: job(), jobs))
        calm, stormy = worlds["calm"], worlds["stormy"]
        assert calm["errors"] == []
        assert stormy["errors"]  # faults did get through to some cycles
        assert len(stormy["race"].fired) == 2 * ACCOUNTS and not stormy["race"].armed
        for quiet, rough in zip(calm["google"], stormy["google"], strict=True):
            assert google.picture(rough) == google.picture(quiet)
        for upn in USERS:
            assert outlook.picture(stormy["graph"], upn) == outlook.picture(calm["graph"], upn)
        early = stormy["graph"].early_retries + sum(e.early_retries for e in stormy["google"])
        assert early == 0
        calm_requests = len(calm["graph"].requests) + sum(len(e.requests) for e in calm["google"])
        assert stormy["requests"] > calm_requests
    finally:
        for w in worlds.values():
            for emu in w["google"]:
                emu.stop()
            w["graph"].stop()
