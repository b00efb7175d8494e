"""The steady-cycle benchmark (bench/steady.py), quick mode: what it measures is a
steady cycle, on both providers; no timing is asserted."""

from __future__ import annotations

from typing import Any

import pytest

from bench import steady as bench


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    return bench.run(quick=True)


def test_each_provider_is_measured_over_steady_cycles(result: dict[str, Any]) -> None:
    assert set(result["providers"]) == {"Google", "Outlook"}
    for p in result["providers"].values():
        assert p["cycles"] == bench.CYCLES[True]
        cpu = p["cpu_ms"]
        assert 0 < cpu["best"] <= cpu["median"] <= cpu["p90"]
    # Steady, before the workday: the calendar's read, and on Gmail its history too.
    assert result["providers"]["Outlook"]["requests_per_cycle"] == 1
    assert result["providers"]["Google"]["requests_per_cycle"] == 2


def test_the_report_has_a_row_per_provider(result: dict[str, Any]) -> None:
    text = bench.markdown(result)
    for name, p in result["providers"].items():
        assert f"| {name} | {p['cpu_ms']['median']} ms |" in text
