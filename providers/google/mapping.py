"""Google Calendar and Gmail JSON in, our domain types out (and blocks back in).

Nothing else in the code base sees Google's JSON.
"""

from __future__ import annotations

import email.utils
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from worker.models import (
    Attendee,
    Block,
    BlockKind,
    Event,
    EventType,
    Message,
    Response,
    Status,
)
from worker.timeutil import at

# extendedProperties.private keys: at most 44 characters each, or Google drops them.
TAG = "firstblock"
KEY, KIND, DAY, MEETING, WRITTEN = (
    "firstblock_key",
    "firstblock_kind",
    "firstblock_day",
    "firstblock_meeting",
    "firstblock_written",
)
# Set in the same write that cancels a block: "the worker removed it", as opposed to
# a user's delete, which must stay a delete (the tombstone) even when state is lost.
RETIRED = "firstblock_retired"

EVENT_TYPES = {
    "default": EventType.DEFAULT,
    "outOfOffice": EventType.OUT_OF_OFFICE,
    "focusTime": EventType.FOCUS,
    "workingLocation": EventType.WORKING_LOCATION,
    "birthday": EventType.BIRTHDAY,
    "fromGmail": EventType.DEFAULT,  # a flight or a reservation: it takes the time
}
RESPONSES = {
    "accepted": Response.ACCEPTED,
    "tentative": Response.TENTATIVE,
    "declined": Response.DECLINED,
    "needsAction": Response.NEEDS_ACTION,
}
STATUSES = {
    "confirmed": Status.CONFIRMED,
    "tentative": Status.TENTATIVE,
    "cancelled": Status.CANCELLED,
}
# What the sync cache keeps of an event: the rest is never read.
FIELDS = (
    "id,status,summary,description,start,end,transparency,eventType,attendees,organizer,"
    "recurringEventId,extendedProperties,etag,guestsCanSeeOtherGuests,attendeesOmitted,"
    "focusTimeProperties"
)


def is_owned(item: dict[str, Any]) -> bool:
    return _private(item).get(TAG) == "1"


def is_retired(item: dict[str, Any]) -> bool:
    return _private(item).get(RETIRED) == "1"


def _private(item: dict[str, Any]) -> dict[str, str]:
    props = (item.get("extendedProperties") or {}).get("private") or {}
    return props if isinstance(props, dict) else {}


def when(value: dict[str, Any] | None, zone: ZoneInfo) -> tuple[datetime, bool]:
    """(moment, all-day) of an event's start or end. All-day dates are midnights in
    the user's zone. Raises ValueError for a value that is neither."""
    value = value or {}
    if value.get("dateTime"):
        moment = datetime.fromisoformat(str(value["dateTime"]).replace("Z", "+00:00"))
        if moment.tzinfo is None:  # Google sends offsets; a missing one means its zone
            moment = moment.replace(tzinfo=ZoneInfo(str(value.get("timeZone") or zone.key)))
        return moment, False
    if value.get("date"):
        return at(date.fromisoformat(str(value["date"])), time(0), zone), True
    raise ValueError("no dateTime or date")


def to_block(item: dict[str, Any], zone: ZoneInfo) -> Block:
    """One of our blocks. Raises ValueError when its tag is damaged."""
    props = _private(item)
    start, _ = when(item.get("start"), zone)
    end, _ = when(item.get("end"), zone)
    return Block(
        key=props[KEY],
        kind=BlockKind(props[KIND]),
        day=date.fromisoformat(props[DAY]),
        start=start,
        end=end,
        title=str(item.get("summary", "")),
        description=str(item.get("description", "")),
        meeting_id=props.get(MEETING, ""),
        written=props.get(WRITTEN, ""),
        etag=str(item.get("etag", "")),
        free=item.get("transparency") == "transparent",
    )


def to_event(item: dict[str, Any], zone: ZoneInfo, fallback: datetime, me: str = "") -> Event:
    """Someone else's event. An event that cannot be read is kept, busy, with a
    `problem` (at `fallback`, the window's start), never dropped. Google marks the
    calendar owner's own entry `self`: it becomes `me`, even when invited by an alias."""
    ident = str(item.get("id", ""))
    title = str(item.get("summary", ""))
    try:
        start, all_day = when(item.get("start"), zone)
        end, _ = when(item.get("end"), zone)
    except ValueError as exc:
        return Event(ident, title, fallback, fallback, problem=f"unreadable time: {exc}")
    attendees = tuple(
        Attendee(
            email=(me if me and a.get("self") else str(a.get("email", ""))).lower(),
            name=str(a.get("displayName", "")),
            response=RESPONSES.get(str(a.get("responseStatus")), Response.NEEDS_ACTION),
            resource=bool(a.get("resource", False)),
        )
        for a in item.get("attendees") or ()
        if isinstance(a, dict)
    )
    return Event(
        id=ident,
        title=title,
        start=start,
        end=max(start, end),
        all_day=all_day,
        status=STATUSES.get(str(item.get("status", "confirmed")), Status.CONFIRMED),
        transparent=item.get("transparency") == "transparent",
        event_type=EVENT_TYPES.get(str(item.get("eventType", "default")), EventType.DEFAULT),
        attendees=attendees,
        organizer=_organizer(item.get("organizer") or {}, me),
        series_id=str(item.get("recurringEventId") or ident),
        zone=iana((item.get("start") or {}).get("timeZone")),
        guests_hidden=item.get("guestsCanSeeOtherGuests") is False
        or bool(item.get("attendeesOmitted")),
    )


def iana(name: object) -> str:
    """A zone name as Google gives it (IANA), or "" when it is missing or unknown."""
    if not isinstance(name, str) or not name:
        return ""
    try:
        ZoneInfo(name)
    except (ValueError, ZoneInfoNotFoundError):
        return ""
    return name


def _organizer(organizer: dict[str, Any], me: str) -> str:
    if me and organizer.get("self"):
        return me.lower()
    return str(organizer.get("email", "")).lower()


def block_body(block: Block, *, focus: dict[str, str] | None) -> dict[str, Any]:
    """The event that represents `block`: opaque (a ramping block: transparent until
    it turns busy), no attendees, no reminders, tagged. With `focus`, a Focus Time
    event that declines conflicting invitations; never a tentative hold, which is there
    to be given up, nor a free block, since an event's type cannot change later."""
    body: dict[str, Any] = {
        "id": block.id,
        **content(block, patch=False),
        "reminders": {"useDefault": False},
    }
    if focus is not None and not block.tentative and not block.free:
        body["eventType"] = "focusTime"
        body["focusTimeProperties"] = {**focus, "chatStatus": "doNotDisturb"}
    return body


def content(block: Block, *, patch: bool = True) -> dict[str, Any]:
    """What a patch sets: time, text and tag (the event type cannot change). A patch
    also clears the retired mark (null removes a property), undoing a retirement."""
    private: dict[str, str | None] = {
        TAG: "1",
        KEY: block.key,
        KIND: block.kind.value,
        DAY: block.day.isoformat(),
        MEETING: block.meeting_id,
        WRITTEN: block.fingerprint,
    }
    if patch:
        private[RETIRED] = None
    return {
        "summary": block.title,
        "description": block.description,
        "start": {"dateTime": block.start.isoformat()},
        "end": {"dateTime": block.end.isoformat()},
        "status": "tentative" if block.tentative else "confirmed",
        "transparency": "transparent" if block.free else "opaque",
        "extendedProperties": {"private": private},
    }


def retire_body() -> dict[str, Any]:
    return {"status": "cancelled", "extendedProperties": {"private": {RETIRED: "1"}}}


def to_message(item: dict[str, Any], *, held_label: str, alert_label: str) -> Message:
    """A Gmail message read with format=metadata and the From header."""
    headers = {
        str(h.get("name", "")).lower(): str(h.get("value", ""))
        for h in (item.get("payload") or {}).get("headers") or ()
    }
    sender = email.utils.parseaddr(headers.get("from", ""))[1].lower()
    labels = set(item.get("labelIds") or ())
    received = datetime.fromtimestamp(int(item.get("internalDate", 0)) / 1000, tz=UTC)
    return Message(
        id=str(item["id"]),
        sender=sender,
        received=received,
        held=held_label in labels,
        alert=alert_label in labels,
    )
