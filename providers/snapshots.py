"""What a calendar read last turned into our own types, per account, kept by a stamp.

A steady cycle reads a remembered calendar back unchanged, and turning its provider
JSON into events and blocks again was a sixth of the cycle's CPU. The provider stamps
its remembered listing afresh whenever it changes (a new read, a write, a decline),
also in another process, since the stamp is in the memo; the same stamp, window and
zone give the same snapshot, which is immutable, so it is kept and given back.

`remembered` is that read, for Google's and Outlook's calendars alike.

Kept for every account a process cycles (a fleet's serve visits them in turn, so a
smaller cache would miss every time): about what the memo's items take, parsed.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from providers.memo import Memo
from worker.models import Snapshot, Window

ACCOUNTS = 100_000


def stamp() -> str:
    """A new stamp for a changed listing: unique across processes and restarts."""
    return secrets.token_hex(8)


class Snapshots:
    def __init__(self, size: int = ACCOUNTS) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._kept: OrderedDict[str, tuple[Hashable, Snapshot]] = OrderedDict()

    def get(self, account: str, key: Hashable) -> Snapshot | None:
        with self._lock:
            found = self._kept.get(account)
        return found[1] if found is not None and found[0] == key else None

    def keep(self, account: str, key: Hashable, snapshot: Snapshot) -> None:
        with self._lock:
            self._kept[account] = (key, snapshot)
            self._kept.move_to_end(account)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)


SNAPSHOTS = Snapshots()


# -- a calendar read through its remembered listing (Google's and Outlook's)

LISTING = "calendar"  # the memo's key for the remembered calendar listing


def kept_items(memo: Memo) -> dict[str, dict[str, Any]] | None:
    """The remembered listing's items. A listing whose items are lost is dropped
    whole: its stamp would give back a snapshot that misses what is written next."""
    items = memo.items(LISTING)
    if items is None:
        memo.set(LISTING, None)
    return items


def remembered(
    memo: Memo,
    window: Window,
    refresh: Callable[[Window], None],
    reads: Callable[[], Hashable],
    mapped: Callable[[dict[str, dict[str, Any]], Window], tuple[Snapshot, bool]],
) -> Snapshot:
    """`refresh` brings the listing up to date over `window`; the same listing (by
    its stamp), window and what else the mapping `reads` give back the snapshot kept
    for them, its items not even read. `mapped` also says whether its snapshot may be
    kept. A memo that remembers nothing keeps none."""
    account = memo.name or str(memo.path)

    def key() -> Hashable | None:
        stamp = (memo.get(LISTING) or {}).get("stamp")
        return (stamp, window, reads()) if stamp and memo.path is not None else None

    refresh(window)
    if (found := key()) is not None and (kept := SNAPSHOTS.get(account, found)) is not None:
        return kept
    items = kept_items(memo)
    if items is None:  # lost (a crash between two writes): read afresh
        refresh(window)
        items = kept_items(memo) or {}
    snapshot, keep = mapped(items, window)
    if keep and (found := key()) is not None:
        SNAPSHOTS.keep(account, found, snapshot)
    return snapshot
