"""IMAP IDLE (RFC 2177) for `serve`: one session per account waits in the inbox and
calls `wake` when mail arrives, so the hold takes it within seconds instead of at the
next cycle. The session is its own (the cycles' may come and go) and only reads.

A server without IDLE, or one that keeps refusing, costs nothing but the first try:
the account is then served at its regular interval, as before. IDLE is renewed every
`RENEW` (servers may end an IDLE after 30 minutes; RFC 2177 §3); a lost session is
made again after a growing pause.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from providers.errors import AuthError, BadRequest, ProviderError
from providers.imap.connection import Connection

LOG = logging.getLogger("firstblock.imap")

RENEW = 25 * 60.0  # seconds in one IDLE before DONE and IDLE again
CHECK = 30.0  # seconds between looks at the stop flag while idling
PAUSES = (1.0, 5.0, 30.0, 120.0, 600.0)  # before each reconnect, the last one repeated


class Idle:
    """A daemon thread; `stop` ends it within CHECK seconds."""

    def __init__(
        self,
        conn: Connection,
        wake: Callable[[str], None],
        *,
        renew: float = RENEW,
        check: float = CHECK,
        pauses: tuple[float, ...] = PAUSES,
    ) -> None:
        self.conn, self.wake = conn, wake
        self.renew, self.check, self.pauses = renew, check, pauses
        self._stop = threading.Event()
        self.idling = threading.Event()  # set while an IDLE is in progress (tests wait on it)
        self.thread = threading.Thread(target=self._run, name=f"idle {conn.where}", daemon=True)

    def start(self) -> Idle:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.conn.close()  # ends a wait in IDLE at once (the thread sees a lost session)
        self.thread.join(10)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                if not self.conn.has("IDLE"):
                    LOG.info("%s: the server offers no IDLE; mail waits for the next cycle",
                             self.conn.where)  # fmt: skip
                    return
                self.conn.call("select_folder", "INBOX", readonly=True)
                failures = 0
                self._idle()
            except (AuthError, BadRequest) as exc:
                LOG.warning("%s: IDLE stopped: %s", self.conn.where, exc)
                return  # the cycles report these; trying again would only repeat them
            except ProviderError as exc:
                self.idling.clear()
                self.conn.close()
                pause = self.pauses[min(failures, len(self.pauses) - 1)]
                failures += 1
                LOG.info("%s: IDLE lost (%s); again in %.0f s", self.conn.where, exc, pause)
                self._stop.wait(pause)

    def _idle(self) -> None:
        """IDLE until stopped, renewing it; wake on every answer that means new mail."""
        while not self._stop.is_set():
            self.conn.call("idle")
            self.idling.set()
            waited, news = 0.0, False
            while waited < self.renew and not self._stop.is_set() and not news:
                answers = self.conn.call("idle_check", timeout=self.check)
                waited += self.check
                news = any(_new_mail(a) for a in answers)
            self.idling.clear()
            self.conn.call("idle_done")
            if news:
                self.wake("new mail")


def _new_mail(answer: object) -> bool:
    """(n, b"EXISTS") is a message count that grew; RECENT too. EXPUNGE and FETCH
    (flags) are the hold's own moves or the user reading: no news."""
    return isinstance(answer, tuple) and len(answer) >= 2 and answer[1] in (b"EXISTS", b"RECENT")
