"""/push/NAME through the app's ASGI interface: a notification with its channel's
token makes the account due; anything else changes nothing."""

from __future__ import annotations

import dataclasses
import json
import logging
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from providers.push import Channel
from tests.test_cli import NOW
from worker import config as cfg
from worker import push
from worker.channels import OK, WAITING, digest
from worker.clock import FixedClock
from worker.state import State
from worker.web.app import create

MOMENT = datetime.fromisoformat(NOW)


def configured(home: Path, *, enabled: bool = True) -> cfg.Config:
    account = cfg.Account("ana", "google", "ana@example.com")
    return dataclasses.replace(
        cfg.default_config(),
        accounts=(account,),
        state_dir=home / "state",
        web=cfg.Web(base_url="https://firstblock.example.com/"),
        push=cfg.Push(enabled=enabled),
    )


@pytest.fixture
def config(home: Path) -> cfg.Config:
    config = configured(home)
    state = State(config.state_location())
    channel = Channel("calendar", "chan-1", "res-1", MOMENT + timedelta(days=7))
    state.channels.put("ana", "google", channel, digest("the-token"), WAITING, MOMENT)
    state.close()
    return config


def client(config: cfg.Config) -> TestClient:
    return TestClient(create(lambda: config, FixedClock(MOMENT)))


def google(channel: str, token: str | None, state: str = "exists") -> dict[str, str]:
    headers = {"X-Goog-Channel-ID": channel, "X-Goog-Resource-State": state}
    headers |= {"X-Goog-Resource-ID": "res-1", "X-Goog-Message-Number": "2"}
    return headers | ({"X-Goog-Channel-Token": token} if token is not None else {})


def taken(config: cfg.Config) -> list[tuple[str, str]]:
    state = State(config.state_location())
    try:
        return state.nudges.take(MOMENT + timedelta(minutes=1))
    finally:
        state.close()


def health(config: cfg.Config) -> str:
    state = State(config.state_location())
    try:
        return state.channels.of("ana")[0].health
    finally:
        state.close()


def test_the_sync_message_proves_the_channel_and_a_change_makes_the_account_due(
    config: cfg.Config,
) -> None:
    app = client(config)
    assert (
        app.post("/push/google", headers=google("chan-1", "the-token", "sync")).status_code == 202
    )
    assert health(config) == OK and taken(config) == []
    for _ in range(3):
        answer = app.post("/push/google", headers=google("chan-1", "the-token"))
        assert answer.status_code == 202
    assert taken(config) == [("ana", "push")]  # three notifications, one cycle


@pytest.mark.parametrize(
    "headers",
    [
        google("chan-1", "not-the-token"),
        google("chan-1", None),
        google("chan-2", "the-token"),
    ],
    ids=["wrong token", "no token", "unknown channel"],
)
def test_a_forged_notification_is_refused_and_logged(
    config: cfg.Config, headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "firstblock.push")
    answer = client(config).post("/push/google", headers=headers)
    assert answer.status_code == 403
    assert taken(config) == [] and health(config) == WAITING
    assert "refused a google notification" in caplog.text
    assert "not-the-token" not in caplog.text and "the-token" not in caplog.text


def test_what_is_no_notification_gets_a_clear_answer(config: cfg.Config, home: Path) -> None:
    app = client(config)
    bare = app.post("/push/google")
    assert bare.status_code == 400 and "not a Google Calendar notification" in bare.text
    assert app.post("/push/nobody", headers=google("chan-1", "the-token")).status_code == 404
    assert app.get("/push/google").status_code == 405
    off = client(configured(home, enabled=False))
    assert off.post("/push/google", headers=google("chan-1", "the-token")).status_code == 404
    assert taken(config) == []


def test_graph_is_answered_its_validation_token_as_plain_text(config: cfg.Config) -> None:
    answer = client(config).post("/push/outlook?validationToken=Validation%3A+Testing+1")
    assert answer.status_code == 200 and answer.text == "Validation: Testing 1"
    assert answer.headers["content-type"].startswith("text/plain")


def test_graph_notifications_are_checked_by_their_client_state(config: cfg.Config) -> None:
    state = State(config.state_location())
    sub = Channel("inbox", "sub-9", "me/messages", MOMENT + timedelta(days=3))
    state.channels.put("ana", "outlook", sub, digest("client-state"), OK, MOMENT)
    state.close()
    app = client(config)

    def body(client_state: str, **extra: str) -> dict[str, object]:
        item = {"subscriptionId": "sub-9", "clientState": client_state, "changeType": "created"}
        return {"value": [item | extra]}

    assert app.post("/push/outlook", json=body("guess")).status_code == 403
    assert taken(config) == []
    assert app.post("/push/outlook", json=body("client-state")).status_code == 202
    assert taken(config) == [("ana", "push")]
    lifecycle = body("client-state", lifecycleEvent="reauthorizationRequired")
    assert app.post("/push/outlook", json=lifecycle).status_code == 202
    state = State(config.state_location())
    try:
        assert state.channels.get("sub-9").health == "failed"  # type: ignore[union-attr]
    finally:
        state.close()
    assert app.post("/push/outlook", content=b"<xml/>").status_code == 400
    google_channel = {"value": [{"subscriptionId": "chan-1", "clientState": "the-token"}]}
    assert app.post("/push/outlook", json=google_channel).status_code == 403  # Google's


def test_in_a_team_the_app_queues_the_cycle_after_the_debounce(
    config: cfg.Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("celery", reason="team tests: pip install '.[team]'")
    from worker import team

    queued: list[tuple[object, ...]] = []
    monkeypatch.setenv("FIRSTBLOCK_BROKER_URL", "redis://127.0.0.1:1/0")  # never reached
    monkeypatch.setattr(
        team.cycle,
        "apply_async",
        lambda args, kwargs, countdown: queued.append((*args, kwargs, countdown)),
    )
    app = client(config)
    for _ in range(3):
        assert app.post("/push/google", headers=google("chan-1", "the-token")).status_code == 202
    assert queued == [("ana", {"pushed": True}, 2)]  # a burst: one task, after the debounce
    assert taken(config) == []  # the fan-out leaves it to that task for a while
    state = State(config.state_location())
    try:
        assert state.nudges.take(MOMENT + push.QUEUED + timedelta(seconds=2)) == [("ana", "push")]
    finally:
        state.close()


def test_a_body_too_large_is_refused_unread(config: cfg.Config) -> None:
    answer = client(config).post("/push/outlook", content=b"x" * (2 * 1024 * 1024))
    assert answer.status_code == 413 and taken(config) == []


def test_a_graph_notification_names_the_item_and_its_version() -> None:
    from providers.outlook.push import read

    def item(change: str, **data: str) -> dict[str, object]:
        return {
            "subscriptionId": "s",
            "clientState": "c",
            "changeType": change,
            "resourceData": data,
        }

    body = {
        "value": [
            item("updated", id="ev-1", **{"@odata.etag": 'W/"ck"'}),
            item("deleted", id="ev-2"),
        ]
    }
    updated, deleted = read({}, json.dumps(body).encode()).notices
    assert (updated.item, updated.version) == ("ev-1", 'W/"ck"')
    assert (deleted.item, deleted.version) == ("ev-2", "deleted")
    lifecycle = {"subscriptionId": "s", "clientState": "c", "lifecycleEvent": "missed"}
    (missed,) = read({}, json.dumps({"value": [lifecycle]}).encode()).notices
    assert missed.item == "" and missed.event != "changed"
