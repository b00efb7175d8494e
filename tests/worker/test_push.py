"""Keeping channels and taking notifications (worker/push.py), on the in-memory
watcher and a real state: what each cycle costs, renewals, failures, forgeries."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from providers.errors import TransientError
from providers.memory import MemoryWatch
from providers.push import Notice, Reading
from worker import config as cfg
from worker import push, runner
from worker.channels import FAILED, OK, WAITING, digest
from worker.models import Block, BlockKind, Change, Op
from worker.serve import next_action
from worker.state import State

NY = ZoneInfo("America/New_York")
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=NY)
CONFIG = cfg.parse(
    {
        "web": {"base_url": "https://firstblock.example.com"},
        "accounts": [{"name": "ana", "provider": "local", "calendar": "ana.ics"}],
    }
)


@pytest.fixture
def state() -> State:
    return State.memory()


def tokens() -> object:
    numbers = iter(range(1, 1000))
    return lambda: f"secret-{next(numbers)}"


def keep(
    state: State, *sources: MemoryWatch, now: datetime = T0, token: object = None
) -> push.Upkeep:
    kw = {"token": token} if token else {}
    return push.keep_watching(CONFIG, "ana", "outlook", list(sources), state, now, **kw)  # type: ignore[arg-type]


def notice(
    state: State, channel: str, token: str, event: str = "changed", provider: str = "outlook"
) -> push.Received:
    return push.receive(CONFIG, provider, Reading((Notice(channel, token, event),)), state, T0)


def test_push_is_on_with_an_https_address_only() -> None:
    assert push.enabled(CONFIG)
    assert push.address(CONFIG, "google") == "https://firstblock.example.com/push/google"
    assert push.address(CONFIG, "outlook", "inbox").endswith("/push/outlook")
    assert push.address(CONFIG, "google", "inbox") == ""  # Gmail's: only with a topic
    plain = cfg.parse({"web": {"base_url": "http://127.0.0.1:8421"}})
    assert not push.enabled(plain) and not push.enabled(cfg.parse({}))
    with pytest.raises(cfg.ConfigError, match=r"push\.enabled: push needs \[web\] base_url"):
        cfg.parse({"push": {"enabled": True}})


def test_a_channel_is_made_once_and_then_costs_nothing(state: State) -> None:
    calendar, inbox = MemoryWatch(), MemoryWatch(source="inbox")
    made = keep(state, calendar, inbox, token=tokens())
    assert (made.made, made.healthy) == (2, False)  # waiting for the first notification
    rows = state.channels.of("ana")
    assert [r.health for r in rows] == [WAITING, WAITING]
    assert rows[0].token == digest("secret-1") and "secret" not in rows[0].token
    for r in rows:
        assert notice(state, r.channel.id, f"secret-{1 + rows.index(r)}", "sync").accepted == 1
    again = keep(state, calendar, inbox)
    assert (again.made, again.healthy) == (0, True)
    assert calendar.calls == ["watch"] and inbox.calls == ["watch"]
    assert state.nudges.take(T0 + timedelta(hours=1)) == []  # a sync message is no change


def test_a_healthy_account_polls_only_as_a_safety_net(state: State) -> None:
    result = runner.AccountResult(CONFIG.accounts[0], push=push.Upkeep(healthy=True))
    safety_net = timedelta(hours=CONFIG.push.poll_hours)
    assert CONFIG.push.poll_hours == 16  # the default: idle accounts under 0.1 requests/hour
    assert next_action(CONFIG, result, T0, timedelta(minutes=15)).at == T0 + safety_net
    result.push = push.Upkeep(healthy=False)
    assert next_action(CONFIG, result, T0, timedelta(minutes=15)).at == T0 + timedelta(minutes=15)


def test_a_burst_of_notifications_is_one_due_account(state: State) -> None:
    calendar = MemoryWatch()
    keep(state, calendar, token=tokens())
    (row,) = state.channels.of("ana")
    for _ in range(5):
        assert notice(state, row.channel.id, "secret-1").due == {"ana"}
    assert state.channels.of("ana")[0].health == OK  # a change proves it too
    assert state.nudges.take(T0 + timedelta(seconds=1)) == []  # the debounce
    assert state.nudges.take(T0 + timedelta(seconds=2)) == [("ana", "push")]
    assert state.nudges.take(T0 + timedelta(seconds=3)) == []


@pytest.mark.parametrize(
    ("channel", "token", "provider", "why"),
    [
        ("unknown", "secret-1", "outlook", "no such channel"),
        (None, "secret-2", "outlook", "wrong token"),
        (None, "", "outlook", "wrong token"),
        (None, "secret-1", "google", "the channel is outlook's"),
        ("ana/calendar", "", "outlook", "no such channel"),
    ],
)
def test_a_forged_notification_changes_nothing_and_is_logged(
    state: State,
    caplog: pytest.LogCaptureFixture,
    channel: str | None,
    token: str,
    provider: str,
    why: str,
) -> None:
    keep(state, MemoryWatch(), token=tokens())
    (row,) = state.channels.of("ana")
    caplog.set_level(logging.WARNING, "firstblock.push")
    got = notice(state, channel or row.channel.id, token, provider=provider)
    assert (got.accepted, got.refused, got.due) == (0, 1, set())
    assert state.nudges.take(T0 + timedelta(days=1)) == []
    assert state.channels.of("ana")[0].health == WAITING
    assert why in caplog.text and "secret" not in caplog.text


def test_google_like_channels_are_replaced_before_they_expire(state: State) -> None:
    calendar = MemoryWatch(longest=timedelta(days=7))
    keep(state, calendar, token=tokens())
    (first,) = state.channels.of("ana")
    notice(state, first.channel.id, "secret-1", "sync")
    moment = first.channel.expires - timedelta(hours=23)  # inside renew_hours
    renewed = keep(state, calendar, now=moment, token=tokens())
    assert (renewed.made, renewed.stopped) == (1, 1)
    (second,) = state.channels.of("ana")
    assert second.channel.id != first.channel.id and second.channel.expires > first.channel.expires
    assert list(calendar.live) == [second.channel.id]
    assert calendar.calls == ["watch", "watch", "stop"]


def test_graph_like_channels_are_extended_in_place(state: State) -> None:
    inbox = MemoryWatch(source="inbox", longest=timedelta(days=3), renewable=True)
    assert keep(state, inbox, token=tokens()).healthy  # confirmed when made
    (first,) = state.channels.of("ana")
    moment = first.channel.expires - timedelta(hours=2)
    assert keep(state, inbox, now=moment).healthy
    (second,) = state.channels.of("ana")
    assert second.channel.id == first.channel.id and second.channel.expires > first.channel.expires
    assert inbox.calls == ["watch", "renew"]
    assert notice(state, second.channel.id, "secret-1").accepted == 1  # the same token


def test_a_channel_that_expired_unrenewed_falls_back_to_polling_and_is_made_again(
    state: State,
) -> None:
    calendar = MemoryWatch(longest=timedelta(days=7))
    keep(state, calendar, token=tokens())
    (row,) = state.channels.of("ana")
    notice(state, row.channel.id, "secret-1", "sync")
    later = row.channel.expires + timedelta(hours=1)  # no cycle ran in between
    health = push.health(CONFIG, state.channels.of("ana"), later)
    assert health["state"] == "failed" and "expired" in str(health["error"])
    again = keep(state, calendar, now=later, token=tokens())
    assert (again.made, again.healthy) == (1, False)
    (new,) = state.channels.of("ana")
    assert new.channel.id != row.channel.id and new.health == WAITING


def test_a_channel_never_heard_from_is_stopped_and_tried_again_an_hour_later(
    state: State,
) -> None:
    calendar = MemoryWatch()
    keep(state, calendar, token=tokens())
    late = T0 + timedelta(minutes=15)
    assert not keep(state, calendar, now=late).healthy
    (row,) = state.channels.of("ana")
    assert row.placeholder and row.health == FAILED and "no notification" in row.error
    assert calendar.live == {}
    assert keep(state, calendar, now=late + timedelta(minutes=30)).made == 0
    assert keep(state, calendar, now=late + timedelta(minutes=61)).made == 1


def test_a_provider_that_refuses_leaves_a_reason_and_polling(state: State) -> None:
    calendar = MemoryWatch()
    calendar.failure = TransientError("503 backendError")
    upkeep = keep(state, calendar)
    assert not upkeep.healthy and upkeep.errors == ["calendar: 503 backendError"]
    health = push.health(CONFIG, state.channels.of("ana"), T0)
    assert health["state"] == "failed" and "503" in str(health["error"])
    calendar.failure = None
    assert keep(state, calendar, now=T0 + timedelta(hours=2)).made == 1
    (row,) = state.channels.of("ana")
    assert not row.placeholder  # the reason went with the failure


@pytest.mark.parametrize("event", ["reauthorize", "removed"])
def test_lifecycle_notices_make_the_next_cycle_renew(state: State, event: str) -> None:
    inbox = MemoryWatch(source="inbox", renewable=True)
    keep(state, inbox, token=tokens())
    (row,) = state.channels.of("ana")
    assert notice(state, row.channel.id, "secret-1", event).due == {"ana"}
    assert push.health(CONFIG, state.channels.of("ana"), T0)["state"] == "failed"
    if event == "removed":
        inbox.live.clear()  # the provider took it away
    assert keep(state, inbox, token=tokens()).healthy
    expected = ["watch", "renew"] if event == "reauthorize" else ["watch", "watch"]
    assert inbox.calls == expected


def test_removing_an_account_stops_its_channels(state: State) -> None:
    calendar, inbox = MemoryWatch(), MemoryWatch(source="inbox")
    keep(state, calendar, inbox, token=tokens())
    assert push.stop_all("ana", [calendar, inbox], state) == 2
    assert calendar.live == {} and inbox.live == {} and state.channels.of("ana") == []


def test_health_says_off_without_an_address(state: State) -> None:
    assert push.health(cfg.parse({}), [], T0)["state"] == "off"
    assert push.health(CONFIG, [], T0)["state"] == "none"


def test_the_team_fan_out_queues_the_accounts_a_notification_made_due(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("celery", reason="team tests: pip install '.[team]'")
    from worker import team

    path = tmp_path / "firstblock.toml"
    path.write_text(
        f'state_dir = "{tmp_path / "state"}"\n'
        '[web]\nbase_url = "https://firstblock.example.com/"\n'
        '[[accounts]]\nname = "ana"\ncalendar = "ana.ics"\n'
        '[[accounts]]\nname = "bo"\ncalendar = "bo.ics"\n'
    )
    monkeypatch.setenv("FIRSTBLOCK_CONFIG", str(path))
    queued: list[str] = []
    monkeypatch.setattr(team.cycle, "delay", queued.append)
    assert team.fan_out() == 2 and sorted(queued) == ["ana", "bo"]  # new: due at once
    config = cfg.load(path)
    state = State(config.state_location())
    try:
        later = datetime.now(UTC) + timedelta(hours=1)
        for name in ("ana", "bo"):
            state.schedule.set(name, later, "reconcile")
        state.nudges.nudge("bo", datetime.now(UTC), "push")
    finally:
        state.close()
    queued.clear()
    assert team.fan_out() == 1 and queued == ["bo"]
    assert team.fan_out() == 0  # taken once


def test_a_gmail_inbox_without_a_topic_is_polled_beside_a_watched_calendar(
    state: State,
) -> None:
    calendar, inbox = MemoryWatch(), MemoryWatch(source="inbox")
    upkeep = push.keep_watching(CONFIG, "ana", "google", [calendar, inbox], state, T0)
    assert (upkeep.made, upkeep.healthy) == (1, False)  # the inbox keeps the interval
    assert inbox.calls == [] and [r.channel.source for r in state.channels.of("ana")] == [
        "calendar"
    ]


def test_only_the_days_own_moments_take_the_calendar_as_last_read() -> None:
    from worker.serve import is_quiet

    healthy = runner.AccountResult(CONFIG.accounts[0], push=push.Upkeep(healthy=True))
    waiting = runner.AccountResult(CONFIG.accounts[0], push=push.Upkeep(healthy=False))
    for why in ("hold starts", "release", "follow-up check"):
        assert is_quiet(CONFIG, healthy, why)
        assert not is_quiet(CONFIG, waiting, why) and not is_quiet(CONFIG, None, why)
        assert not is_quiet(cfg.parse({}), healthy, why)  # push off
    for why in ("reconcile", "push", "start", "settings"):  # the safety net, and news
        assert not is_quiet(CONFIG, healthy, why)


def _written(ref: str, etag: str) -> Change:
    block = Block("k", BlockKind.ADMIN, T0.date(), T0, T0 + timedelta(minutes=30), "Admin")
    return Change(Op.CREATE, dataclasses.replace(block, ref=ref, etag=etag))


def test_the_echo_of_its_own_writes_brings_no_cycle(state: State) -> None:
    graph = MemoryWatch(renewable=True)  # notices that name items, as Graph's
    keep(state, graph, token=tokens())
    (row,) = state.channels.of("ana")
    push.remember_writes(state, "ana", graph, [_written("ev-1", 'W/"ck-1"')], T0)
    gone = Block("k2", BlockKind.PREP, T0.date(), T0, T0, "Prep")
    removed = Change(Op.DELETE, gone, dataclasses.replace(gone, ref="ev-2"))
    push.remember_writes(state, "ana", graph, [removed], T0)

    def heard(*items: tuple[str, str], at: datetime = T0) -> bool:
        notices = tuple(
            Notice(row.channel.id, "secret-1", "changed", item=i, version=v) for i, v in items
        )
        assert push.receive(CONFIG, "outlook", Reading(notices), state, at).due == {"ana"}
        assert state.nudges.take(at + timedelta(minutes=1)) == [("ana", "push")]
        return state.own_writes.only_echoes("ana", at)

    assert heard(("ev-1", 'W/"ck-1"'), ("ev-2", "deleted"))  # its own writes only
    assert not heard(("ev-1", 'W/"ck-2"'))  # changed again since: by someone else
    assert not heard(("ev-1", 'W/"ck-1"'), ("ev-3", 'W/"x"'))  # and news besides
    assert not heard(("", ""))  # a notice that names nothing is news
    assert not heard(("ev-1", 'W/"ck-1"'), at=T0 + push.ECHO + timedelta(seconds=1))
    google = MemoryWatch()  # channels whose notices name no item: nothing remembered
    push.remember_writes(state, "ana", google, [_written("ev-9", "e9")], T0)
    assert not state.own_writes.own("ana", "ev-9", "e9", T0)
