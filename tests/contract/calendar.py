"""The calendar contract: every provider passes this suite.

A provider's test module subclasses `CalendarContract` and supplies two fixtures:

- `calendar`: a fresh, empty provider;
- `outside`: an `Outside` that changes that calendar the way its user (or their
  calendar app) would, behind the worker's back.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

import pytest

from providers.base import CalendarProvider
from providers.errors import BadRequest, Conflict
from worker.models import Block, BlockKind, Change, Op, Window

ZONE = ZoneInfo("America/New_York")
DAY = date(2026, 11, 30)
WINDOW = Window(
    datetime(2026, 11, 30, tzinfo=ZONE), datetime(2026, 12, 5, tzinfo=ZONE), "America/New_York"
)


def at(hour: int, minute: int = 0, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE)


def block(key: str = "2026-11-30/prospecting/0", start: int = 9, end: int = 10) -> Block:
    return Block(
        key=key,
        kind=BlockKind.PROSPECTING,
        day=DAY,
        start=at(start),
        end=at(end),
        title="Prospecting",
        description="Protected time.",
    )


class Outside(Protocol):
    def add_event(self, uid: str, title: str, start: datetime, end: datetime) -> None: ...

    def move_block(self, key: str, start: datetime, end: datetime) -> None: ...

    def retitle_block(self, key: str, title: str) -> None: ...

    def delete_block(self, key: str) -> None: ...


class CalendarContract:
    @pytest.fixture
    def calendar(self) -> CalendarProvider:
        raise NotImplementedError

    @pytest.fixture
    def outside(self, calendar: CalendarProvider) -> Outside:
        raise NotImplementedError

    def test_empty_calendar_has_nothing(self, calendar: CalendarProvider) -> None:
        snap = calendar.fetch(WINDOW)
        assert snap.events == ()
        assert snap.blocks == ()

    def test_created_block_comes_back_owned_and_untouched(self, calendar: CalendarProvider) -> None:
        [applied] = calendar.apply([Change(Op.CREATE, block())])
        [found] = calendar.fetch(WINDOW).blocks
        assert found.key == "2026-11-30/prospecting/0"
        assert found.id == block().id
        assert (found.start, found.end) == (at(9), at(10))
        assert found.kind is BlockKind.PROSPECTING
        assert found.day == DAY
        assert found.title == "Prospecting"
        assert not found.touched
        assert found.etag == applied.block.etag

    def test_create_is_idempotent(self, calendar: CalendarProvider) -> None:
        calendar.apply([Change(Op.CREATE, block())])
        calendar.apply([Change(Op.CREATE, block())])
        assert len(calendar.fetch(WINDOW).blocks) == 1

    def test_update_moves_the_block(self, calendar: CalendarProvider) -> None:
        calendar.apply([Change(Op.CREATE, block())])
        [found] = calendar.fetch(WINDOW).blocks
        calendar.apply([Change(Op.UPDATE, block(start=11, end=12), before=found)])
        [moved] = calendar.fetch(WINDOW).blocks
        assert (moved.start, moved.end) == (at(11), at(12))
        assert not moved.touched

    def test_delete_removes_and_is_idempotent(self, calendar: CalendarProvider) -> None:
        calendar.apply([Change(Op.CREATE, block())])
        [found] = calendar.fetch(WINDOW).blocks
        calendar.apply([Change(Op.DELETE, found, before=found)])
        assert calendar.fetch(WINDOW).blocks == ()
        calendar.apply([Change(Op.DELETE, found, before=found)])
        assert calendar.fetch(WINDOW).blocks == ()

    def test_window_limits_what_is_fetched(
        self, calendar: CalendarProvider, outside: Outside
    ) -> None:
        later = DAY + timedelta(days=10)
        calendar.apply(
            [Change(Op.CREATE, replace(block(), start=at(9, day=later), end=at(10, day=later)))]
        )
        outside.add_event("far", "Far away", at(9, day=later), at(10, day=later))
        outside.add_event("near", "Close by", at(13), at(14))
        snap = calendar.fetch(WINDOW)
        assert snap.blocks == ()
        assert [e.title for e in snap.events] == ["Close by"]

    def test_events_are_returned_with_their_times(
        self, calendar: CalendarProvider, outside: Outside
    ) -> None:
        outside.add_event("m1", "Acme call", at(14), at(15))
        [event] = calendar.fetch(WINDOW).events
        assert (event.title, event.start, event.end) == ("Acme call", at(14), at(15))
        assert event.id.startswith("m1")

    def test_writing_blocks_leaves_events_alone(
        self, calendar: CalendarProvider, outside: Outside
    ) -> None:
        outside.add_event("m1", "Acme call", at(14), at(15))
        before = calendar.fetch(WINDOW).events
        calendar.apply([Change(Op.CREATE, block()), Change(Op.CREATE, block("k2", 15, 16))])
        [found, _] = sorted(calendar.fetch(WINDOW).blocks, key=lambda b: b.start)
        calendar.apply([Change(Op.DELETE, found, before=found)])
        assert calendar.fetch(WINDOW).events == before

    def test_a_moved_block_is_touched(self, calendar: CalendarProvider, outside: Outside) -> None:
        calendar.apply([Change(Op.CREATE, block())])
        outside.move_block("2026-11-30/prospecting/0", at(13), at(14))
        [found] = calendar.fetch(WINDOW).blocks
        assert found.touched
        assert (found.start, found.end) == (at(13), at(14))

    def test_a_retitled_block_is_touched(
        self, calendar: CalendarProvider, outside: Outside
    ) -> None:
        calendar.apply([Change(Op.CREATE, block())])
        outside.retitle_block("2026-11-30/prospecting/0", "Calls with Acme")
        [found] = calendar.fetch(WINDOW).blocks
        assert found.touched
        assert found.title == "Calls with Acme"

    def test_apply_refuses_to_touch_a_users_block(
        self, calendar: CalendarProvider, outside: Outside
    ) -> None:
        calendar.apply([Change(Op.CREATE, block())])
        outside.move_block("2026-11-30/prospecting/0", at(13), at(14))
        [found] = calendar.fetch(WINDOW).blocks
        with pytest.raises(BadRequest):
            calendar.apply([Change(Op.DELETE, found, before=found)])
        with pytest.raises(BadRequest):
            calendar.apply([Change(Op.UPDATE, block(), before=found)])
        assert calendar.fetch(WINDOW).blocks == (found,)

    def test_update_of_a_block_changed_since_fetch_conflicts(
        self, calendar: CalendarProvider, outside: Outside
    ) -> None:
        calendar.apply([Change(Op.CREATE, block())])
        [stale] = calendar.fetch(WINDOW).blocks
        outside.move_block("2026-11-30/prospecting/0", at(13), at(14))
        with pytest.raises(Conflict):
            calendar.apply([Change(Op.UPDATE, block(start=11, end=12), before=stale)])
        [found] = calendar.fetch(WINDOW).blocks
        assert (found.start, found.end) == (at(13), at(14))

    def test_update_of_a_deleted_block_conflicts(
        self, calendar: CalendarProvider, outside: Outside
    ) -> None:
        calendar.apply([Change(Op.CREATE, block())])
        [stale] = calendar.fetch(WINDOW).blocks
        outside.delete_block("2026-11-30/prospecting/0")
        with pytest.raises(Conflict):
            calendar.apply([Change(Op.UPDATE, block(start=11, end=12), before=stale)])
        assert calendar.fetch(WINDOW).blocks == ()

    def test_update_and_delete_need_the_block_as_found(self, calendar: CalendarProvider) -> None:
        with pytest.raises(BadRequest):
            calendar.apply([Change(Op.DELETE, block())])

    def test_create_over_a_block_the_user_changed_conflicts(
        self, calendar: CalendarProvider, outside: Outside
    ) -> None:
        calendar.apply([Change(Op.CREATE, block())])
        outside.move_block("2026-11-30/prospecting/0", at(13), at(14))
        with pytest.raises(Conflict):
            calendar.apply([Change(Op.CREATE, block())])
        [found] = calendar.fetch(WINDOW).blocks
        assert (found.start, found.end) == (at(13), at(14))
