"""The naive baseline of the request benchmark: the same job as firstblock, done the
obvious way, so the figures have something to be compared with.

Each cycle lists the whole window page by page (the span and page size firstblock's
first run uses), plans with firstblock's own planner, then writes every planned block:
an insert for a block not there yet, a rewrite (PATCH) for every other one, one request
each, no batch, no If-Match. Mail is listed page by page and every message to move is
moved with a request of its own: held from the inbox while the hold is on, back from
the held label or folder otherwise. Nothing is remembered between cycles but the id of
its own label or folder.

It is charitable where being naive would only add noise: it knows the account's zone
and working hours without asking, and Gmail's search leaves allowed senders out of the
inbox listing (Graph's listing carries the sender, so no message is read on its own).
Requests go through the providers' sessions (googleapiclient, requests), one call at a
time: `session.call` sends one request, retrying only on a failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from providers.errors import Conflict
from providers.google import calendar as gcal
from providers.google import gmail
from providers.google import mapping as gmap
from providers.google.session import Session as GoogleSession
from providers.outlook import calendar as ocal
from providers.outlook import mapping as omap
from providers.outlook.session import Call
from providers.outlook.session import Session as GraphSession
from worker import hold, planner
from worker.config import Account, Config
from worker.cycle import _fetch_window, rules_for
from worker.models import Block, Event

HELD = "Held by naive"
MAIL_TOP = "500"  # firstblock's page size for Graph message lists
VIEW_TOP = "500"  # and for its calendarView


class Naive:
    """One account, cycle by cycle; the provider's requests are the subclass's."""

    def __init__(self, config: Config, account: Account, zone: str) -> None:
        self.config, self.account, self.zone = config, account, ZoneInfo(zone)
        self._held: str = ""  # the id of the held label or folder, once known
        self.planned = (0, 0)  # the last cycle's events read (in the window) and blocks planned

    def cycle(self, now: datetime) -> datetime | None:
        """One account-cycle; returns when today's hold ends (None: no hold today)."""
        rules = rules_for(self.config, self.account, self.zone)
        window = planner.window(rules, now)
        # The span firstblock lists, padded as the providers pad it.
        span = _fetch_window(self.config, window, now)
        events, found = self.list_calendar(
            span.start - gcal.PAD_BEFORE, span.end + gcal.PAD_AFTER, span.start
        )
        owned = [b for b in found.values() if b.start < window.end and b.end > window.start]
        plan = planner.plan(events, owned, frozenset(), rules, now)
        inside = [e for e in events if span.overlaps(e.start, e.end)]
        self.planned = (len(inside), len(plan.blocks))
        for block in plan.blocks:
            if block.key in found:
                self.rewrite(block, found[block.key])
            else:
                self.insert(block)
        wanted = {b.key for b in (*plan.blocks, *plan.kept)}
        for block in owned:
            if block.key not in wanted:
                self.remove(block)

        win = hold.window(plan, rules, now)
        if hold.phase(win, now) is hold.Phase.HOLDING:
            allow = hold.allow_list(
                self.config.hold.allow,
                events,
                self.account.email,
                now,
                self.config.hold.allow_meeting_attendees_days,
            )
            for ident in self.list_inbox(hold.previous_release(rules, now), allow):
                self.move(ident, held=True)
        else:
            for ident in self.list_held():
                self.move(ident, held=False)
        return win.release_at if win else None

    # -- what each provider does

    def list_calendar(
        self, start: datetime, end: datetime, fallback: datetime
    ) -> tuple[list[Event], dict[str, Block]]:
        raise NotImplementedError

    def insert(self, block: Block) -> None:
        raise NotImplementedError

    def rewrite(self, block: Block, found: Block) -> None:
        raise NotImplementedError

    def remove(self, found: Block) -> None:
        raise NotImplementedError

    def list_inbox(self, since: datetime, allow: hold.AllowList) -> list[str]:
        raise NotImplementedError

    def list_held(self) -> list[str]:
        raise NotImplementedError

    def move(self, ident: str, *, held: bool) -> None:
        raise NotImplementedError


class NaiveGoogle(Naive):
    def __init__(self, session: GoogleSession, config: Config, account: Account, zone: str):
        super().__init__(config, account, zone)
        self.session = session
        self.events = session.calendar.events()
        self.users = session.gmail.users()

    def _pages(self, list_call: Any, **params: Any) -> Iterator[dict[str, Any]]:
        page = None
        while True:
            answer = self.session.call(list_call(pageToken=page, **params))
            yield answer
            page = answer.get("nextPageToken")
            if not page:
                return

    def list_calendar(
        self, start: datetime, end: datetime, fallback: datetime
    ) -> tuple[list[Event], dict[str, Block]]:
        events, blocks = [], {}
        for page in self._pages(
            self.events.list,
            calendarId=gcal.CALENDAR,
            singleEvents=True,
            maxResults=gcal.PAGE,
            timeMin=start.isoformat(),
            timeMax=end.isoformat(),
        ):
            for item in page.get("items") or ():
                if item.get("status") == "cancelled":
                    continue
                if gmap.is_owned(item):
                    block = gmap.to_block(item, self.zone)
                    blocks[block.key] = block
                else:
                    events.append(gmap.to_event(item, self.zone, fallback, self.account.email))
        return events, blocks

    def insert(self, block: Block) -> None:
        body = gmap.block_body(block, focus=None)
        try:
            self.session.call(self.events.insert(calendarId=gcal.CALENDAR, body=body))
        except Conflict:  # the id of a block removed earlier: bring that one back
            self.rewrite(block, block)

    def rewrite(self, block: Block, found: Block) -> None:
        patch = self.events.patch(
            calendarId=gcal.CALENDAR, eventId=block.id, body=gmap.content(block)
        )
        self.session.call(patch)

    def remove(self, found: Block) -> None:
        patch = self.events.patch(
            calendarId=gcal.CALENDAR, eventId=found.id, body=gmap.retire_body()
        )
        self.session.call(patch)

    def _label(self) -> str:
        if not self._held:
            labels = self.session.call(self.users.labels().list(userId="me")).get("labels") or ()
            found = [x["id"] for x in labels if x.get("name") == HELD]
            body = {"name": HELD}
            self._held = (
                found[0]
                if found
                else self.session.call(self.users.labels().create(userId="me", body=body))["id"]
            )
        return self._held

    def _refs(self, **params: Any) -> list[str]:
        pages = self._pages(
            self.users.messages().list, userId="me", maxResults=gmail.PAGE, **params
        )
        return [m["id"] for page in pages for m in page.get("messages") or ()]

    def list_inbox(self, since: datetime, allow: hold.AllowList) -> list[str]:
        # The search Gmail's filter of firstblock uses: everyone but the allowed.
        others = " ".join(f"-from:{a.lstrip('@')}" for a in allow.as_rule())
        return self._refs(labelIds=["INBOX"], q=f"after:{int(since.timestamp()) - 1} {others}")

    def list_held(self) -> list[str]:
        return self._refs(labelIds=[self._label()])

    def move(self, ident: str, *, held: bool) -> None:
        label = self._label()
        add, remove = ([label], ["INBOX"]) if held else (["INBOX"], [label])
        body = {"addLabelIds": add, "removeLabelIds": remove}
        self.session.call(self.users.messages().modify(userId="me", id=ident, body=body))


class NaiveOutlook(Naive):
    def __init__(self, session: GraphSession, config: Config, account: Account, zone: str):
        super().__init__(config, account, zone)
        self.session = session
        self.user = session.user

    def list_calendar(
        self, start: datetime, end: datetime, fallback: datetime
    ) -> tuple[list[Event], dict[str, Block]]:
        params = {
            "startDateTime": start.isoformat(),
            "endDateTime": end.isoformat(),
            "$select": ocal.SELECT,
            "$expand": ocal.EXPAND,
            "$top": VIEW_TOP,
        }
        events, blocks = [], {}
        me = self.account.email.lower()
        for item in self.session.pages(Call("GET", f"{self.user}/calendar/calendarView", params)):
            if omap.is_owned(item):
                block = omap.to_block(item)
                blocks[block.key] = block
            elif not item.get("isCancelled"):
                events.append(omap.to_event(item, self.zone, me, fallback))
        return events, blocks

    def insert(self, block: Block) -> None:
        body = omap.block_body(block, create=True)
        self.session.call(Call("POST", f"{self.user}/events", body=body, idempotent=False))

    def rewrite(self, block: Block, found: Block) -> None:
        body = omap.block_body(block, create=False)
        self.session.call(Call("PATCH", f"{self.user}/events/{found.ref}", body=body))

    def remove(self, found: Block) -> None:
        self.session.call(Call("DELETE", f"{self.user}/events/{found.ref}"))

    def _folder(self) -> str:
        if not self._held:
            query = {"$filter": f"displayName eq '{HELD}'", "$select": "id"}
            found = self.session.object(Call("GET", f"{self.user}/mailFolders", query))
            folders = found.get("value") or ()
            self._held = str(
                folders[0]["id"]
                if folders
                else self.session.object(
                    Call("POST", f"{self.user}/mailFolders", body={"displayName": HELD})
                )["id"]
            )
        return self._held

    def _list(self, folder: str, **params: str) -> list[dict[str, Any]]:
        query = {"$select": "id,from,receivedDateTime", "$top": MAIL_TOP, **params}
        return self.session.pages(Call("GET", f"{self.user}/mailFolders/{folder}/messages", query))

    def list_inbox(self, since: datetime, allow: hold.AllowList) -> list[str]:
        utc = since.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")
        listed = self._list("inbox", **{"$filter": f"receivedDateTime ge {utc}"})
        return [m["id"] for m in listed if not allow.allows(_sender(m))]

    def list_held(self) -> list[str]:
        return [m["id"] for m in self._list(self._folder())]

    def move(self, ident: str, *, held: bool) -> None:
        body = {"destinationId": self._folder() if held else "inbox"}
        self.session.call(Call("POST", f"{self.user}/messages/{ident}/move", body=body))


def _sender(message: dict[str, Any]) -> str:
    return str(((message.get("from") or {}).get("emailAddress") or {}).get("address", ""))
