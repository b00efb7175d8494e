"""Delivery of push notifications: one background thread, a timed queue, retries and a log.

Used twice: Calendar's watch channels (push.py) and Gmail's Pub/Sub pushes (pubsub.py). Both
count 200, 201, 202, 204 and 102 as success. Calendar retries a notification answered 500,
502, 503 or 504 "with exponential backoff" and counts every other code as a failure (Calendar
push guide, "Respond to notifications"); Pub/Sub resends on any other code, until the message
is acknowledged or its retention (7 days by default) ends (Pub/Sub push subscription guide):
`retry_any`. Neither documents the schedule, nor what happens when the address cannot be
reached: the emulator retries that too, on a short, settable schedule (`backoff` seconds,
doubled each time, `max_tries` in all) so tests stay fast.

The thread does HTTP holding no lock; it takes the shared lock only to pick a job, to ask
where and what to send (so expiry or a changed endpoint is read at delivery time) and to log.
"""

from __future__ import annotations

import heapq
import http.client
import itertools
import random
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar
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


def push_attempt(
    n: Notice, attempt: int, outcome: str, status: int | None, error: str
) -> PushAttempt:
    return PushAttempt(n.channel_id, n.number, n.state, attempt, outcome, status, error)


# Where, with which headers and what body to send, or why not ("stopped", "expired"); asked
# with the lock held.
Target = tuple[str, dict[str, str], bytes] | str
N = TypeVar("N")  # what is queued
E = TypeVar("E")  # what is logged
# Makes a log entry: (notice, attempt, outcome, status, error).
Entry = Callable[[N, int, str, int | None, str], E]


@dataclass
class FaultPlan:
    """Push faults, drawn per message from a seeded generator: `drop` the chance it is never
    sent, `delay` the most seconds it waits before sending, `duplicate` the chance it is sent
    twice as one message (one number, or one messageId)."""

    drop: float = 0.0
    delay: float = 0.0
    duplicate: float = 0.0

    def set(self, drop: float, delay: float, duplicate: float) -> None:
        for name, rate in (("drop", drop), ("duplicate", duplicate)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be a probability, not {rate!r}")
        if delay < 0:
            raise ValueError(f"delay must not be negative, not {delay!r}")
        self.drop, self.delay, self.duplicate = drop, delay, duplicate

    def plan(self, rng: random.Random) -> list[float]:
        """The delay of each copy to send; none when the message is dropped."""
        if self.drop and rng.random() < self.drop:
            return []
        copies = 2 if self.duplicate and rng.random() < self.duplicate else 1
        return [rng.uniform(0, self.delay) if self.delay else 0.0 for _ in range(copies)]


@dataclass(order=True)
class _Job(Generic[N]):
    due: float
    seq: int
    notice: N = field(compare=False)
    attempt: int = field(compare=False)  # 0: not to be sent (a drop fault), only logged


def post(
    address: str,
    headers: dict[str, str],
    body: bytes,
    timeout: float,
    context: ssl.SSLContext | None,
) -> tuple[int | None, str]:
    """POST `body`; (status, "") or (None, what went wrong)."""
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
        conn.request("POST", target, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status, ""
    except (OSError, http.client.HTTPException) as exc:
        return None, f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()


class Courier(Generic[N, E]):
    def __init__(
        self,
        lock: threading.Condition,
        target: Callable[[N], Target],
        entry: Entry[N, E],
        *,
        retry_any: bool = False,
        name: str = "google-push",
    ) -> None:
        self.lock = lock
        self._target = target
        self._entry = entry
        self._retry_any = retry_any  # False: only 500, 502, 503, 504 and no answer
        self._name = name  # the thread's
        self.log: list[E] = []
        self.timeout = 2.0  # settable: seconds to wait for the receiver
        self.backoff = 0.2  # settable: seconds before the first retry, doubled after each
        self.max_tries = 5  # settable: tries in all, the first included
        self.ssl_context: ssl.SSLContext | None = None  # settable: for a test's own CA
        self._queue: list[_Job[N]] = []
        self._seq = itertools.count()
        self._busy = 0
        self._thread: threading.Thread | None = None
        self._closed = False

    def send(self, notice: N, delay: float = 0.0) -> None:
        self._enqueue(notice, 1, delay)

    def drop(self, notice: N) -> None:
        """Log `notice` as "dropped" (a fault) in its turn, behind what is already queued, so
        the log's order does not hang on the thread's timing."""
        self._enqueue(notice, 0, 0.0)

    def _enqueue(self, notice: N, attempt: int, delay: float) -> None:
        with self.lock:
            if self._closed:
                return
            self._put(notice, attempt, delay)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()

    def record(self, entry: E) -> None:
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

    def _put(self, notice: N, attempt: int, delay: float) -> None:
        job = _Job(time.monotonic() + delay, next(self._seq), notice, attempt)
        heapq.heappush(self._queue, job)
        self.lock.notify_all()

    def _next(self) -> _Job[N] | None:
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
                target = self._target(job.notice) if job.attempt else "dropped"
            try:
                if isinstance(target, str):
                    self.record(self._entry(job.notice, 0, target, None, ""))
                else:
                    self._try(job, *target)
            finally:
                with self.lock:
                    self._busy -= 1
                    self.lock.notify_all()

    def _try(self, job: _Job[N], address: str, headers: dict[str, str], body: bytes) -> None:
        status, error = post(address, headers, body, self.timeout, self.ssl_context)
        failed = status not in SUCCESS if self._retry_any else status in RETRIED
        again = (status is None or failed) and job.attempt < self.max_tries
        outcome = "delivered" if status in SUCCESS else "retry" if again else "failed"
        with self.lock:
            self.log.append(self._entry(job.notice, job.attempt, outcome, status, error))
            if again and not self._closed:
                self._put(job.notice, job.attempt + 1, self.backoff * 2 ** (job.attempt - 1))
