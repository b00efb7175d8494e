"""The CalDAV and IMAP request benchmark (bench/dav.py), quick mode: counts, never
times, against real Radicale and Dovecot."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("imapclient", reason="the IMAP mailbox needs imapclient")

from bench import dav
from tests.servers import dovecot, radicale

LOGIN = 3  # the greeting, LOGIN, CAPABILITY: every cycle opens its own session


@pytest.fixture(scope="module")
def rows() -> dict[str, dict[str, Any]]:
    radicale.radicale_or_skip()
    dovecot.dovecot_or_skip()
    return {r["scenario"]: r for r in dav.run(quick=True)["rows"]}


def test_a_steady_cycle_costs_one_request_and_a_status_per_folder(
    rows: dict[str, dict[str, Any]],
) -> None:
    for scenario in ("steady", "steady_holding", "steady_held"):
        assert rows[scenario]["firstblock"] == {"http": 1, "imap": LOGIN + 2}, scenario


def test_the_naive_strategy_costs_more_where_it_matters(rows: dict[str, dict[str, Any]]) -> None:
    for scenario in ("steady", "moved", "hold_start", "arrivals", "release"):
        ours, naive = rows[scenario]["firstblock"], rows[scenario]["naive"]
        assert ours["http"] + ours["imap"] < naive["http"] + naive["imap"], scenario
    # A release is one MOVE of every held message, whatever their number.
    release = rows["release"]
    assert release["firstblock"]["imap"] < 15 < release["naive"]["imap"]


def test_the_report_has_a_row_per_cycle(rows: dict[str, dict[str, Any]]) -> None:
    text = dav.markdown({"settings": {"servers": "here"}, "rows": list(rows.values())})
    assert text.count("\n| ") == len(dav.SCENARIOS) + 1
