"""iCalendar text to domain types, and blocks back to VEVENT text.

Real calendars are messy; everything here reads what it can and reports the rest.
Floating times and all-day dates are read in the user's zone, as calendar apps do.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
import recurring_ical_events
import x_wr_timezone
from icalendar.prop import vDDDTypes
from recurring_ical_events.util import make_comparable
from tzlocal.windows_tz import win_tz

from providers.local import bounds, zones
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
from worker.text import excerpt
from worker.timeutil import day_span, day_start, localize

TAG = "X-FIRSTBLOCK-KEY"
# Set on a copy of an event read only in part; it reaches every occurrence.
MARK = "X-FIRSTBLOCK-PROBLEM"
# Set on a parsed calendar for each time zone left out of it (zones.py).
IGNORED = "X-FIRSTBLOCK-IGNORED-ZONE"
PARTSTAT = {
    "ACCEPTED": Response.ACCEPTED,
    "TENTATIVE": Response.TENTATIVE,
    "DECLINED": Response.DECLINED,
    "NEEDS-ACTION": Response.NEEDS_ACTION,
    "DELEGATED": Response.DECLINED,
}
# A cancelled occurrence is kept, as CANCELLED: every reader of events skips it as
# not busy, and its id stays known.
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
    """Parse, raising ValueError when the text is not an iCalendar at all.

    Time zones too costly to compute are left out first: icalendar builds (and keeps)
    one for each VTIMEZONE as it parses.
    """
    text, ignored = zones.affordable(text)
    cal = icalendar.Calendar.from_ical(text)
    if not isinstance(cal, icalendar.Calendar):
        raise ValueError("not a VCALENDAR")
    for problem in ignored:
        cal.add(IGNORED, problem)
    return cal


def calendar_zone(cal: icalendar.Calendar) -> str | None:
    """The zone the calendar declares with X-WR-TIMEZONE, as an IANA name."""
    name = cal.get("X-WR-TIMEZONE")
    if not name:
        return None
    return _iana(str(name))


def _iana(name: str) -> str | None:
    name = name.strip().strip('"')
    try:
        return ZoneInfo(name).key
    except (ZoneInfoNotFoundError, ValueError):
        pass
    olson = icalendar.timezone.windows_to_olson.WINDOWS_TO_OLSON.get(name)
    return str(olson) if olson else None


@dataclass(frozen=True)
class Prepared:
    """What reading a calendar finds whatever the window: firstblock's blocks, the
    other events ready to expand, and the problems found so far. Shared by readers
    when cached (cache.py): read-only, as the calendar it comes from."""

    blocks: tuple[Block, ...]
    foreign: icalendar.Calendar
    series: frozenset[str]
    shifts: Mapping[tuple[str, str], timedelta]
    problems: tuple[str, ...]


def read(cal: icalendar.Calendar, window: Window) -> Parsed:
    return expand(prepare(cal, window.zone), window)


def prepare(cal: icalendar.Calendar, zone_name: str) -> Prepared:
    """The part of a read that depends on the calendar and the zone, not the window.
    Copies any component it changes: `cal` may be shared."""
    zone = ZoneInfo(zone_name)
    ignored = cal.get(IGNORED, [])
    problems = [str(p) for p in (ignored if isinstance(ignored, list) else [ignored])]
    blocks: list[Block] = []
    ours = owned(cal, problems)
    foreign = icalendar.Calendar()
    for component in cal.subcomponents:
        block = ours.get(id(component))
        if block is None:
            foreign.add_component(component)
        else:
            blocks.append(block)
    foreign.subcomponents = _distinct(foreign.subcomponents, problems)
    foreign = _standard(foreign, cal.get("X-WR-TIMEZONE"), problems)
    kept = []
    for c in foreign.subcomponents:
        fixed = _repair(c, zone, problems) if c.name == "VEVENT" else c
        if fixed is not None:
            kept.append(fixed)
    foreign.subcomponents = kept
    series = frozenset(
        str(c.get("UID", ""))
        for c in foreign.walk("VEVENT")
        if c.get("RRULE") or c.get("RDATE") or c.get("RECURRENCE-ID")
    )
    return Prepared(tuple(blocks), foreign, series, _shifts(foreign), tuple(problems))


def expand(prepared: Prepared, window: Window) -> Parsed:
    """The events and blocks of the window. Changes nothing in `prepared`."""
    zone = ZoneInfo(window.zone)
    problems = list(prepared.problems)
    blocks = [b for b in prepared.blocks if window.start < b.end and b.start < window.end]
    events = [
        _event(c, zone, problems, prepared.series, prepared.shifts)
        for c in _occurrences(prepared.foreign, window, zone, problems)
    ]
    # A series reports a problem once, not once per occurrence or override.
    unique = list(dict.fromkeys(problems))
    return Parsed([e for e in events if e is not None], blocks, unique)


def _standard(cal: icalendar.Calendar, declared: Any, problems: list[str]) -> icalendar.Calendar:
    """Google-style exports: UTC times meant in the X-WR-TIMEZONE zone (recurrences!)."""
    if not declared:
        return cal
    name = _iana(str(declared))
    if name is None:
        problems.append(
            f"calendar time zone {_quoted(str(declared))} (X-WR-TIMEZONE) is unknown; "
            "its UTC times are read as UTC"
        )
        return cal
    # The zone goes in as an argument, not as X-WR-TIMEZONE: the expansion library
    # would convert again, and fail on names ZoneInfo does not know (Windows names).
    standard: icalendar.Calendar = x_wr_timezone.to_standard(cal, timezone=ZoneInfo(name))
    return standard


def _repair(c: Any, zone: ZoneInfo, problems: list[str]) -> Any | None:
    """Report what cannot be read in a VEVENT and patch it so that it can be expanded.

    Returns a marked copy when something was guessed, None when the event cannot be
    placed at all (no readable start).
    """
    whys: list[str] = []
    for tzid in sorted(_unknown_tzids(c)):
        problems.append(f"event {_label(c)}: unknown time zone {_quoted(tzid)}; read in {zone.key}")
        whys.append(f"unknown time zone {_quoted(tzid)}")
    start = _value(c, "DTSTART")
    if not isinstance(start, date):  # a datetime is a date too
        problems.append(f"event {_label(c)}: it has no readable start; not placed")
        return None
    broken = [p for p in ("DTEND", "DURATION") if p in c and _value(c, p) is None]
    lost = "RECURRENCE-ID" in c and _value(c, "RECURRENCE-ID") is None
    if not whys and not broken and not lost:
        return c
    c = c.copy()
    if lost:
        # Which occurrence it replaces is unknown: it stands for the one at its start.
        problems.append(f"event {_label(c)}: cannot read its RECURRENCE-ID; placed at its start")
        whys.append("unreadable RECURRENCE-ID")
        c["RECURRENCE-ID"] = vDDDTypes(start)
    if broken:
        # Unknown length: assume the worst, the rest of its day.
        for p in broken:
            del c[p]
        c["DTEND"] = vDDDTypes(_day_end(start, zone))
        problems.append(
            f"event {_label(c)}: cannot read its {broken[0]}; busy until the end of its day"
        )
        whys.append(f"unreadable {broken[0]}")
    c[MARK] = "; ".join(whys)
    return c


def _value(c: Any, prop: str) -> Any:
    """The value of a date-time property, or None when missing or unreadable."""
    try:
        return c[prop].dt
    except Exception:  # missing, repeated, or icalendar could not parse it
        return None


def _unknown_tzids(c: Any) -> set[str]:
    """TZIDs icalendar could not resolve: times that name them came out floating."""
    found: set[str] = set()
    for values in c.values():
        for value in values if isinstance(values, list) else [values]:
            tzid = getattr(value, "params", {}).get("TZID")
            if tzid and any(isinstance(m, datetime) and m.tzinfo is None for m in _moments(value)):
                found.add(str(tzid))
    return found


def _moments(value: Any) -> list[Any]:
    try:
        if hasattr(value, "dts"):  # EXDATE and RDATE lists; periods count by their start
            return [d.dt[0] if isinstance(d.dt, tuple) else d.dt for d in value.dts]
        return [value.dt]
    except Exception:  # unreadable: reported where it matters (DTSTART, DTEND)
        return []


def _day_end(start: date, zone: ZoneInfo) -> date:
    """The end of the day `start` falls on, in the same kind of value as `start`."""
    if not isinstance(start, datetime):
        return start + timedelta(days=1)
    if start.tzinfo is None:  # floating stays floating
        return start.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return day_span(start.astimezone(zone).date(), zone)[1]


def _shifts(cal: icalendar.Calendar) -> dict[tuple[str, str], timedelta]:
    """How far each RANGE=THISANDFUTURE override moves the occurrences after it."""
    shifts: dict[tuple[str, str], timedelta] = {}
    c: Any
    for c in cal.walk("VEVENT"):
        rid = c.get("RECURRENCE-ID")
        if rid is not None and _this_and_future(rid):
            # The library's own arithmetic, so that subtracting it undoes it exactly.
            start, moment = make_comparable((c["DTSTART"].dt, rid.dt))
            shifts[(str(c.get("UID", "")), _stamp(rid.dt))] = start - moment
    return shifts


def _this_and_future(rid: Any) -> bool:
    return str(rid.params.get("RANGE", "")).upper() == "THISANDFUTURE"


def _occurrences(
    cal: icalendar.Calendar, window: Window, zone: ZoneInfo, problems: list[str]
) -> list[Any]:
    # Aware bounds in the user's zone: the library reads floating times against them.
    start = window.start.astimezone(zone)
    end = window.end.astimezone(zone)
    series = _by_uid(cal)
    plan = bounds.plan(series, window, zone)
    if not plan.risky and not plan.crowded:
        return _expand(cal, start, end, problems)  # every calendar a person keeps
    timezones = cal.walk("VTIMEZONE")
    plain = [c for uid in plan.plain for c in series[uid]]
    out = _expand(_calendar(timezones, plain), start, end, problems)
    left_out = [(series[uid], bounds.CROWDED) for uid in plan.crowded]
    for uid in plan.risky:
        parts, why = bounds.prepare(series[uid], window, zone, plan.budget)
        if parts is not None:
            began = time.thread_time()
            try:
                out += recurring_ical_events.of(_calendar(timezones, parts)).between(start, end)
                continue
            except Exception as exc:
                why = f"cannot expand its recurrence ({excerpt(str(exc))})"
            finally:
                plan.budget.seconds -= time.thread_time() - began
        left_out.append((series[uid], why))
    return out + _fallback(timezones, left_out, start, end, problems)


def _expand(
    cal: icalendar.Calendar, start: datetime, end: datetime, problems: list[str]
) -> list[Any]:
    try:
        return list(recurring_ical_events.of(cal).between(start, end))
    except Exception:
        pass
    # Slow path: expand series one by one, so that a bad one spoils only itself.
    timezones = cal.walk("VTIMEZONE")
    out: list[Any] = []
    for parts in _by_uid(cal).values():
        try:
            out += recurring_ical_events.of(_calendar(timezones, parts)).between(start, end)
        except Exception as exc:
            why = f"cannot expand its recurrence ({excerpt(str(exc))})"
            out += _fallback(timezones, [(parts, why)], start, end, problems)
    return out


def _fallback(
    timezones: list[Any],
    series: list[tuple[list[Any], str]],
    start: datetime,
    end: datetime,
    problems: list[str],
) -> list[Any]:
    """Series read without their rules: only their first and moved occurrences."""
    plain = []
    for parts, why in series:
        problems.append(
            f"event {_label(_master(parts))}: {why}; only its first and its moved "
            "occurrences are placed, as busy"
        )
        plain.append([_without_rules(c, why) for c in parts])
    try:  # all at once: there may be thousands
        everything = [c for copies in plain for c in copies]
        return list(recurring_ical_events.of(_calendar(timezones, everything)).between(start, end))
    except Exception:
        pass
    out: list[Any] = []
    for (parts, _), copies in zip(series, plain, strict=True):
        try:
            out += recurring_ical_events.of(_calendar(timezones, copies)).between(start, end)
        except Exception as exc:
            problems.append(
                f"event {_label(_master(parts))}: cannot read it ({excerpt(str(exc))}); not placed"
            )
    return out


def _master(parts: list[Any]) -> Any:
    return min(parts, key=lambda c: "RECURRENCE-ID" in c)


def _by_uid(cal: icalendar.Calendar) -> dict[str, list[Any]]:
    series: dict[str, list[Any]] = {}
    for c in cal.walk("VEVENT"):
        # Events without a UID are unrelated to each other.
        series.setdefault(str(c.get("UID", "")) or f"#{id(c)}", []).append(c)
    return series


def _calendar(timezones: list[Any], events: list[Any]) -> icalendar.Calendar:
    one = icalendar.Calendar()
    for tz in timezones:
        one.add_component(tz)
    for c in events:
        one.add_component(c)
    return one


def _without_rules(c: Any, why: str) -> Any:
    plain = c.copy()
    for prop in ("RRULE", "RDATE", "EXDATE", "EXRULE"):
        plain.pop(prop, None)
    plain[MARK] = f"{plain[MARK]}; {why}" if MARK in plain else why
    return plain


def _label(c: Any) -> str:
    return f"{_quoted(str(c.get('SUMMARY', '(no title)')))} (UID {excerpt(str(c.get('UID', '?')))})"


def _quoted(text: str) -> str:
    """Someone else's text in a warning: quoted, escaped, short."""
    return f"'{excerpt(text, 60)}'"


def _when(c: Any, prop: str, zone: ZoneInfo) -> tuple[datetime, bool] | None:
    """A DTSTART/DTEND as an aware datetime in `zone`, and whether it was a date."""
    value = c.get(prop)
    if value is None:
        return None
    dt = value.dt
    if isinstance(dt, datetime):
        # Floating, or naming a zone nobody defined (reported by _repair).
        aware = localize(dt, zone) if dt.tzinfo is None else dt
        return aware.astimezone(zone), False
    if isinstance(dt, date):
        return day_start(dt, zone), True
    raise ValueError(f"{prop} is not a date or time")


def _zone_of(c: Any) -> str:
    """The IANA zone DTSTART names (a zone icalendar resolved, or its TZID), or ""."""
    value = c.get("DTSTART")
    dt = getattr(value, "dt", None)
    names = [getattr(value, "params", {}).get("TZID", "")]
    if isinstance(dt, datetime) and isinstance(dt.tzinfo, ZoneInfo):
        names.insert(0, dt.tzinfo.key)
    for name in names:
        name = win_tz.get(str(name), str(name))  # Outlook's files name Windows zones
        if name and name not in ("UTC", "GMT") and not name.startswith("Etc/"):
            try:
                ZoneInfo(name)
            except (ValueError, ZoneInfoNotFoundError):
                continue
            return name
    return ""


def _stamp(moment: date) -> str:
    """An original start as it goes into an occurrence id: UTC, a date, or floating."""
    if not isinstance(moment, datetime):
        return moment.strftime("%Y%m%d")
    if moment.tzinfo is None:  # the same id whatever zone the user is in
        return moment.strftime("%Y%m%dT%H%M%S")
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _event(
    c: Any,
    zone: ZoneInfo,
    problems: list[str],
    series: Set[str],
    shifts: Mapping[tuple[str, str], timedelta],
) -> Event | None:
    try:
        begin = _when(c, "DTSTART", zone)
        if begin is None:
            raise ValueError("no DTSTART")
        start, all_day = begin
        # The library has turned DURATION into DTEND already.
        finish = _when(c, "DTEND", zone)
        end = finish[0] if finish else start + (timedelta(days=1) if all_day else timedelta(0))
        if end < start:
            problems.append(f"event {_label(c)}: ends before it starts; read as zero length")
            end = start
    except Exception as exc:
        problems.append(
            f"event {_label(c)}: cannot read its time ({excerpt(str(exc))}); not placed"
        )
        return None
    uid = str(c.get("UID", "")) or f"nouid-{start.isoformat()}"
    rid = c.get("RECURRENCE-ID")
    occurrence = ""
    if rid is not None and uid in series:
        moment = rid.dt
        if _this_and_future(rid):
            # Every occurrence after such an override carries the override's
            # RECURRENCE-ID; undoing the shift gives each its own original start.
            moment = c["DTSTART"].dt - shifts.get((uid, _stamp(moment)), timedelta(0))
        occurrence = _stamp(moment)
    return Event(
        zone=_zone_of(c),
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
        problem=str(c.get(MARK, "")),
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


def owned(cal: icalendar.Calendar, problems: list[str] | None = None) -> dict[int, Block]:
    """firstblock's own blocks, by the identity of their VEVENT.

    A VEVENT is ours only when it carries the tag, the UID derived from it and the
    fingerprint of what was written, is not a series, and is the only VEVENT with its
    UID. Anything else that shares a block's UID (a copy, an app's edit that dropped
    the X- properties, an event someone gave that id) is the user's: left alone,
    counted busy, and reported in `problems`.
    """
    events = [c for c in cal.subcomponents if c.name == "VEVENT"]
    uses: dict[str, int] = {}
    for c in events:
        uid = str(c.get("UID", ""))
        uses[uid] = uses.get(uid, 0) + 1
    ours: dict[int, Block] = {}
    claimed: set[str] = set()
    for c in events:
        uid = str(c.get("UID", ""))
        block = _block(c)
        if block is not None and uses[uid] == 1:
            ours[id(c)] = block
        elif block is not None or TAG in c or _BLOCK_UID.fullmatch(uid):
            claimed.add(uid)
    if problems is not None:
        for c in events:
            uid = str(c.get("UID", ""))
            if uid in claimed:
                problems.append(
                    f"event {_label(c)} carries the id of a firstblock block but is not "
                    "firstblock's (copied, or edited by an app that dropped its tags); "
                    "it is yours: left alone and counted busy"
                )
    return ours


def taken(cal: icalendar.Calendar) -> set[str]:
    """Every UID of a VEVENT in the calendar."""
    return {str(c.get("UID", "")) for c in cal.subcomponents if c.name == "VEVENT"}


_BLOCK_UID = re.compile(r"fb[0-9a-v]{32}")


def _distinct(components: list[Any], problems: list[str]) -> list[Any]:
    """Give each event that shares its UID with another (two masters, or two copies of
    one override) a UID of its own, so that every one of them is read and counted busy
    instead of one silently replacing the other."""
    seen: dict[tuple[str, str], int] = {}
    out: list[Any] = []
    for c in components:
        if c.name != "VEVENT":
            out.append(c)
            continue
        uid = str(c.get("UID", ""))
        rid = c.get("RECURRENCE-ID")
        slot = (uid, "" if rid is None else str(c["RECURRENCE-ID"].to_ical()))
        n = seen[slot] = seen.get(slot, 0) + 1
        if not uid or n == 1:
            out.append(c)
            continue
        copy = c.copy()
        copy.pop("RECURRENCE-ID", None)  # a second copy of an override stands alone
        copy["UID"] = f"{uid}#{n}"
        out.append(copy)
        problems.append(
            f"event {_label(c)} shares its UID with another event; both are counted busy"
        )
    return out


def _block(c: Any) -> Block | None:
    """A VEVENT that looks like one of ours: the tag, the UID derived from it, the
    fingerprint, and no recurrence. `owned` decides whether it is."""
    key = c.get(TAG)
    if key is None or str(c.get("UID", "")) != block_id(str(key)):
        return None
    if "X-FIRSTBLOCK-WRITTEN" not in c or any(
        p in c for p in ("RRULE", "RDATE", "EXDATE", "RECURRENCE-ID")
    ):
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
            free=str(c.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT",
        )
    except (KeyError, ValueError, TypeError):
        return None  # damaged beyond recognition: leave it to the user as an ordinary event


def etag(c: Any) -> str:
    return hashlib.sha256(c.to_ical()).hexdigest()[:16]


def render(block: Block, stamp: datetime) -> bytes:
    """A block as VEVENT text: busy (a hold: tentative; a ramping block: free until it
    turns busy), no attendees, no alarms."""
    ev = icalendar.Event()
    ev.add("UID", block.id)
    ev.add("DTSTAMP", stamp.astimezone(UTC))
    ev.add("DTSTART", block.start.astimezone(UTC))
    ev.add("DTEND", block.end.astimezone(UTC))
    ev.add("SUMMARY", block.title)
    if block.description:
        ev.add("DESCRIPTION", block.description)
    ev.add("TRANSP", "TRANSPARENT" if block.free else "OPAQUE")
    ev.add("STATUS", "TENTATIVE" if block.tentative else "CONFIRMED")
    ev.add("CATEGORIES", ["firstblock", block.kind.value])
    shown = "FREE" if block.free else "TENTATIVE" if block.tentative else "BUSY"
    ev.add("X-MICROSOFT-CDO-BUSYSTATUS", shown)
    ev.add(TAG, block.key)
    ev.add("X-FIRSTBLOCK-KIND", block.kind.value)
    ev.add("X-FIRSTBLOCK-DAY", block.day.isoformat())
    if block.meeting_id:
        ev.add("X-FIRSTBLOCK-MEETING", block.meeting_id)
    ev.add("X-FIRSTBLOCK-WRITTEN", block.fingerprint)
    return bytes(ev.to_ical())
