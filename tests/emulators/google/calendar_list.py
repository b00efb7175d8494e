"""`events.list` and `events.instances`: windows, expansion, filters, paging and sync tokens.

Sync model: every write bumps `Calendar.counter` and records it on the event. A sync token
holds the counter at the time of the list (and the token generation, so expire_sync_tokens()
can invalidate all earlier tokens). An incremental list returns the stored events whose counter
is newer, cancelled ones included as full objects. With singleEvents=true a changed series
master yields its generated instances (the emulator's choice, as Google documents no horizon:
the last 730 occurrences that start before one year after the emulator's clock), skipping
instances replaced by stored exceptions; changed exceptions are returned as themselves.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from typing import Any

from . import recurrence
from .calendar import Calendar, Reply
from .discovery import Call
from .timeutil import edge, parse_rfc3339, rfc3339_ms
from .wire import ApiError, bad_param

SYNC_INCOMPATIBLE = (
    "iCalUID",
    "orderBy",
    "privateExtendedProperty",
    "q",
    "sharedExtendedProperty",
    "timeMin",
    "timeMax",
    "updatedMin",
)
DEFAULT_PAGE, MAX_PAGE = 250, 2500
SYNC_HORIZON = timedelta(days=365)


def _encode(obj: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def _decode(token: str) -> dict[str, Any]:
    padded = token + "=" * (-len(token) % 4)
    value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    if not isinstance(value, dict):
        raise ValueError(token)
    return value


def sync_token(cal: Calendar, counter: int) -> str:
    return "emu" + _encode({"g": cal.token_generation, "c": counter})


def _since(cal: Calendar, token: str) -> int:
    gone = ApiError(
        410,
        "fullSyncRequired",
        "Sync token is no longer valid, a full sync is required.",
        location="syncToken",
        location_type="parameter",
    )
    try:
        value = _decode(token[3:]) if token.startswith("emu") else None
    except (ValueError, UnicodeDecodeError):
        value = None
    if not value or value.get("g") != cal.token_generation or not isinstance(value.get("c"), int):
        raise gone
    return int(value["c"])


def _exception_keys(cal: Calendar) -> set[tuple[str, str]]:
    keys = set()
    for ev in cal.events.values():
        mark = recurrence.original_stamp(ev, cal.timezone)
        if ev.get("recurringEventId") and mark:
            keys.add((ev["recurringEventId"], mark))
    return keys


def _instances(
    cal: Calendar,
    master: dict[str, Any],
    lo: datetime | None,
    hi: datetime | None,
    skip: set[tuple[str, str]],
    latest: bool = False,
) -> list[dict[str, Any]]:
    """Instances not replaced by exceptions; `latest` keeps the last 730 rather than the first."""
    limit = recurrence.MAX_SCAN if latest else recurrence.MAX_INSTANCES
    found = recurrence.expand(master, cal.timezone, lo, hi, limit)[-recurrence.MAX_INSTANCES :]
    return [inst for _, inst in found if (master["id"], inst["id"].rsplit("_", 1)[1]) not in skip]


def window(cal: Calendar, p: dict[str, Any], single: bool) -> list[dict[str, Any]]:
    lo = parse_rfc3339(p["timeMin"]) if "timeMin" in p else None
    hi = parse_rfc3339(p["timeMax"]) if "timeMax" in p else None
    show_deleted = p.get("showDeleted", False)
    skip = _exception_keys(cal)
    out: list[dict[str, Any]] = []
    for ev in cal.events.values():
        cancelled = ev.get("status") == "cancelled"
        if ev.get("recurrence"):
            if cancelled and not show_deleted:
                continue
            if single:
                out.extend(_instances(cal, ev, lo, hi, skip))
            elif recurrence.expand(ev, cal.timezone, lo, hi, limit=1):
                out.append(ev)
            continue
        start, end = edge(ev, "start", cal.timezone), edge(ev, "end", cal.timezone)
        if (lo is not None and end <= lo) or (hi is not None and start >= hi):
            continue
        master = cal.events.get(ev.get("recurringEventId", ""))
        master_gone = master is not None and master.get("status") == "cancelled"
        if show_deleted:
            out.append(ev)
        elif cancelled:
            # Documented: cancelled instances of a live series are listed when both
            # showDeleted and singleEvents are false, so clients learn of removed occurrences.
            if ev.get("recurringEventId") and not single and not master_gone:
                out.append(ev)
        elif not master_gone:
            out.append(ev)
    return out


def _changed(cal: Calendar, since: int, single: bool) -> list[dict[str, Any]]:
    now = cal.clock()
    skip = _exception_keys(cal)
    out: list[dict[str, Any]] = []
    for ev_id, ev in cal.events.items():
        if cal.changed.get(ev_id, 0) <= since:
            continue
        if single and ev.get("recurrence"):
            out.extend(_instances(cal, ev, None, now + SYNC_HORIZON, skip, latest=True))
        else:
            out.append(ev)
    return out


def _matches(ev: dict[str, Any], p: dict[str, Any]) -> bool:
    ext = ev.get("extendedProperties") or {}
    for param, scope in (
        ("privateExtendedProperty", "private"),
        ("sharedExtendedProperty", "shared"),
    ):
        for pair in p.get(param, []):
            key, sep, value = pair.partition("=")
            if not sep:
                raise bad_param(param, f"Invalid value for {param}: '{pair}' (expected key=value)")
            if (ext.get(scope) or {}).get(key) != value:
                return False
    if "q" in p:
        text = " ".join(str(ev.get(k, "")) for k in ("summary", "description", "location"))
        if p["q"].lower() not in text.lower():
            return False
    if "iCalUID" in p and ev.get("iCalUID") != p["iCalUID"]:
        return False
    if "updatedMin" in p and parse_rfc3339(ev["updated"]) < parse_rfc3339(p["updatedMin"]):
        return False
    return not ("eventTypes" in p and ev.get("eventType", "default") not in p["eventTypes"])


def _page(
    cal: Calendar, items: list[dict[str, Any]], p: dict[str, Any], state: dict[str, Any], tz: str
) -> dict[str, Any]:
    size = min(p.get("maxResults", DEFAULT_PAGE), MAX_PAGE)
    if cal.page_size:
        size = min(size, cal.page_size)
    offset = int(state.get("o", 0))
    chunk = items[offset : offset + size]
    latest = max((ev.get("updated", "") for ev in cal.events.values()), default="")
    body: dict[str, Any] = {
        "kind": "calendar#events",
        "etag": f'"p{state["c"]:x}"',
        "summary": cal.email,
        "description": "",
        "updated": latest or rfc3339_ms(cal.clock()),
        "timeZone": tz,
        "accessRole": "owner",
        "defaultReminders": [],
        "items": chunk,
    }
    if offset + size < len(items):
        body["nextPageToken"] = _encode({**state, "o": offset + size})
    else:
        body["nextSyncToken"] = sync_token(cal, state["c"])
    return body


def _state(cal: Calendar, p: dict[str, Any]) -> dict[str, Any]:
    if "pageToken" not in p:
        return {"o": 0, "c": cal.counter, "s": None}
    try:
        state = _decode(p["pageToken"])
        int(state["o"]), int(state["c"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise bad_param("pageToken", "Invalid page token value.") from None
    return state


def list_events(cal: Calendar, call: Call) -> Reply:
    p = call.params
    cal.check_calendar(p["calendarId"])
    state = _state(cal, p)
    if "syncToken" in p or state.get("s") is not None:
        for name in SYNC_INCOMPATIBLE:
            if name in p:
                raise bad_param(name, f"The {name} parameter cannot be used with syncToken.")
        if p.get("showDeleted") is False:
            raise bad_param("showDeleted", "showDeleted=false cannot be used with syncToken.")
        if state.get("s") is None:
            state["s"] = _since(cal, p["syncToken"])
    single = bool(p.get("singleEvents", False))
    if p.get("orderBy") == "startTime" and not single:
        raise ApiError(
            400,
            "badRequest",
            "The requested ordering is not available for the particular query.",
            location="orderBy",
            location_type="parameter",
        )
    if state.get("s") is not None:
        items = _changed(cal, int(state["s"]), single)
    else:
        items = window(cal, p, single)
    items = [ev for ev in items if _matches(ev, p)]
    if p.get("orderBy") == "updated":
        items.sort(key=lambda ev: ev.get("updated", ""))
    elif single:
        items.sort(key=lambda ev: (edge(ev, "start", cal.timezone), ev["id"]))
    return 200, _page(cal, items, p, state, cal.timezone)


def list_instances(cal: Calendar, call: Call) -> Reply:
    p = call.params
    cal.check_calendar(p["calendarId"])
    master, _ = cal.resolve(p["eventId"])
    if not master.get("recurrence"):
        return 200, _page(cal, [], p, _state(cal, p), cal.timezone)
    lo = parse_rfc3339(p["timeMin"]) if "timeMin" in p else None
    hi = parse_rfc3339(p["timeMax"]) if "timeMax" in p else None
    stored = {
        recurrence.original_stamp(ev, cal.timezone): ev
        for ev in cal.events.values()
        if ev.get("recurringEventId") == master["id"]
    }
    items = []
    for _, inst in recurrence.expand(master, cal.timezone, lo, hi):
        ev = stored.get(inst["id"].rsplit("_", 1)[1], inst)
        if ev.get("status") != "cancelled" or p.get("showDeleted"):
            items.append(ev)
    if "originalStart" in p:
        items = [ev for ev in items if ev["originalStartTime"] == {"dateTime": p["originalStart"]}]
    return 200, _page(cal, items, p, _state(cal, p), cal.timezone)
