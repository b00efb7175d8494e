"""The day plan (docs/design.md §1.1 and §1.2): events, owned blocks and `now` in, blocks out.

Pure: no I/O and no clock. Placement per day:

1. Client-meeting prep goes first, anchored to its meeting: the last free slot before
   it, no earlier than the previous workday.
2. The general kinds claim the rest in policy order from the start of the workday
   (admin fills from the end of the day), in chunks of at least `min_chunk`.
3. When the day is too full, the lowest kinds shrink to their minimum, then drop;
   prospecting loses time last. What is missing is reported as a shortfall.
4. Stability: blocks already on the calendar keep their time when they are still
   valid and give every kind the minutes the fresh plan would.

Blocks the user moved or edited, and blocks that have started, are kept as they are.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from worker import proposals, slots
from worker.clients import People, is_client_meeting
from worker.intervals import (
    GRID,
    Span,
    ceil_grid,
    floor_grid,
    inside,
    merge,
    minutes,
    on_grid,
    overlaps,
    subtract,
)
from worker.models import HOLD, Block, BlockKind, Event, EventType, Response, Status, Window
from worker.policy import BlockPolicy, Followups, Planning, Workday
from worker.timeutil import at, day_span

DESCRIPTION = "Protected time, kept by firstblock. Move or edit it and firstblock leaves it alone."


@dataclass(frozen=True)
class Rules:
    zone: ZoneInfo
    workday: Workday
    policies: tuple[BlockPolicy, ...]
    planning: Planning
    people: People
    followups: Followups = field(default_factory=Followups)


@dataclass(frozen=True)
class Shortfall:
    day: date
    kind: BlockKind
    minutes_missing: int
    meeting: str = ""  # the meeting whose own prep did not fit


@dataclass(frozen=True)
class Plan:
    days: tuple[date, ...]  # the days planned (workdays in the horizon, minus days off)
    blocks: tuple[Block, ...]  # the blocks the worker wants, managed by it
    kept: tuple[Block, ...]  # blocks left as they are: the user's changes, and history
    shortfalls: tuple[Shortfall, ...]
    proposals: tuple[proposals.Proposal, ...] = ()  # for meetings with no next one booked


def horizon(rules: Rules, now: datetime) -> list[date]:
    """Today (when a workday) and the next `horizon_workdays` workdays."""
    day = now.astimezone(rules.zone).date()
    days: list[date] = []
    wanted = rules.planning.horizon_workdays + (1 if day.weekday() in rules.workday.days else 0)
    while len(days) < wanted and rules.workday.days:
        if day.weekday() in rules.workday.days:
            days.append(day)
        day += timedelta(days=1)
    return days


def window(rules: Rules, now: datetime) -> Window:
    """What to fetch: from the start of today to the end of the last horizon day."""
    today = now.astimezone(rules.zone).date()
    days = horizon(rules, now) or [today]
    return Window(
        day_span(today, rules.zone)[0], day_span(days[-1], rules.zone)[1], str(rules.zone.key)
    )


def is_busy(event: Event, rules: Rules) -> bool:
    """Whether a timed event takes the time (docs/design.md §1.1, "Busy events")."""
    takes = _takes(event, rules)
    return takes == "busy" or (takes == "unsure" and rules.planning.tentative_is_busy)


def is_waiting(event: Event, rules: Rules) -> bool:
    """A tentative meeting, or an invitation not answered yet, that does not take the
    time (`tentative_is_busy` off): blocks may sit on it, but never turn busy over it."""
    return not rules.planning.tentative_is_busy and _takes(event, rules) == "unsure"


def _takes(event: Event, rules: Rules) -> str:
    """ "busy", "free", or "unsure" (tentative or unanswered)."""
    if event.status is Status.CANCELLED:
        return "free"
    if event.problem:
        return "busy"  # cannot be read fully: assume it matters
    if event.all_day:
        return "free"
    me = rules.people.me
    answer = event.response_of(me) if me else None
    if answer is Response.DECLINED:
        return "free"
    if event.event_type is EventType.OUT_OF_OFFICE:
        return "busy"
    if event.transparent or event.event_type in (EventType.WORKING_LOCATION, EventType.BIRTHDAY):
        return "free"
    unsure = (
        answer in (Response.TENTATIVE, Response.NEEDS_ACTION) or event.status is Status.TENTATIVE
    )
    return "unsure" if unsure else "busy"


def days_off(events: Iterable[Event], rules: Rules) -> set[date]:
    """Holidays, and days an out-of-office event removes entirely."""
    off = set(rules.planning.holidays)
    me = rules.people.me
    for e in events:
        if e.event_type is not EventType.OUT_OF_OFFICE or e.status is Status.CANCELLED:
            continue
        if me and e.response_of(me) is Response.DECLINED:
            continue
        first = e.start.astimezone(rules.zone).date()
        last = (e.end - timedelta(microseconds=1)).astimezone(rules.zone).date()
        day = first
        while day <= last:
            start, end = _workday(day, rules)
            if e.all_day or (e.start <= start and e.end >= end):
                off.add(day)
            day += timedelta(days=1)
    return off


def plan(
    events: Sequence[Event],
    owned: Sequence[Block],
    tombstones: frozenset[str],
    rules: Rules,
    now: datetime,
) -> Plan:
    """Plan the horizon. `tombstones` are keys of blocks the user deleted."""
    # All arithmetic in UTC: aware datetimes that share a tzinfo compare and subtract
    # by wall clock in Python, which is wrong across a DST change.
    now = _utc(now)
    owned = [replace(b, start=_utc(b.start), end=_utc(b.end)) for b in owned]
    off = days_off(events, rules)
    days = [d for d in horizon(rules, now) if d not in off and d.weekday() in rules.workday.days]
    busy = sorted((_utc(e.start), _utc(e.end)) for e in events if is_busy(e, rules))

    kept = sorted((b for b in owned if b.touched or b.start < now), key=_order)
    live = {b.key: b for b in owned if not (b.touched or b.start < now)}
    closed = {tuple(k.split("/")[:2]) for k in tombstones if not k.startswith("meeting/")}
    # A kind the user deleted a block of is theirs for that day: its blocks stay as they
    # are, unless the day is no longer planned or something busy now overlaps one; that
    # one goes, since a block never overlaps a busy event.
    held = busy + [(b.start, b.end) for b in kept]
    for b in list(live.values()):
        if (b.day.isoformat(), b.kind.value) in closed and not b.meeting_id:
            live.pop(b.key)
            if b.day in days and not any(overlaps((b.start, b.end), s) for s in held):
                kept.append(b)
    kept.sort(key=_order)  # the plan must not depend on the order the provider lists blocks
    taken = busy + [(b.start, b.end) for b in kept]

    kept_keys = {b.key for b in kept}
    preps, shortfalls = _meeting_preps(events, days, taken, tombstones | kept_keys, off, rules, now)
    taken += [(b.start, b.end) for b in preps]
    after, missed = _meeting_followups(events, days, taken, tombstones | kept_keys, off, rules, now)
    taken += [(b.start, b.end) for b in after]
    preps += after
    shortfalls += missed

    blocks = list(preps)
    for day in days:
        placed, missing = _general(day, taken, live, kept, closed, rules, now)
        blocks += placed
        shortfalls += missing
    holds = [b for b in live.values() if b.tentative] if rules.followups.tentative_hold else []
    fixed = tombstones | kept_keys
    found, pencilled = _proposals(
        events, days, off, busy, [*blocks, *kept, *holds], fixed, rules, now
    )
    if pencilled:
        blocks, shortfalls = _make_way(
            pencilled, blocks, shortfalls, taken, live, kept, closed, rules, now
        )
    blocks = proposals.describe_preps(blocks, found, rules.zone, DESCRIPTION)
    short_days = {s.day for s in shortfalls}
    waiting = [(_utc(e.start), _utc(e.end)) for e in events if is_waiting(e, rules)]
    blocks = _defend(blocks, kept, live, busy, waiting, short_days, rules, now)
    return Plan(
        tuple(days),
        tuple(sorted([*blocks, *pencilled], key=_order)),
        tuple(kept),
        tuple(shortfalls),
        found,
    )


def _proposals(
    events: Sequence[Event],
    days: list[date],
    off: set[date],
    busy: list[Span],
    blocks: list[Block],
    fixed: frozenset[str],
    rules: Rules,
    now: datetime,
) -> tuple[tuple[proposals.Proposal, ...], list[Block]]:
    """Slots for the next meeting after each upcoming client meeting that lacks one,
    and, when the rules say so, a tentative hold on each one's first slot: also for
    a meeting that has begun or ended, until `tentative_hold_days` after it. `fixed`
    are keys not to write: the user's deleted and kept blocks."""
    f = rules.followups
    upcoming = _client_meetings(events, days, rules, lambda e: e.start >= now)
    since = now - timedelta(days=f.tentative_hold_days)
    recent = [
        e
        for e in events
        if f.tentative_hold and e.start < now and _utc(e.end) > since
        if is_client_meeting(e, rules.people)
    ]
    if f.proposals <= 0 or not (upcoming or recent):
        return (), []
    cal = _calendar(days, off, busy, blocks, rules, now)
    meetings = {e.id: e for e in [*recent, *upcoming]}

    def hold(meeting_id: str) -> bool:
        return f.tentative_hold and HOLD + meeting_id not in fixed

    found = proposals.propose(list(meetings.values()), events, cal, rules.people, f, now, hold)
    shown = {e.id for e in upcoming}
    held = [
        _hold_block(meetings[p.meeting_id], p, rules)
        for p in found
        if p.held and hold(p.meeting_id)
    ]
    return tuple(p for p in found if p.meeting_id in shown), held


def _hold_block(meeting: Event, p: proposals.Proposal, rules: Rules) -> Block:
    slot = p.slots[0]
    until = meeting.end.astimezone(rules.zone) + timedelta(days=rules.followups.tentative_hold_days)
    local = meeting.start.astimezone(rules.zone)
    return Block(
        key=HOLD + meeting.id,
        kind=BlockKind.DEALS,
        day=slot.start.astimezone(rules.zone).date(),
        start=slot.start,
        end=slot.end,
        title=f"Hold: next meeting after {meeting.title}"[:200],
        description=(
            f"Held, tentatively, for the next meeting after {meeting.title} "
            f"({local:%a %d %b}). firstblock removes it once that meeting is booked, "
            f"or on {until:%a %d %b} if it is not. Move or edit it and it is yours."
        ),
        meeting_id=meeting.id,
    )


def _make_way(
    held: list[Block],
    blocks: list[Block],
    shortfalls: list[Shortfall],
    taken: list[Span],
    live: dict[str, Block],
    kept: list[Block],
    closed: set[tuple[str, ...]],
    rules: Rules,
    now: datetime,
) -> tuple[list[Block], list[Shortfall]]:
    """Lay out again the planned days where a hold fell on a block of a general kind
    (proposals keep off prospecting and the blocks anchored to meetings, not the
    others): those give way, as they do to a meeting."""
    spans = [(b.start, b.end) for b in held]
    clash = {
        b.day
        for b in blocks
        if not b.meeting_id and any(overlaps((b.start, b.end), s) for s in spans)
    }
    if not clash:
        return blocks, shortfalls
    out = [b for b in blocks if b.meeting_id or b.day not in clash]
    short = [s for s in shortfalls if s.meeting or s.day not in clash]
    for day in sorted(clash):
        placed, missing = _general(day, taken + spans, live, kept, closed, rules, now)
        out += placed
        short += missing
    return out, short


def _general(
    day: date,
    taken: list[Span],
    live: dict[str, Block],
    kept: list[Block],
    closed: set[tuple[str, ...]],
    rules: Rules,
    now: datetime,
) -> tuple[list[Block], list[Shortfall]]:
    """One day's blocks of the general kinds, around what is `taken`."""
    free = _free(day, taken, rules, now)
    day_kept = [b for b in kept if b.day == day and not b.meeting_id]
    day_live = [b for b in live.values() if b.day == day and not b.meeting_id]
    return _place_day(day, free, day_live, day_kept, closed, rules, now)


def proposal_calendar(
    events: Sequence[Event], plan: Plan, rules: Rules, now: datetime
) -> slots.Calendar:
    """The calendar as proposals see it once `plan` is on it: for slots asked later
    than planning (a gap's, when its alert goes out)."""
    busy = sorted((_utc(e.start), _utc(e.end)) for e in events if is_busy(e, rules))
    off = days_off(events, rules)
    return _calendar(list(plan.days), off, busy, [*plan.blocks, *plan.kept], rules, _utc(now))


def _calendar(
    days: list[date],
    off: set[date],
    busy: list[Span],
    blocks: list[Block],
    rules: Rules,
    now: datetime,
) -> slots.Calendar:
    """Prospecting blocks, blocks anchored to a meeting and blocks the user changed
    are off limits; the general kinds' blocks are not: they move around a meeting once
    it is booked. Holds are set apart: each is its own meeting's to offer."""
    stay = [
        b
        for b in blocks
        if not b.tentative and (b.kind is BlockKind.PROSPECTING or b.meeting_id or b.touched)
    ]
    taken = busy + [(_utc(b.start), _utc(b.end)) for b in stay]
    taken += _prospecting_ahead(days, off, busy, rules, now)
    holds = tuple((b.meeting_id, (_utc(b.start), _utc(b.end))) for b in blocks if b.tentative)
    return slots.Calendar(rules.zone, rules.workday, frozenset(off), tuple(sorted(taken)), holds)


def _prospecting_ahead(
    days: list[date], off: set[date], busy: list[Span], rules: Rules, now: datetime
) -> list[Span]:
    """Where prospecting will go on the workdays a proposal may reach past the
    horizon, which have no blocks yet: the earliest free time of each day."""
    policy = next((p for p in rules.policies if p.kind is BlockKind.PROSPECTING), None)
    if policy is None or not days or not rules.workday.days:
        return []
    out: list[Span] = []
    day, n = max(days), 0
    while n < rules.followups.propose_until_workdays:
        day += timedelta(days=1)
        if day.weekday() not in rules.workday.days:
            continue
        n += 1
        free = _inside(_free(day, busy, rules, now), _window(day, policy, rules))
        if day not in off and free:
            out += _fill(free, free[0][0], policy.minutes, policy.min_chunk, False)
    return out


def _inside(free: list[Span], window: Span | None) -> list[Span]:
    if window is None:
        return free
    lo, hi = window
    return [(max(s, lo), min(e, hi)) for s, e in free if max(s, lo) < min(e, hi)]


def _order(b: Block) -> tuple[datetime, str]:
    return (b.start, b.key)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _workday(day: date, rules: Rules) -> Span:
    """From the day's first start to its last end, gaps between ranges included."""
    first, last = rules.workday.bounds(day.weekday())
    return _utc(at(day, first, rules.zone)), _utc(at(day, last, rules.zone))


def _free(day: date, taken: list[Span], rules: Rules, now: datetime) -> list[Span]:
    """The day's working ranges after `now`, less what is taken: a gap between ranges
    (lunch) is never free, so no block crosses it."""
    ranges = [
        (max(_utc(at(day, s, rules.zone)), now), _utc(at(day, e, rules.zone)))
        for s, e in rules.workday.hours(day.weekday())
    ]
    ranges = merge((s, e) for s, e in ranges if s < e)
    if not ranges:
        return []
    start, end = ranges[0][0], ranges[-1][1]
    clash = [s for s in taken if s[0] < end and s[1] > start]
    return on_grid(subtract(ranges, clash))


def _previous_workday(day: date, rules: Rules, off: set[date]) -> date | None:
    for back in range(1, 8):
        d = day - timedelta(days=back)
        if d.weekday() in rules.workday.days and d not in off:
            return d
    return None


def _client_meetings(
    events: Sequence[Event], days: list[date], rules: Rules, still: Callable[[Event], bool]
) -> list[Event]:
    """The client meetings on planned days for which `still` holds, in time order."""
    planned = set(days)
    return sorted(
        (
            e
            for e in events
            if still(e)
            and e.start.astimezone(rules.zone).date() in planned
            and is_client_meeting(e, rules.people)
        ),
        key=lambda e: (_utc(e.start), e.id),
    )


class _FreeDays:
    """Each day's free time, worked out when first asked for, and shrinking as the
    blocks anchored to meetings take their spans."""

    def __init__(self, taken: list[Span], rules: Rules, now: datetime) -> None:
        self.taken, self.rules, self.now = taken, rules, now
        self.days: dict[date, list[Span]] = {}

    def on(self, day: date) -> list[Span]:
        if day not in self.days:
            self.days[day] = _free(day, self.taken, self.rules, self.now)
        return self.days[day]

    def take(self, span: Span) -> None:
        day = span[0].astimezone(self.rules.zone).date()
        self.days[day] = subtract(self.on(day), [span])


def _meeting_preps(
    events: Sequence[Event],
    days: list[date],
    taken: list[Span],
    skip: frozenset[str] | set[str],
    off: set[date],
    rules: Rules,
    now: datetime,
) -> tuple[list[Block], list[Shortfall]]:
    policy = next((p for p in rules.policies if p.kind is BlockKind.PREP), None)
    length = policy.client_meeting_minutes if policy else 0
    if not policy or not length:
        return [], []
    meetings = _client_meetings(events, days, rules, lambda e: e.start >= now)
    need = timedelta(minutes=length)
    placed: list[Block] = []
    short: list[Shortfall] = []
    free = _FreeDays(taken, rules, now)
    seen: set[str] = set()
    for m in meetings:
        key = f"meeting/{m.id}"
        if key in skip or key in seen:
            continue
        seen.add(key)
        mday = m.start.astimezone(rules.zone).date()
        prev = _previous_workday(mday, rules, off)
        candidates = [mday] if prev is None else [prev, mday]
        mstart = _utc(m.start)
        before = [(s, min(e, mstart)) for d in candidates for s, e in free.on(d) if s < mstart]
        # Always the last free slot: the prep moves with its meeting.
        span: Span | None = None
        for s, e in reversed(before):
            end = floor_grid(e) if e != mstart else e
            if end - s >= need:
                span = (end - need, end)
                break
        if span is None:
            short.append(Shortfall(mday, BlockKind.PREP, length, m.title))
            continue
        local = m.start.astimezone(rules.zone)
        placed.append(
            Block(
                key=key,
                kind=BlockKind.PREP,
                day=span[0].astimezone(rules.zone).date(),
                start=span[0],
                end=span[1],
                title=f"{policy.title}: {m.title}"[:200],
                description=f"Prepare for {m.title} at {local:%a %H:%M}. {DESCRIPTION}",
                meeting_id=m.id,
            )
        )
        free.take(span)
    return placed, short


def _meeting_followups(
    events: Sequence[Event],
    days: list[date],
    taken: list[Span],
    skip: frozenset[str] | set[str],
    off: set[date],
    rules: Rules,
    now: datetime,
) -> tuple[list[Block], list[Shortfall]]:
    """A block after each client meeting to send the recap and the invitation to the
    next one: the first free slot after it, no later than the next workday. Anchored
    like prep (it moves and goes with its meeting), and counted as deals work."""
    length = rules.followups.followup_minutes
    if not length:
        return [], []
    planned = set(days)
    # Ended ones too: the recap is due after the meeting, and a follow-up block still
    # to come must not go because its meeting ended (a 06:00 call, its block at 08:30).
    meetings = _client_meetings(events, days, rules, lambda e: True)
    need = timedelta(minutes=length)
    placed: list[Block] = []
    short: list[Shortfall] = []
    free = _FreeDays(taken, rules, now)
    seen: set[str] = set()
    for m in meetings:
        key = f"followup/{m.id}"
        if key in skip or key in seen:
            continue
        seen.add(key)
        mend = _utc(m.end)
        mday = m.end.astimezone(rules.zone).date()
        later = _next_workday(mday, rules, off)
        # Within the horizon: a block past it would be outside the window read back.
        candidates = [d for d in (mday, later) if d in planned]
        after = [
            (max(s, mend), e)
            for d in candidates
            for s, e in (free.on(d) if d == mday else _after_prospecting(free.on(d), rules))
            if e > mend
        ]
        span: Span | None = None
        for s, e in after:  # always the first free slot: it moves with its meeting
            start = s if s == mend else ceil_grid(s)
            if e - start >= need:
                span = (start, start + need)
                break
        if span is None:
            short.append(Shortfall(mday, BlockKind.DEALS, length, m.title))
            continue
        placed.append(
            Block(
                key=key,
                kind=BlockKind.DEALS,
                day=span[0].astimezone(rules.zone).date(),
                start=span[0],
                end=span[1],
                title=f"Follow-up: {m.title}"[:200],
                description=f"Send the recap of {m.title} and book the next meeting. {DESCRIPTION}",
                meeting_id=m.id,
            )
        )
        free.take(span)
    return placed, short


def _after_prospecting(free: list[Span], rules: Rules) -> list[Span]:
    """A day's free time less the morning's prospecting, as the planner will place it:
    a follow-up carried over to the next day must not take the first block from it."""
    policy = next((p for p in rules.policies if p.kind is BlockKind.PROSPECTING), None)
    if policy is None or not free:
        return free
    mine = _inside(free, _window(free[0][0].astimezone(rules.zone).date(), policy, rules))
    if not mine:
        return free
    return on_grid(subtract(free, _fill(mine, mine[0][0], policy.minutes, policy.min_chunk, False)))


def _next_workday(day: date, rules: Rules, off: set[date]) -> date | None:
    for ahead in range(1, 8):
        d = day + timedelta(days=ahead)
        if d.weekday() in rules.workday.days and d not in off:
            return d
    return None


def _place_day(
    day: date,
    free: list[Span],
    live: list[Block],
    kept: list[Block],
    closed: set[tuple[str, ...]],
    rules: Rules,
    now: datetime,
) -> tuple[list[Block], list[Shortfall]]:
    policies = [p for p in rules.policies if (day.isoformat(), p.kind.value) not in closed]
    have: dict[BlockKind, int] = defaultdict(int)
    for b in kept:
        have[b.kind] += b.minutes

    def still(p: BlockPolicy, total: int) -> int:
        # A rest under the chunk is the tail of what _fill laid out (45 minutes in
        # chunks of 30): it stays once the first part has begun.
        left = max(0, total - have[p.kind])
        return left if left >= p.min_chunk or have[p.kind] else 0

    start, end = ceil_grid(max(_workday(day, rules)[0], now)), _workday(day, rules)[1]
    # Kept blocks the user did not move (started ones, and those of a kind the user
    # took over for the day) fence the other kinds in, so the day stays in order.
    rank = {p.kind: i for i, p in enumerate(rules.policies)}
    fixed = [b for b in kept if not b.touched and b.kind in rank]
    # A kind's window bounds it as firmly as the workday: the order applies inside.
    fences = {}
    for p in policies:
        lo, hi = _window(day, p, rules) or (start, end)
        fences[p.kind] = (
            max([start, lo, *(b.end for b in fixed if rank[b.kind] < rank[p.kind])]),
            min([end, hi, *(b.start for b in fixed if rank[b.kind] > rank[p.kind])]),
        )
    chosen: dict[BlockKind, list[Span]] = {p.kind: [] for p in policies}
    # No more than a window can hold: a full window is that kind's shortfall, not a
    # reason for the lower kinds to shrink.
    targets = {
        p.kind: min(p.minutes, have[p.kind] + _room(free, fences[p.kind], p.min_chunk))
        if p.window
        else p.minutes
        for p in policies
    }
    # Allot whole-day minutes, kept blocks included: a kind that shrank for the day must
    # not win its time back from the lower kinds once its first block has started.
    for total in _allotments(targets, policies):
        allot = {p.kind: still(p, total[p.kind]) for p in policies}
        fresh = _layout(free, start, allot, policies, {}, fences)
        if fresh is not None:
            by_kind: dict[BlockKind, list[Span]] = defaultdict(list)
            for b in sorted(live, key=_order):
                by_kind[b.kind].append((b.start, b.end))
            chosen = _layout(free, start, allot, policies, by_kind, fences) or fresh
            break

    blocks: list[Block] = []
    shortfalls: list[Shortfall] = []
    reserved = {b.key for b in kept}
    for p in policies:
        spans = chosen.get(p.kind, [])
        numbers = (i for i in range(1000) if f"{day}/{p.kind.value}/{i}" not in reserved)
        existing = {(b.start, b.end): b.key for b in live if b.kind is p.kind}
        keys = [existing.get(s) for s in spans]
        used = {k for k in keys if k}
        for span, k in zip(spans, keys, strict=True):
            if k is None:
                k = next(
                    f"{day}/{p.kind.value}/{i}"
                    for i in numbers
                    if f"{day}/{p.kind.value}/{i}" not in used
                )
                used.add(k)
            blocks.append(
                Block(
                    key=k,
                    kind=p.kind,
                    day=day,
                    start=span[0],
                    end=span[1],
                    title=p.title,
                    description=DESCRIPTION,
                )
            )
        missing = p.minutes - have[p.kind] - sum(minutes(s) for s in spans)
        if missing > 0:
            shortfalls.append(Shortfall(day, p.kind, missing))
    return blocks, shortfalls


def _defend(
    blocks: list[Block],
    kept: list[Block],
    found: dict[str, Block],
    busy: list[Span],
    waiting: list[Span],
    short: set[date],
    rules: Rules,
    now: datetime,
) -> list[Block]:
    """Which blocks show as free (docs/design.md §1.1, "Time defense"): `never` ones,
    and `ramp` ones until `busy_from`, or until their day has no time to spare (a
    shortfall, or working time free of meetings no more than its blocks take, the
    whole day counted, so time passing alone changes nothing). A block once busy stays busy:
    ramping only ever protects more, and never moves a block. A free block under a
    meeting still waiting on the rep's answer (`waiting`) stays free until it is
    answered: turning busy over it would look like a clash the rep made."""
    policies = {p.kind: p for p in rules.policies}
    need: dict[date, int] = defaultdict(int)
    for b in [*blocks, *kept]:
        need[b.day] += b.minutes
    # From the day's first start, not `now`: the whole day counts.
    tight = short | {
        d
        for d in need
        if sum(minutes(s) for s in _free(d, busy, rules, _workday(d, rules)[0])) <= need[d]
    }
    out = []
    for b in blocks:
        p = policies.get(b.kind)
        was = found.get(b.key)
        if p is None or b.tentative or p.defense == "always":
            free = False
        elif p.defense == "never":
            free = True
        else:
            turns = busy_from(replace(b, free=True), rules)
            ramped = (turns is not None and turns <= now) or b.day in tight
            ramped = ramped and not any(overlaps((b.start, b.end), s) for s in waiting)
            free = not ramped and (was is None or was.free)
        out.append(replace(b, free=True) if free else b)
    return out


def busy_from(block: Block, rules: Rules) -> datetime | None:
    """When a free block turns busy; None when it never does. At the start of the
    last workday that begins `ramp_hours` or more before the block: a day's blocks
    then turn busy together, in the cycle the workday's start brings anyway (and
    with the day's new blocks), not in a cycle, and a write, each."""
    if not block.free:  # most blocks, and every block of a steady cycle's check
        return None
    p = next((p for p in rules.policies if p.kind is block.kind), None)
    if p is None or p.defense != "ramp":
        return None
    latest = _utc(block.start) - timedelta(hours=p.ramp_hours)
    day = latest.astimezone(rules.zone).date()
    for back in range(8):
        d = day - timedelta(days=back)
        if d.weekday() in rules.workday.days:
            start = _utc(at(d, rules.workday.bounds(d.weekday())[0], rules.zone))
            if start <= latest:
                return start
    return latest


def _window(day: date, policy: BlockPolicy, rules: Rules) -> Span | None:
    if policy.window is None:
        return None
    first, last = policy.window
    return _utc(at(day, first, rules.zone)), _utc(at(day, last, rules.zone))


def _room(free: list[Span], fence: Span, chunk: int) -> int:
    """Minutes a kind could take inside its fence, in pieces of at least `chunk`."""
    lo, hi = fence
    pieces = [minutes((max(s, lo), min(e, hi))) for s, e in free if max(s, lo) < min(e, hi)]
    return sum(m for m in pieces if m >= chunk)


def _allotments(
    targets: dict[BlockKind, int], policies: list[BlockPolicy]
) -> Iterator[dict[BlockKind, int]]:
    """Minutes per kind, from the full plan down to nothing, in the order of loss:
    lower kinds shrink to their minimum chunk, then drop; prospecting goes last."""
    cur = dict(targets)
    yield dict(cur)
    if not policies:
        return
    lower = [p for p in reversed(policies[1:])]
    for p in lower:
        for v in _down(cur[p.kind], min(p.min_chunk, cur[p.kind])):
            cur[p.kind] = v
            yield dict(cur)
    for p in lower:
        if cur[p.kind]:
            cur[p.kind] = 0
            yield dict(cur)
    first = policies[0]
    for v in _down(cur[first.kind], min(first.min_chunk, cur[first.kind])):
        cur[first.kind] = v
        yield dict(cur)
    if cur[first.kind]:
        cur[first.kind] = 0
        yield dict(cur)


def _down(high: int, low: int) -> Iterator[int]:
    v = high - GRID
    while v > low:
        yield v
        v -= GRID
    if low < high:
        yield low


def _layout(
    free: list[Span],
    start: datetime,
    allot: dict[BlockKind, int],
    policies: list[BlockPolicy],
    prefer: dict[BlockKind, list[Span]],
    fences: dict[BlockKind, Span],
) -> dict[BlockKind, list[Span]] | None:
    """Place every kind in order; None unless each gets exactly its allotment.

    A kind whose `prefer` spans (the blocks already there) are still valid keeps them.
    Each kind stays within its fence (after and before kept blocks of other kinds).
    """
    cursor = start
    out: dict[BlockKind, list[Span]] = {}
    last = policies[-1].kind if policies else None
    for p in policies:
        want = allot[p.kind]
        lo, hi = fences[p.kind]
        lo = max(lo, cursor)
        room = [(max(s, lo), min(e, hi)) for s, e in free if max(s, lo) < min(e, hi)]
        spans = prefer.get(p.kind, [])
        valid = (
            spans
            and sum(minutes(s) for s in spans) == want
            and all(inside(s, room) for s in spans)
            # _fill leaves at most one piece under the chunk (45 minutes in chunks of
            # 30): a layout it made stays valid, or time passing would move it.
            and sum(1 for s in spans if minutes(s) < p.min_chunk) <= 1
        )
        if not valid:
            backward = p.kind is BlockKind.ADMIN and p.kind is last
            spans = _fill(room, lo, want, p.min_chunk, backward)
        if sum(minutes(s) for s in spans) != want:
            return None
        out[p.kind] = spans
        if spans:
            # Back on the grid: a target that is not a multiple of it ends a block off
            # the grid, and the next kind must not start there (it would be nudged on
            # the next run, when `now` is between the two).
            free = on_grid(subtract(free, spans))
            cursor = max(cursor, spans[-1][1])
    return out


def _fill(free: list[Span], cursor: datetime, want: int, chunk: int, backward: bool) -> list[Span]:
    """Take `want` minutes after `cursor` in chunks of at least `chunk` minutes,
    from the earliest free time (or the latest, for the day's last block)."""
    spans = [(max(s, cursor), e) for s, e in free if e > cursor]
    if backward:
        spans.reverse()
    out: list[Span] = []
    left = want
    for s, e in spans:
        if left <= 0:
            break
        room = minutes((s, e))
        if room < chunk:
            continue
        take = min(room, left)
        rest = left - take
        if 0 < rest < chunk and take - (chunk - rest) >= chunk:
            take -= chunk - rest  # leave a whole chunk for later
        size = timedelta(minutes=take)
        out.append((e - size, e) if backward else (s, s + size))
        left -= take
    return sorted(out)
