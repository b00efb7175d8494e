"""Hostile recurrences: calendars built to make expansion run away, planned through the
local provider, each in a fresh child process.

The shapes are the test calendars in tests/data/calendars/hostile_*.ics (every second
or minute since year 1, BY-expansions to every minute or second, impossible rules, a
VTIMEZONE with secondly rules, 40 risky events in one file), each alone, then all in
one file, then hidden in a 30,000-event ordinary calendar (seeded: meetings over twelve
years, a few hundred weekly and daily series), and last 30,000 hostile events at once.
A child reads the file with LocalCalendar.fetch and plans it (default config, the
longest horizon: 60 workdays), under an address-space limit and a timeout, and
reports its wall and CPU time, its peak resident memory (VmHWM, the interpreter's own
~25 MB included: see the empty calendar) and the problems reported.
"""

from __future__ import annotations

import json
import platform
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "calendars"
ZONE = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 30, 7, 0, tzinfo=ZONE)  # a Monday, before the workday starts
SHAPES = ("secondly", "minutely", "by_expansion", "impossible", "vtimezone", "many")
HIDDEN = ("secondly", "impossible", "vtimezone")  # the few in the big ordinary file
ORDINARY = {True: 3_000, False: 30_000}  # events in the ordinary calendar, by `quick`
YEARS = 12  # that they span
SERIES = 0.01  # of them recurring
LIMIT = 2 << 30  # address space of a child, bytes
TIMEOUT = 300  # seconds
SEED = 11

CHILD = r"""
import json, resource, sys, time
from pathlib import Path

resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[2]),) * 2)
from bench.planner import NOW, rules
from providers.local.calendar import LocalCalendar
from worker import planner

def peak():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

plan_rules = rules(60)
wall, cpu = time.monotonic(), time.process_time()
snapshot = LocalCalendar(Path(sys.argv[1])).fetch(planner.window(plan_rules, NOW))
result = planner.plan(list(snapshot.events), (), frozenset(), plan_rules, NOW)
print(json.dumps({
    "wall_s": time.monotonic() - wall,
    "cpu_s": time.process_time() - cpu,
    "peak_mb": peak(),
    "events_read": len(snapshot.events),
    "blocks": len(result.blocks),
    "problems": list(snapshot.problems),
}))
"""


def run(quick: bool) -> dict[str, Any]:
    cases: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="firstblock-hostile-") as tmp:
        folder = Path(tmp)
        files = {"empty calendar": _write(folder / "empty.ics", [])}
        for shape in SHAPES:
            files[shape] = DATA / f"hostile_{shape}.ics"
        files["all shapes in one file"] = _write(folder / "all.ics", _bodies(SHAPES))
        size = ORDINARY[quick]
        ordinary = _ordinary(size)
        files[f"ordinary, {size:,} events"] = _write(folder / "ordinary.ics", ordinary)
        files[f"ordinary, {size:,} events, {len(HIDDEN)} hostile shapes in it"] = _write(
            folder / "mixed.ics", ordinary + _bodies(HIDDEN)
        )
        files[f"{size:,} hostile events"] = _write(folder / "hostile.ics", _hostile(size))
        for name, path in files.items():
            cases.append({"case": name, "vevents": _count(path), **_measure(path)})
    return {
        "cases": cases,
        "settings": {
            "python": f"{platform.python_implementation()} {platform.python_version()}",
            "machine": platform.machine(),
            "horizon_workdays": 60,
            "now": NOW.isoformat(),
            "limit_gb": LIMIT / (1 << 30),
            "timeout_s": TIMEOUT,
        },
    }


def _measure(path: Path) -> dict[str, Any]:
    """One case in a fresh interpreter, with the limits."""
    began = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(path), str(LIMIT)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            cwd=ROOT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"outcome": f"killed after {TIMEOUT} s", "wall_s": time.monotonic() - began}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {"outcome": f"failed: {last[:120]}", "wall_s": time.monotonic() - began}
    figures: dict[str, Any] = json.loads(done.stdout)
    figures["outcome"] = "planned"
    for key in ("wall_s", "cpu_s", "peak_mb"):
        figures[key] = round(figures[key], 2 if key != "peak_mb" else 1)
    return figures


def _write(path: Path, body: list[str]) -> Path:
    head = ["BEGIN:VCALENDAR", "PRODID:-//firstblock//bench//EN", "VERSION:2.0"]
    path.write_text("\r\n".join([*head, *body, "END:VCALENDAR"]) + "\r\n")
    return path


def _bodies(shapes: tuple[str, ...]) -> list[str]:
    """The components of the shapes' test calendars, one after another."""
    lines: list[str] = []
    for shape in shapes:
        text = (DATA / f"hostile_{shape}.ics").read_text()
        inner = text.replace("\r\n", "\n").split("\n")
        lines += [ln for ln in inner[3:] if ln and ln != "END:VCALENDAR"]
    return lines


def _count(path: Path) -> int:
    return path.read_text().count("BEGIN:VEVENT")


def _ordinary(count: int) -> list[str]:
    """Meetings over twelve years up to a year from now (about seven a day: a busy
    person's whole history), a few of them weekly or daily series, most of which end."""
    rng = random.Random(SEED)
    first = NOW.date() - timedelta(days=YEARS * 365 - 365)
    lines: list[str] = []
    for i in range(count):
        day = first + timedelta(days=rng.randrange(YEARS * 365))
        hour, minute = rng.randrange(7, 19), rng.choice((0, 30))
        start = datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE)
        end = start + timedelta(minutes=rng.choice((30, 45, 60, 90)))
        lines += [
            "BEGIN:VEVENT",
            f"UID:ordinary-{i}@bench",
            "DTSTAMP:20260101T000000Z",
            f"DTSTART;TZID=America/New_York:{start:%Y%m%dT%H%M%S}",
            f"DTEND;TZID=America/New_York:{end:%Y%m%dT%H%M%S}",
            f"SUMMARY:Meeting {i}",
        ]
        if rng.random() < SERIES:  # most series end; one in thirty goes on
            rule = rng.choice(("FREQ=WEEKLY", "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR"))
            end = "" if rng.random() < 1 / 30 else f";COUNT={rng.randrange(4, 30)}"
            lines.append(f"RRULE:{rule}{end}")
        if rng.random() < 0.3:
            lines.append(f"ATTENDEE;CN=Client {i};PARTSTAT=ACCEPTED:mailto:c{i}@client.example")
        lines.append("END:VEVENT")
    return lines


def _hostile(count: int) -> list[str]:
    """Every event hostile: every second, February 30th, every minute a billion times."""
    rules = (
        "FREQ=SECONDLY",
        "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=MINUTELY;COUNT=1000000000",
    )
    lines: list[str] = []
    for i in range(count):
        lines += [
            "BEGIN:VEVENT",
            f"UID:hostile-{i}@bench",
            "DTSTAMP:20260101T000000Z",
            "DTSTART;TZID=America/New_York:20200106T090000",
            "DTEND;TZID=America/New_York:20200106T093000",
            f"RRULE:{rules[i % len(rules)]}",
            f"SUMMARY:Hostile {i}",
            "END:VEVENT",
        ]
    return lines


def markdown(result: dict[str, Any]) -> str:
    s = result["settings"]
    lines = [
        "### Hostile recurrences",
        "",
        "Each calendar read (`LocalCalendar.fetch`) and planned (default config, the longest"
        f" horizon: {s['horizon_workdays']} workdays from {s['now']}) in a fresh"
        f" {s['python']} process limited to {s['limit_gb']:g} GB of address space and"
        f" {s['timeout_s']} s. Peak: resident memory (VmHWM) of that process, the"
        " interpreter included (see the empty calendar). Problems: lines reported, by kind.",
        "",
        "| Calendar | VEVENTs | Outcome | Wall s | CPU s | Peak MB | Events read | Blocks"
        " | Problems |",
        "|---|--:|---|--:|--:|--:|--:|--:|---|",
    ]
    for c in result["cases"]:
        figures = [c.get(k, "") for k in ("wall_s", "cpu_s", "peak_mb")]
        lines.append(
            f"| {c['case']} | {c['vevents']:,} | {c['outcome']} | "
            + " | ".join(str(x) for x in figures)
            + f" | {c.get('events_read', '')} | {c.get('blocks', '')} | {_kinds(c)} |"
        )
    return "\n".join(lines) + "\n"


def _kinds(case: dict[str, Any]) -> str:
    """Problems counted by what they say after the event's name."""
    counts: dict[str, int] = {}
    for problem in case.get("problems", []):
        # "event 'X' (UID y): why; ...", or "time zone 'Z' is not used: why"
        kind = problem.split("): ", 1)[1] if "): " in problem else problem.split(":")[0]
        kind = kind.split(";")[0]
        counts[kind] = counts.get(kind, 0) + 1
    return "; ".join(f"{n} × {kind}" for kind, n in counts.items())
