"""Time helpers: RFC 3339 in and out, and the instant an event starts or ends."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .wire import ApiError


def now() -> datetime:
    return datetime.now(UTC)


def rfc3339_ms(moment: datetime) -> str:
    """Google's `updated`/`created` format: UTC with milliseconds, e.g. 2024-05-01T12:00:00.000Z."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def parse_rfc3339(value: str) -> datetime:
    """An aware datetime; raises ValueError for a malformed value or one without an offset."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"no UTC offset in {value!r}")
    return parsed


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def edge(ev: dict[str, Any], which: str, default_tz: str) -> datetime:
    """The aware instant of an event's `start` or `end`.

    All-day dates are floating; they are placed at midnight in the event's own time zone if it
    has one, else in the calendar's zone (that is how Google's list bounds treat them).
    """
    part = ev.get(which) or {}
    tz = part.get("timeZone") or default_tz
    if part.get("date"):
        day = date.fromisoformat(part["date"])
        return datetime.combine(day, time(0), tzinfo=zone(tz))
    raw = datetime.fromisoformat(part["dateTime"])
    if raw.tzinfo is None:
        raw = raw.replace(tzinfo=zone(tz))
    return raw


def check_edges(ev: dict[str, Any]) -> None:
    """Validate start/end the way Calendar does, with its documented error reasons."""
    for which in ("start", "end"):
        part = ev.get(which)
        if not isinstance(part, dict) or not (part.get("date") or part.get("dateTime")):
            raise ApiError(400, "required", f"Missing {which} time.")
        if part.get("date") and part.get("dateTime"):
            raise ApiError(400, "invalid", f"Invalid {which} time: both date and dateTime given.")
        if part.get("timeZone"):
            try:
                zone(part["timeZone"])
            except ValueError:
                raise ApiError(
                    400, "invalid", f"Invalid time zone definition for {which} time."
                ) from None
        try:
            if part.get("date"):
                date.fromisoformat(part["date"])
            else:
                moment = datetime.fromisoformat(part["dateTime"])
                if moment.tzinfo is None and not part.get("timeZone"):
                    raise ApiError(
                        400, "required", f"Missing time zone definition for {which} time."
                    )
        except ValueError:
            raise ApiError(400, "invalid", f"Invalid {which} time.") from None
    if bool(ev["start"].get("date")) != bool(ev["end"].get("date")):
        raise ApiError(
            400, "invalid", "Start and end times must either both be date or both be dateTime."
        )
    start, end = edge(ev, "start", "UTC"), edge(ev, "end", "UTC")
    if end < start or (ev["start"].get("date") and end == start):
        raise ApiError(400, "timeRangeEmpty", "The specified time range is empty.")
