"""Push (docs/design.md §2.7), on the Graph emulator with app-only Outlook accounts.

- **Idle cost**: accounts in which nothing changes, followed through two simulated
  weeks, each cycle at the moment `serve` would run it (serve.next_action) on a
  clock the emulator shares, so subscriptions expire and are renewed on time. The
  web app answers Graph's validation over real HTTP. Requests at the emulator per
  account-hour, by kind: reads (the safety-net polls, and the wake-ups of the hold
  and follow-up checks), subscription upkeep, and writes (blocks for the days that
  enter the horizon). A quiet calendar (no meetings, no hold) and a busy week (a
  client meeting a day, the hold on), each with poll_hours 6 and 16 (the default).
- **Latency**: `firstblock serve` and `firstblock web` as users run them, N accounts
  pushed, 50 ms added to every Graph answer. Once every account is subscribed, a
  meeting is booked over the first prospecting block of K of them, a few a second;
  the time from each booking to the block moved, as the emulator's calendar shows it.
"""

from __future__ import annotations

import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import fleet
from bench.web import free_port
from tests.emulators.graph import GraphEmulator
from worker.config import Push

DAYS = 14
SIZES = {True: (100, 30), False: (1000, 200)}  # accounts, changed accounts
RATE = 5.0  # bookings a second


class SimClock:
    def __init__(self, start: datetime) -> None:
        self.moment = start

    def now(self) -> datetime:
        return self.moment


def _push_config(path: Path, base: str, poll_hours: int, hold: bool) -> None:
    text = path.read_text().replace(
        "[hold]\nenabled = true", f"[hold]\nenabled = {str(hold).lower()}"
    )
    path.write_text(
        f'{text}[web]\nbase_url = "{base}"\n[push]\nenabled = true\npoll_hours = {poll_hours}\n'
    )


def _kind(method: str, path: str) -> str:
    if "/subscriptions" in path:
        return "upkeep"
    return "reads" if method == "GET" else "writes"


def idle(poll_hours: int, busy: bool, accounts: int = 3) -> dict[str, Any]:
    import uvicorn

    from worker import config as cfg
    from worker import roster, runner, serve
    from worker.state import State
    from worker.web.app import create

    graph = GraphEmulator(require_auth=True).start()
    server: uvicorn.Server | None = None
    try:
        graph.app(fleet.CLIENT, secret=fleet.SECRET)
        os.environ["REQUESTS_CA_BUNDLE"] = graph.ca_file
        zone = "America/New_York"
        if busy:
            users = fleet.populate(graph, accounts, zone)
        else:
            users = [f"rep{i}@contoso.com" for i in range(accounts)]
            for upn in users:
                graph.user(upn, timezone=zone)
        start = datetime.now(UTC).replace(hour=5, minute=0, second=0, microsecond=0)
        clock = SimClock(start)
        graph.clock = clock.now
        with tempfile.TemporaryDirectory(prefix="firstblock-bench-push-") as tmp:
            path = fleet.write_setup(Path(tmp), graph, users, zone)
            base = f"http://127.0.0.1:{free_port()}/"
            _push_config(path, base, poll_hours, busy)
            config = roster.load(cfg.load(path))
            app = create(lambda: config, clock)
            port = int(base.rsplit(":", 1)[1].strip("/"))
            server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
            threading.Thread(target=server.run, daemon=True).start()
            _wait(base + "healthz")
            state = State(config.state_location())
            interval = timedelta(minutes=config.serve.interval_minutes)
            due = {a.name: serve.Due(start, "start") for a in config.accounts}
            last: dict[str, runner.AccountResult] = {}
            cycles, settled_at = Counter[str](), start + timedelta(days=1)
            graph.reset_log()
            while True:
                name, moment = min(due.items(), key=lambda item: item[1].at)
                at = moment.at
                if at >= start + timedelta(days=DAYS):
                    break
                clock.moment = at
                if at >= settled_at and not cycles["counting"]:
                    graph.reset_log()  # the first day (first runs, first subscriptions) apart
                    cycles["counting"] = 1
                account = next(a for a in config.accounts if a.name == name)
                quiet = serve.is_quiet(config, last.get(name), moment.why)  # as serve does
                result = runner.run_one(
                    config, account, clock, apply=True, state=state, quiet=quiet
                )
                last[name] = result
                if result.errors:
                    raise RuntimeError(f"{name}: {result.errors[0]}")
                cycles[name] += 1
                due[name] = serve.next_action(config, result, clock.now(), interval)
                # What the app made of the notifications this cycle caused (our own
                # writes come back as news): serve would take them as due now.
                graph.wait_for_push(10)
                for pushed, why in state.nudges.take(at + timedelta(minutes=1)):
                    if state.own_writes.only_echoes(pushed, at):
                        continue  # as serve does: the echo of this cycle's writes
                    soon = serve.Due(at + timedelta(seconds=config.push.debounce_seconds), why)
                    due[pushed] = min(due[pushed], soon, key=lambda d: d.at)
                    cycles["pushed"] += 1
            state.close()
            graph.wait_for_push(10)  # our own writes' notifications, before the app stops
            server.should_exit = True
        hours = (DAYS - 1) * 24 * accounts
        kinds = Counter(_kind(r.method, r.path) for r in graph.requests if not r.batch_part)
        per_hour = {k: round(kinds[k] / hours, 3) for k in ("reads", "upkeep", "writes")}
        idle_cost = round((kinds["reads"] + kinds["upkeep"]) / hours, 3)
        return {
            "poll_hours": poll_hours,
            "calendar": "a client meeting a day, hold on" if busy else "no meetings, no hold",
            "days": DAYS - 1,
            "per_account_hour": per_hour,
            "idle_requests_per_hour": idle_cost,
            "cycles_per_day": round(
                sum(v for k, v in cycles.items() if k not in ("counting", "pushed"))
                / accounts
                / DAYS,
                1,
            ),
        }
    finally:
        if server is not None:
            server.should_exit = True
        graph.stop()


def _wait(url: str) -> None:
    for _ in range(300):
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer")


def _prospecting(graph: GraphEmulator, upn: str, after: datetime) -> dict[str, Any] | None:
    found = [
        e
        for e in graph.events(upn)
        if "Prospecting" in e.get("categories", [])
        and datetime.fromisoformat(e["start"]["dateTime"]).replace(tzinfo=UTC) > after
    ]
    return min(found, key=lambda e: str(e["start"]["dateTime"])) if found else None


def latency(n: int, changed: int, limit: float = 1800.0) -> dict[str, Any]:
    graph = GraphEmulator(require_auth=True).start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        graph.app(fleet.CLIENT, secret=fleet.SECRET)
        zone = fleet.local_zone_at(11)
        users = fleet.populate(graph, n, zone)
        with tempfile.TemporaryDirectory(prefix="firstblock-bench-push-") as tmp:
            path = fleet.write_setup(Path(tmp), graph, users, zone)
            fleet.with_workers(path, 32)
            base = f"http://127.0.0.1:{free_port()}/"
            _push_config(path, base, 6, True)
            env = {**os.environ, "REQUESTS_CA_BUNDLE": graph.ca_file}
            argv = [sys.executable, "-m", "worker"]
            listen = base.removeprefix("http://").strip("/")
            for args in (["web", "--listen", listen], ["serve"]):
                procs.append(
                    subprocess.Popen(
                        [*argv, *args, "--config", str(path)],
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            _wait(base + "healthz")
            graph.latency = fleet.LATENCY
            began = time.monotonic()
            while len(graph.subscriptions) < 2 * n and time.monotonic() - began < limit:
                time.sleep(0.5)
            subscribed = round(time.monotonic() - began, 1)
            time.sleep(5)  # the last first cycles finish
            now = datetime.now(UTC) + timedelta(minutes=20)
            picked = random.Random(3).sample(users, min(changed, n))
            targets = {u: _prospecting(graph, u, now) for u in picked}
            waiting: dict[str, tuple[float, str]] = {}
            took: list[float] = []
            for upn, block in targets.items():
                if block is None:
                    continue
                meeting = {"subject": "Acme call", "start": block["start"], "end": block["end"]}
                meeting["attendees"] = [
                    {"type": "required", "emailAddress": {"address": "jo@acme.com"}}
                ]
                graph.put_event(meeting, upn)
                waiting[upn] = (time.monotonic(), str(block["start"]["dateTime"]))
                took += _moved(graph, waiting)
                time.sleep(1 / RATE)
            deadline = time.monotonic() + 120
            while waiting and time.monotonic() < deadline:
                took += _moved(graph, waiting)
                time.sleep(0.1)
        ordered = sorted(took)
        return {
            "accounts": n,
            "changed": len(ordered) + len(waiting),
            "subscribed_s": subscribed,
            "moved": len(ordered),
            "not_moved_in_120s": len(waiting),
            "p50_s": round(statistics.median(ordered), 2) if ordered else None,
            "p95_s": round(ordered[int(0.95 * (len(ordered) - 1))], 2) if ordered else None,
            "max_s": round(ordered[-1], 2) if ordered else None,
        }
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(60)
        graph.stop()


def _moved(graph: GraphEmulator, waiting: dict[str, tuple[float, str]]) -> list[float]:
    done = []
    for upn, (booked, start) in list(waiting.items()):
        now = [
            str(e["start"]["dateTime"])
            for e in graph.events(upn)
            if "Prospecting" in e.get("categories", [])
        ]
        if start not in now:
            done.append(time.monotonic() - booked)
            del waiting[upn]
    return done


def run(quick: bool) -> dict[str, Any]:
    n, changed = SIZES[quick]
    default = Push.poll_hours
    costs = [idle(hours, busy) for busy in (False, True) for hours in (6, default)]
    return {"idle": costs, "latency": latency(n, changed)}


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "### Push",
        "",
        f"Idle accounts over {result['idle'][0]['days']} simulated days (Graph, app-only), "
        "requests per account-hour:",
        "",
        "| Calendar | poll_hours | Reads | Upkeep | Reads + upkeep | Writes | Cycles a day |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for c in result["idle"]:
        h = c["per_account_hour"]
        lines.append(
            f"| {c['calendar']} | {c['poll_hours']} | {h['reads']} | {h['upkeep']} | "
            f"{c['idle_requests_per_hour']} | {h['writes']} | {c['cycles_per_day']} |"
        )
    lat = result["latency"]
    lines += [
        "",
        f"{lat['accounts']} accounts pushed (one `serve`, one `firstblock web`, 50 ms per "
        f"Graph answer), all subscribed in {lat['subscribed_s']} s; a meeting booked over a "
        f"prospecting block of {lat['changed']} of them, {RATE:g} a second: the block "
        f"moved after p50 {lat['p50_s']} s, p95 {lat['p95_s']} s, max {lat['max_s']} s; "
        f"{lat['not_moved_in_120s']} not moved within 120 s.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    print(markdown(run(quick)))
