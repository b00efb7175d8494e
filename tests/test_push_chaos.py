"""Push under chaos: the Graph emulator drops 30% of its notifications, delays others
by up to two seconds and repeats some. A day of outside changes, one account pushed
and its twin polled; once the pushed one has had its safety-net poll, both calendars
hold the same blocks. Each change is a meeting on a day of its own (internal, so no
prep crosses days): the plan of a day then does not depend on which moments of it a
cycle saw, so what is compared is what push may lose, not the path taken."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bench import fleet
from tests.emulators.graph import GraphEmulator
from tests.push_running import Ticking, health, running, until
from worker import config as cfg
from worker import runner
from worker.state import State

NY = ZoneInfo("America/New_York")
START = datetime(2026, 11, 30, 9, 0, tzinfo=NY)  # a Monday, inside the workday
PUSHED, POLLED = "pushed@contoso.com", "polled@contoso.com"


@pytest.fixture
def graph(monkeypatch: pytest.MonkeyPatch) -> Iterator[GraphEmulator]:
    emu = GraphEmulator(require_auth=True, seed=7).start()
    emu.app(fleet.CLIENT, secret=fleet.SECRET)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", emu.ca_file)
    try:
        yield emu
    finally:
        emu.stop()


def setup(folder: Path, graph: GraphEmulator, upn: str) -> Path:
    graph.user(upn, timezone="Eastern Standard Time")
    path = fleet.write_setup(folder, graph, [upn], "America/New_York")
    path.write_text(path.read_text().replace("[hold]\nenabled = true", "[hold]\nenabled = false"))
    return path


def utc(moment: datetime) -> dict[str, str]:
    return {
        "dateTime": moment.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%S"),
        "timeZone": "UTC",
    }


def blocks(graph: GraphEmulator, upn: str) -> list[tuple[Any, ...]]:
    return sorted(
        (e["start"]["dateTime"], e["end"]["dateTime"], tuple(e["categories"]), e["subject"])
        for e in graph.events(upn)
        if e.get("categories") and not e.get("isCancelled")
    )


def test_a_day_of_changes_with_lost_and_late_notifications_ends_as_polled(
    graph: GraphEmulator, tmp_path: Path
) -> None:
    clock = Ticking(START)
    graph.clock = clock.now
    pushed = setup(tmp_path / "pushed", graph, PUSHED)
    polled = cfg.load(setup(tmp_path / "polled", graph, POLLED))
    twin = polled.accounts[0]
    state = State(polled.state_location())
    rng = random.Random(17)
    with running(pushed, clock) as (config, server):
        until(lambda: health(config, "rep0") == ["ok", "ok"], 30)
        assert not runner.run_one(polled, twin, clock, apply=True, state=state).errors
        graph.push_faults(drop=0.3, delay=2.0, duplicate=0.2)
        ran = [server.slots["rep0"].last]
        for day in range(5):  # Monday to Friday, one meeting each
            when = datetime.combine(
                START.date() + timedelta(days=day), time(rng.randrange(9, 16)), NY
            )
            meeting = {
                "subject": f"Team sync {day}",
                "start": utc(when),
                "end": utc(when + timedelta(minutes=rng.choice((30, 60, 90)))),
                "attendees": [{"emailAddress": {"address": "kim@contoso.com"}, "type": "required"}],
            }
            for upn in (PUSHED, POLLED):
                graph.put_event(meeting, upn)
            until(lambda: graph.wait_for_push(5), 10)
            before = ran[-1]
            try:
                until(lambda seen=before: server.slots["rep0"].last is not seen, 6)
                ran.append(server.slots["rep0"].last)
            except AssertionError:
                pass  # its notification was lost: the safety net will see it
        assert not runner.run_one(polled, twin, clock, apply=True, state=state).errors
    # The safety-net poll, once serve has stopped.
    safety = cfg.load(pushed)
    final = runner.run_one(
        safety, safety.accounts[0], clock, apply=True, state=State(safety.state_location())
    )
    assert not final.errors
    outcomes = [a.outcome for a in graph.push_log]
    print(
        f"notifications: {dict((o, outcomes.count(o)) for o in set(outcomes))}; "
        f"cycles brought by push: {len(ran) - 1} of 5 changes"
    )
    assert "dropped" in outcomes and len(ran) > 1  # chaos happened, and push still worked
    assert blocks(graph, PUSHED) == blocks(graph, POLLED)
    assert len(blocks(graph, PUSHED)) >= 15
