"""Time zones by name, also for zones that have no IANA name.

The worker passes zones around by name (`Window.zone`, `Outcome.timezone`, a provider's
memo): an IANA name ("Europe/Paris"), or, for a zone of the user's own making that no
IANA name covers (an Outlook mailbox's custom time zone, e.g. UTC+03:20 with daylight
time of its own), that zone's POSIX TZ rule in its quoted form, made by `rule`
("<+0320>-03:20"). `zone` turns either into a `ZoneInfo`, so the rest of the code
knows one kind of zone.

A rule becomes a ZoneInfo through a TZif file (RFC 8536) built in memory: no
transitions, and the rule as its footer. zoneinfo then takes every offset from the rule,
on both sides of each yearly change, as it does for the years past the end of the tz
database's tables; nothing here does calendar arithmetic of its own.
"""

from __future__ import annotations

import functools
import io
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["Transition", "is_rule", "rule", "same", "zone"]


@dataclass(frozen=True)
class Transition:
    """A yearly change of offset: the `week`th `weekday` of `month` (week 5: the last
    one), at `clock`, local time as it is just before the change; weekday 0 is Sunday."""

    month: int
    week: int
    weekday: int
    clock: time


def rule(
    std_minutes: int,
    dst_minutes: int | None = None,
    start: Transition | None = None,
    end: Transition | None = None,
) -> str:
    """The rule of a zone `std_minutes` east of UTC, in daylight time (`dst_minutes` east
    of UTC) from `start` to `end` each year; `start` may come later in the year than `end`
    (the southern hemisphere). Raises ValueError for offsets or dates out of range."""
    text = _abbr(std_minutes) + _offset(std_minutes)
    if dst_minutes is None or dst_minutes == std_minutes:
        return text
    if start is None or end is None:
        raise ValueError("daylight time needs a start and an end")
    if start == end:
        return text
    text += _abbr(dst_minutes) + _offset(dst_minutes)
    return f"{text},{_date(start)},{_date(end)}"


def is_rule(name: str) -> bool:
    """Whether `name` is a rule made by `rule` rather than an IANA name."""
    return name.startswith("<")


def zone(name: str) -> ZoneInfo:
    """The zone of an IANA name or of a rule. Raises ZoneInfoNotFoundError or ValueError."""
    if is_rule(name):
        return _rule_zone(name)
    return ZoneInfo(name)


@functools.lru_cache(maxsize=64)
def same(a: str, b: str) -> bool:
    """Whether two names mean one zone: the same name, or two (an alias such as "UTC" and
    "Etc/UTC", a rule and a tz database name) that tell the same offset at every hour of
    2020-2045. Unknown names are the same only as themselves."""
    if a == b:
        return True
    try:
        first, second = zone(a), zone(b)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    moment, end = datetime(2020, 1, 1, tzinfo=UTC), datetime(2046, 1, 1, tzinfo=UTC)
    while moment < end:
        if moment.astimezone(first).utcoffset() != moment.astimezone(second).utcoffset():
            return False
        moment += timedelta(hours=1)
    return True


@functools.lru_cache(maxsize=64)
def _rule_zone(text: str) -> ZoneInfo:
    # One instance per rule, as ZoneInfo(name) keeps one per name: datetimes that share
    # a tzinfo object compare by wall clock, so the same rule must be the same object.
    return ZoneInfo.from_file(io.BytesIO(_tzif(text)), key=text)


def _tzif(text: str) -> bytes:
    """A version 2 TZif file with one local time type, no transitions, `text` as footer."""
    chars = b"LMT\0"  # the type's designation: never shown, the footer's rule governs
    counts = struct.pack(">6l", 0, 0, 0, 0, 1, len(chars))  # isut, isstd, leap, time, type, char
    header = b"TZif2" + b"\0" * 15 + counts
    data = struct.pack(">lBB", 0, 0, 0) + chars
    return header + data + header + data + b"\n" + text.encode("ascii") + b"\n"


def _offset(minutes_east: int) -> str:
    """POSIX writes offsets west of UTC as positive: UTC+03:20 is "-03:20"."""
    if not -24 * 60 < minutes_east < 24 * 60:
        raise ValueError(f"offset of {minutes_east} minutes is out of range")
    sign = "-" if minutes_east > 0 else "+"
    hours, minutes = divmod(abs(minutes_east), 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def _abbr(minutes_east: int) -> str:
    sign = "+" if minutes_east >= 0 else "-"
    hours, minutes = divmod(abs(minutes_east), 60)
    return f"<{sign}{hours:02d}{minutes:02d}>" if minutes else f"<{sign}{hours:02d}>"


def _date(t: Transition) -> str:
    if not (1 <= t.month <= 12 and 1 <= t.week <= 5 and 0 <= t.weekday <= 6):
        raise ValueError(f"no such yearly date: month {t.month}, week {t.week}, day {t.weekday}")
    return f"M{t.month}.{t.week}.{t.weekday}/{t.clock:%H:%M:%S}"
