"""The web benchmark measures what it says it does; no timing is asserted."""

from __future__ import annotations

from typing import Any

import pytest

from bench import web as bench


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    return bench.run(quick=True)


def test_the_week_page_is_timed_on_a_300_event_calendar(result: dict[str, Any]) -> None:
    page = result["week_page"]
    assert page["events"] == bench.EVENTS == 300
    assert page["samples"] == bench.SAMPLES[True]
    assert 0 < page["best_ms"] <= page["median_ms"] <= page["p95_ms"]


def test_every_rep_browses_and_nothing_fails(result: dict[str, Any]) -> None:
    load = result["browsing"]
    assert load["reps"] == bench.REPS[True]
    assert load["requests"] >= load["reps"] and load["failures"] == 0
    assert load["per_second"] > 0 and load["p50_ms"] <= load["p95_ms"]
    assert "requests/s" in bench.markdown(result)


def test_the_bench_calendar_has_its_events_in_the_weeks_around_the_horizon() -> None:
    text = bench.calendar(bench.EVENTS, seed=1)
    assert text.count("BEGIN:VEVENT") == 300 and "jo@acme.com" in text
