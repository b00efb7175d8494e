"""An in-memory calendar held to the same contract as the real ones: for tests."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from providers.base import CalendarProvider
from providers.errors import Conflict
from worker.models import Block, Change, Event, Op, Snapshot, Window

_etags = itertools.count(1)


class MemoryCalendar(CalendarProvider):
    def __init__(self, *, name: str = "memory", zone: str | None = None) -> None:
        super().__init__(name=name)
        self.events: list[Event] = []
        self.blocks: dict[str, Block] = {}
        self.zone = zone
        self.writes = 0  # how many changes were applied: lets tests count API-like calls

    def timezone(self) -> str | None:
        return self.zone

    def fetch(self, window: Window) -> Snapshot:
        events = tuple(e for e in self.events if _overlaps(e.start, e.end, window))
        blocks = tuple(b for b in self.blocks.values() if _overlaps(b.start, b.end, window))
        return Snapshot(events, blocks)

    def _apply(self, changes: Sequence[Change]) -> list[Change]:
        for change in changes:  # check everything first: all or nothing
            found = self.blocks.get(change.block.id)
            if change.op is Op.CREATE and found is not None and found.touched:
                raise Conflict(f"block {change.block.key} was changed meanwhile", where=self.name)
            if change.op is Op.UPDATE and found is None:
                raise Conflict(f"block {change.block.key} is gone", where=self.name)
            if (
                change.op is not Op.CREATE
                and found
                and change.before
                and found.etag != change.before.etag
            ):
                raise Conflict(
                    f"block {change.block.key} changed since it was read", where=self.name
                )
        applied = []
        for change in changes:
            self.writes += 1
            if change.op is Op.DELETE:
                self.blocks.pop(change.block.id, None)
                applied.append(change)
                continue
            stored = replace(change.block, written=change.block.fingerprint, etag=str(next(_etags)))
            self.blocks[stored.id] = stored
            applied.append(replace(change, block=stored))
        return applied

    # -- what a user does in their calendar app, for tests

    def user_edit(self, key: str, **fields: object) -> Block:
        """Move or retitle a block the way a user would: the tag stays, the content changes."""
        block = next(b for b in self.blocks.values() if b.key == key)
        changed = replace(block, etag=str(next(_etags)), **fields)  # type: ignore[arg-type]
        self.blocks[block.id] = changed
        return changed

    def user_delete(self, key: str) -> None:
        self.blocks = {i: b for i, b in self.blocks.items() if b.key != key}


def _overlaps(start: datetime, end: datetime, window: Window) -> bool:
    return start < window.end and (end > window.start or (start == end and start >= window.start))
