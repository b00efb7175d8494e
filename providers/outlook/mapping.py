"""Microsoft Graph JSON in, our domain types out (and blocks back in).

Every read asks for times in UTC (`Prefer: outlook.timezone="UTC"`), so a dateTime
here is UTC unless its timeZone says otherwise. Nothing else in the code base sees
Graph's JSON.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from tzlocal.windows_tz import win_tz

from worker import zones
from worker.models import Attendee, Block, BlockKind, Event, EventType, Message, Response, Status
from worker.timeutil import at, localize

# Named extended properties in firstblock's own property set (a fixed GUID).
_SET = "{5b6f0c4e-7a2d-4c1b-9e1f-3d8a6b2c9f10}"
KEY_PROP = f"String {_SET} Name firstblock.key"  # the block key: found again by $filter
BLOCK_PROP = f"String {_SET} Name firstblock.block"  # what the worker wrote, as JSON
ALERT_PROP = f"String {_SET} Name firstblock.alert"  # the alert key on the worker's mail
DRAFT_PROP = f"String {_SET} Name firstblock.draft"  # the key of a draft it saved

# showAs: free is transparent, tentative is tentative, busy and unknown take the time.
EVENT_TYPES = {"oof": EventType.OUT_OF_OFFICE, "workingElsewhere": EventType.WORKING_LOCATION}
RESPONSES = {
    "accepted": Response.ACCEPTED,
    "organizer": Response.ACCEPTED,
    "tentativelyAccepted": Response.TENTATIVE,
    "declined": Response.DECLINED,
    "notResponded": Response.NEEDS_ACTION,
    "none": Response.NEEDS_ACTION,
}
CATEGORIES = {
    BlockKind.PROSPECTING: "Prospecting",
    BlockKind.DEALS: "Deals",
    BlockKind.PREP: "Prep",
    BlockKind.ADMIN: "Admin",
}


def iana(zone: str) -> str | None:
    """An IANA name for a mailbox's zone: Windows names through CLDR's mapping (the one
    tzlocal maintains), IANA names as they are, None for a custom zone."""
    if not zone:
        return None
    name = win_tz.get(zone, zone)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def work_hours(hours: dict[str, Any]) -> dict[str, Any] | None:
    """A mailbox's workingHours as {days, start, end} (JSON-friendly), or None when
    it says nothing usable. Their zone is read by `mailbox_settings`."""
    days = sorted({DAYS.index(d) for d in hours.get("daysOfWeek") or () if d in DAYS})
    try:
        start = time.fromisoformat(str(hours["startTime"])[:8])
        end = time.fromisoformat(str(hours["endTime"])[:8])
    except (KeyError, ValueError):
        return None
    if not days or end <= start:
        return None
    return {"days": days, "start": start.isoformat(), "end": end.isoformat()}


FALLBACK_ZONE = "planned in this machine's time zone; set `timezone` in the config"
FALLBACK_HOURS = "planned with the default workday; set [workday] in the config"


def mailbox_settings(answer: dict[str, Any]) -> dict[str, Any]:
    """The zone and working hours of a mailboxSettings answer, JSON-friendly:
    {"timezone": name or None, "hours": {days, start, end, zone} or None,
     "custom": the rule of the mailbox's custom zone or None,
     "problems": {"timezone": why it falls back, "hours": why they do}}.

    A zone is an IANA name or, for a custom zone, its rule (worker.zones). Working hours
    keep their own zone, which need not be the mailbox's: they are a weekly wall-clock
    rule in that zone. A custom zone's definition travels only in workingHours.timeZone
    (Graph's mailboxSettings.timeZone is a bare string), so it serves as the mailbox's
    zone too when that string names no zone.
    """
    raw = str(answer.get("timeZone") or "")
    hours = answer.get("workingHours") or {}
    hours_tz = hours.get("timeZone") or {}
    hours_name = str(hours_tz.get("name") or "")
    custom, why = None, ""
    if "bias" in hours_tz or "customTimeZone" in str(hours_tz.get("@odata.type") or ""):
        try:
            custom = custom_rule(hours_tz)
        except (KeyError, TypeError, ValueError) as exc:
            why = f"its custom definition is unusable: {exc}"
    hours_zone: str | None
    if custom is not None:
        hours_zone = custom
    elif hours_name and not why:
        hours_zone = iana(hours_name)
        why = "" if hours_zone else "a custom zone with no definition"
    else:
        hours_zone = None if why else ""  # "": none given, the mailbox's own
    zone = iana(raw) or custom or (iana(hours_name) if hours_name else None)
    problems = {"timezone": "", "hours": ""}
    if zone is None and not raw:
        problems["timezone"] = f"the mailbox has no time zone: {FALLBACK_ZONE}"
    elif zone is None:
        why = why or "no zone has that name"
        problems["timezone"] = f"the mailbox's time zone {raw!r} cannot be used ({why}):"
        problems["timezone"] += f" {FALLBACK_ZONE}"
    parsed = work_hours(hours)
    if parsed is None:
        problems["hours"] = f"the mailbox's working hours are missing or unusable: {FALLBACK_HOURS}"
    elif hours_zone is None:
        problems["hours"] = (
            f"the mailbox's working hours are in the time zone {hours_name!r}, which cannot be"
            f" used ({why}): {FALLBACK_HOURS}"
        )
        parsed = None
    else:
        parsed["zone"] = hours_zone or zone or ""
    return {"timezone": zone, "hours": parsed, "custom": custom, "problems": problems}


def custom_rule(definition: dict[str, Any]) -> str:
    """The rule (worker.zones) of a Graph customTimeZone. Raises ValueError (or KeyError,
    TypeError for values of the wrong shape), saying why, when it cannot be built.

    The sign of `bias`: Graph's reference says zones ahead of UTC have a positive bias,
    but real mailboxes answer with Windows' convention, UTC = local time + bias (+ the
    daylightBias in daylight time): a US Pacific mailbox reads bias 480
    (microsoftgraph/microsoft-graph-docs issue #15217, "Instructions for customTimeZone
    bias seem incorrect", with the docs-contrib copy #562), the docs' own answer for a
    UTC+03:20 zone reads bias -200 (api-reference/v1.0/api/user-update-mailboxsettings.md,
    example 2), and Outlook's TimeZone.Bias reference gives Pacific as Bias 480 with
    DaylightBias -60. A transition's time is local time before the change, its
    dayOccurrence 1-5 (5: the last), and year 0 means every year (standardTimeZoneOffset).
    """
    bias = definition.get("bias")
    if not isinstance(bias, int) or isinstance(bias, bool):
        raise ValueError(f"no bias in minutes ({bias!r})")
    east = -bias
    standard = definition.get("standardOffset") or {}
    daylight = definition.get("daylightOffset") or {}
    shift = int(daylight.get("daylightBias") or 0)
    if not shift or not int(standard.get("month") or 0) or not int(daylight.get("month") or 0):
        return zones.rule(east)  # no daylight time
    if int(standard.get("year") or 0) or int(daylight.get("year") or 0):
        raise ValueError("daylight time that does not recur every year")
    return zones.rule(east, east - shift, _transition(daylight), _transition(standard))


def _transition(offset: dict[str, Any]) -> zones.Transition:
    weekday = str(offset.get("dayOfWeek") or "").lower()
    if weekday not in DAYS:
        raise ValueError(f"no such day of the week: {weekday!r}")
    return zones.Transition(
        month=int(offset["month"]),
        week=int(offset["dayOccurrence"]),
        weekday=(DAYS.index(weekday) + 1) % 7,  # DAYS starts on Monday; POSIX on Sunday
        clock=time.fromisoformat(str(offset.get("time") or "00:00:00")[:8]),
    )


def when(value: dict[str, Any] | None, all_day: bool, zone: ZoneInfo) -> datetime:
    """A Graph dateTimeTimeZone as an aware datetime; all-day dates are midnights in
    the user's zone, as calendar apps show them. Raises ValueError."""
    value = value or {}
    text = str(value["dateTime"])
    if all_day:
        return at(date.fromisoformat(text[:10]), time(0), zone)
    moment = datetime.fromisoformat(text[:26])  # Graph sends seven fractional digits
    if moment.tzinfo is None:
        named = str(value.get("timeZone") or "UTC")
        # UTC (what we ask for) as the planner writes it: a steady cycle then compares
        # blocks without converting them. A named zone's wall time may fall in a DST gap.
        if named == "UTC":
            moment = moment.replace(tzinfo=UTC)
        else:
            moment = localize(moment, ZoneInfo(iana(named) or "UTC"))
    return moment


def _prop(item: dict[str, Any], prop: str) -> str | None:
    wanted = prop.lower()
    for p in item.get("singleValueExtendedProperties") or ():
        ident = p.get("id")
        # Graph answers with the id as asked; the case-blind compare is the fallback.
        if ident == prop or str(ident or "").lower() == wanted:
            return str(p.get("value", ""))
    return None


def is_owned(item: dict[str, Any]) -> bool:
    """A block: tagged, and a single event. A tagged series (the user made a block
    recur) or an occurrence of one is the user's own."""
    return _prop(item, BLOCK_PROP) is not None and item.get("type", "singleInstance") in (
        "singleInstance",
        None,
    )


_UTC = ZoneInfo("UTC")  # only for all-day dates, which a block never has


def to_block(item: dict[str, Any]) -> Block:
    """One of our blocks. Raises ValueError or KeyError when its tag is damaged."""
    # orjson: a steady cycle reads every block's tag, and json.loads was a tenth of it.
    meta = orjson.loads(_prop(item, BLOCK_PROP) or "")
    if not isinstance(meta, dict):
        raise ValueError("the tag is not a JSON object")
    written = str(meta.get("description", ""))
    body = str((item.get("body") or {}).get("content", ""))
    # Outlook may re-wrap a text body; what the worker wrote counts as unchanged.
    description = written if body == written or _same_text(body, written) else body
    return Block(
        key=str(meta["key"]),
        kind=BlockKind(meta["kind"]),
        day=date.fromisoformat(meta["day"]),
        start=when(item.get("start"), False, _UTC),
        end=when(item.get("end"), False, _UTC),
        title=str(item.get("subject") or ""),
        description=description,
        meeting_id=str(meta.get("meeting", "")),
        written=str(meta.get("written", "")),
        etag=str(item.get("@odata.etag") or item.get("changeKey") or ""),
        ref=str(item.get("id", "")),
        free=item.get("showAs") == "free",
    )


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


def to_event(item: dict[str, Any], zone: ZoneInfo, me: str, fallback: datetime) -> Event:
    """Someone else's event; one that cannot be read is kept, busy, with a problem."""
    ident, title = str(item.get("id", "")), str(item.get("subject") or "")
    all_day = bool(item.get("isAllDay"))
    try:
        start = when(item.get("start"), all_day, zone)
        end = when(item.get("end"), all_day, zone)
    except (KeyError, ValueError) as exc:
        return Event(ident, title, fallback, fallback, problem=f"unreadable time: {exc}")
    show = str(item.get("showAs") or "busy")
    attendees = [
        Attendee(
            email=str((a.get("emailAddress") or {}).get("address", "")).lower(),
            name=str((a.get("emailAddress") or {}).get("name", "")),
            response=RESPONSES.get(
                str((a.get("status") or {}).get("response")), Response.NEEDS_ACTION
            ),
            resource=a.get("type") == "resource",
        )
        for a in item.get("attendees") or ()
        if isinstance(a, dict)
    ]
    mine = RESPONSES.get(str((item.get("responseStatus") or {}).get("response")))
    if me and mine is not None:
        # The mailbox's own answer lives in responseStatus, not among the attendees.
        attendees = [a for a in attendees if a.email != me] + [Attendee(me, response=mine)]
    status = Status.CANCELLED if item.get("isCancelled") else Status.CONFIRMED
    if show == "tentative" and status is Status.CONFIRMED:
        status = Status.TENTATIVE
    return Event(
        id=ident,
        title=title,
        start=start,
        end=max(start, end),
        all_day=all_day,
        status=status,
        transparent=show == "free",
        event_type=EVENT_TYPES.get(show, EventType.DEFAULT),
        attendees=tuple(attendees),
        organizer=str(
            ((item.get("organizer") or {}).get("emailAddress") or {}).get("address", "")
        ).lower(),
        series_id=str(item.get("seriesMasterId") or ident),
        zone=iana(str(item.get("originalStartTimeZone") or "")) or "",
        guests_hidden=bool(item.get("hideAttendees")),
    )


def block_body(block: Block, *, create: bool) -> dict[str, Any]:
    """The event that represents `block`: busy (a hold: tentative; a ramping block:
    free until it turns busy), no attendees, no reminder, tagged."""
    meta = {
        "key": block.key,
        "kind": block.kind.value,
        "day": block.day.isoformat(),
        "meeting": block.meeting_id,
        "written": block.fingerprint,
        "description": block.description,
    }
    body: dict[str, Any] = {
        "subject": block.title,
        "body": {"contentType": "text", "content": block.description},
        "start": _utc(block.start),
        "end": _utc(block.end),
        "showAs": "free" if block.free else "tentative" if block.tentative else "busy",
        "isReminderOn": False,
        "categories": [CATEGORIES[block.kind]],
        "singleValueExtendedProperties": [
            {"id": KEY_PROP, "value": block.key},
            {"id": BLOCK_PROP, "value": json.dumps(meta, sort_keys=True)},
        ],
    }
    if create:
        # Graph drops a repeated POST with the same transactionId: a retried create
        # cannot make a second copy.
        body["transactionId"] = block.id
    return body


def _utc(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def to_message(item: dict[str, Any], *, held: bool) -> Message:
    sender = (item.get("from") or item.get("sender") or {}).get("emailAddress") or {}
    received = datetime.fromisoformat(str(item["receivedDateTime"]).replace("Z", "+00:00"))
    return Message(
        id=str(item["id"]),
        sender=str(sender.get("address", "")).lower(),
        received=received,
        held=held,
        alert=_prop(item, ALERT_PROP) is not None,
    )
