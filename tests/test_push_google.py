"""Push end to end on the Google emulator: `serve` keeps a watch channel, the
emulator posts over HTTP to the running web app, and a meeting booked over a
prospecting block moves it within seconds, not at the next 15-minute poll."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from providers.google import mapping
from tests.emulators.google import GoogleEmulator
from tests.test_cli import NOW
from tests.test_cli_google import config, connect, emu, home
from tests.web.test_browser import free_port
from worker import config as cfg
from worker import roster
from worker.serve import Server
from worker.state import State
from worker.web.app import create

__all__ = ["emu", "home"]  # fixtures, imported for pytest


class Ticking:
    """NOW, then moving with the wall clock: the day the tests plan, in real time."""

    def __init__(self, start: datetime) -> None:
        self.start, self.began = start, time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.began)


def until(check: Callable[[], Any], seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s")


@pytest.fixture
def running(
    home: Path,
    emu: GoogleEmulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[cfg.Config, Server]]:
    import uvicorn

    path = Path(config(home, emu))
    assert connect(capsys, monkeypatch, str(path), home, emu)[0] == 0
    port = free_port()
    with path.open("a") as f:  # http on loopback: only the emulator posts to it
        f.write(f'[web]\nbase_url = "http://127.0.0.1:{port}/"\n[push]\nenabled = true\n')
    clock = Ticking(datetime.fromisoformat(NOW))
    emu.clock = clock.now

    def load() -> cfg.Config:
        return roster.load(cfg.load(path))

    web = uvicorn.Server(
        uvicorn.Config(create(load, clock), host="127.0.0.1", port=port, log_level="warning")
    )
    server = Server(load, clock, interval=timedelta(minutes=15))
    threads = [threading.Thread(target=web.run), threading.Thread(target=server.run)]
    for t in threads:
        t.start()
    try:
        yield load(), server
    finally:
        server.request_stop()
        web.should_exit = True
        for t in threads:
            t.join(30)


def blocks(emu: GoogleEmulator, kind: str) -> list[dict[str, Any]]:
    return [
        e
        for e in emu.events()
        if e.get("status") != "cancelled" and mapping._private(e).get(mapping.KIND) == kind
    ]


def health(config: cfg.Config) -> list[str]:
    state = State.read_only(config.state_location())
    try:
        return [r.health for r in state.channels.of("work")]
    finally:
        state.close()


def test_a_meeting_booked_over_a_block_moves_it_within_seconds(
    running: tuple[cfg.Config, Server], emu: GoogleEmulator
) -> None:
    config, server = running
    first = until(lambda: blocks(emu, "prospecting"), 30)[0]
    until(lambda: health(config) == ["ok"], 30)  # the sync message came through
    [channel] = emu.channels
    assert channel.address.endswith("/push/google") and len(channel.token) >= 32
    assert server.slots["work"].due.at - datetime.fromisoformat(NOW) >= timedelta(minutes=15)
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
