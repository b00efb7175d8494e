"""The web app: server time of the week page on a 300-event calendar, and requests a
second with many reps browsing at once.

Server time is measured in process: the ASGI app answers through Starlette's test
client, and the time of each answer is taken around the call (the client's own part
is a few hundred microseconds of it). A calendar is parsed once and kept while its
file is unchanged (providers/local/cache.py), so the page is timed a second time
with the file touched before each answer: the first look after a save. The
settings preview is timed the same way, for a rep whose account is in the state
store (only those can be changed on the web): each answer plans next week with the
submitted hours, which no cache can serve. The load
part starts `firstblock web` as users run it (uvicorn, one process) and runs a load
tool against it: `REPS` clients, each a rep with an account of their own, opening
their week page over and over for a fixed time, keep-alive, as browsers do; it
reports requests a second and latency percentiles. Local accounts, so what is
measured is the app, not a provider.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ZONE = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 30, 7, 0, tzinfo=ZONE)
EVENTS = 300  # on each calendar, over the four weeks around the horizon
REPS = {True: 20, False: 100}
SECONDS = {True: 5.0, False: 20.0}
SAMPLES = {True: 10, False: 40}


def calendar(events: int, seed: int) -> str:
    """`events` meetings of 30 to 90 minutes in working hours, some with a client."""
    import random

    rng = random.Random(seed)
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//firstblock//bench//EN"]
    start = NOW - timedelta(days=7)
    for i in range(events):
        day = start + timedelta(days=rng.randrange(28))
        begin = day.replace(hour=rng.randrange(8, 17), minute=rng.choice((0, 30)))
        end = begin + timedelta(minutes=rng.choice((30, 60, 90)))
        who = "jo@acme.com" if rng.random() < 0.3 else "ana@example.com"
        lines += [
            "BEGIN:VEVENT",
            f"UID:bench-{seed}-{i}",
            "DTSTAMP:20261101T000000Z",
            f"DTSTART:{begin.astimezone(ZoneInfo('UTC')):%Y%m%dT%H%M%SZ}",
            f"DTEND:{end.astimezone(ZoneInfo('UTC')):%Y%m%dT%H%M%SZ}",
            f"SUMMARY:Meeting {i}",
            f"ATTENDEE:mailto:{who}",
            "END:VEVENT",
        ]
    return "\r\n".join([*lines, "END:VCALENDAR", ""])


def setup(folder: Path, reps: int) -> Path:
    accounts = []
    for n in range(reps):
        (folder / f"rep{n}.ics").write_text(calendar(EVENTS, n), newline="")
        accounts.append(
            f'[[accounts]]\nname = "rep{n}"\ncalendar = "{folder / f"rep{n}.ics"}"\n'
            'email = "me@example.com"\n'
        )
    path = folder / "firstblock.toml"
    path.write_text(
        f'timezone = "America/New_York"\nstate_dir = "{folder / "state"}"\n'
        '[followups]\ninternal_domains = ["example.com"]\n' + "".join(accounts)
    )
    return path


def server_time(config_path: Path, samples: int) -> dict[str, Any]:
    from starlette.testclient import TestClient

    from worker import cli, roster
    from worker import config as cfg
    from worker.clock import FixedClock
    from worker.web.app import create

    # One more rep, added as the web app adds them: into the state store.
    stored = config_path.parent / "stored.ics"
    stored.write_text(calendar(EVENTS, 10_000), newline="")
    argv = ["accounts", "add", "stored", f"calendar={stored}", "email=me@example.com"]
    assert cli.main([*argv, "--config", str(config_path)]) == 0
    config = roster.load(cfg.load(config_path))
    client = TestClient(create(lambda: config, FixedClock(NOW)))
    ics = config_path.parent / "rep0.ics"  # as setup() writes it

    cpu: list[float] = []

    def timed(touch: bool) -> float:
        if touch:  # a new mtime: the cached parse no longer serves
            os.utime(ics, ns=(time.time_ns(), time.time_ns()))
        started, used = time.perf_counter(), time.process_time()
        answer = client.get("/a/rep0")
        assert answer.status_code == 200
        cpu.append((time.process_time() - used) * 1000)
        return (time.perf_counter() - started) * 1000

    times = [timed(False) for _ in range(samples)]
    # CPU time of the process (app and client): what a busy machine inflates least.
    cpu_ms = statistics.median(cpu)
    saved = sorted(timed(True) for _ in range(samples))
    previews = sorted(preview(client) for _ in range(samples))
    return {
        "samples": samples,
        "events": EVENTS,
        "median_ms": round(statistics.median(times), 1),
        "p95_ms": round(sorted(times)[int(0.95 * (len(times) - 1))], 1),
        "best_ms": round(min(times), 1),
        "cpu_median_ms": round(cpu_ms, 1),
        "after_save_median_ms": round(statistics.median(saved), 1),
        "after_save_p95_ms": round(saved[int(0.95 * (len(saved) - 1))], 1),
        "preview_median_ms": round(statistics.median(previews), 1),
        "preview_p95_ms": round(previews[int(0.95 * (len(previews) - 1))], 1),
    }


def preview(client: Any) -> float:
    """Server time of one settings preview: new hours, next week planned with them."""
    page = client.get("/a/stored/settings")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert page.status_code == 200, page.status_code
    assert token, "the settings page has no form"
    form = {"csrf": token.group(1), "workday.hours": "10:00-16:00", "action": "preview"}
    started = time.perf_counter()
    answer = client.post("/a/stored/settings", data=form)
    elapsed = (time.perf_counter() - started) * 1000
    assert answer.status_code == 200, answer.status_code
    assert 'class="preview' in answer.text, "no preview on the page"
    return elapsed


def process_cpu(pid: int) -> float | None:
    """CPU seconds a process has used, where /proc tells (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def browse(url: str, reps: int, seconds: float, pid: int) -> dict[str, Any]:
    import httpx2 as httpx  # the test client's transport, asynchronous here

    latencies: list[float] = []
    failures = 0
    stop = 0.0

    async def rep(n: int) -> None:
        nonlocal failures
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            while time.monotonic() < stop:
                started = time.perf_counter()
                answer = await client.get(f"/a/rep{n}")
                latencies.append((time.perf_counter() - started) * 1000)
                failures += answer.status_code != 200

    async def first_look(n: int) -> float:
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            started = time.perf_counter()
            answer = await client.get(f"/a/rep{n}")
            assert answer.status_code == 200, answer.status_code
            return (time.perf_counter() - started) * 1000

    # Every rep's first look parses their calendar; that is timed on its own, so the
    # browsing below measures the pages people reload, not a cold start.
    firsts = sorted(await asyncio.gather(*(first_look(n) for n in range(reps))))
    used = process_cpu(pid)
    started = time.monotonic()
    stop = time.monotonic() + seconds
    await asyncio.gather(*(rep(n) for n in range(reps)))
    elapsed = time.monotonic() - started
    ordered = sorted(latencies)
    spent = process_cpu(pid)
    cpu = (
        {}
        if used is None or spent is None or not latencies
        else {"server_cpu_ms": round((spent - used) * 1000 / len(latencies), 1)}
    )
    return cpu | {
        "first_look_all_ms": round(firsts[-1], 1),
        "reps": reps,
        "seconds": round(elapsed, 1),
        "requests": len(latencies),
        "failures": failures,
        "per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(ordered[len(ordered) // 2], 1) if ordered else None,
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 1) if ordered else None,
    }


def run(quick: bool) -> dict[str, Any]:
    reps = REPS[quick]
    with tempfile.TemporaryDirectory(prefix="firstblock-bench-web-") as tmp:
        path = setup(Path(tmp), reps)
        timing = server_time(path, SAMPLES[quick])
        port = free_port()
        argv = ["web", "--config", str(path), "--now", NOW.isoformat()]
        proc = subprocess.Popen(
            [sys.executable, "-m", "worker", *argv, "--listen", f"127.0.0.1:{port}"],
            env={**os.environ},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    urllib.request.urlopen(url + "/healthz", timeout=1).read()
                    break
                except OSError:
                    time.sleep(0.05)
            load = asyncio.run(browse(url, reps, SECONDS[quick], proc.pid))
        finally:
            proc.terminate()
            proc.wait(10)
    return {"week_page": timing, "browsing": load}


def markdown(result: dict[str, Any]) -> str:
    w, b = result["week_page"], result["browsing"]
    return "\n".join(
        [
            "### Web app",
            "",
            f"Week page on a {w['events']}-event calendar, server time over {w['samples']}"
            f" answers: median {w['median_ms']} ms, p95 {w['p95_ms']} ms, best {w['best_ms']} ms"
            f" (CPU {w['cpu_median_ms']} ms);"
            f" just after the file is saved: median {w['after_save_median_ms']} ms,"
            f" p95 {w['after_save_p95_ms']} ms. Settings preview (next week planned with"
            f" new hours): median {w['preview_median_ms']} ms, p95 {w['preview_p95_ms']} ms.",
            "",
            f"{b['reps']} reps open their week pages at once against one `firstblock web`"
            f" process: the last gets it after {b['first_look_all_ms']} ms (every calendar"
            f" parsed for the first time). Then they reload them over and over for"
            f" {b['seconds']} s: {b['per_second']} requests/s, p50"
            f" {b['p50_ms']} ms, p95 {b['p95_ms']} ms, {b['requests']} requests,"
            f" {b['failures']} failed"
            + (f"; server CPU {b['server_cpu_ms']} ms a request." if "server_cpu_ms" in b else "."),
        ]
    )
