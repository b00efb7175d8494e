"""The report in a real browser (Debian's Chromium): the web app's Report page after a
week of runs, and the weekly email as a mail client shows it (its cid: pictures
resolved from the message's own parts). Screenshots as in test_browser.py."""

from __future__ import annotations

import base64
import email
import email.policy
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.test_cli import deliver, run, stamp
from tests.web.test_browser import browser, running, shots

__all__ = ["browser"]  # a fixture, imported for pytest

NY = ZoneInfo("America/New_York")
MONDAY = date(2026, 11, 30)
FRIDAY_EVENING = datetime(2026, 12, 4, 17, 30, tzinfo=NY)
MEETING = (
    "BEGIN:VEVENT\r\nUID:{uid}@x\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:{start}\r\n"
    "DTEND:{end}\r\nSUMMARY:{title}\r\nATTENDEE:mailto:{guest}\r\nEND:VEVENT\r\n"
)


def calendar(meetings: list[tuple[str, datetime, str, str]]) -> str:
    body = "".join(
        MEETING.format(
            uid=uid,
            start=f"{start.astimezone(ZoneInfo('UTC')):%Y%m%dT%H%M%SZ}",
            end=f"{(start + timedelta(hours=1)).astimezone(ZoneInfo('UTC')):%Y%m%dT%H%M%SZ}",
            title=title,
            guest=guest,
        )
        for uid, start, title, guest in meetings
    )
    return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n" + body + "END:VCALENDAR\r\n"


@pytest.fixture
def week(home: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """Ana's week on the local default: runs each day, mail held and released, a
    client meeting left without a next one, and on Wednesday a meeting booked over
    Thursday's prospecting block."""
    path = home / "firstblock.toml"
    path.write_text(
        'timezone = "America/New_York"\n[followups]\ninternal_domains = ["example.com"]\n'
        f'[[accounts]]\nname = "ana"\ncalendar = "{home / "ana.ics"}"\n'
        f'maildir = "{home / "Mail"}"\nemail = "ana@example.com"\n'
    )
    meetings = [("acme", datetime(2026, 11, 30, 14, tzinfo=NY), "Acme discovery", "jo@acme.com")]
    cal = home / "ana.ics"
    cal.write_text(calendar(meetings), newline="")
    for i in range(5):
        day = MONDAY + timedelta(days=i)
        if i == 2:  # Wednesday: a review lands on Thursday morning, beside ana's blocks
            thursday = datetime(2026, 12, 3, 8, 30, tzinfo=NY)
            review = calendar([("review", thursday, "Pipeline review", "lee@example.com")])
            event = review[review.index("BEGIN:VEVENT") : review.index("END:VCALENDAR")]
            text = cal.read_bytes().decode()
            cal.write_text(text.replace("END:VCALENDAR", event + "END:VCALENDAR"), newline="")
        for k in range(3 + i % 2):
            moment = datetime(day.year, day.month, day.day, 8, 0, tzinfo=NY)
            deliver(home / "Mail", f"{stamp(moment.isoformat()) + k}.m{i}{k}.host", "news@x.com")
        for hour, minute in ((7, 0), (9, 0), (12, 0), (17, 30)):
            moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=NY)
            assert run(capsys, "run", "--config", str(path), "--now", moment.isoformat())[0] == 0
    return path


@pytest.fixture
def app(week: Path) -> Iterator[str]:
    yield from running(week, FRIDAY_EVENING.isoformat())


def loaded_images(page: object) -> list[int]:
    """The natural widths of the page's images, once each has loaded (0: broken)."""
    page.wait_for_function(  # type: ignore[attr-defined]
        "[...document.images].every(i => i.complete)"
    )
    widths: list[int] = page.evaluate(  # type: ignore[attr-defined]
        "[...document.images].map(i => i.naturalWidth)"
    )
    return widths


def test_the_report_page_shows_the_week_in_charts(
    app: str, browser: object, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1000, "height": 900})  # type: ignore[attr-defined]
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.goto(app + "/a/ana/report")
    assert page.locator("h1").inner_text() == "Report, week 2026-W49"
    assert loaded_images(page) == [640] * 5
    assert "Anyone who opens this app on this computer." in page.locator(".seen-by").inner_text()
    page.screenshot(path=str(shots(tmp_path) / "report-page.png"), full_page=True)
    phone = browser.new_page(viewport={"width": 390, "height": 844})  # type: ignore[attr-defined]
    phone.goto(app + "/a/ana/report")
    loaded_images(phone)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    assert problems == []


def test_the_weekly_email_shows_its_pictures_in_a_browser(
    week: Path, home: Path, browser: object, tmp_path: Path
) -> None:
    found = []
    for path in (home / "Mail").glob("*/*"):
        if not path.is_file():
            continue
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if str(msg["Subject"]).startswith("Your week"):
            found.append(msg)
    [msg] = found
    assert isinstance(msg, EmailMessage)
    html_part = msg.get_body(preferencelist=("html",))
    assert html_part is not None
    html = html_part.get_content()
    for part in msg.walk():  # what a mail client does with cid: references
        if part.get_content_type() == "image/png":
            cid = str(part["Content-ID"]).strip("<>")
            data = base64.b64encode(part.get_content()).decode()
            html = html.replace(f"cid:{cid}", f"data:image/png;base64,{data}")
    page_file = tmp_path / "email.html"
    page_file.write_text(html, encoding="utf-8")
    page = browser.new_page(viewport={"width": 720, "height": 900})  # type: ignore[attr-defined]
    page.goto(page_file.as_uri())
    assert loaded_images(page) == [640] * 5
    assert "Prospecting:" in page.inner_text("body")
    page.screenshot(path=str(shots(tmp_path) / "report-email.png"), full_page=True)
