"""Webhook delivery for change notifications: the validation handshake and a background pusher.

Facts from Microsoft's docs (learn.microsoft.com/graph/change-notifications-delivery-webhooks):
the handshake POSTs to the URL with `?validationToken=...` (Content-Type text/plain) and needs
200, text/plain and the decoded token back within 10 seconds; a notification counts as
delivered on any 2xx; anything else (or no answer within 3 seconds) is retried at exponential
backoff intervals for up to 4 hours. The emulator compresses that into `PushPolicy`: a few
attempts, milliseconds apart. Query parameters of the URL are kept on every POST.

The pusher owns one thread and one condition. Callers may enqueue while holding the emulator's
lock; the thread never holds the condition while it asks whether a subscription is still live
(that takes the emulator's lock) and holds no lock at all while it does HTTP.
"""

from __future__ import annotations

import heapq
import http.client
import itertools
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote, urlsplit

# The shape Graph's tokens have been seen to take; the docs only say "opaque".
TOKEN = "Validation: Testing client application reachability for subscription Request-Id: {}"


@dataclass
class PushPolicy:
    """Settable: how the emulator retries (Graph: exponential backoff for up to 4 hours)."""

    timeout: float = 3.0  # Graph publishes with a 3-second HTTP timeout
    backoff: float = 0.05  # seconds before the 2nd attempt, doubling after each failure
    max_attempts: int = 5
    validation_timeout: float = 10.0  # documented for the handshake


@dataclass
class PushAttempt:
    """One POST the emulator made, or decided not to make (`status` 0: no answer)."""

    kind: str  # "validation" | "notification" | "lifecycle"
    subscription_id: str
    url: str
    label: str  # the changeType or lifecycleEvent ("" for a validation)
    attempt: int
    status: int
    outcome: str  # "delivered" | "retry" | "failed" | "dropped" | "skipped" | "valid" | "invalid"
    error: str = ""
    body: dict[str, Any] = field(default_factory=dict)
    duplicate: bool = False
    at: float = field(default_factory=time.time)


@dataclass
class Job:
    kind: str  # "notification" | "lifecycle"
    subscription_id: str
    url: str
    label: str
    body: dict[str, Any]
    live_only: bool = True  # skip it once the subscription is deleted or expired
    on_failure: Callable[[], None] | None = None  # after the last attempt failed
    attempt: int = 1
    duplicate: bool = False


def post(url: str, body: bytes, content_type: str, timeout: float) -> tuple[int, str, bytes]:
    """POST without proxies or redirects: (status, content type, body); OSError on failure."""
    parts = urlsplit(url)
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(parts.hostname or "", parts.port, timeout=timeout)
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request("POST", target, body, {"Content-Type": content_type})
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type") or "", resp.read()
    except http.client.HTTPException as err:
        raise OSError(f"{type(err).__name__}: {err}") from err
    finally:
        conn.close()


def handshake(url: str, token: str, timeout: float) -> tuple[bool, int, str]:
    """Graph's notificationUrl validation: (passed, status, why not)."""
    joiner = "&" if urlsplit(url).query else "?"
    try:
        status, ctype, body = post(
            f"{url}{joiner}validationToken={quote(token, safe='')}",
            b"",
            "text/plain; charset=utf-8",
            timeout,
        )
    except OSError as err:
        return False, 0, str(err) or type(err).__name__
    if status != 200:
        return False, status, f"answered {status}"
    if not ctype.lower().startswith("text/plain"):
        return False, status, f"answered Content-Type {ctype!r}, not text/plain"
    if body.decode("utf-8", "replace") != token:
        return False, status, "did not echo the validation token"
    return True, status, ""


class Pusher:
    def __init__(self, seed: int, is_live: Callable[[str], bool]) -> None:
        self.policy = PushPolicy()
        self.is_live = is_live
        self.rng = random.Random(seed)  # its own: push faults leave ids and API faults alone
        self.drop = self.delay = self.duplicate = 0.0
        self._log: list[PushAttempt] = []
        self._cond = threading.Condition()
        self._queue: list[tuple[float, int, Job]] = []  # (due, order, job)
        self._order = itertools.count()
        self._busy = 0
        self._thread: threading.Thread | None = None
        self._stopping = False

    # ---- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        with self._cond:
            if self._thread is not None:
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="graph-push", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._queue.clear()  # undelivered notifications die with the emulator
            self._cond.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=self.policy.timeout + 2)

    # ---- queue --------------------------------------------------------------------------------
    def enqueue(self, job: Job) -> None:
        """Queue a POST, through the push faults (drawn now, in change order: reproducible)."""
        with self._cond:
            if job.kind == "notification" and self.rng.random() < self.drop:
                self._log.append(_attempt(job, 0, "dropped", "push fault: drop"))
                return
            copies = 2 if job.kind == "notification" and self.rng.random() < self.duplicate else 1
            for n in range(copies):
                copy = replace(job, duplicate=n > 0)
                delay = self.rng.uniform(0, self.delay) if self.delay else 0.0
                self._push(copy, time.monotonic() + delay)

    def _push(self, job: Job, due: float) -> None:
        heapq.heappush(self._queue, (due, next(self._order), job))
        self._cond.notify_all()

    def wait(self, timeout: float) -> bool:
        """Block until nothing is queued or in flight; False if `timeout` passed first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def faults(self, drop: float, delay: float, duplicate: float) -> None:
        with self._cond:
            self.drop, self.delay, self.duplicate = drop, delay, duplicate

    def note(self, attempt: PushAttempt) -> None:
        with self._cond:
            self._log.append(attempt)

    @property
    def log(self) -> list[PushAttempt]:
        with self._cond:
            return list(self._log)

    # ---- the thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                job = self._next()
                if job is None:
                    return
                self._busy += 1
            try:
                self._deliver(job)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _next(self) -> Job | None:
        """The next due job (waiting for it); None once stopping. Holds the condition."""
        while not self._stopping:
            if self._queue and self._queue[0][0] <= time.monotonic():
                return heapq.heappop(self._queue)[2]
            self._cond.wait(self._queue[0][0] - time.monotonic() if self._queue else None)
        return None

    def _deliver(self, job: Job) -> None:
        if job.live_only and not self.is_live(job.subscription_id):
            self.note(_attempt(job, 0, "skipped", "the subscription is gone"))
            return
        policy = self.policy
        data = json.dumps(job.body).encode()
        try:
            status, _, _ = post(job.url, data, "application/json; charset=utf-8", policy.timeout)
            error = "" if 200 <= status < 300 else f"answered {status}"
        except OSError as err:
            status, error = 0, str(err) or type(err).__name__
        if not error:
            self.note(_attempt(job, status, "delivered"))
            return
        last = job.attempt >= policy.max_attempts
        self.note(_attempt(job, status, "failed" if last else "retry", error))
        if last:
            if job.on_failure is not None:
                job.on_failure()
            return
        wait = policy.backoff * 2 ** (job.attempt - 1)
        job.attempt += 1
        with self._cond:
            if not self._stopping:
                self._push(job, time.monotonic() + wait)


def _attempt(job: Job, status: int, outcome: str, error: str = "") -> PushAttempt:
    return PushAttempt(
        job.kind,
        job.subscription_id,
        job.url,
        job.label,
        job.attempt,
        status,
        outcome,
        error,
        job.body,
        job.duplicate,
    )
