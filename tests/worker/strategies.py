"""Hypothesis strategies for the invariant tests: configs, calendars and the outside
changes (other people's meetings, the user's edits, time passing) between runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from worker.config import (
    CANONICAL_ORDER,
    Account,
    BlockPolicy,
    Config,
    Planning,
    Workday,
    default_config,
)
from worker.models import Attendee, BlockKind, Event, EventType, Response, Status
from worker.settings import DEFAULT_TITLES
from worker.timeutil import at

ME = "me@acme.com"
ACCOUNT = Account(name="sales", provider="memory", email=ME)

# Each zone with its two DST change days (Sundays; Kolkata has none: ordinary days)
# and an ordinary day.
ZONES: dict[str, tuple[date, ...]] = {
    "America/New_York": (date(2026, 3, 8), date(2026, 11, 1), date(2026, 6, 17)),
    "Europe/London": (date(2026, 3, 29), date(2026, 10, 25), date(2026, 1, 14)),
    "Australia/Sydney": (date(2026, 4, 5), date(2026, 10, 4), date(2026, 7, 1)),
    "Asia/Kolkata": (date(2026, 3, 8), date(2026, 11, 2), date(2026, 12, 31)),
}

WORKDAYS = (
    frozenset(range(5)),  # Mon–Fri
    frozenset(range(7)),  # every day, so the Sunday DST changes are planned
    frozenset({6, 0, 1, 2, 3}),  # Sun–Thu
)
# Workdays that cross the DST change itself (01:00–03:00 local in these zones).
ACROSS_DST = (
    (time(0, 30), time(12, 0)),
    (time(1, 30), time(18, 0)),
    (time(2, 30), time(20, 0)),
)
HOURS = (
    (time(8, 30), time(17, 30)),
    (time(8, 0), time(17, 0)),
    (time(9, 0), time(13, 0)),
    (time(7, 0), time(23, 30)),
    *ACROSS_DST,
)

CLIENTS = ("bob@globex.com", "eve@initech.com", "carol@gmail.com")


# -- outside changes, applied between runs -------------------------------------------


@dataclass(frozen=True)
class AddEvent:
    event: Event


@dataclass(frozen=True)
class MoveEvent:
    pick: int  # index, modulo the timed events on the calendar
    minutes: int


@dataclass(frozen=True)
class CancelEvent:
    pick: int


@dataclass(frozen=True)
class BookOver:
    """Someone books a meeting over one of the blocks (picked like MoveBlock)."""

    pick: int
    offset: int  # minutes after the block's start
    minutes: int
    client: bool
    near: bool  # pick among the blocks of the day the user last changed a block on
    waiting: bool = False  # an invitation the rep has not answered (else: accepted)


@dataclass(frozen=True)
class MoveBlock:
    pick: int  # index, modulo the blocks on the calendar ordered by (start, key)
    minutes: int


@dataclass(frozen=True)
class DeleteBlock:
    pick: int


@dataclass(frozen=True)
class EditBlock:
    pick: int
    field: str  # "title" or "description"
    text: str


@dataclass(frozen=True)
class Wait:
    delta: timedelta


OutsideChange = (
    AddEvent | MoveEvent | CancelEvent | BookOver | MoveBlock | DeleteBlock | EditBlock | Wait
)


@dataclass(frozen=True)
class Scenario:
    config: Config
    zone: ZoneInfo
    now: datetime
    events: tuple[Event, ...]
    steps: tuple[tuple[OutsideChange, ...], ...]  # each step: changes, then one run


# -- building blocks -------------------------------------------------------------------


@st.composite
def policies(draw: st.DrawFn) -> tuple[BlockPolicy, ...]:
    if draw(st.booleans()):
        return default_config().blocks
    kinds = [k for k in CANONICAL_ORDER if draw(st.integers(0, 9)) > 0]
    if not kinds:
        kinds = [BlockKind.PROSPECTING]
    out = []
    for kind in kinds:
        minutes = draw(st.sampled_from([15, 30, 45, 60, 90, 120, 180]) | st.integers(5, 240))
        chunk = draw(st.sampled_from([c for c in (5, 15, 30, 45, 60) if c <= minutes]))
        cm = draw(st.sampled_from([0, 15, 30])) if kind is BlockKind.PREP else 0
        defense = draw(st.sampled_from(["always", "ramp", "never"]))
        ramp = draw(st.sampled_from([0, 2, 24, 48]))
        decline = draw(st.sampled_from(["none", "internal", "all"]))
        title = DEFAULT_TITLES[kind]
        out.append(BlockPolicy(kind, minutes, chunk, title, "", cm, None, defense, ramp, decline))
    return tuple(out)


@st.composite
def configs(draw: st.DrawFn, zone: str, *, dst: bool = False) -> Config:
    """With `dst`, every day is a workday and the workday crosses the DST change."""
    start, end = draw(st.sampled_from(ACROSS_DST if dst else HOURS))
    days = frozenset(range(7)) if dst else draw(st.sampled_from(WORKDAYS))
    ranges = draw(split(start, end))
    # Some weekday with hours of its own: a short Friday, say.
    own = draw(st.sampled_from(sorted(days)) | st.none())
    weekdays = () if own is None else ((own, draw(split(*draw(st.sampled_from(HOURS))))),)
    workday = Workday(
        days,
        ranges[0][0],
        ranges[-1][1],
        ranges if len(ranges) > 1 else (),
        weekdays,
    )
    planning = Planning(
        horizon_workdays=draw(st.integers(2, 5) if dst else st.integers(0, 5)),
        tentative_is_busy=draw(st.booleans()),
    )
    return Config(
        workday=workday,
        blocks=draw(policies()),
        accounts=(ACCOUNT,),
        planning=planning,
        timezone=zone,
        state_dir=Path("/nonexistent/firstblock-state"),  # never used: State is passed in
    )


@st.composite
def split(draw: st.DrawFn, start: time, end: time) -> tuple[tuple[time, time], ...]:
    """The range start-end as it is, or with one or two gaps (lunch, a school run)."""
    first, last = start.hour * 60 + start.minute, end.hour * 60 + end.minute
    cuts = sorted(
        draw(
            st.lists(
                st.integers(first + 30, max(first + 30, last - 30)).map(lambda m: m - m % 15),
                max_size=4,
                unique=True,
            )
        )
    )
    if len(cuts) % 2:
        cuts.pop()
    bounds = [first, *cuts, last]
    ranges = [(bounds[i], bounds[i + 1]) for i in range(0, len(bounds), 2)]
    if any(b <= a for a, b in ranges):
        return ((start, end),)
    return tuple((time(a // 60, a % 60), time(b // 60, b % 60)) for a, b in ranges)


def local(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """`clock` on `day` in `zone`, as an instant in UTC."""
    return at(day, clock, zone).astimezone(UTC)


@st.composite
def events(draw: st.DrawFn, zone: ZoneInfo, base: date, eid: str) -> Event:
    """One event within ten days of `base`: a meeting, a client meeting, an all-day
    out-of-office, a birthday, declined, tentative, cancelled or free."""
    day = base + timedelta(days=draw(st.integers(0, 9)))
    shape = draw(
        st.sampled_from(
            ["solo", "internal", "client", "client", "client", "room", "allday-ooo", "allday"]
        )
    )
    if shape.startswith("allday"):
        days = draw(st.integers(1, 2))
        ooo = shape == "allday-ooo"
        return Event(
            id=eid,
            title="Out of office" if ooo else "Birthday",
            start=at(day, time(0), zone),
            end=at(day + timedelta(days=days), time(0), zone),
            all_day=True,
            status=draw(st.sampled_from([Status.CONFIRMED] * 4 + [Status.CANCELLED])),
            event_type=EventType.OUT_OF_OFFICE if ooo else EventType.BIRTHDAY,
        )
    hour = draw(st.integers(6, 19) | st.integers(0, 23))
    minute = draw(st.sampled_from([0, 15, 30, 45]) | st.integers(0, 59))
    length = draw(st.sampled_from([15, 30, 45, 60, 90, 120]) | st.integers(5, 300))
    start = local(day, time(hour, minute), zone)
    end = start + timedelta(minutes=length)
    if draw(st.booleans()):  # providers hand out either UTC or the user's zone
        start, end = start.astimezone(zone), end.astimezone(zone)
    mine = draw(
        st.sampled_from(
            [Response.ACCEPTED] * 4
            + [Response.DECLINED, Response.TENTATIVE, Response.NEEDS_ACTION, None]
        )
    )
    attendees: list[Attendee] = [] if mine is None else [Attendee(ME, "Me", mine)]
    organizer = ME
    if shape == "internal":
        attendees.append(Attendee("ann@acme.com", "Ann", Response.ACCEPTED))
        if draw(st.booleans()):
            organizer = "ann@acme.com"  # a colleague's invitation
    elif shape == "client":
        client = draw(st.sampled_from(CLIENTS))
        attendees.append(Attendee(client, "", Response.ACCEPTED))
        if draw(st.booleans()):
            organizer = client
    elif shape == "room":
        attendees.append(Attendee("room-1@rooms.acme-resources.com", "Room 1", resource=True))
    if shape == "solo":
        attendees = []
    status = draw(st.sampled_from([Status.CONFIRMED] * 6 + [Status.TENTATIVE, Status.CANCELLED]))
    transparent = draw(st.sampled_from([False] * 7 + [True]))
    event_type = draw(st.sampled_from([EventType.DEFAULT] * 9 + [EventType.OUT_OF_OFFICE]))
    return Event(
        id=eid,
        title=f"{shape} {eid}",
        start=start,
        end=end,
        status=status,
        transparent=transparent,
        event_type=event_type,
        attendees=tuple(attendees),
        organizer=organizer,
    )


@st.composite
def outside_changes(draw: st.DrawFn, zone: ZoneInfo, base: date, tag: str) -> OutsideChange:
    which = draw(
        st.sampled_from(["add", "move", "cancel", "over", "bmove", "bdelete", "bedit", "wait"])
    )
    pick = draw(st.integers(0, 50))
    if which == "add":
        return AddEvent(draw(events(zone, base, f"new{tag}")))
    if which == "move":
        return MoveEvent(pick, draw(st.sampled_from([-120, -60, -30, 15, 30, 45, 90, 180])))
    if which == "cancel":
        return CancelEvent(pick)
    if which == "over":
        return BookOver(
            pick,
            draw(st.sampled_from([-30, -10, 0, 15, 40])),
            draw(st.sampled_from([15, 30, 60, 120])),
            draw(st.booleans()),
            draw(st.booleans()),
            draw(st.booleans()),
        )
    if which == "bmove":
        return MoveBlock(pick, draw(st.sampled_from([-90, -30, -15, 10, 15, 60, 120])))
    if which == "bdelete":
        return DeleteBlock(pick)
    if which == "bedit":
        field = draw(st.sampled_from(["title", "description"]))
        return EditBlock(pick, field, draw(st.sampled_from(["Mine now", "Call Bob first"])))
    hours = draw(st.sampled_from([1, 2, 3, 5, 8, 24, 48, 72]) | st.integers(1, 30))
    return Wait(timedelta(hours=hours, minutes=draw(st.sampled_from([0, 7, 30]))))


@st.composite
def scenarios(
    draw: st.DrawFn, *, max_events: int = 14, max_steps: int = 5, max_changes: int = 3
) -> Scenario:
    name = draw(st.sampled_from(sorted(ZONES)))
    zone = ZoneInfo(name)
    anchor = draw(st.sampled_from(ZONES[name]))
    # Half the time on a DST change day, plan right across the change.
    dst = anchor in ZONES[name][:2] and name != "Asia/Kolkata" and draw(st.booleans())
    base = anchor - timedelta(days=draw(st.integers(0, 2 if dst else 3)))
    clock = time(
        draw(st.integers(0, 23)), draw(st.sampled_from([0, 10, 30, 45]) | st.integers(0, 59))
    )
    now = local(base, clock, zone)
    config = draw(configs(name, dst=dst))
    n = draw(st.integers(0, max_events))
    evs = tuple(draw(events(zone, base, f"ev{i}")) for i in range(n))
    steps = tuple(
        tuple(
            draw(outside_changes(zone, base, f"{s}-{j}"))
            for j in range(draw(st.integers(1, max_changes)))
        )
        for s in range(draw(st.integers(0, max_steps)))
    )
    return Scenario(config, zone, now, evs, steps)


def dst_scenarios() -> list[Scenario]:
    """Fixed examples run every time: each zone's DST change days planned right across
    the change, with a client meeting just after it and a few outside changes."""
    base = default_config()
    out = []
    for name, days in ZONES.items():
        zone = ZoneInfo(name)
        for day in days[:2]:
            config = Config(
                workday=Workday(frozenset(range(7)), time(0, 30), time(12, 0)),
                blocks=base.blocks,
                accounts=(ACCOUNT,),
                planning=Planning(horizon_workdays=2),
                timezone=name,
                state_dir=Path("/nonexistent/firstblock-state"),
            )
            start = local(day, time(3, 30), zone)
            client = Event(
                id="client",
                title="Globex review",
                start=start,
                end=start + timedelta(hours=1),
                attendees=(Attendee(ME, "Me", Response.ACCEPTED), Attendee(CLIENTS[0])),
            )
            steps: tuple[tuple[OutsideChange, ...], ...] = (
                (BookOver(0, 15, 30, False, False),),
                (DeleteBlock(2), MoveBlock(1, 15)),
                (Wait(timedelta(hours=2)),),
                (MoveEvent(0, 60), Wait(timedelta(hours=20))),
            )
            now = local(day - timedelta(days=1), time(22, 0), zone)
            out.append(Scenario(config, zone, now, (client,), steps))
    return out
