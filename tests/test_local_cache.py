"""The local calendar's parse cache (providers/local/cache.py): a file is parsed once
while unchanged, any change is seen, and what readers share is never altered."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from providers.errors import DataError
from providers.local import bounds, cache, ics
from providers.local.calendar import LocalCalendar
from worker.models import Block, BlockKind, Change, Op, Snapshot, Window

DATA = Path(__file__).parent / "data" / "calendars"
NY = ZoneInfo("America/New_York")
WINDOW = Window(
    datetime(2026, 11, 15, 6, 59, 13, 12345, tzinfo=NY),
    datetime(2026, 12, 31, 6, 59, 13, 12345, tzinfo=NY),
    NY.key,
)
HEAD = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//test//EN\r\n"
TAIL = "END:VCALENDAR\r\n"


def event(uid: str, title: str, day: int = 2) -> str:
    return (
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261101T000000Z\r\n"
        f"DTSTART:202612{day:02d}T140000Z\r\nDTEND:202612{day:02d}T150000Z\r\n"
        f"SUMMARY:{title}\r\nEND:VEVENT\r\n"
    )


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    cache.PARSED.clear()
    yield
    cache.PARSED.clear()


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every text parsed, through the seam calendar.py parses with."""
    seen: list[str] = []
    real = ics.parse_calendar

    def parse(text: str) -> Any:
        seen.append(text)
        return real(text)

    monkeypatch.setattr(ics, "parse_calendar", parse)
    return seen


def titles(snap: Snapshot) -> list[str]:
    return sorted(e.title for e in snap.events)


def test_an_unchanged_file_is_parsed_once(tmp_path: Path, parses: list[str]) -> None:
    path = tmp_path / "cal.ics"
    path.write_text(HEAD + event("a@x", "Standup") + TAIL, newline="")
    first = LocalCalendar(path).fetch(WINDOW)
    for _ in range(3):  # a provider per request, as the web app opens them
        assert LocalCalendar(path).fetch(WINDOW) == first
    assert LocalCalendar(path).timezone() is None
    assert len(parses) == 1 and titles(first) == ["Standup"]


@pytest.fixture
def windows(monkeypatch: pytest.MonkeyPatch) -> list[Window]:
    """The windows expanded, in order."""
    seen: list[Window] = []
    real = ics.expand

    def expand(prepared: ics.Prepared, window: Window) -> ics.Parsed:
        seen.append(window)
        return real(prepared, window)

    monkeypatch.setattr(ics, "expand", expand)
    return seen


def test_a_window_is_expanded_once_while_the_file_is_unchanged(
    tmp_path: Path, windows: list[Window]
) -> None:
    path = tmp_path / "cal.ics"
    path.write_text(HEAD + event("a@x", "Standup") + TAIL, newline="")
    later = Window(WINDOW.start + timedelta(days=1), WINDOW.end, WINDOW.zone)
    for _ in range(3):
        assert titles(LocalCalendar(path).fetch(WINDOW)) == ["Standup"]
        assert titles(LocalCalendar(path).fetch(later)) == ["Standup"]
    assert windows == [WINDOW, later]
    for n in range(cache.WINDOWS):  # the oldest window makes room for new ones
        LocalCalendar(path).fetch(Window(WINDOW.start, WINDOW.end + timedelta(n + 1), NY.key))
    LocalCalendar(path).fetch(WINDOW)
    assert windows.count(WINDOW) == 2
    path.write_text(HEAD + event("a@x", "Review") + TAIL, newline="")
    assert titles(LocalCalendar(path).fetch(WINDOW)) == ["Review"]


def test_a_change_that_keeps_size_inode_and_mtime_is_read(
    tmp_path: Path, parses: list[str]
) -> None:
    path = tmp_path / "cal.ics"
    path.write_text(HEAD + event("a@x", "Title A") + TAIL, newline="")
    assert titles(LocalCalendar(path).fetch(WINDOW)) == ["Title A"]
    before = path.stat()
    with path.open("r+b") as fh:  # in place: same inode
        fh.write(path.read_bytes().replace(b"Title A", b"Title B"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert cache.Identity.of(after) == cache.Identity.of(before)
    assert titles(LocalCalendar(path).fetch(WINDOW)) == ["Title B"]
    assert len(parses) == 2


def test_a_new_mtime_or_a_replaced_file_is_read_again(tmp_path: Path, parses: list[str]) -> None:
    path = tmp_path / "cal.ics"
    path.write_text(HEAD + event("a@x", "Standup") + TAIL, newline="")
    LocalCalendar(path).fetch(WINDOW)
    os.utime(path, ns=(0, path.stat().st_mtime_ns + 1_000_000))
    assert titles(LocalCalendar(path).fetch(WINDOW)) == ["Standup"]
    assert len(parses) == 2
    other = tmp_path / "other.ics"
    other.write_text(HEAD + event("a@x", "Standup") + event("b@x", "Review") + TAIL)
    os.replace(other, path)  # as calendar apps (and firstblock) save
    assert titles(LocalCalendar(path).fetch(WINDOW)) == ["Review", "Standup"]
    path.unlink()
    assert LocalCalendar(path).fetch(WINDOW).events == ()
    assert len(parses) == 4  # the missing file read as empty


def test_a_file_that_cannot_be_read_is_not_kept(tmp_path: Path, parses: list[str]) -> None:
    path = tmp_path / "cal.ics"
    path.write_text("garbage\n")
    for _ in range(2):
        with pytest.raises(DataError):
            LocalCalendar(path).fetch(WINDOW)
    assert len(parses) == 2 and len(cache.PARSED) == 0
    path.write_bytes(HEAD.encode() + b"\xff" + TAIL.encode())
    with pytest.raises(DataError, match="not UTF-8"):
        LocalCalendar(path).fetch(WINDOW)


def timed(problems: Any) -> bool:
    return any(why in p for p in problems for why in (bounds.TOO_LONG, bounds.OUT_OF_TIME))


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.ics")))
def test_a_cached_read_is_the_uncached_read_and_leaves_the_calendar_as_it_was(
    name: str, tmp_path: Path
) -> None:
    """Every messy and hostile calendar in the suite, in two zones and windows: the
    cache changes no result, time limits still apply, and nothing a read does alters
    what readers share."""
    path = tmp_path / name
    path.write_bytes((DATA / name).read_bytes())
    calendar = LocalCalendar(path)
    try:
        entry = calendar._parsed()
    except DataError:
        pytest.skip("not a calendar: never kept (test above)")
    text = calendar._read()[0]
    shared = entry.calendar.to_ical()
    march = Window(
        datetime(2026, 2, 28, 23, 1, 2, 3, tzinfo=NY),
        datetime(2026, 4, 2, 5, 6, 7, 8, tzinfo=NY),
        "Asia/Tokyo",
    )
    for window in (WINDOW, march):
        fresh = ics.read(ics.parse_calendar(text), window)
        got = calendar.fetch(window)  # from the entry
        if timed(fresh.problems) or timed(got.problems):
            # Which series runs out of the file's time first varies from run to run.
            assert timed(fresh.problems) and timed(got.problems)
            break  # once is enough: seconds a read
        assert got.events == tuple(fresh.events)
        assert got.blocks == tuple(fresh.blocks)
        assert got.problems == tuple(fresh.problems)
        assert calendar.fetch(window) == got
    assert calendar._parsed() is entry
    assert entry.calendar.to_ical() == shared


def block(key: str = "k1") -> Block:
    start = datetime(2026, 12, 3, 14, tzinfo=UTC)
    return Block(key, BlockKind.PROSPECTING, start.date(), start, start + timedelta(hours=1), "P")


def test_a_write_parses_the_file_afresh_and_readers_see_it(
    tmp_path: Path, parses: list[str]
) -> None:
    path = tmp_path / "cal.ics"
    path.write_text(HEAD + event("a@x", "Standup") + TAIL, newline="")
    calendar = LocalCalendar(path)
    entry = calendar._parsed()
    shared = entry.calendar.to_ical()
    assert calendar.fetch(WINDOW).blocks == ()
    calendar.apply([Change(Op.CREATE, block())])
    assert len(parses) == 2  # the write did not take the cached parse
    assert entry.calendar.to_ical() == shared
    snap = calendar.fetch(WINDOW)
    assert [b.key for b in snap.blocks] == ["k1"] and titles(snap) == ["Standup"]
    calendar.apply([Change(Op.DELETE, snap.blocks[0], before=snap.blocks[0])])
    assert calendar.fetch(WINDOW).blocks == ()


def test_the_cache_is_bounded_in_files_and_bytes(tmp_path: Path) -> None:
    small = cache.ParseCache(files=2, file_bytes=1000, total_bytes=1500)

    def put(name: str, size: int) -> cache.Entry:
        path = tmp_path / name
        path.write_bytes(b"x" * size)
        identity = cache.Identity.of(path.stat())
        return small.get(str(path), identity, b"x" * size, lambda: ics.parse_calendar(HEAD + TAIL))

    put("a", 600)
    put("b", 600)
    assert len(small) == 2 and small.bytes == 1200
    put("c", 600)  # over 1,500 bytes: the least recently used goes
    assert len(small) == 2 and small.bytes == 1200
    put("d", 1001)  # too large to keep
    assert len(small) == 2
    put("e", 10)
    put("f", 10)
    assert len(small) == 2  # at most two files


def test_readers_in_threads_see_one_version_or_the_other(tmp_path: Path) -> None:
    """Many readers while the file is saved over and over, in place and by rename:
    every read is exactly one version, and the last read sees the last save."""
    path = tmp_path / "cal.ics"
    versions = [
        HEAD + "".join(event(f"{v}-{i}@x", f"Meeting {v}{i:02d}", 1 + i) for i in range(20)) + TAIL
        for v in "AB"
    ]
    assert len(versions[0]) == len(versions[1])
    expected = []
    for text in versions:
        path.write_text(text, newline="")
        expected.append(ics.read(ics.parse_calendar(text), WINDOW).events)
    stop = threading.Event()
    failures: list[str] = []
    reads = [0]

    def reader() -> None:
        while not stop.is_set():
            try:
                got = list(LocalCalendar(path).fetch(WINDOW).events)
            except DataError:  # caught half-way through an in-place save
                continue
            reads[0] += 1
            if got not in expected:
                failures.append(str(sorted(e.title for e in got)))

    threads = [threading.Thread(target=reader) for _ in range(6)]
    for t in threads:
        t.start()
    try:
        for n in range(60):
            text = versions[n % 2]
            if n % 3:
                tmp = tmp_path / "save.tmp"
                tmp.write_text(text, newline="")
                os.replace(tmp, path)
            else:
                with path.open("r+", newline="") as fh:
                    fh.write(text)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not failures and reads[0] > 0
    assert list(LocalCalendar(path).fetch(WINDOW).events) == expected[59 % 2]


def test_cycles_through_a_day_read_one_window(tmp_path: Path, windows: list[Window]) -> None:
    # A cycle reads whole local days, so the web page and every cycle of the day
    # reuse one expansion; the next day reads a new window.
    from worker import config as cfg
    from worker import runner
    from worker.clock import FixedClock
    from worker.state import State

    (tmp_path / "cal.ics").write_text(HEAD + event("a@x", "Standup") + TAIL, newline="")
    path = tmp_path / "firstblock.toml"
    path.write_text(
        f'timezone = "America/New_York"\nstate_dir = "{tmp_path / "state"}"\n'
        f'[[accounts]]\nname = "me"\ncalendar = "{tmp_path / "cal.ics"}"\n'
    )
    config = cfg.load(path)
    for hour in (7, 9, 13, 23):
        moment = datetime(2026, 12, 1, hour, 17, tzinfo=NY)
        result = runner.run_one(
            config, config.accounts[0], FixedClock(moment), apply=False, state=State.memory()
        )
        assert result.outcome is not None
    day = datetime(2026, 12, 2, 6, tzinfo=NY)
    runner.run_one(config, config.accounts[0], FixedClock(day), apply=False, state=State.memory())
    assert len(windows) == 2 and windows[0] != windows[1]
    for w in windows:  # local midnight to local midnight
        for edge in (w.start.astimezone(NY), w.end.astimezone(NY)):
            assert (edge.hour, edge.minute) == (0, 0)
