"""Bounds on recurrence expansion: any calendar is read in bounded time and memory,
and an ordinary one exactly as before.

recurring-ical-events expands with dateutil, which generates, and caches, every
occurrence from DTSTART on: FREQ=SECONDLY since year 1 never ends and fills memory.
So every series is first judged from its text (`plan`):

- plain: a rule calendar apps write (daily to yearly, bound to fire every year or so,
  one occurrence a day at most) starting not too long before the window. The library
  expands these as before; the work is bounded by the rule itself.
- risky: anything else. `prepare` moves its start forward when that keeps the rule
  exact (`_shifted`), then counts its occurrences with the same rule on naive times,
  without a cache, under a time limit (deadline.py). Only a series within the caps
  goes to the library, whose work the count has bounded; any other is read without
  its rules and reported.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr
from icalendar.prop import vDDDTypes, vRecur
from recurring_ical_events.constants import NEGATIVE_RRULE_COUNT_REGEX

from providers.local import deadline
from providers.local.zones import weekday
from worker.models import Window
from worker.timeutil import day_start, localize

# The busiest real series is hourly: 24 a day over the longest window (60 workdays,
# about 84 days) is 2,016 occurrences.
SERIES_CAP = 3_000
# Every recurring series in one file, together: 20,000 is 260 daily series over the
# longest window, far beyond any person's calendar; at about 4 KB an occurrence it
# keeps a file near 80 MB.
FILE_CAP = 20_000
# Occurrences generated before the window ends, all kept in the library's cache
# (about 60 bytes each): after a move forward, a real rule makes a few hundred.
GENERATED_CAP = 50_000
# CPU seconds. A count that has not finished by then is a rule dateutil cannot step
# through (an impossible one is scanned to year 9999): a real one takes milliseconds.
SERIES_SECONDS = 0.5
FILE_SECONDS = 2.0
# Plain rules run unguarded, so their work is capped: days stepped through from the
# start to the window's end, about a microsecond each.
PLAIN_DAYS = 50_000
FILE_PLAIN_DAYS = 1_000_000
# Moving a start forward pays only past this many periods (and ordinary series stay
# untouched).
SHIFT_FROM = 1_000

TOO_MANY = "it has too many occurrences to expand"
TOO_LONG = "its recurrence took too long to expand"
CROWDED = f"the calendar has too many recurring occurrences (over {FILE_CAP:,} in the window)"
OUT_OF_TIME = "the calendar's recurrences took too long to expand"

PLAIN = {"DAILY": 1, "WEEKLY": 7, "MONTHLY": 31, "YEARLY": 366}  # days in a period, at most
PLAIN_PARTS = {"FREQ", "INTERVAL", "UNTIL", "COUNT", "WKST", "BYDAY", "BYMONTH", "BYMONTHDAY"}
UNITS = {
    "SECONDLY": timedelta(seconds=1),
    "MINUTELY": timedelta(minutes=1),
    "HOURLY": timedelta(hours=1),
    "DAILY": timedelta(days=1),
    "WEEKLY": timedelta(weeks=1),
}
# 400 Gregorian years are exactly 20,871 weeks: weekdays, month lengths and leap days
# all repeat, so a monthly or yearly rule moved by a whole cycle is the same rule.
CYCLE = timedelta(days=146_097)
CYCLE_PERIODS = {"MONTHLY": 4_800, "YEARLY": 400}
LONGEST = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # days a month can have


@dataclass
class Budget:
    """What is left for one file's risky series."""

    seconds: float = FILE_SECONDS
    occurrences: int = FILE_CAP


@dataclass
class Plan:
    plain: list[str] = field(default_factory=list)  # to the library, as before
    risky: list[str] = field(default_factory=list)  # counted first
    crowded: list[str] = field(default_factory=list)  # plain, but over the file's cap
    budget: Budget = field(default_factory=Budget)


def plan(series: dict[str, list[Any]], window: Window, zone: ZoneInfo) -> Plan:
    out = Plan()
    work = 0
    for uid, parts in series.items():
        try:
            judged = _plain(parts, window, zone)
        except Exception:  # unreadable in some way: the careful path
            judged = None
        if judged is None or work + judged[1] > FILE_PLAIN_DAYS:
            out.risky.append(uid)
        elif judged[0] > out.budget.occurrences:
            out.crowded.append(uid)
        else:
            out.plain.append(uid)
            out.budget.occurrences -= judged[0]
            work += judged[1]
    return out


def _plain(parts: list[Any], window: Window, zone: ZoneInfo) -> tuple[int, int] | None:
    """(Most occurrences in the window, days of work) for a plain series, else None."""
    occurrences = sum(_count_dates(c, "RDATE") for c in parts)
    if not any(_rules(c) for c in parts):
        return occurrences, 0  # a single event, or explicit dates
    if _reach(parts, zone) > timedelta(days=31):
        return None  # long events or far moves widen what the library steps through
    span = (window.end - window.start).days + 33
    work = 0
    for c in parts:
        if "RECURRENCE-ID" in c and (_rules(c) or "RDATE" in c or "EXDATE" in c):
            return None  # the library checks such an override against the whole rule
        start = _value(c, "DTSTART")
        for rule in _rules(c):
            if not isinstance(start, date) or not _plain_rule(rule, start):
                return None
            days = max((window.end - _aware(start, zone)).days, 0) // _interval(rule)
            if days > PLAIN_DAYS:
                return None
            occurrences += span
            work += days
    return occurrences, work


def _plain_rule(rule: Any, start: date) -> bool:
    """A rule calendar apps write, that fires at most once a day and at least every
    few years: dateutil then never scans far for its next occurrence."""
    if not isinstance(rule, vRecur) or not set(rule) <= PLAIN_PARTS:
        return False
    freq = str(rule["FREQ"][0])
    if freq not in PLAIN:
        return False
    interval = _interval(rule)
    try:
        days = [weekday(str(d)) for d in rule.get("BYDAY", [])]
        months = [int(str(m)) for m in rule.get("BYMONTH", [])]
        monthdays = [int(str(d)) for d in rule.get("BYMONTHDAY", [])]
    except ValueError:
        return False
    if not all(1 <= m <= 12 for m in months) or not all(1 <= abs(d) <= 31 for d in monthdays):
        return False
    if days and monthdays:
        return False  # "Friday the 13th", or never
    nth = [abs(n) for n, _ in days if n]
    most = 52 if freq == "YEARLY" and not months else 4
    if nth and (freq in ("DAILY", "WEEKLY") or max(nth) > most):
        return False
    if freq in ("MONTHLY", "YEARLY") and not days and not monthdays:
        monthdays = [start.day]  # dateutil's default: the start's day of the month
        if freq == "YEARLY" and not months:
            months = [start.month]
    if freq in ("DAILY", "WEEKLY", "MONTHLY") and months and interval > 1:
        return False  # an interval can step over the month forever
    if monthdays:
        pairs = [(m, abs(d)) for m in months or range(1, 13) for d in monthdays]
        leap_years = any(d <= LONGEST[m - 1] for m, d in pairs)
        every_year = any(d <= LONGEST[m - 1] - (m == 2) for m, d in pairs)
        filtering = freq in ("DAILY", "WEEKLY") or (
            freq == "MONTHLY" and max(map(abs, monthdays)) > 28
        )
        if not leap_years or ((filtering or not every_year) and interval > 1):
            return False
    return True


def _interval(rule: Any) -> int:
    try:
        return max(int(rule.get("INTERVAL", [1])[0]), 1)
    except (TypeError, ValueError):
        return 1


def prepare(
    parts: list[Any], window: Window, zone: ZoneInfo, budget: Budget
) -> tuple[list[Any] | None, str]:
    """The parts to hand to the library (the master moved forward when that is exact),
    or None and why the series is not expanded. Spends from `budget`."""
    if budget.seconds <= 0:
        return None, OUT_OF_TIME
    cap = min(SERIES_CAP, budget.occurrences)
    # The DTSTART occurrence, the overrides and the explicit dates, at most.
    found = len(parts) + sum(_count_dates(c, "RDATE") for c in parts)
    seconds = min(SERIES_SECONDS, budget.seconds)
    out = []
    try:
        first, last = _span(parts, window, zone)
        for c in parts:
            if "RECURRENCE-ID" not in c and _rules(c):
                c = _shifted(c, parts, first, zone)
                began = time.thread_time()
                made = _occurrences(c, first, last, zone, cap - found, seconds)
                spent = time.thread_time() - began
                seconds -= spent
                budget.seconds -= spent
                if isinstance(made, str):
                    return None, made
                if made is None:
                    return None, TOO_MANY if budget.occurrences >= SERIES_CAP else CROWDED
                found += made
            out.append(c)
    except Exception as exc:  # the library would fail on it too
        return None, f"cannot expand its recurrence ({exc})"
    if found > cap:
        return None, TOO_MANY if budget.occurrences >= SERIES_CAP else CROWDED
    budget.occurrences -= found
    return out, ""


def _span(parts: list[Any], window: Window, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """What the library steps through: the window, widened as it widens it, and the
    days of the overrides it checks against the rule."""
    reach = _reach(parts, zone) + timedelta(days=2)
    first, last = window.start - reach, window.end + reach
    for c in parts:
        if "RECURRENCE-ID" in c and (_rules(c) or "RDATE" in c or "EXDATE" in c):
            moment = _value(c, "RECURRENCE-ID")
            if isinstance(moment, date):
                last = max(last, _aware(moment, zone) + reach)
    return first, last


def _occurrences(
    c: Any, first: datetime, last: datetime, zone: ZoneInfo, cap: int, seconds: float
) -> int | str | None:
    """How many times the rules of `c` fire from `first` to `last`; None past `cap`,
    or why it is not known."""
    start = _value(c, "DTSTART")
    lo, hi = _naive(first, start, zone), _naive(last, start, zone)
    found = 0
    for rule in _rules(c):
        stepper = _rule(rule, start, zone)
        began = time.thread_time()
        finished, made = deadline.within(seconds, partial(_count, stepper, lo, hi, cap - found))
        seconds -= time.thread_time() - began
        if not finished:
            return TOO_LONG
        if made is None:
            return None
        found += made
    return found


def _count(rule: rrule, lo: datetime, hi: datetime, cap: int) -> int | None:
    """Occurrences from `lo` to `hi`, or None past a cap. Runs under a deadline: keep it
    to this rule and plain arithmetic."""
    inside = 0
    for made, moment in enumerate(rule, 1):  # no cache: nothing is kept
        if moment > hi:
            break
        if moment >= lo:
            inside += 1
        if inside > cap or made > GENERATED_CAP:
            return None
    return inside


def _rule(rule: Any, start: date, zone: ZoneInfo) -> rrule:
    """The rule on naive times in the series' own wall clock: no time zone code runs
    while it is stepped through. UNTIL a day later, so it never stops short of the
    library's."""
    naive: Any = vRecur(rule)
    if "UNTIL" in naive:
        until = naive["UNTIL"][0]
        if not isinstance(until, datetime):
            until = datetime.combine(until, clock())
        naive["UNTIL"] = [_naive(until, start, zone) + timedelta(days=1)]
    text = NEGATIVE_RRULE_COUNT_REGEX.sub("", naive.to_ical().decode())
    made: rrule = rrulestr(text, dtstart=_naive(start, start, zone), cache=False)
    return made


def _shifted(c: Any, parts: list[Any], first: datetime, zone: ZoneInfo) -> Any:
    """The master with DTSTART (and DTEND) moved forward by whole periods of its rule,
    when there are many before the window and the rule stays exactly the same: no
    COUNT, one rule, a step that keeps its pattern, a start moved by wall time and
    early enough that the first period (which the move can change) ends before the
    window."""
    rules = _rules(c)
    start, end = _value(c, "DTSTART"), _value(c, "DTEND")
    if len(rules) != 1 or "COUNT" in rules[0] or not isinstance(start, date):
        return c
    if any(_rules(p) or "RDATE" in p or "EXDATE" in p for p in parts if p is not c):
        return c
    if end is not None and (
        type(end) is not type(start)
        or getattr(end, "tzinfo", None) is not getattr(start, "tzinfo", None)
    ):
        return c  # a move by wall time would change the length
    rule = rules[0]
    freq, interval = str(rule["FREQ"][0]), _interval(rule)
    if freq in UNITS:
        step, period = UNITS[freq] * interval, UNITS[freq] * interval
    elif freq in CYCLE_PERIODS and set(rule) <= PLAIN_PARTS | {
        "BYSETPOS",
        "BYHOUR",
        "BYMINUTE",
        "BYSECOND",
        "BYYEARDAY",
        "BYWEEKNO",
    }:
        step = CYCLE * (interval // math.gcd(interval, CYCLE_PERIODS[freq]))
        period = timedelta(days=PLAIN[freq] * interval)
    else:
        return c
    if not isinstance(start, datetime) and step % timedelta(days=1):
        return c
    length = (
        abs(_naive(end, start, zone) - _naive(start, start, zone))
        if isinstance(end, date)
        else timedelta(0)
    )
    gap = (
        _naive(first, start, zone)
        - _naive(start, start, zone)
        - period
        - length
        - timedelta(days=2)
    )
    moves = gap // step
    if moves * (step / period) < SHIFT_FROM:
        return c
    moved = c.copy()
    for prop, value in (("DTSTART", start), ("DTEND", end)):
        if isinstance(value, date):
            replaced = vDDDTypes(value + step * moves)
            replaced.params = c[prop].params.copy()
            moved[prop] = replaced
    return moved


def _rules(c: Any) -> list[Any]:
    found = c.get("RRULE")
    if found is None:
        return []
    return list(found) if isinstance(found, list) else [found]


def _value(c: Any, prop: str) -> Any:
    try:
        return c[prop].dt
    except Exception:  # missing or unreadable: reported elsewhere
        return None


def _count_dates(c: Any, prop: str) -> int:
    found = c.get(prop)
    lists = found if isinstance(found, list) else [found] if found is not None else []
    return sum(len(getattr(x, "dts", ())) for x in lists)


def _reach(parts: list[Any], zone: ZoneInfo) -> timedelta:
    """How far the library widens the window for this series: the longest event and
    the farthest move of an override."""
    reach = timedelta(0)
    for c in parts:
        start = _value(c, "DTSTART")
        if not isinstance(start, date):
            continue
        for prop in ("DTEND", "RECURRENCE-ID"):
            other = _value(c, prop)
            if isinstance(other, date):
                reach = max(reach, abs(_aware(other, zone) - _aware(start, zone)))
        duration = _value(c, "DURATION")
        if isinstance(duration, timedelta):
            reach = max(reach, abs(duration))
    return reach


def _aware(value: date, zone: ZoneInfo) -> datetime:
    if not isinstance(value, datetime):
        return day_start(value, zone)
    return localize(value, zone) if value.tzinfo is None else value


def _naive(moment: date, like: date | None, zone: ZoneInfo) -> datetime:
    """`moment` on the wall clock the series counts in: its start's zone, or the
    reader's for floating times and dates (as the library reads them)."""
    if not isinstance(moment, datetime):
        return datetime.combine(moment, clock())
    if moment.tzinfo is not None:
        frame = like.tzinfo if isinstance(like, datetime) and like.tzinfo else zone
        moment = moment.astimezone(frame)
    return datetime.combine(moment.date(), moment.time())
