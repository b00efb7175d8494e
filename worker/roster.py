"""Which accounts there are: those in the config file and those in the state store,
and how one leaves (its future blocks, its held mail, its grant, its state)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from providers import registry
from providers.errors import ProviderError
from worker import config as cfg
from worker import push, runner
from worker.clock import Clock
from worker.errors import WorkerError, from_provider
from worker.models import Change, Op, Window
from worker.state import State

# Blocks live in the planning horizon (at most 60 workdays ahead): this reaches past it.
FUTURE = timedelta(days=120)


def load(config: cfg.Config, warn: Callable[[str], None] = lambda _: None) -> cfg.Config:
    """`config` with the state store's accounts added. Reads the store and writes
    nothing: no store yet, none created. `warn` hears what opening the state has to
    say. Raises WorkerError."""
    state = State.read_only(config.state_location())
    try:
        for warning in state.warnings:
            warn(warning)
        stored = state.accounts.all()
    finally:
        state.close()
    return cfg.with_stored(config, stored)


def stamp(config: cfg.Config) -> tuple[int, str]:
    """Changes when an account is added, changed or removed in the store."""
    state = State.read_only(config.state_location())
    try:
        return state.accounts.stamp()
    finally:
        state.close()


@dataclass(frozen=True)
class Removed:
    blocks: int  # future blocks taken off the calendar
    kept: int  # future blocks left: the user had changed them, or asked to keep them
    returned: int  # held messages returned to the inbox
    note: str = ""  # where the person withdraws a consent firstblock could not revoke


def remove(
    config: cfg.Config,
    account: cfg.Account,
    clock: Clock,
    state: State,
    *,
    take_blocks: bool,
) -> Removed:
    """Take the account away: its future blocks (when asked; never one the user
    changed), then every held message back to the inbox, then its grant and
    everything kept for it. A step that fails stops it before the grant goes, so it
    can be tried again. Raises WorkerError."""
    config = config.for_account(account)
    now = clock.now()
    try:
        _, calendar, mailbox = runner.open_account(config, account, clock, state)
        future = [
            b for b in calendar.fetch(Window(now, now + FUTURE, "UTC")).blocks if b.start >= now
        ]
        gone = [b for b in future if take_blocks and not b.touched]
        if gone:
            calendar.apply([Change(Op.DELETE, b, before=b) for b in gone])
        returned = 0
        if mailbox is not None:
            if mailbox.supports_hold_rule:
                mailbox.set_hold_rule(None)
            returned = mailbox.release_all()
        push.stop_all(account.name, push.watchers(calendar, mailbox), state)
        note = registry.provider(account.provider).forget(runner.spec_for(config, account, state))
    except ProviderError as exc:
        raise from_provider(account.name, exc) from None
    except registry.UnknownProvider as exc:
        raise WorkerError(f"account {account.name}: {exc}") from None
    state.forget_account(account.name)
    return Removed(len(gone), len(future) - len(gone), returned, note)
