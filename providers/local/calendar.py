"""The embedded default calendar: one .ics file on disk.

Writes splice only the worker's own VEVENTs in and out of the original text, so
every other line of the file stays byte for byte as it was. A file is replaced
atomically (temporary file, fsync, rename) under a lock, and a file that cannot be
parsed is never written.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import filelock
import icalendar

from providers.base import CalendarProvider
from providers.errors import Conflict, DataError, ProviderError, TransientError
from providers.local import cache, ics
from worker.clock import Clock, SystemClock
from worker.models import Change, Op, Snapshot, Window
from worker.text import excerpt

EMPTY = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//firstblock//firstblock//EN\r\nEND:VCALENDAR\r\n"
)
_UNFOLD = re.compile(r"\r?\n[ \t]")


class LocalCalendar(CalendarProvider):
    def __init__(
        self,
        path: Path,
        *,
        name: str = "local",
        clock: Clock | None = None,
        lock_timeout: float = 30.0,
    ) -> None:
        super().__init__(name=name)
        self.path = path
        self.clock = clock or SystemClock()
        self.lock_timeout = lock_timeout

    # -- reading

    def _load(self) -> tuple[bytes, cache.Identity | None]:
        """The file's bytes and, when it exists, its identity as they were read."""
        try:
            with open(self.path, "rb") as fh:
                identity = cache.Identity.of(os.fstat(fh.fileno()))
                return fh.read(), identity
        except FileNotFoundError:
            return b"", None
        except OSError as exc:
            raise _os_error("cannot read the calendar", exc, self.path) from exc

    def _read(self) -> tuple[str, bytes]:
        """The file's text, and its bytes as read (to see later whether it changed)."""
        data = self._load()[0]
        return self._decode(data), data

    def _decode(self, data: bytes) -> str:
        if not data.strip():
            return EMPTY  # an empty file (from `touch`) is an empty calendar
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DataError(
                f"not UTF-8 text at byte {exc.start}; nothing was written", where=str(self.path)
            ) from exc

    def _parse(self, text: str) -> icalendar.Calendar:
        try:
            return ics.parse_calendar(text)
        except Exception as exc:
            raise DataError(
                f"not a valid iCalendar file ({excerpt(str(exc))}); nothing was written",
                where=str(self.path),
            ) from exc

    def _parsed(self) -> cache.Entry:
        """The file parsed, for reading only: the cache's entry while the file holds
        the bytes it was parsed from (cache.py). Writes parse afresh."""
        data, identity = self._load()
        if identity is None:
            return cache.Entry(cache.Identity(0, 0, 0, 0), b"", self._parse(EMPTY))
        return cache.PARSED.get(
            str(self.path), identity, data, lambda: self._parse(self._decode(data))
        )

    def timezone(self) -> str | None:
        return ics.calendar_zone(self._parsed().calendar)

    def fetch(self, window: Window) -> Snapshot:
        parsed = self._parsed().expanded(window)
        return Snapshot(tuple(parsed.events), tuple(parsed.blocks), tuple(parsed.problems))

    # -- writing

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        lock = filelock.FileLock(str(self.path) + ".lock", timeout=self.lock_timeout)
        try:
            with lock:
                yield
        except filelock.Timeout as exc:
            raise TransientError(
                "the calendar is locked by another run", where=str(self.path)
            ) from exc

    def _apply(self, changes: Sequence[Change]) -> list[Change]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._locked():
                # Another program (a calendar app) may save the file while we work on
                # it; the lock binds only firstblock. Write only over what was read.
                for _ in range(SAVE_ATTEMPTS):
                    data, applied = self._splice_changes(changes)
                    if data is not None and self._write(data[0], data[1]):
                        return applied
        except OSError as exc:
            raise _os_error("cannot write the calendar", exc, self.path) from exc
        raise TransientError(
            "the calendar kept changing while firstblock wrote to it (another program is "
            "saving it); nothing was written, try again later",
            where=str(self.path),
        )

    def _splice_changes(
        self, changes: Sequence[Change]
    ) -> tuple[tuple[str, bytes] | None, list[Change]]:
        """The new text with `changes` in it, and the changes as applied; None for the
        text when the file changed while it was being read."""
        text, read = self._read()
        try:
            # Afresh, not the cache's: what is written rests on these bytes alone.
            cal = self._parse(text)  # never rewrite a file we cannot read
        except DataError:
            if self._unchanged(read):
                raise
            return None, []  # caught half-way through another program's save
        current = {b.id: b for b in ics.owned(cal).values()}
        taken = ics.taken(cal)
        newline = "\r\n" if "\r\n" in text or not read else "\n"
        stamp = self.clock.now()
        replace_with: dict[str, str] = {}
        applied: list[Change] = []
        for change in changes:
            block = change.block
            found = current.get(block.id)
            if change.op is Op.CREATE and found is not None and found.touched:
                # The user changed it after we read the calendar: theirs now.
                raise Conflict(f"block {block.key} was changed meanwhile", where=str(self.path))
            if change.op is Op.CREATE and found is None and block.id in taken:
                # An event of the user's carries this block's id (reported by fetch):
                # the block is not written, as for a block the user deleted.
                continue
            if change.op is Op.UPDATE and found is None:
                raise Conflict(f"block {block.key} is gone", where=str(self.path))
            if (
                change.op is not Op.CREATE
                and found is not None
                and change.before is not None
                and found.etag != change.before.etag
            ):
                raise Conflict(f"block {block.key} changed since it was read", where=str(self.path))
            if change.op is Op.DELETE:
                if found is not None:
                    replace_with[block.id] = ""
                applied.append(change)
                continue
            vevent = ics.render(block, stamp).decode()
            replace_with[block.id] = vevent
            written = replace(
                block,
                written=block.fingerprint,
                etag=ics.etag(icalendar.Event.from_ical(vevent)),
            )
            applied.append(replace(change, block=written))
        return (_splice(text, replace_with, newline, set(current)), read), applied

    def _unchanged(self, read: bytes) -> bool:
        try:
            return self.path.read_bytes() == read
        except FileNotFoundError:
            return not read

    def _write(self, text: str, read: bytes) -> bool:
        """Replace the file with `text` if it still holds `read`; False if it changed."""
        mode = self.path.stat().st_mode & 0o777 if self.path.exists() else 0o600
        fd, tmp = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, mode)
            # A save that lands between this check and the rename is still lost; the
            # window is a few microseconds instead of the whole step.
            if not self._unchanged(read):
                os.unlink(tmp)
                return False
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        with contextlib.suppress(OSError):
            dirfd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dirfd)
            finally:
                os.close(dirfd)
        return True


SAVE_ATTEMPTS = 3


def _os_error(what: str, exc: OSError, path: Path) -> ProviderError:
    """A full disk is worth another try later; anything else needs the user."""
    why = exc.strerror or type(exc).__name__
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return TransientError(f"{what}: {why}; nothing was written", where=str(path))
    where = exc.filename if isinstance(exc.filename, str) else str(path)
    return DataError(f"{what}: {why}; nothing was written", where=where)


def _splice(text: str, replace_with: dict[str, str], newline: str, ours: set[str]) -> str:
    """Swap our VEVENTs whose UID is in `replace_with` ("" deletes); append the rest.

    Only a VEVENT whose UID is in `ours` is replaced: `owned` made sure it is the
    only one with that UID. Every other VEVENT stays byte for byte, whatever its UID.
    """
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    pending = {uid: v for uid, v in replace_with.items() if v}
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.rstrip("\r\n").upper() == "BEGIN:VEVENT":
            j = i
            while j < len(lines) and lines[j].rstrip("\r\n").upper() != "END:VEVENT":
                j += 1
            chunk = lines[i : j + 1]
            uid = _uid("".join(chunk))
            if uid in ours and uid in replace_with:
                vevent = pending.pop(uid, "")
                if vevent:
                    out.append(_lines(vevent, newline))
            else:
                out.extend(chunk)
            i = j + 1
            continue
        if line.rstrip("\r\n").upper() == "END:VCALENDAR":
            out.extend(_lines(v, newline) for v in pending.values())
            pending.clear()
        out.append(line)
        i += 1
    return "".join(out)


def _uid(vevent: str) -> str:
    """The VEVENT's own UID, not one of a component inside it (a VALARM's)."""
    depth = 0
    for line in _UNFOLD.sub("", vevent).splitlines():
        name, _, value = line.partition(":")
        name = name.split(";")[0].strip().upper()
        if name == "BEGIN":
            depth += 1
        elif name == "END":
            depth -= 1
        elif name == "UID" and depth == 1:
            return value.strip()
    return ""


def _lines(vevent: str, newline: str) -> str:
    return newline.join(vevent.replace("\r\n", "\n").split("\n")).rstrip("\r\n") + newline
