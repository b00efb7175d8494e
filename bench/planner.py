"""Planner cost (issue 8): CPU per `worker.planner.plan` against calendar size and horizon
length, and how it grows.

The calendars are synthetic and seeded, so every run plans the same events: timed
meetings of 30 to 90 minutes from 07:00 to 19:45 (so inside and outside the workday, and
overlapping), a third of them with a client, some declined, tentative or free, and a few
all-day reminders. Each case times the first plan (no blocks on the calendar yet) and the
steady-state plan (the first plan's blocks on the calendar, unchanged), which is what
every cycle runs. Times are CPU time (`time.process_time`), best and median of the
repeats; the best is the figure the growth is fitted on.
"""

from __future__ import annotations

import cProfile
import gc
import math
import platform
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from datetime import time as clock
from itertools import pairwise
from pathlib import Path
from types import CodeType
from typing import Any
from zoneinfo import ZoneInfo

from worker import planner, reconcile
from worker.config import default_config
from worker.cycle import rules_for
from worker.models import Attendee, Block, Event, Response, Status
from worker.timeutil import at

ROOT = Path(__file__).resolve().parents[1]
ZONE = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 30, 7, 0, tzinfo=ZONE)  # a Monday, before the workday starts
ME = "rep@example.com"
SEED = 8
SIZES = (10, 100, 1_000, 10_000)  # events in the default horizon
HORIZONS = (5, 10, 20, 40, 60)  # workdays (60 is the most the config allows), PER_DAY a day
PER_DAY = 20  # a very busy calendar: about 300 events over a 10-workday horizon
REPEATS = {True: 1, False: 21}  # by `quick`


def rules(horizon_workdays: int | None = None) -> planner.Rules:
    """The default config for one account, optionally with another horizon."""
    config = default_config()
    if horizon_workdays is not None:
        planning = replace(config.planning, horizon_workdays=horizon_workdays)
        config = replace(config, planning=planning)
    return rules_for(config, replace(config.accounts[0], email=ME), ZONE)


def calendar(count: int, rules: planner.Rules, seed: int = SEED) -> list[Event]:
    """`count` events spread evenly at random over the calendar days the plan reads."""
    rng = random.Random(seed)
    first, days = NOW.date(), calendar_days(rules)
    return [_event(i, first + timedelta(days=rng.randrange(days)), rng) for i in range(count)]


def calendar_days(rules: planner.Rules) -> int:
    """The calendar days the plan reads (weekends included): today to the horizon's end."""
    return (planner.window(rules, NOW).end.astimezone(ZONE).date() - NOW.date()).days


def _event(i: int, day: date, rng: random.Random) -> Event:
    if rng.random() < 0.05:  # a birthday or a reminder: all day, never busy
        start, end = at(day, clock(0), ZONE), at(day + timedelta(days=1), clock(0), ZONE)
        return Event(f"e{i}", "Reminder", start, end, all_day=True)
    start = at(day, clock(rng.randrange(7, 20), rng.choice((0, 15, 30, 45))), ZONE)
    end = start + timedelta(minutes=rng.choice((30, 45, 60, 90)))
    answer = rng.choices(
        (Response.ACCEPTED, Response.DECLINED, Response.TENTATIVE, Response.NEEDS_ACTION),
        weights=(80, 8, 7, 5),
    )[0]
    if rng.random() < 0.35:
        title, guest = "Client call", f"buyer@client{rng.randrange(200)}.com"
    else:
        title, guest = "Team sync", f"colleague{rng.randrange(30)}@example.com"
    return Event(
        f"e{i}",
        title,
        start,
        end,
        status=Status.CANCELLED if rng.random() < 0.01 else Status.CONFIRMED,
        transparent=rng.random() < 0.04,
        attendees=(Attendee(ME, response=answer), Attendee(guest, response=Response.ACCEPTED)),
        organizer=guest,
    )


def written(blocks: Sequence[Block]) -> list[Block]:
    """The blocks as a provider lists them back after the worker wrote them."""
    return [replace(b, written=b.fingerprint) for b in blocks]


@dataclass
class Case:
    """One calendar to plan, its first plan's blocks as written, and the CPU times."""

    events: list[Event]
    rules: planner.Rules
    first: planner.Plan  # the plan with no blocks on the calendar yet
    owned: list[Block]  # its blocks, as written
    first_s: list[float] = field(default_factory=list)
    steady_s: list[float] = field(default_factory=list)


def case(events: list[Event], rules: planner.Rules) -> Case:
    first = planner.plan(events, (), frozenset(), rules, NOW)
    return Case(events, rules, first, written(first.blocks))


def _cpu(events: list[Event], owned: Sequence[Block], rules: planner.Rules) -> float:
    gc.collect()
    start = time.process_time()
    planner.plan(events, owned, frozenset(), rules, NOW)
    return time.process_time() - start


def time_all(cases: Sequence[Case], repeats: int) -> None:
    """Time every case `repeats` times, round robin: a burst of load from elsewhere then
    costs every case one slow repeat instead of making all of one case's repeats slow."""
    for _ in range(repeats):
        for c in cases:
            c.first_s.append(_cpu(c.events, (), c.rules))
            c.steady_s.append(_cpu(c.events, c.owned, c.rules))


def figures(c: Case) -> dict[str, Any]:
    """What the case's plans produce, and their CPU milliseconds: best and median."""
    first, steady = c.first, planner.plan(c.events, c.owned, frozenset(), c.rules, NOW)
    return {
        "events": len(c.events),
        "busy": sum(planner.is_busy(e, c.rules) for e in c.events),
        "days": len(first.days),
        "blocks": len(first.blocks),
        "shortfalls": len(first.shortfalls),
        "first_writes": len(reconcile.diff([], first, NOW)),
        "steady_writes": len(reconcile.diff(c.owned, steady, NOW)),
        "first_ms": _ms(c.first_s),
        "steady_ms": _ms(c.steady_s),
    }


def _ms(seconds: list[float]) -> dict[str, float]:
    return {
        "best": round(min(seconds) * 1e3, 3),
        "median": round(statistics.median(seconds) * 1e3, 3),
    }


def slopes(points: Sequence[tuple[int, float]]) -> list[float]:
    """The log-log slope of time against size between successive points."""
    return [
        round(math.log(t2 / t1) / math.log(n2 / n1), 3) for (n1, t1), (n2, t2) in pairwise(points)
    ]


def model(n1: int, n2: int, slope: float) -> str:
    """The growth a slope between sizes n1 and n2 fits best.

    Linear growth has slope 1; n log n has 1 + log(log n2 / log n1) / log(n2 / n1)
    (1.12 from 1,000 to 10,000); the slope is given to the nearer of the two, and
    anything clearly above both (over 1.2) is superlinear.
    """
    nlogn = 1 + math.log(math.log(n2) / math.log(n1)) / math.log(n2 / n1)
    if slope > max(1.2, nlogn + 0.05):
        return "superlinear"
    return "linear" if slope < (1 + nlogn) / 2 else "n log n"


def fit(cases: list[dict[str, Any]], phase: str, first: int) -> dict[str, Any]:
    """Slopes between successive cases, per-event ratios, and the model the slope from
    case `first` to the last fits, on the best times of `phase`."""
    points = [(c["events"], c[phase]["best"]) for c in cases]
    (n1, t1), (n2, t2) = points[first], points[-1]
    overall = slopes([(n1, t1), (n2, t2)])[0]
    return {
        "slopes": slopes(points),
        "us_per_event": [round(t * 1e3 / n, 3) for n, t in points],
        "ns_per_n_log2_n": [round(t * 1e6 / (n * math.log2(n)), 3) for n, t in points],
        "fitted": {"from_events": n1, "to_events": n2, "slope": overall},
        "model": model(n1, n2, overall),
    }


def hot_spots(events: list[Event], rules: planner.Rules, top: int = 5) -> list[dict[str, Any]]:
    """The functions the first plan spends its own time in, with cProfile."""
    profile = cProfile.Profile()
    profile.runcall(planner.plan, events, (), frozenset(), rules, NOW)
    entries = profile.getstats()
    total = sum(e.inlinetime for e in entries) or 1.0
    ranked = sorted(entries, key=lambda e: e.inlinetime, reverse=True)[:top]
    return [
        {
            "function": _where(e.code),
            "calls": e.callcount,
            "share": round(e.inlinetime / total, 3),
        }
        for e in ranked
    ]


def _where(code: CodeType | str) -> str:
    """file:line name, relative to the checkout for our code."""
    if isinstance(code, str):
        return code  # a built-in
    path = Path(code.co_filename)
    file = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name
    return f"{file}:{code.co_firstlineno} {code.co_qualname}"


def run(quick: bool) -> dict[str, Any]:
    repeats = REPEATS[quick]
    default = rules()
    size_cases = [case(calendar(n, default), default) for n in SIZES]
    horizons = [rules(h) for h in HORIZONS]
    horizon_cases = [case(calendar(PER_DAY * calendar_days(r), r), r) for r in horizons]
    time_all(size_cases + horizon_cases, repeats)
    by_size = [figures(c) for c in size_cases]
    by_horizon = [
        {"horizon_workdays": h, **figures(c)} for h, c in zip(HORIZONS, horizon_cases, strict=True)
    ]
    result: dict[str, Any] = {
        "settings": {
            "quick": quick,
            "repeats": repeats,
            "timer": "time.process_time",
            "python": f"{platform.python_implementation()} {platform.python_version()}",
            "machine": platform.machine(),
            "seed": SEED,
            "zone": ZONE.key,
            "now": NOW.isoformat(),
            "default_horizon_workdays": default.planning.horizon_workdays,
            "events_per_day": PER_DAY,
        },
        "by_size": by_size,
        # Past the fixed cost per planned day: the two largest calendars.
        "size_fit": {p: fit(by_size, p, -2) for p in ("first_ms", "steady_ms")},
        "by_horizon": by_horizon,
        # Days and events grow together here: the whole range.
        "horizon_fit": {p: fit(by_horizon, p, 0) for p in ("first_ms", "steady_ms")},
    }
    if not quick:
        result["profile"] = {
            f"{SIZES[-1]:,} events": hot_spots(size_cases[-1].events, default),
            f"{HORIZONS[-1]} workdays": hot_spots(horizon_cases[-1].events, horizons[-1]),
        }
    return result


def markdown(result: dict[str, Any]) -> str:
    s = result["settings"]
    lines = [
        "### Planner",
        "",
        f"CPU per `worker.planner.plan` ({s['timer']}, best of {s['repeats']}, median in"
        f" brackets; {s['python']} on {s['machine']}). First plan: no blocks on the calendar"
        " yet; steady: the first plan's blocks back on the calendar, unchanged.",
        "",
        f"By calendar size, default horizon ({s['default_horizon_workdays']} workdays):",
        "",
        *_table(result["by_size"], result["size_fit"]),
        "",
        f"By horizon, {s['events_per_day']} events per calendar day:",
        "",
        *_table(result["by_horizon"], result["horizon_fit"], "Workdays"),
        "",
        _verdict(result),
    ]
    for case, spots in result.get("profile", {}).items():
        hot = ", ".join(f"`{h['function']}` {h['share']:.0%}" for h in spots[:3])
        lines += ["", f"Own time of the first plan, {case} (cProfile): {hot}."]
    return "\n".join(lines) + "\n"


def _table(cases: list[dict[str, Any]], fits: dict[str, Any], label: str = "") -> list[str]:
    head = f"| {label} " if label else ""
    rows = [
        f"{head}| Events | Busy | Days | Blocks | First ms | Steady ms | Steady writes"
        " | µs/event | Slope |",
        "|---:" * (10 if label else 9) + "|",
    ]
    steps = ["", *(f"{x:.2f}" for x in fits["first_ms"]["slopes"])]
    for c, per_event, slope in zip(cases, fits["first_ms"]["us_per_event"], steps, strict=True):
        first, steady = c["first_ms"], c["steady_ms"]
        cell = f"| {c['horizon_workdays']} " if label else ""
        rows.append(
            f"{cell}| {c['events']:,} | {c['busy']:,} | {c['days']} | {c['blocks']}"
            f" | {first['best']:.2f} ({first['median']:.2f})"
            f" | {steady['best']:.2f} ({steady['median']:.2f})"
            f" | {c['steady_writes']} | {per_event:.1f} | {slope} |"
        )
    return rows


def _verdict(result: dict[str, Any]) -> str:
    size, steady = result["size_fit"]["first_ms"], result["size_fit"]["steady_ms"]
    horizon, span = result["horizon_fit"]["first_ms"], result["horizon_fit"]["first_ms"]["fitted"]
    cases = result["by_horizon"]
    full = [c["events"] for c in result["by_size"] if not c["blocks"]]
    text = (
        "Slope: the log-log slope of the first plan's time against events, from the row"
        f" above. From {size['fitted']['from_events']:,} to {size['fitted']['to_events']:,}"
        f" events it is {size['fitted']['slope']:.2f} (steady {steady['fitted']['slope']:.2f}),"
        f" so the cost grows as **{size['model']}** in events: µs per event goes"
        f" {size['us_per_event'][-2]:.1f} → {size['us_per_event'][-1]:.1f}, ns per n·log₂n"
        f" {size['ns_per_n_log2_n'][-2]:.0f} → {size['ns_per_n_log2_n'][-1]:.0f}."
    )
    if size["us_per_event"][0] > 2 * size["us_per_event"][-1]:
        text += " Small calendars cost more per event: a fixed cost per planned day dominates."
    if full:
        text += (
            f" From {full[0]:,} events the workdays are full and no block fits: those rows"
            " time reading the events and reporting the shortfall."
        )
    text += (
        f" Against the horizon ({cases[0]['horizon_workdays']} to"
        f" {cases[-1]['horizon_workdays']} workdays, {span['from_events']:,} to"
        f" {span['to_events']:,} events) the slope is {span['slope']:.2f}"
        f" (steady {result['horizon_fit']['steady_ms']['fitted']['slope']:.2f}):"
        f" **{horizon['model']}**."
    )
    per_event, steps = horizon["us_per_event"], horizon["slopes"]
    low = min(range(len(per_event)), key=per_event.__getitem__)
    if steps[-1] > 1.05 and per_event[-1] > per_event[low]:
        text += (
            f" But the step slopes rise to {steps[-1]:.2f} and the cost per event with them"
            f" ({per_event[low]:.1f} µs at {cases[low]['horizon_workdays']} workdays,"
            f" {per_event[-1]:.1f} at {cases[-1]['horizon_workdays']}): a small term grows"
            " faster than the horizon."
        )
    return text
