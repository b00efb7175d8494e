"""The VTIMEZONEs firstblock can afford, chosen on the text before it is parsed.

icalendar turns every VTIMEZONE whose TZID is not an IANA name into a dateutil zone
while it parses, and keeps it for the whole process (for every account: the first
definition of a TZID wins). dateutil steps through a zone's rules from their DTSTART
on a time's first use: RRULE:FREQ=SECONDLY from 1601 hangs the first utcoffset() of
any time in that zone. So zones are judged here, before icalendar sees them:

- kept: rules as real zones write them (yearly, in one month, firing at least once in
  28 years), few explicit dates, and few enough years of rules in the file. An
  open-ended rule is cut at 2200, which no planning window reaches, so that a time far
  in the future costs no more than one today.
- dropped: anything else. The TZID is then unknown, and the events in it are read in
  the reader's zone, as for any unknown zone (ics._repair); the zone is reported once.
"""

from __future__ import annotations

import calendar
import functools
import re
import zoneinfo
from datetime import UTC, datetime
from typing import Any

from icalendar.prop import vRecur

CUT = datetime(2200, 1, 1, tzinfo=UTC)
ZONES = 50  # custom zones kept in one file (a real one uses a handful)
ZONE_DATES = 100  # RDATE and EXDATE values in one zone
# Years the kept rules step through, each about 25 µs on first use: an Outlook zone
# (two rules from 1601, cut at 2200) is 1,200.
ZONE_YEARS = 5_000
FILE_YEARS = 50_000
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
PARTS = {"FREQ", "INTERVAL", "UNTIL", "COUNT", "WKST", "BYMONTH", "BYDAY", "BYMONTHDAY"}

NOT_YEARLY = "its rules are not the yearly changes of a real time zone"
NEVER = "its rules never fire"
DATES = "it lists too many dates"
TOO_FAR = "its rules reach too far back"
TOO_MANY = "the calendar defines too many time zones"

_UNFOLD = re.compile(r"\r?\n[ \t]")
_WEEKDAY = re.compile(r"^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")


def affordable(text: str) -> tuple[str, list[str]]:
    """The text without the VTIMEZONEs too costly to use, and a problem for each one."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    problems: list[str] = []
    years = kept = 0
    i = 0
    while i < len(lines):
        if not _is(lines[i], "BEGIN:VTIMEZONE"):
            out.append(lines[i])
            i += 1
            continue
        end = _block_end(lines, i)
        if end is None:  # never closed: icalendar will refuse the file
            out += lines[i:]
            break
        block = "".join(lines[i : end + 1])
        i = end + 1
        tzid, why, cost, fixed = _judge(block)
        if tzid is None or _known(tzid):
            out.append(block)  # icalendar reads it from tzdata, or not at all
            continue
        if not why and (kept >= ZONES or years + cost > FILE_YEARS):
            why = TOO_MANY
        if why:
            problems.append(f"time zone {tzid!r} is not used: {why}")
            continue
        kept += 1
        years += cost
        out.append(fixed)
    return "".join(out), problems


def _is(line: str, text: str) -> bool:
    return line.strip().upper() == text


def _block_end(lines: list[str], begin: int) -> int | None:
    depth = 0
    for j in range(begin, len(lines)):
        if _is(lines[j], "BEGIN:VTIMEZONE"):
            depth += 1
        elif _is(lines[j], "END:VTIMEZONE"):
            depth -= 1
            if depth == 0:
                return j
    return None


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _known(tzid: str) -> bool:
    """As icalendar decides whether to build a zone from the VTIMEZONE."""
    return tzid in _zone_names() or tzid.strip("/") in _zone_names()


def _judge(block: str) -> tuple[str | None, str, int, str]:
    """(TZID, why it is dropped or "", years of rules, the block with its rules cut)."""
    lines = _UNFOLD.sub("", block).splitlines()
    parsed = [_split(line) for line in lines]
    tzid = next((value for name, value in parsed if name == "TZID"), None)
    why = ""
    years = dates = 0
    for name, value in parsed:
        if name in ("RDATE", "EXDATE"):
            dates += value.count(",") + 1
        elif name == "EXRULE":
            why = why or NOT_YEARLY
    for first, last in _parts(parsed):
        start = next((v for name, v in parsed[first:last] if name == "DTSTART"), "")
        for n in range(first, last):
            if parsed[n][0] != "RRULE":
                continue
            rule = _rule(parsed[n][1])
            if rule is None:
                why = why or NOT_YEARLY
                continue
            if not _fires(rule, start):
                why = why or NEVER
            years += _years(rule, _year(start))
            if "COUNT" not in rule and ("UNTIL" not in rule or _after_cut(rule)):
                rule["UNTIL"] = [CUT]
                lines[n] = "RRULE:" + rule.to_ical().decode()
    if dates > ZONE_DATES:
        why = why or DATES
    if years > ZONE_YEARS:
        why = why or TOO_FAR
    return tzid, why, years, "\r\n".join(lines) + "\r\n"


def _parts(parsed: list[tuple[str, str]]) -> list[tuple[int, int]]:
    """Line ranges of the STANDARD and DAYLIGHT parts (or any other) of a zone."""
    found: list[tuple[int, int]] = []
    begin = None
    for n, (name, value) in enumerate(parsed):
        if name == "BEGIN" and value.upper() != "VTIMEZONE":
            begin = n
        elif name == "END" and value.upper() != "VTIMEZONE" and begin is not None:
            found.append((begin, n))
            begin = None
    return found


def _split(line: str) -> tuple[str, str]:
    """NAME and value of a content line; a colon inside a quoted parameter is not the end."""
    quoted = False
    for i, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            return line[:i].split(";")[0].strip().upper(), line[i + 1 :].strip()
    return line.strip().upper(), ""


def _rule(value: str) -> Any:
    """A yearly rule in the shape real zones use, or None."""
    try:
        rule: Any = vRecur.from_ical(value)
        months = [int(str(m)) for m in rule.get("BYMONTH", [])]
        interval = int(rule.get("INTERVAL", [1])[0])
        for day in rule.get("BYDAY", []):
            weekday(str(day))
    except (ValueError, TypeError):
        return None
    if str(rule.get("FREQ", [""])[0]) != "YEARLY" or not set(rule) <= PARTS:
        return None
    if (
        interval != 1
        or len(months) > 1
        or (not months and ("BYDAY" in rule or "BYMONTHDAY" in rule))
    ):
        return None  # more than one month's days a year
    return rule


def _year(start: str) -> int:
    try:
        return int(start[:4])
    except ValueError:
        return 1


def _after_cut(rule: Any) -> bool:
    until = rule["UNTIL"][0]
    return bool(until.year >= CUT.year)


def _years(rule: Any, first: int) -> int:
    """Years dateutil steps through for this rule: to its end, the cut, or, with COUNT,
    at most 28 years a change (a rule that fires at all does within 28 years)."""
    if "COUNT" in rule:
        return max(min(28 * int(rule["COUNT"][0]), 9999 - first), 0)
    last = rule["UNTIL"][0].year if "UNTIL" in rule and not _after_cut(rule) else CUT.year
    return max(last - first, 0)


def _fires(rule: Any, start: str) -> bool:
    """Whether the rule fires in any year of a 28-year cycle (all 14 kinds of year)."""
    month = int(start[4:6]) if start[4:6].isdigit() else 1
    day = int(start[6:8]) if start[6:8].isdigit() else 1
    months = [int(str(m)) for m in rule.get("BYMONTH", [])] or [month]
    days = [weekday(str(d)) for d in rule.get("BYDAY", [])]
    monthdays = [int(str(d)) for d in rule.get("BYMONTHDAY", [])] or ([] if days else [day])
    for year in range(2001, 2029):
        for m in months:
            length = calendar.monthrange(year, m)[1]
            for d in range(1, length + 1):
                if monthdays and d not in monthdays and d - length - 1 not in monthdays:
                    continue
                if days and not any(_nth(n, wd, year, m, d, length) for n, wd in days):
                    continue
                return True
    return False


def _nth(n: int, wd: str, year: int, month: int, day: int, length: int) -> bool:
    if calendar.weekday(year, month, day) != WEEKDAYS.index(wd):
        return False
    if n > 0:
        return (day - 1) // 7 + 1 == n
    if n < 0:
        return (length - day) // 7 + 1 == -n
    return True


def weekday(text: str) -> tuple[int, str]:
    """A BYDAY value as (ordinal or 0, weekday), or ValueError."""
    found = _WEEKDAY.match(text.upper())
    if found is None or (found.group(1) and not 1 <= abs(int(found.group(1))) <= 53):
        raise ValueError(text)
    return int(found.group(1) or 0), found.group(2)
