"""The week in figures: did prospecting come first, how much of it meetings ate, and
whether every client meeting got a next one (docs/design.md §1.5). Pure: it reads an
account's record (worker/records.py) and says what it holds, never more; a day the
record does not have is shown as unknown, never as zero.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from worker.models import BlockKind
from worker.records import Day, History

TREND_WEEKS = 8


@dataclass(frozen=True)
class WeekReport:
    account: str
    week: str  # ISO, e.g. 2026-W49
    monday: date
    zone: str
    today: date
    days: tuple[Day, ...]  # Monday to Sunday; a day with no record has only its date
    trend: tuple[tuple[str, float | None], ...]  # (week, share of prospecting kept), oldest first
    lost: tuple[tuple[str, int], ...]  # (kind, blocks lost to meetings)
    gaps_opened: int  # client meetings of the week with no next meeting booked
    gaps_closed: int  # gaps closed in the week, whenever their meeting was
    median_days: float | None  # from a client meeting to its next one booked (gaps closed)
    since: date | None  # the record starts after Monday (or later than the week)

    @property
    def recorded(self) -> bool:
        return any(_has(d) for d in self.days)

    @property
    def planned(self) -> int:
        return sum(d.planned or 0 for d in self.days)

    @property
    def kept(self) -> int:
        return sum(d.kept or 0 for d in self.days)

    @property
    def settled(self) -> tuple[int, int]:
        """(planned, kept) minutes over the days that are over and have both."""
        pairs = [
            (d.planned, d.kept)
            for d in self.days
            if d.planned and d.kept is not None and d.day < self.today
        ]
        return sum(p for p, _ in pairs), sum(k for _, k in pairs)

    @property
    def share(self) -> float | None:
        return self.trend[-1][1] if self.trend else None

    @property
    def released(self) -> int:
        return sum(d.released or 0 for d in self.days)

    @property
    def most_held(self) -> int:
        return max((d.held or 0 for d in self.days), default=0)


def parse_week(text: str) -> date:
    """The Monday of an ISO week, "2026-W49". Raises ValueError with what was wrong."""
    year, sep, week = text.strip().upper().partition("-W")
    try:
        if not sep:
            raise ValueError
        return date.fromisocalendar(int(year), int(week), 1)
    except ValueError:
        raise ValueError(f"week {text!r}: expected an ISO week such as 2026-W49") from None


def week_name(monday: date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def trend_start(monday: date) -> date:
    """The first day `build` needs the record from."""
    return monday - timedelta(weeks=TREND_WEEKS - 1)


def build(
    account: str, history: History, monday: date, zone: ZoneInfo, now: datetime
) -> WeekReport:
    """The report for the week starting `monday`, from a history that covers
    trend_start(monday) to the Sunday."""
    today = now.astimezone(zone).date()
    by_day = {d.day: d for d in history.days}
    week = [monday + timedelta(days=i) for i in range(7)]
    # Today's kept minutes are not known until it is over.
    days = tuple(
        replace(by_day[d], kept=None) if d in by_day and d >= today else by_day.get(d, Day(d))
        for d in week
    )
    trend = []
    for back in range(TREND_WEEKS - 1, -1, -1):
        first = monday - timedelta(weeks=back)
        span = [by_day.get(first + timedelta(days=i)) for i in range(7)]
        pairs = [
            (d.planned, d.kept)
            for d in span
            if d and d.planned and d.kept is not None and d.day < today
        ]
        planned = sum(p for p, _ in pairs)
        kept = sum(k for _, k in pairs)
        trend.append((week_name(first), kept / planned if planned else None))
    in_week = {monday + timedelta(days=i) for i in range(7)}
    lost: dict[str, int] = {k.value: 0 for k in BlockKind}
    for day, kind, blocks in history.losses:
        if day in in_week:
            lost[kind] = lost.get(kind, 0) + blocks

    def local(moment: datetime) -> date:
        return moment.astimezone(zone).date()

    opened = [g for g in history.gaps if local(g.end) in in_week]
    closed = [g for g in history.gaps if g.closed is not None and local(g.closed) in in_week]
    waits = [(g.closed - g.end).total_seconds() / 86400 for g in closed if g.closed is not None]
    since = history.since if history.since and history.since > monday else None
    return WeekReport(
        account,
        week_name(monday),
        monday,
        zone.key,
        today,
        days,
        tuple(trend),
        tuple((k, n) for k, n in lost.items() if n or k),
        len(opened),
        len(closed),
        round(statistics.median(waits), 1) if waits else None,
        since,
    )


def _has(d: Day) -> bool:
    return any(v is not None for v in (d.planned, d.kept, d.held, d.released))


def as_json(r: WeekReport) -> dict[str, Any]:
    return {
        "account": r.account,
        "week": r.week,
        "timezone": r.zone,
        "since": r.since.isoformat() if r.since else None,
        "recorded": r.recorded,
        "days": [
            {
                "day": d.day.isoformat(),
                "prospecting_planned_minutes": d.planned,
                "prospecting_kept_minutes": d.kept,
                "mail_most_held": d.held,
                "mail_released": d.released,
            }
            for d in r.days
        ],
        "prospecting_kept_share_by_week": [{"week": w, "share": s} for w, s in r.trend],
        "blocks_lost_by_kind": dict(r.lost),
        "gaps": {
            "opened": r.gaps_opened,
            "closed": r.gaps_closed,
            "median_days_to_next_meeting": r.median_days,
        },
    }


def text(r: WeekReport) -> str:
    sunday = r.monday + timedelta(days=6)
    head = f"{r.account}: week {r.week} ({r.monday:%a %d %b} to {sunday:%a %d %b}), {r.zone}"
    if not r.recorded:
        why = f"; the record starts on {r.since:%a %d %b %Y}" if r.since else ""
        return f"{head}\nnothing recorded for this week{why}.\n"
    lines = [head]
    if r.since:
        lines.append(f"since {r.since:%a %d %b}: the record starts then; before it, unknown")
    lines += ["", "prospecting, minutes planned and kept:"]
    for d in r.days:
        if not _has(d):
            before = r.since is not None and d.day < r.since
            lines.append(f"  {d.day:%a %d}   {'no record' if before else '-'}")
            continue
        planned = "-" if d.planned is None else str(d.planned)
        kept = "today" if d.day == r.today else "-" if d.kept is None else str(d.kept)
        bar = _bar(d.kept, d.planned)
        lines.append(f"  {d.day:%a %d}   planned {planned:>4}   kept {kept:>5}  {bar}".rstrip())
    shares = [f"{w[-3:]} {'-' if s is None else f'{s:.0%}'}" for w, s in r.trend]
    lines += ["", "prospecting kept, last 8 weeks: " + ", ".join(shares)]
    lost = ", ".join(f"{k or 'before kinds were recorded'} {n}" for k, n in r.lost)
    lines += [f"blocks lost to meetings: {lost}"]
    median = (
        "" if r.median_days is None else f"; {r.median_days:g} days to the next meeting (median)"
    )
    lines += [f"follow-up gaps: {r.gaps_opened} opened, {r.gaps_closed} closed{median}"]
    if any(d.held is not None or d.released is not None for d in r.days):
        lines += [f"mail: {r.released} released from the hold, at most {r.most_held} held at once"]
    else:
        lines += ["mail: nothing held this week"]
    return "\n".join(lines) + "\n"


def _bar(kept: int | None, planned: int | None, width: int = 20) -> str:
    if not planned or kept is None:
        return ""
    full = min(width, round(width * kept / planned))
    return "#" * full + "." * (width - full)


def summary(r: WeekReport) -> list[str]:
    """The week in a few sentences: the email's and the page's words beside the charts."""
    if not r.recorded:
        start = f" The record starts on {r.since:%A %d %B %Y}." if r.since else ""
        return [f"Nothing was recorded for week {r.week}.{start}"]
    out = []
    if r.since:
        out.append(f"The record starts on {r.since:%A %d %B}; the days before it are unknown.")
    if r.share is None:
        out.append(f"Prospecting: {r.planned} minutes planned; none of the week is over yet.")
    else:
        planned, kept = r.settled
        out.append(
            f"Prospecting: {r.share:.0%} of the planned minutes kept "
            f"({kept} of {planned} minutes, on the days that are over)."
        )
    taken = [(k or "earlier", n) for k, n in r.lost if n]
    if taken:
        total = sum(n for _, n in taken)
        kinds = ", ".join(f"{n} {k}" for k, n in taken)
        out.append(f"Meetings took {total} block{'s' if total != 1 else ''}: {kinds}.")
    else:
        out.append("Meetings took no blocks.")
    median = (
        "" if r.median_days is None else f", a median of {r.median_days:g} days to the next one"
    )
    out.append(
        f"Follow-ups: {r.gaps_opened} client meeting{'s' if r.gaps_opened != 1 else ''} ended "
        f"with no next meeting booked; {r.gaps_closed} closed{median}."
    )
    if any(d.held is not None or d.released is not None for d in r.days):
        out.append(
            f"Mail: {r.released} messages returned at the admin block, "
            f"at most {r.most_held} held at once."
        )
    return out
