"""The one retry policy every provider and the webhook use (docs/design.md §2.2).

Only idempotent calls are retried. Waits honour a server's Retry-After, otherwise
grow exponentially with full jitter, and are capped. `sleep` and `rand` are
injectable, so tests never wait.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import tenacity

from providers.errors import ProviderError, RateLimited, TransientError

T = TypeVar("T")

RETRYABLE = (RateLimited, TransientError)


def retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds (fractional ones too, as Graph
    sends) or, given `now`, an HTTP-date (RFC 9110 §10.2.3, as CalDAV servers may
    send). None when absent or unreadable (the backoff covers it)."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), "").strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    if now is None or not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000": no zone said, so no moment to count from
        return None
    return max(0.0, (when - now).total_seconds())


def backoff(attempt: int, *, base: float = 1.0, cap: float = 60.0, rand: float = 1.0) -> float:
    """Seconds to wait before retry number `attempt` (1-based): full jitter, capped."""
    return float(min(cap, base * 2.0 ** (attempt - 1)) * rand)


def wait_for(
    error: BaseException | None, attempt: int, *, base: float, cap: float, rand: float
) -> float:
    if isinstance(error, RateLimited) and error.retry_after is not None:
        return min(cap, max(0.0, error.retry_after))
    return backoff(attempt, base=base, cap=cap, rand=rand)


class Pacer:
    """One account's pace: after a server said "not before" (Retry-After), every call
    of that account waits for it, not only the retry of the call that was told. The
    calendar and the mailbox of one account share it (Graph throttles per mailbox)."""

    def __init__(
        self,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        cap: float = 60.0,
    ) -> None:
        self.sleep, self.clock, self.cap = sleep, clock, cap
        self.not_before = 0.0

    def wait(self) -> None:
        left = self.not_before - self.clock()
        if left > 0:
            self.sleep(min(left, self.cap))

    def note(self, error: BaseException) -> None:
        if isinstance(error, RateLimited) and error.retry_after is not None:
            self.not_before = max(self.not_before, self.clock() + error.retry_after)


def call(
    fn: Callable[[], T],
    *,
    attempts: int = 4,
    base: float = 1.0,
    cap: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
    rand: Callable[[], float] = random.random,
    pacer: Pacer | None = None,
) -> T:
    """Run an idempotent `fn`, retrying RateLimited and TransientError; with a `pacer`,
    no attempt goes out before the account's last Retry-After has passed."""
    if pacer is not None:
        inner = fn

        def fn() -> T:
            pacer.wait()
            try:
                return inner()
            except BaseException as exc:
                pacer.note(exc)
                raise

    def wait(state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        return wait_for(error, state.attempt_number, base=base, cap=cap, rand=rand())

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(RETRYABLE),
        stop=tenacity.stop_after_attempt(attempts),
        wait=wait,
        sleep=sleep,
        reraise=True,
    )
    return retrying(fn)


def batched(
    count: int,
    limit: int,
    send: Callable[[list[int], list[Any]], list[int]],
    *,
    where: str,
    attempts: int = 4,
    sleep: Callable[[float], None] = time.sleep,
    pacer: Pacer | None = None,
) -> list[Any]:
    """Send `count` calls in batches of `limit`, under the policy, and return one
    result per call: its answer, or the ProviderError it failed with.

    `send(chunk, results)` sends one batch of call indexes, fills `results` and returns
    the indexes worth sending again (rate limited, transient). Only those are sent
    again; what succeeded never is. A batch that fails as a whole raises.
    """
    results: list[Any] = [None] * count
    pending = list(range(count))

    def rounds() -> None:
        nonlocal pending
        todo, again = list(pending), []
        while todo:
            chunk, todo = todo[:limit], todo[limit:]
            try:
                again += send(chunk, results)
            except ProviderError:
                pending = again + chunk + todo
                raise
            if any(_limited(results[i]) for i in again):
                break  # the server said when: the next batch waits for it too
        pending = again + todo
        if pending:
            waits = [e.retry_after for e in map(results.__getitem__, pending) if _limited(e)]
            message = f"{len(pending)} of {count} batched calls must be retried"
            known = [w for w in waits if w is not None]
            if known:
                raise RateLimited(message, where=where, retry_after=max(known))
            raise TransientError(message, where=where)

    if count:
        try:
            call(rounds, attempts=attempts, sleep=sleep, pacer=pacer)
        except RETRYABLE as exc:
            for i in pending:  # parts never answered carry the last error
                if results[i] is None:
                    results[i] = exc
    return results


def _limited(error: object) -> bool:
    return isinstance(error, RateLimited)
