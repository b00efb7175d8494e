"""One account's whole cycle, for `run`, `plan`, `status` and `serve`: the composition
of providers, planner, hold and follow-ups (docs/design.md §2.1, §2.4).

A cycle first decides every step (calendar, hold, follow-ups) into one `Decision`,
reading and writing nothing but reads; then only `run`, `serve` and the team's tasks
commit it. Each committing cycle runs under the account's lock, so two never overlap,
also across processes (a `run` from cron beside `serve`). One account's failure is
recorded on its result and never stops another.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, replace
from datetime import datetime

from providers import registry
from providers.base import AccountSpec, CalendarProvider, MailProvider
from providers.errors import AuthError, ProviderError
from worker import config as cfg
from worker import locks, push, zones
from worker.clock import Clock
from worker.cycle import (
    AccountRun,
    CalendarDecision,
    Outcome,
    commit_calendar,
    decide_calendar,
    log,
    rules_for,
    system_zone,
    with_calendar_hours,
)
from worker.errors import ConfigError, WorkerError, from_os, from_provider
from worker.gapcheck import GapDecision, GapOutcome, channels, commit_gaps, decide_gaps
from worker.inbox import HoldDecision, HoldOutcome, commit_hold, decide_hold
from worker.models import Alert
from worker.notify import Webhook
from worker.state import SharedDocuments, State


def open_account(
    config: cfg.Config,
    account: cfg.Account,
    clock: Clock,
    state: State | None = None,
    *,
    dry: bool = False,
) -> tuple[cfg.Account, CalendarProvider, MailProvider | None]:
    """The account's calendar and mailbox, through its provider; a connected account
    fills in its address when the config leaves it out.

    Raises ConfigError (a provider not installed here), or ProviderError (AuthError:
    not connected or revoked)."""
    try:
        provider = registry.provider(account.provider)
    except registry.UnknownProvider as exc:
        raise ConfigError(f"account {account.name}: {exc}") from None
    try:
        calendar, mailbox = provider.open(spec_for(config, account, state, dry=dry), clock)
    except ModuleNotFoundError as exc:
        why = registry.missing(account.provider, exc)
        raise ConfigError(f"account {account.name}: {why}") from None
    email = account.email or calendar.owner()
    return dataclasses.replace(account, email=email), calendar, mailbox


def spec_for(
    config: cfg.Config, account: cfg.Account, state: State | None, *, dry: bool = False
) -> AccountSpec:
    """What the provider needs to open, connect or forget the account; `dry` for a dry
    run, which writes back neither memo nor refreshed grant."""
    return AccountSpec(
        name=account.name,
        email=account.email,
        state_dir=config.state_dir,
        api_root=str(account.options.get("api_root", "")),
        # A team keeps credentials and memos in its shared state, for every worker.
        shared=SharedDocuments(state) if state is not None and config.state_url else None,
        settings={
            "focus_time": config.focus_time.enabled,
            "auto_decline": config.focus_time.auto_decline,
            "decline_message": config.focus_time.decline_message,
            # Kinds whose Focus Time declines on its own (`decline = "all"`); the rest
            # are written with its auto-decline off (worker/declines.py answers).
            "native_declines": tuple(p.kind.value for p in config.blocks if p.decline == "all"),
        },
        options=account.options,
        read_only=dry,
    )


@dataclass
class AccountResult:
    account: cfg.Account
    outcome: Outcome | None = None
    hold: HoldOutcome | None = None
    gaps: GapOutcome | None = None
    errors: list[WorkerError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    config: cfg.Config | None = None  # as it applied to this account (its working hours)
    busy: bool = False  # another process was working on this account: nothing was done
    push: push.Upkeep | None = None  # its channels kept (worker/push.py); None: no push


def run_one(
    config: cfg.Config,
    account: cfg.Account,
    clock: Clock,
    *,
    apply: bool,
    state: State,
    quiet: bool = False,
) -> AccountResult:
    """One cycle for one account; never raises for the account's own failures (they
    are on the result). A committing cycle runs under the account's lock, so two never
    overlap, also across processes; a dry run (`apply` off) takes no lock and writes
    nothing: give it a read-only state (State.read_only). `quiet`: push says the
    calendar has not changed since its last read (CalendarProvider.quiet)."""
    if not apply:
        return _guarded(config, account, clock, apply=False, state=state)
    try:
        with locks.exclusive(config.state_dir / "locks" / f"{account.name}.lock"):
            return _guarded(config, account, clock, apply=True, state=state, quiet=quiet)
    except locks.Held:
        return AccountResult(account, busy=True, notes=["another firstblock is working on it"])
    except OSError as exc:  # the lock file; _guarded never raises OSError
        return AccountResult(account, errors=[from_os(f"account {account.name}", exc)])


def _guarded(
    config: cfg.Config,
    account: cfg.Account,
    clock: Clock,
    *,
    apply: bool,
    state: State,
    quiet: bool = False,
) -> AccountResult:
    try:
        return _cycle(config, account, clock, apply=apply, state=state, quiet=quiet)
    except FAILURES as exc:  # the state itself failing (a full disk), say: never the others
        return AccountResult(account, errors=[_failure(account.name, exc)])


# What one step of a cycle may fail with; each becomes one line on the result.
FAILURES = (ProviderError, WorkerError, OSError)


def _failure(account: str, exc: Exception) -> WorkerError:
    if isinstance(exc, ProviderError):
        return from_provider(account, exc)
    if isinstance(exc, OSError):
        return from_os(f"account {account}", exc)
    assert isinstance(exc, WorkerError)
    return exc


@dataclass(frozen=True)
class Decision:
    """Everything one cycle of one account would do, decided before anything is
    written: the calendar changes (and what the ledger records), the mail moves, the
    alerts and the digest. Only a committing cycle carries it out."""

    calendar: CalendarDecision | None = None
    hold: HoldDecision | None = None
    gaps: GapDecision | None = None


def _cycle(
    config: cfg.Config,
    account: cfg.Account,
    clock: Clock,
    *,
    apply: bool,
    state: State,
    quiet: bool = False,
) -> AccountResult:
    config = config.for_account(account)  # its own settings over the team's
    result = AccountResult(account, config=config)
    started = clock.now()
    calendar: CalendarProvider | None = None
    mailbox: MailProvider | None = None
    run: AccountRun | None = None
    decision = Decision()
    # Decide: read everything, write nothing.
    try:
        account, calendar, mailbox = open_account(config, account, clock, state, dry=not apply)
        calendar.quiet = quiet
        result.account = account
        config, fallbacks = with_calendar_hours(config, calendar)
        result.config = config
        run = AccountRun.start(config, account, calendar, state, started)
        decision = Decision(calendar=decide_calendar(run, calendar))
        result.notes = [*calendar.notes(), *fallbacks]
    except FAILURES as exc:
        result.errors.append(_failure(account.name, exc))
        if isinstance(exc, AuthError):
            if apply:
                _tell_reconnect(config, result, state, started)
            return _logged(result, state, started, clock, apply=apply)
        fallbacks = ()
    if run is None:  # the calendar could not be read: the hold returns everything
        zone = zones.zone(fallback_zone(config))
        run = AccountRun(config, account, state, started, rules_for(config, account, zone))
    planned = decision.calendar.outcome if decision.calendar else None
    try:
        if mailbox is not None:
            decision = replace(decision, hold=decide_hold(run, mailbox, planned))
    except FAILURES as exc:
        result.errors.append(_failure(account.name, exc))
    webhook = Webhook(config.alerts.webhook_url) if config.alerts.webhook_url else None
    alerts_to = channels(config, mailbox, webhook)
    if planned is not None:
        decision = replace(decision, gaps=decide_gaps(run, planned, sendable=bool(alerts_to)))
    # Commit, or show what committing would do.
    if decision.calendar is not None and calendar is not None:
        try:
            outcome = (
                commit_calendar(run, calendar, decision.calendar)
                if apply
                else decision.calendar.outcome
            )
            result.outcome = replace(outcome, problems=(*fallbacks, *outcome.problems))
            if apply:
                state.runs.notice(account.name, RECONNECT, started, told=False)  # working
        except FAILURES as exc:
            result.errors.append(_failure(account.name, exc))
    if decision.hold is not None and mailbox is not None:
        try:
            result.hold = (
                commit_hold(run, mailbox, decision.hold)
                if apply
                else decision.hold.preview(mailbox)
            )
        except FAILURES as exc:
            result.errors.append(_failure(account.name, exc))
    if decision.gaps is not None:
        try:
            result.gaps = (
                commit_gaps(run, decision.gaps, alerts_to, mailbox)
                if apply
                else decision.gaps.preview()
            )
        except FAILURES as exc:
            result.errors.append(_failure(account.name, exc))
    if apply and calendar is not None and push.enabled(config):
        watched = push.watchers(calendar, mailbox)
        try:
            result.push = push.keep_watching(
                config, account.name, account.provider, watched, state, clock.now()
            )
        except FAILURES as exc:
            result.errors.append(_failure(account.name, exc))
    return _logged(result, state, started, clock, apply=apply)


RECONNECT = "reconnect"


def _tell_reconnect(config: cfg.Config, result: AccountResult, state: State, now: datetime) -> None:
    """Tell the user once, not only in a log, that an account needs reconnecting. The
    account's own mailbox is out of reach, so the webhook carries it; without one,
    `status` and every run still say so."""
    name = result.account.name
    if state.runs.noticed(name, RECONNECT) or not config.alerts.webhook_url:
        return
    alert = Alert(
        f"reconnect:{name}",
        f"firstblock: reconnect account {name}",
        f"{result.errors[0]}\nRun: firstblock connect {result.account.provider} --account {name}",
        now,
    )
    try:
        Webhook(config.alerts.webhook_url).send(alert)
    except ProviderError as exc:
        result.notes.append(f"could not send the reconnect notice: {exc}")
        return
    state.runs.notice(name, RECONNECT, now)


def _logged(
    result: AccountResult, state: State, started: datetime, clock: Clock, *, apply: bool
) -> AccountResult:
    if apply:
        changes = result.outcome.changes if result.outcome else ()
        errors = "; ".join(map(str, result.errors))
        try:
            held = result.hold.held if result.hold else None
            released = result.hold.returned if result.hold else 0
            now = clock.now()
            o = result.outcome
            # With the calendar unread, the day is in the zone the run fell back to.
            zone = o.timezone if o else fallback_zone(result.config) if result.config else ""
            day = now.astimezone(zones.zone(zone)).date() if zone else None
            log(state, result.account.name, started, now, changes, errors, held, day, released)
        except WorkerError as exc:  # the run happened; only its record is missing
            result.errors.append(exc)
    return result


def fallback_zone(config: cfg.Config) -> str:
    return config.timezone or system_zone() or "UTC"
