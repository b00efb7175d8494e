"""Team scale on real Redis and PostgreSQL: three Celery worker processes and beat
serve 200 Outlook accounts on the Graph emulator, sharing their state in PostgreSQL;
one worker is killed (SIGKILL) while cycles are in flight. Every account ends exactly
as the same accounts do under one `serve` process.

Needs a Redis server (FIRSTBLOCK_TEST_REDIS, default redis://127.0.0.1:6379/7; the
test empties that database) and PostgreSQL (see tests/worker/test_state_store.py);
skipped, saying why, without them."""

from __future__ import annotations

import bisect
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench import fleet
from providers.outlook.session import BATCH_LIMIT
from tests.emulators.graph import GraphEmulator
from tests.providers.test_outlook_faults import picture
from tests.worker.test_state_store import postgres_url
from worker.state import State

__all__ = ["postgres_url"]  # a fixture, imported for pytest

REDIS = os.environ.get("FIRSTBLOCK_TEST_REDIS", "redis://127.0.0.1:6379/7")
ACCOUNTS = 200
PER_SECOND = 150  # the tenant's budget, shared by the three workers


@pytest.fixture
def redis_url() -> str:
    redis = pytest.importorskip("redis", reason="team tests: pip install '.[team]'")
    pytest.importorskip("celery", reason="team tests: pip install '.[team]'")
    client = redis.Redis.from_url(REDIS, socket_connect_timeout=3)
    try:
        client.flushdb()
    except redis.RedisError as exc:
        pytest.skip(f"team tests: no Redis server at {REDIS} ({exc})")
    return REDIS


@pytest.fixture
def emulators() -> Iterator[tuple[GraphEmulator, GraphEmulator]]:
    pair = (GraphEmulator(require_auth=True).start(), GraphEmulator(require_auth=True).start())
    try:
        yield pair
    finally:
        for emu in pair:
            emu.stop()


def test_a_lease_is_held_by_one_renewed_while_held_and_lapses_when_its_holder_dies(
    redis_url: str,
) -> None:
    import redis

    from worker.team import Lease

    client = redis.Redis.from_url(redis_url)
    first, second = Lease(client, "rep", 0.3), Lease(client, "rep", 0.3)
    assert first.take() and not second.take()
    time.sleep(0.6)  # twice its life: renewed meanwhile
    assert not second.take()
    second.give_back()  # not its lease: nothing happens
    assert client.exists("firstblock:lease:rep")
    first.give_back()
    assert second.take()
    second._done.set()  # its holder "dies": no more renewals
    time.sleep(0.5)
    assert Lease(client, "rep", 0.3).take()


SPENDER = """
import sys, time, redis
from worker.team import SharedQuota
quota = SharedQuota(redis.Redis.from_url(sys.argv[1]), {"microsoft": 20})
for _ in range(30):
    quota.take("microsoft:tenant:app", 1)
    print(time.time(), flush=True)
"""


def test_the_shared_quota_holds_across_processes(redis_url: str) -> None:
    """Three processes spend 30 requests each against 20 a second. Any one second,
    wherever it starts, sees at most 21 go out: 20 slots 50 ms apart, and one more only
    when a sleep's wake-up jitter shifts a slot across the second's edge. A budget kept
    as a window a second lets 40 through in a second that straddles two windows."""
    procs = [
        subprocess.Popen([sys.executable, "-c", SPENDER, redis_url], stdout=subprocess.PIPE)
        for _ in range(3)
    ]
    sent = sorted(float(t) for p in procs for t in p.communicate(timeout=60)[0].split())
    assert len(sent) == 90
    busiest = max(bisect.bisect_left(sent, t + 1) - i for i, t in enumerate(sent))
    assert busiest <= 21, busiest
    assert sent[-1] - sent[0] > 89 / 20 - 0.1  # 90 slots 50 ms apart: 4.45 s at least


def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = log.open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "worker.team", *argv],
        stdout=out,
        stderr=subprocess.STDOUT,
        env=env,
    )


def finished(location: str, names: list[str]) -> int:
    state = State(location)
    try:
        return sum(1 for n in names if state.runs.last(n, ok=True) is not None)
    finally:
        state.close()


def test_workers_share_the_accounts_and_finish_a_killed_workers_cycles(
    redis_url: str,
    postgres_url: str,
    emulators: tuple[GraphEmulator, GraphEmulator],
    tmp_path: Path,
) -> None:
    alone, team = emulators
    zone = fleet.local_zone_at(20)  # the workday is over: the plan does not move by the minute
    worlds: dict[str, Any] = {}
    for name, emu in (("alone", alone), ("team", team)):
        emu.app(fleet.CLIENT, secret=fleet.SECRET)
        users = fleet.populate(emu, ACCOUNTS, zone)
        (tmp_path / name).mkdir()
        url = postgres_url if name == "team" else ""  # credentials in the shared state
        worlds[name] = fleet.write_setup(tmp_path / name, emu, users, zone, url)
        fleet.with_workers(worlds[name], 8)
        emu.latency = 0.03  # cycles last long enough to be caught in flight
    assert fleet.serve_round(worlds["alone"], alone, ACCOUNTS, 300)["accounts_done"] == ACCOUNTS

    config: Path = worlds["team"]
    config.write_text(
        config.read_text() + f"[team]\nmicrosoft_requests_per_second = {PER_SECOND}\n"
    )
    assert not (tmp_path / "team" / "state" / "credentials").exists()  # all in PostgreSQL
    env = {
        **os.environ,
        "FIRSTBLOCK_CONFIG": str(config),
        "FIRSTBLOCK_BROKER_URL": redis_url,
        "REQUESTS_CA_BUNDLE": team.ca_file,
        "FIRSTBLOCK_FAN_OUT_SECONDS": "1",
        "FIRSTBLOCK_LEASE_SECONDS": "3",
        "FIRSTBLOCK_REDELIVER_SECONDS": "5",
        "FIRSTBLOCK_QUEUED_FOR_SECONDS": "30",
        "FIRSTBLOCK_SECRET_KEY": fleet.SECRET_KEY,
    }
    names = [f"rep{i}" for i in range(ACCOUNTS)]
    pool = ["worker", "--pool", "threads", "--concurrency", "4", "--loglevel", "info"]
    workers = [start([*pool, "-n", f"w{i}@%h"], env, tmp_path / f"worker{i}.log") for i in range(3)]
    beat = start(["beat", "-s", str(tmp_path / "beat-schedule")], env, tmp_path / "beat.log")
    try:
        deadline = time.monotonic() + 300  # the budget alone makes it a minute or more
        while finished(postgres_url, names) < ACCOUNTS // 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        done_at_kill = finished(postgres_url, names)
        workers[0].send_signal(signal.SIGKILL)  # with cycles in flight
        while finished(postgres_url, names) < ACCOUNTS and time.monotonic() < deadline:
            time.sleep(0.5)
        done = finished(postgres_url, names)
    finally:
        for proc in [beat, *workers]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in [beat, *workers]:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    logs = [(tmp_path / f"worker{i}.log").read_text(errors="replace") for i in range(3)]
    assert done == ACCOUNTS, logs[1][-3000:]
    assert done_at_kill < ACCOUNTS  # the kill came while work was left
    ran = [log.count("] succeeded in") for log in logs]
    assert all(ran), ran  # all three took part
    in_flight = logs[0].count("] received") - ran[0]
    assert in_flight > 0  # the killed worker had cycles in flight; the others finished them
    creates = Counter(
        r.path.split("/")[3]
        for r in team.requests
        if r.method == "POST" and r.path.endswith("/events") and r.status == 201
    )
    for i in range(ACCOUNTS):
        upn = f"rep{i}@contoso.com"
        assert picture(team, upn) == picture(alone, upn), upn
        # Each block was created once: a cycle cut short and run again created none twice.
        assert creates[upn] == len(picture(team, upn)[0]), upn
    # What Graph counted: every request and every part of a $batch, not the envelope,
    # nor sign-in. Requests are stamped on arrival, as their headers come in (stamped
    # after the emulator's added latency and its own work, a busy machine's delays once
    # made 335 of a pair), after the budget let them go: those that left late in one
    # second land in the next (175 against 150 was seen). Over two seconds that evens
    # out, so the check is on every pair of seconds, with 10% to spare. A $batch books
    # its parts' slots at once and they arrive together, so a pair may also hold the
    # rest of one batch booked at its end: up to BATCH_LIMIT parts (318 and 319 seen
    # once the stamp moved). Without the budget the peak is 521 in one second.
    graph = [r for r in team.requests if r.path.startswith("/v1.0/")]
    counted = Counter(int(r.at) for r in graph if r.path != "/v1.0/$batch")
    pairs = [counted[s] + counted.get(s + 1, 0) for s in counted]
    assert max(pairs) <= 2 * PER_SECOND * 1.1 + BATCH_LIMIT, sorted(counted.values())
