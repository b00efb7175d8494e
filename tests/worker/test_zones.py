"""Zones with no IANA name, as rules (worker/zones.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from worker.timeutil import at
from worker.zones import Transition, is_rule, rule, same, zone

UTC_0320 = "<+0320>-03:20"
# The zone of Graph's example answer (bias -200, daylightBias -100): UTC+03:20, and
# UTC+05:00 from the 2nd Sunday of October to the 4th Sunday of May, both at 02:00.
SOUTHERN = rule(200, 300, Transition(10, 2, 0, time(2)), Transition(5, 4, 0, time(2)))
PACIFIC = rule(-480, -420, Transition(3, 2, 0, time(2)), Transition(11, 1, 0, time(2)))


def offset(name: str, utc: str) -> timedelta | None:
    return datetime.fromisoformat(utc + "+00:00").astimezone(zone(name)).utcoffset()


def test_a_fixed_odd_offset() -> None:
    assert rule(200) == UTC_0320 and is_rule(UTC_0320) and not is_rule("Asia/Tehran")
    for moment in ("1970-01-01T00:00", "2026-03-29T01:00", "2026-10-25T01:00", "2080-06-01T12:00"):
        assert offset(UTC_0320, moment) == timedelta(hours=3, minutes=20)
    nine = at(date(2026, 11, 30), time(9), zone(UTC_0320))
    assert nine.astimezone(UTC) == datetime(2026, 11, 30, 5, 40, tzinfo=UTC)
    assert zone(UTC_0320) is zone(UTC_0320)  # one tzinfo per rule, as ZoneInfo keeps
    assert zone(UTC_0320).key == UTC_0320  # the name travels as the rule
    assert rule(0) == "<+00>+00:00" and rule(-570) == "<-0930>+09:30"


def test_daylight_time_on_both_sides_of_each_change() -> None:
    # October 2026: the 2nd Sunday is the 11th; 02:00 at +03:20 is 22:40 UTC the day before.
    assert offset(SOUTHERN, "2026-10-10T22:39") == timedelta(hours=3, minutes=20)
    assert offset(SOUTHERN, "2026-10-10T22:40") == timedelta(hours=5)
    # May 2027: the 4th Sunday is the 23rd; 02:00 at +05:00 is 21:00 UTC the day before.
    assert offset(SOUTHERN, "2027-05-22T20:59") == timedelta(hours=5)
    assert offset(SOUTHERN, "2027-05-22T21:00") == timedelta(hours=3, minutes=20)
    # Wall clock: 02:30 does not exist on the 11th (it becomes 04:10, 100 minutes on);
    # 01:30 happens twice on 23 May 2027, and the first is taken.
    skipped = at(date(2026, 10, 11), time(2, 30), zone(SOUTHERN))
    assert skipped.astimezone(UTC) == datetime(2026, 10, 10, 23, 10, tzinfo=UTC)
    twice = at(date(2027, 5, 23), time(1, 30), zone(SOUTHERN))
    assert twice.astimezone(UTC) == datetime(2027, 5, 22, 20, 30, tzinfo=UTC)


def test_a_rule_matches_the_tz_database_where_both_describe_one_zone() -> None:
    la = ZoneInfo("America/Los_Angeles")
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    while moment < datetime(2028, 1, 1, tzinfo=UTC):
        assert moment.astimezone(zone(PACIFIC)).utcoffset() == moment.astimezone(la).utcoffset()
        moment += timedelta(minutes=30)


def test_bad_rules_are_refused() -> None:
    with pytest.raises(ValueError, match="no such yearly date"):
        rule(120, 180, Transition(13, 1, 0, time(2)), Transition(10, 5, 0, time(3)))
    with pytest.raises(ValueError, match="needs a start and an end"):
        rule(120, 180)  # daylight time with no dates
    with pytest.raises(ValueError, match="out of range"):
        rule(24 * 60)
    with pytest.raises(ValueError, match=r"(?i)transition rule"):
        zone("<+0320>-03:20<+05>-05:00,nonsense")
    assert rule(60, 120, Transition(3, 5, 0, time(1)), Transition(3, 5, 0, time(1))) == rule(60)


def test_two_names_of_one_zone_are_the_same_zone() -> None:
    assert same("UTC", "Etc/UTC") and same("US/Pacific", "America/Los_Angeles")
    assert same(PACIFIC, "America/Los_Angeles") and same(rule(0), "UTC")
    assert same("Europe/London", "Europe/Dublin")  # other rules, the same offsets
    assert not same("Europe/Berlin", "Europe/London")
    assert not same(UTC_0320, "Asia/Tehran")  # +03:30
    assert not same("Nowhere/Zone", "UTC") and same("Nowhere/Zone", "Nowhere/Zone")
