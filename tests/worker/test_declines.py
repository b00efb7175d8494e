"""Declines (worker/declines.py): which invitations are turned down, once, and never a
client's; run through the real cycle on the in-memory calendar."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

from providers.errors import BadRequest, TransientError
from providers.memory import MemoryCalendar
from tests.worker.strategies import BookOver, Scenario, scenarios
from tests.worker.test_defense import check_declines
from tests.worker.test_invariants import (
    SETTINGS,
    Step,
    check_no_overlap,
    check_ownership,
    check_user_wins,
    simulate,
)
from worker import declines, render
from worker.config import Config, default_config
from worker.cycle import AccountRun, Outcome, owned_now, rules_for, run_account
from worker.models import Attendee, Block, BlockKind, Event, Response, Status
from worker.policy import Planning
from worker.state import State

NY = ZoneInfo("America/New_York")
MON = date(2026, 11, 30)
ME = "rep@example.com"


def at(hh: int, mm: int = 0, day: date = MON) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=NY)


def invitation(
    ident: str, organizer: str, start: datetime, *others: str, minutes: int = 30
) -> Event:
    people = (Attendee(organizer, response=Response.ACCEPTED), *(Attendee(o) for o in others))
    return Event(
        ident,
        f"Invite {ident}",
        start,
        start + timedelta(minutes=minutes),
        attendees=(*people, Attendee(ME)),  # the rep's answer: not given yet
        organizer=organizer,
    )


def setting(decline: str = "internal", **planning: object) -> Config:
    base = default_config()
    blocks = tuple(
        dataclasses.replace(p, decline=decline) if p.kind is BlockKind.PROSPECTING else p
        for p in base.blocks
    )
    return dataclasses.replace(
        base,
        timezone="America/New_York",
        blocks=blocks,
        planning=dataclasses.replace(Planning(), **planning),
    )


class Desk:
    """One rep's calendar in memory and their state, run cycle by cycle."""

    def __init__(self, state: State, config: Config) -> None:
        self.state, self.config = state, config
        self.cal = MemoryCalendar()
        self.cal.owner_email = ME

    def run(self, now: datetime, *, apply: bool = True) -> Outcome:
        account = dataclasses.replace(self.config.accounts[0], provider="memory", email=ME)
        rules = rules_for(self.config, account, NY)
        return run_account(
            AccountRun(self.config, account, self.state, now, rules), self.cal, apply=apply
        )

    def prospecting(self, outcome: Outcome, day: date = MON) -> Block:
        return next(
            b for b in owned_now(outcome) if b.day == day and b.kind is BlockKind.PROSPECTING
        )

    def answer(self, ident: str) -> Response | None:
        return next(e for e in self.cal.events if e.id == ident).response_of(ME)


@pytest.fixture
def state(tmp_path: Path) -> Iterator[State]:
    s = State(tmp_path / "state.sqlite3")
    yield s
    s.close()


def test_a_colleagues_invitation_onto_a_busy_block_is_declined_once(state: State) -> None:
    desk = Desk(state, setting())
    block = desk.prospecting(desk.run(at(7)))
    desk.cal.events.append(invitation("sync", "sam@example.com", block.start))
    preview = desk.run(at(7, 15), apply=False)  # a dry run says so and sends nothing
    assert [d.event.id for d in preview.declines] == ["sync"] and desk.cal.answers == []
    done = desk.run(at(7, 15))
    assert [d.event.id for d in done.declines] == ["sync"]
    assert desk.cal.answers == [("sync", default_config().focus_time.decline_message)]
    assert desk.answer("sync") is Response.DECLINED
    assert desk.prospecting(done).start == block.start  # the block stays
    # The organizer sends it again, unanswered: it is never declined twice, and the
    # block now gives way to it.
    desk.cal.events = [
        dataclasses.replace(e, attendees=(*e.attendees[:-1], Attendee(ME))) for e in desk.cal.events
    ]
    again = desk.run(at(7, 30))
    assert again.declines == () and len(desk.cal.answers) == 1
    assert desk.prospecting(again).start != block.start


def test_a_clients_invitation_is_never_declined_under_internal(state: State) -> None:
    desk = Desk(state, setting())
    block = desk.prospecting(desk.run(at(7)))
    # Organized by a colleague, but a client is at it: a client meeting.
    desk.cal.events.append(invitation("demo", "sam@example.com", block.start, "jane@acme.com"))
    desk.cal.events.append(
        invitation(
            "qbr", "jane@acme.com", desk.prospecting(desk.run(at(7)), MON + timedelta(1)).start
        )
    )
    after = desk.run(at(7, 15))
    assert after.declines == () and desk.cal.answers == []
    assert desk.prospecting(after).start != block.start  # it gave way


def test_under_all_a_clients_invitation_is_declined_too(state: State) -> None:
    desk = Desk(state, setting("all"))
    block = desk.prospecting(desk.run(at(7)))
    desk.cal.events.append(invitation("qbr", "jane@acme.com", block.start))
    after = desk.run(at(7, 15))
    assert [(d.event.id, d.internal) for d in after.declines] == [("qbr", False)]


def test_none_declines_nothing(state: State) -> None:
    desk = Desk(state, setting("none"))
    block = desk.prospecting(desk.run(at(7)))
    desk.cal.events.append(invitation("sync", "sam@example.com", block.start))
    assert desk.run(at(7, 15)).declines == () and desk.cal.answers == []


def test_an_invitation_there_before_its_block_turned_busy_is_spared(state: State) -> None:
    # With tentative_is_busy off an unanswered invitation leaves its time to the
    # blocks: the prospecting block is written busy over it. It was there first.
    desk = Desk(state, setting(tentative_is_busy=False))
    desk.cal.events.append(invitation("sync", "sam@example.com", at(8, 30)))
    first = desk.run(at(7))
    assert desk.prospecting(first).start == at(8, 30)  # over the invitation
    assert first.declines == ()
    assert desk.run(at(7, 15)).declines == () and desk.cal.answers == []


class Flaky(MemoryCalendar):
    def __init__(self, failure: Exception) -> None:
        super().__init__()
        self.failure: Exception | None = failure

    def decline(self, event: Event, message: str) -> None:
        if self.failure is not None:
            failure, self.failure = self.failure, None
            raise failure
        super().decline(event, message)


def test_a_passing_failure_is_tried_again_and_a_refusal_spares_it(state: State) -> None:
    desk = Desk(state, setting())
    desk.cal = Flaky(TransientError("down", where="memory"))
    desk.cal.owner_email = ME
    block = desk.prospecting(desk.run(at(7)))
    desk.cal.events.append(invitation("sync", "sam@example.com", block.start))
    first = desk.run(at(7, 15))
    assert first.declines == () and "not declined yet" in first.problems[-1]
    assert [d.event.id for d in desk.run(at(7, 30)).declines] == ["sync"]

    desk.cal.failure = BadRequest("cannot answer", where="memory")
    desk.cal.events.append(
        invitation("sync2", "sam@example.com", block.start + timedelta(minutes=30))
    )
    refused = desk.run(at(7, 45))
    assert refused.declines == () and "will not be" in refused.problems[-1]
    assert desk.run(at(8)).declines == ()  # spared for good: its block gives way


def test_candidates_leave_out_what_is_not_an_invitation_waiting_on_the_rep() -> None:
    rules = rules_for(setting(), dataclasses.replace(default_config().accounts[0], email=ME), NY)
    block = Block("k", BlockKind.PROSPECTING, MON, at(9), at(10), "Prospecting")
    base = invitation("x", "sam@example.com", at(9))
    cases = {
        "waiting": base,
        "answered": dataclasses.replace(
            base, attendees=(*base.attendees[:-1], Attendee(ME, response=Response.TENTATIVE))
        ),
        "mine": dataclasses.replace(base, organizer=ME),
        "cancelled": dataclasses.replace(base, status=Status.CANCELLED),
        "all day": dataclasses.replace(base, all_day=True),
        "not invited": dataclasses.replace(base, attendees=base.attendees[:-1]),
        "elsewhere": dataclasses.replace(base, start=at(11), end=at(11, 30)),
    }
    found = {
        name: bool(declines.candidates([e], [block], rules.policies, rules.people))
        for name, e in cases.items()
    }
    assert found == {name: name == "waiting" for name in cases}
    free = dataclasses.replace(block, free=True)
    touched = dataclasses.replace(block, written="someone-else")
    for b in (free, touched):
        assert declines.candidates([base], [b], rules.policies, rules.people) == []


def test_run_and_plan_say_what_was_declined(state: State) -> None:
    desk = Desk(state, setting())
    block = desk.prospecting(desk.run(at(7)))
    desk.cal.events.append(invitation("sync", "sam@example.com", block.start))
    preview = desk.run(at(7, 15), apply=False)
    assert render.declines_text(preview, apply=False) == [
        f"would decline: Invite sync from sam@example.com, Mon {block.start.astimezone(NY):%H:%M},"
        " on your prospecting block"
    ]
    done = desk.run(at(7, 15))
    assert render.declines_text(done, apply=True)[0].startswith("declined: Invite sync")
    assert render.outcome_json(done)["declined"] == [
        {
            "title": "Invite sync",
            "organizer": "sam@example.com",
            "start": block.start.astimezone(NY).isoformat(),
            "block": "prospecting",
        }
    ]


@st.composite
def invited(draw: st.DrawFn) -> Scenario:
    """Random calendars whose every kind declines, then invitations booked over blocks:
    colleagues' and clients', waiting on the rep."""
    sc = draw(scenarios(max_steps=3))
    blocks = tuple(
        dataclasses.replace(p, decline=draw(st.sampled_from(["internal", "all"])))
        for p in sc.config.blocks
    )
    invitations = tuple(
        (
            BookOver(
                draw(st.integers(0, 50)),
                draw(st.sampled_from([-10, 0, 15])),
                draw(st.sampled_from([15, 30, 60])),
                draw(st.booleans()),
                False,
                waiting=True,
            ),
        )
        for _ in range(draw(st.integers(1, 3)))
    )
    config = dataclasses.replace(sc.config, blocks=blocks)
    return dataclasses.replace(sc, config=config, steps=(*sc.steps, *invitations))


@SETTINGS
@given(sc=invited())
def test_declines_keep_the_invariants(sim_state: State, sc: Scenario) -> None:
    def check(step: Step) -> None:
        check_declines(step)
        check_ownership(step)
        check_no_overlap(step)
        check_user_wins(step)

    assert simulate(sc, sim_state, check) >= 2


@pytest.mark.parametrize("colleague", [True, False], ids=["a colleague's", "a client's"])
def test_the_property_test_declines_invitations(sim_state: State, colleague: bool) -> None:
    """Not vacuous: the scenarios it draws decline colleagues' invitations, and under
    `all` clients' (hypothesis finds one, or the test fails)."""

    def declines_one(sc: Scenario) -> bool:
        found: list[bool] = []
        simulate(
            sc, sim_state, lambda step: found.extend(d.internal for d in step.outcome.declines)
        )
        return colleague in found

    find(invited(), declines_one, settings=settings(max_examples=300, database=None))


def test_invitations_waiting_before_declines_were_on_are_spared(
    state: State, tmp_path: Path
) -> None:
    # With tentative_is_busy off, a block may be written busy over an invitation
    # while declines are off; turning them on later (or losing the state) must not
    # decline what was there first. What arrives afterwards is declined.
    desk = Desk(state, setting("none", tentative_is_busy=False))
    desk.cal.events.append(invitation("old", "sam@example.com", at(8, 30)))
    block = desk.prospecting(desk.run(at(7)))
    assert block.start == at(8, 30)
    desk.config = setting("internal", tentative_is_busy=False)
    assert desk.run(at(7, 15)).declines == ()  # arms declines: "old" is spared
    desk.cal.events.append(invitation("new", "sam@example.com", block.start + timedelta(hours=1)))
    later = desk.run(at(7, 30))
    assert [d.event.id for d in later.declines] == ["new"]
    # The state is lost: armed again, and nothing waiting then is declined.
    fresh = State(tmp_path / "fresh.sqlite3")
    try:
        lost = Desk(fresh, desk.config)
        lost.cal = desk.cal
        desk.cal.events.append(invitation("third", "sam@example.com", block.start))
        assert lost.run(at(7, 45)).declines == ()
    finally:
        fresh.close()


def test_a_hidden_guest_list_is_never_taken_for_colleagues_only() -> None:
    rules = rules_for(setting(), dataclasses.replace(default_config().accounts[0], email=ME), NY)
    block = Block("k", BlockKind.PROSPECTING, MON, at(9), at(10), "Prospecting")
    hidden = dataclasses.replace(invitation("x", "sam@example.com", at(9)), guests_hidden=True)
    assert declines.candidates([hidden], [block], rules.policies, rules.people) == []
    everyone = rules_for(
        setting("all"), dataclasses.replace(default_config().accounts[0], email=ME), NY
    )
    [found] = declines.candidates([hidden], [block], everyone.policies, everyone.people)
    assert not found.internal


def test_a_decline_counts_only_under_a_block_whose_kind_takes_it() -> None:
    """A client's invitation found under an `all` block is not sent when only an
    `internal` block, or a tentative hold, covers it in the plan."""
    r = rules_for(setting("all"), dataclasses.replace(default_config().accounts[0], email=ME), NY)
    policies = tuple(
        dataclasses.replace(p, decline="internal") if p.kind is BlockKind.DEALS else p
        for p in r.policies
    )
    client = declines.Decline(
        invitation("qbr", "jane@acme.com", at(9)),
        Block("p", BlockKind.PROSPECTING, MON, at(9), at(10), "Prospecting"),
        internal=False,
    )
    deals = Block("d", BlockKind.DEALS, MON, at(9), at(10), "Advance deals")
    hold = Block("hold/m", BlockKind.PROSPECTING, MON, at(9), at(10), "Hold")
    assert declines.covered([client], [deals, hold], policies) == []
    assert declines.covered([client], [client.block], policies) == [client]
