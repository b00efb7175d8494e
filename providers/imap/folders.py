"""Folders as the mailbox sees them: which is selected, what each holds, and where an
id is now.

Steady state costs one STATUS per folder: while its UIDVALIDITY, UIDNEXT, MESSAGES
and (with CONDSTORE) HIGHESTMODSEQ are unchanged, no message came, went or changed
flags, and the last listing stands. When they changed, one SEARCH lists the UIDs and
only UIDs never seen are fetched, headers only: a UID's headers never change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from providers.errors import BadRequest, NotFound
from providers.imap import errors, ids
from providers.imap.connection import Connection
from providers.imap.ids import Entry

_BATCH = 200  # UIDs per FETCH, ids per OR-chained SEARCH
HELD = "Firstblock-Held"  # the Maildir's ".Firstblock-Held" is this folder on Dovecot


@dataclass
class View:
    uidvalidity: int
    key: tuple[int, ...] = ()
    entries: dict[int, Entry] = field(default_factory=dict)
    listed: dict[date | None, list[int]] = field(default_factory=dict)


class Folders:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.views: dict[str, View] = {}
        self.hints: dict[str, str] = {}  # id -> its Message-ID ("" when it has none)
        self.selected: tuple[str, bool, int] | None = None  # folder, read-only, uidvalidity
        self._prefix: str | None = None
        self._drafts: str | None = None
        self.made: set[str] = set()
        # (old UID, new UID) of each message our last moves took, as COPYUID said.
        self.landed: list[tuple[int, int]] = []

    def lost(self) -> None:
        """The session is gone: nothing is selected any more."""
        self.selected = None

    # Kept between processes (the account's memo), so a steady run of a new process
    # costs its STATUS commands only, not a listing and the headers of every message.

    def export(self) -> dict[str, Any]:
        views = {
            name: {
                "validity": v.uidvalidity,
                "key": list(v.key),
                "entries": {
                    str(u): [e.id, e.sender, e.received.isoformat(), e.alert, e.message_id]
                    for u, e in v.entries.items()
                },
                "listed": {(d.isoformat() if d else ""): uids for d, uids in v.listed.items()},
            }
            for name, v in self.views.items()
        }
        return {"prefix": self._prefix, "drafts": self._drafts, "views": views}

    def restore(self, kept: Any) -> None:
        """What `export` gave, as far as it can be read; anything else starts cold.
        Folders made are not kept: the user may delete one between runs."""
        try:
            views = {}
            for name, v in kept["views"].items():
                entries = {
                    int(u): Entry(str(i), str(s), datetime.fromisoformat(r), bool(a), str(m))
                    for u, (i, s, r, a, m) in v["entries"].items()
                }
                listed = {
                    (date.fromisoformat(d) if d else None): [int(u) for u in uids]
                    for d, uids in v["listed"].items()
                }
                key = tuple(int(k) for k in v["key"])
                views[str(name)] = View(int(v["validity"]), key, entries, listed)
            prefix, drafts = kept["prefix"], kept["drafts"]
        except (KeyError, TypeError, ValueError, AttributeError):
            return
        self.views = views
        self._prefix = prefix if isinstance(prefix, str) else None
        self._drafts = drafts if isinstance(drafts, str) else None
        for view in views.values():
            self.hints.update((e.id, e.message_id) for e in view.entries.values())

    # Names

    def prefix(self) -> str:
        """The personal namespace's prefix ("" on Dovecot, "INBOX." on some servers)."""
        if self._prefix is None:
            prefix = ""
            if self.conn.has("NAMESPACE"):
                personal = self.conn.call("namespace").personal
                if personal:
                    prefix = str(personal[0][0])
            self._prefix = prefix
        return self._prefix

    def held(self) -> str:
        return self.prefix() + HELD

    def drafts(self) -> str:
        """The folder marked \\Drafts (RFC 6154), else "Drafts" in the namespace."""
        if self._drafts is None:
            found = None
            for flags, _sep, name in self.conn.call("list_folders"):
                if b"\\Drafts" in flags or "\\Drafts" in flags:
                    found = str(name)
                    break
            self._drafts = found or self.prefix() + "Drafts"
        return self._drafts

    def exists(self, folder: str) -> bool:
        return folder in self.made or bool(self.conn.call("folder_exists", folder))

    def make(self, folder: str) -> None:
        """Create the folder unless it exists (once per object)."""
        if folder in self.made or folder.upper() == "INBOX":
            return
        try:
            self.conn.call("create_folder", folder)
            self.conn.call("subscribe_folder", folder)  # so mail clients show it
        except BadRequest as exc:
            if exc.reason != "ALREADYEXISTS":
                raise
        self.made.add(folder)

    # Selecting and listing

    def select(self, folder: str, *, readonly: bool) -> int:
        """Select (or EXAMINE) `folder`; return its UIDVALIDITY."""
        if self.selected is not None and self.selected[:2] == (folder, readonly):
            return self.selected[2]
        self.selected = None
        answer = self.conn.call("select_folder", folder, readonly=readonly)
        validity = int(answer.get(b"UIDVALIDITY", 0))
        self.selected = (folder, readonly, validity)
        view = self.views.get(folder)
        if view is None or view.uidvalidity != validity:
            self.views[folder] = View(validity)  # UIDs from before mean nothing now
        return validity

    def unselect(self) -> None:
        """Leave the selected folder without expunging anything."""
        if self.selected is None:
            return
        folder, readonly, _ = self.selected
        self.selected = None
        if self.conn.has("UNSELECT"):
            self.conn.call("unselect_folder")
            return
        if not readonly:  # CLOSE expunges a read-write folder; a read-only one, never
            self.conn.call("select_folder", folder, readonly=True)
        self.conn.call("close_folder")

    def status(self, folder: str) -> tuple[int, ...]:
        # STATUS of the selected folder may answer from the session's own, unsynced
        # view of it (RFC 3501 §6.3.10 says not to ask): leave it first.
        if self.selected is not None and self.selected[0] == folder:
            self.unselect()
        what = ["UIDVALIDITY", "UIDNEXT", "MESSAGES"]
        if self.conn.has("CONDSTORE"):
            what.append("HIGHESTMODSEQ")
        answer = self.conn.call("folder_status", folder, what)
        return tuple(int(answer.get(w.encode(), 0)) for w in what)

    def after_move(self, source: str, target: str) -> None:
        """After our own moves (`landed`), ask both folders' STATUS and keep the answer
        as what their listings stand for when the moves alone explain it: no other
        message came or went meanwhile. The next run then needs no SEARCH of either
        (it would otherwise list both again, to learn what it did itself). Two
        commands now instead of six then."""
        landed, self.landed = self.landed, []
        src, dst = self.views.get(source), self.views.get(target)
        if not landed or src is None or dst is None or not src.key or not dst.key:
            return
        gone, new = {a for a, _ in landed}, [b for _, b in landed]
        if not all(b in dst.entries for b in new):
            return  # a listing would miss a message it has no headers for
        s_key, d_key = self.status(source), self.status(target)
        # (UIDVALIDITY, UIDNEXT, MESSAGES[, HIGHESTMODSEQ]): the modseq moved with our
        # own expunge, and takes flag changes along; flags are not what is listed.
        if s_key[:3] == (src.uidvalidity, src.key[1], src.key[2] - len(gone)):
            src.key = s_key
            src.listed = {d: [u for u in uids if u not in gone] for d, uids in src.listed.items()}
        else:
            src.key = ()
        if (
            d_key[:3] == (dst.uidvalidity, max(new) + 1, dst.key[2] + len(new))
            and min(new) >= dst.key[1]
        ):
            dst.key = d_key
            dst.listed = {d: sorted({*uids, *new}) for d, uids in dst.listed.items()}
        else:
            dst.key = ()

    def listing(self, folder: str, since: datetime | None) -> list[Entry]:
        """Messages in `folder` (not marked \\Deleted) that arrived at or after `since`.
        A folder that does not exist holds nothing."""
        try:
            key = self.status(folder)
        except (NotFound, BadRequest):
            # Not every server says [NONEXISTENT] (Dovecot 2.3 does not): ask LIST.
            if not self.exists(folder):
                return []
            raise
        day = since.date() - timedelta(days=1) if since is not None else None
        view = self.views.get(folder)
        if view is None or view.uidvalidity != key[0]:
            view = self.views[folder] = View(key[0])
        if view.key != key or day not in view.listed:
            if view.key != key:
                view.listed.clear()
            self.select(folder, readonly=True)
            view = self.views[folder]  # a new one if UIDVALIDITY changed since STATUS
            # SINCE is by date alone; a day earlier covers every zone, then exactly.
            criteria: list[Any] = ["NOT", "DELETED"] + (["SINCE", day] if day else [])
            uids = sorted(int(u) for u in self.conn.call("search", criteria))
            self.learn(folder, uids)
            if day is None:  # a full listing: forget UIDs that are gone
                view.entries = {u: view.entries[u] for u in uids if u in view.entries}
            view.listed[day] = uids
            # Kept only if STATUS spoke of this view; else the next call lists again.
            view.key = key if view.uidvalidity == key[0] else ()
            self.unselect()  # so the next STATUS of it is the server's, not the session's
        found = (view.entries.get(u) for u in view.listed[day])
        return [e for e in found if e is not None and (since is None or e.received >= since)]

    def learn(self, folder: str, uids: Iterable[int]) -> dict[int, Entry]:
        """Entries of these UIDs (of the selected folder), fetching those never seen."""
        view = self.views[folder]
        wanted = list(uids)
        missing = [u for u in wanted if u not in view.entries]
        for start in range(0, len(missing), _BATCH):
            answer = self.conn.call("fetch", missing[start : start + _BATCH], ids.FETCH_ITEMS)
            for uid, data in answer.items():
                entry = ids.entry_of(data)
                if entry is not None:
                    view.entries[int(uid)] = entry
                    self.hints[entry.id] = entry.message_id
        return {u: view.entries[u] for u in wanted if u in view.entries}

    def locate(self, folder: str, wanted: Sequence[str], *, readonly: bool) -> dict[str, list[int]]:
        """Where each wanted id is now in `folder`: its UIDs (several for identical
        copies). Searches by Message-ID where known; otherwise lists the folder."""
        self.select(folder, readonly=readonly)
        message_ids = {self.hints.get(i, "") for i in wanted}
        uids: set[int] = set()
        if "" in message_ids or not all(ids.searchable(m) for m in message_ids):
            uids.update(int(u) for u in self.conn.call("search", ["ALL"]))
        else:
            terms = sorted(message_ids)
            for start in range(0, len(terms), _BATCH):
                chunk = terms[start : start + _BATCH]
                criteria: list[Any] = ["OR"] * (len(chunk) - 1)
                for m in chunk:
                    criteria += ["HEADER", "Message-ID", m]
                uids.update(int(u) for u in self.conn.call("search", criteria))
        found: dict[str, list[int]] = {}
        want = set(wanted)
        for uid, entry in sorted(self.learn(folder, uids).items()):
            if entry.id in want:
                found.setdefault(entry.id, []).append(uid)
        return found

    def check_validity(self, folder: str, validity: int) -> None:
        """Raise SyncStateExpired when UIDs found under `validity` mean nothing now."""
        if self.select(folder, readonly=False) != validity:
            self.views.pop(folder, None)
            raise errors.uidvalidity_changed(folder, where=self.conn.where)

    def body(self, uid: int) -> bytes:
        """A message's bytes (of the selected folder), without setting \\Seen."""
        answer = self.conn.call("fetch", [uid], ["BODY.PEEK[]"])
        data = answer.get(uid, {})
        value = data.get(b"BODY[]")
        return value if isinstance(value, bytes) else b""

    def flags(self, uids: Sequence[int]) -> dict[int, frozenset[bytes]]:
        answer = self.conn.call("fetch", list(uids), ["FLAGS"])
        return {int(u): frozenset(d.get(b"FLAGS", ())) for u, d in answer.items()}
