"""Time defense (docs/design.md §1.1): which blocks show as free, and for how long.
Worked examples, then the invariants over random calendars (test_invariants.py's
harness, whose policies draw a defense per kind)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from hypothesis import given

from tests.worker.strategies import Scenario, scenarios
from tests.worker.test_invariants import (
    SETTINGS,
    Step,
    check_idempotent,
    check_no_overlap,
    check_stable,
    check_user_wins,
    dst_examples,
    simulate,
    u,
)
from tests.worker.test_planner import ME, MON, at, meeting, plan, rules
from worker import planner, reconcile
from worker.clients import client_keys
from worker.models import Attendee, Block, BlockKind, Response
from worker.state import State

TUE = MON + timedelta(days=1)


def written(blocks: tuple[Block, ...]) -> list[Block]:
    return [dataclasses.replace(b, written=b.fingerprint) for b in blocks]


def free_of(p: planner.Plan, day: object) -> dict[str, bool]:
    return {b.kind.value: b.free for b in p.blocks if b.day == day and not b.meeting_id}


def test_by_default_prospecting_is_busy_and_the_rest_ramp_a_day_ahead() -> None:
    p = plan([], at(MON, 7))
    # Monday's are within a day, so busy; Tuesday's deals at 10:00 are 27 hours away.
    assert free_of(p, MON) == {"prospecting": False, "deals": False, "prep": False, "admin": False}
    assert free_of(p, TUE) == {"prospecting": False, "deals": True, "prep": True, "admin": True}
    [deals] = [b for b in p.blocks if b.day == TUE and b.kind is BlockKind.DEALS]
    # Busy by 10:00 Monday at the latest: from the start of Monday's workday, with the
    # rest of Tuesday's blocks, in the cycle that starts the workday anyway.
    assert planner.busy_from(deals, rules()) == at(MON, 8, 30)


def test_a_ramped_block_turns_busy_in_place_and_stays_busy() -> None:
    first = plan([], at(MON, 7))
    owned = written(first.blocks)
    assert not [
        c
        for c in reconcile.diff(owned, plan([], at(MON, 8, 25), tuple(owned)), at(MON, 8, 25))
        if c.block.day == TUE
    ]
    later = plan([], at(MON, 8, 30), tuple(owned))  # Monday's workday starts
    changes = reconcile.diff(owned, later, at(MON, 8, 30))
    turned = [c for c in changes if c.block.day == TUE]
    kinds = [BlockKind.DEALS, BlockKind.PREP, BlockKind.ADMIN]
    assert sorted((c.op.value, c.block.kind.value) for c in turned) == sorted(
        ("update", k.value) for k in kinds
    )
    for c in turned:
        assert c.before is not None and c.before.free and not c.block.free
        assert (c.block.start, c.block.end) == (c.before.start, c.before.end)  # never moved


def test_a_day_with_no_time_to_spare_is_defended_at_once() -> None:
    # Tuesday 10:00-16:30 is taken: what is left is exactly what the blocks need.
    offsite = meeting("offsite", at(TUE, 10), 390)
    p = plan([offsite], at(MON, 7))
    assert free_of(p, TUE) == {"prospecting": False, "deals": False, "prep": False, "admin": False}
    # The offsite is called off: the blocks stay busy (a ramp only goes one way).
    owned = written(p.blocks)
    again = plan([], at(MON, 7, 15), tuple(owned))
    assert not any(b.free for b in again.blocks if b.day == TUE)


def test_a_day_short_of_time_is_defended_at_once() -> None:
    # Tuesday is taken but for 08:30-09:00, 09:15-09:30 and 16:00-17:30: more minutes
    # than the blocks it gets, but too few in pieces the kinds can use, so the day
    # falls short; what it has is defended now.
    standup = meeting("standup", at(TUE, 9), 15)
    offsite = meeting("offsite", at(TUE, 9, 30), 390)
    p = plan([standup, offsite], at(MON, 7))
    assert [s for s in p.shortfalls if s.day == TUE]
    assert not any(b.free for b in p.blocks if b.day == TUE)


def test_never_is_a_reminder_that_is_always_free() -> None:
    r = rules()
    never = tuple(dataclasses.replace(p, defense="never") for p in r.policies)
    p = planner.plan([], [], frozenset(), dataclasses.replace(r, policies=never), at(MON, 7))
    assert p.blocks and all(b.free for b in p.blocks)


def test_a_free_block_the_user_marked_busy_is_theirs() -> None:
    first = plan([], at(MON, 7))
    owned = written(first.blocks)
    [deals] = [b for b in owned if b.day == TUE and b.kind is BlockKind.DEALS]
    marked = dataclasses.replace(deals, free=False)  # the user set it busy by hand
    assert marked.touched
    owned = [marked if b.key == deals.key else b for b in owned]
    later = plan([], at(MON, 8), tuple(owned))
    assert not [c for c in reconcile.diff(owned, later, at(MON, 8)) if c.block.key == deals.key]


def test_a_free_block_never_turns_busy_over_an_unanswered_invitation() -> None:
    # With tentative_is_busy off, an invitation the rep has not answered leaves the
    # time to the block; the block stays free until the rep answers.
    r = rules(tentative_is_busy=False)
    first = plan([], at(MON, 7), r=r)
    owned = written(first.blocks)
    [deals] = [b for b in owned if b.day == TUE and b.kind is BlockKind.DEALS]
    invite = meeting("sync", deals.start, 30, ME, "lead@example.com")  # not answered
    later = plan([invite], at(MON, 8, 30), tuple(owned), r)  # Monday's workday: the ramp
    after = {b.key: b for b in later.blocks}
    assert after[deals.key].free and (after[deals.key].start, after[deals.key].end) == (
        deals.start,
        deals.end,
    )
    others = [b for b in later.blocks if b.day == TUE and b.key != deals.key and not b.meeting_id]
    assert others and not any(b.free for b in others)  # the rest of Tuesday ramps
    declined = dataclasses.replace(
        invite, attendees=(Attendee(ME, response=Response.DECLINED), *invite.attendees[1:])
    )
    assert not {b.key: b for b in plan([declined], at(MON, 9), tuple(owned), r).blocks}[
        deals.key
    ].free  # turned down: nothing waits on the time any more


def check_defense(step: Step) -> None:
    """Free only as the policy says; busy at the latest by the lead time; once seen
    busy, a block that stayed where it was is still busy."""
    policies = {p.kind: p for p in step.config.blocks}
    waiting = _waiting_spans(step)

    def waits(b: Block) -> bool:
        return any(u(b.start) < e and s < u(b.end) for s, e in waiting)

    for b in step.outcome.plan.blocks:
        p = policies.get(b.kind)
        if p is None or b.tentative:
            assert not b.free
        elif p.defense == "always":
            assert not b.free, f"{b.key} is free though always defended"
        elif p.defense == "never":
            assert b.free, f"{b.key} is busy though never defended"
        elif u(b.start) - timedelta(hours=p.ramp_hours) <= u(step.now) and not waits(b):
            assert not b.free, f"{b.key} is still free within {p.ramp_hours} hours"
    for key, was in step.blocks_before.items():
        now = step.blocks_after.get(key)
        policy = policies.get(was.kind)
        if now is None or was.free or policy is None or policy.defense != "ramp":
            continue
        if (u(now.start), u(now.end)) == (u(was.start), u(was.end)) and not was.touched:
            assert not now.free, f"{key} went back to free"
    for key, now in step.blocks_after.items():
        was = step.blocks_before.get(key)
        if was is not None and was.free and not now.free:
            assert not waits(now), f"{key} turned busy over a meeting waiting on an answer"


def _waiting_spans(step: Step) -> list[tuple[datetime, datetime]]:
    return [(u(e.start), u(e.end)) for e in step.events_after if planner.is_waiting(e, step.rules)]


def check_declines(step: Step) -> None:
    """Only the rep's own answer changes, from waiting to declined; only for an
    invitation on a busy block of theirs that declines its kind (a client's only under
    `all`), as the block was before this run; and each is in the outcome."""
    modes = {p.kind: p.decline for p in step.config.blocks}
    me = step.rules.people.me
    before = {e.id: e for e in step.events_before}
    turned = []
    for e in step.events_after:
        was = before.get(e.id)
        if was is None or e.response_of(me) is not Response.DECLINED:
            continue
        if was.response_of(me) is Response.DECLINED:
            continue
        turned.append(e.id)
        assert was.response_of(me) is Response.NEEDS_ACTION, f"{e.id} was answered already"
        others = [a for a in e.attendees if a.email != me]
        assert dataclasses.replace(e, attendees=()) == dataclasses.replace(was, attendees=())
        assert others == [a for a in was.attendees if a.email != me], "someone else's answer"
        client = bool(client_keys(was, step.rules.people))
        under = [
            b
            for b in step.blocks_before.values()
            if u(b.start) < u(was.end) and u(was.start) < u(b.end)
            and not b.free and not b.touched and not b.tentative
            and modes.get(b.kind, "none") != "none"
            and (modes[b.kind] == "all" or not client)
        ]  # fmt: skip
        assert under, f"{e.id} was declined with no busy block of a declining kind under it"
    assert sorted(turned) == sorted(d.event.id for d in step.outcome.declines)


@SETTINGS
@given(sc=scenarios())
@dst_examples()
def test_defense_keeps_the_invariants(sim_state: State, sc: Scenario) -> None:
    def check(step: Step) -> None:
        check_declines(step)
        check_defense(step)
        check_no_overlap(step)
        check_stable(step)  # ramping never moves a block: time passing moves nothing
        check_user_wins(step)
        check_idempotent(step)

    assert simulate(sc, sim_state, check) >= 2
