"""Time zones and Graph's date formats.

Graph names zones the Windows way ("Pacific Standard Time") and also accepts IANA names. Only
a handful of Windows zones are mapped here: the ones tests use (the provider has its own full
mapping). Graph's dateTimeTimeZone carries a wall-clock `dateTime` with seven fractional
digits ("2026-11-30T09:00:00.0000000") and a separate `timeZone`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .wire import GraphError

WINDOWS_TO_IANA = {
    "UTC": "UTC",
    "Pacific Standard Time": "America/Los_Angeles",
    "Mountain Standard Time": "America/Denver",
    "US Mountain Standard Time": "America/Phoenix",
    "Central Standard Time": "America/Chicago",
    "Eastern Standard Time": "America/New_York",
    "Atlantic Standard Time": "America/Halifax",
    "Alaskan Standard Time": "America/Anchorage",
    "Hawaiian Standard Time": "Pacific/Honolulu",
    "GMT Standard Time": "Europe/London",
    "Greenwich Standard Time": "Atlantic/Reykjavik",
    "W. Europe Standard Time": "Europe/Berlin",
    "Romance Standard Time": "Europe/Paris",
    "Central Europe Standard Time": "Europe/Budapest",
    "Central European Standard Time": "Europe/Warsaw",
    "FLE Standard Time": "Europe/Kiev",
    "India Standard Time": "Asia/Kolkata",
    "China Standard Time": "Asia/Shanghai",
    "Singapore Standard Time": "Asia/Singapore",
    "Tokyo Standard Time": "Asia/Tokyo",
    "AUS Eastern Standard Time": "Australia/Sydney",
    "E. Australia Standard Time": "Australia/Brisbane",
    "New Zealand Standard Time": "Pacific/Auckland",
}


def tz_error(name: str) -> GraphError:
    return GraphError(
        400,
        "TimeZoneNotSupportedException",
        f"A valid TimeZone value must be specified. The following TimeZone value is not "
        f"supported: '{name}'.",
    )


def zone(name: str | None) -> ZoneInfo:
    """The zone for a Windows or IANA name (None or "" means UTC); GraphError 400 otherwise."""
    if not name:
        return ZoneInfo("UTC")
    iana = WINDOWS_TO_IANA.get(name, name)
    try:
        return ZoneInfo(iana)
    except (ZoneInfoNotFoundError, ValueError):
        raise tz_error(name) from None


def now() -> datetime:
    return datetime.now(UTC)


def parse_wall(value: str) -> datetime:
    """A naive wall-clock datetime from Graph's dateTime (any fraction, offset ignored)."""
    head, _, fraction = value.partition(".")
    digits = "".join(ch for ch in fraction if ch.isdigit())[:6]
    parsed = datetime.fromisoformat(head[:19])
    return parsed.replace(microsecond=int(digits.ljust(6, "0")) if digits else 0)


def from_dtz(part: Any, what: str = "dateTime") -> datetime:
    """The aware instant of a dateTimeTimeZone value; GraphError 400 if malformed."""
    if not isinstance(part, dict) or not isinstance(part.get("dateTime"), str):
        raise GraphError(400, "ErrorInvalidRequest", f"The {what} value is missing or invalid.")
    raw = part["dateTime"]
    try:
        explicit = datetime.fromisoformat(raw.replace("Z", "+00:00")[:32])
    except ValueError:
        explicit = None
    if explicit is not None and explicit.tzinfo is not None:
        return explicit  # an explicit offset wins over timeZone, as Graph does
    try:
        wall = parse_wall(raw)
    except ValueError:
        raise GraphError(
            400, "ErrorInvalidRequest", f"Cannot convert '{raw}' to a date and time."
        ) from None
    return wall.replace(tzinfo=zone(part.get("timeZone")))


def to_dtz(moment: datetime, tz_name: str | None) -> dict[str, str]:
    """Graph's dateTimeTimeZone for an aware instant, in `tz_name` (default UTC)."""
    local = moment.astimezone(zone(tz_name))
    stamp = local.strftime("%Y-%m-%dT%H:%M:%S") + f".{local.microsecond:06d}0"
    return {"dateTime": stamp, "timeZone": tz_name or "UTC"}


def wall_dtz(wall: datetime, tz_name: str | None) -> dict[str, str]:
    """Graph's dateTimeTimeZone for a floating wall-clock time (all-day events)."""
    stamp = wall.strftime("%Y-%m-%dT%H:%M:%S") + f".{wall.microsecond:06d}0"
    return {"dateTime": stamp, "timeZone": tz_name or "UTC"}


def iso_utc(moment: datetime) -> str:
    """Graph's DateTimeOffset form for stamps: "2026-11-30T17:00:00Z"."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_query_instant(value: str, name: str) -> datetime:
    """startDateTime/endDateTime: ISO 8601 with its offset; no offset means UTC."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = datetime.combine(date.fromisoformat(value), time(0))
        except ValueError:
            raise GraphError(
                400,
                "ErrorInvalidParameter",
                f"The value '{value}' of parameter '{name}' is invalid.",
            ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def parse_offset(value: str) -> datetime:
    """A DateTimeOffset literal (in $filter or a body); ValueError if it is not one."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
