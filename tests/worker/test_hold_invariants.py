"""The invariants of docs/design.md §1.2 with tentative holds on (§1.3): random
calendars and outside changes, as in test_invariants.py, with a hold for the next
meeting after each client meeting that has none booked."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from tests.worker.strategies import Scenario, scenarios
from tests.worker.test_invariants import (
    SETTINGS,
    Step,
    check_history,
    check_idempotent,
    check_no_overlap,
    check_ownership,
    check_user_wins,
    days_off,
    dst_examples,
    event_by_id,
    is_workday,
    simulate,
    u,
)
from tests.worker.test_settled import check_recall
from worker.clients import is_client_meeting
from worker.state import State


def holding(sc: Scenario) -> Scenario:
    f = replace(sc.config.followups, tentative_hold=True)
    return replace(sc, config=replace(sc.config, followups=f))


def check_hold(step: Step) -> None:
    """Each hold is for a client meeting with no next one booked, not yet past its
    days, on a workday of the meeting's window; an upcoming meeting's hold is its
    first proposed slot."""
    f = step.config.followups
    off = days_off(step.events_after, step)
    proposed = {p.meeting_id: p for p in step.outcome.plan.proposals}
    for b in step.outcome.plan.blocks:
        if not b.tentative:
            continue
        m = event_by_id(step, b.meeting_id)
        assert m is not None and is_client_meeting(m, step.rules.people), b.key
        assert b.key == f"hold/{m.id}"
        assert u(m.end) + timedelta(days=f.tentative_hold_days) > u(step.now), "past its days"
        day, n, window = step.day_of(m.start), 0, set()
        while n < f.propose_until_workdays:
            day += timedelta(days=1)
            if is_workday(day, step):
                n += 1
                if n >= f.propose_from_workdays:
                    window.add(day)
        assert step.day_of(b.start) in window - off, f"{b.key} outside its meeting's window"
        p = proposed.get(m.id)
        if p is not None:
            assert p.held and (p.slots[0].start, p.slots[0].end) == (u(b.start), u(b.end))


def check_all(step: Step) -> None:
    check_ownership(step)
    check_no_overlap(step)  # holds included: never on a meeting or a block, in hours
    check_user_wins(step)
    check_history(step)
    check_hold(step)
    check_idempotent(step)


@SETTINGS
@given(sc=scenarios())
@dst_examples()
def test_tentative_holds_keep_the_invariants(sim_state: State, sc: Scenario) -> None:
    assert simulate(holding(sc), sim_state, check_all) >= 2


@SETTINGS
@given(sc=scenarios(max_steps=0), later=st.lists(st.integers(1, 36 * 60), max_size=6))
def test_a_recalled_plan_with_holds_is_the_plan_it_stands_for(
    sc: Scenario, later: list[int]
) -> None:
    check_recall(holding(sc), later)
