"""The one retry policy every provider and the webhook use (DESIGN.md 2.2).

Only idempotent calls are retried. Waits honour a server's Retry-After, otherwise
grow exponentially with full jitter, and are capped. `sleep` and `rand` are
injectable, so tests never wait.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import tenacity

from providers.errors import ProviderError, RateLimited, TransientError

T = TypeVar("T")

RETRYABLE = (RateLimited, TransientError)


def backoff(attempt: int, *, base: float = 1.0, cap: float = 60.0, rand: float = 1.0) -> float:
    """Seconds to wait before retry number `attempt` (1-based): full jitter, capped."""
    return float(min(cap, base * 2.0 ** (attempt - 1)) * rand)


def wait_for(
    error: BaseException | None, attempt: int, *, base: float, cap: float, rand: float
) -> float:
    if isinstance(error, RateLimited) and error.retry_after is not None:
        return min(cap, max(0.0, error.retry_after))
    return backoff(attempt, base=base, cap=cap, rand=rand)


def call(
    fn: Callable[[], T],
    *,
    attempts: int = 4,
    base: float = 1.0,
    cap: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
    rand: Callable[[], float] = random.random,
) -> T:
    """Run an idempotent `fn`, retrying RateLimited and TransientError."""

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
        pending = again
        if pending:
            waits = [e.retry_after for e in map(results.__getitem__, pending) if _limited(e)]
            message = f"{len(pending)} of {count} batched calls must be retried"
            known = [w for w in waits if w is not None]
            if known:
                raise RateLimited(message, where=where, retry_after=max(known))
            raise TransientError(message, where=where)

    if count:
        try:
            call(rounds, attempts=attempts, sleep=sleep)
        except RETRYABLE as exc:
            for i in pending:  # parts never answered carry the last error
                if results[i] is None:
                    results[i] = exc
    return results


def _limited(error: object) -> bool:
    return isinstance(error, RateLimited)
