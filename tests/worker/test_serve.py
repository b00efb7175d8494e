"""`serve` over a simulated day: it wakes at the moments that matter, not only on its
tick, keeps going when an account fails, takes a new config, and stops cleanly."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import filelock
import pytest

from worker import config as cfg
from worker import runner
from worker.errors import ConfigError
from worker.serve import Server

NY = ZoneInfo("America/New_York")
MON = date(2026, 11, 30)


def at(hh: int, mm: int = 0) -> datetime:
    return datetime(MON.year, MON.month, MON.day, hh, mm, tzinfo=NY)


class StepClock:
    def __init__(self, start: datetime) -> None:
        self.moment = start

    def now(self) -> datetime:
        return self.moment


def config(tmp: Path, *names: str) -> cfg.Config:
    base = cfg.default_config()
    accounts = tuple(
        cfg.Account(
            n,
            "local",
            "me@example.com",
            {"calendar": tmp / f"{n}.ics", "maildir": tmp / f"{n}-mail"},
        )
        for n in names
    )
    return dataclasses.replace(
        base, timezone="America/New_York", accounts=accounts, state_dir=tmp / "state"
    )


def day_of_serving(
    server_config: Any, tmp: Path, until: datetime, monkeypatch: pytest.MonkeyPatch, **kw: Any
) -> tuple[Server, list[tuple[str, datetime]]]:
    clock = StepClock(at(7))
    seen: list[tuple[str, datetime]] = []
    real = runner.run_one

    def recording(config: cfg.Config, account: cfg.Account, *a: Any, **k: Any) -> Any:
        seen.append((account.name, clock.now()))
        return real(config, account, *a, **k)

    monkeypatch.setattr(runner, "run_one", recording)
    server: Server

    def wait(seconds: float) -> None:
        while any(s.running for s in server.slots.values()):
            time.sleep(0.005)  # simulated time moves only between cycles
        clock.moment += timedelta(seconds=seconds)
        if clock.moment >= until:
            server.stop.set()

    server = Server(server_config, clock, interval=timedelta(hours=1), wait=wait, **kw)
    assert server.run() == 0
    return server, seen


def test_it_wakes_for_the_hold_the_release_and_the_hourly_reconcile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = config(tmp_path, "work")
    server, seen = day_of_serving(lambda: conf, tmp_path, at(18), monkeypatch)
    moments = [t.astimezone(NY).strftime("%H:%M") for _, t in seen]
    assert moments[:3] == ["07:00", "08:00", "08:30"]  # the hold starts at the workday's start
    release = server.slots["work"].last
    assert release is not None and release.hold is not None
    admin = release.hold.window
    assert admin is not None and admin.release_at.astimezone(NY).strftime("%H:%M") in moments
    assert moments[-1] >= "17:00"


def test_one_failing_account_never_stops_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = config(tmp_path, "good", "broken")
    (tmp_path / "broken.ics").write_text("this is not a calendar")
    server, seen = day_of_serving(lambda: conf, tmp_path, at(12), monkeypatch)
    good = [t for name, t in seen if name == "good"]
    broken = [t for name, t in seen if name == "broken"]
    assert len(good) >= 5 and len(broken) >= 5  # both keep their schedule
    last = server.slots["broken"].last
    assert last is not None and last.errors and "not a valid iCalendar" in str(last.errors[0])
    assert (tmp_path / "good.ics").read_text().count("BEGIN:VEVENT") > 0


def test_a_new_config_is_taken_and_a_broken_one_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configs = [config(tmp_path, "work")]
    calls = [0]

    def load() -> cfg.Config:
        calls[0] += 1
        if calls[0] == 3:
            raise ConfigError("firstblock.toml: workday.end: not after start")
        return configs[-1]

    clock = StepClock(at(7))
    server: Server

    def wait(seconds: float) -> None:
        while any(s.running for s in server.slots.values()):
            time.sleep(0.005)
        clock.moment += timedelta(seconds=seconds)
        if clock.moment >= at(9):
            configs.append(config(tmp_path, "work", "second"))
        server.reload.set()
        if clock.moment >= at(12):
            server.stop.set()

    server = Server(load, clock, interval=timedelta(hours=1), wait=wait)
    server.run()
    assert set(server.slots) == {"work", "second"}  # the broken load in between was skipped
    assert server.slots["second"].last is not None


def test_an_account_busy_in_another_process_is_skipped_not_waited_for(tmp_path: Path) -> None:
    conf = config(tmp_path, "work")
    (tmp_path / "state" / "locks").mkdir(parents=True)
    with filelock.FileLock(str(tmp_path / "state" / "locks" / "work.lock")):
        # A thread stands in for the other process: filelock is reentrant per process.
        result: list[runner.AccountResult] = []
        thread = threading.Thread(
            target=lambda: result.append(
                runner.run_one(conf, conf.accounts[0], StepClock(at(9)), apply=True, state=None)
            )
        )
        thread.start()
        thread.join(10)
    assert result and result[0].busy
    assert not (tmp_path / "work.ics").exists()  # nothing was written


def test_stopping_waits_for_the_cycle_in_flight_but_not_forever(tmp_path: Path) -> None:
    conf = config(tmp_path, "work")
    release = threading.Event()
    started = threading.Event()
    clock = StepClock(at(9))
    server: Server

    def slow_load() -> cfg.Config:
        return conf

    def wait(seconds: float) -> None:
        started.wait(5)
        server.stop.set()  # a stop arrives while the cycle runs

    server = Server(slow_load, clock, wait=wait, stop_timeout=0.5)
    real = runner.run_one

    def hung(*a: Any, **k: Any) -> Any:
        started.set()
        release.wait(30)  # a provider that does not answer
        return real(*a, **k)

    runner_run_one, runner.run_one = runner.run_one, hung
    try:
        begun = time.monotonic()
        assert server.run() == 0
        assert time.monotonic() - begun < 5  # bounded, though the cycle never ended
    finally:
        runner.run_one = runner_run_one
        release.set()


def test_state_connections_are_kept_between_cycles_on_any_thread(tmp_path: Path) -> None:
    from worker.serve import StatePool

    pool, here, there = StatePool(2), tmp_path / "a.sqlite3", tmp_path / "b.sqlite3"
    first = pool.take(here)
    pool.give(here, first)
    got: list[object] = []

    def cycle() -> None:  # another thread, as serve's next cycle runs on
        state = pool.take(here)
        state.runs.notice("ana", "k", at(9))
        got.append(state)
        pool.give(here, state)

    thread = threading.Thread(target=cycle)
    thread.start()
    thread.join()
    assert got == [first]  # the same connection, used from a second thread
    assert first.runs.noticed("ana", "k")
    other = pool.take(there)  # another location: its own connection
    assert other is not first and other.path == there
    extra = [pool.take(here) for _ in range(3)]
    for state in (other, *extra):
        pool.give(here if state is not other else there, state)
    pool.close()  # the idle ones: at most two were kept, the rest closed on return
    for state in (first, other, *extra):
        with pytest.raises(Exception, match="closed"):
            state.runs.noticed("ana", "k")
