"""The inbox-hold step of one account's run: read the mailbox and decide, then move
(commit) (docs/design.md §1.4).

The mailbox is the record: held mail is found by its folder or label, so this step
needs no local state to return it. State only remembers when the hold last ended,
to tell mail the user has seen from mail that arrived since.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from providers.base import MailProvider
from worker import hold
from worker.cycle import AccountRun, Outcome


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


@dataclass(frozen=True)
class HoldDecision:
    """What the hold step would do, decided before anything moves: return everything
    (`everything`), or the `actions` of a holding moment under the `allow` list."""

    phase: hold.Phase
    window: hold.Window | None
    everything: bool  # return all held mail and take the rule away
    held: int = 0  # held now, before any move (not counted when returning everything)
    actions: hold.Actions | None = None
    allow: hold.AllowList | None = None
    released_at: datetime | None = None  # the release to record once done

    def preview(self, mailbox: MailProvider) -> HoldOutcome:
        """The outcome as `plan` shows it: what committing would move. Counts what is
        held when returning everything (a request a committing run does not need)."""
        if self.everything or self.actions is None:
            return HoldOutcome(self.phase, mailbox.count_held(), 0, 0, self.window)
        out, back = len(self.actions.hold), len(self.actions.release)
        return HoldOutcome(self.phase, self.held + out - back, out, back, self.window)


def decide_hold(run: AccountRun, mailbox: MailProvider, calendar: Outcome | None) -> HoldDecision:
    """Hold or release for this moment. With no calendar plan (the calendar could not
    be read) or the hold switched off, nothing is held: everything held goes back.
    Reads the mailbox; writes nothing.

    Raises providers.errors.ProviderError.
    """
    config, rules, now = run.config, run.rules, run.now
    if not config.hold.enabled or calendar is None:
        return HoldDecision(hold.Phase.OFF, None, True)
    win = hold.window(calendar.plan, rules, now)
    phase = hold.phase(win, now)
    if phase is hold.Phase.RELEASED:
        mark = win.release_at if win and now >= win.release_at else None
        return HoldDecision(phase, win, True, released_at=mark)
    since = run.state.holds.last_release(run.name) or hold.previous_release(rules, now)
    allow = hold.allow_list(
        config.hold.allow,
        calendar.events,
        run.account.email,
        now,
        config.hold.allow_meeting_attendees_days,
    )
    inbox = mailbox.list_inbox(since)
    held = mailbox.list_held()
    actions = hold.decide(phase, inbox, held, allow, since)
    return HoldDecision(phase, win, False, len(held), actions, allow)


def commit_hold(run: AccountRun, mailbox: MailProvider, decision: HoldDecision) -> HoldOutcome:
    """Move what was decided. Raises providers.errors.ProviderError."""
    if decision.everything:
        if mailbox.supports_hold_rule:
            mailbox.set_hold_rule(None)  # first, so nothing new is held behind us
        returned = mailbox.release_all()
        if decision.released_at is not None:
            run.state.holds.released(run.name, decision.released_at)
        renamed = tuple(mailbox.take_renamed())
        return HoldOutcome(decision.phase, 0, 0, returned, decision.window, renamed)
    actions, allow = decision.actions, decision.allow
    assert actions is not None
    assert allow is not None
    if mailbox.supports_hold_rule:
        mailbox.set_hold_rule(allow.as_rule())
    moved_out = mailbox.hold(actions.hold) if actions.hold else 0
    returned = mailbox.release(actions.release) if actions.release else 0
    return HoldOutcome(
        decision.phase,
        decision.held + moved_out - returned,
        moved_out,
        returned,
        decision.window,
        tuple(mailbox.take_renamed()),
    )


def run_hold(
    run: AccountRun, mailbox: MailProvider, calendar: Outcome | None, *, apply: bool
) -> HoldOutcome:
    """Decide and, with `apply`, commit: the hold step on its own."""
    decision = decide_hold(run, mailbox, calendar)
    return commit_hold(run, mailbox, decision) if apply else decision.preview(mailbox)
