"""What the collection holds, read with as few requests as the server allows.

A full listing is a PROPFIND for the collection's sync token and time zone, then a
time-range calendar-query over the window (padded, so a cycle's windows for the
rest of the day fall inside). After it, where the server offers sync-collection
(RFC 6578), each read asks only what changed since the token: one request when
nothing did. A token the server rejects means a full listing again.

The state lives in a plain dict (the memo), under "caldav", and holds only strings,
bools and lists, so a memo can persist it as JSON between runs: the collection and
user it belongs to (another's is ignored), the sync token, the zone, the span
listed, and every resource's href, ETag and iCalendar text. Losing it costs one
full listing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from providers.caldav import webdav
from providers.caldav.transport import Client
from providers.errors import SyncStateExpired
from providers.memo import covers
from worker.models import Window

VERSION = 1
KEY = "caldav"
PAD_BEFORE, PAD_AFTER = timedelta(days=1), timedelta(days=7)
SYNC_ROUNDS = 20  # a server pages a long sync answer (507); never loop forever

Items = dict[str, list[str]]  # href -> [etag, iCalendar text]


class Listing:
    def __init__(
        self, client: Client, memo: dict[str, Any], save: Callable[[], None] | None
    ) -> None:
        self.client, self.memo, self._save = client, memo, save

    def state(self) -> dict[str, Any] | None:
        state = self.memo.get(KEY)
        if (
            isinstance(state, dict)
            and state.get("version") == VERSION
            and state.get("url") == self.client.url
            and state.get("user") == self.client.username
        ):
            return state
        return None

    def save(self, state: dict[str, Any]) -> None:
        self.memo[KEY] = state
        if self._save is not None:
            self._save()

    def properties(self) -> dict[str, Any]:
        """A new state from the collection's properties; nothing listed yet. Its token
        predates any listing made after it, so nothing changed between is missed."""
        answer = self.client.send(
            "PROPFIND", headers={"Depth": "0"}, body=webdav.propfind(), expect=(207,)
        )
        found = webdav.parse(answer.body, where=self.client.url).members
        own = next((m for m in found if webdav.same(m.href, self.client.url)), None)
        own = own or (found[0] if found else webdav.Member("", 200))
        reports = own.props.get(webdav.DAV + "supported-report-set")
        # A server that lists no reports at all is taken at its token's word.
        offers_sync = reports is None or reports.find(f".//{webdav.DAV}sync-collection") is not None
        state = {
            "version": VERSION,
            "url": self.client.url,
            "user": self.client.username,
            "token": own.text(webdav.DAV + "sync-token") if offers_sync else "",
            "zone_id": own.text(webdav.CAL + "calendar-timezone-id"),
            "zone_text": own.text(webdav.CAL + "calendar-timezone"),
            "items": None,
            "written": False,
        }
        self.save(state)
        return state

    def items(self, window: Window, *, quiet: bool) -> Items:
        state = self.state()
        if state is not None and state["items"] is not None and covers(state, window):
            if quiet and not state["written"]:
                kept: Items = state["items"]
                return kept  # push said nothing changed since: no request at all
            if state["token"]:
                try:
                    return self._sync(state)
                except SyncStateExpired:
                    state = None  # the documented answer: forget the cursor, list in full
            else:
                return self._list(window, state)  # no sync here: one listing a read
        if state is None or state["items"] is not None:
            state = self.properties()
        return self._list(window, state)

    def _list(self, window: Window, state: dict[str, Any]) -> Items:
        start, end = window.start - PAD_BEFORE, window.end + PAD_AFTER
        answer = self.client.send(
            "REPORT", headers={"Depth": "1"}, body=webdav.query(start, end), expect=(207,)
        )
        members = webdav.parse(answer.body, where=self.client.url).members
        items = {m.href: [m.etag, m.data] for m in members if m.status == 200 and m.data}
        state.update(start=start.isoformat(), end=end.isoformat(), items=items, written=False)
        self.save(state)
        return items

    def _sync(self, state: dict[str, Any]) -> Items:
        items: Items = state["items"]
        token = state["token"]
        missing: list[str] = []
        for _ in range(SYNC_ROUNDS):
            answer = self.client.send(
                "REPORT", headers={"Depth": "1"}, body=webdav.sync(token), expect=(207,)
            )
            status = webdav.parse(answer.body, where=self.client.url)
            truncated = False
            for m in status.members:
                if webdav.same(m.href, self.client.url):
                    truncated = truncated or m.status == 507  # more to come (RFC 6578 §3.6)
                elif m.status == 404:
                    items.pop(m.href, None)
                elif m.data:
                    items[m.href] = [m.etag, m.data]
                elif m.status == 200:
                    missing.append(m.href)  # changed, and its text left out
            token = status.token or token
            if not truncated:
                break
        if missing:
            self._fetch_missing(items, missing)
        state.update(token=token, items=items, written=False)
        self.save(state)
        return items

    def _fetch_missing(self, items: Items, hrefs: list[str]) -> None:
        answer = self.client.send(
            "REPORT", headers={"Depth": "1"}, body=webdav.multiget(hrefs), expect=(207,)
        )
        for m in webdav.parse(answer.body, where=self.client.url).members:
            if m.status == 404:
                items.pop(m.href, None)
            elif m.data:
                items[m.href] = [m.etag, m.data]

    def mark_written(self) -> None:
        """Our writes are not in the memo until the next read: no quiet answer."""
        state = self.state()
        if state is not None and not state["written"]:
            state["written"] = True
            self.save(state)
