"""Calendar's small read-only resources: settings, calendarList, calendars, colors, freeBusy."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from . import calendar_list
from .calendar import Calendar, Reply
from .discovery import Call
from .timeutil import edge, parse_rfc3339
from .wire import ApiError, bad_param, not_found

# Google's event palette (colors.get "event" section).
EVENT_COLORS = {
    "1": "#a4bdfc",
    "2": "#7ae7bf",
    "3": "#dbadff",
    "4": "#ff887c",
    "5": "#fbd75b",
    "6": "#ffb878",
    "7": "#46d6db",
    "8": "#e1e1e1",
    "9": "#5484ed",
    "10": "#51b749",
    "11": "#dc2127",
}


def _settings(cal: Calendar) -> dict[str, str]:
    return {
        "timezone": cal.timezone,
        "locale": "en",
        "weekStart": "0",
        "format24HourTime": "false",
        "defaultEventLength": "60",
        "hideWeekends": "false",
        "showDeclinedEvents": "true",
    }


def _setting(cal: Calendar, key: str, value: str) -> dict[str, Any]:
    return {
        "kind": "calendar#setting",
        "etag": f'"s{zlib.crc32(value.encode())}"',
        "id": key,
        "value": value,
    }


def settings_get(cal: Calendar, call: Call) -> Reply:
    values = _settings(cal)
    if call.params["setting"] not in values:
        raise not_found()
    key = call.params["setting"]
    return 200, _setting(cal, key, values[key])


def settings_list(cal: Calendar, call: Call) -> Reply:
    items = [_setting(cal, k, v) for k, v in _settings(cal).items()]
    return 200, {"kind": "calendar#settings", "etag": '"settings"', "items": items}


def _entry(cal: Calendar) -> dict[str, Any]:
    return {
        "kind": "calendar#calendarListEntry",
        "etag": '"primary"',
        "id": cal.email,
        "summary": cal.email,
        "timeZone": cal.timezone,
        "colorId": "14",
        "backgroundColor": "#9fe1e7",
        "foregroundColor": "#000000",
        "selected": True,
        "accessRole": "owner",
        "defaultReminders": [{"method": "popup", "minutes": 10}],
        "primary": True,
    }


def calendar_list_get(cal: Calendar, call: Call) -> Reply:
    cal.check_calendar(call.params["calendarId"])
    return 200, _entry(cal)


def calendar_list_list(cal: Calendar, call: Call) -> Reply:
    return 200, {"kind": "calendar#calendarList", "etag": '"list"', "items": [_entry(cal)]}


def calendars_get(cal: Calendar, call: Call) -> Reply:
    cal.check_calendar(call.params["calendarId"])
    return 200, {
        "kind": "calendar#calendar",
        "etag": '"primary"',
        "id": cal.email,
        "summary": cal.email,
        "timeZone": cal.timezone,
    }


def colors_get(cal: Calendar, call: Call) -> Reply:
    event = {k: {"background": v, "foreground": "#1d1d1d"} for k, v in EVENT_COLORS.items()}
    return 200, {
        "kind": "calendar#colors",
        "updated": "2012-02-14T00:00:00.000Z",
        "calendar": {"14": {"background": "#9fe1e7", "foreground": "#000000"}},
        "event": event,
    }


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def freebusy(cal: Calendar, call: Call) -> Reply:
    body = call.body or {}
    for name in ("timeMin", "timeMax"):
        if name not in body:
            raise bad_param(name, f"Missing {name}.", "required")
    lo, hi = parse_rfc3339(body["timeMin"]), parse_rfc3339(body["timeMax"])
    params = {"timeMin": body["timeMin"], "timeMax": body["timeMax"]}
    spans = sorted(
        (max(edge(ev, "start", cal.timezone), lo), min(edge(ev, "end", cal.timezone), hi))
        for ev in calendar_list.window(cal, params, True)
        if ev.get("transparency") != "transparent" and ev.get("status") != "cancelled"
    )
    busy: list[list[datetime]] = []
    for start, end in spans:
        if busy and start <= busy[-1][1]:
            busy[-1][1] = max(busy[-1][1], end)
        else:
            busy.append([start, end])
    calendars: dict[str, Any] = {}
    for item in body.get("items", []):
        key = str(item.get("id", ""))
        try:
            cal.check_calendar(key)
        except ApiError:
            calendars[key] = {"errors": [{"domain": "global", "reason": "notFound"}], "busy": []}
            continue
        calendars[key] = {"busy": [{"start": _utc(s), "end": _utc(e)} for s, e in busy]}
    return 200, {
        "kind": "calendar#freeBusy",
        "timeMin": body["timeMin"],
        "timeMax": body["timeMax"],
        "calendars": calendars,
    }


def handlers(cal: Calendar) -> dict[str, Callable[[Call], Reply]]:
    def bind(fn: Callable[[Calendar, Call], Reply]) -> Callable[[Call], Reply]:
        return lambda call: fn(cal, call)

    return {
        "calendar.events.list": bind(calendar_list.list_events),
        "calendar.events.instances": bind(calendar_list.list_instances),
        "calendar.settings.get": bind(settings_get),
        "calendar.settings.list": bind(settings_list),
        "calendar.calendarList.get": bind(calendar_list_get),
        "calendar.calendarList.list": bind(calendar_list_list),
        "calendar.calendars.get": bind(calendars_get),
        "calendar.colors.get": bind(colors_get),
        "calendar.freebusy.query": bind(freebusy),
    }
