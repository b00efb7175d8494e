"""The ready draft a gap alert points to (docs/design.md §1.3): addressed to the
client attendees, proposing the slots in the client's time. Pure text; the mailbox
saves it in the user's drafts and nothing ever sends it.

Titles and names come from other people's invitations: the draft is plain text,
and every piece of it goes through one_line, so nothing in them can add a header,
a line of the body or markup.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from worker.clients import People, client_key
from worker.models import Draft, Event
from worker.proposals import Proposal, city
from worker.text import one_line

# An address that can go in a header as it is: no spaces, quotes, brackets or controls.
ADDRESS = re.compile(r"[^\s@<>,;:\"()\[\]\\]+@[^\s@<>,;:\"()\[\]\\]+")


def recipients(meeting: Event, clients: tuple[str, ...], people: People) -> tuple[str, ...]:
    """The meeting's attendees (the organizer too) from the clients still lacking a
    next meeting: no rooms, colleagues, ignored addresses or the user."""
    found = {meeting.organizer.strip().lower()} | {
        a.email.strip().lower() for a in meeting.attendees if not a.resource
    }
    out = [
        a
        for a in found
        if ADDRESS.fullmatch(a)
        and a != people.me
        and not people.is_internal(a)
        and not people.is_ignored(a)
        and client_key(a) in clients
    ]
    return tuple(sorted(out))


def slot_text(start: datetime, end: datetime, zones: tuple[str, ...], mine: ZoneInfo) -> str:
    """ "Thu 03 Dec, 15:00-16:00 London time": in each client zone that is known,
    else in the user's own, named."""
    shown = []
    for name in zones or (str(mine.key),):
        z = ZoneInfo(name)
        a, b = start.astimezone(z), end.astimezone(z)
        shown.append(f"{a:%a %d %b}, {a:%H:%M}-{b:%H:%M} {city(name)} time")
    return " / ".join(shown)


def draft(
    account: str, meeting: Event, p: Proposal, people: People, zone: ZoneInfo, now: datetime
) -> Draft | None:
    """The draft for a meeting's proposal; None with no slot or no one to write to."""
    to = recipients(meeting, p.clients, people)
    if not p.slots or not to:
        return None
    title = one_line(meeting.title, 100)
    lines = [
        "Hello,",
        "",
        f'Thank you for your time at "{title}". Could we book our next meeting?'
        " Any of these times works for me:",
        "",
        *(f"  - {slot_text(s.start, s.end, p.zones, zone)}" for s in p.slots),
        "",
        "Tell me which one suits you and I will send the invitation.",
        "",
    ]
    return Draft(
        key=f"draft:{account}:{meeting.id}",
        to=to,
        subject=one_line(f"Our next meeting: {title}", 150),
        text="\n".join(lines),
        created=now,
    )
