"""Team scale: accounts kept current per minute by 1, 2 and 4 Celery worker processes
on this machine, the state in PostgreSQL and the queue in Redis, against the Graph
emulator with latency injected into every answer.

A round is every account due at once (their schedule set to now in the shared state);
beat's fan-out queues them and the workers run them. First the first runs, then the
steady state. Needs Redis and PostgreSQL (BENCH_REDIS, BENCH_POSTGRES; the defaults
are this machine's); the section says so and is skipped without them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench import fleet
from tests.emulators.graph import GraphEmulator
from worker.state import State

REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/8")
POSTGRES = os.environ.get("BENCH_POSTGRES", "postgresql://127.0.0.1/postgres")
THREADS = 16  # per worker process


def _runs(url: str, names: list[str]) -> int:
    state = State(url)
    try:
        rows = state.db.execute("SELECT account, count(*) FROM runs GROUP BY account")
        counts = dict(rows.fetchall())
    finally:
        state.close()
    return min((counts.get(n, 0) for n in names), default=0)


def _round(url: str, names: list[str], want: int, limit: float) -> float:
    """Make every account due now; seconds until each has `want` runs logged."""
    state = State(url)
    try:
        with state.db:
            state.db.execute("UPDATE schedule SET due = ?", ("1970-01-01T00:00:00+00:00",))
    finally:
        state.close()
    started = time.monotonic()
    while _runs(url, names) < want and time.monotonic() - started < limit:
        time.sleep(0.25)
    return time.monotonic() - started


def team(n: int, processes: int, limit: float = 1800.0) -> dict[str, Any]:
    import psycopg
    import redis

    redis.Redis.from_url(REDIS).flushdb()
    name = f"firstblock_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(POSTGRES, autocommit=True)
    admin.execute(f"CREATE DATABASE {name}")
    url = POSTGRES.rsplit("/", 1)[0] + "/" + name
    graph = GraphEmulator(require_auth=True).start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        graph.app(fleet.CLIENT, secret=fleet.SECRET)
        zone = fleet.local_zone_at(11)
        users = fleet.populate(graph, n, zone)
        names = [f"rep{i}" for i in range(n)]
        with tempfile.TemporaryDirectory(prefix="firstblock-bench-team-") as tmp:
            config = fleet.write_setup(Path(tmp), graph, users, zone, url)
            graph.latency = fleet.LATENCY
            env = {
                **os.environ,
                "FIRSTBLOCK_CONFIG": str(config),
                "FIRSTBLOCK_BROKER_URL": REDIS,
                "REQUESTS_CA_BUNDLE": graph.ca_file,
                "FIRSTBLOCK_FAN_OUT_SECONDS": "1",
                "FIRSTBLOCK_SECRET_KEY": fleet.SECRET_KEY,
            }
            celery = [sys.executable, "-m", "celery", "-A", "worker.team"]
            pool = ["--pool", "threads", "--concurrency", str(THREADS), "--loglevel", "warning"]
            for i in range(processes):
                procs.append(
                    subprocess.Popen(
                        [*celery, "worker", *pool, "-n", f"bench{i}@%h"],
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            beat = ["beat", "-s", str(Path(tmp) / "beat"), "--loglevel", "warning"]
            procs.append(
                subprocess.Popen(
                    [*celery, *beat], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
            )
            first = _round(url, names, 1, limit)
            _round(url, names, 2, limit)  # reads back its own writes
            steady = _round(url, names, 3, limit)
            done = _runs(url, names)
        return {
            "accounts": n,
            "processes": processes,
            "threads_per_process": THREADS,
            "first_per_min": round(n / first * 60),
            "steady_per_min": round(n / steady * 60),
            "rounds_done": done,
        }
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
        graph.stop()
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def run(quick: bool) -> dict[str, Any]:
    try:
        import psycopg
        import redis

        redis.Redis.from_url(REDIS, socket_connect_timeout=3).ping()
        psycopg.connect(POSTGRES, connect_timeout=3).close()
    except Exception as exc:  # any missing piece: say so, measure nothing
        return {"skipped": f"needs Redis and PostgreSQL ({type(exc).__name__}: {exc})"[:300]}
    n = 60 if quick else 400
    counts = (1, 2) if quick else (1, 2, 4)
    return {
        "settings": {"latency_s": fleet.LATENCY, "threads_per_process": THREADS,
                     "cpus": os.cpu_count()},
        "runs": [team(n, k) for k in counts],
    }  # fmt: skip


def markdown(result: dict[str, Any]) -> str:
    lines = ["### Team scale: Celery workers on this machine", ""]
    if "skipped" in result:
        return "\n".join([*lines, f"Skipped: {result['skipped']}", ""])
    s = result["settings"]
    lines += [
        f"Outlook accounts on the Graph emulator, {s['latency_s'] * 1000:.0f} ms per answer; "
        f"worker processes of {s['threads_per_process']} threads with beat, the state in "
        f"PostgreSQL, the queue in Redis, all on these {s['cpus']} CPUs with the emulator.",
        "",
        "| Accounts | Worker processes | First runs/min | Steady accounts/min |",
        "|--:|--:|--:|--:|",
    ]
    for r in result["runs"]:
        lines.append(
            f"| {r['accounts']:,} | {r['processes']} | {r['first_per_min']:,} | "
            f"{r['steady_per_min']:,} |"
        )
    return "\n".join(lines) + "\n"
