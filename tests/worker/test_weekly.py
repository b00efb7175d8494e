"""The weekly report email on the local default (a Maildir): when it comes, once, what
it carries (valid MIME, pictures by cid:, alt text, a plain-text part), and when not."""

from __future__ import annotations

import email
import email.policy
import io
import re
from datetime import date, datetime, time, timedelta
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from tests.test_cli import deliver, mail_config, run, stamp

NY = ZoneInfo("America/New_York")
MONDAY = date(2026, 11, 30)


def at(day: date, hour: int, minute: int = 0) -> str:
    return datetime.combine(day, time(hour, minute), NY).isoformat()


def reports(home: Path) -> list[EmailMessage]:
    """The weekly emails in the inbox (not held: never in the held folder)."""
    out = []
    for path in sorted((home / "Mail").glob("*/*")):
        if path.is_file():
            msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(msg, EmailMessage)
            if str(msg["Subject"]).startswith("Your week"):
                out.append(msg)
    return out


def week_of_runs(home: Path, capsys: pytest.CaptureFixture[str], config: Path, days: int) -> None:
    for i in range(days):
        day = MONDAY + timedelta(days=i)
        name = f"{stamp(at(day, 8))}.m{i}.host"
        deliver(home / "Mail", name, f"vendor{i}@example.net")
        for hour, minute in ((7, 0), (9, 0), (17, 0)):
            code, _, err = run(
                capsys, "run", "--config", str(config), "--now", at(day, hour, minute)
            )
            assert (code, err) == (0, ""), err


def test_the_report_arrives_once_at_fridays_admin_block_with_its_pictures(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = mail_config(home)
    week_of_runs(home, capsys, config, 4)
    assert reports(home) == []  # Monday to Thursday: not yet
    friday = MONDAY + timedelta(days=4)
    run(capsys, "run", "--config", str(config), "--now", at(friday, 9))
    assert reports(home) == []  # Friday, before its admin block
    run(capsys, "run", "--config", str(config), "--now", at(friday, 16, 45))  # the admin block
    run(capsys, "run", "--config", str(config), "--now", at(friday, 17, 30))
    [msg] = reports(home)
    assert msg["Subject"] == "Your week 2026-W49: 100% of prospecting kept"
    assert msg.get_content_type() == "multipart/alternative"
    plain = msg.get_body(preferencelist=("plain",))
    assert plain is not None and "work: week 2026-W49" in plain.get_content()
    html_part = msg.get_body(preferencelist=("html",))
    assert html_part is not None
    related = next(p for p in msg.walk() if p.get_content_type() == "multipart/related")
    pictures = [p for p in related.iter_parts() if p.get_content_type() == "image/png"]
    html = html_part.get_content()
    referenced = re.findall(r'src="cid:([^"]+)"', html)
    assert len(pictures) == len(referenced) == 5
    assert sorted(str(p["Content-ID"]).strip("<>") for p in pictures) == sorted(referenced)
    for picture in pictures:
        assert picture.get_content_disposition() == "inline"
        image = Image.open(io.BytesIO(picture.get_content()))
        assert image.size == (640, 280)
    assert len(re.findall(r' alt="[^"]{20,}"', html)) == 5
    # Sent once: later cycles of the week, and of the weekend, send nothing more.
    run(capsys, "run", "--config", str(config), "--now", at(friday + timedelta(days=1), 10))
    assert len(reports(home)) == 1


def test_a_missed_friday_goes_out_on_monday(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = mail_config(home)
    week_of_runs(home, capsys, config, 4)  # Monday to Thursday; the laptop shut on Friday
    next_monday = MONDAY + timedelta(days=7)
    run(capsys, "run", "--config", str(config), "--now", at(next_monday, 7))
    [msg] = reports(home)
    assert "2026-W49" in str(msg["Subject"])
    run(capsys, "run", "--config", str(config), "--now", at(next_monday, 17))
    assert len(reports(home)) == 1


def test_an_early_chosen_day_brings_the_whole_week_before(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = mail_config(home)
    config.write_text(config.read_text().replace("[hold]", '[report]\nweekly_day = "mon"\n[hold]'))
    week_of_runs(home, capsys, config, 5)
    next_monday = MONDAY + timedelta(days=7)
    run(capsys, "run", "--config", str(config), "--now", at(next_monday, 9))
    assert reports(home) == []  # before Monday's admin block
    run(capsys, "run", "--config", str(config), "--now", at(next_monday, 17))
    [msg] = reports(home)
    # The whole of week 49, Friday included: five days kept of five.
    assert msg["Subject"] == "Your week 2026-W49: 100% of prospecting kept"
    plain = msg.get_body(preferencelist=("plain",))
    assert plain is not None and "450 of 450 minutes" in plain.get_content()


def test_the_email_comes_with_alert_emails_switched_off(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = mail_config(home)
    config.write_text(config.read_text().replace("[hold]", "[alerts]\nemail = false\n[hold]"))
    week_of_runs(home, capsys, config, 4)
    run(capsys, "run", "--config", str(config), "--now", at(MONDAY + timedelta(days=4), 17))
    assert len(reports(home)) == 1


def test_no_email_when_switched_off(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = mail_config(home)
    config.write_text(
        config.read_text().replace("[hold]", "[report]\nweekly_email = false\n[hold]")
    )
    week_of_runs(home, capsys, config, 5)
    assert reports(home) == []


def test_no_email_for_weeks_with_no_record(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A first run on a Saturday: this week and the last are over, and nothing recorded
    # either; and it is not asked about again.
    config = mail_config(home)
    run(capsys, "run", "--config", str(config), "--now", at(MONDAY + timedelta(days=12), 10))
    run(capsys, "run", "--config", str(config), "--now", at(MONDAY + timedelta(days=12), 11))
    assert reports(home) == []
