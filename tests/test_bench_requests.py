"""The request benchmark (bench/requests.py), quick mode: counts, never times."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import pytest

from bench import requests as bench
from providers.outlook.session import BATCH_LIMIT

STEADY = ("steady", "steady_holding", "steady_held")


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    return bench.run(quick=True)


def rows(result: dict[str, Any], provider: str) -> dict[str, dict[str, Any]]:
    return {r["scenario"]: r for r in result["providers"][provider]}


@pytest.mark.parametrize("provider", ["Google", "Outlook"])
def test_steady_state_meets_the_target(result: dict[str, Any], provider: str) -> None:
    for scenario in STEADY:
        t = rows(result, provider)[scenario]["firstblock"]
        assert t["calendar_reads"] + t["calendar_writes"] <= 1, scenario
        assert t["mail_reads"] + t["mail_writes"] <= 1, scenario
        assert t["calendar_writes"] == t["mail_writes"] == t["other"] == 0, scenario
    assert result["target"] == {"met": True, "misses": []}


@pytest.mark.parametrize("provider", ["Google", "Outlook"])
def test_the_naive_baseline_costs_more(result: dict[str, Any], provider: str) -> None:
    found = rows(result, provider)
    for scenario in (*STEADY, "release"):
        row = found[scenario]
        assert row["naive"]["total"] > row["firstblock"]["total"], scenario
        assert row["ratio"] > 1, scenario


@pytest.mark.parametrize("provider", ["Google", "Outlook"])
def test_the_naive_baseline_does_the_same_job_one_request_at_a_time(
    result: dict[str, Any], provider: str
) -> None:
    held = result["settings"]["held_messages"]
    planned = result["settings"]["planned"][provider]
    assert planned["naive_blocks"] == planned["blocks"] > 0  # the same plan
    found = rows(result, provider)
    assert found["first_run"]["naive"]["calendar_writes"] == planned["blocks"]  # inserts
    assert found["steady"]["naive"]["calendar_writes"] == planned["blocks"]  # rewrites
    assert found["release"]["naive"]["mail_writes"] == held  # one move per message
    assert all(r["naive"]["batches"] == 0 for r in found.values())


def test_firstblock_moves_held_mail_in_few_requests(result: dict[str, Any]) -> None:
    held = result["settings"]["held_messages"]
    google = rows(result, "Google")["release"]["firstblock"]
    assert google["sent"]["POST /gmail/v1/users/me/messages/batchModify"] == 1  # ≤ 1,000 ids
    outlook = rows(result, "Outlook")["release"]["firstblock"]
    assert (outlook["batches"], outlook["sub_requests"]) == (math.ceil(held / BATCH_LIMIT), held)


def test_quick_mode_and_json(result: dict[str, Any]) -> None:
    assert result["settings"]["quick"] is True
    assert result["settings"]["held_messages"] == bench.HELD[True] == 50
    assert json.loads(json.dumps(result)) == result


def test_markdown_has_the_table_and_the_verdict(result: dict[str, Any]) -> None:
    text = bench.markdown(result)
    assert text.startswith("### Requests per account-cycle\n")
    for provider in ("Google", "Outlook"):
        for label in ("first run", "steady state", "one meeting moved", "release of 50 held"):
            assert f"| {provider} | {label} |" in text
    steady = rows(result, "Google")["steady"]
    assert f"| **{steady['firstblock']['total']}** |" in text
    assert "target" in text and "**met**" in text


# -- counting and the verdict, without an emulator


@dataclass
class Seen:
    method: str
    path: str
    batch_part: bool = False


def test_a_batch_counts_once_in_the_api_and_kind_of_its_parts() -> None:
    log = [
        Seen("GET", "/calendar/v3/calendars/primary/events"),
        Seen("POST", "/batch/gmail/v1"),  # reads, though POSTed
        Seen("GET", "/gmail/v1/users/me/messages/190a0b0c0d000001", True),
        Seen("GET", "/gmail/v1/users/me/messages/190a0b0c0d000002", True),
        Seen("POST", "/v1.0/$batch"),
        Seen("POST", "/me/messages/AAMkAGI2TG93AAA=/move", True),
        Seen("GET", "/v1.0/me/mailboxSettings"),  # the calendar step's zone and hours
        Seen("POST", "/token"),
    ]
    t = bench.tally(log)
    assert (t.calendar_reads, t.calendar_writes, t.mail_reads, t.mail_writes, t.other) == (
        2,
        0,
        1,
        1,
        1,
    )
    assert (t.batches, t.sub_requests, t.total) == (2, 3, 5)


def test_a_missed_target_says_by_how_much() -> None:
    counts = {"calendar_reads": 1, "calendar_writes": 0, "mail_reads": 3, "mail_writes": 0}
    row = {"scenario": "steady_held", "label": "steady state, 1,000 held", "firstblock": counts}
    found = bench.target({"Outlook": [{**row, "firstblock": {**counts, "other": 0}}]})
    assert found == {
        "met": False,
        "misses": ["Outlook, steady state, 1,000 held: 3 mail requests (2 over)"],
    }
