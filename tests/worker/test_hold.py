"""The inbox hold's decisions, and one step of it end to end on the memory mailbox."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from providers.memory import MemoryCalendar, MemoryMailbox
from worker import hold
from worker.config import Hold, default_config
from worker.cycle import AccountRun, rules_for, run_account
from worker.inbox import run_hold
from worker.models import Attendee, Event, Message
from worker.state import State

NY = ZoneInfo("America/New_York")
MON = date(2026, 11, 30)
ME = "me@example.com"


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=NY)


def setup(allow: tuple[str, ...] = ("boss@example.com", "@bigclient.com"), days: int = 2):
    config = dataclasses.replace(
        default_config(), timezone="America/New_York", hold=Hold(True, allow, days)
    )
    account = dataclasses.replace(config.accounts[0], provider="memory", email=ME)
    return config, account


def step(
    calendar: MemoryCalendar,
    box: MemoryMailbox,
    now: datetime,
    state: State | None = None,
    **kw: object,
):
    config, account = setup(**kw)  # type: ignore[arg-type]
    store = state if state is not None else State.memory()  # None: the state file is lost
    run = AccountRun(config, account, store, now, rules_for(config, account, NY))
    outcome = run_account(run, calendar, apply=True)
    return run_hold(run, box, outcome, apply=True)


def test_allow_list_matches_addresses_domains_and_subdomains() -> None:
    allow = hold.allow_list(
        ["Boss@Example.com", "@bigclient.com", "partner.io"], [], ME, at(MON, 8), 0
    )
    assert allow.allows("boss@example.com")
    assert allow.allows("anyone@bigclient.com")
    assert allow.allows("x@eu.partner.io")
    assert not allow.allows("other@example.com")
    assert not allow.allows("x@notbigclient.com")


def test_meeting_attendees_of_the_next_days_are_allowed() -> None:
    soon = Event("m", "Acme", at(MON, 14), at(MON, 15), attendees=(Attendee("jane@acme.com"),))
    later = Event(
        "l",
        "Far",
        at(MON, 14) + timedelta(days=5),
        at(MON, 15) + timedelta(days=5),
        attendees=(Attendee("far@globex.com"),),
    )
    allow = hold.allow_list([], [soon, later], ME, at(MON, 8), 2)
    assert allow.allows("jane@acme.com")
    assert not allow.allows("far@globex.com")
    assert not hold.allow_list([], [soon], ME, at(MON, 8), 0).allows("jane@acme.com")


def test_hold_in_the_morning_release_at_the_admin_block(tmp_path) -> None:
    cal, box = MemoryCalendar(), MemoryMailbox()
    state = State(tmp_path / "s.sqlite3")
    box.arrive(Message("night", "news@letters.com", at(MON, 2)), frozenset({"S"}))
    box.arrive(Message("boss", "boss@example.com", at(MON, 3)))
    morning = step(cal, box, at(MON, 8, 35), state)
    assert morning.phase is hold.Phase.HOLDING
    assert (morning.moved_out, morning.held) == (1, 1)
    assert morning.release_at == at(MON, 16, 45)
    assert box.messages["night"].held
    assert not box.messages["boss"].held
    box.arrive(Message("later", "vendor@spam.io", at(MON, 10)))
    assert step(cal, box, at(MON, 10, 5), state).held == 2
    box.arrive(Message("client", "x@bigclient.com", at(MON, 11)))
    box.arrive(Message("alert-1", "firstblock@localhost", at(MON, 11), alert=True))
    noon = step(cal, box, at(MON, 11, 5), state)
    assert (noon.moved_out, noon.held) == (0, 2)
    admin = step(cal, box, at(MON, 16, 45), state)
    assert admin.phase is hold.Phase.RELEASED
    assert (admin.returned, admin.held) == (2, 0)
    assert not any(m.held for m in box.messages.values())
    assert box.flags["night"] == frozenset({"S"})
    # Mail the user saw at admin time stays in the inbox the next morning.
    box.arrive(Message("evening", "vendor@spam.io", at(MON, 17)))
    box.arrive(Message("overnight", "vendor@spam.io", at(MON, 23)))
    tue = step(cal, box, at(MON + timedelta(1), 8, 30), state)
    assert tue.moved_out == 2  # the release was at 16:45: both came after it
    assert state.holds.last_release("local") == at(MON, 16, 45)


def test_a_lost_state_file_falls_back_to_the_previous_workdays_end(tmp_path) -> None:
    cal, box = MemoryCalendar(), MemoryMailbox()
    box.arrive(Message("seen", "a@x.com", at(MON, 17, 10)))
    box.arrive(Message("new", "a@x.com", at(MON, 19)))
    tue = step(cal, box, at(MON + timedelta(1), 9), None)
    assert [i for i, m in box.messages.items() if m.held] == ["new"]
    assert tue.moved_out == 1


def test_no_admin_block_means_release_at_the_end_of_the_workday(tmp_path) -> None:
    cal, box = MemoryCalendar(), MemoryMailbox()
    # Only prospecting fits before the offsite: admin is dropped today.
    cal.events.append(
        Event(
            "offsite",
            "Offsite",
            at(MON, 10),
            at(MON, 17, 30),
            attendees=(Attendee("boss@example.com"),),
        )
    )
    box.arrive(Message("a", "a@x.com", at(MON, 9)))
    h = step(cal, box, at(MON, 9, 5))
    assert h.window is not None
    assert not h.window.by_admin
    assert h.release_at == at(MON, 17, 30)
    assert step(cal, box, at(MON, 17, 30)).returned == 1


def test_weekends_hold_nothing_and_monday_holds_the_weekend(tmp_path) -> None:
    cal, box = MemoryCalendar(), MemoryMailbox()
    sat = MON - timedelta(2)
    box.arrive(Message("fri-night", "a@x.com", at(sat, 1)))
    assert step(cal, box, at(sat, 10)).held == 0
    assert step(cal, box, at(MON, 8, 30)).moved_out == 1


def test_the_server_side_rule_follows_the_hold(tmp_path) -> None:
    cal, box = MemoryCalendar(), MemoryMailbox()
    step(cal, box, at(MON, 9))
    # Your own address is always let through: mail to yourself, and the alerts.
    assert box.rule == ("boss@example.com", "me@example.com", "@bigclient.com")
    box.arrive(Message("on-arrival", "x@spam.io", at(MON, 9, 1)))
    assert box.messages["on-arrival"].held
    box.arrive(Message("note-to-self", "me@example.com", at(MON, 9, 2)))
    assert not box.messages["note-to-self"].held
    step(cal, box, at(MON, 17))
    assert box.rule is None
    assert not box.messages["on-arrival"].held


def test_an_unreadable_calendar_releases_everything(tmp_path) -> None:
    config, account = setup()
    box = MemoryMailbox()
    box.arrive(Message("a", "a@x.com", at(MON, 9)))
    box.hold(["a"])
    run = AccountRun(config, account, State.memory(), at(MON, 10), rules_for(config, account, NY))
    h = run_hold(run, box, None, apply=True)
    assert h.phase is hold.Phase.OFF
    assert h.returned == 1


@pytest.mark.parametrize(
    ("zone", "day"),
    [
        ("America/New_York", date(2026, 3, 9)),
        ("Europe/London", date(2026, 3, 30)),
        ("Australia/Sydney", date(2026, 4, 6)),
    ],
)
def test_hold_window_is_wall_clock_after_dst(zone: str, day: date) -> None:
    tz = ZoneInfo(zone)
    config, account = setup()
    rules = rules_for(config, account, tz)
    from worker import planner

    now = datetime.combine(day, time(7), tzinfo=tz)
    p = planner.plan([], (), frozenset(), rules, now)
    w = hold.window(p, rules, now)
    assert w is not None
    assert (w.start.astimezone(tz).time(), w.release_at.astimezone(tz).time()) == (
        time(8, 30),
        time(16, 45),
    )
    prev = hold.previous_release(rules, now)
    assert prev.astimezone(tz).time() == time(17, 30)
