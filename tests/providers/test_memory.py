from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pytest

from providers.memory import MemoryCalendar
from tests.contract.calendar import CalendarContract
from worker.models import Event


@dataclass
class MemoryOutside:
    calendar: MemoryCalendar

    def add_event(self, uid: str, title: str, start: datetime, end: datetime) -> None:
        self.calendar.events.append(Event(uid, title, start, end))

    def move_block(self, key: str, start: datetime, end: datetime) -> None:
        self.calendar.user_edit(key, start=start, end=end)

    def retitle_block(self, key: str, title: str) -> None:
        self.calendar.user_edit(key, title=title)

    def delete_block(self, key: str) -> None:
        self.calendar.user_delete(key)


class TestMemoryCalendar(CalendarContract):
    @pytest.fixture
    def calendar(self) -> MemoryCalendar:
        return MemoryCalendar()

    @pytest.fixture
    def outside(self, calendar: MemoryCalendar) -> MemoryOutside:
        return MemoryOutside(calendar)
