"""What a person or a script reads: day timelines and the JSON shapes of the CLI."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from worker import proposals, zones
from worker.alerts import OpenGap
from worker.clients import People, client_keys, is_client_meeting
from worker.cycle import Outcome, owned_now
from worker.gapcheck import GapOutcome
from worker.inbox import HoldOutcome
from worker.models import Block, Change, Event, Status
from worker.planner import Rules, Shortfall, busy_from, days_off, is_busy
from worker.text import one_line


def iso(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).isoformat()


def outcome_json(o: Outcome) -> dict[str, Any]:
    zone = zones.zone(o.timezone)
    kept = {b.key for b in o.plan.kept}
    return {
        "account": o.account,
        "timezone": o.timezone,
        "blocks": [
            {
                "kind": b.kind.value,
                "start": iso(b.start, zone),
                "end": iso(b.end, zone),
                "title": b.title,
                "kept": b.key in kept,
                "free": b.free,  # shown as free for now (time defense)
                **({"meeting": b.meeting_id} if b.meeting_id else {}),
            }
            for b in owned_now(o)
        ],
        "changes": [change_json(c, zone) for c in o.changes],
        "shortfalls": [shortfall_json(s) for s in o.plan.shortfalls],
        "problems": list(o.problems),
        "applied": o.applied,
        # Invitations turned down for you (sent when applied; else would be).
        "declined": [
            {
                "title": d.event.title,
                "organizer": d.event.organizer,
                "start": iso(d.event.start, zone),
                "block": d.block.kind.value,
            }
            for d in o.declines
        ],
    }


def declines_text(o: Outcome, *, apply: bool) -> list[str]:
    zone = zones.zone(o.timezone)
    verb = "declined" if apply else "would decline"
    return [
        f"{verb}: {d.event.title} from {d.event.organizer},"
        f" {d.event.start.astimezone(zone):%a %H:%M}, on your {d.block.kind.value} block"
        for d in o.declines
    ]


def change_json(c: Change, zone: ZoneInfo) -> dict[str, Any]:
    out = {
        "op": c.op.value,
        "kind": c.block.kind.value,
        "start": iso(c.block.start, zone),
        "end": iso(c.block.end, zone),
        "title": c.block.title,
    }
    if c.before is not None and c.op.value == "update":
        out["was_start"] = iso(c.before.start, zone)
        out["was_end"] = iso(c.before.end, zone)
    return out


def shortfall_json(s: Shortfall) -> dict[str, Any]:
    out: dict[str, Any] = {
        "date": s.day.isoformat(),
        "kind": s.kind.value,
        "minutes_missing": s.minutes_missing,
    }
    if s.meeting:
        out["meeting"] = s.meeting
    return out


@dataclass(frozen=True)
class Row:
    """One line of a day: a meeting or a block, in the user's zone."""

    start: datetime
    end: datetime
    what: str  # a block's kind, or "meeting", "client", "not busy"
    title: str  # as it came: escaped or flattened by whoever shows it
    notes: tuple[str, ...] = ()
    block: bool = False
    meeting: str = ""  # a prep block's meeting, by id; a meeting's own id otherwise
    proposed: str = ""  # a client meeting's slots for the next one (worker/proposals.py)
    free: bool = False  # a block shown as free for now (time defense)


@dataclass(frozen=True)
class Day:
    day: date
    rows: tuple[Row, ...] = ()
    off: str = ""  # why the day has no blocks (an all-day out-of-office, a holiday)
    shortfalls: tuple[Shortfall, ...] = ()


def week(o: Outcome, rules: Rules, *, unbooked: dict[str, list[str]] | None = None) -> list[Day]:
    """Each day of the horizon: meetings and blocks in order, days off, shortfalls; what
    the terminal's timeline and the web page both show. `unbooked` flags client
    meetings with no next meeting booked (meeting id -> clients)."""
    zone = rules.zone
    unbooked = unbooked or {}
    proposed = {p.meeting_id: proposals.line(p, zone) for p in o.plan.proposals}
    blocks = owned_now(o)
    events = [e for e in o.events if e.status is not Status.CANCELLED]
    off = days_off(events, rules)
    days = sorted(
        set(o.plan.days)
        | {d for d in off if o.plan.days and o.plan.days[0] <= d <= o.plan.days[-1]}
    )
    out: list[Day] = []
    for day in days:
        if day in off:
            why = next((e.title for e in events if e.all_day and _on(e, day, zone)), "holiday")
            out.append(Day(day, off=why))
            continue
        rows = [
            replace(_event_row(e, rules, unbooked.get(e.id, [])), proposed=proposed.get(e.id, ""))
            for e in events
            if not e.all_day and _on(e, day, zone)
        ]
        rows += [
            Row(
                b.start,
                b.end,
                _what(b),
                b.title,
                _defense(b, rules),
                True,
                b.meeting_id,
                free=b.free,
            )
            for b in blocks
            if b.start.astimezone(zone).date() == day
        ]
        shortfalls = tuple(s for s in o.plan.shortfalls if s.day == day)
        out.append(Day(day, tuple(sorted(rows, key=lambda r: r.start)), "", shortfalls))
    return out


def timeline(
    o: Outcome,
    rules: Rules,
    *,
    first: date | None = None,
    unbooked: dict[str, list[str]] | None = None,
) -> list[str]:
    """Each day of the horizon as lines: meetings and blocks in local time, shortfalls."""
    zone = rules.zone
    lines: list[str] = []
    for d in week(o, rules, unbooked=unbooked):
        if first and d.day < first:
            continue
        lines.append(f"{d.day:%a %d %b %Y}")
        if d.off:
            lines += [f"  day off ({one_line(d.off)}): no blocks", ""]
            continue
        for r in d.rows:
            label = r.what.upper() if r.block else r.what
            # Titles come from other people: no control character reaches the terminal.
            text = f"  {_span(r.start, r.end, zone)}  {label:<12} {one_line(r.title)}"
            notes = [n for n in r.notes if not n.startswith("no next meeting")]
            text += f"  ({'; '.join(notes)})" if notes else ""
            flagged = [n for n in r.notes if n.startswith("no next meeting")]
            text += f"  << {flagged[0]}" if flagged else ""
            lines.append(text)
            if r.proposed:
                lines.append(f"{'':<28}{r.proposed}")
        for s in d.shortfalls:
            what = f" for {s.meeting}" if s.meeting else ""
            lines.append(f"  shortfall: {s.kind.value}{what} is {s.minutes_missing} min short")
        lines.append("")
    return lines


def _on(e: Event, day: date, zone: ZoneInfo) -> bool:
    start = e.start.astimezone(zone)
    end = (e.end - timedelta(microseconds=1)).astimezone(zone) if e.end > e.start else start
    return start.date() <= day <= end.date()


def _span(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    return f"{start.astimezone(zone):%H:%M}-{end.astimezone(zone):%H:%M}"


def _event_row(e: Event, rules: Rules, unbooked: list[str]) -> Row:
    if not is_busy(e, rules):
        what = "not busy"
    elif is_client_meeting(e, rules.people):
        what = "client"
    else:
        what = "meeting"
    notes = []
    if what == "client":
        notes.append(", ".join(sorted(client_keys(e, rules.people))))
    if e.series_id and e.id != e.series_id:
        notes.append("recurring")
    if rules.people.me and e.response_of(rules.people.me) is not None:
        answer = e.response_of(rules.people.me)
        if answer is not None and answer.value != "accepted":
            notes.append(answer.value)
    if e.problem:
        notes.append("unreadable, counted busy")
    if unbooked:
        notes.append(f"no next meeting booked with {', '.join(unbooked)}")
    return Row(e.start, e.end, what, e.title, tuple(notes), meeting=e.id)


def people_line(people: People) -> str:
    inside = ", ".join(people.internal_domains) or "none set"
    return f"you: {people.me or 'address not set'}; internal domains: {inside}"


def _defense(b: Block, rules: Rules) -> tuple[str, ...]:
    """A free block says until when: colleagues can book it till then."""
    if not b.free:
        return ()
    turns = busy_from(b, rules)
    if turns is None:
        return ("shown as free",)
    return (f"free until {turns.astimezone(rules.zone):%a %H:%M}",)


def _what(b: Block) -> str:
    return "tentative" if b.tentative else b.kind.value  # a hold is not protected time


def changes_text(changes: Iterable[Change], zone: ZoneInfo) -> list[str]:
    out = []
    for c in changes:
        start = c.block.start.astimezone(zone)
        when = f"{start:%a %d %b} {_span(c.block.start, c.block.end, zone)}"
        was = ""
        if c.before is not None and c.op.value == "update":
            old = c.before
            was = f" (was {old.start.astimezone(zone):%a} {_span(old.start, old.end, zone)})"
        title = one_line(c.block.title)
        out.append(f"  {c.op.value:<6} {_what(c.block):<11} {when}  {title}{was}")
    return out


def hold_json(h: HoldOutcome | None, zone: ZoneInfo) -> dict[str, Any]:
    if h is None:
        return {"state": "off", "held": 0, "moved_out": 0, "returned": 0, "release_at": None}
    return {
        "state": h.phase.value,
        "held": h.held,
        "moved_out": h.moved_out,
        "returned": h.returned,
        "release_at": iso(h.release_at, zone) if h.release_at else None,
        **({"starts_at": iso(h.window.start, zone)} if h.window else {}),
        **({"renamed": len(h.renamed)} if h.renamed else {}),
    }


def hold_text(h: HoldOutcome, zone: ZoneInfo, *, apply: bool) -> str:
    if h.window is None:
        today = "no hold today"
    else:
        w = h.window
        why = "the admin block" if w.by_admin else "the end of the workday (no admin block)"
        today = f"today {_span(w.start, w.release_at, zone)}, released at {why}"
    moved = "moved" if apply else "would move"
    renamed = f", {len(h.renamed)} under a new name" if h.renamed else ""
    return "\n".join(
        [
            f"inbox hold: {h.phase.value} ({today}); {h.held} held;"
            f" {moved} {h.moved_out} out, {h.returned} back{renamed}",
            *(f"warning: {renamed_text(old, new)}" for old, new in h.renamed),
        ]
    )


def renamed_text(old: str, new: str, where: str = "there") -> str:
    """A message moved under a new name, because its own was taken where it went."""
    return f"message {old} is now {new}: a message of that name was already {where} (both kept)"


def gaps_json(
    account: str,
    gaps: Sequence[OpenGap],
    zone: ZoneInfo,
    now: datetime,
    proposed: Sequence[proposals.Proposal] = (),
) -> list[dict[str, Any]]:
    """One entry per meeting, listing every client it still lacks a follow-up with,
    and the slots proposed for the next meeting (checked at `now`)."""
    by_meeting: dict[str, list[OpenGap]] = {}
    for g in gaps:
        by_meeting.setdefault(g.key.rpartition("|")[0], []).append(g)
    slots = {x["meeting"]["id"]: x for x in proposals_json(account, proposed, zone)}
    out = []
    for meeting_id, group in by_meeting.items():
        g = group[0]
        alerted = [x.alerted_at for x in group if x.alerted_at]
        found = slots.get(meeting_id)
        out.append(
            {
                "account": account,
                "meeting": {
                    "id": meeting_id,
                    "title": g.title,
                    "start": iso(g.start, zone),
                    "end": iso(g.end, zone),
                },
                "client_keys": sorted(x.client for x in group),
                "ended_ago_minutes": int((now - g.end).total_seconds() // 60),
                "alerted_at": iso(min(alerted), zone) if alerted else None,
                "client_zones": found["client_zones"] if found else [],
                "proposed": found["proposed"] if found else [],
            }
        )
    return sorted(out, key=lambda x: x["meeting"]["end"])


def proposals_json(
    account: str, found: Sequence[proposals.Proposal], zone: ZoneInfo
) -> list[dict[str, Any]]:
    """Per meeting: the slots proposed for the next one, in the user's zone, and in
    each client zone that is known."""
    return [
        {
            "account": account,
            "meeting": {"id": p.meeting_id, "title": p.title, "start": iso(p.start, zone)},
            "client_keys": list(p.clients),
            "client_zones": list(p.zones),
            "proposed": [
                {
                    "start": iso(s.start, zone),
                    "end": iso(s.end, zone),
                    "client_start": {z: iso(s.start, ZoneInfo(z)) for z in p.zones},
                    "held": p.held and i == 0,  # a tentative hold is on the calendar
                }
                for i, s in enumerate(p.slots)
            ],
        }
        for p in found
    ]


def followups_json(g: GapOutcome | None) -> dict[str, Any] | None:
    if g is None:
        return None
    return {
        "open": len(g.open),
        "alerted": len(g.alerted),
        "closed": len(g.closed),
        "digest_sent": g.digest_sent,
        "problems": list(g.problems),
    }
