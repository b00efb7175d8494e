"""Expand an event's patternedRecurrence into occurrences, as Outlook does.

Occurrences keep their wall-clock time in the series zone (range.recurrenceTimeZone, else the
event's start.timeZone), so they are DST-correct. The series starts at range.startDate at the
time of day of the event's start; occurrences are the dates the pattern yields from there
(a weekly Tuesday pattern starting on a Monday begins on Tuesday). Each occurrence is keyed by
its original local date, "YYYYMMDD": Outlook patterns yield at most one occurrence a day.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dateutil import rrule

from .wire import GraphError
from .zones import from_dtz, zone

DAYS = {
    "monday": rrule.MO,
    "tuesday": rrule.TU,
    "wednesday": rrule.WE,
    "thursday": rrule.TH,
    "friday": rrule.FR,
    "saturday": rrule.SA,
    "sunday": rrule.SU,
}
INDEX = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}


def invalid(message: str) -> GraphError:
    return GraphError(400, "ErrorPropertyValidationFailure", message)


@dataclass
class Occurrence:
    key: str  # original local date, YYYYMMDD
    original_start: datetime  # aware
    start: datetime
    end: datetime


def series_zone(master: dict[str, Any]) -> tuple[str, ZoneInfo]:
    rng = (master.get("recurrence") or {}).get("range") or {}
    name = rng.get("recurrenceTimeZone") or master["start"].get("timeZone") or "UTC"
    return name, zone(name)


def _days(pattern: dict[str, Any]) -> list[rrule.weekday]:
    days = pattern.get("daysOfWeek") or []
    if not days:
        raise invalid(f"daysOfWeek is required for a {pattern.get('type')} recurrence pattern.")
    return [DAYS[d] for d in days]


def build_rule(master: dict[str, Any]) -> rrule.rrule:
    """The series as a dateutil rule over naive wall-clock times in the series zone."""
    recurrence = master.get("recurrence") or {}
    pattern, rng = recurrence.get("pattern") or {}, recurrence.get("range") or {}
    _, tz = series_zone(master)
    first = from_dtz(master["start"]).astimezone(tz)
    start_day = date.fromisoformat(rng["startDate"]) if rng.get("startDate") else first.date()
    dtstart = datetime.combine(start_day, first.time().replace(tzinfo=None))
    kind = pattern.get("type")
    interval = pattern.get("interval") or 1
    args: dict[str, Any] = {"dtstart": dtstart, "interval": interval}
    if kind == "daily":
        freq = rrule.DAILY
    elif kind == "weekly":
        freq = rrule.WEEKLY
        args["byweekday"] = _days(pattern)
        args["wkst"] = DAYS[pattern.get("firstDayOfWeek") or "sunday"]
    elif kind in ("absoluteMonthly", "absoluteYearly"):
        freq = rrule.MONTHLY if kind == "absoluteMonthly" else rrule.YEARLY
        if not pattern.get("dayOfMonth"):
            raise invalid(f"dayOfMonth is required for an {kind} recurrence pattern.")
        args["bymonthday"] = pattern["dayOfMonth"]
        if kind == "absoluteYearly":
            if not pattern.get("month"):
                raise invalid("month is required for an absoluteYearly recurrence pattern.")
            args["bymonth"] = pattern["month"]
    elif kind in ("relativeMonthly", "relativeYearly"):
        freq = rrule.MONTHLY if kind == "relativeMonthly" else rrule.YEARLY
        args["byweekday"] = _days(pattern)
        args["bysetpos"] = INDEX[pattern.get("index") or "first"]
        if kind == "relativeYearly":
            args["bymonth"] = pattern.get("month") or dtstart.month
    else:
        raise invalid(f"Unsupported recurrence pattern type '{kind}'.")
    range_type = rng.get("type")
    if range_type == "endDate":
        if not rng.get("endDate"):
            raise invalid("endDate is required for an endDate recurrence range.")
        args["until"] = datetime.combine(date.fromisoformat(rng["endDate"]), time(23, 59, 59))
    elif range_type == "numbered":
        if not rng.get("numberOfOccurrences"):
            raise invalid("numberOfOccurrences is required for a numbered recurrence range.")
        args["count"] = rng["numberOfOccurrences"]
    elif range_type != "noEnd":
        raise invalid(f"Unsupported recurrence range type '{range_type}'.")
    return rrule.rrule(freq, **args)


def check(master: dict[str, Any]) -> None:
    """Raise GraphError 400 if the event's recurrence cannot be expanded."""
    if master.get("recurrence"):
        build_rule(master)


def _length(master: dict[str, Any]) -> timedelta:
    return from_dtz(master["end"]) - from_dtz(master["start"])


def occurrences(
    master: dict[str, Any], lo: datetime | None = None, hi: datetime | None = None
) -> Iterator[Occurrence]:
    """Generated occurrences (before exceptions) whose span overlaps [lo, hi)."""
    rule = build_rule(master)
    _, tz = series_zone(master)
    length = _length(master)
    if lo is None or hi is None:
        walls: Iterator[datetime] = iter(rule)
    else:
        # Wall times can be off by a zone's offset: widen the naive window by a day.
        begin = (lo - length).astimezone(tz).replace(tzinfo=None) - timedelta(days=1)
        end = hi.astimezone(tz).replace(tzinfo=None) + timedelta(days=1)
        walls = iter(rule.between(begin, end, inc=True))
    for wall in walls:
        start = wall.replace(tzinfo=tz)
        finish = start + length
        if lo is not None and hi is not None and not overlaps(start, finish, lo, hi):
            continue
        yield Occurrence(wall.strftime("%Y%m%d"), start, start, finish)


def overlaps(start: datetime, end: datetime, lo: datetime, hi: datetime) -> bool:
    """Graph's calendarView rule; a zero-length item counts when it starts inside."""
    if end <= start:
        return lo <= start < hi
    return start < hi and end > lo


def original_key(master: dict[str, Any], original_start: datetime) -> str:
    """The occurrence key of an aware original start (its local date in the series zone)."""
    _, tz = series_zone(master)
    return original_start.astimezone(tz).strftime("%Y%m%d")


def occurrence_at(master: dict[str, Any], key: str) -> Occurrence | None:
    """The generated occurrence on local date `key`, if the series has one."""
    _, tz = series_zone(master)
    day = datetime.combine(date(int(key[:4]), int(key[4:6]), int(key[6:])), time(0), tzinfo=tz)
    found = occurrences(master, day - timedelta(days=2), day + timedelta(days=2))
    return next((occ for occ in found if occ.key == key), None)
