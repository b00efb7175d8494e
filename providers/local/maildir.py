"""The embedded default mailbox: a Maildir, with held mail in a Maildir++ folder.

Holding and releasing are single `rename` calls between the inbox and the
`.Firstblock-Held` folder, keeping the file name (and with it the read/replied
flags after ":2,") and the subdirectory (`new` stays unseen). A rename is atomic, so
a crash can neither lose nor duplicate a message, and held mail is always found by
listing the folder: no local state is needed to return it.
"""

from __future__ import annotations

import email.parser
import email.policy
import email.utils
import hashlib
import os
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from providers.base import Alert, MailProvider, Message
from providers.errors import DataError

HELD = ".Firstblock-Held"
ALERT_HEADER = "X-Firstblock-Alert"
_SUBDIRS = ("new", "cur")
_HEADER_LIMIT = 64 * 1024


class LocalMailbox(MailProvider):
    def __init__(self, root: Path, *, name: str = "local") -> None:
        super().__init__(name=name)
        self.root = root
        self.held = root / HELD

    def _ensure(self) -> None:
        try:
            for folder in (self.root, self.held):
                for sub in ("tmp", "new", "cur"):
                    (folder / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
            (self.held / "maildirfolder").touch(exist_ok=True)
        except OSError as exc:
            raise DataError(
                f"cannot use the Maildir: {exc.strerror}", where=str(self.root)
            ) from exc

    def _entries(self, folder: Path) -> Iterator[tuple[str, Path]]:
        """(message id, path) for every message in a folder, streamed from the directory."""
        for sub in _SUBDIRS:
            try:
                with os.scandir(folder / sub) as it:
                    for entry in it:
                        if entry.is_file() and not entry.name.startswith("."):
                            yield entry.name.split(":", 1)[0], Path(entry.path)
            except FileNotFoundError:
                continue

    def _message(
        self, key: str, path: Path, held: bool, since: datetime | None = None
    ) -> Message | None:
        try:
            # Maildir names start with the delivery time; the file's mtime is the fallback.
            first = key.split(".", 1)[0]
            received = datetime.fromtimestamp(
                int(first) if first.isdigit() else path.stat().st_mtime, UTC
            )
            if since is not None and received < since:
                return None
            with path.open("rb") as fh:
                head = fh.read(_HEADER_LIMIT)
        except FileNotFoundError:
            return None  # moved or deleted by someone else meanwhile
        end = head.find(b"\n\n")
        end = head.find(b"\r\n\r\n") if end < 0 else end
        headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(
            head[: end if end >= 0 else len(head)]
        )
        return Message(
            id=key,
            sender=email.utils.parseaddr(str(headers.get("From", "")))[1].lower(),
            received=received,
            held=held,
            alert=headers.get(ALERT_HEADER) is not None,
        )

    def list_inbox(self, since: datetime | None) -> list[Message]:
        self._ensure()
        found = (self._message(k, p, held=False, since=since) for k, p in self._entries(self.root))
        return [m for m in found if m is not None]

    def list_held(self) -> list[Message]:
        self._ensure()
        found = (self._message(k, p, held=True) for k, p in self._entries(self.held))
        return [m for m in found if m is not None]

    def count_held(self) -> int:
        self._ensure()
        return sum(1 for _ in self._entries(self.held))

    def hold(self, ids: Sequence[str]) -> int:
        self._ensure()
        return self._move(self.root, self.held, ids)

    def release(self, ids: Sequence[str]) -> int:
        self._ensure()
        return self._move(self.held, self.root, ids)

    def release_all(self) -> int:
        """Return everything held, streaming: no list of messages is built first."""
        self._ensure()
        moved = 0
        for _, path in self._entries(self.held):
            moved += self._rename(path, self.root / path.parent.name / path.name)
        return moved

    def _move(self, source: Path, target: Path, ids: Sequence[str]) -> int:
        wanted = set(ids)
        moved = 0
        for key, path in self._entries(source):
            if key in wanted:
                moved += self._rename(path, target / path.parent.name / path.name)
        return moved

    def _rename(self, path: Path, to: Path) -> int:
        try:
            if to.exists():
                return 0  # already there: a crash between two runs, never a copy
            os.rename(path, to)
            return 1
        except FileNotFoundError:
            return 0  # moved or deleted meanwhile
        except OSError as exc:
            raise DataError(f"cannot move a message: {exc.strerror}", where=str(path)) from exc

    def deliver(self, alert: Alert) -> None:
        """Write an alert into the inbox (tmp, then rename into new). One file per key."""
        self._ensure()
        tag = "fb-alert-" + hashlib.sha256(alert.key.encode()).hexdigest()[:24]
        for folder in (self.root, self.held):
            if any(k.endswith(tag) for k, _ in self._entries(folder)):
                return
        name = f"{int(alert.created.timestamp())}.{tag}"
        msg = EmailMessage()
        msg["From"] = "firstblock <firstblock@localhost>"
        msg["To"] = self.name
        msg["Subject"] = alert.subject
        msg["Date"] = email.utils.format_datetime(alert.created)
        msg[ALERT_HEADER] = alert.key
        msg.set_content(alert.text)
        if alert.html:
            msg.add_alternative(alert.html, subtype="html")
        tmp = self.root / "tmp" / name
        tmp.write_bytes(msg.as_bytes())
        os.rename(tmp, self.root / "new" / name)
