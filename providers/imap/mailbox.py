"""A mailbox on any IMAP server, held mail in a folder of its own ("Firstblock-Held",
the folder a Dovecot Maildir keeps as ".Firstblock-Held", like the local mailbox).

Ids survive moves (`ids.py`); moves never lose or double a message (`moves.py`);
listings cost one STATUS per folder while nothing changed (`folders.py`). Bodies are
never downloaded to list, and nothing here sets \\Seen: headers are read with
BODY.PEEK and folders opened with EXAMINE.

The hold rule is a Sieve script put over ManageSieve (`sieve.py`), so it is offered
only when a ManageSieve port is configured.
"""

from __future__ import annotations

import email.utils
import hashlib
import ssl as ssl_lib
from collections.abc import Callable, MutableMapping, Sequence
from datetime import datetime
from email.message import EmailMessage
from typing import Any, TypeVar

from providers import mime
from providers.base import Alert, Draft, MailProvider, Message
from providers.errors import BadRequest, NotFound, ProviderError
from providers.imap import errors, moves, sieve
from providers.imap.connection import Connection, Security
from providers.imap.folders import Folders
from providers.imap.ids import ALERT_HEADER, DRAFT_HEADER, Entry

INBOX = "INBOX"
T = TypeVar("T")


def _tag(kind: str, key: str) -> str:
    return f"<fb-{kind}-{hashlib.sha256(key.encode()).hexdigest()[:32]}@firstblock>"


class ImapMailbox(MailProvider):
    supports_drafts = True

    def __init__(
        self,
        host: str,
        port: int,
        *,
        user: str,
        password: str,
        ssl: Security = "tls",
        timeout: float = 30.0,
        name: str = "imap",
        sieve_port: int | None = None,
        use_move: bool = True,
        memo: MutableMapping[str, Any] | None = None,
        save: Callable[[], None] | None = None,
        ssl_context: ssl_lib.SSLContext | None = None,
    ) -> None:
        super().__init__(name=name)
        where = f"{name} ({user}@{host})"
        self.conn = Connection(
            host,
            port,
            ssl=ssl,
            user=user,
            password=password,
            timeout=timeout,
            where=where,
            ssl_context=ssl_context,
        )
        self.folders = Folders(self.conn)
        self.sieve_port = sieve_port
        self.supports_hold_rule = sieve_port is not None
        self.use_move = use_move  # False: COPY, STORE \Deleted, UID EXPUNGE even with MOVE
        # Moves begun but not known finished; in the caller's memo when it gives one,
        # so a crashed run's half-done move is finished by the next process.
        memo = memo if memo is not None else {}
        self.memo = memo
        self.folders.restore(memo.get("folders"))
        self.journal: MutableMapping[str, Any] = memo.setdefault("moving", {})
        self.save = save  # writes `memo` out: called before a COPY, and after
        self.step_hook: Callable[[str], None] | None = None  # tests cut moves here
        self._finished: dict[str, str] = {}  # id -> folder a repair moved it into
        self.__password = password

    def __repr__(self) -> str:
        return f"ImapMailbox({self.name!r}, {self.conn!r})"

    @property
    def commands(self) -> int:
        """IMAP commands sent so far (a connect counts its greeting, LOGIN, CAPABILITY)."""
        return self.conn.commands

    def close(self) -> None:
        self.conn.logout()
        self.folders.lost()

    def _run(self, work: Callable[[], T]) -> T:
        """Finish any half-done move, then `work`; on a lost session, connect once
        more and try again (every call here is safe to repeat)."""
        self._finished.clear()
        for attempt in (1, 2):
            try:
                if self.journal:
                    self._finished.update(moves.repair(self.folders, self.journal))
                done = work()
                self._keep()
                return done
            except ProviderError as exc:
                if attempt == 2 or not errors.connection_lost(exc):
                    raise
                self.conn.close()
                self.folders.lost()
        raise AssertionError("unreachable")

    def _keep(self) -> None:
        """Write what the folders hold into the memo, for the next process."""
        self.memo["folders"] = self.folders.export()
        if self.save is not None:
            self.save()

    # Reading

    def _messages(self, entries: list[Entry], *, held: bool) -> list[Message]:
        seen: set[str] = set()
        out = []
        for e in sorted(entries, key=lambda e: (e.received, e.id)):
            if e.id not in seen:  # identical copies share an id and move together
                seen.add(e.id)
                out.append(Message(e.id, e.sender, e.received, held=held, alert=e.alert))
        return out

    def list_inbox(self, since: datetime | None) -> list[Message]:
        entries = self._run(lambda: self.folders.listing(INBOX, since))
        return self._messages(entries, held=False)

    def list_held(self) -> list[Message]:
        entries = self._run(lambda: self.folders.listing(self.folders.held(), None))
        return self._messages(entries, held=True)

    # Moving

    def hold(self, ids: Sequence[str]) -> int:
        return self._moving(lambda: (INBOX, self.folders.held()), ids)

    def release(self, ids: Sequence[str]) -> int:
        return self._moving(lambda: (self.folders.held(), INBOX), ids)

    def _moving(self, where: Callable[[], tuple[str, str]], ids: Sequence[str]) -> int:
        """`_move` under `_run`. A MOVE whose answer was lost with the session moved
        its messages all the same: the attempt after it finds them gone from the
        source, and counts those now in the target."""
        earlier: set[str] = set()  # found in the source by an attempt that failed

        def work() -> int:
            source, target = where()
            found: set[str] = set()
            self.folders.landed.clear()
            # What this attempt's repair finished is counted by `_move` already.
            repaired = {i for i, folder in self._finished.items() if folder == target}
            try:
                moved = self._move(source, target, ids, found)
            except ProviderError:
                earlier.update(found)
                raise
            lost = earlier - found - repaired
            if lost:
                moved += len(self.folders.locate(target, sorted(lost), readonly=True))
            self.folders.after_move(source, target)
            return moved

        return self._run(work)

    def _move(self, source: str, target: str, ids: Sequence[str], found: set[str]) -> int:
        # A move this call's repair finished (after a lost session, say) counts too.
        finished = sum(1 for i in set(ids) if self._finished.pop(i, None) == target)
        return finished + moves.move(
            self.folders,
            source,
            target,
            ids,
            use_move=self.use_move,
            journal=self.journal,
            hook=self.step_hook,
            keep=self.save,
            found=found,
        )

    # Writing

    def _has(self, folder: str, tag: str) -> bool:
        """Whether a message with this Message-ID is in the folder (which may not exist)."""
        try:
            self.folders.select(folder, readonly=True)
        except (NotFound, BadRequest):
            if not self.folders.exists(folder):
                return False
            raise
        return bool(self.conn.call("search", ["HEADER", "Message-ID", tag]))

    def deliver(self, alert: Alert, *, first_try: bool = False) -> None:
        tag = _tag("alert", alert.key)
        # A retry after a lost session may follow an APPEND that landed: look then.
        skip_look = [first_try]

        def work() -> None:
            if not skip_look[0] and any(self._has(f, tag) for f in (INBOX, self.folders.held())):
                return
            skip_look[0] = False
            msg = EmailMessage()
            msg["From"] = "firstblock <firstblock@localhost>"
            msg["To"] = self.conn.user
            msg["Subject"] = alert.subject
            msg["Date"] = email.utils.format_datetime(alert.created)
            msg["Message-ID"] = tag
            msg[ALERT_HEADER] = alert.key
            mime.fill(msg, alert, tag.strip("<>").split("@")[0])
            self.conn.call("append", INBOX, msg.as_bytes(), (), alert.created)

        self._run(work)

    def save_draft(self, draft: Draft) -> None:
        tag = _tag("draft", draft.key)

        def work() -> None:
            folder = self.folders.drafts()
            if self._has(folder, tag):
                return
            self.folders.make(folder)
            msg = EmailMessage()
            msg["To"] = ", ".join(draft.to)
            msg["Subject"] = draft.subject
            msg["Date"] = email.utils.format_datetime(draft.created)
            msg["Message-ID"] = tag
            msg[DRAFT_HEADER] = draft.key
            msg.set_content(draft.text)
            flags = (b"\\Draft", b"\\Seen")  # as mail clients keep their own drafts
            self.conn.call("append", folder, msg.as_bytes(), flags, draft.created)

        self._run(work)

    def set_hold_rule(self, allowed: Sequence[str] | None) -> None:
        if self.sieve_port is None:
            raise NotImplementedError(f"{self.name}: no ManageSieve port configured")
        folder = self._run(self.folders.held)
        if allowed is not None:
            self._run(lambda: self.folders.make(folder))
        session = sieve.ManageSieve(
            self.conn.host,
            self.sieve_port,
            starttls=self.conn.ssl != "none",
            timeout=self.conn.timeout,
            where=self.conn.where,
        )
        session.open(self.conn.user, self.__password, self.conn.ssl_context)
        try:
            sieve.install(session, allowed, folder)
        finally:
            session.close()
