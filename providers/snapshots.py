"""What a calendar read last turned into our own types, per account, kept by a stamp.

A steady cycle reads a remembered calendar back unchanged, and turning its provider
JSON into events and blocks again was a sixth of the cycle's CPU. The provider stamps
its remembered listing afresh whenever it changes (a new read, a write, a decline),
also in another process, since the stamp is in the memo; the same stamp, window and
zone give the same snapshot, which is immutable, so it is kept and given back.

Kept for every account a process cycles (a fleet's serve visits them in turn, so a
smaller cache would miss every time): about what the memo's items take, parsed.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Hashable

from worker.models import Snapshot

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
