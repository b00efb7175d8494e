"""The follow-up draft (worker/drafts.py): to the right people, in the client's time,
and inert whatever the invitation's title and names hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from worker import drafts
from worker.clients import People
from worker.models import Attendee, Event
from worker.proposals import Proposal
from worker.slots import Slot

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 12, 1, 14, tzinfo=UTC)
PEOPLE = People("me@example.com", ("example.com",), ("@zoom.us",))
SLOT = Slot(datetime(2026, 12, 3, 15, tzinfo=UTC), datetime(2026, 12, 3, 16, tzinfo=UTC))


def meeting(title: str, *who: Attendee) -> Event:
    start = NOW - timedelta(hours=3)
    return Event("m1", title, start, start + timedelta(hours=1), attendees=who)


def proposal(*clients: str, zones: tuple[str, ...] = ()) -> Proposal:
    return Proposal("m1", "t", NOW, clients, zones, (SLOT,))


def test_it_goes_to_the_clients_still_lacking_a_next_meeting_and_no_one_else() -> None:
    m = meeting(
        "QBR",
        Attendee("me@example.com"),
        Attendee("ann@example.com"),  # a colleague
        Attendee("Jane@Acme.com", "Jane"),
        Attendee("room-4@acme.com", resource=True),
        Attendee("bot@zoom.us"),  # ignored
        Attendee("bob@globex.com"),  # booked already: not in the proposal
        Attendee("evil@acme.com\r\nBcc: all@acme.com"),  # no header smuggling
    )
    d = drafts.draft("rep", m, proposal("acme.com"), PEOPLE, NY, NOW)
    assert d is not None
    assert d.to == ("jane@acme.com",)
    assert d.key == "draft:rep:m1"


def test_the_times_are_the_clients_and_named() -> None:
    m = meeting("QBR", Attendee("jane@acme.com"))
    d = drafts.draft("rep", m, proposal("acme.com", zones=("Europe/London",)), PEOPLE, NY, NOW)
    assert d is not None and "  - Thu 03 Dec, 15:00-16:00 London time\n" in d.text
    mine = drafts.draft("rep", m, proposal("acme.com"), PEOPLE, NY, NOW)
    assert mine is not None and "  - Thu 03 Dec, 10:00-11:00 New York time\n" in mine.text


def test_a_hostile_title_stays_one_line_of_plain_text() -> None:
    title = 'Q4\r\nBcc: everyone@evil.example\n\n<script>alert(1)</script> "x"'
    d = drafts.draft("rep", meeting(title, Attendee("jane@acme.com")), proposal("acme.com"),
                     PEOPLE, NY, NOW)  # fmt: skip
    assert d is not None
    assert "\n" not in d.subject and "\r" not in d.subject
    body_lines = d.text.splitlines()
    assert not any(line.startswith("Bcc:") for line in body_lines)
    assert sum("<script>" in line for line in body_lines) == 1  # as text, on its one line


def test_no_draft_without_a_slot_or_a_recipient() -> None:
    m = meeting("QBR", Attendee("jane@acme.com"))
    empty = Proposal("m1", "t", NOW, ("acme.com",), (), ())
    assert drafts.draft("rep", m, empty, PEOPLE, NY, NOW) is None
    assert drafts.draft("rep", m, proposal("globex.com"), PEOPLE, NY, NOW) is None
