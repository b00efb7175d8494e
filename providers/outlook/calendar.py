"""Blocks in a Microsoft 365 calendar (the mailbox's primary calendar).

Reading: the window's calendar view (recurrences expanded, the worker's property
expanded) is kept with a delta link over the same window; later runs ask the delta
link what changed, so a run in which nothing changed costs one request. Changes that
are only the worker's own writes are already known; others mean a fresh view. An
expired delta (410 or syncStateNotFound) means a fresh start.

Writing: blocks are busy events with a category per kind, no attendees, no reminder.
A create carries a transactionId, so Graph drops a retried POST, and is preceded by a
$filter lookup of the block's key (belt and braces: the transactionId's window is
undocumented). Updates and deletes carry the change key (If-Match): a block the user
just edited is never overwritten (412: re-read, re-plan).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import replace
from datetime import datetime, time, timedelta
from typing import Any

from providers import snapshots
from providers.base import CalendarProvider
from providers.errors import Conflict, NotFound, ProviderError, SyncStateExpired
from providers.memo import covers
from providers.outlook import mapping
from providers.outlook.push import EventsSubscribed
from providers.outlook.session import Call, Session
from worker import zones
from worker.models import Block, Change, Event, Op, Snapshot, Window, WorkHours

PAD_BEFORE, PAD_AFTER = timedelta(days=1), timedelta(days=7)
SELECT = (
    "subject,body,start,end,isAllDay,isCancelled,showAs,responseStatus,attendees,"
    "organizer,seriesMasterId,type,changeKey,originalStartTimeZone,hideAttendees"
)
# What the cache keeps of an event, a write's answer too (which has every field).
KEPT = frozenset({*SELECT.split(","), "id", "@odata.etag", "singleValueExtendedProperties"})
EXPAND = f"singleValueExtendedProperties($filter=id eq '{mapping.BLOCK_PROP}')"
PAGE = "odata.maxpagesize=200"


class OutlookCalendar(CalendarProvider, EventsSubscribed):
    supports_decline = True
    supports_incremental = True

    def __init__(self, session: Session, *, name: str) -> None:
        super().__init__(name=name)
        self.session = session
        self.memo = session.memo
        self.user = session.user
        self._fallbacks: dict[str, str] = {}  # what fell back to defaults, and why
        self._custom = ""  # the custom zone's rule, when the worker plans with it

    def owner(self) -> str:
        return self.session.email

    def notes(self) -> list[str]:
        notes = ["blocks: busy events with a category per kind (Outlook has no Focus Time)"]
        if self._custom:
            notes.append(f"time zone: the mailbox's custom zone, as the rule {self._custom}")
        return notes + list(self._fallbacks.values())

    def timezone(self) -> str | None:
        settings = self._settings()
        self._asked("timezone", settings)
        zone: str | None = settings.get("timezone")
        return zone

    def working_hours(self) -> WorkHours | None:
        settings = self._settings()
        self._asked("hours", settings)
        hours = settings.get("hours")
        if not hours:
            return None
        return WorkHours(
            frozenset(hours["days"]),
            time.fromisoformat(hours["start"]),
            time.fromisoformat(hours["end"]),
            str(hours.get("zone") or ""),
        )

    def _asked(self, what: str, settings: dict[str, Any]) -> None:
        """The worker asked for the zone or the hours: from now on, this run's warnings
        (fetch's problems, `notes`) say where they fell back to defaults. What it did
        not ask for (the config says) is no fallback and goes unsaid."""
        problem = (settings.get("problems") or {}).get(what)
        if problem:
            self._fallbacks[what] = str(problem)
        given = settings.get("timezone") if what == "timezone" else settings.get("hours")
        if isinstance(given, dict):
            given = given.get("zone")
        if given and given == settings.get("custom"):
            self._custom = str(given)

    def _settings(self) -> dict[str, Any]:
        """The mailbox's zone and working hours, read once and remembered."""
        settings: dict[str, Any] | None = self.memo.get("settings")
        if settings is None or "problems" not in settings:  # none, or an older memo's
            answer = self.session.call(Call("GET", f"{self.user}/mailboxSettings"))
            settings = mapping.mailbox_settings(answer)
            self.memo.set("settings", settings)
            self.memo.save()
        return settings

    # -- reading

    def fetch(self, window: Window) -> Snapshot:
        # The items, most of the memo, are read only to map them (providers/memo.py).
        return snapshots.remembered(self.memo, window, self._listing, self._reads, self._mapped)

    def _reads(self) -> Hashable:
        """What the mapping reads besides the items."""
        return (self.session.email.lower(), tuple(self._fallbacks.values()))

    def _mapped(self, items: dict[str, dict[str, Any]], window: Window) -> tuple[Snapshot, bool]:
        """The snapshot, and that it may be kept (always)."""
        problems = list(self._fallbacks.values())
        zone = zones.zone(window.zone)  # a custom zone's rule, too
        events: list[Event] = []
        blocks: list[Block] = []
        me = self.session.email.lower()
        seen: set[str] = set()
        copies: set[str] = set()
        for item in items.values():
            owned = mapping.is_owned(item)
            if item.get("isCancelled") and not owned:
                continue
            if owned:
                try:
                    block = mapping.to_block(item)
                except (KeyError, ValueError, TypeError) as exc:
                    problems.append(f"a block with a damaged tag ({exc}) is treated as busy")
                else:
                    if block.key in seen:
                        # Two events with one key (a copy the user made): the worker
                        # touches neither, both stay busy, and the user is told.
                        problems.append(f"two events carry block {block.key}; leaving both")
                        copies.add(block.key)
                    seen.add(block.key)
                    if window.overlaps(block.start, block.end):
                        blocks.append(block)
                    continue
            event = mapping.to_event(item, zone, me, window.start)
            if event.problem:
                problems.append(f"{event.title or event.id}: {event.problem}")
            if event.problem or window.overlaps(event.start, event.end):
                events.append(event)
        events.sort(key=lambda e: (e.start, e.id))
        # A copied block counts as the user's: "touched", so never moved or deleted.
        blocks = [replace(b, written="copied") if b.key in copies else b for b in blocks]
        blocks.sort(key=lambda b: (b.start, b.key))
        return Snapshot(tuple(events), tuple(blocks), tuple(problems)), True

    def _listing(self, window: Window) -> None:
        """Bring the remembered listing up to date over `window`: from its delta link,
        or afresh. Its items stay where they are until asked for (Memo.items)."""
        cache = self.memo.get("calendar")
        if self.quiet and cache and cache.get("delta") and covers(cache, window):
            return  # as last read; our own writes are in it
        link = None
        if cache and cache.get("delta") and covers(cache, window):
            try:
                changed, link = self._delta(Call("GET", cache["delta"], prefer=PAGE))
            except SyncStateExpired:
                link = None  # documented: start again with a full sync
            else:
                written: dict[str, str] = cache.get("written") or {}
                if all(written.get(str(c.get("id"))) == _version(c) for c in changed):
                    cache.update(delta=link, written={})  # nothing, or only our own writes
                    self._remember(cache)
                    return
        if link is not None:
            # The delta link goes on covering the span it was made for: read that span
            # again, so the two never drift apart.
            start, end = (
                datetime.fromisoformat(cache["start"]),
                datetime.fromisoformat(cache["end"]),
            )
        else:
            start, end = window.start - PAD_BEFORE, window.end + PAD_AFTER
        span = {"startDateTime": _iso(start), "endDateTime": _iso(end)}
        link_is_new = link is None
        if link is None:
            link = self._fresh_delta(span)
        view = self.session.pages(
            Call(
                "GET",
                f"{self.user}/calendar/calendarView",
                {**span, "$select": SELECT, "$expand": EXPAND, "$top": "500"},
            )
        )
        items = {str(i["id"]): _trim(i) for i in view}
        if link_is_new:
            self.memo.set("settings", None)  # read the zone and hours again, about weekly
        cache = {"start": _iso(start), "end": _iso(end), "delta": link, "items": items}
        cache["stamp"] = snapshots.stamp()
        self._remember(cache)

    def _fresh_delta(self, span: dict[str, str]) -> str:
        """A new delta round over `span`; its pages can expire too while being read
        (the server's token cache is shared): then once more from the start."""
        start = Call("GET", f"{self.user}/calendarView/delta", span, prefer=PAGE)
        for _ in range(2):
            try:
                return self._delta(start)[1]
            except SyncStateExpired:
                continue
        return self._delta(start)[1]

    def _delta(self, first: Call) -> tuple[list[dict[str, Any]], str]:
        changed: list[dict[str, Any]] = []
        answer = self.session.call(first)
        while True:
            changed += answer.get("value") or []
            if answer.get("@odata.deltaLink"):
                return changed, str(answer["@odata.deltaLink"])
            link = answer.get("@odata.nextLink")
            if not link:
                raise SyncStateExpired("a delta page with no link", where=self.session.where)
            answer = self.session.call(Call("GET", str(link), prefer=PAGE))

    def _remember(self, cache: dict[str, Any]) -> None:
        cache.setdefault("stamp", snapshots.stamp())  # a memo from before stamps
        self.memo.set("calendar", cache)
        self.memo.save()

    # -- answering an invitation

    def decline(self, event: Event, message: str) -> None:
        """Graph's own action: it sets the mailbox's answer and nothing else. Sent once
        (a retry after a lost answer would mail the organizer twice)."""
        body = {"comment": message, "sendResponse": True}
        call = Call("POST", f"{self.user}/events/{event.id}/decline", body=body, idempotent=False)
        self.session.call(call)
        # The cache answers a quiet cycle: it must not show the invitation still waiting.
        item = (snapshots.kept_items(self.memo) or {}).get(event.id)
        if item is not None:
            item["responseStatus"] = {"response": "declined"}
            self.memo.get("calendar")["stamp"] = snapshots.stamp()  # the items changed
            self.memo.save()

    # -- writing

    def _apply(self, changes: Sequence[Change]) -> list[Change]:
        existing = self._lookup([c.block for c in changes if c.op is Op.CREATE])
        results: dict[Change, Any] = {
            c: NotFound("no such block here", where=self.session.where)
            for c in changes
            if c.op is not Op.CREATE and not (c.before and c.before.ref)
        }
        sent = [
            c
            for c in changes
            if c not in results and not (c.op is Op.CREATE and c.block.key in existing)
        ]
        results |= dict(zip(sent, self._send([self._call(c) for c in sent]), strict=True))
        applied: list[Change] = []
        first_error: ProviderError | None = None
        for change in changes:
            try:
                if change in results:
                    done = self._settle(change, results[change])
                else:
                    there = existing[change.block.key]
                    if isinstance(there, ProviderError):
                        raise there
                    done = self._settle_existing(change, there)
            except ProviderError as exc:
                first_error = first_error or exc
                continue
            if done is not None:
                applied.append(done)
        self.memo.save()
        if first_error is not None:
            raise first_error
        return applied

    def _lookup(self, blocks: list[Block]) -> dict[str, dict[str, Any] | ProviderError]:
        """Blocks of these keys that exist already (anywhere in the calendar), or the
        error that kept a key from being looked up."""
        lookups = [
            Call(
                "GET",
                f"{self.user}/events",
                {
                    "$filter": "singleValueExtendedProperties/Any(ep: ep/id eq "
                    f"'{mapping.KEY_PROP}' and ep/value eq '{_quote(b.key)}')",
                    "$expand": EXPAND,
                    "$select": SELECT,
                },
            )
            for b in blocks
        ]
        found: dict[str, dict[str, Any] | ProviderError] = {}
        for block, answer in zip(blocks, self._send(lookups), strict=True):
            if isinstance(answer, ProviderError):
                # Not known whether it exists: no create for it now; the others go on,
                # and the next cycle tries this one again.
                found[block.key] = answer
                continue
            items = [i for i in (answer or {}).get("value") or () if mapping.is_owned(i)]
            if items:
                found[block.key] = items[0]
        return found

    def _call(self, change: Change) -> Call:
        block = change.block
        if change.op is Op.CREATE:
            return Call("POST", f"{self.user}/events", body=mapping.block_body(block, create=True))
        assert change.before is not None  # the base class checked
        path = f"{self.user}/events/{change.before.ref}"
        if change.op is Op.UPDATE:
            body = mapping.block_body(block, create=False)
            return Call("PATCH", path, body=body, etag=change.before.etag)
        return Call("DELETE", path, etag=change.before.etag)

    def _send(self, calls: list[Call]) -> list[Any]:
        if len(calls) > 1:
            return self.session.batch(calls)
        try:
            return [self.session.call(c) for c in calls]
        except ProviderError as exc:
            return [exc]

    def _settle(self, change: Change, result: Any) -> Change | None:
        where = self.session.where
        if isinstance(result, ProviderError):
            if change.op is Op.DELETE and isinstance(result, NotFound):
                self._forget(change.before)
                return change  # gone already: deleting twice is fine
            if change.op is Op.UPDATE and isinstance(result, NotFound):
                raise Conflict(f"block {change.block.key} is gone", where=where)
            raise result
        if change.op is Op.DELETE:
            self._forget(change.before)
            return change
        return self._written(change, result or {})

    def _settle_existing(self, change: Change, item: dict[str, Any]) -> Change | None:
        """A block of this key is there already: an earlier run's, or changed by the user."""
        found = mapping.to_block(item)
        if found.touched:
            raise Conflict(
                f"block {change.block.key} was changed meanwhile", where=self.session.where
            )
        if found.fingerprint == change.block.fingerprint:
            return self._written(change, item)
        path = f"{self.user}/events/{item['id']}"
        body = mapping.block_body(change.block, create=False)
        return self._written(
            change, self.session.call(Call("PATCH", path, body=body, etag=found.etag))
        )

    def _written(self, change: Change, item: dict[str, Any]) -> Change:
        """Remember the write, so the next delta does not read it back as news."""
        block = mapping.block_body(change.block, create=False)
        item = {k: v for k, v in item.items() if k in KEPT}
        item["singleValueExtendedProperties"] = block["singleValueExtendedProperties"]
        item.setdefault("body", block["body"])
        items = snapshots.kept_items(self.memo)
        if items is not None and item.get("id"):
            cache = self.memo.get("calendar")
            items[str(item["id"])] = item
            cache.setdefault("written", {})[str(item["id"])] = _version(item)
            cache["stamp"] = snapshots.stamp()
        etag = str(item.get("@odata.etag") or item.get("changeKey") or "")
        written = replace(
            change.block, written=change.block.fingerprint, etag=etag, ref=str(item.get("id", ""))
        )
        return replace(change, block=written)

    def _forget(self, block: Block | None) -> None:
        items = snapshots.kept_items(self.memo)
        if items is not None and block and block.ref:
            cache = self.memo.get("calendar")
            items.pop(block.ref, None)
            cache.setdefault("written", {})[block.ref] = "removed"
            cache["stamp"] = snapshots.stamp()


def _trim(item: dict[str, Any]) -> dict[str, Any]:
    """What the cache keeps: other people's event bodies stay with Microsoft."""
    if mapping.is_owned(item):
        return item
    return {k: v for k, v in item.items() if k != "body"}


def _version(item: dict[str, Any]) -> str:
    if "@removed" in item:
        return "removed"
    return str(item.get("changeKey") or "")


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _quote(value: str) -> str:
    return value.replace("'", "''")  # OData string literal
