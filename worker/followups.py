"""Follow-up gaps (docs/design.md §1.3): client meetings with no next meeting booked.

Pure: events, people and `now` in, gaps out. A meeting with two client companies
needs a follow-up with each, so a gap is one (meeting, client) pair.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from worker.clients import People, client_keys, is_client_meeting
from worker.models import Event, Response, Status


@dataclass(frozen=True)
class Gap:
    meeting: Event
    client: str  # a company domain, or an address at a public mail domain

    @property
    def key(self) -> str:
        return f"{self.meeting.id}|{self.client}"


@dataclass(frozen=True)
class Rules:
    lookahead: timedelta = timedelta(days=30)
    lookback: timedelta = timedelta(days=14)
    grace: timedelta = timedelta(minutes=60)


def _counts(event: Event, people: People) -> bool:
    """Whether an event can be a follow-up: a timed meeting the user did not decline."""
    if event.all_day or event.status is Status.CANCELLED:
        return False
    return not (people.me and event.response_of(people.me) is Response.DECLINED)


def _index(events: Iterable[Event], people: People) -> dict[str, list[datetime]]:
    """Start times of possible follow-ups, per client, sorted."""
    starts: dict[str, list[datetime]] = defaultdict(list)
    for e in events:
        if _counts(e, people):
            for key in client_keys(e, people):
                starts[key].append(e.start.astimezone(UTC))
    for times in starts.values():
        times.sort()
    return starts


def _booked(starts: dict[str, list[datetime]], client: str, ended: datetime, rules: Rules) -> bool:
    # In UTC: aware datetimes sharing a tzinfo compare by wall clock, wrong around DST.
    after = ended.astimezone(UTC)
    return any(after <= s <= after + rules.lookahead for s in starts.get(client, ()))


def gaps(events: Sequence[Event], people: People, rules: Rules, now: datetime) -> list[Gap]:
    """Client meetings that ended more than `grace` ago, within `lookback`, with no
    meeting booked with that client in the `lookahead` after they ended."""
    starts = _index(events, people)
    out = []
    for m in events:
        ended = m.end.astimezone(UTC)
        if not (now - rules.lookback <= ended <= now - rules.grace):
            continue
        if not is_client_meeting(m, people):
            continue
        for client in sorted(client_keys(m, people)):
            if not _booked(starts, client, m.end, rules):
                out.append(Gap(m, client))
    return sorted(out, key=lambda g: (g.meeting.end, g.key))


def unbooked(
    meetings: Iterable[Event], events: Sequence[Event], people: People, rules: Rules
) -> dict[str, list[str]]:
    """For the morning heads-up: meeting id -> clients with no next meeting booked yet."""
    starts = _index(events, people)
    out: dict[str, list[str]] = {}
    for m in meetings:
        if not is_client_meeting(m, people):
            continue
        missing = [
            c for c in sorted(client_keys(m, people)) if not _booked(starts, c, m.end, rules)
        ]
        if missing:
            out[m.id] = missing
    return out
