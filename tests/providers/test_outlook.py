"""The Outlook provider on the Graph emulator: the contracts, then what is Outlook's own."""

from __future__ import annotations

from dataclasses import replace
from datetime import time, timedelta
from pathlib import Path

import pytest

from providers.memo import Memo
from providers.outlook.calendar import OutlookCalendar
from providers.outlook.mail import HELD_FOLDER, OutlookMailbox
from providers.snapshots import SNAPSHOTS
from tests.contract.calendar import WINDOW, CalendarContract, at, block
from tests.contract.mail import T0, MailContract
from tests.emulators.graph import GraphEmulator
from tests.providers.outlook_fixtures import (
    ME,
    OutlookMailOutside,
    OutlookOutside,
    Sleeps,
    graph,
    outlook,
    timed,
)
from worker.models import Alert, Change, EventType, Op, Response, Status

__all__ = ["graph"]  # a fixture, imported for pytest


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


class TestOutlookCalendarContract(CalendarContract):
    @pytest.fixture
    def calendar(self, graph: GraphEmulator, sleeps: Sleeps, tmp_path: Path) -> OutlookCalendar:
        return outlook(graph, tmp_path / "memo.json", sleeps)[0]

    @pytest.fixture
    def outside(self, graph: GraphEmulator) -> OutlookOutside:
        return OutlookOutside(graph)


class TestOutlookMailContract(MailContract):
    @pytest.fixture
    def mailbox(self, graph: GraphEmulator, sleeps: Sleeps, tmp_path: Path) -> OutlookMailbox:
        return outlook(graph, tmp_path / "memo.json", sleeps)[1]

    @pytest.fixture
    def outside(self, graph: GraphEmulator) -> OutlookMailOutside:
        return OutlookMailOutside(graph)


def calls(emu: GraphEmulator) -> list[str]:
    return [f"{r.method} {r.path}" for r in emu.requests if not r.batch_part]


def test_show_as_answers_and_types_map_to_the_domain(graph: GraphEmulator, sleeps: Sleeps) -> None:
    def put(ident: str, **fields: object) -> None:
        graph.put_event(
            {"id": ident, "subject": ident, "start": timed(at(9)), "end": timed(at(10)), **fields}
        )

    put("oof", showAs="oof")
    put("elsewhere", showAs="workingElsewhere")
    put("free", showAs="free")
    put("maybe", showAs="tentative")
    put("declined", responseStatus={"response": "declined"})
    put("cancelled", isCancelled=True)
    put(
        "room",
        attendees=[
            {
                "type": "resource",
                "emailAddress": {"address": "room1@contoso.com"},
                "status": {"response": "accepted"},
            }
        ],
    )
    events = {e.id: e for e in outlook(graph, None, sleeps)[0].fetch(WINDOW).events}
    assert events["oof"].event_type is EventType.OUT_OF_OFFICE
    assert events["elsewhere"].event_type is EventType.WORKING_LOCATION
    assert events["free"].transparent
    assert events["maybe"].status is Status.TENTATIVE
    assert events["declined"].response_of(ME) is Response.DECLINED
    assert "cancelled" not in events
    assert events["room"].attendees[0].resource


def test_the_time_zone_comes_from_mailbox_settings_in_windows_names(
    graph: GraphEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    memo = tmp_path / "memo.json"
    assert outlook(graph, memo, sleeps)[0].timezone() == "America/New_York"
    graph.reset_log()
    assert outlook(graph, memo, sleeps)[0].timezone() == "America/New_York"
    assert graph.requests == []


def test_blocks_are_busy_tagged_and_written_in_one_batch(
    graph: GraphEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    cal = outlook(graph, tmp_path / "memo.json", sleeps)[0]
    cal.fetch(WINDOW)
    graph.reset_log()
    cal.apply([Change(Op.CREATE, block(f"k{i}", 9 + i, 10 + i)) for i in range(3)])
    assert calls(graph) == ["POST /v1.0/$batch", "POST /v1.0/$batch"]  # lookups, then creates
    [stored] = [e for e in graph.events() if e.get("subject") == "Prospecting" and "k0" in str(e)]
    assert stored["showAs"] == "busy"
    assert stored["isReminderOn"] is False
    assert stored["categories"] == ["Prospecting"]
    assert not stored.get("attendees")
    assert stored["transactionId"] == block("k0").id


def test_a_quiet_calendar_costs_one_request_and_an_expired_delta_a_full_view(
    graph: GraphEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    memo = tmp_path / "memo.json"
    OutlookOutside(graph).add_event("acme", "Acme", at(14), at(15))
    cal = outlook(graph, memo, sleeps)[0]
    first = cal.fetch(WINDOW)
    cal.apply([Change(Op.CREATE, block())])
    graph.reset_log()
    again = outlook(graph, memo, sleeps)[0].fetch(WINDOW)
    assert len(graph.requests) == 1  # the delta link: only our own write came back
    assert again.events == first.events and len(again.blocks) == 1
    graph.expire_delta("410")
    graph.reset_log()
    assert outlook(graph, memo, sleeps)[0].fetch(WINDOW) == again
    assert graph.requests[0].status == 410


def test_the_hold_folder_and_rule(graph: GraphEmulator, sleeps: Sleeps, tmp_path: Path) -> None:
    box = outlook(graph, tmp_path / "memo.json", sleeps)[1]
    box.set_hold_rule(["boss@contoso.com", "@fabrikam.com"])
    [rule] = graph.rules()
    held = graph.arrive(sender="spam@vendor.com", received=T0)
    boss = graph.arrive(sender="boss@contoso.com", received=T0)
    client = graph.arrive(sender="jane@sales.fabrikam.com", received=T0)
    assert [m.id for m in box.list_held()] == [held]
    assert {m.id for m in box.list_inbox(None)} == {boss, client}
    box.deliver(Alert("gap:acme:1", "Book the next meeting with Acme", "text", T0))
    assert any(m.alert for m in box.list_inbox(None))
    graph.reset_log()
    box.set_hold_rule(["@fabrikam.com", "boss@contoso.com"])
    assert graph.requests == []
    box.set_hold_rule(None)
    assert [r["isEnabled"] for r in graph.rules()] == [False]
    assert graph.message(held)["folder"] == HELD_FOLDER
    assert (rule["sequence"], rule["actions"]["stopProcessingRules"]) == (999, False)


def test_a_quiet_mailbox_costs_one_request(
    graph: GraphEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    box = outlook(graph, tmp_path / "memo.json", sleeps)[1]
    graph.arrive(sender="a@x.com", received=T0)
    box.list_inbox(T0 - timedelta(hours=1))  # a dry run: no held folder is made
    assert HELD_FOLDER not in {f["displayName"] for f in graph.folders()}
    graph.reset_log()
    box = outlook(graph, tmp_path / "memo.json", sleeps)[1]
    box.list_inbox(T0 - timedelta(hours=1)), box.list_held()
    assert calls(graph) == ["GET /v1.0/me/mailFolders/inbox/messages"]
    box.hold([m.id for m in box.list_inbox(None)])  # the folder exists from now on
    graph.reset_log()
    box = outlook(graph, tmp_path / "memo.json", sleeps)[1]
    box.list_inbox(T0 - timedelta(hours=1)), box.list_held()
    assert calls(graph) == ["POST /v1.0/$batch"]  # the inbox and the held folder at once


def test_working_hours_come_from_the_mailbox_unless_the_config_says(
    sleeps: Sleeps, tmp_path: Path
) -> None:
    from worker.config import default_config, parse
    from worker.cycle import with_calendar_hours

    emu = GraphEmulator(require_auth=False).start()
    try:
        hours = {
            "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday"],
            "startTime": "07:00:00.0000000",
            "endTime": "15:30:00.0000000",
            "timeZone": {"name": "Eastern Standard Time"},
        }
        emu.user(ME, timezone="Eastern Standard Time", working_hours=hours)
        cal = outlook(emu, tmp_path / "memo.json", sleeps)[0]
        workday = with_calendar_hours(default_config(), cal)[0].workday
        assert (workday.days, workday.start, workday.end) == (
            frozenset({0, 1, 2, 3}),
            time(7),
            time(15, 30),
        )
        mine = parse({"workday": {"start": "09:00", "end": "17:00"}})
        assert with_calendar_hours(mine, cal)[0].workday.start == time(9)
    finally:
        emu.stop()


def test_a_custom_time_zone_with_no_definition_falls_back_and_says_so(
    sleeps: Sleeps, tmp_path: Path
) -> None:
    emu = GraphEmulator(require_auth=False).start()
    try:
        emu.user(
            ME,
            timezone="Customized Time Zone",
            working_hours={"timeZone": {"name": "Customized Time Zone"}},
        )
        cal = outlook(emu, tmp_path / "memo.json", sleeps)[0]
        assert cal.working_hours() is None  # the default workday
        assert cal.timezone() is None  # the config's zone, else this machine's, is used
        hours, zone = cal.notes()[1:]
        assert "working hours" in hours and "[workday]" in hours
        assert "'Customized Time Zone'" in zone and "machine's time zone" in zone
        assert list(cal.fetch(WINDOW).problems) == [hours, zone]  # run's warnings too
    finally:
        emu.stop()


# A Pacific mailbox's custom zone as Graph answers it (bias 480, as reported in
# microsoftgraph/microsoft-graph-docs issue #15217), and Graph's own example answer
# (user-update-mailboxsettings.md): UTC+03:20, UTC+05:00 from October to May.
PACIFIC_CUSTOM = {
    "@odata.type": "#microsoft.graph.customTimeZone",
    "name": "Customized Time Zone",
    "bias": 480,
    "standardOffset": {
        "time": "02:00:00.0000000",
        "dayOccurrence": 1,
        "dayOfWeek": "sunday",
        "month": 11,
        "year": 0,
    },
    "daylightOffset": {
        "daylightBias": -60,
        "time": "02:00:00.0000000",
        "dayOccurrence": 2,
        "dayOfWeek": "sunday",
        "month": 3,
        "year": 0,
    },
}
DOCS_CUSTOM = {
    "@odata.type": "#microsoft.graph.customTimeZone",
    "bias": -200,
    "name": "Customized Time Zone",
    "standardOffset": {
        "time": "02:00:00.0000000",
        "dayOccurrence": 4,
        "dayOfWeek": "sunday",
        "month": 5,
        "year": 0,
    },
    "daylightOffset": {
        "daylightBias": -100,
        "time": "02:00:00.0000000",
        "dayOccurrence": 2,
        "dayOfWeek": "sunday",
        "month": 10,
        "year": 0,
    },
}
FIXED_CUSTOM = {
    "@odata.type": "#microsoft.graph.customTimeZone",
    "bias": -200,
    "name": "Customized Time Zone",
    "standardOffset": {"time": "00:00:00", "dayOccurrence": 0, "month": 0, "year": 0},
    "daylightOffset": {"daylightBias": 0, "time": "00:00:00", "dayOccurrence": 0, "month": 0},
}


def test_the_sign_of_a_custom_zones_bias_comes_from_real_answers() -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from providers.outlook.mapping import custom_rule
    from worker.zones import zone

    pacific, la = zone(custom_rule(PACIFIC_CUSTOM)), ZoneInfo("America/Los_Angeles")
    for month in range(1, 13):
        moment = datetime(2026, month, 15, 12, tzinfo=UTC)
        assert moment.astimezone(pacific).utcoffset() == moment.astimezone(la).utcoffset()
    docs = zone(custom_rule(DOCS_CUSTOM))
    assert datetime(2026, 7, 1, tzinfo=UTC).astimezone(docs).utcoffset() == timedelta(
        hours=3, minutes=20
    )
    assert datetime(2026, 12, 1, tzinfo=UTC).astimezone(docs).utcoffset() == timedelta(hours=5)
    assert custom_rule(FIXED_CUSTOM) == "<+0320>-03:20"
    with pytest.raises(ValueError, match="every year"):
        custom_rule(
            {**DOCS_CUSTOM, "standardOffset": {**DOCS_CUSTOM["standardOffset"], "year": 2027}}
        )
    with pytest.raises(ValueError, match="day of the week"):
        custom_rule(
            {**DOCS_CUSTOM, "daylightOffset": {**DOCS_CUSTOM["daylightOffset"], "dayOfWeek": "x"}}
        )


@pytest.mark.parametrize(
    ("mailbox_zone", "definition", "rule"),
    [
        ("customTimeZone", FIXED_CUSTOM, "<+0320>-03:20"),
        (
            "Customized Time Zone",
            DOCS_CUSTOM,
            "<+0320>-03:20<+05>-05:00,M10.2.0/02:00:00,M5.4.0/02:00:00",
        ),
    ],
)
def test_a_custom_time_zone_is_built_from_its_definition(
    sleeps: Sleeps, tmp_path: Path, mailbox_zone: str, definition: dict[str, object], rule: str
) -> None:
    emu = GraphEmulator(require_auth=False).start()
    try:
        hours = {"startTime": "09:00:00.0000000", "endTime": "17:00:00.0000000"}
        emu.user(ME, timezone=mailbox_zone, working_hours={**hours, "timeZone": definition})
        cal = outlook(emu, tmp_path / "memo.json", sleeps)[0]
        found = cal.working_hours()
        assert found is not None and found.zone == rule
        assert cal.timezone() == rule
        assert cal.notes()[1:] == [f"time zone: the mailbox's custom zone, as the rule {rule}"]
        assert cal.fetch(replace(WINDOW, zone=rule)).problems == ()
    finally:
        emu.stop()


def test_working_hours_keep_their_own_zone(sleeps: Sleeps, tmp_path: Path) -> None:
    emu = GraphEmulator(require_auth=False).start()
    try:
        hours = {"timeZone": {"name": "Pacific Standard Time"}}  # 08:00-17:00 by default
        emu.user(ME, timezone="UTC", working_hours=hours)
        memo = tmp_path / "memo.json"
        cal = outlook(emu, memo, sleeps)[0]
        found = cal.working_hours()
        assert found is not None and (found.start, found.zone) == (time(8), "America/Los_Angeles")
        assert cal.timezone() == "Etc/UTC"  # CLDR's name for Windows' "UTC"
        assert cal.notes()[1:] == [] and cal.fetch(WINDOW).problems == ()
        # A memo from before hours kept their zone is read again, once.
        old = Memo(memo)
        old.set("settings", {"timezone": "Etc/UTC", "custom_zone": None, "hours": None})
        old.save()
        emu.reset_log()
        again = outlook(emu, memo, sleeps)[0]
        assert again.working_hours() == found and again.working_hours() == found
        assert calls(emu) == ["GET /v1.0/me/mailboxSettings"]
    finally:
        emu.stop()


def test_unusable_hours_and_an_unknown_zone_fall_back_and_say_so(
    sleeps: Sleeps, tmp_path: Path
) -> None:
    emu = GraphEmulator(require_auth=False).start()
    try:
        hours = {"timeZone": {"name": "Nowhere Standard Time"}}
        emu.user(ME, timezone="Nowhere Standard Time", working_hours=hours)
        cal = outlook(emu, tmp_path / "memo.json", sleeps)[0]
        assert cal.working_hours() is None
        [line] = cal.notes()[1:]
        assert "'Nowhere Standard Time'" in line and "default workday" in line
        assert cal.timezone() is None
        assert len(cal.notes()[1:]) == 2 and cal.fetch(WINDOW).problems == tuple(cal.notes()[1:])
        # Not asked (the config sets both): nothing fell back, nothing is said.
        quiet = outlook(emu, tmp_path / "memo.json", sleeps)[0]
        assert quiet.notes()[1:] == [] and quiet.fetch(WINDOW).problems == ()
    finally:
        emu.stop()


def test_the_delta_link_and_the_cached_span_never_drift_apart(
    graph: GraphEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    from dataclasses import replace as rebuild

    memo = tmp_path / "memo.json"
    graph.put_event(
        {"id": "other", "subject": "Other", "start": timed(at(12)), "end": timed(at(13))}
    )
    for day in range(12):  # a run each morning, and someone changes something each day
        if day:
            graph.patch_event("other", {"subject": f"Other {day}"})
        shift = timedelta(days=day)
        window = rebuild(WINDOW, start=WINDOW.start + shift, end=WINDOW.end + shift + timedelta(30))
        outlook(graph, memo, sleeps)[0].fetch(window)
    late = window.end - timedelta(days=1)  # inside today's window, past the first span
    graph.put_event(
        {
            "id": "late",
            "subject": "Late",
            "start": timed(late),
            "end": timed(late + timedelta(hours=1)),
        }
    )
    assert "late" in {e.id for e in outlook(graph, memo, sleeps)[0].fetch(window).events}


def test_a_rule_copied_by_a_lost_answer_never_keeps_holding(
    graph: GraphEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    from providers.outlook.mail import RULE_NAME
    from providers.outlook.session import Call

    box = outlook(graph, tmp_path / "memo.json", sleeps)[1]
    box.set_hold_rule(["boss@contoso.com"])
    [rule] = graph.rules()
    copy = {k: rule[k] for k in ("displayName", "sequence", "isEnabled", "exceptions", "actions")}
    box.session.call(Call("POST", "me/mailFolders/inbox/messageRules", body=copy))
    assert [r["displayName"] for r in graph.rules()] == [RULE_NAME, RULE_NAME]
    box.set_hold_rule(None)  # release: every rule of ours goes off
    assert [r["isEnabled"] for r in graph.rules()] == [False, False]
    late = graph.arrive(sender="news@vendor.com", received=T0)
    assert graph.message(late)["folder"] == "inbox"
    box.set_hold_rule(["boss@contoso.com"])  # next morning: one rule again
    assert [r["isEnabled"] for r in graph.rules()] == [True]


def test_a_block_made_into_a_series_or_copied_is_the_users(
    graph: GraphEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    cal = outlook(graph, tmp_path / "memo.json", sleeps)[0]
    cal.fetch(WINDOW)
    [made] = cal.apply([Change(Op.CREATE, block())])
    [other] = cal.apply([Change(Op.CREATE, block("k2", 11, 12))])
    stored = graph.event(other.block.ref)
    assert stored is not None
    copy = {k: stored[k] for k in ("subject", "start", "end", "singleValueExtendedProperties")}
    graph.put_event({**copy, "start": timed(at(15)), "end": timed(at(16))})  # the user's copy
    recurrence = {
        "pattern": {"type": "daily", "interval": 1},
        "range": {"type": "numbered", "startDate": "2026-11-30", "numberOfOccurrences": 3},
    }
    graph.patch_event(made.block.ref, {"recurrence": recurrence})
    snap = outlook(graph, tmp_path / "memo.json", sleeps)[0].fetch(WINDOW)
    assert [(b.key, b.touched) for b in snap.blocks] == [("k2", True), ("k2", True)]
    assert any("two events carry block k2" in p for p in snap.problems)
    series = [e for e in snap.events if e.title == "Prospecting"]
    assert len(series) == 3  # the occurrences are busy events, never the worker's


def test_an_expired_delta_in_either_form_means_a_fresh_start(
    graph: GraphEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    memo = tmp_path / "memo.json"
    OutlookOutside(graph).add_event("acme", "Acme", at(14), at(15))
    first = outlook(graph, memo, sleeps)[0].fetch(WINDOW)
    for kind, status in (("syncStateNotFound", 400), ("410", 410)):
        graph.expire_delta(kind)
        graph.reset_log()
        assert outlook(graph, memo, sleeps)[0].fetch(WINDOW) == first
        assert graph.requests[0].status == status
        assert len(graph.requests) == 3  # the old link, a new delta round, the view


def test_a_steady_read_gives_its_last_snapshot_back_until_the_listing_changes(
    graph: GraphEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    memo = tmp_path / "memo.json"
    OutlookOutside(graph).add_event("acme", "Acme", at(14), at(15))
    first = outlook(graph, memo, sleeps)[0].fetch(WINDOW)
    assert outlook(graph, memo, sleeps)[0].fetch(WINDOW) is first  # nothing changed
    # Another process (its own session on the same memo) writes a block: its write is
    # in the remembered listing, and this process must not give the old snapshot back.
    outlook(graph, memo, sleeps)[0].apply([Change(Op.CREATE, block())])
    after_write = outlook(graph, memo, sleeps)[0].fetch(WINDOW)
    assert [b.key for b in after_write.blocks] == [block().key]
    [made] = after_write.blocks
    outlook(graph, memo, sleeps)[0].apply([Change(Op.DELETE, made, before=made)])
    assert outlook(graph, memo, sleeps)[0].fetch(WINDOW).blocks == ()
    # Someone else's change, read by the delta link.
    OutlookOutside(graph).add_event("beta", "Beta", at(16), at(17))
    changed = outlook(graph, memo, sleeps)[0].fetch(WINDOW)
    assert {e.title for e in changed.events} == {"Acme", "Beta"}
    # Another window (the next day's) is mapped again, from the same listing.
    later = replace(WINDOW, start=WINDOW.start + timedelta(hours=15))
    assert {e.title for e in outlook(graph, memo, sleeps)[0].fetch(later).events} == {"Beta"}


def test_a_steady_read_leaves_the_items_unread_and_lost_items_mean_a_fresh_view(
    graph: GraphEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    memo = tmp_path / "memo.json"
    OutlookOutside(graph).add_event("acme", "Acme", at(14), at(15))
    first = outlook(graph, memo, sleeps)[0].fetch(WINDOW)
    steady = outlook(graph, memo, sleeps)[0]
    assert steady.fetch(WINDOW) is first
    assert "items" not in steady.memo.get("calendar")  # the side was never read
    # The side lost (a crash between its write and the memo's): read afresh, once.
    (tmp_path / "calendar" / "memo.json").unlink()
    SNAPSHOTS.keep(str(memo), "another process's listing", first)
    graph.reset_log()
    again = outlook(graph, memo, sleeps)[0].fetch(WINDOW)
    assert again == first and again is not first
    assert [c.split("?")[0] for c in calls(graph)] == [
        "GET /v1.0/me/calendarView/delta",  # the remembered link: nothing new
        "GET /v1.0/me/calendarView/delta",  # a new round, then the view
        "GET /v1.0/me/calendar/calendarView",
    ]
    assert outlook(graph, memo, sleeps)[0].fetch(WINDOW) is again


def test_a_write_over_lost_items_drops_the_listing_so_a_quiet_read_sees_the_write(
    graph: GraphEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    memo = tmp_path / "memo.json"
    outlook(graph, memo, sleeps)[0].fetch(WINDOW)
    (tmp_path / "calendar" / "memo.json").unlink()
    outlook(graph, memo, sleeps)[0].apply([Change(Op.CREATE, block())])
    quiet = outlook(graph, memo, sleeps)[0]
    quiet.quiet = True  # push says nothing changed: no delta is asked
    assert [b.key for b in quiet.fetch(WINDOW).blocks] == [block().key]


def test_sign_in_answers_are_told_apart() -> None:
    from providers.errors import AuthError, TransientError
    from providers.outlook import auth

    with pytest.raises(AuthError):
        auth._token({"error": "invalid_grant", "error_description": "AADSTS50173: revoked"})
    with pytest.raises(TransientError):
        auth._token({"error": "temporarily_unavailable"})
    assert auth._token({"access_token": "t"}) == "t"


def test_a_first_try_alert_is_sent_without_a_lookup(
    graph: GraphEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    box = outlook(graph, tmp_path / "memo.json", sleeps)[1]
    alert = Alert("digest:2026-11-30", "Your day", "text", T0)
    graph.reset_log()
    box.deliver(alert, first_try=True)
    assert calls(graph) == ["POST /v1.0/me/sendMail"]
    graph.reset_log()
    box.deliver(alert)  # a retry looks first, and finds it
    assert calls(graph) == ["GET /v1.0/me/messages"]
    assert len([m for m in box.list_inbox(None) if m.alert]) == 1
