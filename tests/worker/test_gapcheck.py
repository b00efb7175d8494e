"""The follow-up step: channels, once-only alerts, and a webhook that fails."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from providers.memory import MemoryCalendar, MemoryMailbox
from worker.config import Alerts, default_config
from worker.cycle import AccountRun, rules_for, run_account
from worker.gapcheck import channels, run_gaps
from worker.models import Attendee, Event
from worker.notify import Webhook
from worker.state import State

NY = ZoneInfo("America/New_York")
MON = date(2026, 11, 30)


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=NY)


def test_a_dead_webhook_never_blocks_and_email_still_arrives(tmp_path: Path) -> None:
    config = dataclasses.replace(
        default_config(),
        timezone="America/New_York",
        alerts=Alerts(True, "http://127.0.0.1:9/hook"),
    )
    account = dataclasses.replace(config.accounts[0], provider="memory", email="me@example.com")
    cal, box = MemoryCalendar(), MemoryMailbox()
    cal.events.append(
        Event("acme", "Acme QBR", at(MON, 14), at(MON, 15), attendees=(Attendee("jane@acme.com"),))
    )
    state = State(tmp_path / "s.sqlite3")
    now = at(MON + timedelta(1), 9)
    run = AccountRun(config, account, state, now, rules_for(config, account, NY))
    outcome = run_account(run, cal, apply=True)
    waits: list[float] = []
    hook = Webhook(config.alerts.webhook_url, attempts=2, timeout=2, sleep=waits.append)
    result = run_gaps(run, outcome, channels(config, box, hook), apply=True)
    assert [g.client for g in result.alerted] == ["acme.com"]
    assert len(result.problems) == 1
    assert result.problems[0].startswith("webhook alert not delivered")
    assert "127.0.0.1:9" not in result.problems[0]
    assert len(waits) == 1
    assert [m.alert for m in box.messages.values()] == [True]
    again = run_gaps(run, outcome, channels(config, box, hook), apply=True)
    assert again.alerted == ()


def test_with_no_channel_the_gap_stays_unalerted_for_the_next_run(tmp_path: Path) -> None:
    config = dataclasses.replace(
        default_config(), timezone="America/New_York", alerts=Alerts(False, "")
    )
    account = dataclasses.replace(config.accounts[0], provider="memory", email="me@example.com")
    cal = MemoryCalendar()
    cal.events.append(
        Event("acme", "Acme QBR", at(MON, 14), at(MON, 15), attendees=(Attendee("jane@acme.com"),))
    )
    state = State(tmp_path / "s.sqlite3")
    now = at(MON + timedelta(1), 9)
    run = AccountRun(config, account, state, now, rules_for(config, account, NY))
    outcome = run_account(run, cal, apply=True)
    result = run_gaps(run, outcome, [], apply=True)
    assert result.alerted == ()
    assert [g.alerted_at for g in result.open] == [None]
