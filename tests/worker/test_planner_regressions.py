"""Plain regression tests for planner bugs found by the invariant tests."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from providers.memory import MemoryCalendar
from worker import planner, reconcile
from worker.config import Account, Config, Planning, default_config
from worker.cycle import AccountRun, rules_for, run_account
from worker.models import Attendee, Block, BlockKind, Event, EventType
from worker.state import State

NY = ZoneInfo("America/New_York")
SYDNEY = ZoneInfo("Australia/Sydney")
MON = date(2026, 11, 30)
ACCOUNT = Account(name="sales", provider="memory", email="me@example.com")


def config(zone: ZoneInfo = NY, **workday: object) -> Config:
    base = default_config()
    wd = dataclasses.replace(base.workday, **workday)  # type: ignore[arg-type]
    return dataclasses.replace(
        base,
        accounts=(ACCOUNT,),
        timezone=zone.key,
        workday=wd,
        planning=Planning(horizon_workdays=1),
    )


def rules(zone: ZoneInfo = NY, **workday: object) -> planner.Rules:
    return rules_for(config(zone, **workday), ACCOUNT, zone)


def at(day: date, hh: int, mm: int = 0, zone: ZoneInfo = NY) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=zone)


def minutes(b: Block) -> float:
    return (b.end.astimezone(UTC) - b.start.astimezone(UTC)).total_seconds() / 60


def written(blocks: tuple[Block, ...]) -> tuple[Block, ...]:
    return tuple(dataclasses.replace(b, written=b.fingerprint) for b in blocks)


@pytest.mark.parametrize(
    ("zone", "day"),
    [
        ("Australia/Sydney", date(2026, 10, 4)),  # 02:00 -> 03:00
        ("America/New_York", date(2026, 3, 8)),  # 02:00 -> 03:00
        ("America/New_York", date(2026, 11, 1)),  # 02:00 -> 01:00
        ("Europe/London", date(2026, 10, 25)),  # 02:00 -> 01:00
    ],
)
def test_blocks_across_a_dst_change_have_their_real_length(zone: str, day: date) -> None:
    # Datetimes sharing a tzinfo add and subtract by wall clock: a block ending in the
    # skipped hour came out zero minutes long, one across the repeated hour too long.
    tz = ZoneInfo(zone)
    r = rules(tz, days=frozenset(range(7)), start=time(0, 30), end=time(12))
    p = planner.plan([], (), frozenset(), r, at(day, 0, 5, tz))
    mine = sorted((b for b in p.blocks if b.day == day), key=lambda b: b.start.astimezone(UTC))
    assert [(b.kind, minutes(b)) for b in mine] == [
        (BlockKind.PROSPECTING, 90),
        (BlockKind.DEALS, 60),
        (BlockKind.PREP, 30),
        (BlockKind.ADMIN, 45),
    ]
    for a, b in itertools.pairwise(mine):
        assert a.end.astimezone(UTC) <= b.start.astimezone(UTC)
    assert not [s for s in p.shortfalls if s.day == day]


def test_a_block_in_the_repeated_hour_is_not_rewritten_every_run() -> None:
    # 01:30 EST (the second 01:30) never equals the same instant in UTC in Python.
    day = date(2026, 11, 1)
    start = datetime(2026, 11, 1, 1, 30, tzinfo=NY, fold=1)
    found = Block(
        key=f"{day}/prospecting/0",
        kind=BlockKind.PROSPECTING,
        day=day,
        start=start,
        end=start + timedelta(minutes=30),
        title="Prospecting",
    )
    found = dataclasses.replace(found, written=found.fingerprint)
    wanted = dataclasses.replace(
        found, start=found.start.astimezone(UTC), end=found.end.astimezone(UTC), written=""
    )
    p = planner.Plan((day,), (wanted,), (), ())
    assert reconcile.diff([found], p, at(day, 0, 5)) == []


def test_a_started_block_the_user_deleted_does_not_come_back(tmp_path: Path) -> None:
    cal = MemoryCalendar()
    state = State(tmp_path / "s.sqlite3")
    cfg = config()
    run_account(AccountRun.start(cfg, ACCOUNT, cal, state, at(MON, 7)), cal, apply=True)
    assert any(b.key == f"{MON}/deals/0" for b in cal.blocks.values())  # 10:00-11:00
    cal.user_delete(f"{MON}/deals/0")
    run_account(AccountRun.start(cfg, ACCOUNT, cal, state, at(MON, 10, 30)), cal, apply=True)
    assert not [b for b in cal.blocks.values() if b.day == MON and b.kind is BlockKind.DEALS]
    state.close()


def test_kept_blocks_do_not_depend_on_the_input_order() -> None:
    r = rules()
    first = planner.plan(
        [Event("m", "standup", at(MON, 9), at(MON, 9, 15))], (), frozenset(), r, at(MON, 7)
    )
    owned = list(written(first.blocks))
    # The user deleted one of the two prospecting chunks: the other one is kept.
    owned = [b for b in owned if b.key != f"{MON}/prospecting/1"]
    tombstones = frozenset({f"{MON}/prospecting/1", f"{MON}/deals/0"})
    forward = planner.plan([], owned, tombstones, r, at(MON, 7))
    backward = planner.plan([], owned[::-1], tombstones, r, at(MON, 7))
    assert len(forward.kept) >= 2
    assert forward == backward


def test_a_meeting_over_a_closed_kind_block_removes_it() -> None:
    # Prospecting is split around a standup; the user deletes one chunk, so the other
    # is left as it is. Then a meeting is booked over that one: it must not stay.
    r = rules()
    standup = Event("standup", "standup", at(MON, 9, 30), at(MON, 10, 30))
    first = planner.plan([standup], (), frozenset(), r, at(MON, 7))
    owned = [b for b in written(first.blocks) if b.key != f"{MON}/prospecting/1"]
    tombstones = frozenset({f"{MON}/prospecting/1"})
    [chunk] = [b for b in owned if b.day == MON and b.kind is BlockKind.PROSPECTING]
    assert (chunk.start, chunk.end) == (at(MON, 8, 30), at(MON, 9, 30))
    calm = planner.plan([standup], owned, tombstones, r, at(MON, 7))
    assert reconcile.diff(owned, calm, at(MON, 7)) == []
    booked = Event("call", "call", at(MON, 8, 45), at(MON, 9, 15))
    p = planner.plan([standup, booked], owned, tombstones, r, at(MON, 7))
    changes = reconcile.diff(owned, p, at(MON, 7))
    assert [(c.op.value, c.block.key) for c in changes] == [("delete", chunk.key)]
    assert not [b for b in p.blocks if b.day == MON and b.kind is BlockKind.PROSPECTING]


def test_a_closed_kind_block_goes_when_its_day_becomes_a_day_off() -> None:
    r = rules()
    standup = Event("standup", "standup", at(MON, 9, 30), at(MON, 10, 30))
    first = planner.plan([standup], (), frozenset(), r, at(MON - timedelta(days=3), 7))
    owned = [b for b in written(first.blocks) if b.key != f"{MON}/prospecting/1"]
    tombstones = frozenset({f"{MON}/prospecting/1"})
    ooo = Event(
        "ooo",
        "Sick",
        at(MON, 0),
        at(MON + timedelta(days=1), 0),
        all_day=True,
        event_type=EventType.OUT_OF_OFFICE,
    )
    p = planner.plan([standup, ooo], owned, tombstones, r, at(MON - timedelta(days=3), 7))
    assert MON not in p.days
    changes = reconcile.diff(owned, p, at(MON - timedelta(days=3), 7))
    assert {c.block.key for c in changes if c.block.day == MON} == {
        b.key for b in owned if b.day == MON
    }
    assert all(c.op.value == "delete" for c in changes if c.block.day == MON)


def test_a_kind_never_goes_after_a_kept_block_of_a_later_kind() -> None:
    # Prospecting is split around a standup and the user deletes its first chunk: the
    # second (10:30-11:00) stays. A call booked over deals must not send deals back
    # into the freed morning, before that prospecting block.
    r = rules()
    standup = Event("standup", "standup", at(MON, 9, 30), at(MON, 10, 30))
    first = planner.plan([standup], (), frozenset(), r, at(MON, 7))
    owned = [b for b in written(first.blocks) if b.key != f"{MON}/prospecting/0"]
    tombstones = frozenset({f"{MON}/prospecting/0"})
    [chunk] = [b for b in owned if b.day == MON and b.kind is BlockKind.PROSPECTING]
    assert (chunk.start, chunk.end) == (at(MON, 10, 30), at(MON, 11))
    call = Event("call", "call", at(MON, 11), at(MON, 12))
    p = planner.plan([standup, call], owned, tombstones, r, at(MON, 7))
    [deals] = [b for b in p.blocks if b.day == MON and b.kind is BlockKind.DEALS]
    assert deals.start >= chunk.end
    assert (deals.start, deals.end) == (at(MON, 12), at(MON, 13))


def test_an_off_grid_block_is_not_nudged_as_time_passes() -> None:
    # A 92-minute target ends prospecting at 10:02. Deals used to start right there,
    # off the grid, and move to 10:05 on a run at 10:01: it starts on the grid now.
    base = config()
    policies = tuple(  # busy from the start: only time passes here, no ramp
        dataclasses.replace(p, minutes=92, defense="always")
        if p.kind is BlockKind.PROSPECTING
        else dataclasses.replace(p, defense="always")
        for p in base.blocks
    )
    r = rules_for(dataclasses.replace(base, blocks=policies), ACCOUNT, NY)
    first = planner.plan([], (), frozenset(), r, at(MON, 7))
    owned = written(first.blocks)
    [deals] = [b for b in owned if b.day == MON and b.kind is BlockKind.DEALS]
    assert deals.start.astimezone(NY).time() == time(10, 5)
    later = planner.plan([], owned, frozenset(), r, at(MON, 10, 1))
    assert reconcile.diff(owned, later, at(MON, 10, 1)) == []


def test_a_shrunk_kind_does_not_take_back_time_once_its_block_starts() -> None:
    # A full day: deals shrank to 30 minutes so prep and admin keep their minimum. When
    # the deals block starts, the remaining 30 minutes of deals used to be planned
    # again, pushing out prep and admin (the block that ends the inbox hold).
    # (Busy from the start: a ramp turning Tuesday's blocks busy is another matter.)
    r = rules()
    r = dataclasses.replace(
        r, policies=tuple(dataclasses.replace(p, defense="always") for p in r.policies)
    )
    offsite = Event("offsite", "offsite", at(MON, 10), at(MON, 16, 30))
    first = planner.plan([offsite], (), frozenset(), r, at(MON, 7))
    owned = written(first.blocks)
    assert [(b.kind, b.start.astimezone(NY).time()) for b in owned if b.day == MON] == [
        (BlockKind.PROSPECTING, time(8, 30)),
        (BlockKind.DEALS, time(16, 30)),
        (BlockKind.PREP, time(17)),
        (BlockKind.ADMIN, time(17, 15)),
    ]
    later = planner.plan([offsite], owned, frozenset(), r, at(MON, 16, 35))
    assert reconcile.diff(owned, later, at(MON, 16, 35)) == []
    short = {(s.kind, s.minutes_missing) for s in later.shortfalls if s.day == MON}
    assert short == {(BlockKind.DEALS, 30), (BlockKind.PREP, 15), (BlockKind.ADMIN, 30)}


def test_a_range_ending_in_the_skipped_hour_does_not_overlap_the_next() -> None:
    # Sydney springs forward at 02:00 on Sunday 4 Oct 2026: "02:15" is 03:15 that day,
    # past the next range's 03:00 start. Two prospecting blocks used to overlap there.
    r = rules(
        SYDNEY,
        days=frozenset(range(7)),
        start=time(0, 30),
        end=time(12),
        ranges=((time(0, 30), time(2, 15)), (time(3), time(12))),
    )
    first = dataclasses.replace(r.policies[0], minutes=120, min_chunk=5)  # spills over
    r = dataclasses.replace(r, policies=(first,))
    sunday = date(2026, 10, 4)
    p = planner.plan([], [], frozenset(), r, datetime(2026, 10, 3, 14, tzinfo=UTC))
    mine = sorted((b.start, b.end) for b in p.blocks if b.day == sunday)
    assert mine and all(a[1] <= b[0] for a, b in itertools.pairwise(mine))


def test_a_follow_up_block_stays_once_its_meeting_has_ended() -> None:
    # A client call at 06:00, before the workday: its follow-up block is at 08:30.
    # At 07:00 the call is over, and the block used to be deleted with nothing after.
    r = rules()
    call = Event(
        "call",
        "Globex call",
        datetime(2026, 11, 30, 6, tzinfo=NY),
        datetime(2026, 11, 30, 6, 15, tzinfo=NY),
        attendees=(Attendee("me@example.com"), Attendee("bob@globex.com")),
    )
    first = planner.plan([call], [], frozenset(), r, datetime(2026, 11, 30, 5, tzinfo=NY))
    [after] = [b for b in first.blocks if b.key == "followup/call"]
    owned = [dataclasses.replace(b, written=b.fingerprint) for b in first.blocks]
    later = planner.plan([call], owned, frozenset(), r, datetime(2026, 11, 30, 7, tzinfo=NY))
    [kept] = [b for b in later.blocks if b.key == "followup/call"]
    assert (kept.start, kept.end) == (after.start, after.end)
    changes = reconcile.diff(owned, later, datetime(2026, 11, 30, 7, tzinfo=NY))
    assert [c.op.value for c in changes if c.block.key == "followup/call"] in ([], ["update"])
