"""A cycle that finds everything as before plans nothing (docs/design.md §2.7).

A plan depends only on the events, the owned blocks, the tombstones, the rules and
`now`; within a day, `now` matters only through which blocks and events have begun.
So each account's last plan that changed nothing is kept by a digest of those inputs,
and a cycle with the same digest takes it instead of planning again: a steady cycle
then costs its reads, not the planner's milliseconds.

What is kept is the plan's shape by block key (a changeless plan holds exactly the
calendar's blocks), not the blocks: a team's process has tens of thousands of
accounts. A plan that changed something is not kept; the next cycle reads what it
wrote and plans again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from worker.models import Block, Event
from worker.planner import Plan, Rules, Shortfall, busy_from
from worker.proposals import Proposal

ACCOUNTS = 100_000  # entries are a few hundred bytes each


def inputs(
    events: Sequence[Event],
    owned: Sequence[Block],
    tombstones: frozenset[str],
    rules: Rules,
    now: datetime,
) -> int:
    begun = tuple(b.key for b in owned if b.start < now)
    upcoming = sum(1 for e in events if e.start >= now)  # preps are for meetings to come
    ending = sum(1 for e in events if e.end > now)  # follow-up blocks, for those not over
    f = rules.followups
    held = timedelta(days=f.tentative_hold_days)  # a hold goes this long after its meeting
    holding = sum(1 for e in events if e.end + held > now) if f.tentative_hold else 0
    ramped = sum(1 for b in owned if (t := busy_from(b, rules)) is not None and t <= now)
    day = now.astimezone(rules.zone).date()
    shape = (day, begun, upcoming, ending, holding, ramped)
    return hash((tuple(events), tuple(owned), tombstones, rules, shape))


@dataclass(frozen=True)
class _Shape:
    inputs: int
    days: tuple[date, ...]
    blocks: tuple[str, ...]
    kept: tuple[str, ...]
    shortfalls: tuple[Shortfall, ...]
    proposals: tuple[Proposal, ...]


class Plans:
    def __init__(self, size: int = ACCOUNTS) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._shapes: OrderedDict[str, _Shape] = OrderedDict()

    def recall(self, account: str, digest: int, owned: Sequence[Block]) -> Plan | None:
        with self._lock:
            shape = self._shapes.get(account)
        if shape is None or shape.inputs != digest:
            return None
        # In UTC, as the planner gives them (most providers read them so already).
        mine = {
            b.key: b
            if b.start.tzinfo is UTC and b.end.tzinfo is UTC
            else replace(b, start=b.start.astimezone(UTC), end=b.end.astimezone(UTC))
            for b in owned
        }
        if any(k not in mine for k in (*shape.blocks, *shape.kept)):
            return None
        blocks = tuple(mine[k] for k in shape.blocks)
        kept = tuple(mine[k] for k in shape.kept)
        return Plan(shape.days, blocks, kept, shape.shortfalls, shape.proposals)

    def keep(self, account: str, digest: int, plan: Plan, *, changed: bool) -> None:
        with self._lock:
            if changed:
                self._shapes.pop(account, None)
                return
            keys = tuple(b.key for b in plan.blocks), tuple(b.key for b in plan.kept)
            shape = _Shape(digest, plan.days, *keys, plan.shortfalls, plan.proposals)
            self._shapes[account] = shape
            self._shapes.move_to_end(account)
            while len(self._shapes) > self.size:
                self._shapes.popitem(last=False)


PLANS = Plans()
