"""Blocks in a Google Calendar (the primary calendar of the connected account).

Reading: the planning window is listed once (recurrences expanded) and the list's
sync token is kept with the events it covers; later runs ask only for what changed,
so a run in which nothing changed costs one small request. A 410 (token expired)
or a window beyond the cached span means a fresh windowed list. The listing is
stamped afresh whenever its items change, and a steady read gives back the snapshot
kept by that stamp (providers/snapshots.py) without reading or mapping the items.

Writing: blocks have deterministic client-chosen ids, so a retried insert cannot make
a second copy (409 means "there already": read it and reconcile). Updates carry
If-Match, so a block the user just edited is never overwritten (412: re-read, re-plan).
The worker removes a block by cancelling it with a "retired" mark in the same write,
so a block the user deleted stays deleted even when local state is lost.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from googleapiclient.http import HttpRequest

from providers import snapshots
from providers.base import CalendarProvider
from providers.errors import BadRequest, Conflict, NotFound, ProviderError, SyncStateExpired
from providers.google import mapping
from providers.google.push import CALENDAR, CalendarWatch
from providers.google.session import Session
from providers.memo import covers
from worker.models import Block, Change, Event, Op, Snapshot, Window

PAGE = 2500  # the documented maximum: most calendars fit in one page
PAD_BEFORE, PAD_AFTER = timedelta(days=1), timedelta(days=7)
DECLINE_MODES = {
    "none": "declineNone",
    "new": "declineOnlyNewConflictingInvitations",
    "all": "declineAllConflictingInvitations",
}


class GoogleCalendar(CalendarProvider, CalendarWatch):
    supports_focus_time = True
    supports_decline = True
    supports_incremental = True

    def __init__(self, session: Session, *, name: str) -> None:
        super().__init__(name=name)
        self.session = session
        self.memo = session.memo
        # What `timezone` learnt from the sync token, for the `fetch` that follows.
        self._synced: tuple[list[dict[str, Any]], str | None] | None = None
        # Focus Time blocks whose auto-decline is not what the settings say.
        self._stale_focus: list[tuple[Block, dict[str, Any]]] = []

    @property
    def _events(self) -> Any:
        return self.session.calendar.events()

    def timezone(self) -> str | None:
        """The calendar's zone as it is now. Every listing answer carries it, so with a
        sync token this asks what changed first: the request `fetch` sends anyway, sent
        a moment earlier, and kept for it. A zone just changed in Calendar's settings is
        then planned in by the run that sees it, not one run late. Without a token (the
        first run, a lost memo) the memo or else the setting says; after an expired token,
        the setting: the zone may have changed since the memo's."""
        self._synced = None
        known = True
        cache = self.memo.get("calendar")
        if self.quiet and self.memo.get("timezone"):
            return str(self.memo.get("timezone"))
        if cache and cache.get("token"):
            try:
                self._synced = self._list(syncToken=cache["token"])  # sets "timezone"
            except SyncStateExpired:
                cache["token"] = None  # fetch lists in full, as it would have
                known = False
        zone: str | None = self.memo.get("timezone") if known else None
        if not zone:
            setting = self.session.call(self.session.calendar.settings().get(setting="timezone"))
            zone = str(setting.get("value") or "") or None
            self.memo.set("timezone", zone)
            self.memo.save()
        return zone

    def owner(self) -> str:
        return self.session.options.email

    def notes(self) -> list[str]:
        focus = self.memo.get("focus_time")
        if focus is None:
            return ["blocks: Focus Time where the account has it (not tried yet)"]
        if focus and self.session.options.native_declines:
            return ["blocks: Focus Time events that decline conflicting invitations"]
        if focus:
            # Under `decline = "internal"` firstblock answers colleagues itself.
            return ["blocks: Focus Time events (auto-decline off: a client is never declined)"]
        return ["blocks: busy (opaque) events; this account has no Focus Time"]

    # -- reading

    def fetch(self, window: Window) -> Snapshot:
        self._stale_focus = []
        return snapshots.remembered(self.memo, window, self._listing, self._reads, self._mapped)

    def _mapped(self, items: dict[str, dict[str, Any]], window: Window) -> tuple[Snapshot, bool]:
        zone = ZoneInfo(window.zone)
        events: list[Event] = []
        blocks: list[Block] = []
        problems: list[str] = []
        for item in items.values():
            if item.get("status") == "cancelled":
                continue
            if mapping.is_owned(item):
                try:
                    block = mapping.to_block(item, zone)
                except (KeyError, ValueError) as exc:
                    problems.append(f"a block with a damaged tag ({exc}) is treated as busy")
                else:
                    if window.overlaps(block.start, block.end):
                        blocks.append(block)
                        self._check_focus(block, item)
                    continue
            event = mapping.to_event(item, zone, window.start, self.session.options.email)
            if event.problem:
                problems.append(f"{event.title or event.id}: {event.problem}")
            if event.problem or window.overlaps(event.start, event.end):
                events.append(event)
        events.sort(key=lambda e: (e.start, e.id))
        blocks.sort(key=lambda b: (b.start, b.key))
        # A block to mend is noted while mapping: such a snapshot is not given back.
        return Snapshot(tuple(events), tuple(blocks), tuple(problems)), not self._stale_focus

    def _reads(self) -> Hashable:
        """What the mapping reads besides the items: the focus settings too."""
        o = self.session.options
        return (o.email.lower(), o.auto_decline, o.native_declines, o.decline_message)

    def _listing(self, window: Window) -> None:
        """Bring the remembered listing up to date over `window`: from its sync token,
        or afresh. A change to its items gives it a new stamp."""
        cache = self.memo.get("calendar")
        synced, self._synced = self._synced, None  # asked by `timezone` just before
        trusted = self.quiet and synced is None and cache and not cache.get("written")
        if trusted and cache.get("token") and covers(cache, window):
            return  # as last read, with nothing written since
        if cache and cache.get("token") and covers(cache, window):
            try:
                changed, token = (
                    synced if synced is not None else self._list(syncToken=cache["token"])
                )
            except SyncStateExpired:
                pass  # the documented answer: forget the cursor, list in full
            else:
                # A changed series comes back as its new occurrences, while the old
                # ones may never be cancelled: list the window again instead.
                recurring = any(i.get("recurringEventId") or i.get("recurrence") for i in changed)
                items = snapshots.kept_items(self.memo) if changed and not recurring else {}
                if not recurring and items is not None:
                    for item in changed:
                        _merge(items, item)
                    cache["token"], cache["written"] = token, False
                    if changed or not cache.get("stamp"):  # a memo from before stamps too
                        cache["stamp"] = snapshots.stamp()
                    self.memo.set("calendar", cache)
                    self.memo.save()
                    return
        start, end = window.start - PAD_BEFORE, window.end + PAD_AFTER
        listed, token = self._list(timeMin=_rfc3339(start), timeMax=_rfc3339(end))
        items = {str(i["id"]): _trim(i) for i in listed if i.get("status") != "cancelled"}
        cache = {"start": _rfc3339(start), "end": _rfc3339(end), "token": token, "items": items}
        cache["stamp"] = snapshots.stamp()
        self.memo.set("calendar", cache)
        self.memo.save()

    def _list(self, **params: str) -> tuple[list[dict[str, Any]], str | None]:
        items: list[dict[str, Any]] = []
        page: str | None = None
        while True:
            request = self._events.list(
                calendarId=CALENDAR,
                singleEvents=True,
                maxResults=PAGE,
                pageToken=page,
                fields=f"items({mapping.FIELDS}),nextPageToken,nextSyncToken,timeZone",
                **params,
            )
            answer = self.session.call(request)
            items += answer.get("items") or []
            page = answer.get("nextPageToken")
            if not page:
                zone = answer.get("timeZone")
                if zone and zone != self.memo.get("timezone"):
                    self.memo.set("timezone", zone)  # the user moved: follow them
                return items, answer.get("nextSyncToken")

    # -- answering an invitation

    def decline(self, event: Event, message: str) -> None:
        """Patch the owner's own attendee entry: read first, for the whole list (a
        patch replaces arrays) and its etag, so nothing else about it can change."""
        where = self.session.where
        item = self._get(event.id)
        if item is None or item.get("status") == "cancelled":
            raise NotFound(f"invitation {event.title!r} is gone", where=where)
        found = mapping.to_event(item, ZoneInfo("UTC"), event.start)
        if (found.start, found.end) != (event.start, event.end):
            raise Conflict(f"invitation {event.title!r} moved since it was read", where=where)
        attendees = list(item.get("attendees") or ())
        mine = [a for a in attendees if a.get("self")]
        if not mine or (item.get("organizer") or {}).get("self"):
            raise BadRequest(f"{event.title!r} is not an invitation to you", where=where)
        if mine[0].get("responseStatus", "needsAction") != "needsAction":
            raise Conflict(f"invitation {event.title!r} was answered meanwhile", where=where)
        answer = {"responseStatus": "declined", **({"comment": message} if message else {})}
        body = {"attendees": [{**a, **answer} if a.get("self") else a for a in attendees]}
        # sendUpdates: the organizer hears the answer and its message, as from a person.
        request = self._events.patch(
            calendarId=CALENDAR, eventId=event.id, body=body, sendUpdates="all"
        )
        self._mark_written()
        # Sent once: a retry after a lost answer would meet its own 412 and report a
        # refusal for a decline that was made.
        self.session.call(request, etag=str(item.get("etag", "")), idempotent=False)

    def _mark_written(self) -> None:
        cache = self.memo.get("calendar")
        if cache:  # our writes are not in it until the next listing: no quiet answer
            cache["written"] = True
            self.memo.save()

    # -- writing

    def _apply(self, changes: Sequence[Change]) -> list[Change]:
        self._mark_written()
        focus = self._may_focus()
        results = self._send([self._request(c, focus) for c in changes])
        if focus:
            # Google's answer to Focus Time on an account without it is a 400 (its
            # reason is not documented): try those blocks as opaque events, and only
            # when that works, remember that this account has no Focus Time.
            refused = [
                i
                for i, (c, r) in enumerate(zip(changes, results, strict=True))
                if c.op is Op.CREATE and not (c.block.tentative or c.block.free)  # no Focus
                if isinstance(r, BadRequest) and r.status == 400
            ]
            if refused:
                again = self._send([self._request(changes[i], False) for i in refused])
                for i, r in zip(refused, again, strict=True):
                    results[i] = r
                if any(isinstance(r, dict) for r in again):
                    self.memo.set("focus_time", False)
            elif any(
                c.op is Op.CREATE and isinstance(r, dict)
                for c, r in zip(changes, results, strict=True)
            ):
                self.memo.set("focus_time", True)
        applied: list[Change] = []
        first_error: ProviderError | None = None
        for change, result in zip(changes, results, strict=True):
            try:
                done = self._settle(change, result)
            except ProviderError as exc:
                first_error = first_error or exc
                continue
            if done is not None:
                applied.append(done)
        self.memo.save()
        if first_error is not None:
            raise first_error
        return applied

    def _check_focus(self, block: Block, item: dict[str, Any]) -> None:
        """Note a Focus Time block whose auto-decline the settings no longer want (a
        block written before `decline` existed declined clients too): `upkeep` mends it."""
        props = item.get("focusTimeProperties")
        if item.get("eventType") != "focusTime" or not isinstance(props, dict) or block.touched:
            return
        wanted = self._focus(block)
        if props.get("autoDeclineMode") != wanted["autoDeclineMode"]:
            self._stale_focus.append((block, {**props, **wanted}))

    def upkeep(self) -> None:
        stale, self._stale_focus = self._stale_focus, []
        if not stale:
            return
        self._mark_written()
        requests = []
        for block, props in stale:
            patch = self._events.patch(
                calendarId=CALENDAR, eventId=block.id, body={"focusTimeProperties": props}
            )
            patch.headers["If-Match"] = block.etag  # one the user just changed is theirs
            requests.append(patch)
        failed = [r for r in self._send(requests) if isinstance(r, ProviderError)]
        if failed:
            raise failed[0]

    def _may_focus(self) -> bool:
        return self.memo.get("focus_time") is not False and self.session.options.focus_time

    def _focus(self, block: Block) -> dict[str, str]:
        """Focus Time properties for a new block. Google's auto-decline cannot tell a
        colleague from a client: it is on only for kinds that decline everyone; under
        `internal` firstblock answers colleagues itself (`decline`)."""
        options = self.session.options
        mode = options.auto_decline if block.kind.value in options.native_declines else "none"
        focus = {"autoDeclineMode": DECLINE_MODES.get(mode, mode)}
        if options.decline_message and mode != "none":
            focus["declineMessage"] = options.decline_message
        return focus

    def _request(self, change: Change, focus: bool) -> HttpRequest:
        block = change.block
        if change.op is Op.CREATE:
            body = mapping.block_body(block, focus=self._focus(block) if focus else None)
            request: HttpRequest = self._events.insert(calendarId=CALENDAR, body=body)
            return request
        body = mapping.content(block) if change.op is Op.UPDATE else mapping.retire_body()
        request = self._events.patch(calendarId=CALENDAR, eventId=block.id, body=body)
        assert change.before is not None  # the base class checked
        if change.before.etag:
            request.headers["If-Match"] = change.before.etag
        return request

    def _send(self, requests: list[HttpRequest]) -> list[Any]:
        if len(requests) > 1:
            return self.session.batch("calendar", requests)
        try:
            return [self.session.call(requests[0])]
        except ProviderError as exc:
            return [exc]

    def _settle(self, change: Change, result: Any) -> Change | None:
        """The change as applied, None when there was nothing to do, or an error."""
        if isinstance(result, dict):
            return _written(change, str(result.get("etag", "")))
        assert isinstance(result, ProviderError)
        if change.op is Op.CREATE and isinstance(result, Conflict):
            return self._settle_existing(change)
        if change.op is Op.DELETE and isinstance(result, Conflict | NotFound):
            return self._settle_delete(change)
        if change.op is Op.UPDATE and isinstance(result, NotFound):
            raise Conflict(f"block {change.block.key} is gone", where=self.session.where)
        raise result

    def _get(self, event_id: str) -> dict[str, Any] | None:
        try:
            item: dict[str, Any] = self.session.call(
                self._events.get(calendarId=CALENDAR, eventId=event_id)
            )
        except NotFound:
            return None
        return item

    def _settle_existing(self, change: Change) -> Change | None:
        """A create whose id exists: our earlier write, a retired block, or a tombstone."""
        block, where = change.block, self.session.where
        item = self._get(block.id)
        cancelled = item is not None and item.get("status") == "cancelled"
        if cancelled and not mapping.is_retired(item or {}):
            # The user deleted it: it stays deleted. (Google promises only the id of a
            # deleted event; without the worker's mark, it counts as the user's delete.)
            return None
        if item is None or not mapping.is_owned(item):
            raise Conflict(f"id of block {block.key} is taken", where=where)
        if not cancelled:
            found = mapping.to_block(item, ZoneInfo("UTC"))
            if found.touched:
                raise Conflict(f"block {block.key} was changed meanwhile", where=where)
            if found.fingerprint == block.fingerprint:
                return _written(change, found.etag)  # our own earlier insert
        patch = self._events.patch(
            calendarId=CALENDAR, eventId=block.id, body=mapping.content(block)
        )
        answer = self.session.call(patch, etag=str(item.get("etag", "")))
        return _written(change, str(answer.get("etag", "")))

    def _settle_delete(self, change: Change) -> Change | None:
        item = self._get(change.block.id)
        if item is None or item.get("status") == "cancelled":
            return change  # gone already: deleting twice is fine
        found = mapping.to_block(item, ZoneInfo("UTC"))
        if found.touched:
            raise Conflict(
                f"block {change.block.key} was changed meanwhile", where=self.session.where
            )
        patch = self._events.patch(
            calendarId=CALENDAR, eventId=found.id, body=mapping.retire_body()
        )
        self.session.call(patch, etag=found.etag)
        return change


def _written(change: Change, etag: str) -> Change:
    if change.op is Op.DELETE:
        return change
    block = replace(change.block, written=change.block.fingerprint, etag=etag)
    return replace(change, block=block)


def _merge(items: dict[str, dict[str, Any]], item: dict[str, Any]) -> None:
    ident = str(item.get("id", ""))
    if item.get("status") == "cancelled":
        items.pop(ident, None)
        # A whole series cancelled: its instances go with it.
        for key in [k for k, v in items.items() if v.get("recurringEventId") == ident]:
            del items[key]
    elif ident:
        items[ident] = _trim(item)


def _trim(item: dict[str, Any]) -> dict[str, Any]:
    """What the cache keeps: the fields the mapping reads, only our private keys, and
    no one else's description (a meeting's notes stay with Google)."""
    keep = {k: item[k] for k in mapping.FIELDS.split(",") if k in item}
    if not mapping.is_owned(item):
        keep.pop("description", None)
    private = (item.get("extendedProperties") or {}).get("private") or {}
    ours = {k: v for k, v in private.items() if str(k).startswith(mapping.TAG)}
    keep.pop("extendedProperties", None)
    if ours:
        keep["extendedProperties"] = {"private": ours}
    if "attendees" in keep:
        fields = ("email", "displayName", "responseStatus", "resource", "self")
        keep["attendees"] = [{k: a[k] for k in fields if k in a} for a in keep["attendees"]]
    return keep


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat()
