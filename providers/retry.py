"""The one retry policy every provider and the webhook use (DESIGN.md 2.2).

Only idempotent calls are retried. Waits honour a server's Retry-After, otherwise
grow exponentially with full jitter, and are capped. `sleep` and `rand` are
injectable, so tests never wait.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

import tenacity

from providers.errors import RateLimited, TransientError

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
