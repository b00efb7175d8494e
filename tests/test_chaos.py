"""Twenty accounts, ten on Google and ten on Outlook, through a simulated Monday of
half-hourly cycles, all at once on a pool of threads, with faults injected at 30%:
429 with Retry-After, 403 rate limits, 5xx, ApplicationThrottled, dropped
connections, replies lost after the work was done; and sync state expiring twice
during the day (410 fullSyncRequired, Gmail
history 404, Graph 410 and syncStateNotFound). At the end every account equals its
twin that ran without faults: the same blocks, other people's events untouched,
every message where it belongs, the same alerts. No request came before a
Retry-After had passed."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.emulators.google import GoogleEmulator
from tests.emulators.graph import GraphEmulator
from tests.providers import test_google_faults as google
from tests.providers import test_outlook_faults as outlook
from tests.providers.google_fixtures import ME as GOOGLE_ME

ACCOUNTS = 10  # per provider
USERS = [f"rep{i}@contoso.com" for i in range(ACCOUNTS)]


def quick(seconds: float) -> None:
    """Waits as the policy asks, but a backoff of seconds is cut short: only a server's
    Retry-After (0.02 s here) must be honoured in full."""
    time.sleep(min(seconds, 0.05))


def expire_google(emu: GoogleEmulator) -> Callable[[int], None]:
    def each_step(step: int) -> None:
        if step in (6, 14):
            emu.expire_sync_tokens()
            emu.expire_history()

    return each_step


def expire_graph(graph: GraphEmulator, upn: str) -> Callable[[int], None]:
    """Graph's delta tokens are the emulator's, for every mailbox: one account's run
    expires them, at its own steps 6 and 14."""

    def each_step(step: int) -> None:
        if upn == USERS[0] and step in (6, 14):
            graph.expire_delta("410" if step == 6 else "syncStateNotFound")

    return each_step


def test_twenty_accounts_under_faults_end_as_without_them(
    tmp_path: Path,
) -> None:
    worlds: dict[str, dict[str, Any]] = {}
    for world, rate in (("calm", 0.0), ("stormy", 0.3)):
        gmail = [GoogleEmulator(email=GOOGLE_ME, seed=i + 1).start() for i in range(ACCOUNTS)]
        graph = GraphEmulator(require_auth=False, seed=7).start()
        graph.concurrency_retry_after = 0.02  # the ApplicationThrottled wait, like the rest
        for emu in gmail:
            emu.clock = lambda: google.MONDAY
            google.scenario(emu)
        for upn in USERS:
            graph.user(upn, timezone="Eastern Standard Time")
            outlook.scenario(graph, upn)
        worlds[world] = {"google": gmail, "graph": graph, "rate": rate}
    try:
        for world, w in worlds.items():
            for emu in w["google"]:
                emu.inject(w["rate"], google.FAULTS, retry_after=0.02)
            w["graph"].inject(w["rate"], outlook.FAULTS, retry_after=0.02)
            jobs: list[Callable[[], list[str]]] = []
            for i, emu in enumerate(w["google"]):
                folder = tmp_path / world / f"g{i}"
                folder.mkdir(parents=True)
                jobs.append(
                    lambda emu=emu, folder=folder: google.cycles(
                        emu, folder, quick, expire_google(emu)
                    )
                )
            graph = w["graph"]
            for upn in USERS:
                folder = tmp_path / world / upn
                folder.mkdir(parents=True)
                jobs.append(
                    lambda upn=upn, folder=folder, graph=graph: outlook.cycles(
                        graph, folder, upn, quick, expire_graph(graph, upn)
                    )
                )
            with ThreadPoolExecutor(max_workers=8) as pool:
                w["errors"] = [e for errs in pool.map(lambda job: job(), jobs) for e in errs]
            if w["rate"]:
                w["requests"] = len(w["graph"].requests) + sum(len(e.requests) for e in w["google"])
                for emu in w["google"]:
                    emu.inject(0)
                w["graph"].inject(0)
                with ThreadPoolExecutor(max_workers=8) as pool:  # the weather clears
                    list(pool.map(lambda job: job(), jobs))
        calm, stormy = worlds["calm"], worlds["stormy"]
        assert calm["errors"] == []
        assert stormy["errors"]  # faults did get through to some cycles
        for quiet, rough in zip(calm["google"], stormy["google"], strict=True):
            assert google.picture(rough) == google.picture(quiet)
        for upn in USERS:
            assert outlook.picture(stormy["graph"], upn) == outlook.picture(calm["graph"], upn)
        early = stormy["graph"].early_retries + sum(e.early_retries for e in stormy["google"])
        assert early == 0
        calm_requests = len(calm["graph"].requests) + sum(len(e.requests) for e in calm["google"])
        assert stormy["requests"] > calm_requests
    finally:
        for w in worlds.values():
            for emu in w["google"]:
                emu.stop()
            w["graph"].stop()
