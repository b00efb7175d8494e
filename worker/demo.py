"""A sandbox week for `firstblock demo`: a realistic calendar written as an .ics file."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from worker.timeutil import at

ME = "me@example.com"


def demo_monday(now: datetime, zone: ZoneInfo, *, given: bool = False) -> date:
    """The Monday of the week to show: the week of a `given` moment; otherwise this
    week until Monday 07:00, else the next, so the whole week is still ahead."""
    local = now.astimezone(zone)
    monday = local.date() - timedelta(days=local.weekday())
    if given or (local.weekday() == 0 and local.time() < time(7, 0)):
        return monday
    return monday + timedelta(days=7)


def demo_calendar(monday: date, zone: ZoneInfo) -> str:
    """The week: internal and client meetings, a weekly series, an all-day out of
    office, a declined invitation, a tentative hold and a birthday."""

    def t(day: int, hh: int, mm: int = 0) -> str:
        moment = at(monday + timedelta(days=day), time(hh, mm), zone)
        return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")

    def d(day: int) -> str:
        return (monday + timedelta(days=day)).strftime("%Y%m%d")

    stamp = t(0, 0)
    events = [
        (
            "standup",
            "Team stand-up",
            t(0, 9),
            t(0, 9, 15),
            [
                "RRULE:FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR;COUNT=5",
                "ATTENDEE;CN=Ana:mailto:ana@example.com",
            ],
        ),
        (
            "pipeline",
            "Weekly pipeline review",
            t(0, 11),
            t(0, 12),
            ["RRULE:FREQ=WEEKLY;BYDAY=MO", "ATTENDEE;CN=Sales manager:mailto:boss@example.com"],
        ),
        (
            "acme",
            "Acme: quarterly business review",
            t(0, 14),
            t(0, 15),
            [
                "ATTENDEE;CN=Jane Doe;PARTSTAT=ACCEPTED:mailto:jane@acme.com",
                "ATTENDEE;CUTYPE=ROOM:mailto:room-3@example.com",
            ],
        ),
        (
            "globex",
            "Globex discovery call",
            t(1, 10),
            t(1, 10, 45),
            ["ATTENDEE;CN=Bob;PARTSTAT=ACCEPTED:mailto:bob@globex.com"],
        ),
        ("lunch", "Lunch & learn", t(1, 12), t(1, 13), ["ATTENDEE:mailto:team@example.com"]),
        (
            "conference",
            "Out of office: SaaS Connect conference",
            d(2),
            d(3),
            ["X-MICROSOFT-CDO-BUSYSTATUS:OOF", "X-FIRSTBLOCK-EVENT-TYPE:out-of-office"],
        ),
        (
            "vendor",
            "Vendor pitch (declined)",
            t(3, 9),
            t(3, 10),
            [f"ATTENDEE;PARTSTAT=DECLINED:mailto:{ME}", "ORGANIZER:mailto:sales@vendor.io"],
        ),
        (
            "initech",
            "Initech product demo",
            t(3, 13),
            t(3, 14),
            [
                "ATTENDEE;CN=Peter;PARTSTAT=ACCEPTED:mailto:peter@initech.com",
                "ATTENDEE;CN=Samir;PARTSTAT=TENTATIVE:mailto:samir@initech.com",
            ],
        ),
        (
            "sam",
            "Coffee with Sam (referral)",
            t(3, 15, 30),
            t(3, 16),
            ["ATTENDEE;PARTSTAT=ACCEPTED:mailto:sam.prospect@gmail.com"],
        ),
        (
            "dentist",
            "Dentist (tentative)",
            t(3, 8, 30),
            t(3, 9),
            [f"ATTENDEE;PARTSTAT=TENTATIVE:mailto:{ME}"],
        ),
        (
            "offsite",
            "Sales kick-off planning",
            t(4, 9, 30),
            t(4, 16),
            ["ATTENDEE:mailto:boss@example.com"],
        ),
        ("birthday", "Ana's birthday", d(4), d(5), ["TRANSP:TRANSPARENT"]),
    ]
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//firstblock//demo//EN",
        f"X-WR-TIMEZONE:{zone.key}",
    ]
    for uid, title, start, end, extra in events:
        whole_day = len(start) == 8
        lines += [
            "BEGIN:VEVENT",
            f"UID:demo-{uid}@firstblock.invalid",
            f"DTSTAMP:{stamp}",
            f"DTSTART{';VALUE=DATE' if whole_day else ''}:{start}",
            f"DTEND{';VALUE=DATE' if whole_day else ''}:{end}",
            f"SUMMARY:{title}",
            f"ORGANIZER:mailto:{ME}" if not any(x.startswith("ORGANIZER") for x in extra) else "",
            *extra,
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "\r\n".join(x for x in lines if x) + "\r\n"


def demo_mail(maildir: Path, monday: date, zone: ZoneInfo) -> None:
    """A few messages that arrived before the workday: some held, some allowed."""
    senders = [
        ("news@saas-weekly.com", "This week in SaaS", 6, 5),
        ("boss@example.com", "Numbers for the QBR", 7, 40),
        ("bob@globex.com", "Agenda for tomorrow", 7, 55),
        ("billing@vendor.io", "Your invoice", 8, 10),
        ("recruiter@hire.me", "Quick question", 8, 20),
    ]
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    for i, (sender, subject, hh, mm) in enumerate(senders):
        moment = at(monday, time(hh, mm), zone)
        name = f"{int(moment.timestamp())}.demo{i}.firstblock"
        if any(maildir.rglob(name)):  # held or read in an earlier demo: leave it
            continue
        text = f"From: {sender}\r\nTo: {ME}\r\nSubject: {subject}\r\n\r\nHello.\r\n"
        (maildir / "new" / name).write_text(text, encoding="utf-8", newline="")
