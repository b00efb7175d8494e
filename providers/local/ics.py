"""iCalendar text to domain types, and blocks back to VEVENT text.

Real calendars are messy; everything here reads what it can and reports the rest.
Floating times and all-day dates are read in the user's zone, as calendar apps do.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
import recurring_ical_events
import x_wr_timezone

from worker.models import (
    Attendee,
    Block,
    BlockKind,
    Event,
    EventType,
    Response,
    Status,
    Window,
    block_id,
)
from worker.timeutil import localize

TAG = "X-FIRSTBLOCK-KEY"
PARTSTAT = {
    "ACCEPTED": Response.ACCEPTED,
    "TENTATIVE": Response.TENTATIVE,
    "DECLINED": Response.DECLINED,
    "NEEDS-ACTION": Response.NEEDS_ACTION,
    "DELEGATED": Response.DECLINED,
}
STATUS = {
    "CONFIRMED": Status.CONFIRMED,
    "TENTATIVE": Status.TENTATIVE,
    "CANCELLED": Status.CANCELLED,
}


@dataclass(frozen=True)
class Parsed:
    events: list[Event]
    blocks: list[Block]
    problems: list[str]


def parse_calendar(text: str) -> icalendar.Calendar:
    """Parse, raising ValueError when the text is not an iCalendar at all."""
    cal = icalendar.Calendar.from_ical(text)
    if not isinstance(cal, icalendar.Calendar):
        raise ValueError("not a VCALENDAR")
    return cal


def calendar_zone(cal: icalendar.Calendar) -> str | None:
    """The zone the calendar declares with X-WR-TIMEZONE, as an IANA name."""
    name = cal.get("X-WR-TIMEZONE")
    if not name:
        return None
    return _iana(str(name))


def _iana(name: str) -> str | None:
    try:
        return ZoneInfo(name).key
    except (ZoneInfoNotFoundError, ValueError):
        pass
    olson = icalendar.timezone.windows_to_olson.WINDOWS_TO_OLSON.get(name)
    return str(olson) if olson else None


def read(cal: icalendar.Calendar, window: Window) -> Parsed:
    zone = ZoneInfo(window.zone)
    problems: list[str] = []
    blocks: list[Block] = []
    foreign = icalendar.Calendar()
    for key, value in cal.property_items(recursive=False):
        if key not in ("BEGIN", "END"):
            foreign.add(key, value)
    for component in cal.subcomponents:
        block = _block(component) if component.name == "VEVENT" else None
        if block is None:
            foreign.add_component(component)
        elif window.start < block.end and block.start < window.end:
            blocks.append(block)
    if foreign.get("X-WR-TIMEZONE"):
        foreign = x_wr_timezone.to_standard(foreign)
    series = {
        str(c.get("UID", ""))
        for c in foreign.walk("VEVENT")
        if c.get("RRULE") or c.get("RDATE") or c.get("RECURRENCE-ID")
    }
    events = [
        _event(c, zone, problems, series) for c in _occurrences(foreign, window, zone, problems)
    ]
    return Parsed([e for e in events if e is not None], blocks, problems)


def _occurrences(
    cal: icalendar.Calendar, window: Window, zone: ZoneInfo, problems: list[str]
) -> Iterable[Any]:
    # Expand naive bounds: the library compares floating times as wall-clock times.
    start = window.start.astimezone(zone)
    end = window.end.astimezone(zone)
    try:
        return list(recurring_ical_events.of(cal).between(start, end))
    except Exception:
        pass
    # Slow path: expand series one by one to find the one that cannot be read.
    out: list[Any] = []
    by_uid: dict[str, icalendar.Calendar] = {}
    for c in cal.subcomponents:
        if c.name != "VEVENT":
            continue
        uid = str(c.get("UID", ""))
        one = by_uid.setdefault(uid, icalendar.Calendar())
        if len(one.subcomponents) == 0:
            for tz in cal.walk("VTIMEZONE"):
                one.add_component(tz)
        one.add_component(c)
    for one in by_uid.values():
        try:
            out += recurring_ical_events.of(one).between(start, end)
        except Exception as exc:
            first = next(iter(one.walk("VEVENT")))
            problems.append(
                f"event {_label(first)}: cannot expand its recurrence ({exc}); "
                "its first occurrence counts as busy"
            )
            marked = first.copy()
            marked["X-FIRSTBLOCK-PROBLEM"] = f"cannot expand recurrence: {exc}"
            out.append(marked)
    return out


def _label(c: Any) -> str:
    return f"{str(c.get('SUMMARY', '(no title)'))!r} (UID {c.get('UID', '?')})"


def _when(c: Any, prop: str, zone: ZoneInfo, problems: list[str]) -> tuple[datetime, bool] | None:
    """A DTSTART/DTEND as an aware datetime, and whether it was a date."""
    value = c.get(prop)
    if value is None:
        return None
    dt = value.dt
    if isinstance(dt, datetime):
        if dt.tzinfo is None:
            tzid = value.params.get("TZID")
            if tzid:
                problems.append(
                    f"event {_label(c)}: unknown time zone {tzid!r}; read in {zone.key}"
                )
            return localize(dt, zone), False
        return dt, False
    if isinstance(dt, date):
        return localize(datetime.combine(dt, datetime.min.time()), zone), True
    raise ValueError(f"{prop} is not a date or time")


def _event(c: Any, zone: ZoneInfo, problems: list[str], series: set[str]) -> Event | None:
    problem = str(c.get("X-FIRSTBLOCK-PROBLEM", ""))
    try:
        begin = _when(c, "DTSTART", zone, problems)
        if begin is None:
            raise ValueError("no DTSTART")
        start, all_day = begin
        finish = _when(c, "DTEND", zone, problems)
        if finish is not None:
            end = finish[0]
        elif c.get("DURATION") is not None:
            end = start + c["DURATION"].dt
        else:
            end = start + (timedelta(days=1) if all_day else timedelta(0))
        if end < start:
            problems.append(f"event {_label(c)}: ends before it starts; read as zero length")
            end = start
    except Exception as exc:
        problems.append(f"event {_label(c)}: cannot read its time ({exc}); not placed")
        return None
    uid = str(c.get("UID", "")) or f"nouid-{start.isoformat()}"
    rid = c.get("RECURRENCE-ID")
    occurrence = ""
    if rid is not None and uid in series:
        moment = rid.dt
        if isinstance(moment, datetime) and moment.tzinfo is None:
            moment = localize(moment, zone)
        occurrence = (
            moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
            if isinstance(moment, datetime)
            else moment.strftime("%Y%m%d")
        )
    return Event(
        id=f"{uid}/{occurrence}" if occurrence else uid,
        title=str(c.get("SUMMARY", "")),
        start=start,
        end=end,
        all_day=all_day,
        status=STATUS.get(str(c.get("STATUS", "CONFIRMED")).upper(), Status.CONFIRMED),
        transparent=_transparent(c),
        event_type=_event_type(c),
        attendees=tuple(_attendees(c)),
        organizer=_address(c.get("ORGANIZER")),
        series_id=uid,
        problem=problem,
    )


def _transparent(c: Any) -> bool:
    busy = str(c.get("X-MICROSOFT-CDO-BUSYSTATUS", "")).upper()
    if busy:
        return busy in ("FREE", "WORKINGELSEWHERE")
    return str(c.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT"


def _event_type(c: Any) -> EventType:
    declared = str(c.get("X-FIRSTBLOCK-EVENT-TYPE", "")).lower()
    if declared:
        try:
            return EventType(declared)
        except ValueError:
            pass
    if str(c.get("X-MICROSOFT-CDO-BUSYSTATUS", "")).upper() == "OOF":
        return EventType.OUT_OF_OFFICE
    return EventType.DEFAULT


def _address(value: Any) -> str:
    if value is None:
        return ""
    text = str(value).strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    return text.strip().lower()


def _attendees(c: Any) -> Iterable[Attendee]:
    raw = c.get("ATTENDEE")
    if raw is None:
        return
    for a in raw if isinstance(raw, list) else [raw]:
        params = getattr(a, "params", {})
        cutype = str(params.get("CUTYPE", "INDIVIDUAL")).upper()
        yield Attendee(
            email=_address(a),
            name=str(params.get("CN", "")),
            response=PARTSTAT.get(
                str(params.get("PARTSTAT", "NEEDS-ACTION")).upper(), Response.NEEDS_ACTION
            ),
            resource=cutype in ("ROOM", "RESOURCE"),
        )


def _block(c: Any) -> Block | None:
    """A VEVENT is ours when it carries the tag and the UID derived from it."""
    key = c.get(TAG)
    if key is None or str(c.get("UID", "")) != block_id(str(key)):
        return None
    try:
        start, end = c["DTSTART"].dt, c["DTEND"].dt
        if not (isinstance(start, datetime) and isinstance(end, datetime)) or start.tzinfo is None:
            return None
        return Block(
            key=str(key),
            kind=BlockKind(str(c.get("X-FIRSTBLOCK-KIND"))),
            day=date.fromisoformat(str(c.get("X-FIRSTBLOCK-DAY"))),
            start=start,
            end=end,
            title=str(c.get("SUMMARY", "")),
            description=str(c.get("DESCRIPTION", "")),
            meeting_id=str(c.get("X-FIRSTBLOCK-MEETING", "")),
            written=str(c.get("X-FIRSTBLOCK-WRITTEN", "")),
            etag=etag(c),
        )
    except (KeyError, ValueError, TypeError):
        return None  # damaged beyond recognition: leave it to the user as an ordinary event


def read_blocks(cal: icalendar.Calendar) -> list[Block]:
    return [b for c in cal.subcomponents if c.name == "VEVENT" and (b := _block(c)) is not None]


def etag(c: Any) -> str:
    return hashlib.sha256(c.to_ical()).hexdigest()[:16]


def render(block: Block, stamp: datetime) -> bytes:
    """A block as VEVENT text: busy, no attendees, no alarms."""
    ev = icalendar.Event()
    ev.add("UID", block.id)
    ev.add("DTSTAMP", stamp.astimezone(UTC))
    ev.add("DTSTART", block.start.astimezone(UTC))
    ev.add("DTEND", block.end.astimezone(UTC))
    ev.add("SUMMARY", block.title)
    if block.description:
        ev.add("DESCRIPTION", block.description)
    ev.add("TRANSP", "OPAQUE")
    ev.add("STATUS", "CONFIRMED")
    ev.add("CATEGORIES", ["firstblock", block.kind.value])
    ev.add("X-MICROSOFT-CDO-BUSYSTATUS", "BUSY")
    ev.add(TAG, block.key)
    ev.add("X-FIRSTBLOCK-KIND", block.kind.value)
    ev.add("X-FIRSTBLOCK-DAY", block.day.isoformat())
    if block.meeting_id:
        ev.add("X-FIRSTBLOCK-MEETING", block.meeting_id)
    ev.add("X-FIRSTBLOCK-WRITTEN", block.fingerprint)
    return bytes(ev.to_ical())
