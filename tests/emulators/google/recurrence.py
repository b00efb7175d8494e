"""Expand a recurring event's RRULE/EXRULE/RDATE/EXDATE lines into instances, as Google does.

Timed series expand in `start.timeZone` (wall-clock time stays put across DST changes); all-day
series expand as floating dates. Instance ids are "<seriesId>_<UTC original start>" for timed
series ("abc_20240311T130000Z") and "<seriesId>_<date>" for all-day ones.
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulebase, rruleset, rrulestr

from .timeutil import edge, zone

INSTANCE_ID = re.compile(r"^(?P<series>.+)_(?P<stamp>\d{8}(?:T\d{6}Z)?)$")
MAX_INSTANCES = 730  # Google caps a series at 730 occurrences
MAX_SCAN = 20000  # guards against rules whose instances all fall before the window


def is_all_day(ev: dict[str, Any]) -> bool:
    return bool((ev.get("start") or {}).get("date"))


def stamp(original: datetime, all_day: bool) -> str:
    if all_day:
        return original.strftime("%Y%m%d")
    return original.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def original_stamp(ev: dict[str, Any], default_tz: str) -> str | None:
    """The stamp of an exception's `originalStartTime` (None if it has none)."""
    ost = ev.get("originalStartTime")
    if not ost:
        return None
    if ost.get("date"):
        return date.fromisoformat(ost["date"]).strftime("%Y%m%d")
    return stamp(edge({"start": ost}, "start", default_tz), False)


def _fix_until(rule: str, all_day: bool, tz: ZoneInfo) -> str:
    # dateutil insists on UNTIL in UTC for an aware DTSTART and naive for a naive one.
    def repl(m: re.Match[str]) -> str:
        value = m.group(1)
        if all_day:
            return f"UNTIL={value[:8]}T000000"
        if value.endswith("Z"):
            return m.group(0)
        if len(value) == 8:
            local = datetime.combine(date.fromisoformat(value), time(23, 59, 59), tzinfo=tz)
        else:
            local = datetime.strptime(value, "%Y%m%dT%H%M%S").replace(tzinfo=tz)
        return "UNTIL=" + local.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")

    return re.sub(r"UNTIL=([0-9TZ]+)", repl, rule)


def _date_value(
    value: str, params: list[str], all_day: bool, tz: ZoneInfo, start: datetime
) -> datetime:
    if all_day:
        return datetime.combine(date.fromisoformat(value[:8]), time(0))
    if "VALUE=DATE" in params or len(value) == 8:
        return datetime.combine(date.fromisoformat(value[:8]), start.timetz())
    if value.endswith("Z"):
        return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).astimezone(tz)
    tzid = next((p[5:] for p in params if p.upper().startswith("TZID=")), None)
    local_zone = zone(tzid) if tzid else tz
    return datetime.strptime(value, "%Y%m%dT%H%M%S").replace(tzinfo=local_zone).astimezone(tz)


def _series_zone(master: dict[str, Any], default_tz: str) -> ZoneInfo:
    return zone(master["start"].get("timeZone") or default_tz)


def build(master: dict[str, Any], default_tz: str) -> rruleset:
    """The occurrence set; raises ValueError for lines Google would reject."""
    all_day = is_all_day(master)
    tz = _series_zone(master, default_tz)
    if all_day:
        first = datetime.combine(date.fromisoformat(master["start"]["date"]), time(0))
    else:
        first = edge(master, "start", default_tz).astimezone(tz)
    rset = rruleset()
    rset.rdate(first)  # RFC 5545: DTSTART is always the first occurrence
    for line in master.get("recurrence") or []:
        head, _, value = line.partition(":")
        key, *params = head.split(";")
        key = key.strip().upper()
        if key in ("RRULE", "EXRULE"):
            rule = rrulestr(_fix_until(value, all_day, tz), dtstart=first)
            if not isinstance(rule, rrulebase):
                raise ValueError(line)
            (rset.rrule if key == "RRULE" else rset.exrule)(rule)
        elif key in ("RDATE", "EXDATE"):
            for item in value.split(","):
                moment = _date_value(item.strip(), params, all_day, tz, first)
                (rset.rdate if key == "RDATE" else rset.exdate)(moment)
        else:
            raise ValueError(f"unsupported recurrence line {line!r}")
    return rset


def _instance(
    master: dict[str, Any], occ: datetime, all_day: bool, tz: ZoneInfo, length: timedelta
) -> dict[str, Any]:
    inst = copy.deepcopy(master)
    inst.pop("recurrence", None)
    inst["id"] = f"{master['id']}_{stamp(occ, all_day)}"
    inst["recurringEventId"] = master["id"]
    if all_day:
        day = occ.date()
        inst["start"] = {"date": day.isoformat()}
        inst["end"] = {"date": (day + length).isoformat()}
        inst["originalStartTime"] = {"date": day.isoformat()}
        return inst
    begin = occ.astimezone(tz)
    finish = (begin.astimezone(UTC) + length).astimezone(tz)
    inst["start"] = {"dateTime": begin.isoformat(timespec="seconds"), "timeZone": tz.key}
    inst["end"] = {"dateTime": finish.isoformat(timespec="seconds"), "timeZone": tz.key}
    inst["originalStartTime"] = dict(inst["start"])
    return inst


def expand(
    master: dict[str, Any],
    default_tz: str,
    lo: datetime | None = None,
    hi: datetime | None = None,
    limit: int = MAX_INSTANCES,
) -> list[tuple[datetime, dict[str, Any]]]:
    """Instances overlapping (lo, hi): end > lo and start < hi, each with its aware start."""
    all_day = is_all_day(master)
    tz = _series_zone(master, default_tz)
    local = zone(default_tz)
    if all_day:
        length = date.fromisoformat(master["end"]["date"]) - date.fromisoformat(
            master["start"]["date"]
        )
    else:
        length = edge(master, "end", default_tz) - edge(master, "start", default_tz)
    found: list[tuple[datetime, dict[str, Any]]] = []
    for scanned, occ in enumerate(build(master, default_tz)):
        begin = datetime.combine(occ.date(), time(0), tzinfo=local) if all_day else occ
        if scanned >= MAX_SCAN or len(found) >= limit or (hi is not None and begin >= hi):
            break
        if lo is not None and begin + length <= lo:
            continue
        found.append((begin, _instance(master, occ, all_day, tz, length)))
    return found


def find(master: dict[str, Any], instance_stamp: str, default_tz: str) -> dict[str, Any] | None:
    """The generated instance with this stamp, if the series has one."""
    if len(instance_stamp) == 8:
        day = date.fromisoformat(instance_stamp)
        target = datetime.combine(day, time(0), tzinfo=zone(default_tz))
    else:
        target = datetime.strptime(instance_stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    window = expand(master, default_tz, target - timedelta(days=1), target + timedelta(days=1))
    return next((inst for _, inst in window if inst["id"].endswith("_" + instance_stamp)), None)
