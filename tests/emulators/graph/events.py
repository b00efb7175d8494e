"""Calendar events of a mailbox's primary calendar: storage, occurrences and rendering.

A series master stores its exceptions (`_exceptions`: original local date -> changed fields)
and cancelled occurrences (`_cancelled`: original local dates). An occurrence's id is
"<series id>_<YYYYMMDD>", its original local date in the series zone. The HTTP handlers are
in calendar.py.
"""

from __future__ import annotations

import copy
import re
from datetime import datetime, time
from typing import Any

from . import recurrence
from .odata import Query, ext_key, ext_value, project
from .store import Ctx, Mailbox, State, etag, public
from .wire import GraphError, not_found
from .zones import from_dtz, iso_utc, parse_wall, to_dtz, wall_dtz, zone

EVENT = "microsoft.graph.event"
# Set by the server: a client sending them on create or update is ignored, as Graph does.
SERVER_OWNED = {
    "id",
    "changeKey",
    "createdDateTime",
    "lastModifiedDateTime",
    "iCalUId",
    "type",
    "seriesMasterId",
    "isOrganizer",
    "organizer",
    "responseStatus",
    "originalStart",
    "webLink",
    "bodyPreview",
    "hasAttachments",
    "cancelledOccurrences",
}


def invalid(message: str) -> GraphError:
    return GraphError(400, "ErrorInvalidRequest", message)


def defaults(mb: Mailbox) -> dict[str, Any]:
    return {
        "subject": "",
        "body": {"contentType": "html", "content": ""},
        "importance": "normal",
        "sensitivity": "normal",
        "isAllDay": False,
        "isCancelled": False,
        "isDraft": False,
        "isOrganizer": True,
        "isReminderOn": True,
        "reminderMinutesBeforeStart": 15,
        "responseRequested": True,
        "allowNewTimeProposals": True,
        "hideAttendees": False,
        "hasAttachments": False,
        "isOnlineMeeting": False,
        "onlineMeetingProvider": "unknown",
        "onlineMeeting": None,
        "onlineMeetingUrl": None,
        "showAs": "busy",
        "seriesMasterId": None,
        "recurrence": None,
        "categories": [],
        "attendees": [],
        "location": {"displayName": "", "locationType": "default", "uniqueIdType": "unknown"},
        "locations": [],
        "organizer": {"emailAddress": {"name": mb.display_name, "address": mb.upn}},
        "responseStatus": {"response": "organizer", "time": "0001-01-01T00:00:00Z"},
    }


def preview(body: Any) -> str:
    content = body.get("content") if isinstance(body, dict) else ""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]*>", " ", content or "")).strip()[:255]


def check_times(ev: dict[str, Any]) -> None:
    """Graph's rules for start/end, all-day edges and the recurrence pattern."""
    for part in ("start", "end"):
        if not isinstance(ev.get(part), dict):
            raise invalid(f"The '{part}' property is required.")
        zone(ev[part].get("timeZone"))
    start, end = from_dtz(ev["start"], "start"), from_dtz(ev["end"], "end")
    if end < start:
        raise invalid("The event end time must be later than its start time.")
    if ev.get("isAllDay"):
        walls = [parse_wall(ev[p]["dateTime"]) for p in ("start", "end")]
        if any(w.time() != time(0) for w in walls) or walls[1] <= walls[0]:
            raise invalid(
                "Your request can't be completed. If an event is all-day, its start and end "
                "must be specified as midnight and span at least one day."
            )
    recurrence.check(ev)


def check_extended(body: dict[str, Any]) -> None:
    for prop in body.get("singleValueExtendedProperties") or []:
        if not isinstance(prop, dict) or not isinstance(prop.get("id"), str):
            raise invalid("An extended property needs an id.")
        ext_key(prop["id"])


def upsert_extended(stored: dict[str, Any], props: list[dict[str, Any]]) -> None:
    current = stored.setdefault("singleValueExtendedProperties", [])
    for prop in props:
        key = ext_key(prop["id"])
        current[:] = [p for p in current if ext_key(p["id"]) != key]
        current.append({"id": prop["id"], "value": prop.get("value")})


def normalize_recurrence(ev: dict[str, Any]) -> None:
    """Fill the defaults Graph returns for a patternedRecurrence (month 0, endDate
    0001-01-01...), which readers must treat as "not set"."""
    recurrence_value = ev.get("recurrence")
    if not isinstance(recurrence_value, dict):
        return
    pattern = {"month": 0, "dayOfMonth": 0, "daysOfWeek": [], "firstDayOfWeek": "sunday"}
    pattern |= {"index": "first", **(recurrence_value.get("pattern") or {})}
    rng = {"endDate": "0001-01-01", "numberOfOccurrences": 0}
    rng |= {"recurrenceTimeZone": ev["start"].get("timeZone") or "UTC"}
    rng |= {k: v for k, v in (recurrence_value.get("range") or {}).items() if v is not None}
    ev["recurrence"] = {"pattern": pattern, "range": rng}


def store_new(state: State, mb: Mailbox, body: dict[str, Any], *, as_is: bool) -> dict[str, Any]:
    """Create an event; `as_is` keeps server-owned fields (the put_event helper)."""
    stored = defaults(mb)
    for key, value in body.items():
        if key == "singleValueExtendedProperties" or (key in SERVER_OWNED and not as_is):
            continue
        stored[key] = copy.deepcopy(value)
    check_times(stored)
    check_extended(body)
    normalize_recurrence(stored)
    stored["id"] = body.get("id") if as_is and body.get("id") else state.ids.item("AAMkA")
    if stored["id"] in mb.events:
        raise ValueError(f"event {stored['id']!r} already exists")
    stored.setdefault("iCalUId", "040000008200E00074C5B7101A82E0080000000" + state.ids.token(24))
    if not (as_is and body.get("type")):
        stored["type"] = "seriesMaster" if stored.get("recurrence") else "singleInstance"
    stored["originalStartTimeZone"] = stored["start"].get("timeZone") or "UTC"
    stored["originalEndTimeZone"] = stored["end"].get("timeZone") or "UTC"
    stored.setdefault("bodyPreview", preview(stored.get("body")))
    for attendee in stored.get("attendees") or []:
        attendee.setdefault("status", {"response": "none", "time": "0001-01-01T00:00:00Z"})
    stored["singleValueExtendedProperties"] = []
    upsert_extended(stored, body.get("singleValueExtendedProperties") or [])
    stored["_exceptions"], stored["_cancelled"] = {}, []
    state.touch(mb, stored, created=True)
    mb.events[stored["id"]] = stored
    if stored.get("transactionId"):
        mb.transactions[stored["transactionId"]] = stored["id"]
    return stored


def resolve(mb: Mailbox, event_id: str) -> tuple[dict[str, Any], dict[str, Any] | None, str]:
    """(item, series master or None, occurrence key) for an event or occurrence id; 404."""
    if event_id in mb.events:
        return mb.events[event_id], None, ""
    master_id, _, key = event_id.rpartition("_")
    master = mb.events.get(master_id)
    valid_key = len(key) == 8 and key.isdigit()
    if master and master.get("recurrence") and valid_key and key not in master["_cancelled"]:
        item = occurrence_item(master, key)
        if item is not None:
            return item, master, key
    raise not_found()


def occurrence_item(
    master: dict[str, Any], key: str, occ: recurrence.Occurrence | None = None
) -> dict[str, Any] | None:
    """An occurrence (or exception) of a series in the stored shape, or None."""
    exception = master["_exceptions"].get(key)
    occ = occ or recurrence.occurrence_at(master, key)
    if occ is None:
        return None
    tz_name, _ = recurrence.series_zone(master)
    item = {k: copy.deepcopy(v) for k, v in master.items() if k not in ("_exceptions",)}
    item.pop("transactionId", None)
    item.update(
        id=f"{master['id']}_{key}",
        type="occurrence",
        seriesMasterId=master["id"],
        recurrence=None,
        start=to_dtz(occ.start, tz_name),
        end=to_dtz(occ.end, tz_name),
        originalStart=iso_utc(occ.original_start),
        iCalUId=f"{master['iCalUId']}{key}",
    )
    if exception is not None:
        item.update(public(exception))
        item["type"], item["changeKey"] = "exception", exception["_changeKey"]
    return item


def span(item: dict[str, Any], out_tz: str | None) -> tuple[datetime, datetime]:
    """An item's instants; all-day items float: midnight in the zone the caller asked for."""
    if item.get("isAllDay"):
        tz = zone(out_tz)
        start, end = (parse_wall(item[p]["dateTime"]).replace(tzinfo=tz) for p in ("start", "end"))
        return start, end
    return from_dtz(item["start"]), from_dtz(item["end"])


def instances(
    mb: Mailbox, lo: datetime, hi: datetime, out_tz: str | None
) -> list[tuple[datetime, dict[str, Any], int]]:
    """(start, item, change counter) of everything in the window, series expanded."""
    found: list[tuple[datetime, dict[str, Any], int]] = []
    for ev in mb.events.values():
        if not ev.get("recurrence"):
            start, end = span(ev, out_tz)
            if recurrence.overlaps(start, end, lo, hi):
                found.append((start, ev, ev["_seq"]))
            continue
        skip = set(ev["_cancelled"]) | set(ev["_exceptions"])
        for occ in recurrence.occurrences(ev, lo, hi):
            if occ.key not in skip:
                item = occurrence_item(ev, occ.key, occ)
                if item is not None:
                    found.append((occ.start, item, ev["_seq"]))
        for key in ev["_exceptions"]:
            item = occurrence_item(ev, key) if key not in ev["_cancelled"] else None
            if item is not None:
                start, end = span(item, out_tz)
                if recurrence.overlaps(start, end, lo, hi):
                    found.append((start, item, ev["_seq"]))
    found.sort(key=lambda entry: (entry[0], entry[1]["id"]))
    return found


def render(ctx: Ctx, item: dict[str, Any], q: Query | None) -> dict[str, Any]:
    """An event as Graph returns it: times in the Prefer zone, extended properties hidden."""
    out: dict[str, Any] = {"@odata.etag": etag(item), "id": item["id"]}
    out.update(public(item))
    out.pop("singleValueExtendedProperties", None)
    tz_name = ctx.prefer.timezone
    for part in ("start", "end"):
        if isinstance(item.get(part), dict):
            if item.get("isAllDay"):
                out[part] = wall_dtz(parse_wall(item[part]["dateTime"]), tz_name)
            else:
                out[part] = to_dtz(from_dtz(item[part]), tz_name)
    out = project(out, q.select if q else None)
    if q is not None and q.expand_ext:
        prop = ext_value(item, q.expand_ext)
        if prop is not None:
            out["singleValueExtendedProperties"] = [{"id": prop["id"], "value": prop["value"]}]
    return out


def apply_changes(
    state: State, mb: Mailbox, event_id: str, changes: dict[str, Any], *, api: bool
) -> dict[str, Any]:
    """PATCH semantics: top-level properties replace; extended properties upsert by id.

    Changing an occurrence stores an exception on its series.
    """
    if api and "transactionId" in changes:
        raise invalid("The transactionId of an event can't be changed after it is created.")
    check_extended(changes)
    item, master, key = resolve(mb, event_id)
    merged = copy.deepcopy(item)
    for name, value in changes.items():
        if name == "singleValueExtendedProperties":
            upsert_extended(merged, value or [])
        elif not (api and name in SERVER_OWNED):
            merged[name] = copy.deepcopy(value)
    check_times(merged)
    if "recurrence" in changes:
        normalize_recurrence(merged)
    if master is not None:
        exception = master["_exceptions"].setdefault(key, {})
        exception.update({k: merged[k] for k in changes if k in merged})
        exception["_changeKey"] = state.ids.token(28)
        master["_seq"] = mb.bump()
        updated = occurrence_item(master, key)
        assert updated is not None
        state.changed(mb, updated, "updated")
        return updated
    if "recurrence" in changes and (api or "type" not in changes):
        merged["type"] = "seriesMaster" if merged.get("recurrence") else "singleInstance"
    if "body" in changes:
        merged["bodyPreview"] = preview(merged.get("body"))
    item.clear()
    item.update(merged)
    state.touch(mb, item)
    return item


def remove(state: State, mb: Mailbox, event_id: str) -> None:
    """Delete an event, or cancel one occurrence of a series."""
    item, master, key = resolve(mb, event_id)
    if master is not None:
        master["_cancelled"].append(key)
        master["_exceptions"].pop(key, None)
        master["_seq"] = mb.bump()
        # Our choice (undocumented): a cancelled occurrence is an update of its series.
        state.changed(mb, master, "updated")
        return
    del mb.events[event_id]
    state.changed(mb, item, "deleted")
    # Our choice (Graph does not document it): once its event is deleted, a transactionId
    # is free again, so a later POST with it creates a new event.
    if item.get("transactionId"):
        mb.transactions.pop(item["transactionId"], None)
    mb.bump()
