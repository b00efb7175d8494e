"""Skipping the plan when its inputs are as before (worker/settled.py): whatever the
calendar and the moment later in the day, a recalled plan is the plan."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from hypothesis import assume, given
from hypothesis import strategies as st

from tests.worker.strategies import Scenario, scenarios
from tests.worker.test_invariants import ACCOUNT, SETTINGS
from tests.worker.test_planner import MON, at, meeting, rules
from worker import planner, reconcile, settled
from worker.cycle import rules_for


@SETTINGS
@given(sc=scenarios(max_steps=0), later=st.lists(st.integers(1, 16 * 60), max_size=6))
def test_a_recalled_plan_is_the_plan_it_stands_for(sc: Scenario, later: list[int]) -> None:
    check_recall(sc, later)


def check_recall(sc: Scenario, later: list[int]) -> None:
    """Plan once, then at each moment `later` (minutes): a plan the cache recalls is
    the plan that planning again would make."""
    r = rules_for(sc.config, ACCOUNT, sc.zone)
    events, now, none = sc.events, sc.now, frozenset[str]()
    owned = planner.plan(events, (), none, r, now).blocks  # what the first cycle wrote
    assume(not reconcile.diff(owned, planner.plan(events, owned, none, r, now), now))
    plans = settled.Plans()
    for minutes in [0, *sorted(later)]:
        moment = now + timedelta(minutes=minutes)
        digest = settled.inputs(events, owned, none, r, moment)
        fresh = planner.plan(events, owned, none, r, moment)
        recalled = plans.recall("a", digest, owned)
        assert recalled is None or recalled == fresh
        plans.keep("a", digest, fresh, changed=bool(reconcile.diff(owned, fresh, moment)))


def test_a_quiet_calendar_is_planned_once_until_a_block_begins_or_it_changes() -> None:
    r = rules()  # busy from the start: a ramp turning blocks busy is a change of its own
    r = dataclasses.replace(
        r, policies=tuple(dataclasses.replace(p, defense="always") for p in r.policies)
    )
    events = [meeting("acme", at(MON, 13), 60, "jo@acme.com")]
    now = at(MON, 7)
    owned = planner.plan(events, (), frozenset(), r, now).blocks
    plans = settled.Plans()

    def cycle(moment: object, evs: list[object] = events) -> bool:
        digest = settled.inputs(evs, owned, frozenset(), r, moment)  # type: ignore[arg-type]
        recalled = plans.recall("a", digest, owned)
        plan = recalled or planner.plan(evs, owned, frozenset(), r, moment)  # type: ignore[arg-type]
        plans.keep("a", digest, plan, changed=bool(reconcile.diff(owned, plan, moment)))  # type: ignore[arg-type]
        return recalled is not None

    assert not cycle(now)
    assert cycle(now + timedelta(minutes=15)) and cycle(at(MON, 8, 25))
    assert not cycle(at(MON, 8, 35))  # the first block has begun: planned again
    assert cycle(at(MON, 8, 50))
    moved = [meeting("acme", at(MON, 14), 60, "jo@acme.com")]
    assert not cycle(at(MON, 8, 55), moved)  # the calendar changed
    assert not cycle(at(MON, 8, 56))  # and back: the last plan kept was the other one
