"""The difference between the blocks on the calendar and the plan: pure, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from worker.models import Block, Change, Op
from worker.planner import Plan


def diff(owned: Sequence[Block], plan: Plan, now: datetime) -> list[Change]:
    """The writes that turn `owned` into `plan`.

    Never touches a block the user moved or edited, nor one that has started: history
    is kept. Blocks outside the plan are deleted only when they are in the future.
    """
    found = {b.key: b for b in owned}
    changes: list[Change] = []
    wanted = set()
    for block in plan.blocks:
        wanted.add(block.key)
        current = found.get(block.key)
        if current is None:
            changes.append(Change(Op.CREATE, block))
        elif current.touched or current.start < now:
            continue
        elif _content(current) != _content(block):
            changes.append(Change(Op.UPDATE, block, before=current))
    kept = {b.key for b in plan.kept}
    for current in owned:
        if current.key in wanted or current.key in kept or current.touched or current.start < now:
            continue
        changes.append(Change(Op.DELETE, current, before=current))
    return changes


def _content(b: Block) -> tuple[object, ...]:
    # Instants in UTC: a time in the repeated hour never equals itself in another zone.
    start, end = b.start.astimezone(UTC), b.end.astimezone(UTC)
    return (start, end, b.title, b.description, b.kind, b.day, b.meeting_id, b.free)
