"""Mailbox state (calendar, folders, messages, rules) and the context handlers receive.

Stored items are plain dicts in Graph's JSON shape; keys starting with "_" are the emulator's
own bookkeeping and never leave it. Every write bumps the mailbox's change counter and stamps
the item's `_seq`: delta queries compare those against what a sync state has already sent.
Every change to an event or message also goes through `State.changed` (touch() calls it for
creates and updates), the one place change notifications start from.
The caller holds the emulator's lock for everything here.
"""

from __future__ import annotations

import copy
import random
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from .odata import Prefer, encode_skiptoken
from .zones import iso_utc

if TYPE_CHECKING:
    from .csdl import Schema
    from .delta import DeltaStore

# Well-known folder name -> display name; msgfolderroot is the parent of the top-level folders.
WELL_KNOWN = {
    "msgfolderroot": "Top of Information Store",
    "inbox": "Inbox",
    "drafts": "Drafts",
    "sentitems": "Sent Items",
    "deleteditems": "Deleted Items",
    "junkemail": "Junk Email",
    "archive": "Archive",
    "outbox": "Outbox",
}
ALNUM = string.ascii_letters + string.digits
DEFAULT_WORKING_HOURS: dict[str, Any] = {
    "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
    "startTime": "08:00:00.0000000",
    "endTime": "17:00:00.0000000",
}


class Ids:
    """Seeded identifiers, so two runs with the same seed hand out the same ids."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def token(self, length: int) -> str:
        return "".join(self.rng.choice(ALNUM) for _ in range(length))

    def guid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def item(self, prefix: str) -> str:
        # Outlook ids are long base64 strings; these keep to letters and digits, so "_" can
        # safely join a series id and an occurrence date.
        return prefix + self.token(48)


@dataclass
class Mailbox:
    oid: str
    upn: str
    display_name: str
    timezone: str
    working_hours: dict[str, Any]
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    transactions: dict[str, str] = field(default_factory=dict)  # transactionId -> event id
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    well_known: dict[str, str] = field(default_factory=dict)  # well-known name -> folder id
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # by immutable id
    regular: dict[str, str] = field(default_factory=dict)  # current regular id -> immutable id
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Invitations answered through the API: (event id, answer, comment, sendResponse).
    answers: list[tuple[str, str, str, bool]] = field(default_factory=list)
    seq: int = 0

    def bump(self) -> int:
        self.seq += 1
        return self.seq

    def folder_id(self, ref: str) -> str | None:
        """A folder id from an id or a well-known name (names are case-insensitive)."""
        if ref in self.folders:
            return ref
        return self.well_known.get(ref.lower())

    def folder_label(self, folder_id: str) -> str:
        """The well-known name of a folder, else its display name (for test helpers)."""
        folder = self.folders[folder_id]
        return folder.get("_wellKnown") or folder["displayName"]

    def message_key(self, ref: str) -> str | None:
        """The immutable id for a regular or immutable message id."""
        if ref in self.messages:
            return ref
        return self.regular.get(ref)


@dataclass(frozen=True)
class Change:
    """One change to an event or message, as change notifications see it."""

    mailbox: str  # the owner's object id
    kind: str  # "event" | "message"
    change_type: str  # "created" | "updated" | "deleted"
    item_id: str  # an event's id; a message's regular id
    immutable_id: str  # a message's immutable id; an event's id
    etag: str | None
    folder: str | None = None  # a message's folder
    moved_from: str | None = None  # a moved message's previous folder...
    previous_id: str | None = None  # ...and its regular id there


class State:
    """Everything the handlers share: mailboxes, ids, the schema, the clock, sync states."""

    def __init__(
        self,
        schema: Schema,
        ids: Ids,
        clock: Callable[[], datetime],
        page_size: int | None,
        deltas: DeltaStore,
    ) -> None:
        self.schema = schema
        self.ids = ids
        self.clock = clock
        self.page_size = page_size
        self.deltas = deltas
        self.mailboxes: dict[str, Mailbox] = {}  # by object id
        self._by_upn: dict[str, Mailbox] = {}  # lower-cased: thousands of users stay fast
        self.base_url = ""  # set once the server has a port
        self.rule_errors: list[str] = []
        self.on_change: Callable[[Change], None] | None = None  # change notifications

    def mailbox_by(self, ref: str) -> Mailbox | None:
        """A mailbox by object id or UPN (case-insensitive)."""
        if ref in self.mailboxes:
            return self.mailboxes[ref]
        return self._by_upn.get(ref.lower())

    def new_mailbox(self, upn: str, timezone: str, working_hours: dict[str, Any] | None) -> Mailbox:
        local = upn.split("@")[0]
        name = " ".join(part.capitalize() for part in local.replace("_", ".").split("."))
        hours = {**copy.deepcopy(DEFAULT_WORKING_HOURS), **(working_hours or {})}
        hours.setdefault("timeZone", {"name": timezone})
        mb = Mailbox(self.ids.guid(), upn, name, timezone, hours)
        root = self.ids.item("AQMkF")
        mb.folders[root] = {"id": root, "displayName": WELL_KNOWN["msgfolderroot"]}
        mb.folders[root].update({"parentFolderId": None, "_wellKnown": "msgfolderroot"})
        mb.well_known["msgfolderroot"] = root
        for name_key, display in WELL_KNOWN.items():
            if name_key != "msgfolderroot":
                folder_id = self.new_folder(mb, root, display)
                mb.folders[folder_id]["_wellKnown"] = name_key
                mb.well_known[name_key] = folder_id
        self.mailboxes[mb.oid] = mb
        self._by_upn[upn.lower()] = mb
        return mb

    def new_folder(self, mb: Mailbox, parent: str, display_name: str, hidden: bool = False) -> str:
        folder_id = self.ids.item("AQMkF")
        mb.folders[folder_id] = {
            "id": folder_id,
            "displayName": display_name,
            "parentFolderId": parent,
            "isHidden": hidden,
            "_seq": mb.bump(),
        }
        return folder_id

    def touch(
        self,
        mb: Mailbox,
        item: dict[str, Any],
        *,
        created: bool = False,
        moved: tuple[str, str] | None = None,
    ) -> None:
        """Stamp a write: new changeKey, lastModifiedDateTime and change counter.

        `moved` is a moved message's (previous folder, previous regular id)."""
        stamp = iso_utc(self.clock())
        if created:
            item["createdDateTime"] = stamp
        item["lastModifiedDateTime"] = stamp
        item["changeKey"] = self.ids.token(28)
        item["_seq"] = mb.bump()
        self.changed(mb, item, "created" if created else "updated", moved=moved)

    def changed(
        self,
        mb: Mailbox,
        item: dict[str, Any],
        change_type: str,
        *,
        moved: tuple[str, str] | None = None,
    ) -> None:
        """Report a change of a stored event or message (or occurrence) to the listener."""
        if self.on_change is None:
            return
        tag = etag(item) if item.get("changeKey") else None
        if "_key" not in item:  # an event
            self.on_change(Change(mb.oid, "event", change_type, item["id"], item["id"], tag))
            return
        before, before_id = moved or (None, None)
        ids = (item["_regularId"], item["_key"])
        where = (item["_folder"], before, before_id)
        self.on_change(Change(mb.oid, "message", change_type, *ids, tag, *where))


Reply = tuple[int, Any, dict[str, str]]


@dataclass
class Ctx:
    """One Graph call as a handler sees it."""

    state: State
    mb: Mailbox
    method: str
    path: str  # "/v1.0/me/events/..."
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    prefer: Prefer
    args: list[str]  # the route's captured segments
    client_id: str = ""

    def link(self, params: dict[str, str], path: str | None = None) -> str:
        """An absolute URL back to the emulator (nextLink, deltaLink)."""
        url = self.state.base_url + (path or self.path).lstrip("/")
        return url + ("?" + urlencode(params, quote_via=quote, safe="$'(),:/") if params else "")

    def page_size(self, top: int | None, default: int = 10) -> int:
        sizes = [top or default]
        if self.prefer.max_page:
            sizes.append(self.prefer.max_page)
        if self.state.page_size:
            sizes.append(self.state.page_size)
        return max(1, min(sizes))


def etag(item: dict[str, Any]) -> str:
    return f'W/"{item["changeKey"]}"'


def public(item: dict[str, Any]) -> dict[str, Any]:
    """A deep copy without the emulator's "_" bookkeeping keys."""
    return {k: copy.deepcopy(v) for k, v in item.items() if not k.startswith("_")}


def page(ctx: Ctx, items: list[Any], skip: int, size: int) -> tuple[list[Any], str | None]:
    """One page of `items` from `skip`, and the nextLink if more remain."""
    chunk = items[skip : skip + size]
    if skip + size >= len(items):
        return chunk, None
    params = {k: v[0] for k, v in ctx.query.items() if k not in ("$skiptoken", "$skip")}
    params["$skiptoken"] = encode_skiptoken(skip + size)
    return chunk, ctx.link(params)
