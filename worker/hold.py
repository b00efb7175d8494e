"""The inbox hold (docs/design.md §1.4): pure decisions, no I/O and no clock.

From the start of the workday until the day's admin block the inbox shows only mail
from allowed senders; at the admin block (or the end of the workday, when the admin
block was dropped) everything held goes back.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from worker.models import Block, BlockKind, Event, Message, Response, Status
from worker.planner import Plan, Rules
from worker.timeutil import at


class Phase(enum.Enum):
    HOLDING = "holding"
    RELEASED = "released"
    OFF = "off"


@dataclass(frozen=True)
class AllowList:
    addresses: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()

    def allows(self, sender: str) -> bool:
        sender = sender.lower()
        domain = sender.rpartition("@")[2]
        return sender in self.addresses or any(
            domain == d or domain.endswith("." + d) for d in self.domains
        )

    def as_rule(self) -> list[str]:
        """Addresses and "@domain" entries, for a server-side rule."""
        return sorted(self.addresses) + sorted("@" + d for d in self.domains)


@dataclass(frozen=True)
class Window:
    """Today's hold: from the workday's start until release."""

    day: date
    start: datetime
    release_at: datetime
    by_admin: bool = True  # False: no admin block today, release at the workday's end


@dataclass(frozen=True)
class Actions:
    phase: Phase
    hold: tuple[str, ...] = ()
    release: tuple[str, ...] = ()


def allow_list(
    configured: Iterable[str],
    events: Iterable[Event],
    me: str,
    now: datetime,
    meeting_days: int,
) -> AllowList:
    """Configured senders, the user's own address (mail to self, the worker's own
    alerts), plus the people in the user's meetings of the next days."""
    addresses, domains = {me.lower()} if me else set(), set()
    for entry in configured:
        entry = entry.strip().lower()
        if "@" in entry and not entry.startswith("@"):
            addresses.add(entry)
        elif entry:
            domains.add(entry.lstrip("@"))
    if meeting_days > 0:
        until = now + timedelta(days=meeting_days)
        for e in events:
            if e.status is Status.CANCELLED or not (now <= e.end and e.start <= until):
                continue
            if me and e.response_of(me) is Response.DECLINED:
                continue
            people = [a.email for a in e.attendees if not a.resource] + [e.organizer]
            addresses |= {p.lower() for p in people if "@" in p and p.lower() != me}
    return AllowList(frozenset(addresses), frozenset(domains))


def window(plan: Plan, rules: Rules, now: datetime) -> Window | None:
    """Today's hold window, or None when today is not a planned workday."""
    today = now.astimezone(rules.zone).date()
    if today not in plan.days:
        return None
    first, last = rules.workday.bounds(today.weekday())
    start, end = at(today, first, rules.zone), at(today, last, rules.zone)
    admin = [
        b.start
        for b in (*plan.blocks, *plan.kept)
        if b.kind is BlockKind.ADMIN and not b.meeting_id and _local_day(b, rules) == today
    ]
    release = min([end, *admin])
    return Window(today, start, max(start, release), by_admin=release < end)


def _local_day(b: Block, rules: Rules) -> date:
    return b.start.astimezone(rules.zone).date()


def phase(win: Window | None, now: datetime) -> Phase:
    if win is None:
        return Phase.RELEASED
    return Phase.HOLDING if win.start <= now < win.release_at else Phase.RELEASED


def previous_release(rules: Rules, now: datetime) -> datetime:
    """When state is lost: the end of the previous workday, the latest the hold ended."""
    day = now.astimezone(rules.zone).date()
    for back in range(1, 15):
        d = day - timedelta(days=back)
        if d.weekday() in rules.workday.days and d not in rules.planning.holidays:
            return at(d, rules.workday.bounds(d.weekday())[1], rules.zone)
    return now - timedelta(days=1)


def decide(
    current: Phase,
    inbox: Sequence[Message],
    held: Sequence[Message],
    allow: AllowList,
    since: datetime,
) -> Actions:
    """What to move. While holding: new mail from others goes out of the inbox, and
    anything allowed, or from before `since`, comes back; otherwise everything held
    comes back."""
    if current is not Phase.HOLDING:
        return Actions(current, release=tuple(m.id for m in held))
    out = tuple(
        m.id for m in inbox if not m.alert and m.received >= since and not allow.allows(m.sender)
    )
    # Mail from before `since` belongs to a hold that has ended but whose release no run
    # finished (none ran after it, or one crashed part-way): it comes back now, not at
    # the next release, which a worker that only runs while holding never reaches.
    back = tuple(m.id for m in held if m.alert or m.received < since or allow.allows(m.sender))
    return Actions(current, hold=out, release=back)
