"""Working hours given in a zone of their own (worker/cycle.py: with_calendar_hours,
resolve_zone), on the memory calendar."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from providers.memory import MemoryCalendar
from tests.worker.test_zones import UTC_0320
from worker.config import Workday, default_config, parse
from worker.cycle import AccountRun, resolve_zone, run_account, with_calendar_hours
from worker.models import BlockKind, WorkHours
from worker.state import State

WEEKDAYS = frozenset(range(5))


def hours(zone_name: str, start: int = 8, end: int = 17) -> WorkHours:
    return WorkHours(WEEKDAYS, time(start), time(end), zone_name)


def test_hours_in_another_zone_are_planned_in_that_zone() -> None:
    """A calendar in UTC whose working hours are 08:00-17:00 Pacific: the days are the
    user's Pacific days, not 08:30-17:30 UTC (00:30 Pacific)."""
    cal = MemoryCalendar(zone="UTC", hours=hours("America/Los_Angeles"))
    config, told = with_calendar_hours(default_config(), cal)
    assert told == ()
    assert (config.timezone, config.workday.start, config.workday.end) == (
        "America/Los_Angeles",
        time(8),
        time(17),
    )
    assert resolve_zone(config, cal).key == "America/Los_Angeles"
    now = datetime(2026, 11, 30, 6, 0, tzinfo=ZoneInfo("America/Los_Angeles"))
    account = dataclasses.replace(default_config().accounts[0], provider="memory")
    outcome = run_account(
        AccountRun.start(config, account, cal, State.memory(), now), cal, apply=True
    )
    la = ZoneInfo("America/Los_Angeles")
    blocks = outcome.plan.blocks
    assert outcome.timezone == "America/Los_Angeles" and blocks
    assert all(time(8) <= b.start.astimezone(la).time() for b in blocks)
    assert all(b.end.astimezone(la).time() <= time(17) for b in blocks)
    first = min(b.start for b in blocks if b.kind is BlockKind.PROSPECTING)
    assert first == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)  # 08:00 Pacific


def test_hours_in_a_custom_zone_are_planned_in_it() -> None:
    cal = MemoryCalendar(zone=None, hours=hours(UTC_0320, 9, 17))
    config, told = with_calendar_hours(default_config(), cal)
    assert told == () and resolve_zone(config, cal).key == UTC_0320
    now = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)
    account = dataclasses.replace(default_config().accounts[0], provider="memory")
    outcome = run_account(
        AccountRun.start(config, account, cal, State.memory(), now), cal, apply=False
    )
    first = min(b.start for b in outcome.plan.blocks if b.kind is BlockKind.PROSPECTING)
    assert first == datetime(2026, 11, 30, 5, 40, tzinfo=UTC)  # 09:00 at UTC+03:20


def test_the_configs_zone_wins_and_hours_in_another_zone_fall_back_loudly() -> None:
    cal = MemoryCalendar(zone="UTC", hours=hours("America/Los_Angeles"))
    mine = parse({"timezone": "Europe/London"})
    config, told = with_calendar_hours(mine, cal)
    assert config == mine  # the default workday, in London
    [line] = told
    assert "America/Los_Angeles" in line and "Europe/London" in line and "[workday]" in line
    # Hours in the config's own zone (by any of its names), or none at all, are no fallback.
    for name in ("Europe/London", "GB", "Europe/Belfast"):
        same = MemoryCalendar(hours=hours(name, 9, 18))
        assert with_calendar_hours(mine, same) == (
            replace(mine, workday=Workday(WEEKDAYS, time(9), time(18))),
            (),
        )
    assert with_calendar_hours(default_config(), MemoryCalendar()) == (default_config(), ())
    # [workday] in the config: the calendar's hours are neither asked for nor reported.
    workday = parse({"workday": {"start": "07:00", "end": "15:00"}})
    assert with_calendar_hours(workday, cal) == (workday, ())


def test_hours_the_planner_cannot_hold_fall_back_loudly() -> None:
    night = MemoryCalendar(hours=WorkHours(WEEKDAYS, time(22), time(6), "UTC"))
    config, told = with_calendar_hours(default_config(), night)
    assert config == default_config()
    [line] = told
    assert "22:00-06:00" in line and "default workday" in line
