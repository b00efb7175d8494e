"""Plain series: the ones recurring-ical-events can expand unguarded, judged on the text.

A plain rule is one calendar apps write: daily to yearly, with the BY-parts they use,
bound to fire at least every few years (so dateutil never scans far for the next
occurrence), at most once a day (so a window holds few), and starting not too long
before the window (so the steps to it are few). For such a series `judge` bounds both
the occurrences in the window and the work, which bounds.plan sums over the file.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from icalendar.prop import vRecur

from providers.local.zones import weekday
from worker.models import Window
from worker.timeutil import day_start, localize

PARTS = {"FREQ", "INTERVAL", "UNTIL", "COUNT", "WKST", "BYDAY", "BYMONTH", "BYMONTHDAY"}
# Fewest days in a period, and the microseconds dateutil (through the library, cache
# and all) takes to step through one, measured on 3.11.
DAYS = {"DAILY": 1, "WEEKLY": 7, "MONTHLY": 28, "YEARLY": 365}
COST = {"DAILY": 3, "WEEKLY": 4, "MONTHLY": 7, "YEARLY": 25}
LONGEST = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # days a month can have
REACH = timedelta(days=31)  # a longer event, or a farther move, widens the steps too


def judge(parts: list[Any], window: Window, zone: ZoneInfo) -> tuple[int, float] | None:
    """(Most occurrences in the window, seconds of work) for a plain series, else None."""
    occurrences = sum(count_dates(c, "RDATE") for c in parts)
    if not any(rules(c) for c in parts):
        return occurrences, 0.0  # a single event, or explicit dates
    if reach(parts, zone) > REACH:
        return None
    span = (window.end - window.start).days + REACH.days + 2
    work = 0.0
    for c in parts:
        if "RECURRENCE-ID" in c and (rules(c) or "RDATE" in c or "EXDATE" in c):
            return None  # the library checks such an override against the whole rule
        start = value(c, "DTSTART")
        for rule in rules(c):
            gap = _gap(rule, start) if isinstance(start, date) else None
            if gap is None:
                return None
            occurrences += _most(rule, window, span, zone)
            work += _work(rule, start, gap, window, zone)
    return occurrences, work


def _gap(rule: Any, start: date) -> int | None:
    """Most periods between two occurrences of a plain rule, or None if it is not one."""
    if not isinstance(rule, vRecur) or not set(rule) <= PARTS:
        return None
    freq = str(rule["FREQ"][0])
    if freq not in DAYS:
        return None
    step = interval(rule)
    try:
        days = [weekday(str(d)) for d in rule.get("BYDAY", [])]
        months = [int(str(m)) for m in rule.get("BYMONTH", [])]
        monthdays = [int(str(d)) for d in rule.get("BYMONTHDAY", [])]
    except ValueError:
        return None
    if not all(1 <= m <= 12 for m in months) or not all(1 <= abs(d) <= 31 for d in monthdays):
        return None
    if days and monthdays:
        return None  # "Friday the 13th", or never
    nth = [abs(n) for n, _ in days if n]
    if nth and (
        freq in ("DAILY", "WEEKLY") or max(nth) > (52 if freq == "YEARLY" and not months else 4)
    ):
        return None
    if freq in ("MONTHLY", "YEARLY") and not days and not monthdays:
        monthdays = [start.day]  # dateutil's default: the start's day of the month
        if freq == "YEARLY" and not months:
            months = [start.month]
    if freq != "YEARLY" and months and step > 1:
        return None  # an interval can step over the month forever
    year = 366 // DAYS[freq] // step + 1  # periods in a year, at most
    gap = 7 if freq == "DAILY" and days else 1
    if freq != "YEARLY" and months:
        gap = year
    if monthdays:
        pairs = [(m, abs(d)) for m in months or range(1, 13) for d in monthdays]
        if not any(d <= LONGEST[m - 1] for m, d in pairs):
            return None  # never
        every_year = any(d <= LONGEST[m - 1] - (m == 2) for m, d in pairs)  # not only Feb 29
        some_months = freq in ("DAILY", "WEEKLY") or (
            freq == "MONTHLY" and max(map(abs, monthdays)) > 28
        )
        if some_months or not every_year:
            if step > 1:
                return None  # an interval can step over the day forever
            gap = max(gap, year if every_year else 8 * year)
    return gap


def _most(rule: Any, window: Window, span: int, zone: ZoneInfo) -> int:
    """Most occurrences of a plain rule in the window: one a day, none once it ended."""
    until = rule.get("UNTIL", [None])[0]
    if isinstance(until, date) and aware(until, zone) < window.start - REACH:
        return 0
    count = rule.get("COUNT", [None])[0]
    return min(span, count) if isinstance(count, int) else span


def _work(rule: Any, start: date, gap: int, window: Window, zone: ZoneInfo) -> float:
    """Seconds dateutil takes to step from the start to the window's end (or UNTIL, or
    the COUNT-th occurrence), and to the next occurrence after it."""
    freq = str(rule["FREQ"][0])
    end = window.end
    until = rule.get("UNTIL", [None])[0]
    if isinstance(until, date):
        end = min(end, aware(until, zone))
    periods = max((end - aware(start, zone)).days, 0) // (DAYS[freq] * interval(rule)) + gap
    count = rule.get("COUNT", [None])[0]
    if isinstance(count, int):
        periods = min(periods, count * gap + gap)
    return periods * COST[freq] / 1e6


def interval(rule: Any) -> int:
    try:
        return max(int(rule.get("INTERVAL", [1])[0]), 1)
    except (TypeError, ValueError):
        return 1


def rules(c: Any) -> list[Any]:
    found = c.get("RRULE")
    if found is None:
        return []
    return list(found) if isinstance(found, list) else [found]


def value(c: Any, prop: str) -> Any:
    try:
        return c[prop].dt
    except Exception:  # missing or unreadable: reported elsewhere
        return None


def count_dates(c: Any, prop: str) -> int:
    found = c.get(prop)
    lists = found if isinstance(found, list) else [found] if found is not None else []
    return sum(len(getattr(x, "dts", ())) for x in lists)


def reach(parts: list[Any], zone: ZoneInfo) -> timedelta:
    """How far the library widens the window for a series: its longest event and the
    farthest move of an override."""
    found = timedelta(0)
    for c in parts:
        start = value(c, "DTSTART")
        if not isinstance(start, date):
            continue
        for prop in ("DTEND", "RECURRENCE-ID"):
            other = value(c, prop)
            if isinstance(other, date):
                found = max(found, abs(aware(other, zone) - aware(start, zone)))
        duration = value(c, "DURATION")
        if isinstance(duration, timedelta):
            found = max(found, abs(duration))
    return found


def aware(moment: date, zone: ZoneInfo) -> datetime:
    """A date, floating or aware time as an aware one: dates and floating times in `zone`."""
    if not isinstance(moment, datetime):
        return day_start(moment, zone)
    return localize(moment, zone) if moment.tzinfo is None else moment
