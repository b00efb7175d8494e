"""Slots to propose for the next meeting with each client of an upcoming client
meeting that has no follow-up booked (docs/design.md §1.3), and how they read.

Pure: the planner hands in the meetings, the calendar's taken time and `now`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from worker import followups, slots
from worker.clients import People, client_key
from worker.models import Block, Event
from worker.policy import Followups

LEAD = "Before you leave: book the next meeting."


@dataclass(frozen=True)
class Proposal:
    meeting_id: str
    title: str
    start: datetime
    clients: tuple[str, ...]  # those with no next meeting booked
    zones: tuple[str, ...]  # the clients' zones that are known, IANA names
    slots: tuple[slots.Slot, ...]
    held: bool = False  # the first slot is held, tentatively, in the rep's calendar


def gap_rules(f: Followups) -> followups.Rules:
    return followups.Rules(
        timedelta(days=f.lookahead_days),
        timedelta(days=f.lookback_days),
        timedelta(minutes=f.grace_minutes),
    )


def ask(meeting: Event, clients: Sequence[str], rules: Followups) -> slots.Ask:
    """The meeting's clients and their zones: as configured, else, for the client who
    sent the invitation, the zone its times were set in."""
    host = client_key(meeting.organizer) if meeting.organizer else ""
    zones = {}
    for c in clients:
        z = slots.zone_of(c, rules)
        if z is None and c == host and meeting.zone:
            z = ZoneInfo(meeting.zone)
        if z is not None:
            zones[z.key] = z
    return slots.Ask(
        meeting.id,
        meeting.start.astimezone(UTC),
        meeting.end.astimezone(UTC),
        tuple(clients),
        tuple(zones[k] for k in sorted(zones)),
    )


def propose(
    meetings: Sequence[Event],
    events: Sequence[Event],
    cal: slots.Calendar,
    people: People,
    rules: Followups,
    now: datetime,
    hold: Callable[[str], bool] = lambda _: False,
) -> tuple[Proposal, ...]:
    """One proposal per meeting in `meetings` that lacks a follow-up with a client.
    A meeting for which `hold` says yes holds its first slot; the holds in `cal` of
    the others stay as they are (the user's)."""
    if rules.proposals <= 0:
        return ()
    missing = followups.unbooked(meetings, events, people, gap_rules(rules))
    asks = []
    for m in sorted(meetings, key=lambda e: (e.start.astimezone(UTC), e.id)):
        clients = missing.pop(m.id, None)  # a meeting listed twice is proposed for once
        if clients:
            asks.append((m, ask(m, clients, rules)))
    cal = _holds(asks, cal, rules, now, hold)
    out = []
    for m, a in asks:
        found = slots.propose(a, cal, rules, now)
        held = bool(found) and (m.id, (found[0].start, found[0].end)) in cal.holds
        zones = tuple(z.key for z in a.zones)
        out.append(Proposal(m.id, m.title, a.start, a.clients, zones, found, held))
    return tuple(out)


def _holds(
    asks: Sequence[tuple[Event, slots.Ask]],
    cal: slots.Calendar,
    rules: Followups,
    now: datetime,
    hold: Callable[[str], bool],
) -> slots.Calendar:
    """The calendar with the holds it will have: each meeting that may hold takes its
    first slot, in time order, so a later meeting's keeps off an earlier one's. The
    proposals are then made again against exactly these, or a second run would see
    other holds than the first and offer other slots."""
    if not any(hold(m.id) for m, _ in asks):
        return cal
    placed: dict[str, tuple[datetime, datetime]] = {}
    for m, a in asks:
        if not hold(m.id):
            continue
        found = slots.propose(a, cal, rules, now)
        others = tuple(h for h in cal.holds if h[0] != m.id)
        if found:
            placed[m.id] = (found[0].start, found[0].end)
            others += ((m.id, placed[m.id]),)
        cal = replace(cal, holds=others)
    # A hold no meeting may keep goes (its meeting has its next one, or no slot).
    stay = tuple(h for h in cal.holds if not hold(h[0]) or h[0] in placed)
    return replace(cal, holds=stay)


def when(slot: slots.Slot, zone: ZoneInfo, client_zones: Sequence[str]) -> str:
    """ "Tue 12 Mar 10:00", with the client's time when their zone differs:
    "Tue 12 Mar 10:00 (16:00 Berlin)"."""
    mine = slot.start.astimezone(zone)
    text = f"{mine:%a %d %b %H:%M}"
    theirs = []
    for name in client_zones:
        other = slot.start.astimezone(ZoneInfo(name))
        if other.utcoffset() == mine.utcoffset():
            continue
        shown = f"{other:%H:%M}" if other.date() == mine.date() else f"{other:%a %H:%M}"
        theirs.append(f"{shown} {city(name)}")
    return f"{text} ({', '.join(theirs)})" if theirs else text


def city(name: str) -> str:
    return name.rpartition("/")[2].replace("_", " ")


def line(p: Proposal, zone: ZoneInfo) -> str:
    """ "Proposed: Tue 12 Mar 10:00, Wed 13 Mar 14:00", or why there are none."""
    if not p.slots:
        return "No free slot found in the window: pick a time by hand"
    times = [when(s, zone, p.zones) for s in p.slots]
    if p.held:
        times[0] += " (held in your calendar)"
    return "Proposed: " + ", ".join(times)


def describe_preps(
    blocks: Sequence[Block], found: Sequence[Proposal], zone: ZoneInfo, tail: str
) -> list[Block]:
    """Each meeting's prep block, told to book the next meeting and when, and its
    follow-up block, told when; `tail` is the sentence every description ends with."""
    by_meeting = {p.meeting_id: p for p in found}
    out = []
    for b in blocks:
        p = by_meeting.get(b.meeting_id) if b.meeting_id else None
        if p is not None:
            head = b.description.removesuffix(tail).rstrip()
            lead = "" if b.key.startswith("followup/") else f" {LEAD}"  # it is after
            b = replace(b, description=f"{head}{lead} {line(p, zone)}. {tail}")
        out.append(b)
    return out
