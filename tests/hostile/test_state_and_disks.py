"""Full disks, read-only folders and damaged or newer state: one line each, the right
exit code, the other accounts go on, and a good state is never set aside."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hostile.conftest import NOW, fill, read_only, run, small_disk, write_config
from worker.models import block_id

TUESDAY_DEALS = block_id("2026-12-01/deals/0")


def one_line_each(err: str, words: str) -> None:
    lines = err.splitlines()
    assert lines and all(line.startswith("firstblock: ") for line in lines), err
    assert any(words in line for line in lines), err
    assert "Traceback" not in err


def two_accounts(home: Path, first: Path) -> Path:
    """Account "one" with its calendar at `first`, account "two" elsewhere."""
    return write_config(
        home,
        f'[[accounts]]\nname = "one"\ncalendar = "{first}"\n'
        f'[[accounts]]\nname = "two"\ncalendar = "{home / "two.ics"}"\n',
    )


@pytest.fixture
def disk(home: Path) -> Iterator[Path]:
    """A 1 MB tmpfs; skipped where this machine cannot mount one (not root)."""
    with small_disk(home / "disk") as mounted:
        if not mounted:
            pytest.skip("needs a tmpfs mount (root): a full disk cannot be made otherwise")
        yield home / "disk"


def test_a_full_state_disk_never_sets_a_good_state_aside(
    home: Path, disk: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIRSTBLOCK_STATE_DIR", str(disk))
    path = write_config(home)
    assert run(capsys, "run", "--config", str(path), "--now", NOW)[0] == 0
    cal = home / "cal.ics"
    text = cal.read_bytes().decode()
    start = text.index(f"UID:{TUESDAY_DEALS}")
    begin, end = text.rindex("BEGIN:VEVENT", 0, start), text.index("END:VEVENT\r\n", start) + 12
    cal.write_text(text[:begin] + text[end:], newline="")  # the user deletes Tuesday's deals
    assert run(capsys, "run", "--config", str(path), "--now", NOW)[0] == 0
    assert TUESDAY_DEALS not in cal.read_bytes().decode()  # a tombstone now remembers it
    filler = fill(disk)
    code, _, err = run(capsys, "run", "--config", str(path), "--now", NOW)
    assert code == 5, err
    one_line_each(err, "no space left")
    assert len(err.splitlines()) == 1  # said once, though the state failed at each step
    assert sorted(p.name for p in disk.iterdir() if "damaged" in p.name) == []
    filler.unlink()
    code, _, err = run(capsys, "run", "--config", str(path), "--now", NOW)
    assert (code, err) == (0, "")
    assert TUESDAY_DEALS not in cal.read_bytes().decode()  # the state survived the full disk


def test_a_full_calendar_disk_writes_nothing_there_and_the_other_account_goes_on(
    home: Path, disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = disk / "one.ics"
    first.write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nEND:VCALENDAR\r\n", newline=""
    )
    before = first.read_bytes()
    fill(disk)
    code, _, err = run(capsys, "run", "--config", str(two_accounts(home, first)), "--now", NOW)
    assert code == 5
    one_line_each(err, "account one")
    assert "No space left on device" in err and str(first) in err
    assert first.read_bytes() == before
    assert [p.name for p in disk.iterdir() if p.name.endswith(".tmp")] == []
    assert b"X-FIRSTBLOCK-KEY" in (home / "two.ics").read_bytes()


def test_a_read_only_calendar_folder_is_one_line_and_the_other_account_goes_on(
    home: Path, disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = disk / "one.ics"
    first.write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nEND:VCALENDAR\r\n", newline=""
    )
    before = first.read_bytes()
    read_only(disk)
    code, _, err = run(capsys, "run", "--config", str(two_accounts(home, first)), "--now", NOW)
    assert code == 6
    one_line_each(err, "account one")
    assert "Read-only file system" in err
    assert first.read_bytes() == before
    assert b"X-FIRSTBLOCK-KEY" in (home / "two.ics").read_bytes()


def test_a_read_only_state_folder_is_one_line(
    home: Path, disk: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIRSTBLOCK_STATE_DIR", str(disk / "state"))
    read_only(disk)
    code, _, err = run(capsys, "run", "--config", str(write_config(home)), "--now", NOW)
    assert code == 6
    one_line_each(err, "Read-only file system")
    assert not (home / "cal.ics").exists()


def test_a_state_folder_that_is_a_file_is_one_line(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (home / "state").write_text("not a folder")
    code, _, err = run(capsys, "run", "--config", str(write_config(home)), "--now", NOW)
    assert code == 6
    one_line_each(err, str(home / "state"))


def test_state_from_a_newer_firstblock_is_refused_in_one_line_and_kept(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(home)
    assert run(capsys, "run", "--config", str(path), "--now", NOW)[0] == 0
    state = home / "state" / "state.sqlite3"
    with sqlite3.connect(state) as db:
        db.execute("PRAGMA user_version = 99")
    db.close()
    before = state.read_bytes()
    code, _, err = run(capsys, "run", "--config", str(path), "--now", NOW)
    assert code == 6
    one_line_each(err, "newer firstblock (schema 99)")
    assert state.read_bytes() == before


def test_a_damaged_state_is_set_aside_with_a_warning_never_over_an_earlier_one(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = home / "state"
    folder.mkdir()
    (folder / "state.sqlite3").write_bytes(b"this is not a database at all" * 100)
    (folder / "state.sqlite3.damaged").write_bytes(b"an earlier one, kept for a look")
    code, _, err = run(capsys, "run", "--config", str(write_config(home)), "--now", NOW)
    assert code == 0
    assert err.startswith("firstblock: warning: ") and "state.sqlite3.damaged-2" in err
    assert (folder / "state.sqlite3.damaged").read_bytes() == b"an earlier one, kept for a look"
    assert (folder / "state.sqlite3.damaged-2").read_bytes().startswith(b"this is not")


def test_an_unreadable_lock_folder_is_one_line_per_account(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (home / "state").mkdir()
    (home / "state" / "locks").write_text("a file where the lock folder goes")
    code, _, err = run(capsys, "run", "--config", str(write_config(home)), "--now", NOW)
    assert code == 6
    one_line_each(err, "account work")
    assert os.path.isfile(home / "state" / "locks")
