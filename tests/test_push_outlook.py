"""Push end to end on the Graph emulator: `serve` subscribes to the calendar's events
and the inbox (Graph checks the address first, through the running web app), a
meeting booked over a block moves it within seconds, and a lifecycle notification
has the subscription renewed at once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from providers.outlook import mapping
from tests.emulators.graph import GraphEmulator
from tests.push_running import Ticking, count_cycles, health, running, settled, until
from tests.test_cli import NOW
from tests.test_cli_outlook import config, connect, emu, home
from worker import config as cfg
from worker.serve import Server

__all__ = ["emu", "home"]  # fixtures, imported for pytest


@pytest.fixture
def app(
    home: Path,
    emu: GraphEmulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[cfg.Config, Server, list[float]]]:
    path = Path(config(home, emu))
    assert connect(capsys, monkeypatch, str(path), emu)[0] == 0
    clock = Ticking(datetime.fromisoformat(NOW))
    emu.clock = clock.now
    began = count_cycles(monkeypatch)
    with running(path, clock) as started:
        settled(began)  # what follows is the booking's doing
        yield (*started, began)


def blocks(emu: GraphEmulator, kind: str) -> list[dict[str, Any]]:
    category = mapping.CATEGORIES[mapping.BlockKind(kind)]
    return [e for e in emu.events() if category in e.get("categories", [])]


def test_subscriptions_move_a_block_within_seconds_and_renew_when_asked(
    app: tuple[cfg.Config, Server, list[float]], emu: GraphEmulator
) -> None:
    config, server, began = app
    first = until(lambda: blocks(emu, "prospecting"), 30)[0]
    until(lambda: health(config, "work") == ["ok", "ok"], 30)  # checked when made
    # Settled: nothing due for a while, so only a notification can bring a cycle soon.
    assert server.slots["work"].due.at - datetime.fromisoformat(NOW) >= timedelta(minutes=15)
    resources = sorted(s["resource"] for s in emu.subscriptions)
    assert resources == ["me/events", "me/mailFolders('inbox')/messages"]
    assert all(
        s["clientState"] and "/push/outlook" in s["notificationUrl"] for s in emu.subscriptions
    )
    emu.put_event(
        {
            "subject": "Acme call",
            "start": first["start"],
            "end": first["end"],
            "attendees": [{"emailAddress": {"address": "jo@acme.com"}, "type": "required"}],
        }
    )
    booked = time.monotonic()

    def moved() -> bool:
        now = blocks(emu, "prospecting")
        return bool(now) and all(b["start"] != first["start"] for b in now)

    until(moved, 20)  # the poll would come in 15 minutes; push takes a few seconds
    print(f"block moved {time.monotonic() - booked:.1f} s after the meeting was booked")
    cycles = len(began)
    emu.wait_for_push(10)  # the notifications of the move itself, heard by the app
    time.sleep(4)  # past the debounce: an echo would have brought a cycle by now
    assert len(began) == cycles  # the echo of its own writes woke nothing

    events = next(s for s in emu.subscriptions if s["resource"] == "me/events")
    emu.lifecycle(events["id"], "reauthorizationRequired")

    def renewed() -> bool:
        now = next(s for s in emu.subscriptions if s["resource"] == "me/events")
        return now["expirationDateTime"] != events["expirationDateTime"]

    until(renewed, 20)  # extended in place, by the cycle the notification brought
    until(lambda: health(config, "work") == ["ok", "ok"], 20)
    assert [s["id"] for s in emu.subscriptions if s["resource"] == "me/events"] == [events["id"]]
