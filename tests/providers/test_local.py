from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import icalendar
import pytest

from providers.errors import DataError
from providers.local.calendar import LocalCalendar
from tests.contract.calendar import WINDOW, CalendarContract, block
from worker.models import Change, Op, block_id


@dataclass
class FileOutside:
    """Edits the .ics file the way a calendar app would: parse, change, save."""

    path: Path

    def _edit(self, change: object) -> None:
        text = self.path.read_bytes() if self.path.exists() else None
        cal = icalendar.Calendar.from_ical(text) if text else _new()
        change(cal)  # type: ignore[operator]
        self.path.write_bytes(cal.to_ical())

    def add_event(self, uid: str, title: str, start: datetime, end: datetime) -> None:
        def add(cal: icalendar.Calendar) -> None:
            ev = icalendar.Event()
            ev.add("UID", uid)
            ev.add("DTSTAMP", datetime(2026, 1, 1, tzinfo=UTC))
            ev.add("DTSTART", start)
            ev.add("DTEND", end)
            ev.add("SUMMARY", title)
            cal.add_component(ev)

        self._edit(add)

    def _block(self, cal: icalendar.Calendar, key: str) -> icalendar.Event:
        return next(c for c in cal.walk("VEVENT") if str(c["UID"]) == block_id(key))

    def move_block(self, key: str, start: datetime, end: datetime) -> None:
        def move(cal: icalendar.Calendar) -> None:
            ev = self._block(cal, key)
            del ev["DTSTART"], ev["DTEND"]
            ev.add("DTSTART", start)
            ev.add("DTEND", end)

        self._edit(move)

    def retitle_block(self, key: str, title: str) -> None:
        def retitle(cal: icalendar.Calendar) -> None:
            self._block(cal, key)["SUMMARY"] = title

        self._edit(retitle)

    def delete_block(self, key: str) -> None:
        def delete(cal: icalendar.Calendar) -> None:
            cal.subcomponents[:] = [
                c for c in cal.subcomponents if str(c.get("UID")) != block_id(key)
            ]

        self._edit(delete)


def _new() -> icalendar.Calendar:
    cal = icalendar.Calendar()
    cal.add("VERSION", "2.0")
    cal.add("PRODID", "-//test//test//EN")
    return cal


class TestLocalCalendar(CalendarContract):
    @pytest.fixture
    def calendar(self, tmp_path: Path) -> LocalCalendar:
        return LocalCalendar(tmp_path / "calendar.ics")

    @pytest.fixture
    def outside(self, calendar: LocalCalendar) -> FileOutside:
        return FileOutside(calendar.path)


USER_FILE = (
    "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//Someone//App//EN\n"
    "BEGIN:VEVENT\nUID:u1\nDTSTAMP:20260101T000000Z\n"
    "DTSTART;TZID=Pacific Standard Time:20261130T090000\n"
    "DTEND;TZID=Pacific Standard Time:20261130T100000\n"
    "SUMMARY:A long title that goes on and on, folded the way this app folds it\n"
    "  and continued\nX-APP-SPECIFIC;X-PARAM=1:kept\nEND:VEVENT\nEND:VCALENDAR\n"
)


def test_writes_leave_every_other_byte_alone(tmp_path: Path) -> None:
    path = tmp_path / "calendar.ics"
    path.write_text(USER_FILE, newline="")
    cal = LocalCalendar(path)
    cal.apply([Change(Op.CREATE, block())])
    text = path.read_bytes().decode()
    assert text.startswith(USER_FILE.removesuffix("END:VCALENDAR\n"))
    assert "\r\n" not in text  # the file's own line endings are kept
    [found] = cal.fetch(WINDOW).blocks
    cal.apply([Change(Op.DELETE, found, before=found)])
    assert path.read_bytes().decode() == USER_FILE


def test_a_new_file_is_created_private(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "calendar.ics"
    LocalCalendar(path).apply([Change(Op.CREATE, block())])
    assert path.stat().st_mode & 0o777 == 0o600
    assert b"\r\n" in path.read_bytes()


def test_blocks_are_busy_without_attendees_or_alarms(tmp_path: Path) -> None:
    path = tmp_path / "calendar.ics"
    LocalCalendar(path).apply([Change(Op.CREATE, block())])
    [ev] = icalendar.Calendar.from_ical(path.read_bytes()).walk("VEVENT")
    assert str(ev["TRANSP"]) == "OPAQUE"
    assert "ATTENDEE" not in ev
    assert not ev.walk("VALARM")
    assert str(ev["UID"]) == block_id("2026-11-30/prospecting/0")


def test_a_broken_file_is_never_written(tmp_path: Path) -> None:
    path = tmp_path / "calendar.ics"
    broken = b"BEGIN:VCALENDAR\r\nthis is not ical at all\r\n"
    path.write_bytes(broken)
    cal = LocalCalendar(path)
    with pytest.raises(DataError, match=str(path)):
        cal.fetch(WINDOW)
    with pytest.raises(DataError, match=str(path)):
        cal.apply([Change(Op.CREATE, block())])
    assert path.read_bytes() == broken


def test_a_copy_of_a_block_under_another_uid_is_not_ours(tmp_path: Path) -> None:
    path = tmp_path / "calendar.ics"
    cal = LocalCalendar(path)
    cal.apply([Change(Op.CREATE, block())])
    text = path.read_bytes().decode()
    start = text.index("BEGIN:VEVENT")
    end = text.index("END:VEVENT") + len("END:VEVENT\r\n")
    copy = text[start:end].replace(block_id("2026-11-30/prospecting/0"), "copy-made-by-user")
    path.write_text(text[:end] + copy + text[end:], newline="")
    snap = cal.fetch(WINDOW)
    assert [b.key for b in snap.blocks] == ["2026-11-30/prospecting/0"]
    assert [e.id for e in snap.events] == ["copy-made-by-user"]


def test_an_empty_file_is_an_empty_calendar(tmp_path: Path) -> None:
    path = tmp_path / "calendar.ics"
    path.write_bytes(b"")
    cal = LocalCalendar(path)
    assert cal.fetch(WINDOW).blocks == ()
    cal.apply([Change(Op.CREATE, block())])
    assert [b.key for b in cal.fetch(WINDOW).blocks] == ["2026-11-30/prospecting/0"]
