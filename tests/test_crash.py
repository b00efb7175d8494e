"""`firstblock run` killed with SIGKILL at random points, again and again, its state file
damaged and then lost between runs, each time then left to finish: the calendar and
the mailbox end exactly as after runs that were never interrupted. No block twice, no
message lost, duplicated or left held, no alert twice."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from worker import demo

NY = ZoneInfo("America/New_York")
MONDAY = date(2026, 11, 30)
RUNS = ("2026-11-30T07:00:00-05:00", "2026-11-30T09:00:00-05:00", "2026-11-30T16:50:00-05:00")


def sandbox(folder: Path) -> Path:
    folder.mkdir()
    (folder / "cal.ics").write_text(demo.demo_calendar(MONDAY, NY), newline="")
    demo.demo_mail(folder / "Mail", MONDAY, NY)
    config = folder / "firstblock.toml"
    config.write_text(
        'timezone = "America/New_York"\n'
        f'state_dir = "{folder / "state"}"\n'
        '[followups]\ninternal_domains = ["example.com"]\n'
        '[hold]\nallow = ["boss@example.com"]\n'
        f'[[accounts]]\nname = "work"\nemail = "{demo.ME}"\n'
        f'calendar = "{folder / "cal.ics"}"\nmaildir = "{folder / "Mail"}"\n'
    )
    return config


def run(config: Path, now: str, *, kill_after: float | None = None) -> int | None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker", "run", "--config", str(config), "--now", now],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "FIRSTBLOCK_CONFIG": str(config)},
    )
    if kill_after is None:
        return proc.wait(60)
    time.sleep(kill_after)
    proc.send_signal(signal.SIGKILL)
    proc.wait(60)
    return None


def picture(folder: Path) -> tuple[bytes, list[tuple[str, str]]]:
    """The calendar file, and where each message is (by its name, flags included)."""
    mail = sorted(
        (str(p.relative_to(folder / "Mail").parent), p.name)
        for p in (folder / "Mail").rglob("*")
        if p.is_file() and p.parent.name in ("new", "cur")
    )
    return (folder / "cal.ics").read_bytes(), mail


def test_runs_killed_at_random_points_end_as_runs_never_killed(tmp_path: Path) -> None:
    calm, crashed = sandbox(tmp_path / "calm"), sandbox(tmp_path / "crashed")
    for now in RUNS:
        assert run(calm, now) == 0
    rng = random.Random(20261127)
    kills = 0
    for now in RUNS:
        for _ in range(8):
            # A run takes about half a second here, most of it starting up: the kills
            # fall around the reads and writes at its end.
            run(crashed, now, kill_after=rng.uniform(0.25, 0.7))
            kills += 1
        state = tmp_path / "crashed" / "state" / "state.sqlite3"
        if now == RUNS[1]:
            state.write_bytes(b"not a database any more" * 64)  # damaged between runs
        if now == RUNS[2]:
            state.unlink(missing_ok=True)  # lost between runs
        assert run(crashed, now) == 0  # and then one is left to finish
    assert kills == 24
    calendar, mail = picture(tmp_path / "crashed")
    calm_calendar, calm_mail = picture(tmp_path / "calm")
    assert calendar == calm_calendar
    assert mail == calm_mail
    assert not any(folder.startswith(".Firstblock-Held") for folder, _ in mail)  # released
