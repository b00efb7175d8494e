"""The planner benchmark measures what it says it does; no timing is asserted."""

from __future__ import annotations

import json
from itertools import pairwise
from typing import Any

import pytest

from bench import planner as bench
from worker import planner, reconcile
from worker.models import Response


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    return bench.run(quick=True)


def test_every_size_and_horizon_is_measured(result: dict[str, Any]) -> None:
    assert [c["events"] for c in result["by_size"]] == list(bench.SIZES)
    assert [c["horizon_workdays"] for c in result["by_horizon"]] == list(bench.HORIZONS)
    for case in result["by_size"] + result["by_horizon"]:
        for phase in ("first_ms", "steady_ms"):
            assert 0 <= case[phase]["best"] <= case[phase]["median"]
    assert len(result["size_fit"]["first_ms"]["slopes"]) == len(bench.SIZES) - 1
    size = result["size_fit"]["first_ms"]
    assert size["model"] in ("linear", "n log n", "superlinear")
    assert (size["fitted"]["from_events"], size["fitted"]["to_events"]) == bench.SIZES[-2:]


def test_the_horizon_sweep_keeps_the_density_and_plans_every_workday(
    result: dict[str, Any],
) -> None:
    for case in result["by_horizon"]:
        assert case["days"] == case["horizon_workdays"] + 1  # today is a workday
        assert case["events"] == bench.PER_DAY * bench.calendar_days(
            bench.rules(case["horizon_workdays"])
        )


def test_plans_produce_blocks_and_the_steady_state_writes_nothing(
    result: dict[str, Any],
) -> None:
    assert result["by_size"][0]["blocks"] > 0
    assert all(c["blocks"] > 0 for c in result["by_horizon"])
    for case in result["by_size"] + result["by_horizon"]:
        assert case["first_writes"] == case["blocks"]  # all creates
        assert case["steady_writes"] == 0


def test_a_steady_plan_of_unchanged_inputs_changes_nothing() -> None:
    rules = bench.rules(10)
    events = bench.calendar(300, rules)
    first = planner.plan(events, (), frozenset(), rules, bench.NOW)
    owned = bench.written(first.blocks)
    steady = planner.plan(events, owned, frozenset(), rules, bench.NOW)
    assert first.blocks
    assert any(b.meeting_id for b in first.blocks)  # client meetings got their prep
    assert reconcile.diff(owned, steady, bench.NOW) == []


def test_the_calendar_is_seeded_and_mixed() -> None:
    rules = bench.rules()
    events = bench.calendar(1_000, rules)
    assert events == bench.calendar(1_000, rules)
    window = planner.window(rules, bench.NOW)
    assert all(window.start <= e.start and e.end <= window.end for e in events)
    assert any(e.all_day for e in events)
    assert any(e.response_of(bench.ME) is Response.DECLINED for e in events)
    assert any(planner.is_busy(e, rules) for e in events)
    timed = sorted((e.start, e.end) for e in events if not e.all_day)
    assert any(a[1] > b[0] for a, b in pairwise(timed))  # overlaps


def test_the_result_is_json_and_the_markdown_has_every_row(result: dict[str, Any]) -> None:
    assert json.loads(json.dumps(result)) == result
    text = bench.markdown(result)
    assert text.startswith("### Planner\n")
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 2 + len(bench.SIZES) + len(bench.HORIZONS)  # two headers
    for n in bench.SIZES:
        assert f"| {n:,} |" in text
    assert result["size_fit"]["first_ms"]["model"] in text
    assert result["settings"]["python"] in text


@pytest.mark.parametrize(
    ("slope", "growth"), [(0.98, "linear"), (1.12, "n log n"), (1.5, "superlinear")]
)
def test_the_growth_model_follows_the_slope(slope: float, growth: str) -> None:
    assert bench.model(1_000, 10_000, slope) == growth
    assert bench.slopes([(10, 2.0), (100, 20.0), (1_000, 2_000.0)]) == [1.0, 2.0]
