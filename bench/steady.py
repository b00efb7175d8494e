"""CPU per steady cycle inside one process, Google beside Outlook (docs/design.md §4).

The fleet benchmark runs `serve` on Outlook accounts only. This one runs the same
account on each provider against its loopback emulator, the cycle as
`bench.requests.Firstblock` runs it (a fresh session each cycle, its memo read from
disk, as in serve), with the calendar of `bench.requests.meetings()` and alerts on,
as by default (its client meetings without a next one are alerted once): a first run,
the run that reads its writes back, then steady cycles two seconds apart in the
same quarter hour. Measured per steady cycle: the calling thread's CPU time (the
emulator's threads excluded), the requests the emulator saw, and the garbage
collector's young-generation passes set off on the cycle's own thread, which count
the garbage it leaves (the emulator's threads allocate in this process too).
"""

from __future__ import annotations

import dataclasses
import gc
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.requests import PROVIDERS, Firstblock, Provider, at, meetings
from providers.outlook import pool
from tests.emulators.graph import GraphEmulator
from tests.providers import google_fixtures, outlook_fixtures
from worker.config import Alerts
from worker.state import State

CYCLES = {True: 40, False: 400}  # steady cycles per provider, by `quick`


def opener(provider: Provider, emu: Any, memo: Path) -> Callable[[], tuple[Any, Any]]:
    """A fresh calendar and mailbox each cycle, on connections kept across cycles as
    serve keeps them (Google's through its lender, Outlook's on one client)."""
    if isinstance(emu, GraphEmulator):  # the process's shared session, as serve's
        sleeps = outlook_fixtures.Sleeps()
        return lambda: outlook_fixtures.outlook(emu, memo, sleeps, http=pool.shared())
    pause = google_fixtures.Sleeps()
    return lambda: google_fixtures.connected(emu, memo, pause)


@contextmanager
def trusted(emu: Any) -> Iterator[None]:
    """The shared session trusts the Graph emulator's CA as serve is made to (its
    environment, as in bench/fleet.py), for this run only."""
    if not isinstance(emu, GraphEmulator):
        yield
        return
    before = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = emu.ca_file
    try:
        yield
    finally:
        if before is None:
            del os.environ["REQUESTS_CA_BUNDLE"]
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = before


class Passes:
    """Young-generation passes the measuring thread sets off."""

    def __init__(self) -> None:
        self.thread, self.count = threading.get_ident(), 0

    def seen(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 0 and threading.get_ident() == self.thread:
            self.count += 1


def steady(provider: Provider, cycles: int) -> dict[str, Any]:
    emu = provider.emulator()
    with tempfile.TemporaryDirectory() as folder, trusted(emu):
        state = State(Path(folder) / "state.sqlite3")
        passes = Passes()
        try:
            for m in meetings():
                provider.put(
                    emu, dataclasses.replace(m, guest=m.guest.format(domain=provider.domain))
                )
            config, account = provider.settings()
            # Alerts on, as by default: the first runs send the gaps' alerts once.
            config = dataclasses.replace(config, alerts=Alerts())
            runner = Firstblock(
                opener(provider, emu, Path(folder) / "memo.json"), config, account, state
            )
            runner.cycle(at(7))
            runner.cycle(at(7, 15))  # reads its own writes back
            spent: list[float] = []
            requests: list[int] = []
            gc.callbacks.append(passes.seen)
            for k in range(cycles):
                emu.reset_log()
                started = time.thread_time()
                runner.cycle(at(7, 30) + timedelta(seconds=2 * k))
                spent.append((time.thread_time() - started) * 1000)
                requests.append(sum(1 for r in emu.requests if not r.batch_part))
        finally:
            if passes.seen in gc.callbacks:
                gc.callbacks.remove(passes.seen)
            state.close()
            emu.stop()
    ordered = sorted(spent)
    return {
        "cycles": cycles,
        "cpu_ms": {
            "median": round(statistics.median(spent), 2),
            "p90": round(ordered[int(0.9 * (len(ordered) - 1))], 2),
            "best": round(ordered[0], 2),
        },
        "requests_per_cycle": max(requests),
        "young_gc_passes_per_100": round(100 * passes.count / cycles, 1),
    }


def run(quick: bool) -> dict[str, Any]:
    cycles = CYCLES[quick]
    return {
        "settings": {"cycles_per_provider": cycles, "spacing_seconds": 2},
        "providers": {p.name: steady(p, cycles) for p in PROVIDERS},
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "### CPU per steady cycle, in one process",
        "",
        f"{result['settings']['cycles_per_provider']} steady cycles per provider, one account"
        " against its emulator on loopback; the calling thread's CPU alone.",
        "",
        "| Provider | Median | p90 | Best | Requests a cycle | Young GC passes per 100 |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for name, p in result["providers"].items():
        cpu = p["cpu_ms"]
        lines.append(
            f"| {name} | {cpu['median']} ms | {cpu['p90']} ms | {cpu['best']} ms"
            f" | {p['requests_per_cycle']} | {p['young_gc_passes_per_100']} |"
        )
    return "\n".join(lines)
