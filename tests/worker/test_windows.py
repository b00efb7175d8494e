"""Per-kind windows (docs/design.md §1.1, "Windows"): a kind's blocks only inside its
wall-clock hours, the order kept inside, a full window reported as that kind's
shortfall and never taken out of the other kinds."""

from __future__ import annotations

import dataclasses
from datetime import time, timedelta

from hypothesis import given
from hypothesis import strategies as st

from tests.worker.strategies import Scenario, scenarios
from tests.worker.test_invariants import (
    SETTINGS,
    Step,
    check_idempotent,
    check_no_overlap,
    check_order,
    check_protection,
    simulate,
    u,
)
from tests.worker.test_planner import MON, NY, at, day_blocks, meeting, plan, rules
from worker import planner
from worker.models import BlockKind
from worker.state import State
from worker.timeutil import at as local_at


def windowed(start: time, end: time, kind: BlockKind = BlockKind.PROSPECTING) -> planner.Rules:
    r = rules()
    policies = tuple(
        dataclasses.replace(p, window=(start, end)) if p.kind is kind else p for p in r.policies
    )
    return dataclasses.replace(r, policies=policies)


def test_prospecting_waits_for_its_window_and_the_order_holds() -> None:
    p = plan([], at(MON, 7), r=windowed(time(10), time(11, 30)))
    assert day_blocks(p, MON) == [
        ("prospecting", "10:00", "11:30"),
        ("deals", "11:30", "12:30"),
        ("prep", "12:30", "13:00"),
        ("admin", "16:45", "17:30"),
    ]
    assert p.shortfalls == ()


def test_a_full_window_is_prospectings_shortfall_alone() -> None:
    call = meeting("call", at(MON, 9, 30), 30)
    p = plan([call], at(MON, 7), r=windowed(time(9), time(10, 30)))
    mon = day_blocks(p, MON)
    assert [b for b in mon if b[0] == "prospecting"] == [
        ("prospecting", "09:00", "09:30"),
        ("prospecting", "10:00", "10:30"),
    ]
    [short] = [s for s in p.shortfalls if s.day == MON]
    assert (short.kind, short.minutes_missing) == (BlockKind.PROSPECTING, 30)
    # The other kinds keep their full time: the window's lack is not theirs.
    minutes = {k: 0 for k in ("deals", "prep", "admin")}
    for b in p.blocks:
        if b.day == MON and b.kind.value in minutes:
            minutes[b.kind.value] += b.minutes
    assert minutes == {"deals": 60, "prep": 30, "admin": 45}


def test_the_window_is_wall_clock_on_a_dst_day() -> None:
    after = MON.replace(day=2)  # the Monday after US DST ended (Sunday 1 Nov 2026)
    assert after.weekday() == 0
    p = plan([], at(after - timedelta(days=3), 7), r=windowed(time(9), time(10, 30)))
    first = [b for b in p.blocks if b.kind is BlockKind.PROSPECTING and b.day == after]
    assert [(b.start.astimezone(NY).time(), b.end.astimezone(NY).time()) for b in first] == [
        (time(9), time(10, 30))
    ]


def with_window(sc: Scenario, start: time, end: time) -> Scenario:
    blocks = tuple(
        dataclasses.replace(p, window=(start, end)) if p.kind is BlockKind.PROSPECTING else p
        for p in sc.config.blocks
    )
    return dataclasses.replace(sc, config=dataclasses.replace(sc.config, blocks=blocks))


def check_window(step: Step) -> None:
    for p in step.config.blocks:
        if p.window is None:
            continue
        for b in step.outcome.plan.blocks:
            if b.kind is not p.kind or b.meeting_id or b.tentative:
                continue
            lo = local_at(b.day, p.window[0], step.scenario.zone)
            hi = local_at(b.day, p.window[1], step.scenario.zone)
            assert u(lo) <= u(b.start) and u(b.end) <= u(hi), f"{b.key} outside its window"


@SETTINGS
@given(
    sc=scenarios(),
    start=st.integers(0, 22 * 4).map(lambda q: time(q // 4, q % 4 * 15)),
    hours=st.integers(1, 8),
)
def test_windows_keep_the_invariants(
    sim_state: State, sc: Scenario, start: time, hours: int
) -> None:
    end_minute = min(start.hour * 60 + start.minute + hours * 60, 23 * 60 + 45)
    sc = with_window(sc, start, time(end_minute // 60, end_minute % 60))

    def check(step: Step) -> None:
        check_window(step)
        check_no_overlap(step)
        check_order(step)
        check_protection(step)  # placed + short == target, per kind and day
        check_idempotent(step)

    assert simulate(sc, sim_state, check) >= 2


def test_ahead_of_the_horizon_proposals_leave_the_prospecting_window() -> None:
    r = windowed(time(13), time(14, 30))
    client = meeting("acme", at(MON, 9), 60, "me@example.com", "jo@acme.com")
    p = plan(
        [client],
        at(MON, 7),
        r=dataclasses.replace(r, planning=dataclasses.replace(r.planning, horizon_workdays=0)),
    )
    [proposal] = p.proposals
    for s in proposal.slots:
        local = s.start.astimezone(NY)
        # Past the horizon the afternoon's window is kept for prospecting, not the morning.
        assert not (time(13) <= local.time() < time(14, 30)), local
    assert proposal.slots[0].start.astimezone(NY).time() == time(8, 30)
    assert timedelta(0) < proposal.slots[0].start - client.end
