"""A team worker's operations endpoints: started with the worker when the config asks
for them, counting the cycles it runs. A real `celery worker` process on Celery's
in-memory broker (no Redis needed for that one); the cycle test takes a lease in
Redis (FIRSTBLOCK_TEST_REDIS, default redis://127.0.0.1:6379/7, never emptied here)
and is skipped without one."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.test_metrics import get, value
from worker.state import State

pytest.importorskip("celery", reason="team tests: pip install '.[team]'")
pytest.importorskip("redis", reason="team tests: pip install '.[team]'")

from worker import team
from worker.telemetry import TELEMETRY

REDIS = os.environ.get("FIRSTBLOCK_TEST_REDIS", "redis://127.0.0.1:6379/7")


def write(home: Path, listen: str) -> Path:
    path = home / "team.toml"
    path.write_text(
        f'state_dir = "{home / "state"}"\n'
        f'[serve]\nmetrics_listen = "{listen}"\n'
        f'[[accounts]]\nname = "metrics-rep"\ncalendar = "{home / "rep.ics"}"\n'
        f'maildir = "{home / "Mail"}"\n'
    )
    return path


@pytest.fixture
def configured(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = write(home, "127.0.0.1:0")
    monkeypatch.setenv("FIRSTBLOCK_CONFIG", str(path))
    team._loaded.pop("stamp", None)  # the config is read again for this test
    yield path
    team._loaded.pop("stamp", None)
    listener = team._loaded.pop("operations", None)
    if listener is not None:
        listener.close()


def test_a_worker_serves_the_endpoints_with_the_stored_accounts_counted(
    home: Path, configured: Path
) -> None:
    state = State(home / "state" / "state.sqlite3")
    try:
        table = {"provider": "local", "calendar": str(home / "web.ics")}
        state.accounts.put("added-on-the-web", table, datetime.now(UTC))
    finally:
        state.close()
    team._operations()
    listener: Any = team._loaded["operations"]
    assert get(listener.url + "healthz")[0] == 200
    assert get(listener.url + "readyz")[::2] == (200, "ready\n")
    text = get(listener.url + "metrics")[2]
    assert value(text, "firstblock_accounts", provider="local") == 2  # the file's and the store's
    assert value(text, "firstblock_state_up") == 1


@pytest.fixture
def lease_store() -> Iterator[Any]:
    """The Redis the tasks take their leases in, as the worker's own client."""
    import redis

    client = redis.Redis.from_url(REDIS, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"team tests: no Redis server at {REDIS} ({exc})")
    team._loaded["redis"] = client
    yield client
    team._loaded.pop("redis", None)


def test_a_workers_cycles_are_counted(home: Path, configured: Path, lease_store: Any) -> None:
    before = TELEMETRY.snapshot()
    assert team.cycle("metrics-rep") == {"account": "metrics-rep", "errors": []}
    other = team.Lease(lease_store, "metrics-rep", 30)  # another worker has it now
    assert other.take()
    try:
        assert "skipped" in team.cycle("metrics-rep")
    finally:
        other.give_back()
    after = TELEMETRY.snapshot()
    assert after.cycles["ok"] == before.cycles["ok"] + 1
    assert after.cycles["busy"] == before.cycles["busy"] + 1
    assert after.count == before.count + 1  # the busy one is not timed
    assert (home / "rep.ics").exists()


def test_a_celery_worker_process_exposes_them(home: Path, configured: Path) -> None:
    env = {
        **os.environ,
        "FIRSTBLOCK_CONFIG": str(configured),
        "FIRSTBLOCK_BROKER_URL": "memory://",  # nothing to consume: only the endpoints
    }
    log = (home / "worker.log").open("wb")
    argv = ["worker", "--pool", "threads", "--concurrency", "2", "--loglevel", "info"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "worker.team", *argv],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        found = None
        deadline = time.monotonic() + 60
        while found is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            text = (home / "worker.log").read_text(errors="replace")
            found = re.search(r"operations endpoints on (http://127\.0\.0\.1:\d+/)", text)
        assert found, (home / "worker.log").read_text(errors="replace")[-3000:]
        url = found.group(1)
        assert get(url + "healthz")[0] == 200
        assert get(url + "readyz")[0] == 200
        text = get(url + "metrics")[2]
        assert value(text, "firstblock_cycles_total", outcome="ok") == 0
        assert value(text, "firstblock_accounts", provider="local") == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_a_pushed_task_that_heard_only_its_own_writes_takes_no_cycle(
    home: Path, configured: Path, lease_store: Any
) -> None:
    """The web app queues a task for a notification; the task decides, as serve's
    scheduler does, whether it was only the echo of the account's own writes."""
    now = datetime.now(UTC)
    state = State(home / "state" / "state.sqlite3")
    try:
        state.own_writes.wrote("metrics-rep", [("ev-1", "v2")], now, now + timedelta(minutes=5))
        state.own_writes.heard("metrics-rep", "ev-1", "v2")
        state.nudges.nudge("metrics-rep", now + timedelta(minutes=1), "push")  # fan-out's
        echo = team.cycle("metrics-rep", pushed=True)
        assert "echo" in echo["skipped"] and not (home / "rep.ics").exists()
        assert state.nudges.take(now + timedelta(hours=1)) == []  # answered: none left
        state.own_writes.heard("metrics-rep", "ev-1", "v2")
        state.own_writes.heard("metrics-rep", "ev-9", "v1")  # someone else's change
        assert team.cycle("metrics-rep", pushed=True) == {"account": "metrics-rep", "errors": []}
        assert (home / "rep.ics").exists()
    finally:
        state.close()
