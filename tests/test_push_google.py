"""Push end to end on the Google emulator: `serve` keeps a watch channel, the
emulator posts over HTTP to the running web app, and a meeting booked over a
prospecting block moves it within seconds, not at the next 15-minute poll."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from providers.google import mapping
from tests.emulators.google import GoogleEmulator
from tests.emulators.google.pubsub import DEFAULT_SERVICE_ACCOUNT as ROBOT
from tests.push_running import Ticking, count_cycles, health, running, settled, until
from tests.test_cli import NOW
from tests.test_cli_google import config, connect, emu, home
from worker import config as cfg
from worker.serve import Server

__all__ = ["emu", "home"]  # fixtures, imported for pytest


@pytest.fixture
def app(
    home: Path,
    emu: GoogleEmulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[cfg.Config, Server]]:
    path = Path(config(home, emu))
    assert connect(capsys, monkeypatch, str(path), home, emu)[0] == 0
    clock = Ticking(datetime.fromisoformat(NOW))
    emu.clock = clock.now
    began = count_cycles(monkeypatch)
    with running(path, clock) as started:
        settled(began)  # what follows is the booking's doing
        yield started


def blocks(emu: GoogleEmulator, kind: str) -> list[dict[str, Any]]:
    return [
        e
        for e in emu.events()
        if e.get("status") != "cancelled" and mapping._private(e).get(mapping.KIND) == kind
    ]


def test_a_meeting_booked_over_a_block_moves_it_within_seconds(
    app: tuple[cfg.Config, Server], emu: GoogleEmulator
) -> None:
    config, server = app
    first = until(lambda: blocks(emu, "prospecting"), 30)[0]
    until(lambda: health(config, "work") == ["ok"], 30)  # the sync message came through
    # Settled: nothing due for a while, so only a notification can bring a cycle soon.
    assert server.slots["work"].due.at - datetime.fromisoformat(NOW) >= timedelta(minutes=15)
    [channel] = emu.channels
    assert channel.address.endswith("/push/google") and len(channel.token) >= 32
    emu.put_event(
        {
            "id": "acmecall",
            "summary": "Acme call",
            "start": first["start"],
            "end": first["end"],
            "attendees": [{"email": "jo@acme.com"}],
        }
    )
    booked = time.monotonic()

    def moved() -> bool:
        now = blocks(emu, "prospecting")
        return bool(now) and all(b["start"] != first["start"] for b in now)

    until(moved, 20)  # the poll would come in 15 minutes; push takes a few seconds
    print(f"block moved {time.monotonic() - booked:.1f} s after the meeting was booked")
    assert [a.outcome for a in emu.push_log if a.state == "exists"][:1] == ["delivered"]


def test_gmail_through_pub_sub_brings_a_cycle_when_mail_arrives(
    home: Path,
    emu: GoogleEmulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = Path(config(home, emu))
    assert connect(capsys, monkeypatch, str(path), home, emu)[0] == 0
    clock = Ticking(datetime.fromisoformat("2026-11-30T09:00:00-05:00"))  # holding
    emu.clock = clock.now
    topic = "projects/firstblock/topics/gmail"

    def gmail(base: str) -> str:
        emu.pubsub_topic(topic, base + "push/gmail", service_account_email=ROBOT)
        return (
            f'gmail_topic = "{topic}"\ngmail_service_account = "{ROBOT}"\n'
            f'gmail_certs_url = "{emu.certs_url}"\n'
        )

    began = count_cycles(monkeypatch)
    with running(path, clock, gmail) as (settings, _):
        until(lambda: health(settings, "work") == ["ok", "ok"], 30)  # calendar, inbox
        assert emu.gmail_watch is not None and emu.gmail_watch.topic == topic
        settled(began)
        cycles = len(began)
        emu.arrive(sender="sales@vendor.com", received=clock.now())
        until(lambda: len(began) > cycles, 20)  # a cycle, long before the 15-minute poll
    assert [a.outcome for a in emu.pubsub_log][:1] == ["delivered"]
