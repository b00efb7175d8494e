"""When an account needs the worker next (docs/design.md §2.4): pure, `now` passed in.

A cycle does all three jobs, so waking at the moments that matter is enough: the
regular reconcile, the start of the hold (the workday's start), the release (the
admin block's start, which moves with the plan; the digest goes then too), the
end of each client meeting's grace period (its follow-up check), and the end of its
tentative hold's days (the hold goes then), and the moment a ramping block turns
busy (docs/design.md §1.1, "Time defense").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from worker.clients import is_client_meeting
from worker.hold import Window as HoldWindow
from worker.models import Block, Event
from worker.planner import Rules, busy_from
from worker.timeutil import at

# Moments of the account's own day, not news of its calendar: with push healthy, a
# cycle at one of them may take the calendar as last read (worker/serve.py).
WAKE_UPS = frozenset(
    {"hold starts", "release", "follow-up check", "tentative hold ends", "block turns busy"}
)


@dataclass(frozen=True)
class Due:
    at: datetime
    why: str  # reconcile | hold starts | release | follow-up check | ... (WAKE_UPS)


def next_due(
    now: datetime,
    *,
    interval: timedelta,
    rules: Rules | None,
    hold: HoldWindow | None,
    events: Iterable[Event] = (),
    grace: timedelta = timedelta(minutes=60),
    blocks: Iterable[Block] = (),
) -> Due:
    """The earliest moment after `now` that needs a cycle; at the latest `now + interval`."""
    candidates = [Due(now + interval, "reconcile")]
    if rules is not None:
        start = _next_workday_start(now, rules)
        if start is not None:
            candidates.append(Due(start, "hold starts"))
        f = rules.followups
        held = timedelta(days=f.tentative_hold_days)
        for e in events:
            if not is_client_meeting(e, rules.people):
                continue
            if now < e.end + grace:
                candidates.append(Due(e.end + grace, "follow-up check"))
            if f.tentative_hold and now < e.end + held:
                candidates.append(Due(e.end + held, "tentative hold ends"))
        for b in blocks:
            turns = busy_from(b, rules)
            if turns is not None and now < turns:
                candidates.append(Due(turns, "block turns busy"))
    if hold is not None and now < hold.release_at:
        candidates.append(Due(hold.release_at, "release"))
    return min((c for c in candidates if c.at > now), key=lambda c: c.at)


def _next_workday_start(now: datetime, rules: Rules) -> datetime | None:
    day = now.astimezone(rules.zone).date()
    for ahead in range(0, 15):
        d = day + timedelta(days=ahead)
        if d.weekday() not in rules.workday.days or d in rules.planning.holidays:
            continue
        start = at(d, rules.workday.bounds(d.weekday())[0], rules.zone)
        if start > now:
            return start
    return None
