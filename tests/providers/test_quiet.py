"""A quiet read (CalendarProvider.quiet: push says nothing changed since the last
read) costs no request, on both emulators; the worker's own writes are never lost to
it, and a change made outside waits for the next read that is not quiet."""

from __future__ import annotations

from pathlib import Path

from providers.google.calendar import GoogleCalendar
from tests.contract.calendar import WINDOW, at, block
from tests.emulators.google import GoogleEmulator
from tests.emulators.graph import GraphEmulator
from tests.providers.google_fixtures import Sleeps, emulator, session, sleeps
from tests.providers.outlook_fixtures import graph, outlook, timed
from worker.models import Change, Op, Response

__all__ = ["emulator", "graph", "sleeps"]  # fixtures, imported for pytest


def test_google_answers_a_quiet_read_from_what_it_read(
    emulator: GoogleEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    calendar = GoogleCalendar(session(emulator, tmp_path / "memo.json", sleeps), name="rep")
    calendar.timezone()
    calendar.apply([Change(Op.CREATE, block())])
    calendar.quiet = True
    assert [b.key for b in calendar.fetch(WINDOW).blocks] == [block().key]  # read: it wrote
    seen = len(emulator.requests)
    calendar.timezone()
    assert [b.key for b in calendar.fetch(WINDOW).blocks] == [block().key]
    assert len(emulator.requests) == seen  # nothing asked
    emulator.put_event({"id": "call1", "summary": "Call", "start": _g(at(13)), "end": _g(at(14))})
    assert [e.title for e in calendar.fetch(WINDOW).events] == []  # not told: not seen
    calendar.quiet = False
    calendar.timezone()
    assert [e.title for e in calendar.fetch(WINDOW).events] == ["Call"]


def test_outlook_answers_a_quiet_read_from_what_it_read(
    graph: GraphEmulator, tmp_path: Path
) -> None:
    calendar, _ = outlook(graph, tmp_path / "memo.json", lambda s: None)
    calendar.fetch(WINDOW)
    calendar.apply([Change(Op.CREATE, block())])
    calendar.quiet = True
    seen = len(graph.requests)
    assert [b.key for b in calendar.fetch(WINDOW).blocks] == [block().key]  # its own write
    assert len(graph.requests) == seen
    graph.put_event({"subject": "Call", "start": timed(at(13)), "end": timed(at(14))})
    assert [e.title for e in calendar.fetch(WINDOW).events] == []
    calendar.quiet = False
    assert [e.title for e in calendar.fetch(WINDOW).events] == ["Call"]


def _g(moment: object) -> dict[str, str]:
    return {"dateTime": moment.isoformat()}  # type: ignore[attr-defined]


def test_a_decline_shows_in_the_next_quiet_read_on_both_providers(
    emulator: GoogleEmulator, graph: GraphEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    """A quiet read must not show an invitation it declined as still waiting: the
    block it protects would give way to it."""
    me_google = {"email": "rep@example.com", "self": True, "responseStatus": "needsAction"}
    emulator.put_event(
        {
            "id": "sync1",
            "summary": "Sync",
            "start": _g(at(13)),
            "end": _g(at(14)),
            "organizer": {"email": "sam@example.com"},
            "attendees": [me_google, {"email": "sam@example.com", "organizer": True}],
        }
    )
    google = GoogleCalendar(session(emulator, tmp_path / "g.json", sleeps), name="rep")
    google.timezone()
    [invite] = google.fetch(WINDOW).events
    google.decline(invite, "Busy")
    google.quiet = True
    google.timezone()
    [after] = google.fetch(WINDOW).events
    assert after.response_of("rep@example.com") is Response.DECLINED

    graph.put_event(
        {
            "id": "sync2",
            "subject": "Sync",
            "start": timed(at(13)),
            "end": timed(at(14)),
            "organizer": {"emailAddress": {"address": "sam@contoso.com"}},
            "isOrganizer": False,
            "responseStatus": {"response": "notResponded", "time": "0001-01-01T00:00:00Z"},
        }
    )
    outlook_cal, _ = outlook(graph, tmp_path / "o.json", lambda s: None)
    [invite] = outlook_cal.fetch(WINDOW).events
    outlook_cal.decline(invite, "Busy")
    outlook_cal.quiet = True
    seen = len(graph.requests)
    [after] = outlook_cal.fetch(WINDOW).events
    assert len(graph.requests) == seen  # from the cache, which knows the answer
    assert after.response_of(outlook_cal.session.email) is Response.DECLINED
