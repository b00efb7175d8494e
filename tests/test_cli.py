"""The `firstblock` command end to end, on the embedded default (a local .ics file)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from providers.errors import AuthError, TransientError
from worker import cli, runner
from worker.models import block_id

NOW = "2026-11-30T07:00:00-05:00"  # a Monday morning in New York


def config(home: Path, extra: str = "") -> Path:
    path = home / "firstblock.toml"
    path.write_text(
        'timezone = "America/New_York"\n'
        '[followups]\ninternal_domains = ["example.com"]\n'
        f'[[accounts]]\nname = "work"\ncalendar = "{home / "cal.ics"}"\nemail = "me@example.com"\n'
        + extra
    )
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_zero_config_run_writes_this_weeks_blocks(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "run", "--now", NOW, "--json")
    assert code == 0
    calendar = home / "data" / "calendar.ics"
    assert calendar.exists()
    [account] = json.loads(out)["accounts"]
    kinds = {c["kind"] for c in account["changes"] if c["op"] == "create"}
    assert kinds == {"prospecting", "deals", "prep", "admin"}
    assert calendar.read_bytes().count(b"BEGIN:VEVENT") == len(account["changes"])


def test_second_run_changes_nothing_and_leaves_the_file_byte_identical(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config(home)
    assert run(capsys, "--config", str(path), "run", "--now", NOW)[0] == 0
    first = (home / "cal.ics").read_bytes()
    code, out, _ = run(capsys, "run", "--config", str(path), "--now", NOW, "--json")
    assert code == 0
    assert json.loads(out)["accounts"][0]["changes"] == []
    assert (home / "cal.ics").read_bytes() == first


def test_plan_json_shape_and_writes_nothing(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = config(home)
    code, out, _ = run(capsys, "plan", "--dry-run", "--json", "--config", str(path), "--now", NOW)
    assert code == 0
    assert not (home / "cal.ics").exists()
    [account] = json.loads(out)["accounts"]
    assert account["account"] == "work"
    assert account["timezone"] == "America/New_York"
    first = account["blocks"][0]
    assert first["kind"] == "prospecting"
    assert first["start"] == "2026-11-30T08:30:00-05:00"
    assert set(first) >= {"kind", "start", "end", "title"}
    assert {c["op"] for c in account["changes"]} == {"create"}
    assert all(
        datetime.fromisoformat(c["start"]).utcoffset() is not None for c in account["changes"]
    )
    assert account["shortfalls"] == []


def test_config_from_environment(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIRSTBLOCK_CONFIG", str(config(home)))
    code, out, _ = run(capsys, "plan", "--json", "--now", NOW)
    assert code == 0
    assert json.loads(out)["accounts"][0]["account"] == "work"


def test_a_block_the_user_deletes_is_not_recreated(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config(home)
    run(capsys, "run", "--config", str(path), "--now", NOW)
    cal = home / "cal.ics"
    text = cal.read_bytes().decode()
    uid = block_id("2026-12-01/deals/0")
    start = text.rindex("BEGIN:VEVENT", 0, text.index(uid))
    end = text.index("END:VEVENT", start) + len("END:VEVENT\r\n")
    cal.write_bytes((text[:start] + text[end:]).encode())
    code, out, _ = run(capsys, "run", "--config", str(path), "--now", NOW, "--json")
    assert code == 0
    assert json.loads(out)["accounts"][0]["changes"] == []
    assert uid not in cal.read_bytes().decode()


def test_a_broken_calendar_exits_6_names_the_file_and_is_untouched(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config(home)
    (home / "cal.ics").write_bytes(b"garbage\n")
    code, _, err = run(capsys, "run", "--config", str(path), "--now", NOW)
    assert code == 6
    assert str(home / "cal.ics") in err
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert (home / "cal.ics").read_bytes() == b"garbage\n"


def test_one_broken_account_does_not_stop_the_others(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config(home, f'[[accounts]]\nname = "broken"\ncalendar = "{home / "bad.ics"}"\n')
    (home / "bad.ics").write_bytes(b"garbage\n")
    code, out, err = run(capsys, "run", "--json", "--config", str(path), "--now", NOW)
    assert code == 6
    assert [a["account"] for a in json.loads(out)["accounts"]] == ["work"]
    assert "account broken" in err
    assert (home / "cal.ics").exists()


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["plan", "--now", "tomorrow"], 2, "--now"),
        (["plan", "--now", "2026-11-30T07:00"], 2, "offset"),
        (["plan", "--config", "/nonexistent/firstblock.toml"], 3, "/nonexistent/firstblock.toml"),
    ],
)
def test_usage_errors_are_one_line(
    home: Path, capsys: pytest.CaptureFixture[str], argv: list[str], code: int, message: str
) -> None:
    got, _, err = run(capsys, *argv)
    assert got == code
    assert message in err
    assert err.count("\n") == 1


def test_bad_config_exits_3(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = home / "c.toml"
    path.write_text("[workday]\nstart = '9am'\n")
    code, _, err = run(capsys, "run", "--config", str(path))
    assert code == 3
    assert f"{path}: workday.start" in err


@pytest.mark.parametrize(
    ("error", "code", "words"),
    [
        (AuthError("invalid_grant"), 4, "reconnect this account"),
        (TransientError("503 from server"), 5, "provider unavailable"),
    ],
)
def test_provider_failures_have_their_own_exit_code(
    home: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
    code: int,
    words: str,
) -> None:
    def failing(*args: object, **kwargs: object) -> object:
        raise error

    monkeypatch.setattr(runner, "decide_calendar", failing)
    got, _, err = run(capsys, "run", "--config", str(config(home)), "--now", NOW)
    assert got == code
    assert "account work" in err
    assert words in err


def test_init_writes_a_config_that_loads(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = home / "new" / "config.toml"
    assert run(capsys, "init", "--config", str(target))[0] == 0
    assert target.exists()
    assert run(capsys, "init", "--config", str(target))[0] == 3
    code, out, _ = run(capsys, "plan", "--json", "--config", str(target), "--now", NOW)
    assert code == 0
    assert json.loads(out)["accounts"][0]["account"] == "work"


def test_status_reports_owned_blocks_and_last_run(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config(home)
    code, out, _ = run(capsys, "status", "--json", "--config", str(path), "--now", NOW)
    assert code == 0
    [before] = json.loads(out)["accounts"]
    assert before["last_run"] is None
    assert before["blocks_owned"] == 0
    _, ran, _ = run(capsys, "run", "--json", "--config", str(path), "--now", NOW)
    created = len(json.loads(ran)["accounts"][0]["changes"])
    _, out, _ = run(capsys, "status", "--json", "--config", str(path), "--now", NOW)
    [after] = json.loads(out)["accounts"]
    assert after["blocks_owned"] == created
    assert after["last_changes"]["created"] == created
    assert after["last_run"] == "2026-11-30T12:00:00+00:00"
    assert after["pending_changes"] == 0


def test_demo_shows_a_week(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "demo", "--dir", str(home / "demo"), "--now", NOW)
    assert code == 0
    for word in (
        "PROSPECTING",
        "DEALS",
        "PREP",
        "ADMIN",
        "client",
        "day off",
        "declined",
        "recurring",
        "shortfall",
        "inbox hold: holding",
        "still in the inbox (allowed): bob@globex.com, boss@example.com",
    ):
        assert word in out
    assert (home / "demo" / "demo.ics").exists()


def deliver(maildir: Path, key: str, sender: str, read: bool = False) -> Path:
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    path = maildir / ("cur" if read else "new") / (f"{key}:2,S" if read else key)
    path.write_bytes(f"From: {sender}\r\nSubject: s\r\n\r\nbody\r\n".encode())
    return path


def mail_config(home: Path) -> Path:
    return config(home, f'maildir = "{home / "Mail"}"\n[hold]\nallow = ["boss@example.com"]\n')


def stamp(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def test_run_holds_mail_until_the_admin_block(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = mail_config(home)
    mail = home / "Mail"
    deliver(
        mail,
        f"{stamp('2026-11-30T06:00:00-05:00')}.a.host",
        "news@letters.com",
        read=True,
    )
    deliver(
        mail,
        f"{stamp('2026-11-30T06:30:00-05:00')}.b.host",
        "boss@example.com",
    )
    code, out, _ = run(
        capsys, "run", "--json", "--config", str(path), "--now", "2026-11-30T09:00:00-05:00"
    )
    assert code == 0
    hold = json.loads(out)["accounts"][0]["hold"]
    assert hold == {
        "state": "holding",
        "held": 1,
        "moved_out": 1,
        "returned": 0,
        "release_at": "2026-11-30T16:45:00-05:00",
        "starts_at": "2026-11-30T08:30:00-05:00",
    }
    held = list((mail / ".Firstblock-Held" / "cur").iterdir())
    assert [p.name for p in held] == [f"{stamp('2026-11-30T06:00:00-05:00')}.a.host:2,S"]
    code, out, _ = run(
        capsys, "status", "--json", "--config", str(path), "--now", "2026-11-30T09:05:00-05:00"
    )
    assert json.loads(out)["accounts"][0]["hold"]["held"] == 1
    code, out, _ = run(
        capsys, "run", "--json", "--config", str(path), "--now", "2026-11-30T16:45:00-05:00"
    )
    hold = json.loads(out)["accounts"][0]["hold"]
    assert (hold["state"], hold["returned"], hold["held"]) == ("released", 1, 0)
    assert len(list((mail / "cur").iterdir())) == 1


def test_release_works_even_when_the_calendar_and_config_are_broken(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = mail_config(home)
    mail = home / "Mail"
    key = f"{stamp('2026-11-30T06:00:00-05:00')}.a.host"
    deliver(mail, key, "x@y.com")
    run(capsys, "run", "--config", str(path), "--now", "2026-11-30T09:00:00-05:00")
    assert len(list((mail / ".Firstblock-Held" / "new").iterdir())) == 1
    (home / "cal.ics").write_bytes(b"garbage")
    path.write_text(path.read_text() + "\n[workday]\nstart = 'nine'\n")
    code, out, err = run(capsys, "release", "--json", "--config", str(path))
    assert code == 0
    assert json.loads(out)["accounts"] == [{"account": "work", "returned": 1}]
    assert "workday.start" in err  # the config problem is still reported
    assert [p.name for p in (mail / "new").iterdir()] == [key]


def test_release_a_maildir_directly(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mail = home / "Direct"
    held = mail / ".Firstblock-Held"
    deliver(held, "9.z.host", "x@y.com", read=True)
    code, out, _ = run(capsys, "release", "--maildir", str(mail))
    assert code == 0
    assert "1 held message(s) returned" in out
    assert (mail / "cur" / "9.z.host:2,S").exists()


def test_a_broken_calendar_releases_held_mail(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = mail_config(home)
    mail = home / "Mail"
    deliver(mail, f"{stamp('2026-11-30T06:00:00-05:00')}.a.host", "x@y.com")
    run(capsys, "run", "--config", str(path), "--now", "2026-11-30T09:00:00-05:00")
    (home / "cal.ics").write_bytes(b"garbage")
    code, _, _ = run(capsys, "run", "--config", str(path), "--now", "2026-11-30T09:30:00-05:00")
    assert code == 6
    assert len(list((mail / "new").iterdir())) == 1


def add_event(cal: Path, uid: str, title: str, start: str, end: str, *who: str) -> None:
    text = (
        cal.read_bytes().decode()
        if cal.exists()
        else ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nEND:VCALENDAR\r\n")
    )
    attendees = "".join(f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{w}\r\n" for w in who)
    event = (
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{start}\r\n"
        f"DTEND:{end}\r\nSUMMARY:{title}\r\nORGANIZER:mailto:me@example.com\r\n{attendees}"
        "END:VEVENT\r\n"
    )
    cal.write_bytes(text.replace("END:VCALENDAR", event + "END:VCALENDAR").encode())


def alerts_in(mail: Path) -> list[bytes]:
    return [p.read_bytes() for p in (mail / "new").iterdir() if "fb-alert" in p.name]


def test_a_gap_is_alerted_once_closes_and_is_digested(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = mail_config(home)
    cal, mail = home / "cal.ics", home / "Mail"
    # Monday 14:00-15:00 New York, with Acme; nothing booked after it.
    add_event(
        cal,
        "acme-qbr",
        "Acme QBR",
        "20261130T190000Z",
        "20261130T200000Z",
        "jane@acme.com",
        "me@example.com",
    )
    tue_9 = "2026-12-01T09:00:00-05:00"
    code, out, _ = run(capsys, "run", "--json", "--config", str(path), "--now", tue_9)
    assert code == 0
    assert json.loads(out)["accounts"][0]["followups"]["alerted"] == 1
    [alert] = alerts_in(mail)
    assert b"Book the next meeting with Acme" in alert
    # with the slots checked at that moment: Wednesday, the second workday after Monday
    assert b"Proposed: Wed 02 Dec 10:00, Thu 03 Dec 10:00, Fri 04 Dec 10:00." in alert
    # and a draft to the client, in the Maildir's Drafts, which nothing sends
    assert b"A draft to jane@acme.com proposing these times is in your drafts." in alert
    [draft] = (mail / ".Drafts" / "cur").iterdir()
    assert draft.name.endswith(":2,D")
    text = draft.read_bytes()
    assert b"To: jane@acme.com" in text and b"Subject: Our next meeting: Acme QBR" in text
    assert b"  - Wed 02 Dec, 10:00-11:00 New York time" in text
    run(capsys, "run", "--config", str(path), "--now", "2026-12-01T09:15:00-05:00")
    assert len(alerts_in(mail)) == 1  # alerted once
    assert len(list((mail / ".Drafts" / "cur").iterdir())) == 1  # and drafted once
    code, out, _ = run(capsys, "gaps", "--json", "--config", str(path), "--now", tue_9)
    [gap] = json.loads(out)["gaps"]
    assert gap["meeting"]["title"] == "Acme QBR"
    assert gap["client_keys"] == ["acme.com"]
    assert gap["ended_ago_minutes"] == 18 * 60
    assert gap["alerted_at"] == "2026-12-01T09:00:00-05:00"
    # The state file is lost: at most one repeated alert (here none: the mailbox knows).
    (home / "state" / "state.sqlite3").unlink()
    run(capsys, "run", "--config", str(path), "--now", "2026-12-01T09:30:00-05:00")
    assert len(alerts_in(mail)) == 1
    # A follow-up is booked: the gap closes and shows as closed in the digest.
    add_event(
        cal, "acme-next", "Acme next steps", "20261208T190000Z", "20261208T200000Z", "bob@acme.com"
    )
    code, out, _ = run(capsys, "gaps", "--json", "--config", str(path), "--now", tue_9)
    assert json.loads(out)["gaps"] == []
    code, out, _ = run(
        capsys, "run", "--json", "--config", str(path), "--now", "2026-12-01T16:50:00-05:00"
    )
    assert json.loads(out)["accounts"][0]["followups"]["digest_sent"] is True
    [digest] = [a for a in alerts_in(mail) if b"digest" in a]
    assert b"Closed since the last digest" in digest
    assert b"Proposed:" not in digest  # the one gap closed: nothing left to propose for
    assert b"Acme QBR" in digest
    run(capsys, "run", "--config", str(path), "--now", "2026-12-01T17:05:00-05:00")
    assert len([a for a in alerts_in(mail) if b"digest" in a]) == 1


def test_plan_flags_todays_client_meetings_with_nothing_next(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config(home)
    add_event(
        home / "cal.ics",
        "globex",
        "Globex demo",
        "20261130T190000Z",
        "20261130T200000Z",
        "bob@globex.com",
    )
    code, out, _ = run(capsys, "plan", "--config", str(path), "--now", NOW)
    assert code == 0
    assert "Globex demo  (globex.com)  << no next meeting booked with globex.com" in out


def test_plan_and_gaps_propose_slots_for_the_next_meeting(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config(home, '[followups.client_zones]\n"globex.com" = "Europe/London"\n')
    # Tuesday 14:00-15:00 New York with Globex (London, five hours ahead).
    add_event(
        home / "cal.ics", "globex", "Globex demo", "20261201T190000Z", "20261201T200000Z",
        "bob@globex.com",
    )  # fmt: skip
    code, out, _ = run(capsys, "run", "--config", str(path), "--now", NOW)
    assert code == 0
    # London's 09:00-17:00 is New York's 04:00-12:00; prospecting has 08:30-10:00.
    said = "Proposed: Thu 03 Dec 10:00 (15:00 London), Fri 04 Dec 10:00 (15:00 London),"
    assert said in out
    ics = (home / "cal.ics").read_bytes().decode()
    assert "Before you leave: book the next meeting. " in ics.replace("\r\n ", "")
    code, out, _ = run(capsys, "gaps", "--json", "--config", str(path), "--now", NOW)
    [coming] = json.loads(out)["upcoming"]
    assert coming["meeting"]["title"] == "Globex demo" and coming["client_zones"] == [
        "Europe/London"
    ]
    first = coming["proposed"][0]
    assert first["start"] == "2026-12-03T10:00:00-05:00"
    assert first["client_start"] == {"Europe/London": "2026-12-03T15:00:00+00:00"}
    # After the meeting, with nothing booked: the gap lists slots checked again now.
    wed = "2026-12-02T09:00:00-05:00"
    code, out, _ = run(capsys, "gaps", "--config", str(path), "--now", wed)
    assert "Globex demo" in out and "Proposed: Thu 03 Dec 10:00 (15:00 London)" in out
    add_event(
        home / "cal.ics", "next", "Globex next", "20261208T150000Z", "20261208T160000Z",
        "ann@globex.com",
    )  # fmt: skip
    code, out, _ = run(capsys, "gaps", "--json", "--config", str(path), "--now", wed)
    got = json.loads(out)
    assert got["gaps"] == [] and got["errors"] == []
    assert [u["meeting"]["title"] for u in got["upcoming"]] == ["Globex next"]  # its own turn


def test_a_tentative_hold_is_written_to_the_file_and_goes_once_booked(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config(home)
    path.write_text(
        path.read_text().replace("[followups]\n", "[followups]\ntentative_hold = true\n")
    )
    add_event(
        home / "cal.ics", "globex", "Globex demo", "20261201T190000Z", "20261201T200000Z",
        "bob@globex.com",
    )  # fmt: skip
    code, out, _ = run(capsys, "run", "--config", str(path), "--now", NOW)
    assert code == 0 and "(held in your calendar)" in out
    assert "create tentative   Thu 03 Dec 10:00-11:00  Hold: next meeting after Globex demo" in out
    ics = (home / "cal.ics").read_bytes().decode().replace("\r\n ", "")
    [hold] = [v for v in ics.split("BEGIN:VEVENT") if "X-FIRSTBLOCK-KEY:hold/globex" in v]
    assert "STATUS:TENTATIVE" in hold and "X-MICROSOFT-CDO-BUSYSTATUS:TENTATIVE" in hold
    assert "SUMMARY:Hold: next meeting after Globex demo" in hold
    code, out, _ = run(capsys, "gaps", "--json", "--config", str(path), "--now", NOW)
    [coming] = json.loads(out)["upcoming"]
    assert [s["held"] for s in coming["proposed"]] == [True, False, False]
    held = datetime.fromisoformat(coming["proposed"][0]["start"]).astimezone(UTC)
    assert f"DTSTART:{held:%Y%m%dT%H%M%SZ}" in hold
    add_event(
        home / "cal.ics", "next", "Globex next", "20261208T150000Z", "20261208T160000Z",
        "ann@globex.com",
    )  # fmt: skip
    code, out, _ = run(capsys, "run", "--config", str(path), "--now", NOW)
    assert code == 0
    assert "X-FIRSTBLOCK-KEY:hold/globex" not in (home / "cal.ics").read_bytes().decode()


def test_a_huge_calendar_with_hostile_titles_plans_and_prints_safely(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import UTC, timedelta

    import icalendar

    cal = icalendar.Calendar()
    cal.add("PRODID", "-//test//hostile//EN")
    cal.add("VERSION", "2.0")
    start = datetime(2026, 1, 1, 9, tzinfo=UTC)
    for i in range(6000):  # years of history and a crowded future
        ev = icalendar.Event()
        ev.add("UID", f"e{i}@example.com")
        ev.add("DTSTAMP", start)
        begin = start + timedelta(hours=7 * i)
        ev.add("DTSTART", begin)
        ev.add("DTEND", begin + timedelta(minutes=30))
        ev.add("SUMMARY", f"Call {i}")
        cal.add_component(ev)
    hostile = icalendar.Event()
    hostile.add("UID", "hostile@example.com")
    hostile.add("DTSTAMP", start)
    hostile.add("DTSTART", datetime(2026, 11, 30, 15, tzinfo=UTC))
    hostile.add("DTEND", datetime(2026, 11, 30, 16, tzinfo=UTC))
    hostile.add("SUMMARY", "Evil \x1b[31mred\x1b[0m\r\nInjected: <script>alert(1)</script>")
    cal.add_component(hostile)
    path = config(home)
    (home / "cal.ics").write_bytes(cal.to_ical())
    code, out, err = run(capsys, "plan", "--config", str(path), "--now", NOW)
    assert code == 0 and err == ""
    assert "\x1b" not in out and "\r" not in out
    assert "Evil" in out  # the title is shown, made harmless
    code, out, _ = run(capsys, "plan", "--config", str(path), "--now", NOW, "--json")
    assert code == 0 and json.loads(out)["accounts"][0]["blocks"]


def test_output_cut_short_by_a_pipe_is_no_error(home: Path) -> None:
    """`firstblock demo | head -1`: no traceback once the reader has gone."""
    import os
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "worker", "demo", "--now", NOW],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ},
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # as `head -1` does
    err = proc.stderr.read()
    assert proc.wait(60) == 0
    assert first.startswith(b"firstblock demo") and b"Traceback" not in err, err
