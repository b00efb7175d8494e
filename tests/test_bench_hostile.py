"""The hostile-recurrence benchmark measures what it says it does; no timing is asserted."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bench import hostile as bench
from providers.local import bounds


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    return bench.run(quick=True)


def by_name(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["case"]: c for c in result["cases"]}


def test_every_shape_alone_together_and_hidden_is_planned(result: dict[str, Any]) -> None:
    names = [c["case"] for c in result["cases"]]
    size = bench.ORDINARY[True]
    assert names == [
        "empty calendar",
        *bench.SHAPES,
        "all shapes in one file",
        f"ordinary, {size:,} events",
        f"ordinary, {size:,} events, {len(bench.HIDDEN)} hostile shapes in it",
        f"{size:,} hostile events",
    ]
    for case in result["cases"]:
        assert case["outcome"] == "planned", case
        assert case["wall_s"] >= 0 and case["cpu_s"] >= 0 and case["peak_mb"] > 0
        assert case["blocks"] > 0  # the plan goes on around what could not be read


def test_the_files_hold_what_they_say(result: dict[str, Any]) -> None:
    cases = by_name(result)
    size = bench.ORDINARY[True]
    shapes = sum(cases[s]["vevents"] for s in bench.SHAPES)
    hidden = sum(cases[s]["vevents"] for s in bench.HIDDEN)
    assert cases["all shapes in one file"]["vevents"] == shapes
    assert cases[f"ordinary, {size:,} events"]["vevents"] == size
    assert cases[f"ordinary, {size:,} events, 3 hostile shapes in it"]["vevents"] == size + hidden
    ordinary = bench._ordinary(200)
    assert ordinary == bench._ordinary(200)  # seeded
    assert any(line.startswith("RRULE:") for line in ordinary)


def test_each_hostile_event_is_reported_and_ordinary_ones_are_not(result: dict[str, Any]) -> None:
    cases = by_name(result)
    size = bench.ORDINARY[True]
    assert cases["empty calendar"]["problems"] == []
    assert cases[f"ordinary, {size:,} events"]["problems"] == []
    reasons = (bounds.TOO_MANY, bounds.TOO_LONG, bounds.OUT_OF_TIME)
    for shape in ("secondly", "minutely", "by_expansion", "impossible"):
        problems = cases[shape]["problems"]
        assert len(problems) == cases[shape]["vevents"]
        assert all(any(f"): {why};" in p for why in reasons) for p in problems)
    assert cases["vtimezone"]["problems"][0].startswith("time zone 'Every Second Standard Time'")
    mixed = cases[f"ordinary, {size:,} events, 3 hostile shapes in it"]
    assert len(mixed["problems"]) == sum(len(cases[s]["problems"]) for s in bench.HIDDEN)
    # Hidden shapes take nothing from the ordinary events around them.
    assert mixed["events_read"] >= cases[f"ordinary, {size:,} events"]["events_read"]
    crowd = cases[f"{size:,} hostile events"]
    assert len(crowd["problems"]) == crowd["vevents"] == size
    assert f"): {bounds.OUT_OF_TIME};" in crowd["problems"][-1]  # the file's time ran out


def test_the_result_is_json_and_the_markdown_has_every_row(result: dict[str, Any]) -> None:
    assert json.loads(json.dumps(result)) == result
    text = bench.markdown(result)
    assert text.startswith("### Hostile recurrences\n")
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + len(result["cases"])  # the header
    for case in result["cases"]:
        assert f"| {case['case']} |" in text
    assert "× it has too many occurrences to expand" in text
