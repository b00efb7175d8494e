"""Each provider tells the zone an event's times were set in (Event.zone): what a
client's own invitation says about the client (worker/proposals.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from providers.google.mapping import to_event as google_event
from providers.local import ics
from providers.outlook.mapping import to_event as outlook_event
from tests.contract.calendar import WINDOW

NY = ZoneInfo("America/New_York")
FALLBACK = datetime(2026, 11, 30, tzinfo=NY)


def test_google_gives_the_start_time_zone() -> None:
    item = {
        "id": "e1",
        "start": {"dateTime": "2026-12-01T15:00:00+01:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2026-12-01T16:00:00+01:00", "timeZone": "Europe/Berlin"},
    }
    assert google_event(item, NY, FALLBACK).zone == "Europe/Berlin"
    item["start"] = {"dateTime": "2026-12-01T15:00:00+01:00", "timeZone": "Mars/Olympus"}
    assert google_event(item, NY, FALLBACK).zone == ""  # unknown: none rather than wrong


def test_outlook_maps_the_original_windows_zone() -> None:
    item = {
        "id": "e1",
        "start": {"dateTime": "2026-12-01T14:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-12-01T15:00:00.0000000", "timeZone": "UTC"},
        "originalStartTimeZone": "W. Europe Standard Time",
    }
    assert outlook_event(item, NY, "me@example.com", FALLBACK).zone == "Europe/Berlin"
    item["originalStartTimeZone"] = "Customized Time Zone"
    assert outlook_event(item, NY, "me@example.com", FALLBACK).zone == ""


def test_a_calendar_file_gives_the_tzid() -> None:
    text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n"
        "BEGIN:VEVENT\r\nUID:a\r\nDTSTAMP:20261101T000000Z\r\n"
        "DTSTART;TZID=Asia/Tokyo:20261202T090000\r\nDTEND;TZID=Asia/Tokyo:20261202T100000\r\n"
        "SUMMARY:Tokyo\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:b\r\nDTSTAMP:20261101T000000Z\r\n"
        "DTSTART:20261201T150000Z\r\nDTEND:20261201T160000Z\r\nSUMMARY:UTC\r\nEND:VEVENT\r\n"
        "END:VCALENDAR\r\n"
    )
    events = {e.id: e for e in ics.read(ics.parse_calendar(text), WINDOW).events}
    assert events["a"].zone == "Asia/Tokyo"
    assert events["b"].zone == ""  # UTC says nothing about where anyone is


def test_outlook_reads_a_wall_time_in_the_spring_gap_as_just_after_it() -> None:
    """02:30 never happens in New York on 8 March 2026: read as 03:30 EDT, it sorts
    after 03:15 as it does on the clock (an unnormalised 02:30 would sort before)."""
    item = {
        "id": "e1",
        "start": {"dateTime": "2026-03-08T02:30:00.0000000", "timeZone": "Eastern Standard Time"},
        "end": {"dateTime": "2026-03-08T04:00:00.0000000", "timeZone": "Eastern Standard Time"},
    }
    event = outlook_event(item, NY, "me@example.com", FALLBACK)
    assert (event.start.hour, event.start.minute) == (3, 30)
    assert event.start > datetime(2026, 3, 8, 3, 15, tzinfo=NY)
    assert event.start.utcoffset() == timedelta(hours=-4)
