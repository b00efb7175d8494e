"""Push notifications, the worker's side (docs/design.md §2.7).

With a public https address ([web] base_url, [push]), each cycle keeps a channel on
every source that can be watched (providers.push.Watcher): made when missing, renewed
`renew_hours` before it expires, made again when it failed. That costs no request
while every channel is good. A notification the web app receives is checked against
the channel it names (the token's digest, the provider) and makes the account due
after a short debounce (worker/channels.py, Nudges); `serve` takes it within a second.

While each source of an account has a channel that has delivered (`ok`), the regular
poll is only a safety net, every `poll_hours`; otherwise it stays at the interval.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from providers.errors import NotFound, ProviderError
from providers.push import Channel, Notice, Reading, Watcher
from worker import config as cfg
from worker.channels import FAILED, GONE, OK, WAITING, Watched, digest
from worker.models import Change, Op
from worker.state import State

LOG = logging.getLogger("firstblock.push")
# A channel whose first notification has not come by then is taken as unreachable.
CONFIRM_WITHIN = timedelta(minutes=10)
RETRY_AFTER = timedelta(hours=1)  # a source whose channel failed is tried again then
PENDING = timedelta(days=1)  # what a channel being made is kept as, until its answer


def watchers(*sources: object) -> list[Watcher]:
    """Those of an account's calendar and mailbox that can be watched."""
    return [s for s in sources if isinstance(s, Watcher)]


def enabled(config: cfg.Config) -> bool:
    return config.push.enabled and bool(config.web.base_url)


def address(config: cfg.Config, provider: str, source: str = "calendar") -> str:
    """Where a source's provider posts; "" when it is not watched. Gmail's inbox posts
    to a Pub/Sub topic, opt-in ([push] gmail_topic), whose subscription posts to us."""
    if provider == "google" and source == "inbox":
        return config.push.gmail_topic
    return f"{config.web.base_url}push/{provider}"


@dataclass
class Upkeep:
    """What keeping an account's channels did; `healthy` sets its poll interval."""

    healthy: bool = False
    made: int = 0
    stopped: int = 0
    errors: list[str] = field(default_factory=list)


def keep_watching(
    config: cfg.Config,
    account: str,
    provider: str,
    sources: Sequence[Watcher],
    state: State,
    now: datetime,
    *,
    token: Callable[[], str] = lambda: secrets.token_urlsafe(32),
) -> Upkeep:
    """Every source watched by one good channel; never raises for the provider."""
    upkeep = Upkeep(healthy=bool(sources))
    margin = timedelta(hours=config.push.renew_hours)
    rows = state.channels.of(account)
    for source in sources:
        mine = [r for r in rows if r.channel.source == source.source]
        if not address(config, provider, source.source):  # not watched: polled
            _stop(source, mine, state, upkeep)
            upkeep.healthy = False
            continue
        unreached = [r for r in mine if r.health == WAITING and r.updated + CONFIRM_WITHIN < now]
        if unreached:  # made, but nothing came: the address is not reached from outside
            _stop(source, unreached, state, upkeep)
            where = address(config, provider, source.source)
            why = f"no notification from {provider} reached {where}"
            state.channels.failed(account, provider, source.source, why, now)
            upkeep.healthy = False
            continue
        live = [r for r in mine if _lasting(r, now, margin)]
        if live:
            upkeep.healthy &= any(r.health == OK for r in live)
            _stop(source, [r for r in mine if r not in live], state, upkeep)
            continue
        if any(r.placeholder and r.updated + RETRY_AFTER > now for r in mine):
            upkeep.healthy = False
            continue  # it failed lately: the poll carries on, a channel is tried later
        try:
            kept = _replace(config, account, provider, source, mine, state, now, token)
        except ProviderError as exc:
            LOG.warning("account %s: no push for its %s: %s", account, source.source, exc)
            state.channels.failed(account, provider, source.source, str(exc), now)
            upkeep.errors.append(f"{source.source}: {exc}")
            upkeep.healthy = False
            continue
        upkeep.made += 1
        row = state.channels.get(kept)
        upkeep.healthy &= row is not None and row.health == OK  # renewed, or Graph's
        _stop(source, [r for r in mine if r.channel.id != kept], state, upkeep)
    return upkeep


def _lasting(row: Watched, now: datetime, margin: timedelta) -> bool:
    live = row.health not in (FAILED, GONE)
    return live and not row.placeholder and row.channel.expires > now + margin


def _replace(
    config: cfg.Config,
    account: str,
    provider: str,
    source: Watcher,
    old: list[Watched],
    state: State,
    now: datetime,
    token: Callable[[], str],
) -> str:
    """Extend a channel in place where the provider can, else make a new one; returns
    its id. A new one is kept before it is made: Google posts its first notification
    before its answer comes back."""
    for row in old:
        if row.placeholder or row.health == GONE or row.channel.expires <= now:
            continue
        try:
            renewed = source.renew(row.channel, now)
        except NotFound:
            continue
        if renewed is not None:
            state.channels.put(account, provider, renewed, row.token, OK, now)
            return renewed.id
    secret, chosen = token(), uuid.uuid4().hex
    pending = Channel(source.source, chosen, "", now + PENDING)
    state.channels.put(account, provider, pending, digest(secret), WAITING, now)
    try:
        made = source.watch(address(config, provider, source.source), secret, now, chosen)
    except ProviderError:
        state.channels.drop(chosen)
        raise
    if made.id != chosen:
        state.channels.drop(chosen)
    health = OK if source.confirmed_at_once else WAITING
    state.channels.put(account, provider, made, digest(secret), health, now)
    return made.id


def _stop(source: Watcher, rows: list[Watched], state: State, upkeep: Upkeep) -> None:
    """Stop channels no longer wanted; one the provider will not stop is only dropped."""
    for row in rows:
        if not row.placeholder and row.health != GONE:
            try:
                source.unwatch(row.channel)
                upkeep.stopped += 1
            except ProviderError as exc:
                LOG.info("account %s: channel not stopped: %s", row.account, exc)
        state.channels.drop(row.channel.id)


def stop_all(account: str, sources: Sequence[Watcher], state: State) -> int:
    """Stop every channel of a removed account; returns how many were stopped."""
    upkeep = Upkeep()
    rows = state.channels.of(account)
    for source in sources:
        _stop(source, [r for r in rows if r.channel.source == source.source], state, upkeep)
    for row in state.channels.of(account):
        state.channels.drop(row.channel.id)
    return upkeep.stopped


@dataclass
class Received:
    accepted: int = 0
    refused: int = 0
    due: set[str] = field(default_factory=set)
    first: set[str] = field(default_factory=set)  # not due already: to queue, in a team


# In a team the web app queues the cycle itself; the nudge then waits this much longer,
# for beat's fan-out to take only if that task never ran (worker/team.py).
QUEUED = timedelta(minutes=2)


def receive(
    config: cfg.Config,
    provider: str,
    reading: Reading,
    state: State,
    now: datetime,
    *,
    queued: bool = False,
) -> Received:
    """Check each notice against its channel; make the accounts they name due (`queued`:
    the caller queues their cycles). A forged one (unknown channel, wrong token, another
    provider's) changes nothing, and is logged without the token it carried."""
    got = Received()
    debounce = timedelta(seconds=config.push.debounce_seconds)
    later = QUEUED if queued else timedelta()
    for notice in reading.notices:
        row = state.channels.get(notice.channel)
        why = _refusal(row, provider, notice)
        if why or row is None:
            got.refused += 1
            LOG.warning(
                "push: refused a %s notification for channel %.40s: %s",
                provider,
                notice.channel,
                why,
            )
            continue
        got.accepted += 1
        if notice.event == "removed":
            state.channels.mark(row.channel.id, GONE, f"{provider} removed the channel", now)
        elif notice.event == "reauthorize":
            state.channels.mark(row.channel.id, FAILED, f"{provider} asks to renew it", now)
        elif row.health != OK:
            state.channels.mark(row.channel.id, OK, "", now)
        if notice.event == "changed":
            state.own_writes.heard(row.account, notice.item, version_of(notice.version))
        if notice.event != "sync":
            if state.nudges.nudge(row.account, now + debounce + later, "push"):
                got.first.add(row.account)
            got.due.add(row.account)
    return got


# How long a write's own notification is expected: Graph posts within seconds, and
# retries a failed delivery; one later than this costs a cycle that finds nothing.
ECHO = timedelta(minutes=10)


def remember_writes(
    state: State, account: str, calendar: object, changes: Sequence[Change], now: datetime
) -> None:
    """Note what a cycle just wrote where the provider's notices name items, so their
    echoes wake nothing. Written right after the writes: a notice that comes sooner
    still than that makes one cycle more, as before."""
    if not (isinstance(calendar, Watcher) and calendar.names_items):
        return
    items = []
    for c in changes:
        if c.op is Op.DELETE:
            items.append((c.before.ref if c.before else c.block.ref, "deleted"))
        elif c.block.etag:
            items.append((c.block.ref, version_of(c.block.etag)))
    known = [(ref, version) for ref, version in items if ref]
    if known:
        state.own_writes.wrote(account, known, now, now + ECHO)


def version_of(etag: str) -> str:
    """A version as notices carry it: an ETag without its weak mark and quotes."""
    return etag.removeprefix("W/").strip('"')


def _refusal(row: Watched | None, provider: str, notice: Notice) -> str:
    if row is None or row.placeholder:
        return "no such channel"
    if row.provider != provider:
        return f"the channel is {row.provider}'s"
    if not (notice.verified or row.answers(notice.token)):
        return "wrong token"
    return ""


def _health(row: Watched, now: datetime) -> str:
    if row.health == GONE:
        return FAILED
    return "expired" if row.health == OK and row.channel.expires <= now else row.health


def health(config: cfg.Config, rows: Sequence[Watched], now: datetime) -> dict[str, object]:
    """An account's push health for status and /metrics: `state` is off (no public
    address), none (nothing to watch, or not yet), ok, waiting (for the first
    notification), or failed (then `error` says why; polling carries on)."""
    if not enabled(config):
        return {"state": "off", "error": "", "channels": []}
    channels = [
        {
            "source": r.channel.source,
            "health": _health(r, now),
            "expires": None if r.placeholder else r.channel.expires.isoformat(),
            "error": r.error,
        }
        for r in rows
    ]
    kinds = {str(c["health"]) for c in channels}
    state = next((k for k in ("failed", "expired", "waiting", "ok") if k in kinds), "none")
    error = next((str(c["error"]) for c in channels if c["error"]), "")
    if state == "expired":
        state, error = "failed", error or "the channel expired before it was renewed"
    return {"state": state, "error": error, "channels": channels}
