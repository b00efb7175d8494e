"""The local calendar under hostile conditions: duplicate UIDs, another program
saving the file while firstblock writes it, errors that quote the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from providers.errors import TransientError
from providers.local import calendar as local_calendar
from providers.local import ics
from providers.local.calendar import LocalCalendar
from tests.contract.calendar import WINDOW, block
from worker.models import Change, Op

HEAD = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//someone//EN\r\n"
TAIL = "END:VCALENDAR\r\n"


def event(uid: str, start: str, end: str, title: str, extra: str = "") -> str:
    return (
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:{start}\r\n"
        f"DTEND:{end}\r\nSUMMARY:{title}\r\n{extra}END:VEVENT\r\n"
    )


def test_two_events_with_one_uid_are_both_busy_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "cal.ics"
    path.write_text(
        HEAD
        + event("dup@example.com", "20261130T140000Z", "20261130T150000Z", "Call with Acme")
        + event("dup@example.com", "20261201T160000Z", "20261201T170000Z", "Call with Globex")
        + TAIL,
        newline="",
    )
    snap = LocalCalendar(path).fetch(WINDOW)
    assert sorted(e.title for e in snap.events) == ["Call with Acme", "Call with Globex"]
    assert len({e.id for e in snap.events}) == 2
    assert any("shares its UID with another event" in p for p in snap.problems)


def test_two_copies_of_one_moved_occurrence_are_both_busy(tmp_path: Path) -> None:
    path = tmp_path / "cal.ics"
    rid = "RECURRENCE-ID:20261201T140000Z\r\n"
    path.write_text(
        HEAD
        + event("s@x", "20261130T140000Z", "20261130T150000Z", "Daily", "RRULE:FREQ=DAILY\r\n")
        + event("s@x", "20261201T180000Z", "20261201T190000Z", "Moved once", rid)
        + event("s@x", "20261201T200000Z", "20261201T210000Z", "Moved twice", rid)
        + TAIL,
        newline="",
    )
    snap = LocalCalendar(path).fetch(WINDOW)
    titles = sorted(e.title for e in snap.events if e.start.day == 1)
    assert titles == ["Moved once", "Moved twice"]


def test_a_save_by_another_program_during_the_write_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cal.ics"
    path.write_text(HEAD + TAIL, newline="")
    saves = [HEAD + event("new@x", "20261202T140000Z", "20261202T150000Z", "Booked") + TAIL]
    real = ics.parse_calendar

    def parse(text: str) -> object:
        """A calendar app saves the file while firstblock parses it (a large file)."""
        parsed = real(text)
        if saves:
            path.write_text(saves.pop(), newline="")
        return parsed

    monkeypatch.setattr(local_calendar.ics, "parse_calendar", parse)
    LocalCalendar(path).apply([Change(Op.CREATE, block())])
    text = path.read_bytes().decode()
    assert "UID:new@x" in text  # their save survived
    assert "X-FIRSTBLOCK-KEY" in text  # and the block was written over it


def test_a_file_that_keeps_changing_is_never_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cal.ics"
    path.write_text(HEAD + TAIL, newline="")
    versions = [
        HEAD + event(f"e{i}@x", "20261202T140000Z", "20261202T150000Z", "Busy") + TAIL
        for i in range(2)
    ]
    real = ics.parse_calendar
    count = [0]

    def parse(text: str) -> object:
        parsed = real(text)
        path.write_text(versions[count[0] % 2], newline="")
        count[0] += 1
        return parsed

    monkeypatch.setattr(local_calendar.ics, "parse_calendar", parse)
    with pytest.raises(TransientError, match="kept changing") as caught:
        LocalCalendar(path).apply([Change(Op.CREATE, block())])
    assert "\n" not in str(caught.value)
    assert path.read_bytes().decode() == versions[(count[0] - 1) % 2]
    assert "X-FIRSTBLOCK" not in path.read_bytes().decode()
