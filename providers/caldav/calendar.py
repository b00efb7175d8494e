"""Blocks in a CalDAV calendar collection (Radicale, Nextcloud, Fastmail, iCloud, ...).

Reading: listing.py fetches the resources' texts with as few requests as the server
allows; they are read by the same code as a local .ics file (providers/local/ics.py):
series, overrides, time zones and firstblock's tags alike. A resource that cannot be
parsed is reported among the problems; one bad resource spoils only itself.

Writing: a block is its own resource, named from its UID (which derives from its
key). A create is a PUT with If-None-Match: *, so a retried one finds its first copy
(412) instead of making a second; updates and deletes carry If-Match with the ETag
read, so a block the user changed meanwhile is theirs (412: Conflict). Writes are one
request each, not all-or-nothing: CalDAV has no transactions.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import icalendar
import urllib3

from providers.base import CalendarProvider
from providers.caldav.listing import Items, Listing
from providers.caldav.transport import Client, Observer
from providers.errors import Conflict, DataError, NotFound
from providers.local import ics
from worker.clock import Clock, SystemClock
from worker.models import Block, Change, Op, Snapshot, Window
from worker.text import excerpt

_WRAP = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//firstblock//firstblock//EN\r\n%sEND:VCALENDAR\r\n"
)
_ICS = {"Content-Type": "text/calendar; charset=utf-8"}


@dataclass(frozen=True)
class _Read:
    """The collection as read for one zone: what ics prepared, the resources that
    could not be parsed, and where each UID lives (href, ETag)."""

    key: tuple[Any, ...]
    prepared: ics.Prepared
    unreadable: tuple[str, ...]
    where: Mapping[str, tuple[str, str]]


class CalDAVCalendar(CalendarProvider):
    #: sync-collection where the collection offers it (set per instance after a read).
    supports_incremental = True

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        *,
        name: str = "caldav",
        clock: Clock | None = None,
        memo: dict[str, Any] | None = None,
        save: Callable[[], None] | None = None,
        pool: urllib3.PoolManager | None = None,
        observe: Observer | None = None,
        attempts: int = 4,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`url` is the calendar collection's. `memo` is kept in (JSON-safe) and `save`
        called after it changed, to persist it; see listing.py. `attempts` and `sleep`
        are the retry policy's (providers/retry.py)."""
        super().__init__(name=name)
        self.clock = clock or SystemClock()
        self.client = Client(
            url,
            username,
            password,
            clock=self.clock,
            pool=pool,
            observe=observe,
            attempts=attempts,
            sleep=sleep,
        )
        self.memo = memo if memo is not None else {}
        self.listing = Listing(self.client, self.memo, save)
        self._parsed: dict[str, tuple[str, icalendar.Calendar | str]] = {}
        self._read: _Read | None = None

    def __repr__(self) -> str:
        return f"CalDAVCalendar({self.client.url!r}, user={self.client.username!r})"

    @property
    def requests(self) -> int:
        """Requests sent so far, whatever became of them."""
        return self.client.requests

    def notes(self) -> list[str]:
        return [f"blocks: busy events in {self.client.url}"]

    # -- reading

    def timezone(self) -> str | None:
        with _collection(self.client.url):
            state = self.listing.state() or self.listing.properties()
        for name in (state.get("zone_id", ""), _declared(state.get("zone_text", ""))):
            # ics's own resolution: IANA names, and the Windows ones Outlook writes.
            zone = ics._iana(name) if name else None
            if zone:
                return zone
        return None

    def fetch(self, window: Window) -> Snapshot:
        with _collection(self.client.url):
            items = self.listing.items(window, quiet=self.quiet)
        state = self.listing.state()
        self.supports_incremental = bool(state and state.get("token"))
        read = self._prepare(items, window.zone)
        parsed = ics.expand(read.prepared, window)
        blocks = [replace(b, etag=read.where[b.id][1]) for b in parsed.blocks]
        events = sorted(parsed.events, key=lambda e: (e.start, e.id))
        problems = dict.fromkeys([*read.unreadable, *parsed.problems])
        return Snapshot(
            tuple(events), tuple(sorted(blocks, key=lambda b: (b.start, b.key))), tuple(problems)
        )

    def _prepare(self, items: Items, zone: str) -> _Read:
        """Every resource in one calendar, prepared by ics; kept while the resources
        and the zone stay the same (a steady cycle parses nothing)."""
        # The ETag names a resource's version; a server that gives none, its text.
        key = (zone, tuple(sorted((h, etag or text) for h, (etag, text) in items.items())))
        if self._read is not None and self._read.key == key:
            return self._read
        combined = icalendar.Calendar()
        zones: set[str] = set()
        unreadable: list[str] = []
        where: dict[str, tuple[str, str]] = {}
        self._parsed = {h: p for h, p in self._parsed.items() if h in items}
        for href in sorted(items):
            etag, text = items[href]
            cal = self._parse(href, etag, text)
            if isinstance(cal, str):
                unreadable.append(f"calendar entry {href}: cannot read it ({cal}); not placed")
                continue
            ignored = cal.get(ics.IGNORED, [])
            for problem in ignored if isinstance(ignored, list) else [ignored]:
                combined.add(ics.IGNORED, problem)
            for c in cal.subcomponents:
                if c.name == "VTIMEZONE" and str(c.get("TZID", "")) not in zones:
                    zones.add(str(c.get("TZID", "")))
                    combined.add_component(c)
                elif c.name == "VEVENT":
                    combined.add_component(c)  # shared with the parse: ics copies to change
                    where.setdefault(str(c.get("UID", "")), (href, etag))
        self._read = _Read(key, ics.prepare(combined, zone), tuple(unreadable), where)
        return self._read

    def _parse(self, href: str, etag: str, text: str) -> icalendar.Calendar | str:
        """The resource parsed, or why it cannot be."""
        kept = self._parsed.get(href)
        if kept is not None and kept[0] == etag and etag:
            return kept[1]
        try:
            cal: icalendar.Calendar | str = ics.parse_calendar(text)
        except Exception as exc:
            cal = excerpt(str(exc))
        self._parsed[href] = (etag, cal)
        return cal

    # -- writing

    def _where(self, block: Block) -> tuple[str, str]:
        """(href, ETag) of the block's resource as last read, else where we put it."""
        found = self._read.where.get(block.id) if self._read else None
        return found or (f"{block.id}.ics", "")

    def _apply(self, changes: Sequence[Change]) -> list[Change]:
        self.listing.mark_written()
        stamp = self.clock.now()
        applied: list[Change] = []
        for change in changes:
            if change.op is Op.CREATE:
                created = self._create(change.block, stamp)
                if created is not None:
                    applied.append(replace(change, block=created))
            elif change.op is Op.UPDATE:
                assert change.before is not None  # the base class checked
                href = self._where(change.before)[0]
                applied.append(
                    replace(change, block=self._put(change.block, stamp, href, change.before.etag))
                )
            else:
                assert change.before is not None
                self._delete(change.before)
                applied.append(change)
        return applied

    def _create(self, block: Block, stamp: datetime) -> Block | None:
        """The block as written; None when an event of the user's holds its UID (as a
        block the user deleted, it is not written)."""
        href = f"{block.id}.ics"
        for _ in range(2):
            answer = self.client.send(
                "PUT",
                href,
                headers={**_ICS, "If-None-Match": "*"},
                body=_WRAP % ics.render(block, stamp),
                expect=(200, 201, 204, 412),
            )
            if answer.status != 412:
                return self._written(block, href, answer.etag)
            # It exists: our own earlier create (a retry after a lost answer), a block
            # the user changed since, or someone's event with this UID.
            found = self.client.send("GET", href, expect=(200, 404))
            if found.status == 404:
                continue  # deleted in between: try the create again, once
            there = _block_in(found.body)
            if there is None:
                return None
            if there.touched:
                raise Conflict(f"block {block.key} was changed meanwhile", where=self.client.url)
            if (there.fingerprint, there.meeting_id) == (block.fingerprint, block.meeting_id):
                return replace(block, written=block.fingerprint, etag=found.etag)
            return self._put(block, stamp, href, found.etag)
        raise Conflict(f"block {block.key} keeps appearing and vanishing", where=self.client.url)

    def _put(self, block: Block, stamp: datetime, href: str, etag: str) -> Block:
        _known(block, etag, self.client.url)
        answer = self.client.send(
            "PUT",
            href,
            headers={**_ICS, "If-Match": etag},
            body=_WRAP % ics.render(block, stamp),
            expect=(200, 201, 204, 404, 412),
        )
        if answer.status in (404, 412):
            # The user moved, edited or deleted it since it was read: theirs now.
            raise Conflict(
                f"block {block.key} changed since it was read",
                where=self.client.url,
                status=answer.status,
            )
        return self._written(block, href, answer.etag)

    def _delete(self, before: Block) -> None:
        href = self._where(before)[0]
        _known(before, before.etag, self.client.url)
        answer = self.client.send(
            "DELETE", href, headers={"If-Match": before.etag}, expect=(200, 204, 404, 412)
        )
        if answer.status == 412:
            # Some servers check the ETag before whether it exists: gone is done.
            if self.client.send("GET", href, expect=(200, 404)).status == 404:
                return
            raise Conflict(
                f"block {before.key} changed since it was read", where=self.client.url, status=412
            )

    def _written(self, block: Block, href: str, etag: str) -> Block:
        if not etag:  # a server that changed what it stored sends no ETag (RFC 4791 §5.3.4)
            etag = self.client.send("GET", href).etag
        return replace(block, written=block.fingerprint, etag=etag)


def _known(block: Block, etag: str, url: str) -> None:
    """An empty If-Match is no precondition to most servers: never write blind."""
    if not etag:
        raise Conflict(f"block {block.key} has no ETag as read; read it again", where=url)


@contextlib.contextmanager
def _collection(url: str) -> Iterator[None]:
    """A collection that is not there is a calendar that cannot be read at all."""
    try:
        yield
    except NotFound as exc:
        raise DataError(
            "no calendar collection at this URL; nothing was written", where=url, status=exc.status
        ) from exc


def _block_in(body: bytes) -> Block | None:
    """firstblock's block in one resource's text, or None when it holds none."""
    try:
        cal = ics.parse_calendar(body.decode("utf-8", "replace"))
    except Exception:
        return None
    found = list(ics.owned(cal).values())
    return found[0] if found else None


def _declared(text: str) -> str:
    """The TZID of the VTIMEZONE in a calendar-timezone property, or ""."""
    if not text:
        return ""
    try:
        cal = icalendar.Calendar.from_ical(text)
    except Exception:
        return ""
    zones = cal.walk("VTIMEZONE") if isinstance(cal, icalendar.Calendar) else []
    return str(zones[0].get("TZID", "")) if zones else ""
