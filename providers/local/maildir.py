"""The embedded default mailbox: a Maildir, with held mail in a Maildir++ folder.

Holding and releasing are single `rename` calls between the inbox and the
`.Firstblock-Held` folder, keeping the file name (and with it the read/replied
flags after ":2,") and the subdirectory (`new` stays unseen). A rename is atomic, so
a crash can neither lose nor duplicate a message, and held mail is always found by
listing the folder: no local state is needed to return it.

When a message's name (the part before ":2,") is taken where it goes, by another
file in `new/` or `cur/` (a second copy from a sync tool, say), it moves under a
fresh unique name instead, flags and subdirectory kept: still one rename, so nothing
is overwritten and nothing stays behind.

Reading never creates anything: folders are made only when something goes into them.
"""

from __future__ import annotations

import email.parser
import email.policy
import email.utils
import hashlib
import itertools
import os
import secrets
import socket
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from providers import mime
from providers.base import Alert, Draft, MailProvider, Message
from providers.errors import DataError

HELD = ".Firstblock-Held"
DRAFTS = ".Drafts"  # Maildir++'s drafts folder, as Dovecot and mail clients name it
ALERT_HEADER = "X-Firstblock-Alert"
DRAFT_HEADER = "X-Firstblock-Draft"
_SUBDIRS = ("new", "cur")
_HEADER_LIMIT = 64 * 1024
# The unique part of a fresh name: Maildir's R (random), P (pid), Q (count) and host.
_HOST = socket.gethostname().replace("/", r"\057").replace(":", r"\072")
_COUNT = itertools.count()


def not_a_maildir(root: Path) -> str:
    """Why `root` is no Maildir to release ("" when it is one): it needs cur, new and
    tmp, or firstblock's held folder with them. Reads only. Raises OSError."""
    if not root.exists():
        return "no such directory"
    if not root.is_dir():
        return "not a directory"
    if not any(all((f / s).is_dir() for s in ("cur", "new", "tmp")) for f in (root, root / HELD)):
        return "no cur, new and tmp in it"
    return ""


class LocalMailbox(MailProvider):
    supports_drafts = True

    def __init__(self, root: Path, *, name: str = "local") -> None:
        super().__init__(name=name)
        self.root = root
        self.held = root / HELD
        self._renamed: list[tuple[str, str]] = []

    def _make(self, folder: Path, *, parents: bool = False) -> None:
        """Create the folder's tmp, new and cur, just before something goes into it.
        Without `parents`, only inside a Maildir that exists already."""
        try:
            folder.mkdir(parents=parents, exist_ok=True, mode=0o700)
            for sub in ("tmp", "new", "cur"):
                (folder / sub).mkdir(exist_ok=True, mode=0o700)
            if folder != self.root:  # a Maildir++ subfolder
                (folder / "maildirfolder").touch(exist_ok=True)
        except OSError as exc:
            raise DataError(f"cannot use the Maildir: {exc.strerror}", where=str(folder)) from exc

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
            except OSError as exc:
                raise DataError(
                    f"cannot read the Maildir: {exc.strerror}", where=str(folder / sub)
                ) from exc

    def _names(self, folder: Path) -> set[str]:
        """The names (before ":2,") taken in a folder's new/ and cur/."""
        names: set[str] = set()
        for sub in _SUBDIRS:
            try:
                with os.scandir(folder / sub) as it:
                    names.update(entry.name.split(":", 1)[0] for entry in it)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise DataError(
                    f"cannot read the Maildir: {exc.strerror}", where=str(folder / sub)
                ) from exc
        return names

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
        except OSError as exc:
            raise DataError(f"cannot read a message: {exc.strerror}", where=str(path)) from exc
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
        found = (self._message(k, p, held=False, since=since) for k, p in self._entries(self.root))
        return [m for m in found if m is not None]

    def list_held(self) -> list[Message]:
        found = (self._message(k, p, held=True) for k, p in self._entries(self.held))
        return [m for m in found if m is not None]

    def count_held(self) -> int:
        return sum(1 for _ in self._entries(self.held))

    def hold(self, ids: Sequence[str]) -> int:
        return self._move(self.root, self.held, set(ids))

    def release(self, ids: Sequence[str]) -> int:
        return self._move(self.held, self.root, set(ids))

    def release_all(self) -> int:
        """Return everything held, streaming: no list of messages is built first."""
        return self._move(self.held, self.root, None)

    def take_renamed(self) -> list[tuple[str, str]]:
        renamed, self._renamed = self._renamed, []
        return renamed

    def _move(self, source: Path, target: Path, wanted: set[str] | None) -> int:
        moved = 0
        taken: set[str] | None = None  # listed once, when the first message moves
        for key, path in self._entries(source):
            if wanted is not None and key not in wanted:
                continue
            if taken is None:
                self._make(target)
                taken = self._names(target)
            new_key = self._fresh(key, taken) if key in taken else key
            to = target / path.parent.name / (new_key + path.name[len(key) :])
            if self._rename(path, to):
                moved += 1
                taken.add(new_key)
                if new_key != key:
                    self._renamed.append((key, new_key))
        return moved

    @staticmethod
    def _fresh(key: str, taken: set[str]) -> str:
        """A Maildir unique name no file has or will have. The first part stays: it is
        the delivery time the hold reads (or, not a number, sends it to the mtime)."""
        first = key.split(".", 1)[0]
        while True:
            name = f"{first}.R{secrets.token_hex(8)}P{os.getpid()}Q{next(_COUNT)}.{_HOST}"
            if name not in taken:
                return name

    def _rename(self, path: Path, to: Path) -> int:
        try:
            if to.exists():
                return 0  # arrived since the listing: never overwrite; the next run moves it
            os.rename(path, to)
            return 1
        except FileNotFoundError:
            return 0  # moved or deleted meanwhile
        except OSError as exc:
            raise DataError(f"cannot move a message: {exc.strerror}", where=str(path)) from exc

    def deliver(self, alert: Alert, *, first_try: bool = False) -> None:
        """Write an alert into the inbox (tmp, then rename into new). One file per key."""
        self._make(self.root, parents=True)
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
        mime.fill(msg, alert, tag)
        tmp = self.root / "tmp" / name
        tmp.write_bytes(msg.as_bytes())
        os.rename(tmp, self.root / "new" / name)

    def save_draft(self, draft: Draft) -> None:
        """Into the Drafts folder's cur/, flagged D(raft), as mail clients keep their
        drafts; one file per key. Nothing here sends mail."""
        folder = self.root / DRAFTS
        self._make(self.root, parents=True)
        self._make(folder)
        tag = "fb-draft-" + hashlib.sha256(draft.key.encode()).hexdigest()[:24]
        if any(k.endswith(tag) for k, _ in self._entries(folder)):
            return
        name = f"{int(draft.created.timestamp())}.{tag}"
        msg = EmailMessage()
        msg["To"] = ", ".join(draft.to)
        msg["Subject"] = draft.subject
        msg["Date"] = email.utils.format_datetime(draft.created)
        msg[DRAFT_HEADER] = draft.key
        msg.set_content(draft.text)
        tmp = folder / "tmp" / name
        tmp.write_bytes(msg.as_bytes())
        os.rename(tmp, folder / "cur" / f"{name}:2,D")
