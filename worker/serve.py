"""`firstblock serve`: the long-lived scheduler (docs/design.md §2.4).

Each account has its own next moment (worker/schedule.py). The loop sleeps until the
earliest one, then hands each due account to a bounded pool of worker threads; one
account at a time per account (runner.run_one holds its lock, also against other
processes), and one account's failure never delays another. A changed config file
(or SIGHUP) is read again between cycles; a config that no longer validates is
reported and the last good one kept. An account whose definition changed in it (its
settings saved in the web app change the state store's accounts table, which `serve`
watches) is due at once, "settings" as why, not at the moment its old settings gave.
With push on, a notification the web app took makes its account due within a
second or so (worker/push.py). Stopping (SIGTERM, Ctrl-C) starts no new work and
waits a bounded time for the cycles in flight. Each cycle is counted for /metrics
(worker/telemetry.py).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from providers import observe, registry
from providers.base import Listener
from providers.errors import ProviderError
from worker import config as cfg
from worker import push, runner, zones
from worker.clock import Clock
from worker.cycle import rules_for
from worker.errors import ConfigError, WorkerError
from worker.render import renamed_text
from worker.schedule import WAKE_UPS, Due, next_due
from worker.state import State
from worker.telemetry import TELEMETRY, Telemetry

LOG = logging.getLogger("firstblock.serve")


@dataclass
class Slot:
    due: Due
    running: bool = False
    last: runner.AccountResult | None = None
    # Why it is due again once the cycle in flight ends: its definition changed, or a
    # push notification came, while that cycle worked on what was before.
    again: str = ""


@dataclass
class Server:
    load: Callable[[], cfg.Config]  # reads the config file again; raises ConfigError
    clock: Clock
    interval: timedelta = timedelta(minutes=15)
    workers: int = 4
    stop_timeout: float = 60.0
    # Sleeps up to the given seconds, waking early when `stop` or `reload` is set.
    wait: Callable[[float], None] | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    reload: threading.Event = field(default_factory=threading.Event)
    slots: dict[str, Slot] = field(default_factory=dict)
    on_tick: Callable[[], None] | None = None  # each turn of the loop (config file check)
    counts: Telemetry = field(default_factory=lambda: TELEMETRY)  # for /metrics

    def __post_init__(self) -> None:
        self.config = self.load()
        self._lock = threading.Lock()
        self._pool = threading.BoundedSemaphore(self.workers)
        # The worker threads, started as the cycles in flight need them and kept: a
        # thread started for each cycle cost a tenth of a steady cycle's CPU.
        self._work: queue.SimpleQueue[tuple[cfg.Account, Slot]] = queue.SimpleQueue()
        self._threads: set[threading.Thread] = set()
        self._flying = 0  # cycles handed out and not yet finished
        self._landed = threading.Condition(self._lock)
        self._changed = threading.Event()
        # Accounts waiting for their moment, earliest first: a wake costs O(log n), not
        # a scan of every account (10,000 accounts wake the loop 10,000 times a round).
        self._queue: list[tuple[datetime, int, str]] = []
        self._order = itertools.count()
        self._accounts: dict[str, cfg.Account] = {}
        self._state: State | None = None  # the loop's own, for push notifications
        self._states = StatePool(self.workers)
        # Providers' own watches (IMAP IDLE), by account, with the definition they
        # were started for: a changed account gets a new one.
        self._listeners: dict[str, tuple[cfg.Account, Listener]] = {}

    def request_stop(self) -> None:
        """From a signal handler: no new work, then stop."""
        self.stop.set()
        self._changed.set()

    def request_reload(self) -> None:
        self.reload.set()
        self._changed.set()

    def _sleep(self, seconds: float) -> None:
        if self.wait is not None:
            self.wait(seconds)
        else:
            self._changed.wait(seconds)
            self._changed.clear()

    def run(self) -> int:
        LOG.info("serving %d account(s)", len(self.config.accounts))
        observe.install(self.counts.request)  # the providers' requests, for /metrics
        self._enlist(self.clock.now())
        while not self.stop.is_set():
            if self.on_tick is not None:
                self.on_tick()
            if self.reload.is_set():
                self.reload.clear()
                self._reload()
            now = self.clock.now()
            self._nudged(now)
            self._start_due(now)
            with self._lock:
                until = self._queue[0][0] if self._queue else now + self.interval
            longest = 1.0 if push.enabled(self.config) else 60.0
            self._sleep(max(1.0, min((until - now).total_seconds(), longest)))
        self._close_state()
        code = self._drain()
        self._listen([])
        self._states.close()
        return code

    def _enlist(self, now: datetime) -> None:
        """New accounts are due at once, and so are those whose definition changed
        (their settings, their calendar): the new settings take effect now."""
        before, self._accounts = self._accounts, {a.name: a for a in self.config.accounts}
        for account in self.config.accounts:
            name = account.name
            if name not in self.slots:
                self.slots[name] = Slot(Due(now, "start"))
                self._push(name, now)
            elif before.get(name, account) != account:
                LOG.info("account %s: changed, due now", name, extra={"account": name})
                self._due_now(name, now, "settings")
        self._listen(self.config.accounts)

    def _listen(self, accounts: Sequence[cfg.Account]) -> None:
        """Keep a provider's watch (IMAP IDLE) running for each of `accounts` whose
        provider has one, and for no other: a change it sees makes the account due."""
        wanted = {a.name: a for a in accounts}
        for name, (account, listener) in list(self._listeners.items()):
            if wanted.get(name) != account:
                del self._listeners[name]
                listener.stop()
        for name, account in wanted.items():
            if name in self._listeners:
                continue
            try:
                provider = registry.provider(account.provider)
                spec = runner.spec_for(self.config, account, None)
                watch = provider.listen(spec, self._waker(name))
            except (registry.UnknownProvider, ProviderError, ModuleNotFoundError) as exc:
                LOG.info("account %s: no watch (%s)", name, exc, extra={"account": name})
                continue
            if watch is not None:
                self._listeners[name] = (account, watch)

    def _waker(self, name: str) -> Callable[[str], None]:
        def wake(why: str) -> None:  # on the listener's thread
            LOG.info("account %s: %s, due now", name, why, extra={"account": name})
            self._due_now(name, self.clock.now(), why)
            self._changed.set()

        return wake

    def _due_now(self, name: str, now: datetime, why: str) -> None:
        with self._lock:
            slot = self.slots.get(name)
            if slot is None:
                return
            if slot.running:  # due again as soon as this cycle ends
                slot.again = why
            elif slot.due.at > now:
                slot.due = Due(now, why)
                heapq.heappush(self._queue, (now, next(self._order), name))

    def _nudged(self, now: datetime) -> None:
        """Accounts a push notification made due (worker/push.py): due now. The loop
        looks every second while push is on; a state out of reach is tried again."""
        if not push.enabled(self.config):
            return
        try:
            if self._state is None:
                self._state = State(self.config.state_location())
            state = self._state
            taken = state.nudges.take(now)
        except WorkerError as exc:
            LOG.warning("push notifications not read: %s", exc)
            self._close_state()
            return
        for name, why in taken:
            try:
                echoes = state.own_writes.only_echoes(name, now)
            except WorkerError:
                echoes = False  # a cycle too many is the safe side
            if echoes:
                LOG.info(
                    "account %s: notified of its own writes only", name, extra={"account": name}
                )
                continue
            LOG.info("account %s: %s, due now", name, why, extra={"account": name})
            self._due_now(name, now, why)

    def _close_state(self) -> None:
        if self._state is not None:
            with contextlib.suppress(WorkerError):
                self._state.close()
            self._state = None

    def _push(self, name: str, at: datetime) -> None:
        with self._lock:
            heapq.heappush(self._queue, (at, next(self._order), name))

    def _start_due(self, now: datetime) -> None:
        while True:
            with self._lock:
                if not self._queue or self._queue[0][0] > now:
                    return
                entry = heapq.heappop(self._queue)
                slot, account = self.slots.get(entry[2]), self._accounts.get(entry[2])
                if slot is None or account is None or slot.running or slot.due.at != entry[0]:
                    continue  # removed from the config, or stale
            if not self._pool.acquire(blocking=False):
                with self._lock:  # every worker is busy: it stays due
                    heapq.heappush(self._queue, entry)
                return
            self._start(account, slot)

    def _reload(self) -> None:
        try:
            config = self.load()
        except ConfigError as exc:
            LOG.error("config not reloaded, keeping the last good one: %s", exc)
            return
        self.config = config
        names = {a.name for a in config.accounts}
        with self._lock:
            for name in [n for n in self.slots if n not in names and not self.slots[n].running]:
                del self.slots[name]
        self._enlist(self.clock.now())
        LOG.info("config reloaded: %d account(s)", len(config.accounts))

    def _start(self, account: cfg.Account, slot: Slot) -> None:
        """Hand one cycle to a worker thread; the caller holds a place in the pool."""
        slot.running = True
        with self._lock:
            self._flying += 1
            thread = None
            if len(self._threads) < self._flying:  # every thread has a cycle
                # Daemon threads: a stop that times out does not wait on a hung provider.
                thread = threading.Thread(target=self._worker, daemon=True)
                self._threads.add(thread)
        self._work.put((account, slot))
        if thread is not None:
            thread.start()

    def _worker(self) -> None:
        try:
            while True:
                self._cycle(*self._work.get())
        finally:  # only something like SystemExit ends it: the next cycle starts another
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _cycle(self, account: cfg.Account, slot: Slot) -> None:
        config = self.config
        begun = time.monotonic()
        quiet = is_quiet(config, slot.last, slot.due.why)
        try:
            location = config.state_location()
            state = self._states.take(location)
            try:
                result = runner.run_one(
                    config, account, self.clock, apply=True, state=state, quiet=quiet
                )
            except BaseException:
                state.close()  # maybe mid-transaction: not lent again
                raise
            self._states.give(location, state)
            self.counts.cycle(result, time.monotonic() - begun)
            slot.last = result
            slot.due = self._next(config, result)
            log_cycle(result, slot.due)
        except WorkerError as exc:  # the state cannot be opened: a full disk, say
            self.counts.failed(time.monotonic() - begun)
            LOG.error("account %s: %s", account.name, exc, extra={"account": account.name})
            slot.due = Due(self.clock.now() + self.interval, "reconcile")
        except Exception:  # a bug must not end the loop for every other account
            self.counts.failed(time.monotonic() - begun)
            LOG.exception("account %s: cycle failed", account.name, extra={"account": account.name})
            slot.due = Due(self.clock.now() + self.interval, "reconcile")
        finally:
            with self._lock:
                if slot.again:  # changed, or pushed, while this cycle ran
                    slot.due = Due(self.clock.now(), slot.again)
                    slot.again = ""
                slot.running = False
            self._push(account.name, slot.due.at)
            with self._lock:
                self._flying -= 1
                self._landed.notify_all()
            self._pool.release()
            self._changed.set()

    def _next(self, config: cfg.Config, result: runner.AccountResult) -> Due:
        return next_action(config, result, self.clock.now(), self.interval)

    def _drain(self) -> int:
        """No new work; wait (bounded) for the cycles in flight."""
        LOG.info("stopping: waiting up to %.0fs for cycles in flight", self.stop_timeout)
        with self._lock:
            self._landed.wait_for(lambda: self._flying == 0, self.stop_timeout)
            left = self._flying
        if left:
            LOG.warning("stopped with %d cycle(s) unfinished; the next run completes them", left)
        return 0


class StatePool:
    """Open state connections kept between cycles, each lent to one cycle at a time:
    opening one (a connection, the schema check, the journal mode) was a tenth of a
    steady cycle. Kept per location, so a config that moves the state is followed."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._idle: list[tuple[str, State]] = []

    def take(self, location: Path | str) -> State:
        """Raises WorkerError as State does."""
        key = str(location)
        with self._lock:
            for i, (where, state) in enumerate(self._idle):
                if where == key:
                    del self._idle[i]
                    return state
        return State(location)

    def give(self, location: Path | str, state: State) -> None:
        with self._lock:
            if len(self._idle) < self.size:
                self._idle.append((str(location), state))
                return
        state.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for _, state in idle:
            with contextlib.suppress(WorkerError):
                state.close()


def is_quiet(config: cfg.Config, last: runner.AccountResult | None, why: str) -> bool:
    """Whether a cycle may take the calendar as last read: push was healthy at the
    last cycle, and this one is a moment of the day (the hold, a follow-up check),
    not a notification or the safety-net poll. A lost notification waits for that."""
    healthy = last is not None and last.push is not None and last.push.healthy
    return healthy and why in WAKE_UPS and push.enabled(config)


def next_action(
    config: cfg.Config, result: runner.AccountResult, now: datetime, interval: timedelta
) -> Due:
    """The account's next moment after this cycle: also what the team fan-out uses."""
    if result.push is not None and result.push.healthy:  # polling is the safety net
        interval = max(interval, timedelta(hours=config.push.poll_hours))
    o = result.outcome
    if o is None:
        return next_due(now, interval=interval, rules=None, hold=None)
    config = result.config or config.for_account(result.account)
    rules = rules_for(config, result.account, zones.zone(o.timezone))
    grace = timedelta(minutes=config.followups.grace_minutes)
    window = result.hold.window if result.hold else None
    return next_due(
        now,
        interval=interval,
        rules=rules,
        hold=window,
        events=o.events,
        grace=grace,
        blocks=o.plan.blocks,
    )


def log_cycle(result: runner.AccountResult, due: Due) -> None:
    name = result.account.name
    extra = {"account": name, "next_at": due.at.isoformat(), "why": due.why}
    if result.busy:
        LOG.info("account %s: skipped, another firstblock is working on it", name, extra=extra)
        return
    for error in result.errors:
        LOG.error("%s", error, extra=extra)
    o = result.outcome
    changes = len(o.changes) if o else 0
    held = result.hold.held if result.hold else 0
    when = due.at.astimezone(zones.zone(o.timezone)) if o else due.at
    LOG.info(
        "account %s: %d change(s), %d held; next %s at %s",
        name,
        changes,
        held,
        due.why,
        when.isoformat(timespec="minutes"),
        extra=extra,
    )
    for old, new in result.hold.renamed if result.hold else ():
        LOG.warning("account %s: %s", name, renamed_text(old, new), extra=extra)
    if o is not None:
        for c in o.changes:  # titles only at debug level
            LOG.debug("account %s: %s %s", name, c.op.value, c.block.title, extra=extra)
