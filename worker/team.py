"""Team scale: the same per-account cycle as `serve`, as Celery tasks (the `team` extra).

    celery -A worker.team worker --pool threads --concurrency 8
    celery -A worker.team beat

Beat runs `fan_out` every FAN_OUT_SECONDS: it claims the accounts whose moment has come
in the shared state (State.claim_due, one claim per account however many fan-outs run)
and queues one `cycle` task each, with those a push notification made due (the
`nudges` the web app keeps, worker/push.py). A cycle holds the account's lease in Redis, so that
two workers never work on one account at once; the lease expires if its holder dies.
Tasks are acknowledged late: a worker that dies mid-cycle has its task delivered to
another, which is safe because every step is idempotent. The cycle then records the
account's next moment, as `serve` does.

Settings, from the environment: FIRSTBLOCK_CONFIG (the config file, with `state_url`),
FIRSTBLOCK_BROKER_URL (default redis://127.0.0.1:6379/0), FIRSTBLOCK_REDIS_URL for
the leases (default: the broker's).

Operations: a worker whose config has `[serve] metrics_listen` (or
FIRSTBLOCK_METRICS_LISTEN) serves /healthz, /readyz and /metrics there
(worker/operations.py), started once the worker is set up (celeryd_after_setup). Its
cycles and requests are counted in the worker's own process: run it with
`--pool threads`, as documented; a prefork pool's children would count unseen.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import redis
from celery import Celery
from celery.signals import celeryd_after_setup

from providers import quota
from worker import config as cfg
from worker import operations, push, roster, runner, serve, telemetry
from worker.clock import SystemClock
from worker.errors import WorkerError
from worker.state import State
from worker.telemetry import TELEMETRY

LOG = logging.getLogger("firstblock.team")
BROKER = os.environ.get("FIRSTBLOCK_BROKER_URL", "redis://127.0.0.1:6379/0")
FAN_OUT_SECONDS = float(os.environ.get("FIRSTBLOCK_FAN_OUT_SECONDS", "30"))
# A queued account whose cycle never reports back (its worker died) is due again after
# this; the task itself is delivered again sooner, once FIRSTBLOCK_REDELIVER_SECONDS pass.
QUEUED_FOR = timedelta(seconds=float(os.environ.get("FIRSTBLOCK_QUEUED_FOR_SECONDS", "600")))
# The lease lapses this long after its holder stopped renewing it (every third of it).
LEASE_SECONDS = float(os.environ.get("FIRSTBLOCK_LEASE_SECONDS", "60"))

app = Celery("firstblock", broker=BROKER)
app.conf.update(
    task_acks_late=True,  # a worker that dies mid-cycle: the task goes to another
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,  # a busy worker does not sit on others' accounts
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    broker_transport_options={
        "visibility_timeout": float(os.environ.get("FIRSTBLOCK_REDELIVER_SECONDS", "900"))
    },
    beat_schedule={
        "fan-out": {"task": "firstblock.fan_out", "schedule": FAN_OUT_SECONDS},
    },
)


class Lease:
    """One account's lease in Redis: taken with SET NX and an expiry, renewed while the
    cycle runs, given back only by its holder. If the holder dies, it lapses."""

    _IF_MINE = "if redis.call('get', KEYS[1]) == ARGV[1] then return "
    _GIVE_BACK = _IF_MINE + "redis.call('del', KEYS[1]) end return 0"
    _RENEW = _IF_MINE + "redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"

    def __init__(self, client: redis.Redis, account: str, seconds: float) -> None:
        self.client, self.key = client, f"firstblock:lease:{account}"
        self.token, self.ms = uuid.uuid4().hex, int(seconds * 1000)
        self._done = threading.Event()

    def take(self) -> bool:
        if not self.client.set(self.key, self.token, nx=True, px=self.ms):
            return False
        threading.Thread(target=self._renew, daemon=True).start()
        return True

    def _renew(self) -> None:
        while not self._done.wait(self.ms / 3000):
            try:
                if not self.client.eval(self._RENEW, 1, self.key, self.token, self.ms):
                    return  # lost it (a pause longer than the lease): nothing to renew
            except redis.RedisError:
                LOG.warning("lease %s: could not renew, retrying", self.key)

    def give_back(self) -> None:
        self._done.set()
        self.client.eval(self._GIVE_BACK, 1, self.key, self.token)


class SharedQuota:
    """Requests a second per bucket, shared by every worker through Redis: each request
    books the next free slot of an even schedule (1/limit seconds per unit of cost) and
    waits for it. Even spacing, not a window a second, because a window lets a whole
    second's budget go at its end and the next one's at the start of the next: twice
    the limit in a moment, which is what a provider's own counter then refuses. Time is
    Redis's, so workers on hosts with drifting clocks still share one schedule."""

    # KEYS[1]: the time (ms, Redis clock) at which the booked schedule runs out.
    # ARGV: ms per unit, units. Returns how long (ms) the caller must wait.
    _BOOK = (
        "local t = redis.call('time')"
        " local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000"
        " local free = tonumber(redis.call('get', KEYS[1]) or 0)"
        " if free < now then free = now end"
        " local after = free + tonumber(ARGV[1]) * tonumber(ARGV[2])"
        " redis.call('set', KEYS[1], string.format('%.3f', after),"
        " 'px', math.ceil(after - now) + 1000)"
        " return string.format('%.3f', free - now)"
    )

    def __init__(self, client: redis.Redis, limits: dict[str, int]) -> None:
        self.client, self.limits = client, limits

    def take(self, bucket: str, cost: int) -> None:
        limit = self.limits.get(bucket.split(":", 1)[0], 0)
        if not limit:
            return
        key = f"firstblock:quota:{bucket}"
        wait = float(self.client.eval(self._BOOK, 1, key, 1000 / limit, cost))
        if wait > 0:
            time.sleep(wait / 1000)  # clock-ok: a pause, measured on Redis's clock


_loaded: dict[str, Any] = {}  # this process's Redis client and config, and its mtime
_loading = threading.Lock()


def _redis() -> redis.Redis:
    with _loading:  # one client (and its connection pool) for every task of the process
        if "redis" not in _loaded:
            _loaded["redis"] = redis.Redis.from_url(os.environ.get("FIRSTBLOCK_REDIS_URL", BROKER))
        client: redis.Redis = _loaded["redis"]
        return client


def _config() -> tuple[cfg.Config, dict[str, cfg.Account]]:
    """The config and its accounts by name, read again only when the file changes: a
    team's file lists thousands of accounts, and every task needs it."""
    path = os.environ.get("FIRSTBLOCK_CONFIG")
    if not path:
        config = cfg.default_config()
        return config, {a.name: a for a in config.accounts}
    stamp = Path(path).stat().st_mtime_ns
    with _loading:
        if _loaded.get("stamp") != stamp:
            config = cfg.load(Path(path))
            _loaded.update(stamp=stamp, config=(config, {a.name: a for a in config.accounts}))
        known: tuple[cfg.Config, dict[str, cfg.Account]] = _loaded["config"]
        return known


def _stored(config: cfg.Config, state: State) -> list[cfg.Account]:
    """The accounts kept in the state store (the file's are in `_config`): read on every
    task, since the web app or the CLI may add one at any time."""
    if not config.accounts_given:
        config = replace(config, accounts=())  # the built-in default is no team's account
    merged = cfg.with_stored(config, state.accounts.all())
    return [a for a in merged.accounts if a.origin == cfg.STORE]


@app.task(name="firstblock.fan_out")
def fan_out() -> int:
    """Queue one cycle for every account whose moment has come; returns how many."""
    config, accounts = _config()
    state = State(config.state_location())
    try:
        names = list(accounts) if config.accounts_given else []
        names += [a.name for a in _stored(config, state)]
        now = SystemClock().now()
        for name, why in state.nudges.take(now):  # push notifications (worker/push.py)
            if not state.own_writes.only_echoes(name, now):
                state.schedule.set(name, now, why)
        due = state.schedule.claim_due(names, now, QUEUED_FOR)
    finally:
        state.close()
    for name in due:
        cycle.delay(name)
    return len(due)


def queue_pushed(accounts: list[str], debounce: int) -> None:
    """The web app's: cycles for accounts a push notification made due, after the
    debounce. A broker out of reach leaves them to beat's fan-out (their nudges)."""
    for name in accounts:
        try:
            cycle.apply_async((name,), {"pushed": True}, countdown=debounce)
        except Exception as exc:  # kombu's errors vary by transport
            LOG.warning("account %s: cycle not queued (%s); the fan-out will", name, exc)


@app.task(name="firstblock.cycle")
def cycle(account_name: str, pushed: bool = False) -> dict[str, Any]:
    """The account's cycle, as `serve` runs it, under its lease. `pushed`: queued by a
    notification, which may have been only the echo of the account's own writes."""
    config, accounts = _config()
    clock = SystemClock()
    state = State(config.state_location())
    try:
        account = accounts.get(account_name) if config.accounts_given else None
        if account is None:
            stored = _stored(config, state)
            account = next((a for a in stored if a.name == account_name), None)
        if account is None:
            return {"account": account_name, "skipped": "not in the config any more"}
        lease = Lease(_redis(), account_name, LEASE_SECONDS)
        if not lease.take():
            TELEMETRY.skipped()
            if push.enabled(config):  # it may be a notification's: due again after
                wait = timedelta(seconds=config.push.debounce_seconds)
                state.nudges.nudge(account_name, clock.now() + wait, "push")
            return {"account": account_name, "skipped": "another worker is working on it"}
        limits = {
            "google": config.team.google_requests_per_second,
            "microsoft": config.team.microsoft_requests_per_second,
        }
        quota.install(SharedQuota(_redis(), limits) if any(limits.values()) else None)
        try:
            if pushed and state.own_writes.only_echoes(account_name, clock.now(), answer=True):
                return {"account": account_name, "skipped": "only the echo of its own writes"}
            state.nudges.clear(account_name)  # what is pushed from now on needs another cycle
            begun = time.monotonic()
            result = runner.run_one(config, account, clock, apply=True, state=state)
            TELEMETRY.cycle(result, time.monotonic() - begun)
            interval = timedelta(minutes=config.serve.interval_minutes)
            due = serve.next_action(config, result, clock.now(), interval)
            state.schedule.set(account_name, due.at, due.why)
        finally:
            lease.give_back()
    finally:
        state.close()
    serve.log_cycle(result, due)
    return {"account": account_name, "errors": [str(e) for e in result.errors]}


def operations_config() -> cfg.Config:
    """The team's config with the state store's accounts, as /metrics counts them."""
    config, _ = _config()
    if not config.accounts_given:
        config = replace(config, accounts=())  # the built-in default is no team's account
    return roster.load(config)


@celeryd_after_setup.connect
def _operations(**_: Any) -> None:
    """When a worker starts: count its requests, and serve the operations endpoints if
    the config asks for them."""
    telemetry.install()
    config, _ = _config()
    if config.serve.metrics_listen:
        try:
            _loaded["operations"] = operations.start(config.serve.metrics_listen, operations_config)
        except WorkerError as exc:  # its probes will fail: say why, once
            LOG.error("firstblock: %s", exc)
