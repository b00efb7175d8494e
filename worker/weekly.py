"""The weekly report email (docs/design.md §1.5): once a week, when the admin block of
the week's last workday starts (or that of `report.weekly_day`), into the rep's own
inbox, never held. The charts ride along as inline PNG pictures named by cid:, each
with alt text, beside a short summary; a plain-text part says the same.

Deciding costs nothing before the moment and one read after it (cached once sent);
drawing happens only in the cycle that sends. A week missed (the laptop was shut on
Friday) goes out at the first cycle of the next week; a week with no record sends
nothing and is not asked about again.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from worker import report
from worker.config import Config
from worker.hold import Window
from worker.models import Alert, InlineImage
from worker.planner import Rules
from worker.policy import DAY_NAMES
from worker.state import State

PREFIX = "weekly-report/"  # then the ISO week: the notice and the alert's key


def send_day(config: Config, rules: Rules, monday: date) -> date | None:
    """The day of the week starting `monday` whose admin block brings the email."""
    chosen = config.report.weekly_day
    if chosen != "last":
        return monday + timedelta(days=DAY_NAMES.index(chosen))
    return last_workday(rules, monday)


def last_workday(rules: Rules, monday: date) -> date | None:
    days = [monday + timedelta(days=i) for i in range(7)]
    work = [
        d for d in days if d.weekday() in rules.workday.days and d not in rules.planning.holidays
    ]
    return work[-1] if work else None


def due(
    config: Config, rules: Rules, state: State, account: str, now: datetime, win: Window | None
) -> date | None:
    """The Monday of the week whose email is due now and not yet sent, if any. A day
    chosen before the week's last workday (Monday, say) brings the whole week before,
    not the start of its own."""
    if not config.report.weekly_email:
        return None
    today = now.astimezone(rules.zone).date()
    monday = report.monday_of(today)
    day = send_day(config, rules, monday)
    last = last_workday(rules, monday)
    back = timedelta(days=7 if day is not None and last is not None and day < last else 0)
    started = win is None or now >= win.release_at  # the admin block, or a day off
    if day is not None and (today > day or (today == day and started)):
        week = monday - back
    else:
        week = monday - back - timedelta(days=7)  # the one before, if it never went
    if state.runs.noticed_for_good(account, PREFIX + report.week_name(week)):
        return None
    return week


def email(state: State, account: str, monday: date, rules: Rules, now: datetime) -> Alert | None:
    """The week's email, or None when the record has nothing for that week."""
    r = of_week(state, account, monday, rules.zone, now)
    if not r.recorded:
        return None
    from worker import charts, report_html  # matplotlib: only when drawing

    drawn = charts.charts(r)
    images = tuple(InlineImage(f"{c.name}.{r.week}@firstblock", c.name, c.png) for c in drawn)
    said = (
        "no prospecting day over yet" if r.share is None else f"{r.share:.0%} of prospecting kept"
    )
    subject = f"Your week {r.week}: {said}"
    section = report_html.section(
        r, [(f"cid:{i.cid}", c) for i, c in zip(images, drawn, strict=True)]
    )
    text = "\n".join(report.summary(r)) + "\n\n" + report.text(r)
    return Alert(PREFIX + r.week, subject, text, now, report_html.page([section], subject), images)


def of_week(
    state: State, account: str, monday: date, zone: ZoneInfo, now: datetime
) -> report.WeekReport:
    """The report for the week starting `monday`, its days counted in `zone`."""
    history = state.figures.history(account, report.trend_start(monday), monday + timedelta(days=6))
    return report.build(account, history, monday, zone, now)


def done(state: State, account: str, monday: date, now: datetime) -> None:
    state.runs.notice(account, PREFIX + report.week_name(monday), now)
