"""Regression tests for the inbox hold, one per bug found by test_hold_properties."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from providers.errors import TransientError
from providers.memory import MemoryCalendar, MemoryMailbox
from worker import hold
from worker.config import Hold, default_config
from worker.cycle import AccountRun, rules_for, run_account
from worker.inbox import HoldOutcome, run_hold
from worker.models import Message
from worker.state import State

NY = ZoneInfo("America/New_York")
MON = date(2026, 11, 30)
TUE = MON + timedelta(days=1)


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=NY)


def step(
    cal: MemoryCalendar, box: MemoryMailbox, now: datetime, state: State | None
) -> HoldOutcome:
    config = dataclasses.replace(
        default_config(), timezone="America/New_York", hold=Hold(True, ("boss@example.com",), 0)
    )
    account = dataclasses.replace(config.accounts[0], provider="memory", email="me@example.com")
    store = state if state is not None else State.memory()  # None: the state file is lost
    run = AccountRun(config, account, store, now, rules_for(config, account, NY))
    outcome = run_account(run, cal, apply=True)
    return run_hold(run, box, outcome, apply=True)


def held(box: MemoryMailbox) -> list[str]:
    return sorted(i for i, m in box.messages.items() if m.held)


def test_decide_returns_held_mail_from_before_since() -> None:
    since = at(MON, 17, 30)
    old = Message("old", "a@x.com", at(MON, 8), held=True)
    new = Message("new", "a@x.com", at(MON, 19), held=True)
    actions = hold.decide(hold.Phase.HOLDING, [], [old, new], hold.AllowList(), since)
    assert actions.release == ("old",)
    assert actions.hold == ()


@pytest.mark.parametrize("lost", [True, False])
def test_mail_held_before_a_missed_release_comes_back_the_next_morning(
    tmp_path: Path, lost: bool
) -> None:
    # No run came after Monday's admin block (the laptop was shut at 16:00), and the
    # state knows of no release: Monday's held mail stayed held all Tuesday morning.
    state = None if lost else State(tmp_path / "state.sqlite3")
    cal, box = MemoryCalendar(), MemoryMailbox()
    box.arrive(Message("monday", "a@x.com", at(MON, 8)))
    assert step(cal, box, at(MON, 9), state).moved_out == 1
    box.arrive(Message("evening", "a@x.com", at(MON, 19)))
    tuesday = step(cal, box, at(TUE, 8, 35), state)
    assert tuesday.phase is hold.Phase.HOLDING
    assert held(box) == ["evening"]
    assert (tuesday.returned, tuesday.held) == (1, 1)


class ReleaseCrashes(MemoryMailbox):
    """Crashes once, after returning the first message of a release."""

    crashed = False

    def release(self, ids: Sequence[str]) -> int:
        if self.crashed or len(ids) < 2:
            return super().release(ids)
        self.crashed = True
        super().release(ids[:1])
        raise TransientError("connection reset")


def test_a_release_that_crashed_part_way_is_finished_the_next_morning(tmp_path: Path) -> None:
    state = State(tmp_path / "state.sqlite3")
    cal, box = MemoryCalendar(), ReleaseCrashes()
    box.arrive(Message("a", "a@x.com", at(MON, 7)))
    box.arrive(Message("b", "b@x.com", at(MON, 8)))
    assert step(cal, box, at(MON, 9), state).held == 2
    with pytest.raises(TransientError):
        step(cal, box, at(MON, 17), state)
    assert len(held(box)) == 1
    assert step(cal, box, at(TUE, 8, 35), state).phase is hold.Phase.HOLDING
    assert held(box) == []
