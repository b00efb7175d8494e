"""Worked examples of the day plan; the invariants are in test_invariants.py."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from worker import planner, reconcile
from worker.config import Planning, Workday, default_config
from worker.cycle import rules_for
from worker.models import Attendee, Block, BlockKind, Event, EventType, Response, Status

NY = ZoneInfo("America/New_York")
MON = date(2026, 11, 30)
ME = "me@example.com"


def rules(zone: ZoneInfo = NY, **planning: object) -> planner.Rules:
    config = default_config()
    config = dataclasses.replace(config, planning=dataclasses.replace(Planning(), **planning))
    account = dataclasses.replace(config.accounts[0], email=ME)
    return rules_for(dataclasses.replace(config, followups=config.followups), account, zone)


def at(day: date, hh: int, mm: int = 0, zone: ZoneInfo = NY) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=zone)


def meeting(uid: str, start: datetime, minutes: int = 60, *who: str, **kw: object) -> Event:
    people = tuple(Attendee(w) for w in who) or (Attendee("colleague@example.com"),)
    return Event(uid, uid, start, start + timedelta(minutes=minutes), attendees=people, **kw)  # type: ignore[arg-type]


def day_blocks(p: planner.Plan, day: date, zone: ZoneInfo = NY) -> list[tuple[str, str, str]]:
    return [
        (b.kind.value, f"{b.start.astimezone(zone):%H:%M}", f"{b.end.astimezone(zone):%H:%M}")
        for b in p.blocks
        if b.start.astimezone(zone).date() == day
    ]


def plan(
    events: list[Event],
    now: datetime,
    owned: tuple[Block, ...] = (),
    r: planner.Rules | None = None,
    tombstones: frozenset[str] = frozenset(),
) -> planner.Plan:
    return planner.plan(events, owned, tombstones, r or rules(), now)


def test_an_empty_day_in_policy_order() -> None:
    p = plan([], at(MON, 7))
    assert day_blocks(p, MON) == [
        ("prospecting", "08:30", "10:00"),
        ("deals", "10:00", "11:00"),
        ("prep", "11:00", "11:30"),
        ("admin", "16:45", "17:30"),
    ]
    assert p.days == (
        MON,
        MON + timedelta(1),
        MON + timedelta(2),
        MON + timedelta(3),
        MON + timedelta(4),
        MON + timedelta(7),
    )


def test_blocks_split_around_meetings() -> None:
    p = plan([meeting("standup", at(MON, 9), 15)], at(MON, 7))
    assert day_blocks(p, MON)[:2] == [
        ("prospecting", "08:30", "09:00"),
        ("prospecting", "09:15", "10:15"),
    ]


def test_too_full_a_day_drops_the_lowest_kinds_first() -> None:
    # Free: 08:30-10:00 and 16:00-17:30 = 180 minutes; targets add up to 225.
    p = plan([meeting("offsite", at(MON, 10), 360)], at(MON, 7))
    assert day_blocks(p, MON) == [
        ("prospecting", "08:30", "10:00"),
        ("deals", "16:00", "17:00"),
        ("prep", "17:00", "17:15"),
        ("admin", "17:15", "17:30"),
    ]
    short = {(s.kind.value, s.minutes_missing) for s in p.shortfalls if s.day == MON}
    assert short == {("prep", 15), ("admin", 30)}


def test_prospecting_is_the_last_to_lose_time() -> None:
    p = plan([meeting("offsite", at(MON, 9, 30), 480)], at(MON, 7))
    assert day_blocks(p, MON) == [("prospecting", "08:30", "09:30")]
    short = {(s.kind.value, s.minutes_missing) for s in p.shortfalls if s.day == MON}
    assert short == {("prospecting", 30), ("deals", 60), ("prep", 30), ("admin", 45)}


def test_client_meeting_gets_prep_right_before_it() -> None:
    p = plan([meeting("acme", at(MON, 14), 60, "jane@acme.com")], at(MON, 7))
    [prep] = [b for b in p.blocks if b.key == "meeting/acme"]
    assert (prep.start, prep.end) == (at(MON, 13, 45), at(MON, 14))
    assert prep.kind is BlockKind.PREP


def test_early_client_meeting_is_prepped_the_previous_workday() -> None:
    tue = MON + timedelta(1)
    p = plan([meeting("acme", at(tue, 8, 30), 60, "jane@acme.com")], at(MON, 7))
    [prep] = [b for b in p.blocks if b.key == "meeting/acme"]
    assert (prep.start, prep.end) == (at(MON, 17, 15), at(MON, 17, 30))


def test_internal_meetings_get_no_prep_and_public_domains_are_clients() -> None:
    p = plan(
        [
            meeting("int", at(MON, 14), 60, "bob@example.com"),
            meeting("sam", at(MON, 15), 30, "sam@gmail.com"),
        ],
        at(MON, 7),
    )
    assert [b.meeting_id for b in p.blocks if b.key.startswith("meeting/")] == ["sam"]


def test_prep_follows_its_meeting_and_goes_when_it_is_cancelled() -> None:
    first = plan([meeting("acme", at(MON, 14), 60, "jane@acme.com")], at(MON, 7))
    owned = tuple(dataclasses.replace(b, written=b.fingerprint) for b in first.blocks)
    moved = plan([meeting("acme", at(MON, 15), 60, "jane@acme.com")], at(MON, 7), owned)
    [change] = [
        c for c in reconcile.diff(owned, moved, at(MON, 7)) if c.block.key.startswith("meeting/")
    ]
    assert (change.op.value, change.block.start) == ("update", at(MON, 14, 45))
    gone = plan(
        [meeting("acme", at(MON, 15), 60, "jane@acme.com", status=Status.CANCELLED)],
        at(MON, 7),
        owned,
    )
    [change] = [
        c for c in reconcile.diff(owned, gone, at(MON, 7)) if c.block.key.startswith("meeting/")
    ]
    assert change.op.value == "delete"


def test_a_freed_morning_does_not_reshuffle_the_day() -> None:
    first = plan([meeting("early", at(MON, 8, 30), 60)], at(MON, 7))
    owned = tuple(dataclasses.replace(b, written=b.fingerprint) for b in first.blocks)
    again = plan([], at(MON, 7), owned)
    assert [c for c in reconcile.diff(owned, again, at(MON, 7)) if c.block.day == MON] == []


def test_busy_rules() -> None:
    r = rules()
    declined = meeting("d", at(MON, 9), 60, ME)
    declined = dataclasses.replace(declined, attendees=(Attendee(ME, response=Response.DECLINED),))
    tentative = dataclasses.replace(
        declined, attendees=(Attendee(ME, response=Response.TENTATIVE),)
    )
    assert not planner.is_busy(declined, r)
    assert planner.is_busy(tentative, r)
    assert not planner.is_busy(tentative, rules(tentative_is_busy=False))
    assert not planner.is_busy(dataclasses.replace(tentative, transparent=True), r)
    ooo = dataclasses.replace(
        tentative, transparent=True, event_type=EventType.OUT_OF_OFFICE, attendees=()
    )
    assert planner.is_busy(ooo, r)
    assert planner.is_busy(dataclasses.replace(declined, problem="unreadable"), r)


def test_all_day_out_of_office_and_holidays_remove_the_day() -> None:
    tue, wed = MON + timedelta(1), MON + timedelta(2)
    ooo = Event(
        "ooo",
        "Conference",
        at(tue, 0),
        at(wed, 0),
        all_day=True,
        event_type=EventType.OUT_OF_OFFICE,
    )
    birthday = Event("bd", "Birthday", at(MON, 0), at(tue, 0), all_day=True)
    p = plan([ooo, birthday], at(MON, 7), r=rules(holidays=frozenset({wed})))
    assert MON in p.days
    assert tue not in p.days
    assert wed not in p.days
    assert day_blocks(p, tue) == []


@pytest.mark.parametrize(
    ("zone", "day"),
    [
        ("America/New_York", date(2026, 3, 8)),
        ("America/New_York", date(2026, 11, 1)),
        ("Europe/London", date(2026, 3, 29)),
        ("Australia/Sydney", date(2026, 10, 4)),
        ("Australia/Sydney", date(2026, 4, 5)),
    ],
)
def test_dst_days_keep_wall_clock_hours(zone: str, day: date) -> None:
    tz = ZoneInfo(zone)
    r = rules(tz)
    r = dataclasses.replace(r, workday=Workday(frozenset(range(7)), time(8, 30), time(17, 30)))
    p = planner.plan([], (), frozenset(), r, at(day, 0, 5, tz))
    assert day_blocks(p, day, tz) == [
        ("prospecting", "08:30", "10:00"),
        ("deals", "10:00", "11:00"),
        ("prep", "11:00", "11:30"),
        ("admin", "16:45", "17:30"),
    ]


def test_today_is_planned_from_now_on() -> None:
    p = plan([], at(MON, 10, 2))
    assert day_blocks(p, MON)[0] == ("prospecting", "10:05", "11:35")


def test_a_workday_not_on_the_calendar_gets_nothing() -> None:
    sat = MON - timedelta(2)
    p = plan([], at(sat, 9))
    assert sat not in p.days
    assert p.days[0] == MON


def test_a_client_meeting_is_followed_by_its_follow_up_block() -> None:
    p = plan([meeting("acme", at(MON, 14), 60, "jane@acme.com")], at(MON, 7))
    [after] = [b for b in p.blocks if b.key == "followup/acme"]
    assert (after.start, after.end, after.kind) == (at(MON, 15), at(MON, 15, 15), BlockKind.DEALS)
    assert after.title == "Follow-up: acme"
    assert after.description.startswith("Send the recap of acme and book the next meeting.")
    assert "Proposed: Wed 02 Dec 08:30" not in after.description  # prospecting's time
    assert "Proposed: Wed 02 Dec 10:00" in after.description


def test_a_follow_up_that_does_not_fit_its_day_comes_after_the_next_mornings_prospecting() -> None:
    late = meeting("acme", at(MON, 16, 30), 60, "jane@acme.com")  # until the day's end
    p = plan([late], at(MON, 7))
    tue = MON + timedelta(1)
    [after] = [b for b in p.blocks if b.key == "followup/acme"]
    assert (after.start, after.end) == (at(tue, 10), at(tue, 10, 15))
    assert day_blocks(p, tue)[0] == ("prospecting", "08:30", "10:00")


def test_follow_up_blocks_can_be_turned_off() -> None:
    r = rules()
    r = dataclasses.replace(r, followups=dataclasses.replace(r.followups, followup_minutes=0))
    p = plan([meeting("acme", at(MON, 14), 60, "jane@acme.com")], at(MON, 7), r=r)
    assert not [b for b in p.blocks if b.key.startswith("followup/")]
