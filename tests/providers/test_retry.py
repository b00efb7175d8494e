from __future__ import annotations

import pytest

from providers import retry
from providers.errors import BadRequest, RateLimited, TransientError


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    assert [retry.backoff(n, base=1, cap=60) for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert retry.backoff(10, base=1, cap=60) == 60
    assert retry.backoff(3, base=1, cap=60, rand=0.5) == 2


def test_retry_after_wins_but_is_capped() -> None:
    err = RateLimited("slow down", retry_after=12)
    assert retry.wait_for(err, 1, base=1, cap=60, rand=1) == 12
    assert retry.wait_for(RateLimited("x", retry_after=600), 1, base=1, cap=60, rand=1) == 60


def test_retries_only_what_can_succeed_later() -> None:
    calls: list[int] = []
    waits: list[float] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise TransientError("503")
        return "ok"

    assert retry.call(flaky, sleep=waits.append, rand=lambda: 1.0) == "ok"
    assert waits == [1.0, 2.0]

    def bad() -> None:
        calls.append(1)
        raise BadRequest("400")

    calls.clear()
    with pytest.raises(BadRequest):
        retry.call(bad, sleep=waits.append)
    assert len(calls) == 1


def test_gives_up_after_the_last_attempt() -> None:
    calls: list[int] = []

    def down() -> None:
        calls.append(1)
        raise TransientError("down")

    with pytest.raises(TransientError):
        retry.call(down, attempts=3, sleep=lambda _: None)
    assert len(calls) == 3
