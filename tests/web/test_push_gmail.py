"""/push/gmail: Gmail's pushes through Cloud Pub/Sub, proven by Google's signed token
for the push subscription (keys from the Google emulator), then made due."""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from providers.push import Channel
from tests.emulators.google import GoogleEmulator
from tests.emulators.google.pubsub import DEFAULT_SERVICE_ACCOUNT as ROBOT
from tests.web.test_push import MOMENT, client, configured, taken
from worker import config as cfg
from worker.channels import OK, digest
from worker.state import State

AUDIENCE = "https://firstblock.example.com/push/gmail"


@pytest.fixture
def emu() -> Iterator[GoogleEmulator]:
    emulator = GoogleEmulator().start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def app(home: Path, emu: GoogleEmulator) -> tuple[cfg.Config, TestClient]:
    push = cfg.Push(
        enabled=True,
        gmail_topic="projects/firstblock/topics/gmail",
        gmail_service_account=ROBOT,
        gmail_audience=AUDIENCE,
        gmail_certs_url=emu.certs_url,
    )
    config = dataclasses.replace(configured(home), push=push)
    state = State(config.state_location())
    watch = Channel("inbox", "gmail:ana@example.com", "1234", MOMENT + timedelta(days=7))
    state.channels.put("ana", "google", watch, digest("unused"), OK, MOMENT)
    state.close()
    return config, client(config)


def pushed(email: str = "ana@example.com") -> dict[str, object]:
    data = base64.b64encode(json.dumps({"emailAddress": email, "historyId": 99}).encode())
    message = {"data": data.decode(), "messageId": "1", "publishTime": "2026-11-30T12:00:00Z"}
    return {"message": message, "subscription": "projects/firstblock/subscriptions/gmail-push"}


def test_a_signed_push_makes_the_mailbox_due(
    app: tuple[cfg.Config, TestClient], emu: GoogleEmulator
) -> None:
    config, web = app
    token = emu.pubsub_token(AUDIENCE, ROBOT)
    answer = web.post("/push/gmail", json=pushed(), headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 202
    assert taken(config) == [("ana", "push")]


@pytest.mark.parametrize(
    ("audience", "email", "kw", "why"),
    [
        ("https://elsewhere.example.com/", ROBOT, {}, "token refused"),
        (AUDIENCE, "someone@other-project.iam.gserviceaccount.com", {}, "another service"),
        (AUDIENCE, ROBOT, {"key": "other"}, "token refused"),
        (AUDIENCE, ROBOT, {"expired": True}, "token refused"),
    ],
    ids=["wrong audience", "another service account", "not Google's key", "expired"],
)
def test_a_push_whose_token_does_not_hold_is_refused(
    app: tuple[cfg.Config, TestClient],
    emu: GoogleEmulator,
    caplog: pytest.LogCaptureFixture,
    audience: str,
    email: str,
    kw: dict[str, object],
    why: str,
) -> None:
    config, web = app
    caplog.set_level(logging.WARNING, "firstblock.push")
    token = emu.pubsub_token(audience, email, **kw)  # type: ignore[arg-type]
    answer = web.post("/push/gmail", json=pushed(), headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 403 and taken(config) == []
    assert why in caplog.text and token not in caplog.text


def test_no_token_an_unknown_mailbox_or_no_topic_changes_nothing(
    app: tuple[cfg.Config, TestClient], emu: GoogleEmulator, home: Path
) -> None:
    config, web = app
    assert web.post("/push/gmail", json=pushed()).status_code == 403
    token = emu.pubsub_token(AUDIENCE, ROBOT)
    bearer = {"Authorization": f"Bearer {token}"}
    stranger = web.post("/push/gmail", json=pushed("eve@example.com"), headers=bearer)
    assert stranger.status_code == 403
    assert web.post("/push/gmail", json={"message": {}}, headers=bearer).status_code == 400
    assert client(configured(home)).post("/push/gmail", headers=bearer).status_code == 404
    assert taken(config) == []


def test_the_gmail_settings_are_checked() -> None:
    web = {"base_url": "https://firstblock.example.com"}
    with pytest.raises(cfg.ConfigError, match=r"push\.gmail_topic: expected projects/"):
        cfg.parse({"web": web, "push": {"gmail_topic": "gmail"}})
    with pytest.raises(cfg.ConfigError, match=r"push\.gmail_service_account: give the push"):
        cfg.parse({"web": web, "push": {"gmail_topic": "projects/p/topics/t"}})
    push = {"gmail_topic": "projects/p/topics/t", "gmail_service_account": ROBOT}
    parsed = cfg.parse({"web": web, "push": push}).push
    assert parsed.gmail_audience == "https://firstblock.example.com/push/gmail"
