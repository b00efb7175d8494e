"""Follow-up gaps: the rules of docs/design.md §1.3, one test each."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from worker import followups
from worker.clients import People
from worker.models import Attendee, Event, Response, Status

NY = ZoneInfo("America/New_York")
MON = date(2026, 11, 30)
ME = "me@example.com"
PEOPLE = People(ME, ("example.com",), ("@zoom.us", "noreply@example.org"))
RULES = followups.Rules()
NOW = datetime.combine(MON + timedelta(1), time(9), tzinfo=NY)


def at(day: date, hh: int) -> datetime:
    return datetime.combine(day, time(hh), tzinfo=NY)


def meeting(uid: str, day: date, *who: str, hh: int = 14, **kw: object) -> Event:
    people = tuple(Attendee(w) for w in who)
    return Event(uid, uid.title(), at(day, hh), at(day, hh + 1), attendees=people, **kw)  # type: ignore[arg-type]


def found(*events: Event, now: datetime = NOW) -> list[tuple[str, str]]:
    return [(g.meeting.id, g.client) for g in followups.gaps(list(events), PEOPLE, RULES, now)]


def test_a_client_meeting_with_nothing_booked_is_a_gap() -> None:
    assert found(meeting("acme", MON, "jane@acme.com", ME)) == [("acme", "acme.com")]


def test_a_booked_follow_up_closes_it() -> None:
    next_week = meeting("acme2", MON + timedelta(7), "bob@acme.com")
    assert found(meeting("acme", MON, "jane@acme.com"), next_week) == []


def test_follow_up_beyond_the_lookahead_does_not_count() -> None:
    far = meeting("acme2", MON + timedelta(31), "bob@acme.com")
    assert found(meeting("acme", MON, "jane@acme.com"), far) == [("acme", "acme.com")]


def test_within_the_grace_period_there_is_no_gap_yet() -> None:
    m = meeting("acme", MON, "jane@acme.com")
    assert found(m, now=m.end + timedelta(minutes=59)) == []
    assert found(m, now=m.end + timedelta(minutes=61)) == [("acme", "acme.com")]


def test_older_than_the_lookback_ages_out() -> None:
    m = meeting("acme", MON - timedelta(15), "jane@acme.com")
    assert found(m) == []


def test_the_next_instance_of_a_series_is_the_follow_up_unless_cancelled() -> None:
    first = dataclasses.replace(meeting("w/1", MON, "jane@acme.com"), series_id="w")
    second = dataclasses.replace(meeting("w/2", MON + timedelta(7), "jane@acme.com"), series_id="w")
    assert found(first, second) == []
    cancelled = dataclasses.replace(second, status=Status.CANCELLED)
    assert found(first, cancelled) == [("w/1", "acme.com")]


def test_two_companies_need_a_follow_up_each() -> None:
    both = meeting("both", MON, "jane@acme.com", "bob@globex.com")
    only_acme = meeting("acme2", MON + timedelta(3), "jane@acme.com")
    assert found(both, only_acme) == [("both", "globex.com")]


def test_public_mail_domains_key_by_address() -> None:
    sam = meeting("sam", MON, "sam@gmail.com")
    other = meeting("kim", MON + timedelta(2), "kim@gmail.com")
    # A meeting with someone else at gmail.com is no follow-up with Sam.
    assert found(sam, other) == [("sam", "sam@gmail.com")]
    assert found(sam, meeting("sam2", MON + timedelta(2), "SAM@gmail.com")) == []


def test_what_is_not_a_client_meeting() -> None:
    declined = meeting("d", MON, "jane@acme.com")
    declined = dataclasses.replace(
        declined, attendees=(*declined.attendees, Attendee(ME, response=Response.DECLINED))
    )
    cancelled = meeting("c", MON, "jane@acme.com", status=Status.CANCELLED)
    room = meeting("r", MON, "room-1@acme.com")
    room = dataclasses.replace(room, attendees=(Attendee("room-1@acme.com", resource=True),))
    internal = meeting("i", MON, "bob@example.com", "ann@sales.example.com")
    ignored = meeting("z", MON, "bot@zoom.us", "noreply@example.org")
    all_day = Event(
        "a",
        "Acme offsite",
        at(MON, 0),
        at(MON + timedelta(1), 0),
        all_day=True,
        attendees=(Attendee("jane@acme.com"),),
    )
    assert found(declined, cancelled, room, internal, ignored, all_day) == []


def test_organized_by_me_or_invited_both_count() -> None:
    mine = meeting("mine", MON, "jane@acme.com", organizer=ME)
    theirs = meeting("theirs", MON, ME, hh=10, organizer="bob@globex.com")
    assert found(mine, theirs) == [("theirs", "globex.com"), ("mine", "acme.com")]


def test_a_declined_follow_up_does_not_count() -> None:
    nxt = meeting("n", MON + timedelta(2), "jane@acme.com")
    nxt = dataclasses.replace(
        nxt, attendees=(*nxt.attendees, Attendee(ME, response=Response.DECLINED))
    )
    assert found(meeting("acme", MON, "jane@acme.com"), nxt) == [("acme", "acme.com")]


def test_morning_heads_up_flags_todays_meetings_with_nothing_next() -> None:
    today = meeting("t", MON + timedelta(1), "jane@acme.com", hh=15)
    booked = meeting("g", MON + timedelta(1), "bob@globex.com", hh=11)
    later = meeting("g2", MON + timedelta(9), "bob@globex.com")
    events = [today, booked, later]
    assert followups.unbooked([today, booked], events, PEOPLE, RULES) == {"t": ["acme.com"]}
