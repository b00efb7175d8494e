"""`firstblock serve` as a real process: JSON log lines, its operations endpoints,
SIGHUP, SIGTERM; and an account whose settings were saved elsewhere (the web app) is
due at once."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.test_metrics import get, value
from worker import config as cfg
from worker import runner
from worker.serve import Server


def test_serve_runs_logs_json_and_stops_on_sigterm(tmp_path: Path) -> None:
    conf = tmp_path / "firstblock.toml"
    conf.write_text(
        'timezone = "America/New_York"\n'
        f'state_dir = "{tmp_path / "state"}"\n'
        f'[[accounts]]\nname = "work"\ncalendar = "{tmp_path / "cal.ics"}"\n'
        f'maildir = "{tmp_path / "Mail"}"\n'
    )
    env = {**os.environ, "FIRSTBLOCK_CONFIG": str(conf)}
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "worker", "serve", "--log-format", "json"),
            *("--log-level", "debug", "--metrics-listen", "127.0.0.1:0"),
        ],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines: list[dict[str, object]] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stderr.readline() if proc.stderr else ""
            if line:
                lines.append(json.loads(line))  # every line is JSON
            if any(entry.get("account") == "work" and "next_at" in entry for entry in lines):
                break
        assert (tmp_path / "cal.ics").exists()
        said = " ".join(str(entry["message"]) for entry in lines)
        found = re.search(r"operations endpoints on (http://127\.0\.0\.1:\d+/)", said)
        assert found, said
        url = found.group(1)
        assert get(url + "healthz")[::2] == (200, "ok\n")
        assert get(url + "readyz")[::2] == (200, "ready\n")
        metrics = get(url + "metrics")[2]
        assert value(metrics, "firstblock_cycles_total", outcome="ok") == 1  # its first cycle
        assert value(metrics, "firstblock_cycle_seconds_count") == 1
        assert value(metrics, "firstblock_accounts", provider="local") == 1
        proc.send_signal(signal.SIGHUP)  # re-read the config: still serving
        time.sleep(0.5)
        assert proc.poll() is None
        begun = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert time.monotonic() - begun < 30
    finally:
        if proc.poll() is None:
            proc.kill()
    rest = proc.stderr.read() if proc.stderr else ""
    lines += [json.loads(x) for x in rest.splitlines() if x.strip()]
    messages = [str(entry["message"]) for entry in lines]
    assert any(m.startswith("account work:") and "next" in m for m in messages)
    assert any(m.startswith("stopping") for m in messages)
    assert {entry["level"] for entry in lines} <= {"debug", "info", "warning", "error"}


# -- settings saved elsewhere (the web app) take effect at once


NY = ZoneInfo("America/New_York")


def at(hh: int, mm: int = 0) -> datetime:
    return datetime(2026, 11, 30, hh, mm, tzinfo=NY)  # a Monday


class StepClock:
    def __init__(self, start: datetime) -> None:
        self.moment = start

    def now(self) -> datetime:
        return self.moment


def one_account(tmp: Path) -> cfg.Config:
    account = cfg.Account(
        "work", "local", "me@example.com", {"calendar": tmp / "w.ics", "maildir": tmp / "Mail"}
    )
    return dataclasses.replace(
        cfg.default_config(),
        timezone="America/New_York",
        accounts=(account,),
        state_dir=tmp / "state",
    )


def saved(config: cfg.Config) -> cfg.Config:
    """The account's settings as the web app saves them: the hold turned off."""
    [account] = config.accounts
    settings = cfg.Settings(timezone="America/New_York", hold=cfg.Hold(enabled=False))
    return dataclasses.replace(config, accounts=(dataclasses.replace(account, settings=settings),))


def test_an_account_whose_settings_changed_is_due_at_once_not_at_its_old_moment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configs = [one_account(tmp_path)]
    clock = StepClock(at(18))  # the workday is over: next due is the hourly reconcile, 19:00
    seen: list[tuple[cfg.Account, datetime]] = []
    real = runner.run_one

    def recording(config: cfg.Config, account: cfg.Account, *a: Any, **k: Any) -> Any:
        seen.append((account, clock.now()))
        return real(config, account, *a, **k)

    monkeypatch.setattr(runner, "run_one", recording)
    server: Server

    def wait(seconds: float) -> None:
        while any(s.running for s in server.slots.values()):
            time.sleep(0.005)
        clock.moment += timedelta(seconds=seconds)
        if at(18, 2) <= clock.moment < at(18, 3):
            configs.append(configs[-1])  # read again, unchanged: nothing is brought forward
            server.reload.set()
        if at(18, 5) <= clock.moment < at(18, 6):
            configs.append(saved(configs[-1]))
            server.reload.set()
        if clock.moment >= at(18, 30):
            server.stop.set()

    server = Server(lambda: configs[-1], clock, interval=timedelta(hours=1), wait=wait)
    assert server.run() == 0
    assert [t for _, t in seen] == [at(18), at(18, 5)]
    assert seen[1][0].settings is not None and not seen[1][0].settings.hold.enabled
    assert server.slots["work"].due.at >= at(19)  # then back to its own moments


def test_a_change_during_the_accounts_cycle_brings_the_next_one_forward(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configs = [one_account(tmp_path)]
    clock = StepClock(at(18))
    seen: list[tuple[cfg.Account, datetime]] = []
    gate = threading.Event()
    real = runner.run_one

    def slow_first(config: cfg.Config, account: cfg.Account, *a: Any, **k: Any) -> Any:
        seen.append((account, clock.now()))
        if len(seen) == 1:
            assert gate.wait(30)  # saved while this cycle runs on the old settings
        return real(config, account, *a, **k)

    monkeypatch.setattr(runner, "run_one", slow_first)
    server: Server
    steps = [0]

    def wait(seconds: float) -> None:
        steps[0] += 1
        if steps[0] == 1:  # the first cycle is in flight
            configs.append(saved(configs[-1]))
            server.reload.set()
            return
        gate.set()
        while any(s.running for s in server.slots.values()):
            time.sleep(0.005)
        clock.moment += timedelta(seconds=seconds)
        if clock.moment >= at(18, 30):
            server.stop.set()

    server = Server(lambda: configs[-1], clock, interval=timedelta(hours=1), wait=wait)
    assert server.run() == 0
    assert len(seen) == 2 and seen[1][1] < at(18, 30)
    assert seen[0][0].settings is None and seen[1][0].settings is not None


def test_a_push_notification_makes_the_account_due_within_a_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from worker.state import State

    web = cfg.Web(base_url="https://firstblock.example.com/")
    config = dataclasses.replace(one_account(tmp_path), web=web, push=cfg.Push(enabled=True))
    clock = StepClock(at(18))  # next due on its own: the hourly reconcile, 19:00
    seen: list[datetime] = []
    real = runner.run_one

    def recording(config: cfg.Config, account: cfg.Account, *a: Any, **k: Any) -> Any:
        seen.append(clock.now())
        return real(config, account, *a, **k)

    monkeypatch.setattr(runner, "run_one", recording)
    server: Server
    slept: list[float] = []

    def wait(seconds: float) -> None:
        slept.append(seconds)
        while any(s.running for s in server.slots.values()):
            time.sleep(0.005)
        clock.moment += timedelta(seconds=seconds)
        if len(slept) == 10:  # what the web app does with a notification it took
            state = State(config.state_location())
            state.nudges.nudge("work", clock.moment + timedelta(seconds=2), "push")
            state.close()
        if clock.moment >= at(18, 1):
            server.stop.set()

    server = Server(lambda: config, clock, interval=timedelta(hours=1), wait=wait)
    assert server.run() == 0
    assert seen == [at(18), at(18) + timedelta(seconds=12)]  # nudged at 10 s, due at 12
    assert max(slept) == 1.0  # with push on, the loop looks every second
