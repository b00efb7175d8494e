"""Wall-clock arithmetic in a zone, correct on DST days."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def at(day: date, clock_time: time, zone: ZoneInfo) -> datetime:
    """The moment `clock_time` happens on `day` in `zone`.

    A wall-clock time skipped by a spring-forward change resolves to the instant just
    after the gap (02:30 becomes 03:30); a repeated one takes its first occurrence.
    """
    aware = datetime.combine(day, clock_time, tzinfo=zone)
    # A round trip through UTC exposes a non-existent wall time.
    normal = aware.astimezone(UTC).astimezone(zone)
    if (normal.date(), normal.time()) != (day, clock_time):
        return normal
    return aware


def localize(naive: datetime, zone: ZoneInfo) -> datetime:
    """Read a floating (zone-less) wall-clock time as a time in `zone`."""
    return at(naive.date(), naive.time(), zone)


def day_start(day: date, zone: ZoneInfo) -> datetime:
    return at(day, time(0, 0), zone)


def day_span(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    return day_start(day, zone), day_start(day + timedelta(days=1), zone)
