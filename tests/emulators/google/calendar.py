"""Google Calendar v3 state and the single-event methods (insert/get/patch/update/delete).

The caller holds the emulator's lock for every method here. `events.list` lives in
calendar_list.py, the small read-only resources (settings, calendarList, colors) in
calendar_misc.py.
"""

from __future__ import annotations

import base64
import copy
import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from . import recurrence
from .discovery import Call
from .timeutil import check_edges, rfc3339_ms
from .wire import ApiError, not_found

BASE32HEX_ID = re.compile(r"^[a-v0-9]{5,1024}$")
HELPER_ONLY_TYPES = ("birthday", "outOfOffice", "workingLocation")
# Fields the server owns; a client sending them in patch/update is ignored, as Google does.
READ_ONLY = ("kind", "etag", "created", "updated", "creator", "htmlLink", "iCalUID", "organizer")
INSERT_IGNORED = ("kind", "etag", "created", "updated", "creator", "htmlLink", "organizer")
SERIES_LINKS = ("recurringEventId", "originalStartTime")
EXT_KEY_MAX, EXT_VALUE_MAX = 44, 1024

Reply = tuple[int, Any]


def merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Patch semantics: objects merge recursively, arrays and scalars replace, null removes."""
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict):
            existing = out.get(key)
            current: dict[str, Any] = existing if isinstance(existing, dict) else {}
            if key in ("start", "end") and ("date" in value or "dateTime" in value):
                # Switching between all-day and timed must not leave both members behind.
                current = {k: v for k, v in current.items() if k not in ("date", "dateTime")}
            out[key] = merge(current, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _trim_extended(ev: dict[str, Any]) -> None:
    # Documented limits: longer keys are silently dropped, longer values silently truncated.
    for scope in ("private", "shared"):
        props = (ev.get("extendedProperties") or {}).get(scope)
        if isinstance(props, dict):
            ev["extendedProperties"][scope] = {
                k: v[:EXT_VALUE_MAX] for k, v in props.items() if len(k) <= EXT_KEY_MAX
            }


class Calendar:
    def __init__(
        self,
        email: str,
        timezone: str,
        focus_time: bool,
        page_size: int | None,
        clock: Callable[[], datetime],
    ) -> None:
        self.email = email
        self.timezone = timezone
        self.focus_time = focus_time
        self.page_size = page_size
        self.clock = clock
        self.events: dict[str, dict[str, Any]] = {}
        self.changed: dict[str, int] = {}  # event id -> change counter at its last write
        self.counter = 0
        self.token_generation = 0  # bumped by expire_sync_tokens()
        self.on_change: Callable[[dict[str, Any]], None] | None = None  # push notifications
        self._last_etag = 3181161784712000

    # ---- shared helpers -------------------------------------------------------------------
    def check_calendar(self, calendar_id: str) -> None:
        if calendar_id != "primary" and calendar_id.lower() != self.email.lower():
            raise not_found()

    def touch(self, ev: dict[str, Any]) -> None:
        """Record a write: new etag and `updated`, a bump of the sync counter, and a push
        notification to the calendar's channels (every change to events passes here)."""
        self.counter += 1
        self.changed[ev["id"]] = self.counter
        moment = self.clock()
        self._last_etag = max(self._last_etag + 1, int(moment.timestamp() * 1_000_000))
        ev["etag"] = f'"{self._last_etag}"'
        ev["updated"] = rfc3339_ms(moment)
        if self.on_change is not None:
            self.on_change(ev)

    def _fill_new(self, ev: dict[str, Any]) -> None:
        ev.setdefault("id", uuid.uuid4().hex)
        ev["kind"] = "calendar#event"
        ev.setdefault("status", "confirmed")
        ev.setdefault("eventType", "default")
        ev.setdefault("sequence", 0)
        ev.setdefault("reminders", {"useDefault": True})
        ev["created"] = rfc3339_ms(self.clock())
        ev.setdefault("iCalUID", f"{ev['id']}@google.com")
        ev.setdefault("creator", {"email": self.email, "self": True})
        ev.setdefault("organizer", {"email": self.email, "self": True})
        eid = base64.urlsafe_b64encode(f"{ev['id']} {self.email}".encode()).decode().rstrip("=")
        ev["htmlLink"] = f"https://www.google.com/calendar/event?eid={eid}"
        _trim_extended(ev)

    def store_new(self, body: dict[str, Any]) -> dict[str, Any]:
        ev = {k: copy.deepcopy(v) for k, v in body.items() if v is not None}
        self._fill_new(ev)
        self.events[ev["id"]] = ev
        self.touch(ev)
        return ev

    def resolve(self, event_id: str) -> tuple[dict[str, Any], bool]:
        """The stored event, or a generated instance of a recurring series (virtual=True)."""
        if event_id in self.events:
            return self.events[event_id], False
        m = recurrence.INSTANCE_ID.match(event_id)
        master = self.events.get(m.group("series")) if m else None
        if m and master and master.get("recurrence"):
            inst = recurrence.find(master, m.group("stamp"), self.timezone)
            if inst is not None:
                return inst, True
        raise not_found()

    def validate(
        self, ev: dict[str, Any], *, creating: bool, previous: dict[str, Any] | None
    ) -> None:
        check_edges(ev)
        if ev.get("recurrence"):
            if not recurrence.is_all_day(ev) and not ev["start"].get("timeZone"):
                raise ApiError(400, "required", "Missing time zone definition for start time.")
            try:
                recurrence.build(ev, self.timezone)
            except (ValueError, TypeError):
                raise ApiError(400, "invalid", "Invalid recurrence rule.") from None
        kind = ev.get("eventType", "default")
        if previous is not None and kind != previous.get("eventType", "default"):
            raise ApiError(400, "invalid", "Event type cannot be changed.")
        if creating and kind == "fromGmail":
            raise ApiError(400, "invalid", "Event type 'fromGmail' cannot be created.")
        if creating and kind in HELPER_ONLY_TYPES:
            raise ApiError(
                400, "invalid", f"emulator: eventType '{kind}' can only be created by put_event()."
            )
        if creating and kind == "focusTime" and not self.focus_time:
            raise ApiError(400, "invalid", "Focus time is not available for this account.")
        if kind == "focusTime":
            if recurrence.is_all_day(ev):
                raise ApiError(400, "invalid", "Focus time events cannot be all-day events.")
            if ev.get("transparency") == "transparent":
                raise ApiError(400, "invalid", "Focus time events cannot be transparent.")
            if not ev.get("focusTimeProperties"):
                raise ApiError(400, "required", "Missing focus time properties.")

    @staticmethod
    def check_if_match(call: Call, ev: dict[str, Any]) -> None:
        wanted = call.headers.get("if-match")
        if wanted is not None and wanted.strip() not in ("*", ev.get("etag")):
            raise ApiError(
                412,
                "conditionNotMet",
                "Precondition Failed",
                location="If-Match",
                location_type="header",
            )

    @staticmethod
    def check_organizer(before: dict[str, Any], after: dict[str, Any]) -> None:
        """On someone else's invitation the owner may change only their own answer (its
        responseStatus and comment) and their private properties; anything shared is
        the organizer's. Google answers 403 forbiddenForNonOrganizer."""
        if (before.get("organizer") or {}).get("self", False):
            return
        own = ("responseStatus", "comment")

        def shared(ev: dict[str, Any]) -> dict[str, Any]:
            out = {k: v for k, v in ev.items() if k not in ("attendees", "extendedProperties")}
            for stamp in ("etag", "updated"):
                out.pop(stamp, None)
            out["attendees"] = [
                {k: v for k, v in a.items() if not (a.get("self") and k in own)}
                for a in ev.get("attendees") or ()
            ]
            out["shared"] = (ev.get("extendedProperties") or {}).get("shared")
            return out

        if shared(before) != shared(after):
            raise ApiError(
                403,
                "forbiddenForNonOrganizer",
                "Shared properties can only be changed by the organizer of the event.",
            )

    # ---- API methods ----------------------------------------------------------------------
    def insert(self, call: Call) -> Reply:
        self.check_calendar(call.params["calendarId"])
        body = dict(call.body or {})
        for key in INSERT_IGNORED:
            body.pop(key, None)
        event_id = body.get("id")
        if event_id is not None:
            if not isinstance(event_id, str) or not BASE32HEX_ID.match(event_id):
                raise ApiError(400, "invalid", "Invalid resource id value.")
            if event_id in self.events:
                raise ApiError(409, "duplicate", "The requested identifier already exists.")
        self.validate(body, creating=True, previous=None)
        return 200, self.store_new(body)

    def get(self, call: Call) -> Reply:
        self.check_calendar(call.params["calendarId"])
        ev, _ = self.resolve(call.params["eventId"])
        return 200, ev

    def _write(self, call: Call, replace: bool) -> Reply:
        self.check_calendar(call.params["calendarId"])
        current, _ = self.resolve(call.params["eventId"])
        self.check_if_match(call, current)
        body = dict(call.body or {})
        for key in (*READ_ONLY, *SERIES_LINKS):
            body.pop(key, None)
        if body.pop("id", current["id"]) != current["id"]:
            raise ApiError(400, "invalid", "Invalid resource id value.")
        if replace:
            fixed = (*READ_ONLY, *SERIES_LINKS, "id", "eventType")
            kept = {k: current[k] for k in fixed if k in current}
            body.setdefault("status", "confirmed")
            updated = merge(kept, body)
        else:
            updated = merge(current, body)
        self.check_organizer(current, updated)
        self.validate(updated, creating=False, previous=current)
        _trim_extended(updated)
        self.events[updated["id"]] = updated  # an edited instance becomes a stored exception
        self.touch(updated)
        return 200, updated

    def patch(self, call: Call) -> Reply:
        return self._write(call, replace=False)

    def update(self, call: Call) -> Reply:
        return self._write(call, replace=True)

    def delete(self, call: Call) -> Reply:
        self.check_calendar(call.params["calendarId"])
        ev, virtual = self.resolve(call.params["eventId"])
        self.check_if_match(call, ev)
        master = self.events.get(ev.get("recurringEventId", "")) if virtual else None
        if ev.get("status") == "cancelled" or (master and master.get("status") == "cancelled"):
            raise ApiError(410, "deleted", "Resource has been deleted")
        ev = copy.deepcopy(ev) if virtual else ev
        ev["status"] = "cancelled"
        self.events[ev["id"]] = ev
        self.touch(ev)
        return 204, None

    def handlers(self) -> dict[str, Callable[[Call], Reply]]:
        return {
            "calendar.events.insert": self.insert,
            "calendar.events.get": self.get,
            "calendar.events.patch": self.patch,
            "calendar.events.update": self.update,
            "calendar.events.delete": self.delete,
        }
