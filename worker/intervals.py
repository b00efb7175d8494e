"""Free time as sorted, disjoint [start, end) spans of aware datetimes."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

Span = tuple[datetime, datetime]
GRID = 5  # minutes: blocks start and end on a 5-minute grid


def subtract(free: list[Span], busy: Iterable[Span]) -> list[Span]:
    """`free` minus every busy span; both inputs sorted or not, output sorted."""
    out = sorted(free)
    for b_start, b_end in sorted(busy):
        if b_end <= b_start:
            continue
        nxt: list[Span] = []
        for start, end in out:
            if b_end <= start or b_start >= end:
                nxt.append((start, end))
                continue
            if start < b_start:
                nxt.append((start, b_start))
            if b_end < end:
                nxt.append((b_end, end))
        out = nxt
    return out


def merge(spans: Iterable[Span]) -> list[Span]:
    """Sorted and disjoint: on a day the clocks spring forward, a range that ends in the
    skipped hour (02:15) ends after it, and can run into the next range."""
    out: list[Span] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        elif start < end:
            out.append((start, end))
    return out


def overlaps(a: Span, b: Span) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def inside(span: Span, free: list[Span]) -> bool:
    return any(s <= span[0] and span[1] <= e for s, e in free)


def minutes(span: Span) -> int:
    return int((span[1] - span[0]).total_seconds() // 60)


def ceil_grid(moment: datetime) -> datetime:
    """Round up to the grid (in absolute time, so DST cannot shift it)."""
    epoch = math.ceil(moment.timestamp())
    step = GRID * 60
    rounded = -(-epoch // step) * step
    return datetime.fromtimestamp(rounded, UTC).astimezone(moment.tzinfo)


def floor_grid(moment: datetime) -> datetime:
    epoch = int(moment.timestamp())
    step = GRID * 60
    rounded = epoch // step * step
    return datetime.fromtimestamp(rounded, UTC).astimezone(moment.tzinfo)


def on_grid(free: list[Span]) -> list[Span]:
    """Shrink every span to the grid and drop what becomes empty."""
    out = []
    for start, end in free:
        s, e = ceil_grid(start), floor_grid(end)
        if e - s >= timedelta(minutes=GRID):
            out.append((s, e))
    return out
