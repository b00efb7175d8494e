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
from worker.models import Change, Op

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
