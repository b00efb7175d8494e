"""Proposed slots for the next meeting (worker/slots.py), through the real planner.

The property test draws zones, DST days, working hours, days off and busy weeks, and
compares what the planner proposes with a brute-force search over every 5-minute start
of every day in the window: the same slots, or the planner missed one or took a wrong
one."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from tests.worker.strategies import ACCOUNT, ME, ZONES, configs, local
from worker import planner, proposals
from worker.cycle import rules_for
from worker.models import Attendee, BlockKind, Event, EventType, Response
from worker.planner import Plan, Rules, is_busy
from worker.policy import Followups
from worker.timeutil import at

CLIENT = "bob@globex.com"
CLIENT_ZONES = (None, "Europe/Berlin", "America/Los_Angeles", "Asia/Tokyo", "Asia/Kolkata")


def meeting(eid: str, start: datetime, minutes: int, *guests: str) -> Event:
    people = (Attendee(ME, "Me", Response.ACCEPTED), *(Attendee(g) for g in guests))
    return Event(eid, f"Meeting {eid}", start, start + timedelta(minutes=minutes), attendees=people)


@st.composite
def situations(draw: st.DrawFn) -> tuple[list[Event], Rules, datetime, Event]:
    name = draw(st.sampled_from(sorted(ZONES)))
    zone = ZoneInfo(name)
    anchor = draw(st.sampled_from(ZONES[name]))
    dst = anchor in ZONES[name][:2] and name != "Asia/Kolkata" and draw(st.booleans())
    base = anchor - timedelta(days=draw(st.integers(0, 3)))
    now = local(base, time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 20, 45]))), zone)
    config = draw(configs(name, dst=dst))
    first = draw(st.integers(1, 4))
    client_zone = draw(st.sampled_from(CLIENT_ZONES))
    follow = Followups(
        proposals=draw(st.integers(1, 4)),
        propose_from_workdays=first,
        propose_until_workdays=first + draw(st.integers(0, 8)),
        proposal_minutes=draw(st.sampled_from([0, 0, 30, 60])),
        client_hours=draw(st.sampled_from([(time(9), time(17)), (time(8), time(12))])),
        client_zones=(("globex.com", client_zone),) if client_zone else (),
    )
    planning = replace(config.planning, horizon_workdays=max(1, config.planning.horizon_workdays))
    config = replace(config, followups=follow, planning=planning)
    rules = rules_for(config, ACCOUNT, zone)
    days = planner.horizon(rules, now)
    assume(days)
    mday = draw(st.sampled_from(days))
    start = local(mday, time(draw(st.integers(7, 18)), draw(st.sampled_from([0, 30]))), zone)
    the_meeting = meeting("m", start, draw(st.sampled_from([30, 45, 60, 90, 180])), CLIENT)
    events = [the_meeting]
    for i in range(draw(st.integers(0, 30))):
        day = base + timedelta(days=draw(st.integers(0, 24)))
        if draw(st.integers(0, 9)) == 0:  # a day out of office
            events.append(
                Event(
                    f"ooo{i}",
                    "Out of office",
                    at(day, time(), zone),
                    at(day + timedelta(days=1), time(), zone),
                    all_day=True,
                    event_type=EventType.OUT_OF_OFFICE,
                )
            )
            continue
        begin = local(day, time(draw(st.integers(6, 19)), draw(st.sampled_from([0, 15, 40]))), zone)
        guest = draw(st.sampled_from(["ann@acme.com", "eve@initech.com"]))
        events.append(meeting(f"e{i}", begin, draw(st.sampled_from([30, 60, 120, 240])), guest))
    if draw(st.integers(0, 5)) == 0:  # the follow-up is booked already
        later = the_meeting.end + timedelta(days=draw(st.integers(1, 20)))
        events.append(meeting("next", later, 30, "alice@globex.com"))
    return events, rules, now, the_meeting


def brute_force(events: list[Event], plan: Plan, rules: Rules, now: datetime, m: Event) -> list:
    """Every day of the window in turn, every 5-minute start in it, each checked
    against every rule; the first valid start of each day, for the first days."""
    f, zone = rules.followups, rules.zone
    off = planner.days_off(events, rules)
    busy = [(e.start, e.end) for e in events if is_busy(e, rules)]
    owned = [*plan.blocks, *plan.kept]
    stay = [(b.start, b.end) for b in owned if b.kind is BlockKind.PROSPECTING or b.meeting_id]
    ahead = planner._prospecting_ahead(list(plan.days), off, busy, rules, now)
    taken = busy + stay + ahead
    mins = f.proposal_minutes or min(120, -(-int((m.end - m.start).total_seconds()) // 300) * 5)
    need = timedelta(minutes=mins)
    client = dict(f.client_zones).get("globex.com")
    found: list[tuple[datetime, datetime]] = []
    day, n = m.start.astimezone(zone).date(), 0
    while n < f.propose_until_workdays and len(found) < f.proposals:
        day += timedelta(days=1)
        if day.weekday() not in rules.workday.days:
            continue
        n += 1
        if n < f.propose_from_workdays or day in off:
            continue
        ranges = [
            (at(day, a, zone).astimezone(UTC), at(day, b, zone).astimezone(UTC))
            for a, b in rules.workday.hours(day.weekday())
        ]
        s = at(day, time(), zone).astimezone(UTC)
        while s < at(day + timedelta(days=1), time(), zone):
            e = s + need
            ok = (
                s >= max(m.end, now)
                and any(a <= s and e <= b for a, b in ranges)
                and not any(a < e and s < b for a, b in taken)
                and (client is None or in_client_hours(s, e, ZoneInfo(client), f))
            )
            if ok:
                found.append((s, e))
                break
            s += timedelta(minutes=5)
    return found


def in_client_hours(s: datetime, e: datetime, zone: ZoneInfo, f: Followups) -> bool:
    a, b = s.astimezone(zone), e.astimezone(zone)
    start, end = (at(a.date(), t, zone) for t in f.client_hours)
    return a.weekday() < 5 and start <= a and b <= end


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(situations())
def test_the_proposed_slots_are_the_first_free_ones_by_every_rule(
    situation: tuple[list[Event], Rules, datetime, Event],
) -> None:
    events, rules, now, m = situation
    plan = planner.plan(events, [], frozenset(), rules, now)
    mine = [p for p in plan.proposals if p.meeting_id == "m"]
    expected_ask = m.start >= now and m.start.astimezone(rules.zone).date() in plan.days
    booked = any(e.id == "next" for e in events)
    if not expected_ask or booked:
        event("none expected")
        assert mine == []
        return
    [p] = mine
    got = [(s.start, s.end) for s in p.slots]
    event(f"slots: {len(got)}")
    assert got == brute_force(events, plan, rules, now, m)
    days = [s.astimezone(rules.zone).date() for s, _ in got]
    assert len(set(days)) == len(days)  # spread: one a day
    for s, e in got:  # and, plainly, the rules every slot keeps
        assert s >= m.end and s.astimezone(rules.zone).date() not in rules.planning.holidays
        assert not any(x.start < e and s < x.end for x in events if is_busy(x, rules))
        pros = [b for b in plan.blocks if b.kind is BlockKind.PROSPECTING]
        assert not any(b.start < e and s < b.end for b in pros)


NY = ZoneInfo("America/New_York")


def rules_with(**follow: object) -> Rules:
    from worker.config import default_config

    config = replace(default_config(), timezone="America/New_York")
    config = replace(config, followups=replace(config.followups, **follow))  # type: ignore[arg-type]
    return rules_for(config, ACCOUNT, NY)


def test_the_prep_block_says_to_book_the_next_meeting_in_both_zones() -> None:
    rules = rules_with(client_zones=(("globex.com", "Europe/Berlin"),))
    now = at(date(2026, 3, 9), time(7), NY)  # a Monday
    m = meeting("m", at(date(2026, 3, 10), time(11), NY), 60, CLIENT)
    plan = planner.plan([m], [], frozenset(), rules, now)
    [prep] = [b for b in plan.blocks if b.key == "meeting/m"]
    # Berlin is 5 hours ahead (the US changed clocks on 8 March, Europe not yet): its
    # 09:00-17:00 is New York's 04:00-12:00, so each day's first slot is after prospecting.
    [p] = plan.proposals
    assert [s.start.astimezone(NY).strftime("%a %d %H:%M") for s in p.slots] == [
        "Thu 12 10:00",
        "Fri 13 10:00",
        "Mon 16 10:00",
    ]
    assert (
        "Before you leave: book the next meeting. Proposed: Thu 12 Mar 10:00 (15:00 Berlin),"
        " Fri 13 Mar 10:00 (15:00 Berlin), Mon 16 Mar 10:00 (15:00 Berlin)." in prep.description
    )
    assert prep.description.startswith("Prepare for Meeting m at Tue 11:00.")


def test_a_booked_follow_up_with_one_company_leaves_the_others_proposal() -> None:
    rules = rules_with(client_zones=(("initech.com", "Asia/Tokyo"),))
    now = at(date(2026, 3, 9), time(7), NY)
    m = meeting("m", at(date(2026, 3, 10), time(11), NY), 60, CLIENT, "eve@initech.com")
    follow_up = meeting("f", at(date(2026, 3, 18), time(14), NY), 30, "alice@globex.com")
    plan = planner.plan([m, follow_up], [], frozenset(), rules, now)
    [p] = plan.proposals
    assert p.clients == ("initech.com",) and p.zones == ("Asia/Tokyo",)
    # Tokyo's 09:00-17:00 is New York's 20:00-04:00 the evening before: no overlap with
    # a 08:00-17:00 workday, so none can be proposed, and the block says so.
    assert p.slots == ()
    [prep] = [b for b in plan.blocks if b.key == "meeting/m"]
    assert "No free slot found in the window: pick a time by hand." in prep.description
    booked = meeting("g", at(date(2026, 3, 19), time(9), NY), 30, "ken@initech.com")
    assert planner.plan([m, follow_up, booked], [], frozenset(), rules, now).proposals == ()


def test_hostile_titles_stay_text_in_the_description() -> None:
    rules = rules_with()
    now = at(date(2026, 3, 9), time(7), NY)
    m = meeting("m", at(date(2026, 3, 10), time(11), NY), 60, CLIENT)
    m = replace(m, title='<script>alert(1)</script>\n"; DROP TABLE')
    [prep] = [
        b for b in planner.plan([m], [], frozenset(), rules, now).blocks if b.key == "meeting/m"
    ]
    assert prep.description.count(proposals.LEAD) == 1  # the title cannot fake a second one
    assert "Proposed: Thu 12 Mar" in prep.description


def test_no_proposals_when_turned_off() -> None:
    rules = rules_with(proposals=0)
    now = at(date(2026, 3, 9), time(7), NY)
    m = meeting("m", at(date(2026, 3, 10), time(11), NY), 60, CLIENT)
    plan = planner.plan([m], [], frozenset(), rules, now)
    assert plan.proposals == ()
    assert all(proposals.LEAD not in b.description for b in plan.blocks)


def test_a_clients_own_invitation_tells_the_clients_zone() -> None:
    rules = rules_with()
    now = at(date(2026, 3, 9), time(7), NY)
    m = meeting("m", at(date(2026, 3, 10), time(11), NY), 60, CLIENT)
    theirs = replace(m, organizer=CLIENT, zone="Europe/London")
    [p] = planner.plan([theirs], [], frozenset(), rules, now).proposals
    assert p.zones == ("Europe/London",)
    mine = replace(m, organizer=ME, zone="Europe/London")  # set by the rep, travelling
    [q] = planner.plan([mine], [], frozenset(), rules, now).proposals
    assert q.zones == ()
