"""The follow-up step of one account's run: find the gaps and decide the alerts and
the digest, then send each once (commit).

Alerts go to the account's own mailbox (never held) and, when configured, to a
webhook. A failing channel is reported and never stops the run; a gap no channel
could deliver stays unalerted and is tried again next run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from providers.base import MailProvider
from providers.errors import ProviderError, RateLimited, TransientError
from worker import drafts, followups, hold, planner, proposals, weekly
from worker.alerts import OpenGap, WeekFigures, digest, gap_alert
from worker.config import Config
from worker.cycle import AccountRun, Outcome
from worker.models import Alert, BlockKind, Draft
from worker.notify import Webhook
from worker.planner import Rules
from worker.state import State
from worker.stores import GapSync


@dataclass(frozen=True)
class GapOutcome:
    open: tuple[OpenGap, ...]
    alerted: tuple[OpenGap, ...] = ()  # alerted by this run
    closed: tuple[OpenGap, ...] = ()  # closed since the last look
    digest_sent: bool = False
    problems: tuple[str, ...] = field(default=())  # channels that failed


def unbooked(config: Config, calendar: Outcome, rules: Rules) -> dict[str, list[str]]:
    """Client meetings ahead with no next meeting booked: meeting id -> clients."""
    return followups.unbooked(calendar.events, calendar.events, rules.people, gap_rules(config))


def proposed_for(
    rules: Rules, calendar: Outcome, meeting_ids: Iterable[str], now: datetime
) -> tuple[proposals.Proposal, ...]:
    """Slots for the next meeting after these meetings, checked against the calendar
    as it stands at `now` (a gap's meeting has ended: its prep block said what was
    free then)."""
    wanted = set(meeting_ids)
    meetings = [e for e in calendar.events if e.id in wanted]
    if not meetings or rules.followups.proposals <= 0:
        return ()
    cal = planner.proposal_calendar(calendar.events, calendar.plan, rules, now)
    return proposals.propose(meetings, calendar.events, cal, rules.people, rules.followups, now)


def gap_rules(config: Config) -> followups.Rules:
    f = config.followups
    return followups.Rules(
        timedelta(days=f.lookahead_days),
        timedelta(days=f.lookback_days),
        timedelta(minutes=f.grace_minutes),
    )


@dataclass(frozen=True)
class Notice:
    """One meeting's gap alert (saying its draft is ready, when it has one), the gap
    keys it alerts, the draft, and the alert as it reads without the draft, for when
    the mailbox keeps none or fails to save it."""

    alert: Alert
    keys: tuple[str, ...]
    draft: Draft | None = None
    bare: Alert | None = None


@dataclass(frozen=True)
class GapDecision:
    """What the follow-up step would do: how the gaps stand (`sync`, with what
    recording them writes), the alerts to send (each with the keys of its gaps), and
    the digest, when one is due (with its day)."""

    sync: GapSync
    alerts: tuple[Notice, ...] = ()
    digest: tuple[Alert, date] | None = None
    weekly: date | None = None  # the Monday of the week whose report email is due

    def preview(self) -> GapOutcome:
        return GapOutcome(self.sync.open, (), self.sync.closed)


def decide_gaps(run: AccountRun, calendar: Outcome, *, sendable: bool) -> GapDecision:
    """Find the gaps, the alerts they need and the digest that is due; writes
    nothing. `sendable`: some channel would take them (`channels`)."""
    rules, now, name = run.rules, run.now, run.name
    fr = gap_rules(run.config)
    found = [
        OpenGap(name, g.key, g.meeting.title, g.meeting.start, g.meeting.end, g.client)
        for g in followups.gaps(calendar.events, rules.people, fr, now)
    ]
    sync = run.state.gaps.look(name, found, now, now - fr.lookback)
    # With no channel (alerts off, or on with neither a mailbox nor a webhook), alerts
    # and the digest would stay unsent, and every cycle make them and their slots
    # again: none are made.
    by_meeting: dict[str, list[OpenGap]] = defaultdict(list)
    for g in sync.open:
        if g.alerted_at is None and sendable:
            by_meeting[g.key.rpartition("|")[0]].append(g)
    win = hold.window(calendar.plan, rules, now)
    due = bool(
        sendable and win and now >= win.release_at and not run.state.gaps.digest_sent(name, win.day)
    )
    # Slots only when something is sent: finding them costs a planner's worth of work.
    wanted = set(by_meeting) | ({g.key.rpartition("|")[0] for g in sync.open} if due else set())
    offered = proposed_for(rules, calendar, wanted, now) if wanted else ()
    slots = {p.meeting_id: p for p in offered}
    said = {m: proposals.line(p, rules.zone) for m, p in slots.items()}
    meetings = {e.id: e for e in calendar.events if e.id in slots}
    alerts = []
    for meeting, group in by_meeting.items():
        keys = tuple(g.key for g in group)
        bare = gap_alert(group, rules.zone, now, said.get(meeting, ""))
        ready = None
        if meeting in slots and meeting in meetings:
            m, p = meetings[meeting], slots[meeting]
            ready = drafts.draft(name, m, p, rules.people, rules.zone, now)
        if ready is None:
            alerts.append(Notice(bare, keys))
            continue
        where = f"A draft to {', '.join(ready.to)} proposing these times is in your drafts."
        told = gap_alert(group, rules.zone, now, said.get(meeting, ""), where)
        alerts.append(Notice(told, keys, ready, bare))
    note = None
    if win and due:
        closed = [*run.state.gaps.closed(name), *sync.closed]
        figures = week_figures(calendar, rules, run.state, name, now)
        page = digest(name, win.day, sync.open, closed, figures, rules.zone, now, said)
        note = (page, win.day)
    week = weekly.due(run.config, rules, run.state, name, now, win)
    return GapDecision(sync, tuple(alerts), note, week)


def commit_gaps(
    run: AccountRun,
    decision: GapDecision,
    channels: list[Channel],
    mailbox: MailProvider | None = None,
) -> GapOutcome:
    """Record the gaps, send each alert once and the digest; a channel that fails is
    reported and the alert tried again next run."""
    state, name, now = run.state, run.name, run.now
    state.gaps.commit(name, decision.sync)
    problems: list[str] = []
    alerted: list[OpenGap] = []
    for notice in decision.alerts:
        drafted = _drafted(notice, channels, problems)
        if drafted is None:
            continue  # the mailbox failed for now: the alert and its draft wait for the next run
        alert = notice.alert if drafted else (notice.bare or notice.alert)
        if _deliver(run, alert, channels, problems):
            state.gaps.alerted(name, notice.keys, now)
            _recorded(run, alert)
            alerted += [g for g in decision.sync.open if g.key in notice.keys]
    sent = False
    if decision.digest is not None:
        note, day = decision.digest
        if _deliver(run, note, channels, problems):
            state.gaps.digested(name, day)
            _recorded(run, note)
            sent = True
    if decision.weekly is not None:
        # The report goes to the mailbox even with alerts.email off: it has its own switch.
        box = mailbox or next((c for _, c in channels if isinstance(c, MailProvider)), None)
        _weekly(run, decision.weekly, [("email", box)] if box else [], problems)
    return GapOutcome(
        tuple(state.gaps.open(name)),
        tuple(alerted),
        decision.sync.closed,
        sent,
        tuple(problems),
    )


def run_gaps(
    run: AccountRun,
    calendar: Outcome,
    channels: list[Channel],
    *,
    apply: bool,
) -> GapOutcome:
    """Decide and, with `apply`, commit: the follow-up step on its own."""
    decision = decide_gaps(run, calendar, sendable=bool(channels))
    return commit_gaps(run, decision, channels) if apply else decision.preview()


Channel = tuple[str, MailProvider | Webhook]


def channels(
    config: Config, mailbox: MailProvider | None, webhook: Webhook | None
) -> list[Channel]:
    """Where alerts go: the account's own mailbox (when alerts.email) and the webhook."""
    out: list[Channel] = []
    if config.alerts.email and mailbox is not None:
        out.append(("email", mailbox))
    if webhook is not None:
        out.append(("webhook", webhook))
    return out


def _deliver(run: AccountRun, alert: Alert, channels: list[Channel], problems: list[str]) -> bool:
    """True when at least one channel took the alert.

    The mailbox need not look for an earlier copy (a request per alert, most of an
    idle day's reads) when none can exist: the state has the account's history (a
    state lost or new has no run logged), and holds no note of an attempt. The note
    is made before the mailbox is asked and goes once the alert is recorded as sent
    (`_recorded`), so a run killed in between leaves it for the next to look."""
    delivered = False
    attempt = _attempt(alert)
    for name, channel in channels:
        try:
            if isinstance(channel, Webhook):
                channel.send(alert)
            else:
                tried = run.state.runs.noticed(run.name, attempt)
                if not tried:
                    run.state.runs.notice(run.name, attempt, run.now)
                history = run.state.runs.last(run.name) is not None
                channel.deliver(alert, first_try=history and not tried)
            delivered = True
        except ProviderError as exc:
            problems.append(f"{name} alert not delivered: {exc}")
    return delivered


def _weekly(run: AccountRun, monday: date, mail: list[Channel], problems: list[str]) -> None:
    """The week's report email: to the mailbox only (a webhook gets no pictures). With no
    mailbox, or nothing recorded that week, there is nothing to send, for good."""
    alert = weekly.email(run.state, run.name, monday, run.rules, run.now) if mail else None
    if alert is None or _deliver(run, alert, mail, problems):
        if alert is not None:
            _recorded(run, alert)
        weekly.done(run.state, run.name, monday, run.now)


def _drafted(notice: Notice, channels: list[Channel], problems: list[str]) -> bool | None:
    """Save the notice's draft in the mailbox alerts go to; whether it is there, or
    None when the mailbox failed for now (a later run saves it, then alerts: a draft
    lost to a passing fault would be lost for good, the gap being alerted). The key
    makes a second save a no-op."""
    if notice.draft is None:
        return False
    box = next((c for n, c in channels if isinstance(c, MailProvider)), None)
    if box is None or not box.supports_drafts:
        return False
    try:
        box.save_draft(notice.draft)
    except (TransientError, RateLimited) as exc:
        problems.append(f"draft not saved, tried again next run: {exc}")
        return None
    except ProviderError as exc:
        problems.append(f"draft not saved: {exc}")
        return False
    return True


def _attempt(alert: Alert) -> str:
    return f"sending:{alert.key}"


def _recorded(run: AccountRun, alert: Alert) -> None:
    run.state.runs.notice(run.name, _attempt(alert), run.now, told=False)


def week_figures(
    calendar: Outcome, rules: Rules, state: State, account: str, now: datetime
) -> WeekFigures:
    """Prospecting planned vs kept, and blocks lost to meetings, Monday to today."""
    today = now.astimezone(rules.zone).date()
    monday = today - timedelta(days=today.weekday())
    planned, lost = state.figures.week(account, monday, today)
    kept = sum(
        b.minutes
        for b in calendar.fetched
        if b.kind is BlockKind.PROSPECTING
        and monday <= _local(b.start, rules) <= today
        and b.end <= now
    )
    return WeekFigures(planned, kept, lost)


def _local(moment: datetime, rules: Rules) -> date:
    return moment.astimezone(rules.zone).date()
