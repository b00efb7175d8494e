"""One `firstblock serve` process keeping many Outlook accounts current against the
Graph emulator, with latency injected into every answer.

A round is every account due at once: `serve` starts each account at "start" and is
stopped when every account has finished one cycle. Three rounds (ROUNDS), then steady
rounds again at other pool sizes. Measured on the serve process alone (the emulator
runs in the benchmark's process): wall time from serve's first log line to the last
finished cycle, CPU time after start-up (/proc/PID/stat), peak memory (VmHWM), and the
emulator's request log. Accounts are app-only, one app registration for all of them,
as an organisation would connect its reps.

The emulator stands in for Microsoft's servers, which are not on the worker's host.
With two or more CPUs it gets the last one to itself and serve the others: sharing
both, the two processes' switching and cache traffic showed up as serve's CPU (on 2
vCPUs, 6.2–6.9 ms per steady running cycle shared, 4.5 ms apart). PIN=0 shares them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from providers.credentials import SecretStore
from providers.outlook import auth
from tests.emulators.graph import GraphEmulator
from worker.state import SharedDocuments, State

CLIENT, SECRET = "bench-app", "bench-secret-not-real"
SECRET_KEY = "bench-encryption-key-not-real"  # for credentials in a team's shared state
CYCLE_DONE = " change(s), "  # in serve's line for a finished account-cycle
TICKS = os.sysconf("SC_CLK_TCK")
# The first run; the run after it, which reads back the blocks it wrote; the steady
# state, nothing changed, in a serve just started (its process caches empty); and the
# steady state in a serve that keeps running: its second pass over every account,
# as a serve spends most of its life.
ROUNDS = ("first", "after_writes", "steady", "running")
LATENCY = 0.05  # seconds per answer
INTERVAL = 15  # minutes: the cycle every account must be kept on
SERVE = (sys.executable, "-m", "worker", "serve")
PIN = os.environ.get("PIN", "1") != "0"


def split_cpus() -> tuple[set[int], set[int]] | None:
    """(serve's CPUs, the emulator's), or None to share them all."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not PIN or len(cpus) < 2:
        return None
    return set(cpus[:-1]), {cpus[-1]}


@contextmanager
def on_cpus(cpus: set[int] | None) -> Iterator[None]:
    """This thread on `cpus` for the block: threads and processes it starts inherit it."""
    if cpus is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


@dataclass
class Serve:
    """A running `firstblock serve` and what its log says."""

    proc: subprocess.Popen[str]
    done: list[tuple[float, str]] = field(default_factory=list)  # (monotonic, account)
    errors: list[str] = field(default_factory=list)
    began: tuple[float, float] | None = None  # (monotonic, cpu) at "serving N account(s)"

    def read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            try:
                entry = json.loads(line)
            except ValueError:
                self.errors.append(line.strip()[:200])
                continue
            message = str(entry.get("message", ""))
            if entry.get("level") == "error":
                self.errors.append(message[:200])
            elif message.startswith("serving ") and self.began is None:
                self.began = (time.monotonic(), self.cpu())
            elif CYCLE_DONE in message:
                self.done.append((time.monotonic(), str(entry.get("account"))))

    def cpu(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0


def local_zone_at(hour: int) -> str:
    """A fixed-offset zone where it is now about `hour` o'clock, so the workday (and the
    inbox hold) is on whenever the benchmark runs."""
    offset = (hour - datetime.now(UTC).hour + 12) % 24 - 12
    return "Etc/GMT" + (f"-{offset}" if offset > 0 else f"+{-offset}" if offset else "")


def _utc(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def populate(graph: GraphEmulator, n: int, zone: str) -> list[str]:
    """n mailboxes, each with a client meeting a day for a week and three messages."""
    today = datetime.now(ZoneInfo(zone)).replace(hour=14, minute=0, second=0, microsecond=0)
    users = []
    for i in range(n):
        upn = f"rep{i}@contoso.com"
        graph.user(upn, timezone=zone)  # the config's zone: the mailbox's hours apply
        buyer = {"type": "required", "emailAddress": {"address": f"buyer{i}@acme.com"}}
        for day in range(7):
            start = today + timedelta(days=day)
            event = {"subject": f"Call {day}", "attendees": [buyer]}
            end = start + timedelta(hours=1)
            graph.put_event({**event, "start": _utc(start), "end": _utc(end)}, upn)
        for k in range(3):
            received = datetime.now(UTC) - timedelta(minutes=10 + k)
            graph.arrive(sender=f"vendor{k}@example.net", received=received, upn=upn)
        users.append(upn)
    return users


def write_setup(
    folder: Path, graph: GraphEmulator, users: list[str], zone: str, state_url: str = ""
) -> Path:
    """The config and each account's credentials. With a team's `state_url`, the
    credentials go into the shared state, encrypted with SECRET_KEY."""
    state = folder / "state"
    shared = State(state_url) if state_url else None
    store = SecretStore(
        state / "credentials",
        key=SECRET_KEY if shared else None,
        shared=SharedDocuments(shared) if shared else None,
    )
    authority = auth.authority(graph.url, graph.tenant_id)
    lines = [f'timezone = "{zone}"', f'state_dir = "{state}"', "[hold]\nenabled = true"]
    if state_url:
        lines.insert(0, f'state_url = "{state_url}"')
    for i, upn in enumerate(users):
        # What `firstblock connect outlook --app-only` stores, written directly.
        doc = {"type": "app", "client_id": CLIENT, "authority": authority, "user": upn}
        store.save(f"outlook-rep{i}", {**doc, "secret": SECRET})
        lines.append(
            f'[[accounts]]\nname = "rep{i}"\nprovider = "outlook"\nemail = "{upn}"\n'
            f'api_root = "{graph.url}"\nlogin_root = "{graph.url}"'
        )
    if shared:
        shared.close()
    config = folder / "firstblock.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


def with_workers(config: Path, workers: int, interval: int = INTERVAL) -> None:
    text = config.read_text().split("\n[serve]")[0].rstrip("\n")
    config.write_text(f"{text}\n[serve]\ninterval_minutes = {interval}\nworkers = {workers}\n")


def serve_round(
    config: Path,
    graph: GraphEmulator,
    n: int,
    limit: float,
    passes: int = 1,
    cpus: set[int] | None = None,
) -> dict[str, Any]:
    """Start serve, wait until every account has finished `passes` cycles, stop it.
    With two passes, only the second is measured (CPU, wall time, requests)."""
    env = {**os.environ, "REQUESTS_CA_BUNDLE": graph.ca_file, "FIRSTBLOCK_CONFIG": str(config)}
    graph.reset_log()
    with on_cpus(cpus):
        proc = subprocess.Popen(
            [*SERVE, "--config", str(config), "--log-format", "json"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
    serve = Serve(proc)
    reader = threading.Thread(target=serve.read, daemon=True)
    reader.start()
    started, peak, cpu = time.monotonic(), 0.0, 0.0
    first_pass: tuple[float, float, int] | None = None  # (monotonic, cpu, requests)
    # CPU when the second pass's first cycle is seen (within 50 ms): the idle minute
    # between the passes is the serve's, not its cycles'.
    second: tuple[float, float, int] | None = None  # (monotonic, cpu, cycles done)
    while time.monotonic() - started < limit:
        time.sleep(0.05 if passes > 1 else 0.2)
        if proc.poll() is not None:
            break
        peak, cpu = serve.peak_rss_mb(), serve.cpu()
        if len({a for _, a in serve.done}) < n:
            continue
        if passes == 1 or len(serve.done) >= passes * n:
            break
        if first_pass is None:
            first_pass = (time.monotonic(), cpu, len(graph.requests))
        if second is None and len(serve.done) > n:
            second = (time.monotonic(), cpu, len(serve.done))
    if proc.poll() is None:
        peak, cpu = serve.peak_rss_mb(), serve.cpu()
        proc.send_signal(signal.SIGTERM)
        proc.wait(120)
    reader.join(5)
    began_at, began_cpu = serve.began or (started, 0.0)
    last = max((t for t, _ in serve.done), default=time.monotonic())
    done = len({a for _, a in serve.done})
    requests = [r for r in graph.requests if not r.batch_part]
    measured, idle = done, None  # cycles the CPU figure covers; serve's idle ms per s
    if first_pass is not None:  # the second pass alone
        at, began_cpu, skip = first_pass
        began_at = min((t for t, _ in serve.done[n:]), default=at)
        done = measured = len(serve.done) - n
        requests = [r for r in graph.requests[skip:] if not r.batch_part]
        if second is not None:
            idle = round((second[1] - began_cpu) / max(second[0] - at, 1e-9) * 1000, 2)
            began_cpu, measured = second[1], len(serve.done) - second[2]
    api = [r for r in requests if r.path.startswith("/v1.0/")]
    wall = max(last - began_at, 1e-9)
    return {
        "accounts_done": done,
        "wall_s": round(wall, 2),
        "accounts_per_min": round(done / wall * 60),
        "cpu_ms_per_cycle": round((cpu - began_cpu) / max(measured, 1) * 1000, 1),
        "idle_cpu_ms_per_s": idle,
        "startup_cpu_s": round(began_cpu, 2),
        "peak_rss_mb": round(peak, 1),
        "api_requests_per_cycle": round(len(api) / max(done, 1), 2),
        "auth_requests": len(requests) - len(api),
        "errors": serve.errors[:3],
        "error_count": len(serve.errors),
    }


def fleet(
    n: int, workers: int, sweep: tuple[int, ...] = (), limit: float = 7200.0
) -> dict[str, Any]:
    """The three rounds for n accounts with `workers` threads, then a steady round for
    each pool size in `sweep`."""
    split = split_cpus()
    serve_cpus, emulator_cpus = split or (None, None)
    with on_cpus(emulator_cpus):  # the emulator's threads start here and inherit it
        graph = GraphEmulator(require_auth=True).start()
    try:
        graph.app(CLIENT, secret=SECRET)
        zone = local_zone_at(11)
        users = populate(graph, n, zone)
        with tempfile.TemporaryDirectory(prefix="firstblock-bench-") as tmp:
            config = write_setup(Path(tmp), graph, users, zone)
            with_workers(config, workers)
            graph.latency = LATENCY
            rounds = {
                name: serve_round(config, graph, n, limit, cpus=serve_cpus) for name in ROUNDS[:-1]
            }
            with_workers(config, workers, interval=1)  # the second pass a minute later
            rounds["running"] = serve_round(config, graph, n, limit, passes=2, cpus=serve_cpus)
            with_workers(config, workers)
            pools = {}
            for size in sweep:
                with_workers(config, size)
                pools[str(size)] = serve_round(config, graph, n, limit, cpus=serve_cpus)
        return {"accounts": n, "workers": workers, **rounds, "steady_by_workers": pools}
    finally:
        graph.stop()


def run(quick: bool, sizes: tuple[int, ...] | None = None) -> dict[str, Any]:
    workers = 32
    sizes = sizes or ((20,) if quick else (100, 1000))
    sweep_n, sweep = (20, (1, 8)) if quick else (200, (1, 4, 16, 64))
    fleets = [fleet(n, workers) for n in sizes]
    pools = fleet(sweep_n, workers, sweep)
    return {
        "settings": {"latency_s": LATENCY, "interval_minutes": INTERVAL, "workers": workers,
                     "provider": "outlook (Graph emulator, app-only)", "cpus": os.cpu_count(),
                     "pinned": split_cpus() is not None},
        "fleets": fleets,
        "sweep": {"accounts": sweep_n, **pools["steady_by_workers"]},
    }  # fmt: skip


def markdown(result: dict[str, Any]) -> str:
    s = result["settings"]
    lines = [
        "### One `serve` process, many accounts",
        "",
        f"Outlook accounts on the Graph emulator, {s['latency_s'] * 1000:.0f} ms added to every "
        f"answer, {s['workers']} worker threads, {s['cpus']} CPUs, "
        + (
            "the emulator on one of them and serve on the rest. "
            if s.get("pinned")
            else "shared with the emulator. "
        )
        + "A round is every account due at once; CPU is the serve process's own, after start-up.",
        "",
        "| Accounts | Round | Accounts/min | CPU ms/cycle | API requests/cycle | "
        "Auth requests | Peak RSS MB | Errors |",
        "|--:|---|--:|--:|--:|--:|--:|--:|",
    ]
    for f in result["fleets"]:
        for name in ROUNDS:
            r = f[name]
            lines.append(
                f"| {f['accounts']:,} | {name.replace('_', ' ')} | {r['accounts_per_min']:,} | "
                f"{r['cpu_ms_per_cycle']} | {r['api_requests_per_cycle']} | "
                f"{r['auth_requests']} | {r['peak_rss_mb']} | {r['error_count']} |"
            )
    sweep = result["sweep"]
    lines += [
        "",
        f"Steady state by pool size ({sweep['accounts']} accounts):",
        "",
        "| Workers | Accounts/min | Wall s per cycle, one at a time | CPU ms/cycle | Peak RSS MB |",
        "|--:|--:|--:|--:|--:|",
    ]
    for size, r in sweep.items():
        if size == "accounts":
            continue
        per = r["wall_s"] / max(r["accounts_done"], 1) if size == "1" else None
        lines.append(
            f"| {size} | {r['accounts_per_min']:,} | {'' if per is None else f'{per:.3f}'} | "
            f"{r['cpu_ms_per_cycle']} | {r['peak_rss_mb']} |"
        )
    lines += ["", *verdict(result)]
    return "\n".join(lines) + "\n"


def verdict(result: dict[str, Any]) -> list[str]:
    """What the figures say about docs/design.md §4's throughput target, extrapolated where a
    size was not run."""
    fleets = sorted(result["fleets"], key=lambda f: f["accounts"])
    biggest = fleets[-1]
    steady, running = biggest["steady"], biggest["running"]
    need = 10_000 / INTERVAL
    share = steady["cpu_ms_per_cycle"] * 10_000 / 1000 / (INTERVAL * 60)
    out = [
        f"- Needed for 10,000 accounts on a {INTERVAL}-minute cycle: {need:,.0f} accounts/min. "
        f"Measured steady state at {biggest['accounts']:,} accounts: "
        f"{steady['accounts_per_min']:,}/min ({steady['accounts_per_min'] / need:.1f}× the need).",
        f"- CPU per steady account-cycle: {steady['cpu_ms_per_cycle']} ms in a serve just "
        f"started; 10,000 accounts every {INTERVAL} minutes would use {share:.0%} of one core.",
        f"- In a serve that keeps running (its second pass): {running['cpu_ms_per_cycle']} ms "
        "per steady account-cycle; between its passes, idle, it used "
        f"{running.get('idle_cpu_ms_per_s')} ms of CPU a second.",
    ]
    if len(fleets) > 1:
        small, big = fleets[0], fleets[-1]
        growth = (big["steady"]["peak_rss_mb"] - small["steady"]["peak_rss_mb"]) / (
            big["accounts"] - small["accounts"]
        )
        out.append(
            f"- Memory grows by {growth * 1024:.1f} KB per account "
            f"({small['accounts']:,} → {big['accounts']:,} accounts)."
        )
    return out


if __name__ == "__main__":
    sizes = tuple(int(a) for a in sys.argv[1:]) or None
    print(markdown(run(quick=False, sizes=sizes)))
