"""One follow-up step for one account: find gaps, alert each once, send the digest.

Alerts go to the account's own mailbox (never held) and, when configured, to a
webhook. A failing channel is reported and never stops the run; a gap no channel
could deliver stays unalerted and is tried again next run.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from providers.base import MailProvider
from providers.errors import ProviderError
from worker import followups, hold
from worker.alerts import OpenGap, WeekFigures, digest, gap_alert
from worker.config import Account, Config
from worker.cycle import Outcome
from worker.models import Alert, BlockKind
from worker.notify import Webhook
from worker.planner import Rules
from worker.state import State


@dataclass(frozen=True)
class GapOutcome:
    open: tuple[OpenGap, ...]
    alerted: tuple[OpenGap, ...] = ()  # alerted by this run
    closed: tuple[OpenGap, ...] = ()  # closed since the last look
    digest_sent: bool = False
    problems: tuple[str, ...] = field(default=())  # channels that failed


def gap_rules(config: Config) -> followups.Rules:
    f = config.followups
    return followups.Rules(
        timedelta(days=f.lookahead_days),
        timedelta(days=f.lookback_days),
        timedelta(minutes=f.grace_minutes),
    )


def run_gaps(
    config: Config,
    account: Account,
    calendar: Outcome,
    rules: Rules,
    mailbox: MailProvider | None,
    webhook: Webhook | None,
    state: State | None,
    now: datetime,
    *,
    apply: bool,
) -> GapOutcome:
    fr = gap_rules(config)
    found = [
        OpenGap(account.name, g.key, g.meeting.title, g.meeting.start, g.meeting.end, g.client)
        for g in followups.gaps(calendar.events, rules.people, fr, now)
    ]
    if state is None:
        return GapOutcome(tuple(found))
    current, closed = state.sync_gaps(account.name, found, now, now - fr.lookback)
    if not apply:
        return GapOutcome(tuple(current), (), tuple(closed))

    channels = _channels(config, mailbox, webhook)
    problems: list[str] = []
    alerted: list[OpenGap] = []
    by_meeting: dict[str, list[OpenGap]] = defaultdict(list)
    for g in current:
        if g.alerted_at is None:
            by_meeting[g.key.rpartition("|")[0]].append(g)
    for group in by_meeting.values():
        if _deliver(gap_alert(group, rules.zone, now), channels, problems):
            state.alerted(account.name, [g.key for g in group], now)
            alerted += group

    sent = False
    win = hold.window(calendar.plan, rules, now)
    if win and now >= win.release_at and not state.digest_sent(account.name, win.day):
        figures = week_figures(calendar, rules, state, account.name, now)
        note = digest(
            account.name,
            win.day,
            state.open_gaps(account.name),
            state.closed_gaps(account.name),
            figures,
            rules.zone,
            now,
        )
        if _deliver(note, channels, problems):
            state.digested(account.name, win.day)
            sent = True
    return GapOutcome(
        tuple(state.open_gaps(account.name)), tuple(alerted), tuple(closed), sent, tuple(problems)
    )


Channel = tuple[str, MailProvider | Webhook]


def _channels(
    config: Config, mailbox: MailProvider | None, webhook: Webhook | None
) -> list[Channel]:
    out: list[Channel] = []
    if config.alerts.email and mailbox is not None:
        out.append(("email", mailbox))
    if webhook is not None:
        out.append(("webhook", webhook))
    return out


def _deliver(alert: Alert, channels: list[Channel], problems: list[str]) -> bool:
    """True when at least one channel took the alert."""
    delivered = False
    for name, channel in channels:
        try:
            if isinstance(channel, Webhook):
                channel.send(alert)
            else:
                channel.deliver(alert)
            delivered = True
        except ProviderError as exc:
            problems.append(f"{name} alert not delivered: {exc}")
    return delivered


def week_figures(
    calendar: Outcome, rules: Rules, state: State, account: str, now: datetime
) -> WeekFigures:
    """Prospecting planned vs kept, and blocks lost to meetings, Monday to today."""
    today = now.astimezone(rules.zone).date()
    monday = today - timedelta(days=today.weekday())
    planned, lost = state.week(account, monday, today)
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
