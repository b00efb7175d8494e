"""The push benchmark measures what it says it does; no timing is asserted."""

from __future__ import annotations

from bench import push as bench


def test_an_idle_account_is_followed_through_its_renewals() -> None:
    quiet = bench.idle(6, busy=False, accounts=2)
    assert quiet["days"] == bench.DAYS - 1
    hour = quiet["per_account_hour"]
    assert hour["upkeep"] > 0  # the subscriptions were renewed in the simulated weeks
    assert 0 < hour["reads"] < 1  # polled as a safety net: far under 8 an hour
    assert 3.5 <= quiet["cycles_per_day"] <= 5  # every 6 hours, and the first day
    daily = bench.idle(24, busy=False, accounts=2)
    assert daily["idle_requests_per_hour"] < quiet["idle_requests_per_hour"]


def test_booked_meetings_move_blocks_and_each_is_timed() -> None:
    result = bench.latency(6, 3)
    assert result["changed"] == 3 and result["moved"] == 3 and result["not_moved_in_120s"] == 0
    assert 0 < result["p50_s"] <= result["p95_s"] <= result["max_s"]
    text = bench.markdown({"idle": [bench.idle(24, busy=True, accounts=1)], "latency": result})
    assert "p95" in text and "| a client meeting a day, hold on | 24 |" in text
