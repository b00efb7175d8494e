"""The local provider on messy real-world calendars (docs/design.md §3, "Real-world calendars").

Each calendar in tests/data/calendars/ is small and hand-written for one case. The
tests read it through LocalCalendar.fetch and compare the exact domain events.
Expected times are written in UTC where the point is the instant, and in a named
zone where the point is the wall-clock time.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from providers.errors import DataError
from providers.local.calendar import LocalCalendar
from worker.models import (
    Attendee,
    Block,
    BlockKind,
    Change,
    Event,
    Op,
    Response,
    Snapshot,
    Status,
    Window,
)

DATA = Path(__file__).parent.parent / "data" / "calendars"
NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
TOKYO = ZoneInfo("Asia/Tokyo")


def fetch(name: str, first: date, last: date, zone: ZoneInfo = NY) -> Snapshot:
    """Read a calendar from midnight of `first` to midnight of `last`, in `zone`."""
    start = datetime(first.year, first.month, first.day, tzinfo=zone)
    end = datetime(last.year, last.month, last.day, tzinfo=zone)
    return LocalCalendar(DATA / name).fetch(Window(start, end, zone.key))


def events(snapshot: Snapshot) -> list[Event]:
    """In order, without the zone each was set in: test_the_zone_each_event_was_set_in
    has those."""
    return sorted((replace(e, zone="") for e in snapshot.events), key=lambda e: (e.start, e.id))


def utc(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def at(zone: ZoneInfo, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=zone)


def one(uid: str, title: str, start: datetime, end: datetime, **more: Any) -> Event:
    """A non-recurring event: its id is its UID."""
    return Event(id=uid, title=title, start=start, end=end, series_id=uid, **more)


def occurrence(
    uid: str, original: str, title: str, start: datetime, end: datetime, **more: Any
) -> Event:
    """An occurrence of a series: series UID plus its original start."""
    return Event(
        id=f"{uid}/{original}",
        title=title,
        start=start,
        end=end,
        series_id=uid,
        **more,
    )


# -- time zones


def test_windows_zone_names_with_and_without_vtimezone() -> None:
    snapshot = fetch("windows_tzid.ics", date(2026, 3, 2), date(2026, 3, 16))
    outlook = "040000008200E00074C5B7101A82E0080000000010A4F2C6D3A5DC01000000000000000010000000"
    assert events(snapshot) == [
        # "Pacific Standard Time" with Outlook's VTIMEZONE: 09:00 PST.
        occurrence(
            outlook, "20260305T170000Z", "Forecast call (Seattle)", utc(3, 5, 17), utc(3, 5, 17, 30)
        ),
        # "W. Europe Standard Time" with no VTIMEZONE: 15:00 in Berlin, not in New York.
        one("partner-sync-munich", "Partner sync (Munich)", utc(3, 10, 14), utc(3, 10, 15)),
        # After the US change on March 8 the same wall time is 09:00 PDT.
        occurrence(
            outlook,
            "20260312T160000Z",
            "Forecast call (Seattle)",
            utc(3, 12, 16),
            utc(3, 12, 16, 30),
        ),
    ]
    assert snapshot.problems == ()


def test_the_zone_each_event_was_set_in() -> None:
    """Windows names (with Outlook's VTIMEZONE or none) become IANA names: a client's
    invitation tells the client's zone (worker/proposals.py)."""
    snapshot = fetch("windows_tzid.ics", date(2026, 3, 2), date(2026, 3, 16))
    zones = {e.title: e.zone for e in snapshot.events}
    assert zones == {
        "Forecast call (Seattle)": "America/Los_Angeles",
        "Partner sync (Munich)": "Europe/Berlin",
    }


def test_undefined_tzid_is_read_in_the_window_zone_and_reported() -> None:
    snapshot = fetch("undefined_tzid.ics", date(2026, 3, 9), date(2026, 3, 16), BERLIN)
    custom = "unknown time zone 'Customized Time Zone'"
    display = "unknown time zone '(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna'"
    assert events(snapshot) == [
        occurrence(
            "custom-zone-daily",
            "20260311T100000",  # floating: the id does not depend on the reader's zone
            "Client check-in",
            at(BERLIN, 3, 11, 10),
            at(BERLIN, 3, 11, 10, 30),
            problem=custom,
        ),
        occurrence(
            "custom-zone-daily",
            "20260312T100000",
            "Client check-in",
            at(BERLIN, 3, 12, 10),
            at(BERLIN, 3, 12, 10, 30),
            problem=custom,
        ),
        one(
            "display-name-zone",
            "Supplier call",
            at(BERLIN, 3, 12, 14),
            at(BERLIN, 3, 12, 15),
            problem=display,
        ),
    ]
    # Once per event, not once per occurrence.
    assert snapshot.problems == (
        f"event 'Client check-in' (UID custom-zone-daily): {custom}; read in Europe/Berlin",
        f"event 'Supplier call' (UID display-name-zone): {display}; read in Europe/Berlin",
    )


def test_undefined_tzid_follows_the_reader() -> None:
    snapshot = fetch("undefined_tzid.ics", date(2026, 3, 12), date(2026, 3, 13), NY)
    assert [(e.id, e.start) for e in events(snapshot)] == [
        ("custom-zone-daily/20260312T100000", at(NY, 3, 12, 10)),
        ("display-name-zone", at(NY, 3, 12, 14)),
    ]
    assert all(p.endswith("; read in America/New_York") for p in snapshot.problems)


def test_quoted_and_non_ascii_tzids_and_text() -> None:
    snapshot = fetch("quoted_nonascii_tzid.ics", date(2026, 3, 16), date(2026, 4, 1))
    assert events(snapshot) == [
        one(
            "quoted-iana",
            "Déjeuner d’affaires",
            at(NY, 3, 17, 12),
            at(NY, 3, 17, 13, 30),
            organizer="zoe@example.com",
            attendees=(
                Attendee("juergen@example.de", "Müller, Jürgen", Response.ACCEPTED),
                Attendee("etoile@rooms.example.fr", "Salle Étoile", Response.ACCEPTED, True),
            ),
        ),
        # "Mitteleuropäische Zeit" is defined by its VTIMEZONE: +01:00 before March 29…
        one("nonascii-zone-bare", "東京チームとの定例", utc(3, 24, 8), utc(3, 24, 8, 30)),
        # …and +02:00 after it.
        one(
            "nonascii-zone-quoted",
            "Abstimmung mit dem Team in Zürich über die Preisgestaltung für 2027 – "
            "bitte Unterlagen mitbringen",
            utc(3, 30, 7),
            utc(3, 30, 8),
        ),
    ]
    assert snapshot.problems == ()


def test_x_wr_timezone_keeps_recurrences_on_local_wall_time() -> None:
    # Google exports UTC times and names the zone only in X-WR-TIMEZONE. The weekly
    # 09:00 Berlin meeting is 08:00Z before Europe's change on March 29, 07:00Z after.
    snapshot = fetch("x_wr_timezone.ics", date(2026, 3, 22), date(2026, 4, 12))
    uid = "5k2v8r1q0m3n4b6c7d9e0f1g2h@google.com"
    assert events(snapshot) == [
        occurrence(uid, "20260323T080000Z", "EMEA team sync", utc(3, 23, 8), utc(3, 23, 9)),
        one(
            "0a1b2c3d4e5f6g7h8i9j@google.com",
            "Trade fair",
            at(NY, 3, 25),  # all-day: midnights in the reader's zone
            at(NY, 3, 26),
            all_day=True,
            transparent=True,
        ),
        occurrence(
            uid, "20260330T070000Z", "EMEA team sync (afternoon)", utc(3, 30, 12), utc(3, 30, 13)
        ),
        occurrence(uid, "20260406T070000Z", "EMEA team sync", utc(4, 6, 7), utc(4, 6, 8)),
    ]
    assert snapshot.problems == ()
    assert LocalCalendar(DATA / "x_wr_timezone.ics").timezone() == "Europe/Berlin"


def test_unknown_x_wr_timezone_is_reported_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "calendar.ics"
    text = (DATA / "x_wr_timezone.ics").read_bytes()
    path.write_bytes(text.replace(b"X-WR-TIMEZONE:Europe/Berlin", b"X-WR-TIMEZONE:Mars/Base"))
    window = Window(at(NY, 3, 23), at(NY, 3, 24), "America/New_York")
    snapshot = LocalCalendar(path).fetch(window)
    assert [(e.title, e.start) for e in snapshot.events] == [("EMEA team sync", utc(3, 23, 8))]
    assert snapshot.problems == (
        "calendar time zone 'Mars/Base' (X-WR-TIMEZONE) is unknown; its UTC times are read as UTC",
    )


def test_windows_name_in_x_wr_timezone(tmp_path: Path) -> None:
    path = tmp_path / "calendar.ics"
    text = (DATA / "x_wr_timezone.ics").read_bytes()
    path.write_bytes(
        text.replace(b"X-WR-TIMEZONE:Europe/Berlin", b"X-WR-TIMEZONE:W. Europe Standard Time")
    )
    window = Window(at(NY, 4, 6), at(NY, 4, 7), "America/New_York")
    assert [e.start for e in LocalCalendar(path).fetch(window).events] == [at(BERLIN, 4, 6, 9)]
    assert LocalCalendar(path).timezone() == "Europe/Berlin"


# -- recurrence


def test_this_and_future_moves_later_occurrences_too() -> None:
    snapshot = fetch("this_and_future.ics", date(2026, 3, 2), date(2026, 3, 9))
    uid = "standup-series"
    assert events(snapshot) == [
        occurrence(uid, "20260302T140000Z", "Standup", at(NY, 3, 2, 9), at(NY, 3, 2, 10)),
        occurrence(uid, "20260303T140000Z", "Standup", at(NY, 3, 3, 9), at(NY, 3, 3, 10)),
        # From March 4 on: 11:30, and half an hour long.
        occurrence(
            uid, "20260304T140000Z", "Standup (new time)", at(NY, 3, 4, 11, 30), at(NY, 3, 4, 12)
        ),
        occurrence(
            uid, "20260305T140000Z", "Standup (new time)", at(NY, 3, 5, 11, 30), at(NY, 3, 5, 12)
        ),
        # A one-off override after the range still wins for its own day.
        occurrence(
            uid, "20260306T140000Z", "Standup (Friday)", at(NY, 3, 6, 16), at(NY, 3, 6, 16, 30)
        ),
    ]
    assert snapshot.problems == ()


def test_rdate_and_exdate_lists_across_spring_change() -> None:
    # Mondays 09:00 from Feb 23; EXDATEs on Mar 2 (EST) and Mar 16 (EDT) in one list,
    # and Mar 23 as a UTC EXDATE (13:00Z is 09:00 EDT); RDATE adds Wed Mar 11, 14:00.
    snapshot = fetch("rdate_exdate_dst.ics", date(2026, 2, 23), date(2026, 4, 1))
    uid = "monday-pipeline"
    title = "Monday pipeline"
    assert events(snapshot) == [
        occurrence(uid, "20260223T140000Z", title, at(NY, 2, 23, 9), at(NY, 2, 23, 9, 30)),
        occurrence(uid, "20260309T130000Z", title, at(NY, 3, 9, 9), at(NY, 3, 9, 9, 30)),
        occurrence(uid, "20260311T180000Z", title, at(NY, 3, 11, 14), at(NY, 3, 11, 14, 30)),
        occurrence(uid, "20260330T130000Z", title, at(NY, 3, 30, 9), at(NY, 3, 30, 9, 30)),
    ]
    assert snapshot.problems == ()


def test_rdate_period_and_exdate_list_across_fall_change() -> None:
    # Thursdays 10:00 from Oct 22; EXDATEs on Oct 29 (EDT) and Nov 5 (EST) in one
    # list; an RDATE period adds Tue Nov 3, 15:00 for two hours.
    snapshot = fetch("rdate_exdate_dst.ics", date(2026, 10, 19), date(2026, 11, 16))
    uid = "thursday-review"
    title = "Thursday review"
    assert events(snapshot) == [
        occurrence(uid, "20261022T140000Z", title, at(NY, 10, 22, 10), at(NY, 10, 22, 11)),
        occurrence(uid, "20261103T200000Z", title, at(NY, 11, 3, 15), at(NY, 11, 3, 17)),
        occurrence(uid, "20261112T150000Z", title, at(NY, 11, 12, 10), at(NY, 11, 12, 11)),
    ]
    assert snapshot.problems == ()


def test_moved_and_cancelled_occurrences() -> None:
    snapshot = fetch("moved_cancelled.ics", date(2026, 11, 1), date(2026, 11, 14))
    uid = "weekly-client"
    both = (
        Attendee("me@example.com", response=Response.ACCEPTED),
        Attendee("pat@acme.example", response=Response.ACCEPTED),
    )
    org = "pat@acme.example"
    assert events(snapshot) == [
        # Nov 2, 09:00 moved to 15:00: nothing is left at 09:00.
        occurrence(
            uid,
            "20261102T140000Z",
            "Acme weekly (moved)",
            at(NY, 11, 2, 15),
            at(NY, 11, 2, 16),
            attendees=both,
            organizer=org,
        ),
        # A cancelled occurrence stays, marked CANCELLED: every reader of events
        # (planner.is_busy, days_off, clients, hold, render) skips CANCELLED, and the
        # occurrence keeps its id, so whatever was planned for it can be found.
        occurrence(
            uid,
            "20261109T140000Z",
            "Acme weekly (cancelled)",
            at(NY, 11, 9, 9),
            at(NY, 11, 9, 10),
            status=Status.CANCELLED,
            organizer=org,
        ),
        # The Nov 16 occurrence, pulled into the window: it keeps its original id.
        occurrence(
            uid,
            "20261116T140000Z",
            "Acme weekly (pulled forward)",
            at(NY, 11, 13, 14),
            at(NY, 11, 13, 15),
            organizer=org,
        ),
    ]
    assert snapshot.problems == ()


def test_recurrence_id_in_utc_for_a_zoned_series() -> None:
    snapshot = fetch("utc_recurrence_id.ics", date(2026, 3, 2), date(2026, 3, 23))
    uid = "ops-review"
    assert events(snapshot) == [
        occurrence(
            uid,
            "20260304T140000Z",
            "Ops review (agenda attached)",
            at(NY, 3, 4, 9),
            at(NY, 3, 4, 10),
        ),
        # 20260311T130000Z is 09:00 EDT: it replaces that occurrence, no duplicate.
        occurrence(
            uid,
            "20260311T130000Z",
            "Ops review (later)",
            at(NY, 3, 11, 10, 30),
            at(NY, 3, 11, 11, 30),
        ),
        occurrence(uid, "20260318T130000Z", "Ops review", at(NY, 3, 18, 9), at(NY, 3, 18, 10)),
    ]
    assert snapshot.problems == ()


def test_occurrence_ids_are_stable_and_distinct() -> None:
    whole = fetch("this_and_future.ics", date(2026, 3, 1), date(2026, 3, 10))
    part = fetch("this_and_future.ics", date(2026, 3, 5), date(2026, 3, 6))
    ids = [e.id for e in whole.events]
    assert len(ids) == len(set(ids)) == 5
    assert {e.series_id for e in whole.events} == {"standup-series"}
    # The same occurrence read through another window has the same id.
    assert [e.id for e in part.events] == ["standup-series/20260305T140000Z"]
    assert part.events[0] in whole.events


# -- floating and all-day


def test_floating_times_are_read_in_the_window_zone() -> None:
    new_york = fetch("floating.ics", date(2026, 3, 7), date(2026, 3, 11), NY)
    tokyo = fetch("floating.ics", date(2026, 3, 7), date(2026, 3, 11), TOKYO)
    for zone, snapshot in ((NY, new_york), (TOKYO, tokyo)):
        assert events(snapshot) == [
            occurrence(
                "lunch", "20260307T120000", "Lunch", at(zone, 3, 7, 12), at(zone, 3, 7, 12, 30)
            ),
            # March 8 is New York's spring change: still 12:00 on the wall.
            occurrence(
                "lunch", "20260308T120000", "Lunch", at(zone, 3, 8, 12), at(zone, 3, 8, 12, 30)
            ),
            one("gym", "Gym", at(zone, 3, 9, 7), at(zone, 3, 9, 8)),
            occurrence(
                "lunch", "20260309T120000", "Lunch", at(zone, 3, 9, 12), at(zone, 3, 9, 12, 30)
            ),
        ]
        assert snapshot.problems == ()
    # The same floating 07:00 is a different instant for each reader.
    gym = {e.start for s in (new_york, tokyo) for e in s.events if e.id == "gym"}
    assert gym == {utc(3, 9, 11), utc(3, 8, 22)}


def test_all_day_events_and_duration() -> None:
    snapshot = fetch("all_day.ics", date(2026, 3, 6), date(2026, 3, 16))
    assert events(snapshot) == [
        occurrence(
            "payroll", "20260306", "Payroll cut-off", at(NY, 3, 6), at(NY, 3, 7), all_day=True
        ),
        # DTEND is exclusive: Sat and Sun, ending at Monday's midnight (now EDT).
        one(
            "offsite",
            "Team offsite",
            at(NY, 3, 7),
            at(NY, 3, 9),
            all_day=True,
            transparent=True,
        ),
        # No DTEND: one day.
        one("holiday", "Company holiday", at(NY, 3, 10), at(NY, 3, 11), all_day=True),
        one("short-call", "Short call", at(NY, 3, 10, 10), at(NY, 3, 10, 10, 45)),
        one("conference", "Sales conference", at(NY, 3, 11), at(NY, 3, 14), all_day=True),
        occurrence(
            "payroll", "20260313", "Payroll cut-off", at(NY, 3, 13), at(NY, 3, 14), all_day=True
        ),
    ]
    assert snapshot.problems == ()
    offsite = next(e for e in snapshot.events if e.id == "offsite")
    assert offsite.end.timestamp() - offsite.start.timestamp() == 47 * 3600  # the lost hour


# -- file format


def test_crlf_and_lf_line_endings_read_the_same() -> None:
    crlf = (DATA / "line_endings_crlf.ics").read_bytes()
    lf = (DATA / "line_endings_lf.ics").read_bytes()
    assert b"\r\n" in crlf
    assert b"\r" not in lf
    assert lf == crlf.replace(b"\r\n", b"\n")  # the same calendar otherwise

    first, last = date(2026, 3, 9), date(2026, 3, 16)
    from_crlf = fetch("line_endings_crlf.ics", first, last)
    from_lf = fetch("line_endings_lf.ics", first, last)
    assert events(from_crlf) == [
        one(
            "folded-description",
            "Quarterly business review with the regional sales leadership team and finance",
            at(NY, 3, 10, 9),
            at(NY, 3, 10, 10),
            attendees=(Attendee("sam@example.com", "Sam Lee", Response.TENTATIVE),),
        ),
        occurrence(
            "line-endings-series",
            "20260311T170000Z",
            "Follow-up",
            at(NY, 3, 11, 13),
            at(NY, 3, 11, 13, 30),
        ),
        occurrence(
            "line-endings-series",
            "20260312T170000Z",
            "Follow-up",
            at(NY, 3, 12, 13),
            at(NY, 3, 12, 13, 30),
        ),
    ]
    assert events(from_lf) == events(from_crlf)
    assert from_lf.problems == from_crlf.problems == ()


# -- what cannot be read


def test_unreadable_events_are_reported_and_busy_never_dropped() -> None:
    snapshot = fetch("broken.ics", date(2026, 3, 2), date(2026, 3, 9))
    found = {e.id: e for e in snapshot.events}
    assert sorted(found) == ["broken-end", "broken-rule/20260303T140000Z", "fine"]

    # Broken RRULE: its first occurrence is placed, marked, so it counts as busy.
    rule = found["broken-rule/20260303T140000Z"]
    assert (rule.title, rule.start, rule.end) == (
        "Quarterly planning",
        at(NY, 3, 3, 9),
        at(NY, 3, 3, 10),
    )
    assert rule.problem.startswith("cannot expand its recurrence (")

    # Broken DTEND: busy from its start to the end of its day, even though declined.
    end = found["broken-end"]
    assert (end.start, end.end, end.problem) == (
        at(NY, 3, 4, 12),
        at(NY, 3, 5),
        "unreadable DTEND",
    )
    assert end.attendees == (Attendee("me@example.com", response=Response.DECLINED),)

    fine = one("fine", "Demo", at(NY, 3, 5, 15), at(NY, 3, 5, 16), zone="America/New_York")
    assert found["fine"] == fine

    patterns = [
        r"event 'Client lunch' \(UID broken-end\): cannot read its DTEND; "
        r"busy until the end of its day",
        # No DTSTART, or one that cannot be read: nothing to place, but reported.
        r"event 'Mystery meeting' \(UID no-start\): it has no readable start; not placed",
        r"event 'Someday' \(UID bad-start\): it has no readable start; not placed",
        r"event 'Quarterly planning' \(UID broken-rule\): cannot expand its recurrence "
        r"\(.+\); only its first and its moved occurrences are placed, as busy",
    ]
    assert len(snapshot.problems) == len(patterns)
    for problem, pattern in zip(snapshot.problems, patterns, strict=True):
        assert re.fullmatch(pattern, problem), problem


def test_not_an_icalendar_file_raises_and_is_never_written(tmp_path: Path) -> None:
    path = tmp_path / "not_icalendar.ics"
    shutil.copyfile(DATA / "not_icalendar.ics", path)
    before = path.read_bytes()
    calendar = LocalCalendar(path)
    window = Window(at(NY, 3, 2), at(NY, 3, 9), "America/New_York")

    with pytest.raises(DataError) as fetched:
        calendar.fetch(window)
    assert fetched.value.where == str(path)
    assert str(path) in str(fetched.value)

    block = Block(
        key="2026-03-02/prospecting/0",
        kind=BlockKind.PROSPECTING,
        day=date(2026, 3, 2),
        start=at(NY, 3, 2, 9),
        end=at(NY, 3, 2, 10),
        title="Prospecting",
    )
    with pytest.raises(DataError) as applied:
        calendar.apply([Change(Op.CREATE, block)])
    assert str(path) in str(applied.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".lock") == [path.name]
