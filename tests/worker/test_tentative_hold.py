"""The tentative hold on the first proposed slot for a client's next meeting
(docs/design.md §1.3, "Tentative hold"): placed, kept, moved and removed by the plan
alone, with no state of its own."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta

from tests.worker.test_planner import ME, MON, NY, at, meeting, rules
from worker import planner, reconcile, settled
from worker.intervals import overlaps
from worker.models import Block, Event, Op

CLIENT = "jane@acme.com"
TUE, WED, THU = (MON + timedelta(days=n) for n in (1, 2, 3))


def holding(days: int = 1, **planning: object) -> planner.Rules:
    r = rules(**planning)
    f = dataclasses.replace(r.followups, tentative_hold=True, tentative_hold_days=days)
    return dataclasses.replace(r, followups=f)


def demo(start: datetime | None = None) -> Event:
    return meeting("acme", start or at(MON, 14), 60, ME, CLIENT)


def run(
    events: Sequence[Event],
    now: datetime,
    owned: Sequence[Block] = (),
    r: planner.Rules | None = None,
    tombstones: frozenset[str] = frozenset(),
) -> tuple[planner.Plan, list[Block]]:
    """Plan, and the calendar's blocks once the plan is written."""
    p = planner.plan(list(events), list(owned), tombstones, r or holding(), now)
    changes = reconcile.diff(owned, p, now)
    after = {b.key: b for b in owned}
    for c in changes:
        if c.op is Op.DELETE:
            after.pop(c.block.key)
        else:
            after[c.block.key] = dataclasses.replace(c.block, written=c.block.fingerprint)
    return p, sorted(after.values(), key=lambda b: (b.start, b.key))


def hold_of(blocks: Sequence[Block], meeting_id: str = "acme") -> Block | None:
    found = [b for b in blocks if b.tentative and b.meeting_id == meeting_id]
    assert len(found) <= 1
    return found[0] if found else None


def test_the_hold_is_on_the_first_proposed_slot_and_says_so() -> None:
    p, cal = run([demo()], at(MON, 7))
    hold = hold_of(cal)
    [proposal] = p.proposals
    assert hold is not None and hold.key == "hold/acme" and hold.meeting_id == "acme"
    assert proposal.held and (hold.start, hold.end) == (
        proposal.slots[0].start,
        proposal.slots[0].end,
    )
    assert hold.start.astimezone(NY).date() == WED  # two workdays after Monday's meeting
    assert hold.title == "Hold: next meeting after acme"
    [prep] = [b for b in p.blocks if b.key == "meeting/acme"]
    assert "(held in your calendar)" in prep.description
    # Nothing else of ours is under it: a deals block that was there gave way.
    assert not [
        b for b in cal if b is not hold and overlaps((b.start, b.end), (hold.start, hold.end))
    ]


def test_off_by_default() -> None:
    p = planner.plan([demo()], [], frozenset(), rules(), at(MON, 7))
    assert not [b for b in p.blocks if b.tentative]
    assert not p.proposals[0].held


def test_a_written_hold_stays_put_and_nothing_is_written_again() -> None:
    _, cal = run([demo()], at(MON, 7))
    p, again = run([demo()], at(MON, 7, 15), cal)
    assert reconcile.diff(cal, p, at(MON, 7, 15)) == []
    assert again == cal


def test_booking_the_next_meeting_removes_the_hold() -> None:
    _, cal = run([demo()], at(MON, 7))
    booked = meeting("next", at(THU, 15), 30, ME, CLIENT)
    p, after = run([demo(), booked], at(MON, 8), cal)
    assert hold_of(after) is None
    assert hold_of(after, "next") is not None  # the next meeting has none booked after it
    changes = reconcile.diff(cal, p, at(MON, 8))
    assert [c.op for c in changes if c.block.key == "hold/acme"] == [Op.DELETE]


def test_after_the_meeting_the_hold_stays_until_its_days_are_up() -> None:
    _, cal = run([demo()], at(MON, 7))
    hold = hold_of(cal)
    _, later = run([demo()], at(MON, 16), cal)  # the meeting is over, nothing booked
    assert hold_of(later) == hold
    _, still = run([demo()], at(TUE, 14, 59), later)
    assert hold_of(still) == hold
    _, gone = run([demo()], at(TUE, 15), still)
    assert hold_of(gone) is None  # a day after the meeting ended, before the hold's time
    _, longer = run([demo()], at(TUE, 15), still, holding(days=2))
    kept = hold_of(longer)
    assert hold is not None and kept is not None and kept.start == hold.start
    assert "or on Wed 02 Dec if it is not" in kept.description  # it says when it goes


def test_after_the_meeting_an_earlier_opening_does_not_move_the_hold() -> None:
    # Wednesday's morning is taken, so the hold goes to the afternoon...
    busy = meeting("dentist", at(WED, 8, 30), 300)
    _, cal = run([demo(), busy], at(MON, 7))
    hold = hold_of(cal)
    assert hold is not None and hold.start.astimezone(NY).hour >= 13
    # ...and stays there when the morning frees up after the client was offered it.
    p, later = run([demo()], at(MON, 16), cal)
    assert hold_of(later) == hold
    assert p.proposals == ()  # the meeting has begun: no longer upcoming


def test_a_meeting_booked_over_the_hold_moves_it() -> None:
    _, cal = run([demo()], at(MON, 7))
    hold = hold_of(cal)
    assert hold is not None
    clash = meeting("board", hold.start, 60)
    p, after = run([demo(), clash], at(MON, 8), cal)
    moved = hold_of(after)
    assert moved is not None and moved.key == hold.key
    assert not overlaps((moved.start, moved.end), (clash.start, clash.end))
    assert (moved.start, moved.end) == (p.proposals[0].slots[0].start, p.proposals[0].slots[0].end)


def test_a_deleted_hold_is_not_put_back() -> None:
    _, cal = run([demo()], at(MON, 7))
    hold = hold_of(cal)
    assert hold is not None
    rest = [b for b in cal if b is not hold]
    p, after = run([demo()], at(MON, 8), rest, tombstones=frozenset({hold.key}))
    assert hold_of(after) is None and not p.proposals[0].held


def test_a_hold_the_user_moved_is_theirs_and_offered_first() -> None:
    _, cal = run([demo()], at(MON, 7))
    hold = hold_of(cal)
    assert hold is not None
    moved = dataclasses.replace(hold, start=at(THU, 15), end=at(THU, 16))  # written stays
    owned = [moved if b is hold else b for b in cal]
    p, after = run([demo()], at(MON, 8), owned)
    assert hold_of(after) == moved and moved.touched
    assert p.proposals[0].held and p.proposals[0].slots[0].start == at(THU, 15)


def test_two_meetings_never_hold_the_same_time() -> None:
    other = meeting("acme2", at(MON, 15, 30), 60, ME, "bob@globex.com")
    p, cal = run([demo(), other], at(MON, 7))
    holds = [b for b in cal if b.tentative]
    assert {b.key for b in holds} == {"hold/acme", "hold/acme2"}
    a, b = holds
    assert not overlaps((a.start, a.end), (b.start, b.end))
    assert all(x.held for x in p.proposals)
    # Stable: the next run writes nothing.
    p2, _ = run([demo(), other], at(MON, 7, 15), cal)
    assert reconcile.diff(cal, p2, at(MON, 7, 15)) == []


def test_a_hold_past_the_horizon_is_kept_and_removed_there() -> None:
    r = holding(horizon_workdays=0)  # today only: the hold lies past the planned days
    p, cal = run([demo()], at(MON, 7), r=r)
    hold = hold_of(cal)
    assert hold is not None and hold.day not in p.days
    p2, again = run([demo()], at(MON, 7, 15), cal, r=r)
    assert reconcile.diff(cal, p2, at(MON, 7, 15)) == [] and hold_of(again) == hold
    booked = meeting("next", at(THU, 15), 30, ME, CLIENT)
    _, after = run([demo(), booked], at(MON, 8), cal, r=r)
    assert hold_of(after) is None


def test_a_recalled_plan_still_lets_the_hold_go_on_time() -> None:
    """The settled-plan cache (worker/settled.py) skips planning while the inputs
    are as before; the end of a hold's days is one of them."""
    _, cal = run([demo()], at(MON, 7))
    _, cal = run([demo()], at(TUE, 14, 50), cal)
    r, events, none = holding(), [demo()], frozenset[str]()
    plans = settled.Plans()
    before = at(TUE, 14, 50)
    kept = planner.plan(events, cal, none, r, before)
    assert hold_of(kept.blocks) is not None and not reconcile.diff(cal, kept, before)
    plans.keep("a", settled.inputs(events, cal, none, r, before), kept, changed=False)
    recalled = plans.recall("a", settled.inputs(events, cal, none, r, at(TUE, 14, 59)), cal)
    assert recalled is not None and hold_of(recalled.blocks) is not None  # nothing to redo
    digest = settled.inputs(events, cal, none, r, at(TUE, 15))
    assert plans.recall("a", digest, cal) is None  # planned again: the hold goes
