"""The local provider on hostile recurrences: bounded in time and memory, and ordinary
series exactly as the library expands them.

Each hostile calendar (tests/data/calendars/hostile_*.ics) is read in a child process
with a 1 GB address-space limit and a timeout, so that a regression fails instead of
hanging or eating the machine; no duration is asserted. The hostile files are never
parsed in this process: icalendar keeps every VTIMEZONE it meets for the whole
process, and the hostile one would hang whatever reads its TZID next.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dateutil.rrule
import dateutil.tz
import icalendar
import pytest
import recurring_ical_events
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from providers.local import bounds, ics, plain, zones
from worker import planner
from worker.config import default_config
from worker.cycle import rules_for
from worker.models import Event, Window

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "calendars"
NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
LIMIT = 1 << 30  # address space of a child, bytes
TIMEOUT = 120  # seconds; a bounded read takes a few
ALONG = "; only its first and its moved occurrences are placed, as busy"

CHILD = r"""
import json, resource, sys
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[5]),) * 2)
from providers.local.calendar import LocalCalendar
from worker.models import Window

path, zone, first, last = sys.argv[1:5]
z = ZoneInfo(zone)
window = Window(
    datetime.combine(date.fromisoformat(first), time(), z),
    datetime.combine(date.fromisoformat(last), time(), z),
    zone,
)
snapshot = LocalCalendar(Path(path)).fetch(window)
print(json.dumps({
    "events": [
        [e.id, e.title, e.start.isoformat(), e.end.isoformat(), e.problem]
        for e in sorted(snapshot.events, key=lambda e: (e.start, e.id))
    ],
    "problems": list(snapshot.problems),
}))
"""


def bounded(name: str, first: date, last: date, zone: ZoneInfo = NY) -> dict[str, Any]:
    """LocalCalendar.fetch of a data file in a child process with limits."""
    argv = [str(DATA / name), zone.key, first.isoformat(), last.isoformat(), str(LIMIT)]
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *argv],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def at(zone: ZoneInfo, month: int, day: int, hour: int = 0, minute: int = 0) -> str:
    return datetime(2026, month, day, hour, minute, tzinfo=zone).isoformat()


def capped(title: str, uid: str, why: str = bounds.TOO_MANY) -> str:
    return f"event {title!r} (UID {uid}): {why}{ALONG}"


FIRST, LAST = date(2026, 11, 30), date(2027, 2, 13)  # 75 days


# -- hostile shapes


@pytest.mark.parametrize("unit", ["second", "minute"])
def test_every_second_or_minute_since_year_one_is_capped(unit: str) -> None:
    got = bounded(f"hostile_{unit}ly.ics", FIRST, LAST)
    # Their first occurrences are in year 1: nothing of them is known in the window.
    assert got["events"] == []
    assert got["problems"] == [
        capped(f"Every {unit} since year 1", f"{unit}ly-forever"),
        capped(f"Every {unit} until 2099", f"{unit}ly-until"),
        capped(f"Every {unit}, two billion times", f"{unit}ly-count"),
    ]


def test_by_expansions_to_every_minute_or_second_are_capped() -> None:
    got = bounded("hostile_by_expansion.ics", FIRST, LAST)
    assert got["events"] == []
    assert got["problems"] == [
        capped("Every minute of every day of the year", "yearly-every-minute"),
        capped("Every second of every day since 2015", "daily-every-second"),
    ]


def test_impossible_rules_stop_at_their_time_limit_and_keep_their_first_occurrence() -> None:
    got = bounded("hostile_impossible.ics", FIRST, LAST)
    why = "(first on Tuesday)"
    assert got["events"] == [
        [
            "weekly-april-31/20261201T150000Z",
            f"Weekly on April 31 {why}",
            datetime(2026, 12, 1, 15, tzinfo=UTC).astimezone(NY).isoformat(),
            datetime(2026, 12, 1, 16, tzinfo=UTC).astimezone(NY).isoformat(),
            bounds.TOO_LONG,
        ]
    ]
    assert got["problems"] == [
        capped("Daily on February 30", "daily-february-30", bounds.TOO_LONG),
        capped("Every second of February 30", "secondly-february-30", bounds.TOO_LONG),
        capped(f"Weekly on April 31 {why}", "weekly-april-31", bounds.TOO_LONG),
    ]


def test_a_time_zone_with_secondly_rules_is_dropped_and_its_times_read_in_the_users() -> None:
    got = bounded("hostile_vtimezone.ics", FIRST, LAST)
    unknown = "unknown time zone 'Every Second Standard Time'"
    assert got["events"] == [
        [
            "client-call-in-hostile-zone",
            "Client call",
            at(NY, 12, 1, 14),
            at(NY, 12, 1, 15),
            unknown,
        ]
    ]
    assert got["problems"] == [
        "time zone 'Every Second Standard Time' is not used: "
        "its rules are not the yearly changes of a real time zone",
        f"event 'Client call' (UID client-call-in-hostile-zone): {unknown}; "
        "read in America/New_York",
    ]


def test_many_risky_events_in_one_file_each_reported_once_and_the_rest_read() -> None:
    got = bounded("hostile_many.ics", FIRST, LAST)
    hostile = [f"{name}-{i}" for i in range(10) for name in ("secondly", "february-30")]
    hostile += [f"{name}-{i}" for i in range(10) for name in ("every-minute", "minutely-count")]
    reported = {p.split("(UID ")[1].split(")")[0]: p for p in got["problems"]}
    assert sorted(reported) == sorted(hostile)
    assert len(got["problems"]) == len(hostile)
    whys = {p.split("): ")[1].removesuffix(ALONG) for p in got["problems"]}
    # Ten impossible rules need more than the file's time: the last ones are not tried.
    assert whys == {bounds.TOO_MANY, bounds.TOO_LONG, bounds.OUT_OF_TIME}
    events = {(e[0], e[2]) for e in got["events"]}
    # The moved occurrence of a capped series is placed, and marked.
    moved = ["secondly-0/20261201T140000Z", "secondly 0 (moved)"]
    assert [e[:2] for e in got["events"] if e[0].startswith("secondly")] == [moved]
    assert ("client-lunch", at(NY, 12, 2, 12)) in events
    standups = [e for e in got["events"] if e[0].startswith("daily-standup/")]
    assert len(standups) == 55  # every weekday of the 75 days
    assert all(e[4] == "" for e in standups)


def test_a_capped_event_is_busy_at_its_first_occurrence() -> None:
    got = bounded("hostile_week.ics", FIRST, FIRST + timedelta(days=7))
    [first] = [e for e in got["events"] if e[0].startswith("secondly-from-monday/")]
    assert first[2:] == [at(NY, 11, 30, 10), at(NY, 11, 30, 10, 30), bounds.TOO_MANY]
    event = Event(
        id=first[0],
        title=first[1],
        start=datetime.fromisoformat(first[2]),
        end=datetime.fromisoformat(first[3]),
        problem=first[4],
    )
    config = default_config()
    assert planner.is_busy(event, rules_for(config, config.accounts[0], NY))


CONCURRENT = r"""
import json, resource, sys, threading
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[2]),) * 2)
from providers.local.calendar import LocalCalendar
from worker.models import Window

z = ZoneInfo("America/New_York")
window = Window(datetime(2026, 11, 30, tzinfo=z), datetime(2027, 2, 13, tzinfo=z), z.key)
data = Path(sys.argv[1])

def read(name):
    snapshot = LocalCalendar(data / name).fetch(window)
    return sorted(e.id for e in snapshot.events), len(snapshot.problems)

alone = read("ordinary_series.ics")
results = {}
def cycle(i, name):  # as serve runs each account's cycle on a thread of its own
    results[i] = read(name)
names = ["hostile_many.ics", "ordinary_series.ics", "hostile_impossible.ics"] * 3
threads = [threading.Thread(target=cycle, args=(i, n)) for i, n in enumerate(names)]
for t in threads:
    t.start()
for t in threads:
    t.join()
found = [results[i] for i in range(len(names))]
print(json.dumps({"alone": alone, "names": names, "results": found}))
"""


def test_accounts_read_at_once_on_threads_are_each_bounded_and_right() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CONCURRENT, str(DATA), str(LIMIT)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout)
    for name, (ids, problems) in zip(got["names"], got["results"], strict=True):
        if name == "ordinary_series.ics":
            assert [ids, problems] == got["alone"]  # the others' guards never reach it
        elif name == "hostile_many.ics":
            assert problems == 40
        else:
            assert (len(ids), problems) == (1, 3)


# -- ordinary series: exactly what the library makes of the untouched file

WINDOWS = [
    (NY, date(2026, 10, 12), date(2026, 12, 26)),  # across the fall change
    (NY, date(2028, 2, 1), date(2028, 3, 15)),  # a leap day, and the spring change
    (BERLIN, date(2026, 10, 12), date(2026, 12, 26)),  # floating times read in Berlin
]


def window_of(zone: ZoneInfo, first: date, last: date) -> Window:
    return Window(
        datetime(first.year, first.month, first.day, tzinfo=zone),
        datetime(last.year, last.month, last.day, tzinfo=zone),
        zone.key,
    )


def key(c: Any) -> tuple[Any, ...]:
    rid = c.get("RECURRENCE-ID")
    end = c.get("DTEND")
    return (
        str(c["UID"]),
        rid.dt if rid else None,
        c["DTSTART"].dt,
        end.dt if end else None,
        str(c["SUMMARY"]),
    )


def library(text: str, window: Window) -> list[tuple[Any, ...]]:
    zone = ZoneInfo(window.zone)
    cal = icalendar.Calendar.from_ical(text)
    found = recurring_ical_events.of(cal).between(
        window.start.astimezone(zone), window.end.astimezone(zone)
    )
    return sorted(map(key, found), key=repr)


def ours(text: str, window: Window) -> tuple[list[tuple[Any, ...]], list[str]]:
    problems: list[str] = []
    found = ics._occurrences(ics.parse_calendar(text), window, ZoneInfo(window.zone), problems)
    return sorted(map(key, found), key=repr), problems


@pytest.fixture
def everything_risky(monkeypatch: pytest.MonkeyPatch) -> None:
    """Send every series down the careful path, and move every start that can move."""
    plan = bounds.plan

    def risky(*args: Any) -> bounds.Plan:
        judged = plan(*args)
        return bounds.Plan(risky=judged.plain + judged.risky + judged.crowded)

    monkeypatch.setattr(bounds, "plan", risky)
    monkeypatch.setattr(bounds, "SHIFT_FROM", 1)


@pytest.mark.parametrize(("zone", "first", "last"), WINDOWS)
def test_ordinary_series_expand_exactly_as_the_library_does(
    zone: ZoneInfo, first: date, last: date
) -> None:
    text = (DATA / "ordinary_series.ics").read_text()
    window = window_of(zone, first, last)
    expected = library(text, window)
    assert len({k[0] for k in expected}) >= 7  # most series have occurrences here
    assert ours(text, window) == (expected, [])


@pytest.mark.usefixtures("everything_risky")
@pytest.mark.parametrize(("zone", "first", "last"), WINDOWS)
def test_ordinary_series_on_the_careful_path_moved_forward_are_the_same(
    zone: ZoneInfo, first: date, last: date
) -> None:
    text = (DATA / "ordinary_series.ics").read_text()
    window = window_of(zone, first, last)
    cal = ics.parse_calendar(text)
    series = ics._by_uid(cal)
    reach = window.start - timedelta(days=3)
    moved = [
        uid
        for uid, parts in series.items()
        if bounds._shifted(parts[0], parts, reach, zone) is not parts[0]
    ]
    assert len(moved) >= 4  # the daily, weekly, hourly and minutely ones
    assert ours(text, window) == (library(text, window), [])


def test_ordinary_series_are_planned_as_before() -> None:
    text = (DATA / "ordinary_series.ics").read_text()
    cal = ics.parse_calendar(text)
    judged = bounds.plan(ics._by_uid(cal), window_of(*WINDOWS[0]), NY)
    # Plain: untouched. Hourly, minutely and BYSETPOS rules are counted first.
    assert judged.risky == ["last-workday", "office-hours", "half-hour-slots"]
    assert judged.crowded == []


def series_calendar(rules: list[str]) -> str:
    """One daily 09:00 series a rule, all started in 2020."""
    events = "".join(
        f"BEGIN:VEVENT\r\nUID:s{i}\r\nDTSTART;TZID=America/New_York:20200106T090000\r\n"
        f"DURATION:PT15M\r\nRRULE:{rule}\r\nSUMMARY:Series {i}\r\nEND:VEVENT\r\n"
        for i, rule in enumerate(rules)
    )
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n{events}END:VCALENDAR\r\n"


def test_many_series_that_ended_stay_on_the_plain_path() -> None:
    rules = ["FREQ=DAILY;COUNT=30", "FREQ=WEEKLY;UNTIL=20240101T000000Z"] * 500
    cal = ics.parse_calendar(series_calendar(rules))
    judged = bounds.plan(ics._by_uid(cal), window_of(*WINDOWS[0]), NY)
    assert (len(judged.plain), judged.risky, judged.crowded) == (1_000, [], [])


def test_a_file_over_its_cap_reads_the_first_series_and_reports_the_rest() -> None:
    text = series_calendar(["FREQ=DAILY"] * 250)
    window = window_of(NY, FIRST, LAST)
    found, problems = ours(text, window)
    placed = {uid for uid, *_ in found}
    span = (window.end - window.start).days + 33  # what the plan allows a daily series
    fit = bounds.FILE_CAP // span
    assert placed == {f"s{i}" for i in range(fit)}
    assert len(found) == fit * 75
    assert problems == [capped(f"Series {i}", f"s{i}", bounds.CROWDED) for i in range(fit, 250)]


FREQS = ["SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY"]
# The period of each frequency, and how many of them the start lies before the window:
# enough for the start to move (monthly and yearly ones by whole 400-year cycles), few
# enough for the library to expand the untouched rule in a moment.
BACK = {
    "SECONDLY": (timedelta(seconds=1), 1_200, 3_000),
    "MINUTELY": (timedelta(minutes=1), 1_200, 3_000),
    "HOURLY": (timedelta(hours=1), 1_200, 3_000),
    "DAILY": (timedelta(days=1), 1_200, 3_000),
    "WEEKLY": (timedelta(weeks=1), 1_200, 3_000),
    "MONTHLY": (timedelta(days=30.437), 5_000, 6_000),
    "YEARLY": (timedelta(days=365.2425), 420, 800),
}


@st.composite
def rules(draw: st.DrawFn) -> tuple[str, str]:
    freq = draw(st.sampled_from(FREQS))
    parts = [f"FREQ={freq}", f"INTERVAL={draw(st.integers(1, 7))}"]
    small = freq in ("SECONDLY", "MINUTELY")
    if draw(st.booleans()):
        days = draw(
            st.lists(
                st.sampled_from(["MO", "TU", "WE", "TH", "FR", "SA", "SU"]), min_size=1, max_size=3
            )
        )
        nth = freq in ("MONTHLY", "YEARLY") and draw(st.booleans())
        parts.append(
            "BYDAY=" + ",".join(f"{draw(st.integers(-2, 3)) or 1}{d}" if nth else d for d in days)
        )
    if draw(st.booleans()):
        parts.append(
            "BYMONTH="
            + ",".join(map(str, draw(st.lists(st.integers(1, 12), min_size=1, max_size=4))))
        )
    if draw(st.booleans()):
        parts.append(
            "BYMONTHDAY="
            + ",".join(map(str, draw(st.lists(st.integers(1, 31), min_size=1, max_size=3))))
        )
    if small or draw(st.booleans()):
        parts.append(
            "BYHOUR="
            + ",".join(map(str, draw(st.lists(st.integers(0, 23), min_size=1, max_size=3))))
        )
    if small:
        parts.append(
            "BYMINUTE="
            + ",".join(map(str, draw(st.lists(st.integers(0, 59), min_size=1, max_size=2))))
        )
    if draw(st.booleans()):
        parts.append(f"UNTIL={draw(st.sampled_from(['20261115T000000Z', '20270301T000000Z']))}")
    if draw(st.booleans()) and freq in ("WEEKLY", "MONTHLY"):
        parts.append(f"BYSETPOS={draw(st.sampled_from([1, -1, 2]))}")
    period, fewest, most = BACK[freq]
    start = datetime(2026, 10, 12, 9, 30, tzinfo=NY) - period * draw(st.integers(fewest, most))
    kind = draw(st.sampled_from(["zoned", "floating", "utc"]))
    if kind == "zoned":
        when = f";TZID=America/New_York:{start:%Y%m%dT%H%M%S}"
    elif kind == "floating":
        when = f":{start:%Y%m%dT%H%M%S}"
    else:
        when = f":{start.astimezone(UTC):%Y%m%dT%H%M%S}Z"
    return ";".join(parts), when


@pytest.mark.usefixtures("everything_risky")
@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rules())
def test_a_moved_start_never_changes_what_a_rule_makes(rule: tuple[str, str]) -> None:
    text, when = rule
    calendar = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:r\r\n"
        f"DTSTART{when}\r\nDURATION:PT20M\r\nRRULE:{text}\r\nSUMMARY:r\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    window = window_of(NY, date(2026, 10, 12), date(2026, 12, 26))
    got, problems = ours(calendar, window)
    # A rule over the caps (or one dateutil cannot step through) is not compared: the
    # library's own expansion of it is what this is about.
    assume(not problems)
    assert got == library(calendar, window)


# -- end to end


def test_run_on_a_hostile_calendar_writes_the_blocks_and_warns(tmp_path: Path) -> None:
    calendar = tmp_path / "cal.ics"
    calendar.write_bytes((DATA / "hostile_week.ics").read_bytes())
    config = tmp_path / "firstblock.toml"
    config.write_text(
        'timezone = "America/New_York"\n'
        f'[[accounts]]\nname = "work"\ncalendar = "{calendar}"\nemail = "me@example.com"\n'
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "FIRSTBLOCK_DATA_DIR": str(tmp_path / "data"),
        "FIRSTBLOCK_STATE_DIR": str(tmp_path / "state"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    limited = (
        "import resource, runpy, sys; "
        f"resource.setrlimit(resource.RLIMIT_AS, ({LIMIT}, {LIMIT})); "
        "runpy.run_module('worker', run_name='__main__', alter_sys=True)"
    )
    argv = ["run", "--config", str(config), "--now", "2026-11-30T07:00:00-05:00"]
    done = subprocess.run(
        [sys.executable, "-c", limited, *argv],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    warning = "warning: " + capped("Every second from Monday 10:00", "secondly-from-monday")
    assert warning in done.stdout.splitlines()
    blocks = list(ics.owned(ics.parse_calendar(calendar.read_text())).values())
    assert len(blocks) > 10
    # Its first occurrence, Monday 10:00 to 10:30, is known, and busy.
    busy = (datetime(2026, 11, 30, 10, tzinfo=NY), datetime(2026, 11, 30, 10, 30, tzinfo=NY))
    assert not [b for b in blocks if b.start < busy[1] and busy[0] < b.end]
    assert [b for b in blocks if b.start.astimezone(NY).date() == date(2026, 11, 30)]


# -- time zones, judged on the text (never parsed here when hostile)


def zone(tzid: str, rule: str = "FREQ=YEARLY;BYDAY=1SU;BYMONTH=11", more: str = "") -> str:
    return (
        f"BEGIN:VTIMEZONE\r\nTZID:{tzid}\r\nBEGIN:STANDARD\r\nDTSTART:16011104T020000\r\n"
        f"RRULE:{rule}\r\n{more}TZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nEND:STANDARD\r\n"
        "BEGIN:DAYLIGHT\r\nDTSTART:16010311T020000\r\nRRULE:FREQ=YEARLY;BYDAY=2SU;BYMONTH=3\r\n"
        "TZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n"
    )


def wrap(*parts: str) -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n"
        + "".join(parts)
        + ("END:VCALENDAR\r\n")
    )


@pytest.mark.parametrize(
    ("rule", "more", "why"),
    [
        ("FREQ=YEARLY;BYDAY=1SU;BYMONTH=11", "", ""),  # Outlook
        ("FREQ=YEARLY;BYMONTH=11;BYMONTHDAY=1,2,3,4,5,6,7;BYDAY=SU", "", ""),  # Apple
        ("FREQ=YEARLY;BYMONTH=2;BYDAY=5SU", "", ""),  # once in 28 years, but it fires
        ("FREQ=YEARLY;BYDAY=1SU;BYMONTH=11;UNTIL=20061105T060000Z", "", ""),
        ("FREQ=SECONDLY", "", zones.NOT_YEARLY),
        ("FREQ=DAILY;BYMONTH=11", "", zones.NOT_YEARLY),
        ("FREQ=YEARLY;BYMONTH=3,11;BYDAY=1SU", "", zones.NOT_YEARLY),
        ("FREQ=YEARLY;INTERVAL=2;BYMONTH=11;BYDAY=1SU", "", zones.NOT_YEARLY),
        ("FREQ=YEARLY;BYMONTH=11;BYDAY=1SU;BYHOUR=0,1,2", "", zones.NOT_YEARLY),
        ("FREQ=YEARLY;BYMONTH=11;BYDAY=1SU", "EXRULE:FREQ=SECONDLY\r\n", zones.NOT_YEARLY),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "", zones.NEVER),
        ("FREQ=YEARLY;BYMONTH=11;BYMONTHDAY=1;BYDAY=2SU", "", zones.NEVER),
        ("FREQ=YEARLY;BYMONTH=11;BYDAY=1SU;COUNT=500", "", zones.TOO_FAR),
        (
            "FREQ=YEARLY;BYMONTH=11;BYDAY=1SU",
            "RDATE:" + ",".join(["20200101T000000"] * 101) + "\r\n",
            zones.DATES,
        ),
    ],
)
def test_a_time_zone_is_kept_only_with_the_yearly_rules_of_a_real_one(
    rule: str, more: str, why: str
) -> None:
    text = wrap(zone("Custom Standard Time", rule, more))
    kept, problems = zones.affordable(text)
    if why:
        assert problems == [f"time zone 'Custom Standard Time' is not used: {why}"]
        assert "VTIMEZONE" not in kept
    else:
        assert problems == []
        assert kept.count("BEGIN:VTIMEZONE") == 1


def test_a_kept_zone_is_cut_at_2200_and_keeps_every_offset_before() -> None:
    text = wrap(zone("Customized Time Zone"))
    kept, problems = zones.affordable(text)
    assert problems == []
    assert kept.count(";UNTIL=22000101T000000Z") == 2
    assert kept.replace(";UNTIL=22000101T000000Z", "") == text
    # Built straight from the text (icalendar would keep the first zone of that name).
    block = "BEGIN:VTIMEZONE" + text.split("BEGIN:VTIMEZONE")[1].split("END:VCALENDAR")[0]
    cut = "BEGIN:VTIMEZONE" + kept.split("BEGIN:VTIMEZONE")[1].split("END:VCALENDAR")[0]
    before = dateutil.tz.tzical(io.StringIO(block)).get()
    after = dateutil.tz.tzical(io.StringIO(cut)).get()
    walls = [(year, month) for year in range(1990, 2200, 7) for month in (1, 3, 7, 11)]
    assert [before.utcoffset(datetime(y, m, 15, 12, tzinfo=before)) for y, m in walls] == [
        after.utcoffset(datetime(y, m, 15, 12, tzinfo=after)) for y, m in walls
    ]


def test_zones_tzdata_knows_are_left_alone_whatever_their_rules() -> None:
    # icalendar reads America/New_York from tzdata and never uses the VTIMEZONE.
    text = wrap(zone("America/New_York", "FREQ=SECONDLY"))
    assert zones.affordable(text) == (text, [])


def test_a_calendar_with_too_many_zones_keeps_the_first_ones() -> None:
    text = wrap(*(zone(f"Custom {i}") for i in range(zones.ZONES + 3)))
    kept, problems = zones.affordable(text)
    fit = zones.FILE_YEARS // (2 * (2200 - 1601))  # two rules from 1601, cut at 2200
    assert kept.count("BEGIN:VTIMEZONE") == fit
    assert len(problems) == zones.ZONES + 3 - fit
    assert problems[0] == f"time zone 'Custom {fit}' is not used: {zones.TOO_MANY}"


# -- plain rules: what plain.judge lets through unguarded fires when it says it does


@st.composite
def plain_looking(draw: st.DrawFn) -> str:
    freq = draw(st.sampled_from(["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]))
    parts = [f"FREQ={freq}", f"INTERVAL={draw(st.sampled_from([1, 1, 2, 3, 5]))}"]
    if draw(st.booleans()):
        days = draw(st.lists(st.sampled_from(["MO", "WE", "FR", "SU"]), min_size=1, max_size=2))
        nth = draw(st.sampled_from(["", "", "1", "-1", "4", "5", "-5"]))
        parts.append("BYDAY=" + ",".join(nth + d for d in days))
    if draw(st.booleans()):  # the months and days where rules go wrong
        parts.append(f"BYMONTH={draw(st.sampled_from([2, 2, 4, 11, 12]))}")
    if draw(st.booleans()):
        parts.append(f"BYMONTHDAY={draw(st.sampled_from([1, 13, 29, 30, 31, -1]))}")
    return ";".join(parts)


@settings(max_examples=300, deadline=None)
@given(plain_looking(), st.dates(date(1950, 1, 1), date(2026, 6, 1)))
def test_a_plain_rule_fires_within_the_gap_it_is_judged_to_have(text: str, first: date) -> None:
    rule = icalendar.prop.vRecur.from_ical(text)
    start = datetime(first.year, first.month, first.day, 9, tzinfo=UTC)
    gap = plain._gap(rule, start)
    assume(gap is not None)
    freq = str(rule["FREQ"][0])
    period = timedelta(days={"DAILY": 1, "WEEKLY": 7, "MONTHLY": 31, "YEARLY": 366}[freq])
    stepper = dateutil.rrule.rrulestr(text, dtstart=start, cache=False)
    for since in (datetime(2026, 12, 1, tzinfo=UTC), datetime(2031, 3, 1, tzinfo=UTC)):
        after = stepper.after(since)
        assert after is not None, "a plain rule never fires"
        assert after - since <= period * plain.interval(rule) * (gap + 1), (after, gap)
