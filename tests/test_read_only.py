"""plan, status and gaps decide and never commit: the state file stays byte for byte
(none is created where there was none), and the calendar and mailbox are untouched."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.test_cli import NOW, deliver, run, stamp
from worker.models import block_id


def snapshot(*roots: Path) -> dict[str, str]:
    """Every file under `roots`, by path, with a hash of its bytes."""
    out = {}
    for root in roots:
        for path in sorted(root.rglob("*")) if root.exists() else []:
            if path.is_file():
                out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def local(home: Path) -> str:
    path = home / "firstblock.toml"
    path.write_text(
        'timezone = "America/New_York"\n[followups]\ninternal_domains = ["example.com"]\n'
        f'[[accounts]]\nname = "work"\ncalendar = "{home / "cal.ics"}"\n'
        f'maildir = "{home / "Mail"}"\nemail = "me@example.com"\n'
    )
    return str(path)


READ_ONLY = [["plan"], ["plan", "--dry-run"], ["status"], ["gaps"]]


@pytest.mark.parametrize("argv", READ_ONLY)
def test_read_only_commands_create_no_state_where_there_was_none(
    home: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    cfg = local(home)
    code, _, err = run(capsys, *argv, "--config", cfg, "--now", NOW)
    assert (code, err) == (0, "")
    assert not (home / "state").exists()  # no state file, no lock folder
    assert not (home / "cal.ics").exists() and not (home / "Mail").exists()


@pytest.mark.parametrize("argv", READ_ONLY)
def test_read_only_commands_leave_state_calendar_and_mail_byte_identical(
    home: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    cfg = local(home)
    deliver(home / "Mail", f"{stamp('2026-12-01T09:00:00-05:00')}.a.host", "news@letters.com")
    client = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:m@x\r\n"
        "DTSTAMP:20261101T000000Z\r\nDTSTART:20261130T140000Z\r\nDTEND:20261130T150000Z\r\n"
        "SUMMARY:Acme call\r\nATTENDEE:mailto:jo@acme.com\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    (home / "cal.ics").write_text(client, newline="")
    assert run(capsys, "run", "--config", cfg, "--now", NOW)[0] == 0
    before = snapshot(home / "state", home / "Mail", home / "cal.ics")
    # Later, when a run would hold mail, alert a gap, age tombstones and move blocks.
    later = "2026-12-01T12:00:00-05:00"
    code, out, _ = run(capsys, *argv, "--config", cfg, "--now", later, "--json")
    assert code == 0
    assert snapshot(home / "state", home / "Mail", home / "cal.ics") == before
    if argv[0] == "plan":
        [account] = json.loads(out)["accounts"]
        assert account["changes"] and account["hold"]["moved_out"] == 1  # it had work to do
        assert account["followups"]["open"] == 1


def test_a_plan_at_a_later_moment_does_not_age_out_what_the_user_deleted(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Once, a plan a week ahead dropped the tombstone of a block the user deleted, and
    the next plan proposed to create it again."""
    cfg = local(home)
    assert run(capsys, "run", "--config", cfg, "--now", NOW)[0] == 0
    uid = block_id("2026-12-02/prospecting/0")
    text = (home / "cal.ics").read_bytes().decode()
    start = text.index(f"UID:{uid}")
    begin, end = text.rindex("BEGIN:VEVENT", 0, start), text.index("END:VEVENT\r\n", start) + 12
    (home / "cal.ics").write_text(text[:begin] + text[end:], newline="")  # the user deletes it
    assert run(capsys, "run", "--config", cfg, "--now", "2026-11-30T07:30:00-05:00")[0] == 0
    assert run(capsys, "plan", "--config", cfg, "--now", "2026-12-07T07:00:00-05:00")[0] == 0
    _, out, _ = run(capsys, "plan", "--json", "--config", cfg, "--now", "2026-11-30T08:00:00-05:00")
    [account] = json.loads(out)["accounts"]
    wednesday = [c for c in account["changes"] if c["start"].startswith("2026-12-02T08:30")]
    assert wednesday == [], "a block the user deleted is proposed again"
