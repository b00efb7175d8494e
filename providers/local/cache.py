"""Parsed calendar files, kept while the file is unchanged.

The web app decides a page from the file at every request, and serve at every cycle;
parsing, and finding firstblock's own blocks in what was parsed, are most of a read,
and the file rarely changes between two. An entry serves a read only when the file's
identity (device, inode, size, mtime) and its bytes are the very ones it was parsed
from. The bytes are read anyway (to decode, and for the write path's check) and
comparing them takes microseconds, so a change that keeps the identity is still
seen: Linux stamps mtimes from a clock that ticks every few milliseconds, and
`cp -p` or `touch -r` set one on purpose.

What an entry holds is shared by every reader, in every thread: nothing may change
it. ics.prepare and ics.expand copy any component they alter, the libraries they
call copy too, and writes parse the bytes afresh (calendar.py). Failed parses are
not kept. An entry also keeps the last few expansions (ics.expand, under the time
budgets of bounds.py) by zone and window: a cycle reads whole local days
(worker/cycle.py), so the window stays put all day and a page or a cycle of an
unchanged file expands nothing.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import icalendar

from providers.local import ics
from worker.models import Window

# A parsed calendar takes about 17 times its file in memory: the bounds keep the
# cache near 200 MB at most, however many accounts. Larger files are parsed each time.
FILES = 128
FILE_BYTES = 2 * 1024 * 1024
TOTAL_BYTES = 12 * 1024 * 1024
ZONES = 4  # prepared views per file: one, unless accounts share a file across zones
WINDOWS = 4  # expansions per file: today's window, and a preview's or another zone's


@dataclass(frozen=True)
class Identity:
    device: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> Identity:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class Entry:
    """One file as parsed, and its prepared views by zone (ics.prepare)."""

    def __init__(self, identity: Identity, data: bytes, calendar: icalendar.Calendar) -> None:
        self.identity, self.data, self.calendar = identity, data, calendar
        self._lock = threading.Lock()
        self._prepared: dict[str, ics.Prepared] = {}
        self._expanded: OrderedDict[Window, ics.Parsed] = OrderedDict()

    def prepared(self, zone: str) -> ics.Prepared:
        with self._lock:
            found = self._prepared.get(zone)
        if found is None:
            found = ics.prepare(self.calendar, zone)  # twice at worst, never wrong
            with self._lock:
                if len(self._prepared) >= ZONES:
                    self._prepared.clear()
                self._prepared[zone] = found
        return found

    def expanded(self, window: Window) -> ics.Parsed:
        """The window's events and blocks. What comes back is shared: read only."""
        with self._lock:
            found = self._expanded.get(window)
            if found is not None:
                self._expanded.move_to_end(window)
                return found
        found = ics.expand(self.prepared(window.zone), window)
        with self._lock:
            self._expanded[window] = found
            while len(self._expanded) > WINDOWS:
                self._expanded.popitem(last=False)
        return found


class ParseCache:
    """Least recently used out first, bounded in files and in bytes. Thread-safe: the
    lock guards only the index, so files are parsed in parallel (the same file,
    missed by two threads at once, is parsed by both: harmless)."""

    def __init__(
        self, files: int = FILES, file_bytes: int = FILE_BYTES, total_bytes: int = TOTAL_BYTES
    ) -> None:
        self.files, self.file_bytes, self.total_bytes = files, file_bytes, total_bytes
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._bytes = 0

    def get(
        self,
        path: str,
        identity: Identity,
        data: bytes,
        parse: Callable[[], icalendar.Calendar],
    ) -> Entry:
        """The entry for `data`, the bytes just read from `path`; `parse` makes the
        calendar when there is none. An entry too large to keep is not stored."""
        with self._lock:
            entry = self._entries.get(path)
            if entry is not None:
                self._entries.move_to_end(path)
        # Outside the lock: a large file takes a while to compare.
        if entry is not None and entry.identity == identity and entry.data == data:
            return entry
        entry = Entry(identity, data, parse())
        with self._lock:
            self._drop(path)
            if len(data) <= self.file_bytes:
                self._entries[path] = entry
                self._bytes += len(data)
                while len(self._entries) > self.files or self._bytes > self.total_bytes:
                    self._drop(next(iter(self._entries)))
        return entry

    def _drop(self, path: str) -> None:
        entry = self._entries.pop(path, None)
        if entry is not None:
            self._bytes -= len(entry.data)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes(self) -> int:
        return self._bytes


# One for the process: the web app opens a provider for each request.
PARSED = ParseCache()
