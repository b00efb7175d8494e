"""Bounds on recurrence expansion: any calendar is read in bounded time and memory,
and an ordinary one exactly as before.

recurring-ical-events expands with dateutil, which generates, and caches, every
occurrence from DTSTART on: FREQ=SECONDLY since year 1 never ends and fills memory.
So every series is first judged from its text (`plan`):

- plain (plain.py): a rule calendar apps write, not too far from the window. The
  library expands these as before; their occurrences and work, bounded from the text,
  are capped per file. When every series is plain, nothing changes at all.
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

from providers.local import deadline, plain
from worker.models import Window

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
# Plain rules run unguarded, so their work is capped, as estimated (plain.judge).
PLAIN_SECONDS = 0.05
FILE_PLAIN_SECONDS = 2.0
# Moving a start forward pays only past this many periods (and ordinary series stay
# untouched).
SHIFT_FROM = 1_000

TOO_MANY = "it has too many occurrences to expand"
TOO_LONG = "its recurrence took too long to expand"
CROWDED = f"the calendar has too many recurring occurrences (over {FILE_CAP:,} in the window)"
OUT_OF_TIME = "the calendar's recurrences took too long to expand"

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
LONGEST_PERIOD = {"MONTHLY": 31, "YEARLY": 366}  # days
# Parts a 400-year move keeps as they are (BYEASTER, for one, it does not).
CYCLE_PARTS = plain.PARTS | {"BYSETPOS", "BYHOUR", "BYMINUTE", "BYSECOND", "BYYEARDAY", "BYWEEKNO"}


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
    work = 0.0
    for uid, parts in series.items():
        try:
            judged = plain.judge(parts, window, zone)
        except Exception:  # unreadable in some way: the careful path
            judged = None
        if judged is None or judged[1] > PLAIN_SECONDS or work + judged[1] > FILE_PLAIN_SECONDS:
            out.risky.append(uid)
        elif judged[0] > out.budget.occurrences:
            out.crowded.append(uid)
        else:
            out.plain.append(uid)
            out.budget.occurrences -= judged[0]
            work += judged[1]
    return out


def prepare(
    parts: list[Any], window: Window, zone: ZoneInfo, budget: Budget
) -> tuple[list[Any] | None, str]:
    """The parts to hand to the library (the master moved forward when that is exact),
    or None and why the series is not expanded. Spends from `budget`."""
    if budget.seconds <= 0:
        return None, OUT_OF_TIME
    cap = min(SERIES_CAP, budget.occurrences)
    # The DTSTART occurrence, the overrides and the explicit dates, at most.
    found = len(parts) + sum(plain.count_dates(c, "RDATE") for c in parts)
    seconds = min(SERIES_SECONDS, budget.seconds)
    out = []
    try:
        first, last = _span(parts, window, zone)
        for c in parts:
            if "RECURRENCE-ID" not in c and plain.rules(c):
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
    reach = plain.reach(parts, zone) + timedelta(days=2)
    first, last = window.start - reach, window.end + reach
    for c in parts:
        if "RECURRENCE-ID" in c and (plain.rules(c) or "RDATE" in c or "EXDATE" in c):
            moment = plain.value(c, "RECURRENCE-ID")
            if isinstance(moment, date):
                last = max(last, plain.aware(moment, zone) + reach)
    return first, last


def _occurrences(
    c: Any, first: datetime, last: datetime, zone: ZoneInfo, cap: int, seconds: float
) -> int | str | None:
    """How many times the rules of `c` fire from `first` to `last`; None past `cap`,
    or why it is not known."""
    start = plain.value(c, "DTSTART")
    lo, hi = _naive(first, start, zone), _naive(last, start, zone)
    found = 0
    for rule in plain.rules(c):
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
    rules = plain.rules(c)
    start, end = plain.value(c, "DTSTART"), plain.value(c, "DTEND")
    if len(rules) != 1 or "COUNT" in rules[0] or not isinstance(start, date):
        return c
    if any(plain.rules(p) or "RDATE" in p or "EXDATE" in p for p in parts if p is not c):
        return c
    if end is not None and (
        type(end) is not type(start)
        or getattr(end, "tzinfo", None) is not getattr(start, "tzinfo", None)
    ):
        return c  # a move by wall time would change the length
    rule = rules[0]
    freq, interval = str(rule["FREQ"][0]), plain.interval(rule)
    if freq in UNITS:
        step, period = UNITS[freq] * interval, UNITS[freq] * interval
    elif freq in CYCLE_PERIODS and set(rule) <= CYCLE_PARTS:
        step = CYCLE * (interval // math.gcd(interval, CYCLE_PERIODS[freq]))
        period = timedelta(days=LONGEST_PERIOD[freq] * interval)
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


def _naive(moment: date, like: date | None, zone: ZoneInfo) -> datetime:
    """`moment` on the wall clock the series counts in: its start's zone, or the
    reader's for floating times and dates (as the library reads them)."""
    if not isinstance(moment, datetime):
        return datetime.combine(moment, clock())
    if moment.tzinfo is not None:
        frame = like.tzinfo if isinstance(like, datetime) and like.tzinfo else zone
        moment = moment.astimezone(frame)
    return datetime.combine(moment.date(), moment.time())
