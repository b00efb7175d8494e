"""Proposed slots for the next meeting with a client (docs/design.md §1.3, "Proposed
slots"): pure, like the planner, with `now` as an argument.

A slot lies in the rep's free working time on one of the workdays in the window after
the meeting, never on a day off, a busy event, a prospecting block or a block anchored
to another meeting; and, for each client whose zone is known, inside that client's
working hours. One slot a day, the day's earliest, on the first days that have room.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from worker.intervals import GRID, Span, inside, merge, on_grid, subtract
from worker.policy import Followups, Workday
from worker.timeutil import at

LONGEST = timedelta(hours=2)  # a workshop's follow-up is still a meeting, not a day


@dataclass(frozen=True)
class Slot:
    start: datetime  # UTC
    end: datetime


@dataclass(frozen=True)
class Ask:
    """What one meeting needs: its clients without a next meeting, and their zones
    where known (one per client that has one)."""

    meeting_id: str
    start: datetime
    end: datetime
    clients: tuple[str, ...]
    zones: tuple[ZoneInfo, ...]


@dataclass(frozen=True)
class Calendar:
    """The rep's side: working hours in their zone, the days that cannot be used, and
    the spans no slot may touch (busy events and the blocks that stay put)."""

    zone: ZoneInfo
    workday: Workday
    off: frozenset[date]
    taken: tuple[Span, ...]  # UTC, sorted
    # Tentative holds, by the meeting they hold the next one for: a meeting's own hold
    # is its first slot while still valid; another meeting's takes the time.
    holds: tuple[tuple[str, Span], ...] = ()


def length(ask: Ask, rules: Followups) -> timedelta:
    if rules.proposal_minutes:
        return timedelta(minutes=rules.proposal_minutes)
    minutes = -(-int((ask.end - ask.start).total_seconds()) // (60 * GRID)) * GRID
    return min(max(timedelta(minutes=minutes), timedelta(minutes=GRID)), LONGEST)


def window_days(meeting_day: date, cal: Calendar, rules: Followups) -> list[date]:
    """The rep's workdays from the `propose_from_workdays`th to the
    `propose_until_workdays`th after the meeting's day; days off are counted as
    workdays (the window does not stretch for a holiday) but never offered."""
    days, day, n = [], meeting_day, 0
    while n < rules.propose_until_workdays and cal.workday.days:
        day += timedelta(days=1)
        if day.weekday() in cal.workday.days:
            n += 1
            if n >= rules.propose_from_workdays and day not in cal.off:
                days.append(day)
    return days


def propose(ask: Ask, cal: Calendar, rules: Followups, now: datetime) -> tuple[Slot, ...]:
    """Up to `rules.proposals` slots on different days, each the day's earliest; the
    meeting's own hold comes first while it is still a valid slot, so a time the
    client may have been offered stays on offer."""
    if rules.proposals <= 0:
        return ()
    need = length(ask, rules)
    # Later than the look-ahead, a meeting would not count as the follow-up (and the
    # calendar was not read that far).
    # From the start of today, so the slots do not shift as the day goes by.
    today = at(now.astimezone(cal.zone).date(), time(), cal.zone)
    latest = min(ask.end, today).astimezone(UTC) + timedelta(days=rules.lookahead_days)
    earliest = max(ask.end, now).astimezone(UTC)
    taken = sorted([*cal.taken, *(s for m, s in cal.holds if m != ask.meeting_id)])
    days = window_days(ask.start.astimezone(cal.zone).date(), cal, rules)

    def room(day: date) -> list[Span]:
        free = [(max(s, earliest), min(e, latest)) for s, e in _working(day, cal)]
        free = subtract([(s, e) for s, e in free if s < e], taken)
        for zone in ask.zones:
            free = intersect(free, client_hours(day, zone, rules))
        return free

    out: list[Slot] = []
    mine = next((s for m, s in cal.holds if m == ask.meeting_id), None)
    if mine is not None:
        day = mine[0].astimezone(cal.zone).date()
        if day in days and inside(mine, room(day)):
            out.append(Slot(*mine))
            days.remove(day)
    for day in days:
        if len(out) >= rules.proposals:
            break
        slot = next(((s, s + need) for s, e in on_grid(room(day)) if e - s >= need), None)
        if slot is not None:
            out.append(Slot(*slot))
    return tuple(out)


def _working(day: date, cal: Calendar) -> list[Span]:
    return merge(
        (at(day, s, cal.zone).astimezone(UTC), at(day, e, cal.zone).astimezone(UTC))
        for s, e in cal.workday.hours(day.weekday())
    )


def client_hours(day: date, zone: ZoneInfo, rules: Followups) -> list[Span]:
    """The client's working hours (Monday to Friday) on the local dates that meet the
    rep's `day`: a client far east or west works on the day before or after."""
    start, end = rules.client_hours
    out = []
    for d in (day - timedelta(days=1), day, day + timedelta(days=1)):
        if d.weekday() < 5:
            out.append((at(d, start, zone).astimezone(UTC), at(d, end, zone).astimezone(UTC)))
    return out


def intersect(a: Sequence[Span], b: Iterable[Span]) -> list[Span]:
    out = []
    for bs, be in b:
        for s, e in a:
            lo, hi = max(s, bs), min(e, be)
            if lo < hi:
                out.append((lo, hi))
    return sorted(out)


def zone_of(client: str, rules: Followups) -> ZoneInfo | None:
    """A zone the config gives for the client's domain or address."""
    for key, name in rules.client_zones:
        if key == client:
            return ZoneInfo(name)
    return None
