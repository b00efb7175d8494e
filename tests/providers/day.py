"""A simulated Monday of half-hourly runs of one account's three jobs, for the fault,
chaos and crash tests: the same day, whatever the provider."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from providers.base import CalendarProvider, MailProvider
from providers.errors import ProviderError
from worker.config import Hold, default_config
from worker.cycle import AccountRun, rules_for, run_account
from worker.gapcheck import channels, run_gaps
from worker.inbox import run_hold
from worker.state import State

NY = ZoneInfo("America/New_York")
MONDAY = datetime(2026, 11, 30, 6, 0, tzinfo=NY)  # early: failed runs are made good before work


def run_day(
    open_account: Callable[[], tuple[CalendarProvider, MailProvider]],
    *,
    provider: str,
    email: str,
    boss: str,
    folder: Path,
    pause: Callable[[float], None],
    each_step: Callable[[int], None] | None = None,
) -> list[str]:
    """23 runs, every 30 minutes from 06:00, each opening the account afresh as a new
    process would; returns the errors the runs reported."""
    base = default_config()
    config = dataclasses.replace(base, timezone="America/New_York", hold=Hold(True, (boss,), 0))
    account = dataclasses.replace(base.accounts[0], name="rep", provider=provider, email=email)
    state = State(folder / "state.sqlite3")
    rules = rules_for(config, account, NY)
    errors: list[str] = []
    try:
        for step in range(23):
            now = MONDAY + timedelta(minutes=30 * step)
            if each_step is not None:
                each_step(step)
            cal, box = open_account()
            outcome = None
            try:
                outcome = run_account(
                    AccountRun.start(config, account, cal, state, now), cal, apply=True
                )
            except ProviderError as exc:
                errors.append(f"calendar: {type(exc).__name__}")
            try:
                run_hold(AccountRun(config, account, state, now, rules), box, outcome, apply=True)
            except ProviderError as exc:
                errors.append(f"mail: {type(exc).__name__}")
            if outcome is not None:
                try:
                    run = AccountRun(config, account, state, now, rules)
                    run_gaps(run, outcome, channels(config, box, None), apply=True)
                except ProviderError as exc:
                    errors.append(f"alerts: {type(exc).__name__}")
            pause(0.03)  # runs are half an hour apart: any Retry-After has passed
    finally:
        state.close()
    return errors
