"""The week's report from an account's record: what it holds, in the account's own
days, and never a zero it does not know."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from worker import report
from worker.records import Day, GapRecord, History

NY = ZoneInfo("America/New_York")
SYDNEY = ZoneInfo("Australia/Sydney")
# The week New York leaves summer time (Sunday 1 November 2026).
DST_MONDAY = date(2026, 10, 26)


def at(day: date, hour: int, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=zone)


def history(days: list[Day], **more: object) -> History:
    return History(
        tuple(days),
        tuple(more.get("losses", ())),  # type: ignore[arg-type]
        tuple(more.get("gaps", ())),  # type: ignore[arg-type]
        more.get("since", days[0].day if days else None),  # type: ignore[arg-type]
    )


def test_parse_week() -> None:
    assert report.parse_week("2026-W49") == date(2026, 11, 30)
    assert report.parse_week("2026-w01") == date(2025, 12, 29)
    for bad in ("2026-49", "2026-W54", "W49", ""):
        with pytest.raises(ValueError, match="ISO week"):
            report.parse_week(bad)
    assert report.week_name(date(2026, 12, 3)) == "2026-W49"


def test_a_week_across_the_change_of_clocks_counts_local_days_and_gaps() -> None:
    monday = DST_MONDAY
    week = [monday + timedelta(days=i) for i in range(7)]
    days = [Day(d, 120, 90, 3, 3) for d in week[:5]]
    # A meeting that ended late on Sunday 1 Nov, New York time, is Monday in UTC.
    sunday_late = at(week[6], 23, NY)
    gaps = [
        GapRecord("a|x", "x.com", at(week[0], 11, NY), at(week[0], 12, NY), at(week[2], 11, NY)),
        GapRecord("b|y", "y.com", sunday_late, sunday_late, None),
        GapRecord("c|z", "z.com", at(week[1], 16, NY), at(week[1], 17, NY), at(week[1], 22, NY)),
    ]
    losses = [
        (week[1], "prospecting", 2),
        (week[3], "admin", 1),
        (week[6] + timedelta(1), "deals", 5),
    ]
    now = at(week[6] + timedelta(days=1), 9, NY)
    r = report.build("rep", history(days, gaps=gaps, losses=losses), monday, NY, now)
    assert r.week == "2026-W44" and r.planned == 600 and r.kept == 450
    assert r.share == pytest.approx(0.75)
    assert dict(r.lost) == {"prospecting": 2, "deals": 0, "prep": 0, "admin": 1}
    assert (r.gaps_opened, r.gaps_closed) == (3, 2)
    assert r.median_days == round((47 + 5) / 2 / 24, 1)  # hours: Monday to Wednesday, 5
    assert (r.released, r.most_held) == (15, 3)
    # Seen from Sydney, the late-Sunday gap belongs to the next week.
    r_syd = report.build("rep", history(days, gaps=gaps), monday, SYDNEY, now)
    assert r_syd.gaps_opened == 2


def test_a_week_partly_before_the_record_says_since_and_invents_no_zeros() -> None:
    monday = date(2026, 11, 30)
    wednesday = monday + timedelta(days=2)
    days = [Day(wednesday, 60, 30), Day(wednesday + timedelta(1), 60, 60)]
    now = at(monday + timedelta(days=7), 9, NY)
    r = report.build("rep", history(days), monday, NY, now)
    assert r.since == wednesday
    assert [d.planned for d in r.days] == [None, None, 60, 60, None, None, None]
    assert r.share == pytest.approx(0.75)
    assert [s for _, s in r.trend][:-1] == [None] * 7  # weeks before the record: unknown
    text = report.text(r)
    assert "since Wed 02 Dec" in text and "Mon 30   no record" in text
    as_json = report.as_json(r)
    assert as_json["days"][0]["prospecting_planned_minutes"] is None
    assert as_json["since"] == "2026-12-02"


def test_a_week_with_no_record_says_so_plainly() -> None:
    monday = date(2026, 11, 30)
    r = report.build("rep", history([], since=None), monday, NY, at(monday, 9, NY))
    assert not r.recorded and r.share is None
    assert "nothing recorded for this week." in report.text(r)
    later = report.build(
        "rep", history([], since=monday + timedelta(14)), monday, NY, at(monday, 9, NY)
    )
    assert "nothing recorded for this week; the record starts on Mon 14 Dec 2026" in report.text(
        later
    )


def test_today_has_a_plan_and_no_kept_figure_yet() -> None:
    monday = date(2026, 11, 30)
    days = [Day(monday, 90, 90), Day(monday + timedelta(1), 90, 0)]
    now = at(monday + timedelta(1), 15, NY)
    r = report.build("rep", history(days), monday, NY, now)
    assert [d.kept for d in r.days[:2]] == [90, None]
    assert r.share == pytest.approx(1.0)  # today is not counted
    assert "kept today" in report.text(r)


def test_the_trend_is_eight_weeks_oldest_first() -> None:
    monday = date(2026, 11, 30)
    days = [Day(monday - timedelta(weeks=k), 100, 100 - 10 * k) for k in range(8)]
    now = at(monday + timedelta(days=7), 9, NY)
    r = report.build("rep", history(sorted(days, key=lambda d: d.day)), monday, NY, now)
    assert [w for w, _ in r.trend] == [
        report.week_name(monday - timedelta(weeks=k)) for k in range(7, -1, -1)
    ]
    assert [s for _, s in r.trend] == pytest.approx([0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
