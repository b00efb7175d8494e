"""The embedded default calendar: one .ics file on disk.

Writes splice only the worker's own VEVENTs in and out of the original text, so
every other line of the file stays byte for byte as it was. A file is replaced
atomically (temporary file, fsync, rename) under a lock, and a file that cannot be
parsed is never written.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import filelock
import icalendar

from providers.base import CalendarProvider
from providers.errors import Conflict, DataError, TransientError
from providers.local import ics
from worker.clock import Clock, SystemClock
from worker.models import Change, Op, Snapshot, Window

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

    def _text(self) -> str:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return EMPTY
        except OSError as exc:
            raise DataError(
                f"cannot read the calendar: {exc.strerror}", where=str(self.path)
            ) from exc
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
                f"not a valid iCalendar file ({exc}); nothing was written", where=str(self.path)
            ) from exc

    def timezone(self) -> str | None:
        return ics.calendar_zone(self._parse(self._text()))

    def fetch(self, window: Window) -> Snapshot:
        parsed = ics.read(self._parse(self._text()), window)
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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._locked():
            text = self._text()
            cal = self._parse(text)  # never rewrite a file we cannot read
            current = {b.id: b for b in ics.read_blocks(cal)}
            newline = "\r\n" if "\r\n" in text or not self.path.exists() else "\n"
            stamp = self.clock.now()
            replace_with: dict[str, str] = {}
            applied: list[Change] = []
            for change in changes:
                block = change.block
                found = current.get(block.id)
                if change.op is Op.CREATE and found is not None and found.touched:
                    # The user changed it after we read the calendar: theirs now.
                    raise Conflict(f"block {block.key} was changed meanwhile", where=str(self.path))
                if change.op is Op.UPDATE and found is None:
                    raise Conflict(f"block {block.key} is gone", where=str(self.path))
                if (
                    change.op is not Op.CREATE
                    and found is not None
                    and change.before is not None
                    and found.etag != change.before.etag
                ):
                    raise Conflict(
                        f"block {block.key} changed since it was read", where=str(self.path)
                    )
                if change.op is Op.DELETE:
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
            self._write(_splice(text, replace_with, newline))
        return applied

    def _write(self, text: str) -> None:
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


def _splice(text: str, replace_with: dict[str, str], newline: str) -> str:
    """Swap the VEVENTs whose UID is in `replace_with` ("" deletes); append the rest."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    pending = dict(replace_with)
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.rstrip("\r\n").upper() == "BEGIN:VEVENT":
            j = i
            while j < len(lines) and lines[j].rstrip("\r\n").upper() != "END:VEVENT":
                j += 1
            chunk = lines[i : j + 1]
            uid = _uid("".join(chunk))
            if uid in pending:
                vevent = pending.pop(uid)
                if vevent:
                    out.append(_lines(vevent, newline))
            elif uid not in replace_with:
                out.extend(chunk)
            i = j + 1
            continue
        if line.rstrip("\r\n").upper() == "END:VCALENDAR":
            out.extend(_lines(v, newline) for v in pending.values() if v)
            pending.clear()
        out.append(line)
        i += 1
    return "".join(out)


def _uid(vevent: str) -> str:
    for line in _UNFOLD.sub("", vevent).splitlines():
        name, _, value = line.partition(":")
        if name.split(";")[0].strip().upper() == "UID":
            return value.strip()
    return ""


def _lines(vevent: str, newline: str) -> str:
    return newline.join(vevent.replace("\r\n", "\n").split("\n")).rstrip("\r\n") + newline
