"""One inbox-hold step for one account: read the mailbox, decide, move (docs/design.md §1.4).

The mailbox is the record: held mail is found by its folder or label, so this step
needs no local state to return it. State only remembers when the hold last ended,
to tell mail the user has seen from mail that arrived since.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from providers.base import MailProvider
from worker import hold
from worker.config import Account, Config
from worker.cycle import Outcome
from worker.planner import Rules
from worker.state import State


@dataclass(frozen=True)
class HoldOutcome:
    phase: hold.Phase
    held: int  # held once this step is done
    moved_out: int
    returned: int
    window: hold.Window | None = None
    # (old id, new id): moved under a new id because the old one was taken there
    renamed: tuple[tuple[str, str], ...] = ()

    @property
    def release_at(self) -> datetime | None:
        return self.window.release_at if self.window else None


def run_hold(
    config: Config,
    account: Account,
    mailbox: MailProvider,
    calendar: Outcome | None,
    rules: Rules,
    state: State | None,
    now: datetime,
    *,
    apply: bool,
) -> HoldOutcome:
    """Hold or release for this moment. With no calendar plan (the calendar could not
    be read) or the hold switched off, nothing is held: everything held goes back.

    Raises providers.errors.ProviderError.
    """
    if not config.hold.enabled or calendar is None:
        return _release_everything(mailbox, hold.Phase.OFF, None, apply=apply)

    win = hold.window(calendar.plan, rules, now)
    phase = hold.phase(win, now)
    if phase is hold.Phase.RELEASED:
        outcome = _release_everything(mailbox, phase, win, apply=apply)
        if apply and state and win and now >= win.release_at:
            state.released(account.name, win.release_at)
        return outcome

    since = (state.last_release(account.name) if state else None) or hold.previous_release(
        rules, now
    )
    allow = hold.allow_list(
        config.hold.allow,
        calendar.events,
        account.email,
        now,
        config.hold.allow_meeting_attendees_days,
    )
    inbox = mailbox.list_inbox(since)
    held = mailbox.list_held()
    actions = hold.decide(phase, inbox, held, allow, since)
    moved_out, returned = len(actions.hold), len(actions.release)
    if apply:
        if mailbox.supports_hold_rule:
            mailbox.set_hold_rule(allow.as_rule())
        moved_out = mailbox.hold(actions.hold) if actions.hold else 0
        returned = mailbox.release(actions.release) if actions.release else 0
    renamed = tuple(mailbox.take_renamed()) if apply else ()
    return HoldOutcome(phase, len(held) + moved_out - returned, moved_out, returned, win, renamed)


def _release_everything(
    mailbox: MailProvider, phase: hold.Phase, win: hold.Window | None, *, apply: bool
) -> HoldOutcome:
    if not apply:
        return HoldOutcome(phase, mailbox.count_held(), 0, 0, win)
    if mailbox.supports_hold_rule:
        mailbox.set_hold_rule(None)  # first, so nothing new is held behind us
    returned = mailbox.release_all()
    return HoldOutcome(phase, 0, 0, returned, win, tuple(mailbox.take_renamed()))
