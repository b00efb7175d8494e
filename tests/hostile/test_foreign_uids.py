"""Only firstblock's own VEVENTs are ever replaced in a local calendar; anything else
that shares a block's UID is the user's, stays byte for byte, and is reported."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from providers.local.calendar import LocalCalendar
from tests.contract.calendar import WINDOW, block
from tests.hostile.conftest import NOW, run, write_config
from worker.models import Change, Op, block_id

KEY = "2026-11-30/prospecting/0"
UID = block_id(KEY)


def vevents(text: str) -> list[str]:
    return re.findall(r"BEGIN:VEVENT\r?\n.*?END:VEVENT\r?\n", text, flags=re.S)


def with_uid(text: str, uid: str) -> list[str]:
    return [v for v in vevents(text) if f"\nUID:{uid}\r\n" in v or f"\nUID:{uid}\n" in v]


def untagged(vevent: str) -> str:
    """The block as an app that drops unknown X- properties saves it."""
    return "".join(line for line in vevent.splitlines(keepends=True) if not line.startswith("X-"))


def add(path: Path, vevent: str) -> None:
    text = path.read_bytes().decode()
    end = text.rindex("END:VCALENDAR")
    path.write_text(text[:end] + vevent + text[end:], newline="")


MEETING = (
    "BEGIN:VEVENT\r\nUID:meeting-over-prospecting\r\nDTSTAMP:20261101T000000Z\r\n"
    "DTSTART:20261130T133000Z\r\nDTEND:20261130T150000Z\r\nSUMMARY:Board call\r\n"
    "END:VEVENT\r\n"
)


@pytest.fixture
def written(home: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A calendar with this week's blocks in it; Monday's first prospecting block
    is at 08:30-10:00 New York time."""
    path = write_config(home)
    assert run(capsys, "run", "--config", str(path), "--now", NOW)[0] == 0
    [mine] = with_uid((home / "cal.ics").read_bytes().decode(), UID)
    assert "X-FIRSTBLOCK-KEY" in mine
    return path


def test_an_edit_that_dropped_the_tags_is_the_users_and_never_rewritten(
    home: Path, written: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cal = home / "cal.ics"
    text = cal.read_bytes().decode()
    [mine] = with_uid(text, UID)
    theirs = untagged(mine).replace("SUMMARY:Prospecting", "SUMMARY:Calls (my way)")
    cal.write_text(text.replace(mine, theirs), newline="")
    add(cal, MEETING)  # a meeting lands on it: the plan wants that slot changed
    code, out, _ = run(capsys, "run", "--config", str(written), "--now", NOW, "--json")
    assert code == 0
    after = cal.read_bytes().decode()
    assert with_uid(after, UID) == [theirs]  # still there, byte for byte, and alone
    [account] = json.loads(out)["accounts"]
    assert any("carries the id of a firstblock block" in p for p in account["problems"])
    assert not [c for c in account["changes"] if c["start"].startswith("2026-11-30T08:30")]
    # It counts busy: nothing else is planned over it.
    monday = [b for b in account["blocks"] if b["start"].startswith("2026-11-30")]
    assert all(b["start"] >= "2026-11-30T10:00" for b in monday)
    again = run(capsys, "run", "--config", str(written), "--now", NOW, "--json")[1]
    assert json.loads(again)["accounts"][0]["changes"] == []
    assert cal.read_bytes().decode() == after


def test_a_copy_that_kept_the_uid_and_tags_makes_neither_ours(
    home: Path, written: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cal = home / "cal.ics"
    [mine] = with_uid(cal.read_bytes().decode(), UID)
    copy = mine.replace("DTSTART:20261130T133000Z", "DTSTART:20261201T133000Z").replace(
        "DTEND:20261130T150000Z", "DTEND:20261201T150000Z"
    )
    assert copy != mine
    add(cal, copy)
    add(cal, MEETING)
    code, out, _ = run(capsys, "run", "--config", str(written), "--now", NOW, "--json")
    assert code == 0
    assert with_uid(cal.read_bytes().decode(), UID) == [mine, copy]
    [account] = json.loads(out)["accounts"]
    # Both copies have one title and UID: one warning names them.
    assert sum("carries the id of a firstblock block" in p for p in account["problems"]) == 1


def test_an_event_that_computed_the_id_without_the_fingerprint_is_not_ours(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cal.ics"
    forged = (
        f"BEGIN:VEVENT\r\nUID:{UID}\r\nDTSTAMP:20261101T000000Z\r\n"
        "DTSTART:20261130T140000Z\r\nDTEND:20261130T150000Z\r\nSUMMARY:Mine\r\n"
        f"X-FIRSTBLOCK-KEY:{KEY}\r\nX-FIRSTBLOCK-KIND:prospecting\r\n"
        "X-FIRSTBLOCK-DAY:2026-11-30\r\nEND:VEVENT\r\n"
    )
    original = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//someone//EN\r\n" + forged + "END:VCALENDAR\r\n"
    )
    path.write_text(original, newline="")
    cal = LocalCalendar(path)
    snap = cal.fetch(WINDOW)
    assert snap.blocks == ()
    assert [e.id for e in snap.events] == [UID]
    assert any("carries the id" in p for p in snap.problems)
    # The plan would create the block; its id is taken, so nothing is written.
    assert cal.apply([Change(Op.CREATE, block(KEY))]) == []
    assert path.read_bytes().decode() == original


def test_a_users_event_after_ours_with_the_same_uid_is_never_dropped(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cal.ics"
    cal = LocalCalendar(path)
    cal.apply([Change(Op.CREATE, block(KEY))])
    [found] = cal.fetch(WINDOW).blocks
    user = (
        f"BEGIN:VEVENT\r\nUID:{UID}\r\nDTSTAMP:20261101T000000Z\r\n"
        "DTSTART:20261202T140000Z\r\nDTEND:20261202T150000Z\r\nSUMMARY:Lunch\r\nEND:VEVENT\r\n"
    )
    add(path, user)
    before = path.read_bytes().decode()
    # The block found earlier is no longer provably ours: the update is refused
    # as a conflict (re-read and re-plan), and nothing is replaced or dropped.
    moved = block(KEY, 11, 12)
    with pytest.raises(Exception, match="gone"):
        cal.apply([Change(Op.UPDATE, moved, before=found)])
    cal.apply([Change(Op.DELETE, found, before=found)])
    assert path.read_bytes().decode() == before
    assert len(with_uid(before, UID)) == 2


def test_an_alarm_inside_a_users_event_carrying_a_block_uid_is_not_mistaken(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cal.ics"
    cal = LocalCalendar(path)
    cal.apply([Change(Op.CREATE, block(KEY))])
    user = (
        "BEGIN:VEVENT\r\nBEGIN:VALARM\r\nUID:" + UID + "\r\nACTION:DISPLAY\r\n"
        "TRIGGER:-PT5M\r\nEND:VALARM\r\nUID:lunch@x\r\nDTSTAMP:20261101T000000Z\r\n"
        "DTSTART:20261202T140000Z\r\nDTEND:20261202T150000Z\r\nSUMMARY:Lunch\r\nEND:VEVENT\r\n"
    )
    text = path.read_bytes().decode()
    end = text.index("BEGIN:VEVENT")
    path.write_text(text[:end] + user + text[end:], newline="")  # before our block
    [found] = cal.fetch(WINDOW).blocks
    cal.apply([Change(Op.UPDATE, block(KEY, 11, 12), before=found)])
    after = path.read_bytes().decode()
    assert user in after
    [moved] = cal.fetch(WINDOW).blocks
    assert moved.start == block(KEY, 11, 12).start
