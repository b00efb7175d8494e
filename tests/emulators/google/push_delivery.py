"""Delivery of push notifications: one background thread, a timed queue, retries and a log.

Google retries a notification answered 500, 502, 503 or 504 "with exponential backoff" and
counts every other code but 200, 201, 202, 204 and 102 as a failure (Calendar push guide,
"Respond to notifications"). It documents neither the schedule nor the number of tries, nor
what it does when the address cannot be reached: the emulator retries that too, on a short,
settable schedule (`backoff` seconds, doubled each time, `max_tries` in all) so tests stay fast.

The thread does HTTP holding no lock; it takes the shared lock only to pick a job, to ask
whether the channel is still live (expiry is read at delivery time) and to log.
"""

from __future__ import annotations

import heapq
import http.client
import itertools
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

SUCCESS = frozenset({200, 201, 202, 204, 102})
RETRIED = frozenset({500, 502, 503, 504})


@dataclass(frozen=True)
class PushAttempt:
    """One entry of GoogleEmulator.push_log.

    outcome: "delivered" (a success code), "retry" (tried again later), "failed" (any other
    code, or the last try of a retried one), and, with nothing sent (attempt 0): "dropped"
    (a drop fault), "stopped" or "expired" (the channel was not live when the message was due).
    """

    channel_id: str
    number: int
    state: str
    attempt: int
    outcome: str
    status: int | None = None  # the receiver's answer; None without one
    error: str = ""


@dataclass(frozen=True)
class Notice:
    channel_id: str
    serial: int  # which channel of that id: an id may be taken again once its channel is dead
    number: int
    state: str


# Where and what to send, or why not ("stopped", "expired"); asked with the lock held.
Target = tuple[str, dict[str, str]] | str


@dataclass(order=True)
class _Job:
    due: float
    seq: int
    notice: Notice = field(compare=False)
    attempt: int = field(compare=False)


def post(
    address: str, headers: dict[str, str], timeout: float, context: ssl.SSLContext | None
) -> tuple[int | None, str]:
    """POST an empty body; (status, "") or (None, what went wrong)."""
    url = urlsplit(address)
    conn: http.client.HTTPConnection
    if url.scheme == "https":
        # The default context verifies: Google sends only to a valid certificate (push guide).
        conn = http.client.HTTPSConnection(
            url.hostname or "", url.port, timeout=timeout, context=context
        )
    else:
        conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=timeout)
    target = (url.path or "/") + (f"?{url.query}" if url.query else "")
    try:
        conn.request("POST", target, body=b"", headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status, ""
    except (OSError, http.client.HTTPException) as exc:
        return None, f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()


class Courier:
    def __init__(self, lock: threading.Condition, target: Callable[[Notice], Target]) -> None:
        self.lock = lock
        self._target = target
        self.log: list[PushAttempt] = []
        self.timeout = 2.0  # settable: seconds to wait for the receiver
        self.backoff = 0.2  # settable: seconds before the first retry, doubled after each
        self.max_tries = 5  # settable: tries in all, the first included
        self.ssl_context: ssl.SSLContext | None = None  # settable: for a test's own CA
        self._queue: list[_Job] = []
        self._seq = itertools.count()
        self._busy = 0
        self._thread: threading.Thread | None = None
        self._closed = False

    def send(self, notice: Notice, delay: float = 0.0) -> None:
        with self.lock:
            if self._closed:
                return
            self._put(notice, 1, delay)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="google-push", daemon=True)
                self._thread.start()

    def record(self, entry: PushAttempt) -> None:
        with self.lock:
            self.log.append(entry)

    def wait(self, timeout: float) -> bool:
        """True once nothing is queued, delayed or in flight."""
        with self.lock:
            return self.lock.wait_for(lambda: not self._queue and not self._busy, timeout)

    def open(self) -> None:
        with self.lock:
            self._closed = False

    def close(self) -> None:
        """Stop the thread; messages not yet sent are forgotten."""
        with self.lock:
            self._closed = True
            self._queue.clear()
            thread, self._thread = self._thread, None
            self.lock.notify_all()
        if thread is not None:
            thread.join(timeout=self.timeout + 1)

    def _put(self, notice: Notice, attempt: int, delay: float) -> None:
        job = _Job(time.monotonic() + delay, next(self._seq), notice, attempt)
        heapq.heappush(self._queue, job)
        self.lock.notify_all()

    def _next(self) -> _Job | None:
        # A thread left over from before close() must not run beside the one after open().
        while not self._closed and self._thread is threading.current_thread():
            now = time.monotonic()
            if self._queue and self._queue[0].due <= now:
                return heapq.heappop(self._queue)
            self.lock.wait(self._queue[0].due - now if self._queue else None)
        return None

    def _run(self) -> None:
        while True:
            with self.lock:
                job = self._next()
                if job is None:
                    return
                self._busy += 1
                target = self._target(job.notice)
            try:
                if isinstance(target, str):
                    n = job.notice
                    self.record(PushAttempt(n.channel_id, n.number, n.state, 0, target))
                else:
                    self._try(job, *target)
            finally:
                with self.lock:
                    self._busy -= 1
                    self.lock.notify_all()

    def _try(self, job: _Job, address: str, headers: dict[str, str]) -> None:
        status, error = post(address, headers, self.timeout, self.ssl_context)
        again = (status is None or status in RETRIED) and job.attempt < self.max_tries
        outcome = "delivered" if status in SUCCESS else "retry" if again else "failed"
        n = job.notice
        with self.lock:
            self.log.append(
                PushAttempt(n.channel_id, n.number, n.state, job.attempt, outcome, status, error)
            )
            if again and not self._closed:
                self._put(n, job.attempt + 1, self.backoff * 2 ** (job.attempt - 1))
