"""A client meeting's prep that the user moved out of the planning window.

Found by test_invariants.py::test_client_meeting_prep_is_anchored: a prep placed at
22:00 before a 22:15 meeting, moved by the user two hours later (to 00:00 the next
day, past the last planned day), was once no longer among the blocks the worker plans
with, and the ledger took its absence for a deletion. The worker now sees its blocks as
far ahead as it reads (tentative holds lie past the horizon), so the moved prep is kept
as the user's. Either way the meeting gets no second prep and no shortfall: its one
prep (the key names the meeting) is the user's, on the calendar where they put it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.worker.strategies import ACCOUNT, CLIENTS, ME, MoveBlock, Scenario
from tests.worker.test_invariants import Step, check_prep, simulate, u
from worker.config import Config, Planning, Workday, default_config
from worker.models import Attendee, Event, Response
from worker.state import State
from worker.timeutil import at

ZONE = ZoneInfo("America/New_York")
DAY = date(2026, 6, 17)  # a Wednesday


def scenario() -> Scenario:
    config = Config(
        workday=Workday(frozenset(range(5)), time(7, 0), time(23, 30)),
        blocks=default_config().blocks,  # prep: 15 minutes before each client meeting
        accounts=(ACCOUNT,),
        planning=Planning(horizon_workdays=0),  # today only: the window ends at midnight
        timezone=ZONE.key,
        state_dir=Path("/nonexistent/firstblock-state"),
    )
    start = at(DAY, time(22, 15), ZONE)
    meeting = Event(
        id="m",
        title="Globex review",
        start=start,
        end=start + timedelta(minutes=15),
        attendees=(Attendee(ME, "Me", Response.ACCEPTED), Attendee(CLIENTS[0])),
    )
    # Blocks by start: prospecting, deals, prep, the meeting's prep (22:00), admin.
    move = MoveBlock(pick=3, minutes=120)
    return Scenario(config, ZONE, at(DAY, time(0), ZONE).astimezone(UTC), (meeting,), ((move,),))


def test_prep_moved_out_of_the_window_is_the_users(tmp_path: Path) -> None:
    state = State(tmp_path / "s.sqlite3")
    steps: list[Step] = []

    def check(step: Step) -> None:
        steps.append(step)
        check_prep(step)

    try:
        assert simulate(scenario(), state, check) == 4
    finally:
        state.close()
    first, last = steps[0], steps[-1]
    key = "meeting/m"
    placed = {b.key: b for b in first.outcome.plan.blocks}
    assert (u(placed[key].start), u(placed[key].end)) == (
        at(DAY, time(22, 0), ZONE).astimezone(UTC),
        at(DAY, time(22, 15), ZONE).astimezone(UTC),
    )
    # The user's move took it past midnight, out of the window: left where they put it,
    # not placed again, and not reported as a prep that did not fit.
    assert last.user.moved[key] == (
        datetime(2026, 6, 18, 4, 0, tzinfo=UTC),
        datetime(2026, 6, 18, 4, 15, tzinfo=UTC),
    )
    moved = last.blocks_after[key]
    assert moved.touched
    assert (u(moved.start), u(moved.end)) == last.user.moved[key]
    assert [b for b in last.blocks_after.values() if b.key == "meeting/m"] == [moved]
    assert key not in {b.key for b in last.outcome.plan.blocks}
    assert [b for b in last.outcome.plan.kept if b.key == key] == [moved]
    assert not [s for s in last.outcome.plan.shortfalls if s.meeting]
