"""When an account needs the worker next (worker/schedule.py)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from tests.worker.test_planner import ME, MON, at, meeting, rules
from worker.schedule import next_due

TUE = MON + timedelta(days=1)


def test_a_tentative_hold_is_taken_away_on_time() -> None:
    r = rules()
    r = dataclasses.replace(r, followups=dataclasses.replace(r.followups, tentative_hold=True))
    demo = meeting("acme", at(MON, 14), 60, ME, "jo@acme.com")
    due = next_due(at(TUE, 9), interval=timedelta(hours=16), rules=r, hold=None, events=[demo])
    assert (due.at, due.why) == (at(TUE, 15), "tentative hold ends")
    off = next_due(
        at(TUE, 9),
        interval=timedelta(hours=16),
        rules=rules(),
        hold=None,
        events=[demo],
    )
    assert (off.at, off.why) == (at(TUE, 9) + timedelta(hours=16), "reconcile")  # no hold
