"""What a connected account's provider remembers between runs, in one small JSON file.

Only things that save requests or that were learnt once: the calendar's zone, ids of
the worker's labels, folders and rules, sync cursors with what they cover, message
headers already read. Losing it is safe: everything is read again from the provider
(docs/design.md §2.3). The version guards against a stale layout.

A steady cycle parses its memo once and may write it once; with the calendar's
cache in it that was a sixth of the cycle's CPU, hence orjson (several times faster
than the json module at both). Whether it changed is told by encoding it and comparing
the bytes with what was read or written: parsing a second copy to compare with cost
twice as much as encoding (a 45 KB memo: 180 µs to parse, 85 to encode).

A listing's items (a calendar's events) are most of a memo, and a steady cycle
needs none of them: its snapshot is kept by the listing's stamp
(providers/snapshots.py). So they live in a side document of their own, beside the
memo, read only when asked for and written only when the listing's stamp changed:
whoever changes the items gives the listing a new stamp. A side whose stamp is not
the memo's (a crash between the two writes) is a lost listing, which is safe.

A memo file is rewritten in place, not replaced by a new file: replacing costs a tenth
of a steady cycle in the kernel (ext4 allocates and flushes at the rename), and a
steady cycle rewrites it for one new sync cursor. A checksum line after the JSON
tells a torn write (a crash mid-write, or a reader racing the writer), and a torn
memo is a lost one, which is safe. So is a memo of an unknown version.
"""

from __future__ import annotations

import os
import zlib
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from providers.base import AccountSpec, Documents
from worker.models import Window

# 2: a stamped listing's items may be in a side document. A firstblock that reads
# only version 1 expects them inline, so it takes a newer memo for a lost one (a
# full read) rather than fail on it; this one reads both.
VERSION = 2
READS = (1, 2)
SUM = b"\n#crc32="  # then 8 hex digits and a newline, after the JSON


def for_account(spec: AccountSpec, provider: str) -> Memo:
    """The account's memo: a file in state_dir, or a document in a team's shared state."""
    path = spec.state_dir / provider / f"{spec.name}.json"
    if spec.shared is not None:
        memo = Memo(path, shared=spec.shared, name=f"memo/{provider}/{spec.name}")
    else:
        memo = Memo(path)
    memo.read_only = spec.read_only
    return memo


def forget(spec: AccountSpec, provider: str) -> None:
    """Another account under this name must not inherit the last one's memory."""
    path = spec.state_dir / provider / f"{spec.name}.json"
    for where in (path, *(_side_path(path, key) for key in SIDES)):
        where.unlink(missing_ok=True)
    if spec.shared is not None:
        name = f"memo/{provider}/{spec.name}"
        for document in (name, *(_side_name(name, key) for key in SIDES)):
            spec.shared.remove(document)


# The listings whose items go to a side document once stamped (the calendar's, on
# Google and Outlook); one without a stamp (an older memo's) keeps them inline.
SIDES = ("calendar",)
ITEMS = "items"


def _side_path(path: Path, key: str) -> Path:
    return path.parent / key / path.name  # never another account's memo: a folder


def _side_name(name: str, key: str) -> str:
    head, _, tail = name.rpartition("/")
    return f"{head}/{key}/{tail}"


class Memo:
    def __init__(
        self, path: Path | None, *, shared: Documents | None = None, name: str = ""
    ) -> None:
        self.path = path  # None: remember nothing (tests, dry runs of a new account)
        self.shared, self.name = shared, name
        self.data: dict[str, Any] = {}
        # As on disk: callers change `data` in place, so `save` compares its encoding.
        self._saved: bytes | None = None
        self._sides: dict[str, str] = {}  # side key -> the stamp its document holds
        if path is not None:
            try:
                text = self._read()
                loaded = orjson.loads(text)
            except (OSError, ValueError):
                loaded = {}
            if isinstance(loaded, dict) and loaded.get("version") in READS:
                self.data = loaded
                self._saved = text.encode() if isinstance(text, str) else text
        self.data["version"] = VERSION
        self.read_only = False  # a dry run's: read, never written back

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any) -> None:
        if value is None:
            self.data.pop(key, None)
        else:
            self.data[key] = value

    def items(self, key: str) -> dict[str, Any] | None:
        """The items of the listing under `key` (one of SIDES), read from its side
        document the first time; None when they are lost: no side, a torn one, or
        one of another stamp. The caller then reads the listing afresh."""
        listing = self.data.get(key)
        if not isinstance(listing, dict):
            return None
        if ITEMS not in listing:  # in the side, not read yet
            stamp = listing.get("stamp")
            if self.path is None or not stamp:
                return None
            try:
                side = orjson.loads(self._read(key))
            except (OSError, ValueError):
                return None
            if not isinstance(side, dict) or side.get("stamp") != stamp:
                return None
            listing[ITEMS] = side.get(ITEMS) or {}
            self._sides[key] = stamp
        found: dict[str, Any] = listing[ITEMS]
        return found

    def _place(self, side: str) -> tuple[Path, str]:
        """The memo's file and shared name, or those of its side `side` ("": none)."""
        assert self.path is not None
        if not side:
            return self.path, self.name
        return _side_path(self.path, side), _side_name(self.name, side)

    def _read(self, side: str = "") -> str | bytes:
        path, name = self._place(side)
        if self.shared is not None:
            return self.shared.read(name) or "{}"
        return _checked(path.read_bytes())

    def save(self) -> None:
        """Write it if it changed: a side first, when its listing has a new stamp,
        then the memo. A failure to write only costs requests next time."""
        if self.path is None or self.read_only:
            return
        main = dict(self.data)
        for key in SIDES:
            listing = main.get(key)
            if not isinstance(listing, dict) or ITEMS not in listing or not listing.get("stamp"):
                continue  # its items unread (as in the side), or unstamped: inline
            stamp = str(listing["stamp"])
            if self._sides.get(key) != stamp:
                side = {"stamp": stamp, ITEMS: listing[ITEMS]}
                if not self._write(_encoded(side), key):
                    continue  # kept inline this time: nothing is lost
                self._sides[key] = stamp
            main[key] = {k: v for k, v in listing.items() if k != ITEMS}
        text = _encoded(main)
        if text != self._saved and self._write(text):
            self._saved = text

    def _write(self, text: bytes, side: str = "") -> bool:
        path, name = self._place(side)
        if self.shared is not None:
            self.shared.write(name, text.decode())
            return True
        try:
            _write_in_place(path, text + SUM + b"%08x\n" % zlib.crc32(text))
        except OSError:
            return False
        return True


def _encoded(data: dict[str, Any]) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def _checked(raw: bytes) -> bytes:
    """The JSON of a memo file; raises ValueError when its checksum does not match."""
    body, found, tail = raw.rpartition(SUM)
    if not found or tail.strip() != b"%08x" % zlib.crc32(body):
        raise ValueError("a torn or old memo")
    return body


def _write_in_place(path: Path, data: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.ftruncate(fd, len(data))
    finally:
        os.close(fd)


def covers(cache: dict[str, Any], window: Window) -> bool:
    """Whether a remembered listing's span ("start", "end") covers `window`."""
    try:
        start = datetime.fromisoformat(cache["start"])
        end = datetime.fromisoformat(cache["end"])
    except (KeyError, TypeError, ValueError):
        return False
    return start <= window.start and window.end <= end
