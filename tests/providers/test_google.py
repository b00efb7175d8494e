"""The Google provider on the emulator: the contracts, then what is Google's own."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from providers.errors import AuthError, BadRequest, RateLimited, TransientError
from providers.google import errors as gerrors
from providers.google import mapping
from providers.google.calendar import GoogleCalendar
from providers.google.gmail import HELD_LABEL, GmailMailbox
from providers.snapshots import SNAPSHOTS
from tests.contract.calendar import WINDOW, CalendarContract, at, block
from tests.contract.mail import T0, MailContract
from tests.emulators.google import GoogleEmulator
from tests.providers.google_fixtures import (
    ME,
    GmailOutside,
    GoogleOutside,
    Sleeps,
    calendar,
    emulator,
    mailbox,
    sleeps,
    timed,
)
from worker.models import Alert, Change, EventType, Op, Response, Status

__all__ = ["emulator", "sleeps"]  # fixtures, imported for pytest


class TestGoogleCalendarContract(CalendarContract):
    @pytest.fixture
    def calendar(self, emulator: GoogleEmulator, sleeps: Sleeps, tmp_path: Path) -> GoogleCalendar:
        return calendar(emulator, tmp_path / "memo.json", sleeps)

    @pytest.fixture
    def outside(self, emulator: GoogleEmulator) -> GoogleOutside:
        return GoogleOutside(emulator)


class TestGmailContract(MailContract):
    @pytest.fixture
    def mailbox(self, emulator: GoogleEmulator, sleeps: Sleeps, tmp_path: Path) -> GmailMailbox:
        return mailbox(emulator, tmp_path / "memo.json", sleeps)

    @pytest.fixture
    def outside(self, emulator: GoogleEmulator) -> GmailOutside:
        return GmailOutside(emulator)


def calls(emu: GoogleEmulator) -> list[str]:
    """What the client sent, one line per HTTP request (batch parts excluded)."""
    return [f"{r.method} {r.path}" for r in emu.requests if not r.batch_part]


# -- reading


def test_event_types_and_answers_map_to_the_domain(
    emulator: GoogleEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    me_declined = [{"email": ME, "self": True, "responseStatus": "declined"}]
    bodies = [
        {"id": "ooo00", "eventType": "outOfOffice", "start": timed(at(9)), "end": timed(at(10))},
        {"id": "wloc0", "eventType": "workingLocation", "start": {"date": "2026-11-30"},
         "end": {"date": "2026-12-01"}, "transparency": "transparent", "visibility": "public",
         "workingLocationProperties": {"type": "homeOffice", "homeOffice": {}}},
        {"id": "bday0", "eventType": "birthday", "start": {"date": "2026-12-01"},
         "end": {"date": "2026-12-02"}, "transparency": "transparent"},
        {"id": "decl0", "summary": "Declined", "attendees": me_declined,
         "start": timed(at(11)), "end": timed(at(12))},
        {"id": "free0", "summary": "FYI", "transparency": "transparent",
         "start": timed(at(13)), "end": timed(at(14))},
        {"id": "tent0", "summary": "Maybe", "status": "tentative",
         "start": timed(at(15)), "end": timed(at(16))},
    ]  # fmt: skip
    for body in bodies:
        emulator.put_event(body)
    emulator.put_event({"id": "gone0", "start": timed(at(16)), "end": timed(at(17))})
    emulator.delete_event("gone0")
    events = {e.id: e for e in calendar(emulator, None, sleeps).fetch(WINDOW).events}
    assert "gone0" not in events
    assert events["ooo00"].event_type is EventType.OUT_OF_OFFICE
    assert events["wloc0"].event_type is EventType.WORKING_LOCATION and events["wloc0"].all_day
    assert events["bday0"].event_type is EventType.BIRTHDAY
    assert events["decl0"].response_of(ME) is Response.DECLINED
    assert events["free0"].transparent
    assert events["tent0"].status is Status.TENTATIVE


def test_recurring_series_are_expanded(
    emulator: GoogleEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    emulator.put_event(
        {
            "id": "standup0",
            "summary": "Stand-up",
            "start": {"dateTime": "2026-11-30T09:00:00", "timeZone": "America/New_York"},
            "end": {"dateTime": "2026-11-30T09:15:00", "timeZone": "America/New_York"},
            "recurrence": ["RRULE:FREQ=DAILY;COUNT=10"],
        }
    )
    events = calendar(emulator, None, sleeps).fetch(WINDOW).events
    assert [e.start for e in events] == [
        at(9, day=WINDOW.start.date() + timedelta(d)) for d in range(5)
    ]
    assert {e.series_id for e in events} == {"standup0"}


def test_many_events_are_read_page_by_page(emulator: GoogleEmulator, sleeps: Sleeps) -> None:
    small = GoogleEmulator(email=ME, page_size=2).start()
    try:
        for h in range(9, 14):
            small.put_event({"id": f"e{h}000", "start": timed(at(h)), "end": timed(at(h, 30))})
        cal = calendar(small, None, sleeps)
        assert len(cal.fetch(WINDOW).events) == 5
        assert calls(small).count("GET /calendar/v3/calendars/primary/events") == 3
    finally:
        small.stop()


def test_a_quiet_calendar_costs_one_request_and_410_means_a_full_list(
    emulator: GoogleEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    memo = tmp_path / "memo.json"
    GoogleOutside(emulator).add_event("acme0", "Acme", at(14), at(15))
    first = calendar(emulator, memo, sleeps).fetch(WINDOW)
    emulator.reset_log()
    again = calendar(emulator, memo, sleeps).fetch(WINDOW)  # a new run: memo from disk
    assert again == first
    [req] = emulator.requests
    assert "syncToken" in req.query and "timeMin" not in req.query
    emulator.patch_event(
        "acme0", {"summary": "Acme, moved", "start": timed(at(16)), "end": timed(at(17))}
    )
    moved = calendar(emulator, memo, sleeps).fetch(WINDOW)
    assert [(e.title, e.start) for e in moved.events] == [("Acme, moved", at(16))]
    emulator.expire_sync_tokens()
    emulator.reset_log()
    assert calendar(emulator, memo, sleeps).fetch(WINDOW) == moved
    assert [r.status for r in emulator.requests] == [410, 200]
    assert "timeMin" in emulator.requests[1].query


def test_the_time_zone_comes_from_settings_once(
    emulator: GoogleEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    memo = tmp_path / "memo.json"
    emulator.timezone = "Europe/Berlin"
    assert calendar(emulator, memo, sleeps).timezone() == "Europe/Berlin"
    emulator.reset_log()
    assert calendar(emulator, memo, sleeps).timezone() == "Europe/Berlin"
    assert emulator.requests == []
    emulator.timezone = "Asia/Tokyo"  # the user moved: the next list says so
    calendar(emulator, memo, sleeps).fetch(WINDOW)
    assert calendar(emulator, memo, sleeps).timezone() == "Asia/Tokyo"


def test_a_changed_zone_is_known_before_the_fetch_at_no_extra_cost(
    emulator: GoogleEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    """The zone comes back with the sync that `fetch` needs anyway: `timezone` sends it,
    `fetch` uses its answer, and the run plans in the new zone with one request."""
    memo = tmp_path / "memo.json"
    first = calendar(emulator, memo, sleeps)
    assert first.timezone() == "America/New_York"
    first.fetch(WINDOW)
    emulator.timezone = "Asia/Tokyo"
    emulator.put_event(
        {"id": "late0", "summary": "Late", "start": timed(at(15)), "end": timed(at(16))}
    )
    emulator.reset_log()
    cal = calendar(emulator, memo, sleeps)
    assert cal.timezone() == "Asia/Tokyo"
    assert "Late" in [e.title for e in cal.fetch(WINDOW).events]
    [req] = emulator.requests
    assert "syncToken" in req.query
    emulator.reset_log()
    assert "Late" in [e.title for e in cal.fetch(WINDOW).events]  # a later fetch syncs again
    [req] = emulator.requests
    assert "syncToken" in req.query
    # An expired sync token tells no zone: the setting is read.
    emulator.timezone = "Europe/Paris"
    emulator.expire_sync_tokens()
    emulator.reset_log()
    cal = calendar(emulator, memo, sleeps)
    assert cal.timezone() == "Europe/Paris"
    cal.fetch(WINDOW)
    assert [(r.status, "syncToken" in r.query) for r in emulator.requests] == [
        (410, True),
        (200, False),
        (200, False),
    ]
    assert "settings" in emulator.requests[1].path


# -- writing


def test_blocks_are_focus_time_tagged_and_written_in_one_batch(
    emulator: GoogleEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    # Prospecting declines everyone (`decline = "all"`): Google's own auto-decline.
    cal = calendar(
        emulator,
        tmp_path / "memo.json",
        sleeps,
        decline_message="Prospecting",
        native_declines=("prospecting",),
    )
    cal.apply(
        [Change(Op.CREATE, block(f"2026-11-30/prospecting/{i}", 9 + i, 10 + i)) for i in range(3)]
    )
    assert calls(emulator) == ["POST /batch/calendar/v3"]
    stored = emulator.event(block().id)
    assert stored is not None
    assert stored["eventType"] == "focusTime"
    assert stored["transparency"] == "opaque"
    assert (
        stored["focusTimeProperties"]["autoDeclineMode"] == "declineOnlyNewConflictingInvitations"
    )
    assert stored["focusTimeProperties"]["declineMessage"] == "Prospecting"
    assert stored["extendedProperties"]["private"]["firstblock_key"] == block().key
    assert "attendees" not in stored
    assert stored["reminders"] == {"useDefault": False}
    assert cal.notes() == ["blocks: Focus Time events that decline conflicting invitations"]


def test_a_block_written_under_earlier_settings_has_its_auto_decline_mended(
    emulator: GoogleEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    """Blocks written before `decline` existed declined every new invitation, clients'
    too: a committing cycle brings them to what the settings say, once."""
    memo = tmp_path / "memo.json"
    calendar(emulator, memo, sleeps, native_declines=("prospecting",)).apply(
        [Change(Op.CREATE, block())]
    )
    cal = calendar(emulator, memo, sleeps)  # now: prospecting declines colleagues only
    [found] = cal.fetch(WINDOW).blocks
    emulator.reset_log()
    cal.upkeep()
    assert calls(emulator) == ["PATCH /calendar/v3/calendars/primary/events/" + block().id]
    assert emulator.requests[0].headers.get("if-match") == found.etag  # theirs if changed
    stored = emulator.event(block().id)
    assert stored is not None
    assert stored["focusTimeProperties"]["autoDeclineMode"] == "declineNone"
    again = calendar(emulator, memo, sleeps)
    [kept] = again.fetch(WINDOW).blocks
    assert not kept.touched  # the block's content is as firstblock wrote it
    emulator.reset_log()
    again.upkeep()
    assert emulator.requests == []  # mended once


def test_a_block_to_mend_is_found_by_every_read_until_it_is_mended(
    emulator: GoogleEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    """A snapshot kept under the earlier settings, or one that noted a block to mend,
    is never given back: the next cycle must find the block again."""
    memo = tmp_path / "memo.json"
    before = calendar(emulator, memo, sleeps, native_declines=("prospecting",))
    before.apply([Change(Op.CREATE, block())])
    before_read = calendar(emulator, memo, sleeps, native_declines=("prospecting",))
    before_read.fetch(WINDOW)
    for _ in range(2):  # a cycle that failed before its upkeep, then the next
        cal = calendar(emulator, memo, sleeps)
        cal.fetch(WINDOW)
    emulator.reset_log()
    cal.upkeep()
    assert calls(emulator) == ["PATCH /calendar/v3/calendars/primary/events/" + block().id]


def test_a_steady_read_gives_its_last_snapshot_back_until_the_listing_changes(
    emulator: GoogleEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    memo = tmp_path / "memo.json"
    GoogleOutside(emulator).add_event("acme", "Acme", at(14), at(15))
    first = calendar(emulator, memo, sleeps).fetch(WINDOW)
    steady = calendar(emulator, memo, sleeps)
    assert steady.fetch(WINDOW) is first  # nothing changed
    assert "items" not in steady.memo.get("calendar")  # the side was never read
    calendar(emulator, memo, sleeps).apply([Change(Op.CREATE, block())])
    after_write = calendar(emulator, memo, sleeps).fetch(WINDOW)
    assert [b.key for b in after_write.blocks] == [block().key]
    GoogleOutside(emulator).add_event("beta", "Beta", at(16), at(17))
    changed = calendar(emulator, memo, sleeps).fetch(WINDOW)
    assert {e.title for e in changed.events} == {"Acme", "Beta"}
    later = replace(WINDOW, start=WINDOW.start + timedelta(hours=15))
    assert {e.title for e in calendar(emulator, memo, sleeps).fetch(later).events} == {"Beta"}


def test_lost_items_mean_one_fresh_listing(
    emulator: GoogleEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    memo = tmp_path / "memo.json"
    GoogleOutside(emulator).add_event("acme", "Acme", at(14), at(15))
    first = calendar(emulator, memo, sleeps).fetch(WINDOW)
    # The side lost (a crash between its write and the memo's), in a process that
    # has no snapshot for this listing.
    (tmp_path / "calendar" / "memo.json").unlink()
    SNAPSHOTS.keep(str(memo), "another process's listing", first)
    emulator.reset_log()
    again = calendar(emulator, memo, sleeps).fetch(WINDOW)
    assert again == first and again is not first
    listing = "GET /calendar/v3/calendars/primary/events"
    assert calls(emulator) == [listing, listing]  # by the sync token, then in full
    assert calendar(emulator, memo, sleeps).fetch(WINDOW) is again


def test_under_internal_declines_focus_time_declines_nobody(
    emulator: GoogleEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    """It cannot tell a colleague from a client: firstblock answers colleagues itself."""
    cal = calendar(emulator, tmp_path / "memo.json", sleeps, decline_message="Prospecting")
    cal.apply([Change(Op.CREATE, block())])
    stored = emulator.event(block().id)
    assert stored is not None and stored["eventType"] == "focusTime"
    assert stored["focusTimeProperties"] == {
        "autoDeclineMode": "declineNone",
        "chatStatus": "doNotDisturb",
    }


def test_without_focus_time_blocks_are_busy_events_and_it_is_remembered(
    sleeps: Sleeps, tmp_path: Path
) -> None:
    emu = GoogleEmulator(email=ME, focus_time=False).start()
    try:
        memo = tmp_path / "memo.json"
        calendar(emu, memo, sleeps).apply([Change(Op.CREATE, block())])
        stored = emu.event(block().id)
        assert stored is not None and stored.get("eventType", "default") == "default"
        assert stored["transparency"] == "opaque"
        emu.reset_log()
        cal = calendar(emu, memo, sleeps)
        cal.apply([Change(Op.CREATE, block("k2", 11, 12))])
        assert len(emu.requests) == 1  # no second try at Focus Time
        assert "no Focus Time" in cal.notes()[0]
    finally:
        emu.stop()


def test_a_retried_insert_leaves_one_block(
    emulator: GoogleEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    calendar(emulator, tmp_path / "a.json", sleeps).apply([Change(Op.CREATE, block())])
    # The answer was lost; a run with no memory of it writes the same block again.
    [applied] = calendar(emulator, tmp_path / "b.json", sleeps).apply([Change(Op.CREATE, block())])
    assert [r.status for r in emulator.requests][-2:] == [409, 200]
    assert len([e for e in emulator.events() if mapping.is_owned(e)]) == 1
    assert applied.block.etag == emulator.event(block().id)["etag"]  # type: ignore[index]


def test_a_block_the_user_deleted_stays_deleted_even_with_state_lost(
    emulator: GoogleEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    calendar(emulator, tmp_path / "a.json", sleeps).apply([Change(Op.CREATE, block())])
    GoogleOutside(emulator).delete_block(block().key)
    applied = calendar(emulator, tmp_path / "b.json", sleeps).apply([Change(Op.CREATE, block())])
    assert applied == []
    assert emulator.event(block().id)["status"] == "cancelled"  # type: ignore[index]


def test_a_block_the_worker_removed_can_come_back(
    emulator: GoogleEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    cal = calendar(emulator, tmp_path / "memo.json", sleeps)
    cal.apply([Change(Op.CREATE, block())])
    [found] = cal.fetch(WINDOW).blocks
    cal.apply([Change(Op.DELETE, found, before=found)])
    assert emulator.event(block().id)["status"] == "cancelled"  # type: ignore[index]
    cal.apply([Change(Op.CREATE, block(start=13, end=14))])
    [back] = cal.fetch(WINDOW).blocks
    assert (back.start, back.end, back.touched) == (at(13), at(14), False)


# -- reliability


@pytest.mark.parametrize("kind", ["429", "403-rate", "403-user-rate", "500", "503", "drop"])
def test_passing_faults_are_retried(emulator: GoogleEmulator, sleeps: Sleeps, kind: str) -> None:
    GoogleOutside(emulator).add_event("acme0", "Acme", at(14), at(15))
    # httplib2 itself resends once when a connection closes unanswered (a stale
    # keep-alive connection looks the same): two drops make one failure.
    emulator.fail_next(kind, count=4 if kind == "drop" else 2, retry_after=7)
    [event] = calendar(emulator, None, sleeps).fetch(WINDOW).events
    assert event.title == "Acme"
    assert len(sleeps.waits) == 2
    if kind in ("429", "503"):
        assert sleeps.waits == [7, 7]  # the server's Retry-After, not a guess


def test_a_lasting_outage_is_reported_not_retried_forever(
    emulator: GoogleEmulator, sleeps: Sleeps
) -> None:
    emulator.fail_next("500", count=10)
    with pytest.raises(TransientError):
        calendar(emulator, None, sleeps).fetch(WINDOW)
    assert len(sleeps.waits) == 3  # four attempts in all


def test_batched_parts_that_fail_are_sent_again_alone(
    emulator: GoogleEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    emulator.fail_next("429", count=1, retry_after=2, path_contains="/events")
    cal = calendar(emulator, tmp_path / "memo.json", sleeps)
    cal.apply([Change(Op.CREATE, block(f"k{i}", 9 + i, 10 + i)) for i in range(3)])
    envelopes = [r for r in emulator.requests if not r.batch_part]
    parts = [r for r in emulator.requests if r.batch_part]
    assert len(envelopes) == 2
    assert len(parts) == 4  # three, then only the one that was throttled
    assert len([e for e in emulator.events() if mapping.is_owned(e)]) == 3


def test_error_mapping_follows_googles_reasons() -> None:
    def body(reason: str) -> bytes:
        error = {"code": 403, "message": "m", "errors": [{"reason": reason}]}
        return json.dumps({"error": error}).encode()

    def err(status: int, reason: str = "", headers: dict[str, str] | None = None) -> object:
        return gerrors.from_status(status, body(reason), headers or {}, where="x")

    assert isinstance(err(403, "rateLimitExceeded"), RateLimited)
    assert isinstance(err(403, "userRateLimitExceeded"), RateLimited)
    assert isinstance(err(403, "forbidden"), BadRequest)  # not retried
    assert isinstance(err(400, "invalid"), BadRequest)
    assert isinstance(err(401, "authError"), AuthError)
    limited = err(429, "rateLimitExceeded", {"retry-after": "12"})
    assert isinstance(limited, RateLimited) and limited.retry_after == 12
    assert not isinstance(err(404, "notFound"), RateLimited | TransientError)


# -- the hold in Gmail


def test_a_thread_leaves_and_returns_whole(
    emulator: GoogleEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    first = emulator.arrive(
        sender="jane@acme.com", received=T0 - timedelta(days=1), labels=("INBOX",)
    )
    thread = emulator.message(first)["threadId"]
    reply = emulator.arrive(sender="bob@acme.com", received=T0, thread_id=thread)
    box = mailbox(emulator, tmp_path / "memo.json", sleeps)
    assert box.hold([reply]) == 2
    assert box.list_inbox(None) == []
    assert set(emulator.message(first)["labelIds"]) == {_label(emulator, HELD_LABEL)}
    assert box.release([reply]) == 2
    assert set(emulator.message(first)["labelIds"]) == {"INBOX"}
    assert set(emulator.message(reply)["labelIds"]) == {"INBOX", "UNREAD"}


def _label(emu: GoogleEmulator, name: str) -> str:
    return next(str(x["id"]) for x in emu.labels() if x["name"] == name)


def test_the_filter_holds_mail_at_arrival_and_alerts_pass(
    emulator: GoogleEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    box = mailbox(emulator, tmp_path / "memo.json", sleeps)
    box.set_hold_rule(["boss@example.org", "@acme.com"])
    [rule] = emulator.filters()
    held = emulator.arrive(sender="spam@vendor.com", received=T0)
    boss = emulator.arrive(sender="boss@example.org", received=T0)
    client = emulator.arrive(sender="jane@sales.acme.com", received=T0)
    assert [m.id for m in box.list_held()] == [held]
    assert {m.id for m in box.list_inbox(None)} == {boss, client}
    box.deliver(Alert("gap:acme:1", "Book the next meeting with Acme", "text", T0))
    assert any(m.alert for m in box.list_inbox(None))
    emulator.reset_log()
    box.set_hold_rule(["@acme.com", "boss@example.org"])  # the same rule: nothing to do
    assert emulator.requests == []
    box.set_hold_rule(None)
    assert emulator.filters() == []
    assert rule["action"]["removeLabelIds"] == ["INBOX"]


def test_a_lost_memo_finds_the_label_and_removes_a_left_filter(
    emulator: GoogleEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    mailbox(emulator, tmp_path / "a.json", sleeps).set_hold_rule(["boss@example.org"])
    box = mailbox(emulator, tmp_path / "b.json", sleeps)
    box.set_hold_rule(None)
    assert emulator.filters() == []
    assert [x["name"] for x in emulator.labels()].count("Firstblock/Held") == 1


def test_release_modifies_at_most_1000_ids_per_call(
    emulator: GoogleEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    box = mailbox(emulator, tmp_path / "memo.json", sleeps)
    box.set_hold_rule([])
    for i in range(1001):
        emulator.arrive(sender=f"s{i}@x.com", received=T0 + timedelta(seconds=i))
    emulator.reset_log()
    assert box.release_all() == 1001
    modifies = [r for r in emulator.requests if r.path.endswith("/messages/batchModify")]
    assert len(modifies) == 2
    assert all(r.status == 204 for r in modifies)
    assert box.count_held() == 0


def test_focus_mapping_keeps_blocks_out_of_events(sleeps: Sleeps) -> None:
    item = mapping.block_body(block(), focus=None)
    item["etag"] = '"1"'
    zone = WINDOW.start.tzinfo
    assert mapping.is_owned(item)
    found = mapping.to_block(item, zone)  # type: ignore[arg-type]
    assert replace(found, etag="") == replace(block(), written=block().fingerprint)


def test_a_quiet_mailbox_costs_one_request_and_expired_history_means_a_relist(
    emulator: GoogleEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    memo = tmp_path / "memo.json"
    held = emulator.arrive(sender="a@x.com", received=T0)
    box = mailbox(emulator, memo, sleeps)
    box.hold([held])
    since = T0 - timedelta(hours=1)
    box = mailbox(emulator, memo, sleeps)  # each run makes its own provider
    first = (box.list_inbox(since), box.list_held())
    emulator.reset_log()
    box = mailbox(emulator, memo, sleeps)
    assert (box.list_inbox(since), box.list_held()) == first
    assert calls(emulator) == ["GET /gmail/v1/users/me/history"]
    new = emulator.arrive(sender="b@x.com", received=T0 + timedelta(minutes=5))
    box = mailbox(emulator, memo, sleeps)
    assert [m.id for m in box.list_inbox(since)] == [new]
    assert [m.id for m in box.list_held()] == [held]
    emulator.expire_history()
    emulator.reset_log()
    box = mailbox(emulator, memo, sleeps)
    assert [m.id for m in box.list_inbox(since)] == [new]
    assert [m.id for m in box.list_held()] == [held]
    assert [r.status for r in emulator.requests][:2] == [404, 200]  # history, then profile


def test_after_its_own_moves_a_quiet_mailbox_still_costs_one_request(
    emulator: GoogleEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    memo = tmp_path / "memo.json"
    since = T0 - timedelta(hours=1)
    a = emulator.arrive(sender="a@x.com", received=T0)
    b = emulator.arrive(sender="b@x.com", received=T0)
    box = mailbox(emulator, memo, sleeps)
    box.list_inbox(since), box.list_held()
    box.hold([a])
    emulator.reset_log()
    box = mailbox(emulator, memo, sleeps)
    assert [m.id for m in box.list_inbox(since)] == [b]
    assert [m.id for m in box.list_held()] == [a]
    assert calls(emulator) == ["GET /gmail/v1/users/me/history"]
    # The user takes a held message back: that is not the worker's move.
    emulator.relabel(a, ["INBOX"], [_label(emulator, HELD_LABEL)])
    box = mailbox(emulator, memo, sleeps)
    assert {m.id for m in box.list_inbox(since)} == {a, b}
    assert box.list_held() == []


def test_a_zone_in_the_config_saves_the_settings_request(
    emulator: GoogleEmulator, sleeps: Sleeps
) -> None:
    from worker.config import default_config
    from worker.cycle import resolve_zone

    config = replace(default_config(), timezone="Europe/Paris")
    assert resolve_zone(config, calendar(emulator, None, sleeps)).key == "Europe/Paris"
    assert emulator.requests == []
    assert resolve_zone(default_config(), calendar(emulator, None, sleeps)).key == (
        "America/New_York"
    )


# -- what the review found


def test_a_moved_series_leaves_no_ghost_meetings(
    emulator: GoogleEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    memo = tmp_path / "memo.json"
    daily = {
        "id": "standup0",
        "summary": "Stand-up",
        "start": {"dateTime": "2026-11-30T10:00:00", "timeZone": "America/New_York"},
        "end": {"dateTime": "2026-11-30T10:15:00", "timeZone": "America/New_York"},
        "recurrence": ["RRULE:FREQ=DAILY;COUNT=5"],
    }
    emulator.put_event(daily)
    calendar(emulator, memo, sleeps).fetch(WINDOW)
    emulator.patch_event(
        "standup0",
        {
            "start": {"dateTime": "2026-11-30T14:00:00", "timeZone": "America/New_York"},
            "end": {"dateTime": "2026-11-30T14:15:00", "timeZone": "America/New_York"},
        },
    )
    events = calendar(emulator, memo, sleeps).fetch(WINDOW).events
    assert {e.start.hour for e in events} == {14}
    assert len(events) == 5


def test_an_alert_whose_answer_was_lost_is_not_delivered_twice(
    emulator: GoogleEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    alert = Alert("gap:acme:1", "Book the next meeting with Acme", "text", T0)
    box = mailbox(emulator, tmp_path / "memo.json", sleeps)
    box.deliver(Alert("warm-up", "labels exist", "text", T0))
    # httplib2 resends once on a connection closed unanswered: both sends are inserts.
    emulator.fail_next("drop-after", count=2, path_contains="/messages", method="POST")
    with pytest.raises(TransientError):  # the insert happened; its answer did not come
        box.deliver(alert)
    box.deliver(alert)  # the next run looks first
    alerts = [m for m in box.list_inbox(None) if m.alert]
    assert len(alerts) == 2  # the warm-up and this one, once


def test_a_block_insert_whose_answer_was_lost_is_not_written_twice(
    emulator: GoogleEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    emulator.fail_next("drop-after", path_contains="/events")
    [applied] = calendar(emulator, tmp_path / "memo.json", sleeps).apply(
        [Change(Op.CREATE, block())]
    )
    assert len([e for e in emulator.events() if mapping.is_owned(e)]) == 1
    assert applied.block.etag == emulator.event(block().id)["etag"]  # type: ignore[index]


def test_a_refusal_that_is_not_about_focus_time_keeps_focus_time(
    emulator: GoogleEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    cal = calendar(emulator, tmp_path / "memo.json", sleeps)
    emulator.fail_next("403-quota", count=8, path_contains="/events")
    with pytest.raises(RateLimited):
        cal.apply([Change(Op.CREATE, block())])
    assert cal.memo.get("focus_time") is None
    assert "not tried yet" in cal.notes()[0]


def test_a_token_endpoint_outage_is_not_a_revoked_grant() -> None:
    from google.auth import exceptions

    outage = exceptions.RefreshError("token endpoint returned 503", retryable=True)
    revoked = exceptions.RefreshError("invalid_grant: Token has been expired or revoked.")
    assert isinstance(gerrors.translate(outage, where="x"), TransientError)
    assert isinstance(gerrors.translate(revoked, where="x"), AuthError)


def test_the_owners_own_entry_is_recognised_under_an_alias(sleeps: Sleeps) -> None:
    item = {
        "id": "x1234",
        "start": timed(at(9)),
        "end": timed(at(10)),
        "attendees": [
            {"email": "rep.alias@example.com", "self": True, "responseStatus": "declined"},
            {"email": "jane@acme.com", "responseStatus": "accepted"},
        ],
        "organizer": {"email": "jane@acme.com"},
    }
    event = mapping.to_event(item, WINDOW.start.tzinfo, at(0), ME)  # type: ignore[arg-type]
    assert event.response_of(ME) is Response.DECLINED


def test_other_peoples_meeting_notes_stay_out_of_the_memo(
    emulator: GoogleEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    memo = tmp_path / "memo.json"
    emulator.put_event(
        {
            "id": "secret0",
            "summary": "Board call",
            "description": "dial-in passcode 99887766",
            "start": timed(at(9)),
            "end": timed(at(10)),
        }
    )
    cal = calendar(emulator, memo, sleeps)
    cal.fetch(WINDOW)
    cal.apply([Change(Op.CREATE, block(start=11, end=12))])
    calendar(emulator, memo, sleeps).fetch(WINDOW)
    side = memo.parent / "calendar" / memo.name  # the remembered events (providers/memo.py)
    text = memo.read_text() + side.read_text()
    assert "99887766" not in text
    assert "Protected time." in text  # the worker's own block keeps its description


def test_a_deleted_block_whose_tag_google_dropped_stays_deleted(
    emulator: GoogleEmulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    calendar(emulator, tmp_path / "a.json", sleeps).apply([Change(Op.CREATE, block())])
    GoogleOutside(emulator).delete_block(block().key)
    emulator.patch_event(block().id, {"extendedProperties": None})  # only the id is promised
    assert emulator.event(block().id)["status"] == "cancelled"  # type: ignore[index]
    assert calendar(emulator, tmp_path / "b.json", sleeps).apply([Change(Op.CREATE, block())]) == []
