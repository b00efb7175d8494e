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


def test_batched_sends_again_only_what_failed_and_never_what_succeeded() -> None:
    from providers.errors import RateLimited, TransientError
    from providers.retry import batched

    sent: list[list[int]] = []
    failures = {3: 1, 4: 1}  # calls 3 and 4 are throttled once each
    envelope_down = [True]

    def send(chunk: list[int], results: list[object]) -> list[int]:
        sent.append(list(chunk))
        if chunk[0] == 2 and envelope_down[0]:  # the second batch's envelope fails once
            envelope_down[0] = False
            raise TransientError("batch envelope failed")
        again = []
        for i in chunk:
            if failures.get(i, 0) > 0:
                failures[i] -= 1
                results[i] = RateLimited("slow down", retry_after=3)
                again.append(i)
            else:
                results[i] = f"ok {i}"
        return again

    waits: list[float] = []
    results = batched(5, 2, send, where="x", sleep=waits.append)
    assert results == [f"ok {i}" for i in range(5)]
    # A throttled batch holds back the next one too: it waits for the Retry-After.
    assert sent == [[0, 1], [2, 3], [2, 3], [3, 4], [4]]
    assert waits[1:] == [3, 3]  # the parts' Retry-After, not a guess


def test_batched_reports_each_part_that_never_succeeded() -> None:
    from providers.errors import TransientError
    from providers.retry import batched

    def send(chunk: list[int], results: list[object]) -> list[int]:
        for i in chunk:
            results[i] = "ok" if i == 0 else TransientError("still down")
        return [i for i in chunk if i]

    results = batched(2, 20, send, where="x", sleep=lambda s: None, attempts=3)
    assert results[0] == "ok" and isinstance(results[1], TransientError)


def test_quota_buckets_name_the_google_project_and_the_microsoft_tenant() -> None:
    from types import SimpleNamespace

    from providers import quota

    installed = SimpleNamespace(client_id="123456-abc.apps.googleusercontent.com")
    assert quota.google_bucket(installed) == "google:123456"
    service = SimpleNamespace(project_id="acme-sales", client_id="1098")
    assert quota.google_bucket(service) == "google:acme-sales"
    app = {"client_id": "app-1", "authority": "https://login.microsoftonline.com/contoso.com"}
    assert quota.microsoft_bucket(app) == "microsoft:contoso.com:app-1"
    assert quota.google_bucket(SimpleNamespace()) == quota.microsoft_bucket({}) == ""
    spent: list[tuple[str, int]] = []
    quota.install(SimpleNamespace(take=lambda bucket, cost: spent.append((bucket, cost))))
    try:
        quota.take("google:123456", 3)
        quota.take("", 1)  # no bucket: nothing to count
    finally:
        quota.install(None)
    quota.take("google:123456", 1)  # nothing installed: nothing waits
    assert spent == [("google:123456", 3)]
