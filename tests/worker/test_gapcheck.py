"""The follow-up step: channels, once-only alerts, and a webhook that fails."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from providers.errors import BadRequest, TransientError
from providers.memory import MemoryCalendar, MemoryMailbox
from worker import gapcheck
from worker.config import Alerts, default_config
from worker.cycle import AccountRun, rules_for, run_account
from worker.gapcheck import GapOutcome, _deliver, channels, decide_gaps, run_gaps
from worker.models import Alert, Attendee, Draft, Event
from worker.notify import Webhook
from worker.state import State
from worker.stores import Run

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


def test_with_no_channel_no_alert_digest_or_slots_are_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alerts off, or on with neither a mailbox nor a webhook: they could go nowhere,
    so each steady cycle would make them again."""
    config = dataclasses.replace(
        default_config(), timezone="America/New_York", alerts=Alerts(False, "")
    )
    on = dataclasses.replace(config, alerts=Alerts(True, ""))
    account = dataclasses.replace(config.accounts[0], provider="memory", email="me@example.com")
    cal, box = MemoryCalendar(), MemoryMailbox()
    cal.events.append(
        Event("acme", "Acme QBR", at(MON, 14), at(MON, 15), attendees=(Attendee("jane@acme.com"),))
    )
    asked: list[object] = []
    real = gapcheck.proposed_for
    monkeypatch.setattr(gapcheck, "proposed_for", lambda *a: asked.append(a) or real(*a))
    state = State(tmp_path / "s.sqlite3")
    day = MON + timedelta(1)
    for conf, mailbox in ((config, box), (on, None)):
        for now in (at(day, 9), at(day, 17)):  # at 17:00 the digest is due
            run = AccountRun(conf, account, state, now, rules_for(conf, account, NY))
            outcome = run_account(run, cal, apply=True)
            result = run_gaps(run, outcome, channels(conf, mailbox, None), apply=True)
            assert [g.client for g in result.open] == ["acme.com"]  # still found
            assert (result.alerted, result.digest_sent, asked) == ((), False, [])
    assert box.messages == {}
    run = AccountRun(on, account, state, now, rules_for(on, account, NY))
    result = run_gaps(run, run_account(run, cal, apply=True), channels(on, box, None), apply=True)
    assert len(result.alerted) == 1 and result.digest_sent and len(asked) == 1


class _LosesAnAnswer(MemoryMailbox):
    """Stores the alert, then fails as if its answer were lost, once."""

    def __init__(self) -> None:
        super().__init__()
        self.tries: list[bool] = []

    def deliver(self, alert: Alert, *, first_try: bool = False) -> None:
        self.tries.append(first_try)
        super().deliver(alert, first_try=first_try)
        if len(self.tries) == 1:
            raise TransientError("the answer was lost")


def test_an_alert_is_looked_up_only_when_an_earlier_attempt_may_have_landed(
    tmp_path: Path,
) -> None:
    config = dataclasses.replace(
        default_config(), timezone="America/New_York", alerts=Alerts(True, "")
    )
    account = dataclasses.replace(config.accounts[0], provider="memory", email="me@example.com")
    cal, box = MemoryCalendar(), _LosesAnAnswer()
    for i, day in enumerate((MON, MON + timedelta(1), MON + timedelta(2))):
        cal.events.append(
            Event(f"m{i}", "QBR", at(day, 14), at(day, 15), attendees=(Attendee(f"jo@c{i}.com"),))
        )

    def gaps(state: State, day: date) -> GapOutcome:
        run = AccountRun(config, account, state, at(day, 17), rules_for(config, account, NY))
        return run_gaps(
            run, run_account(run, cal, apply=True), channels(config, box, None), apply=True
        )

    state = State(tmp_path / "s.sqlite3")
    gaps(state, MON)  # a state with no history (new, or lost): looks first
    state.runs.log(Run(account.name, at(MON, 17), at(MON, 17), True))
    assert box.tries == [False]  # (its answer was lost: retried next run)
    assert [g.client for g in gaps(state, MON).alerted] == ["c0.com"]
    assert box.tries == [False, False]  # the attempt before may have landed: looked
    gaps(state, MON + timedelta(1))  # the next gap, and the day's digest: first tries
    assert box.tries == [False, False, True, True]
    # Sent, and killed before it was recorded: the note of the attempt stays.
    run = AccountRun(
        config, account, state, at(MON + timedelta(2), 17), rules_for(config, account, NY)
    )
    decision = decide_gaps(run, run_account(run, cal, apply=True), sendable=True)
    alert = decision.alerts[0].alert
    assert _deliver(run, alert, channels(config, box, None), [])
    gaps(state, MON + timedelta(2))
    assert box.tries[-3:] == [True, False, True]  # the gap's looked; the digest's not
    assert len([m for m in box.messages.values() if m.alert]) == 5


class FlakyDrafts(MemoryMailbox):
    """Drafts fail with `error` until it is cleared."""

    def __init__(self) -> None:
        super().__init__()
        self.error: Exception | None = None

    def save_draft(self, draft: Draft) -> None:
        if self.error is not None:
            raise self.error
        super().save_draft(draft)


def test_a_draft_that_fails_for_now_holds_its_alert_and_one_that_cannot_be_saved_does_not(
    tmp_path: Path,
) -> None:
    config = dataclasses.replace(default_config(), timezone="America/New_York")
    account = dataclasses.replace(config.accounts[0], provider="memory", email="me@example.com")
    cal, box = MemoryCalendar(), FlakyDrafts()
    cal.events.append(
        Event("acme", "Acme QBR", at(MON, 14), at(MON, 15), attendees=(Attendee("jane@acme.com"),))
    )
    state = State(tmp_path / "s.sqlite3")
    run = AccountRun(config, account, state, at(MON, 16, 30), rules_for(config, account, NY))
    outcome = run_account(run, cal, apply=True)
    box.error = TransientError("try later", where="mailbox")
    held = run_gaps(run, outcome, channels(config, box, None), apply=True)
    assert held.alerted == () and held.problems[0].startswith("draft not saved, tried again")
    box.error = None  # the next run: the draft, then the alert that points to it
    sent = run_gaps(run, outcome, channels(config, box, None), apply=True)
    assert [g.client for g in sent.alerted] == ["acme.com"] and list(box.drafts)
    # Another meeting, another mailbox that refuses drafts for good: the alert goes alone.
    cal.events.append(
        Event("glx", "Globex", at(MON, 15), at(MON, 15, 30), attendees=(Attendee("li@globex.com"),))
    )
    outcome = run_account(run, cal, apply=True)
    box.error = BadRequest("no drafts here", where="mailbox")
    alone = run_gaps(run, outcome, channels(config, box, None), apply=True)
    assert [g.client for g in alone.alerted] == ["globex.com"]
    assert alone.problems[0].startswith("draft not saved: ")
