"""One account's report for one week, read from the state: what `firstblock report`
and the web app's pages share (worker/report.py draws the figures from it)."""

from __future__ import annotations

from datetime import datetime

from worker import config as cfg
from worker import report, runner, weekly, zones
from worker.state import State


def week_report(
    state: State, config: cfg.Config, account: cfg.Account, week: str | None, now: datetime
) -> report.WeekReport:
    """The report for the ISO `week` (default: this one, in the account's zone).
    Raises ValueError for a week that is not one."""
    # The zone its days were counted in; an account never run falls back to its config's.
    mine = config.for_account(account)
    known = state.figures.zone(account.name)
    zone = zones.zone(known or mine.timezone or runner.fallback_zone(mine))
    monday = report.parse_week(week) if week else report.monday_of(now.astimezone(zone).date())
    return weekly.of_week(state, account.name, monday, zone, now)
