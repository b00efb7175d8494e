"""Signing in on the web app through the Google emulator: google-auth-oauthlib's
web-server flow over real sockets, the app through its ASGI interface. What a
session may see and change, and what the app refuses."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import itsdangerous
import pytest
import requests
from starlette.testclient import TestClient

from providers.credentials import SecretStore
from tests.emulators.google import GoogleEmulator
from tests.test_cli import NOW
from worker import config as cfg
from worker import roster
from worker.clock import FixedClock
from worker.errors import ConfigError
from worker.state import State
from worker.web.app import create

BASE = "http://testserver/"
ANA, BO = "ana@example.com", "bo@example.com"
CLIENT_ID, CLIENT_SECRET = "web-123.apps.example", "web-secret"
KEY = "a-test-key-that-encrypts-grants"


@pytest.fixture
def emu() -> Iterator[GoogleEmulator]:
    emulator = GoogleEmulator(email=ANA, require_auth=True).start()
    emulator.client(CLIENT_ID, CLIENT_SECRET, redirect_uris=[f"{BASE}auth/google"])
    try:
        yield emulator
    finally:
        emulator.stop()


def write_config(home: Path, emu: GoogleEmulator, *, extra: str = "") -> Path:
    client = home / "web-client.json"
    client.write_text(
        json.dumps(
            {
                "web": {
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                    "auth_uri": emu.auth_uri,
                    "token_uri": emu.token_uri,
                    "redirect_uris": [f"{BASE}auth/google"],
                }
            }
        )
    )
    path = home / "firstblock.toml"
    path.write_text(
        'timezone = "America/New_York"\n'
        f'[web]\nbase_url = "{BASE}"\nadmins = ["lead@example.com"]\n'
        f'[web.google]\nclient_secrets = "{client}"\napi_root = "{emu.url}"\n'
        f'[[accounts]]\nname = "bo"\nprovider = "local"\nemail = "{BO}"\n'
        f'calendar = "{home / "bo.ics"}"\n' + extra
    )
    return path


@pytest.fixture
def app(home: Path, emu: GoogleEmulator, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setenv("FIRSTBLOCK_SECRET_KEY", KEY)
    path = write_config(home, emu)
    clock = FixedClock(datetime.fromisoformat(NOW))
    return TestClient(create(lambda: roster.load(cfg.load(path)), clock), base_url=BASE)


def through_google(client: TestClient, answer: object) -> object:
    """The browser's trip: to Google (which approves at once here), back to the app."""
    assert answer.status_code == 303, answer.text  # type: ignore[attr-defined]
    there = requests.get(answer.headers["location"], allow_redirects=False, timeout=10)  # type: ignore[attr-defined]
    assert there.status_code == 302, there.text
    return client.get(there.headers["Location"], follow_redirects=False)


def sign_in(client: TestClient) -> object:
    """Sign in and connect: two trips to Google the first time, one afterwards."""
    answer = through_google(client, client.get("/signin/google", follow_redirects=False))
    if answer.headers["location"].startswith(BASE):  # type: ignore[attr-defined]
        return answer
    return through_google(client, answer)


def test_a_new_rep_signs_in_connects_once_and_lands_on_a_week_with_blocks(
    app: TestClient, emu: GoogleEmulator, home: Path
) -> None:
    assert app.get("/", follow_redirects=False).headers["location"] == f"{BASE}signin"
    page = app.get("/signin")
    assert "Continue with Google" in page.text
    first = app.get("/signin/google", follow_redirects=False)
    assert "code_challenge=" in first.headers["location"] and "state=" in first.headers["location"]
    assert "calendar" not in first.headers["location"]  # who they are, nothing more
    second = through_google(app, first)
    assert "access_type=online" in first.headers["location"]
    assert "access_type=offline" in second.headers["location"]  # type: ignore[attr-defined]
    assert "login_hint=ana%40example.com" in second.headers["location"]  # type: ignore[attr-defined]
    landed = through_google(app, second)
    assert landed.headers["location"] == f"{BASE}a/{ANA}"  # type: ignore[attr-defined]
    week = app.get(f"/a/{ANA}")
    assert week.status_code == 200 and week.text.count("prospecting block") >= 5
    # The grant is stored encrypted, the account with the stored ones, due at once.
    stored = SecretStore(home / "state" / "credentials").path(f"google-{ANA}")
    assert stored.read_bytes().startswith(b"firstblock-encrypted-v1")
    assert b"refresh_token" not in stored.read_bytes()
    state = State(home / "state" / "state.sqlite3")
    try:
        assert state.accounts.get(ANA) == {"provider": "google", "email": ANA, "api_root": emu.url}
        assert state.schedule.next_due(ANA) == (datetime.fromisoformat(NOW), "connected")
    finally:
        state.close()
    # Signing in again asks only who it is: the account is connected.
    app.cookies.clear()
    again = through_google(app, app.get("/signin/google", follow_redirects=False))
    assert again.headers["location"] == BASE  # type: ignore[attr-defined]


def test_a_rep_sees_only_their_own_account(app: TestClient) -> None:
    sign_in(app)
    for url in ("/a/bo", "/a/bo/gaps", "/a/bo/settings", "/a/bo/connection", "/team"):
        assert app.get(url).status_code == 404, url
    assert app.post("/a/bo/disconnect", data={"csrf": csrf(app, ANA)}).status_code == 404
    assert "/a/bo" not in app.get("/").text


def csrf(client: TestClient, account: str) -> str:
    html = client.get(f"/a/{account}/settings").text
    return html.split('name="csrf" value="')[1].split('"')[0]


def test_changes_need_the_sessions_csrf_token(app: TestClient) -> None:
    sign_in(app)
    token = csrf(app, ANA)
    form = {"workday.hours": "09:00-17:00", "action": "save"}
    for given in ({}, {"csrf": "forged"}):
        for url in (f"/a/{ANA}/settings", f"/a/{ANA}/disconnect", f"/a/{ANA}/reconnect"):
            assert app.post(url, data=form | given).status_code == 403, (url, given)
        assert app.post("/signout", data=given).status_code == 403
    saved = app.post(f"/a/{ANA}/settings", data=form | {"csrf": token}, follow_redirects=False)
    assert saved.status_code == 303


def put_cookie(client: TestClient, value: str) -> None:
    client.cookies.clear()
    client.cookies.set("firstblock", value)


def test_a_tampered_or_expired_cookie_goes_back_to_sign_in(app: TestClient) -> None:
    sign_in(app)
    cookie = app.cookies["firstblock"]
    assert app.get(f"/a/{ANA}").status_code == 200
    data, _, signature = cookie.rpartition(".")
    forged = base64.b64encode(json.dumps({"email": ANA, "csrf": "x"}).encode()).decode()
    for bad in (data + "." + signature[::-1], forged + "." + cookie.split(".", 1)[1]):
        put_cookie(app, bad)
        answer = app.get(f"/a/{ANA}", follow_redirects=False)
        assert answer.headers["location"] == f"{BASE}signin"
    key = hashlib.sha256(b"firstblock web sessions\0" + KEY.encode()).hexdigest()

    class Yesterday(itsdangerous.TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 13 * 3600  # past the 12-hour session

    payload = base64.b64encode(json.dumps({"email": ANA}).encode())
    put_cookie(app, Yesterday(key).sign(payload).decode())
    assert app.get(f"/a/{ANA}", follow_redirects=False).headers["location"] == f"{BASE}signin"
    fresh = itsdangerous.TimestampSigner(key).sign(payload).decode()  # the same, signed now
    put_cookie(app, fresh)
    assert app.get(f"/a/{ANA}", follow_redirects=False).status_code == 200


def test_a_callback_whose_state_does_not_match_or_repeats_is_refused(
    app: TestClient, emu: GoogleEmulator
) -> None:
    start = app.get("/signin/google", follow_redirects=False)
    there = requests.get(start.headers["location"], allow_redirects=False, timeout=10)
    back = there.headers["Location"]
    wrong = back.replace("state=", "state=x")
    refused = app.get(wrong)
    assert refused.status_code == 400 and "does not match" in refused.text
    assert app.get("/a/" + ANA, follow_redirects=False).status_code == 303  # not signed in
    # The pending sign-in was used up by the refused answer: the right one fails too.
    assert app.get(back).status_code == 400
    # A fresh one works, once.
    start = app.get("/signin/google", follow_redirects=False)
    there = requests.get(start.headers["location"], allow_redirects=False, timeout=10)
    assert app.get(there.headers["Location"], follow_redirects=False).status_code == 303
    assert app.get(there.headers["Location"]).status_code == 400  # replayed


def test_reconnecting_as_someone_else_is_refused(app: TestClient, emu: GoogleEmulator) -> None:
    sign_in(app)
    emu.oauth.email = "mallory@example.com"  # the person at Google is not the rep
    answer = app.post(f"/a/{ANA}/reconnect", data={"csrf": csrf(app, ANA)}, follow_redirects=False)
    refused = through_google(app, answer)
    assert refused.status_code == 403 and "mallory@example.com" in refused.text  # type: ignore[attr-defined]


def test_settings_inline_errors_preview_and_save(app: TestClient, home: Path) -> None:
    sign_in(app)
    token = csrf(app, ANA)
    bad = app.post(
        f"/a/{ANA}/settings",
        data={"csrf": token, "workday.hours": "17:00-09:00", "action": "save"},
    )
    assert bad.status_code == 400 and "crosses midnight" in bad.text
    assert 'id="workday.hours-error"' in bad.text
    fields = {
        "csrf": token,
        "workday.days": ["mon", "tue", "wed", "thu", "fri"],
        "workday.hours": "10:00-16:00",
        "blocks.prospecting.minutes": "60",
        "hold.enabled": "on",
        "followups.tentative_hold": ["off", "on"],  # the hidden field, then the box
        "blocks.deals.defense": "always",  # time defense, per kind
        "blocks.prospecting.decline": "internal",  # the team's: not kept as the rep's
        "action": "preview",
    }
    preview = app.post(f"/a/{ANA}/settings", data=fields)
    assert preview.status_code == 200 and "Mon 07 Dec" in preview.text  # next week
    assert "10:00–11:00" in preview.text  # the first hour, prospecting
    state = State(home / "state" / "state.sqlite3")
    try:
        assert "workday" not in (state.accounts.get(ANA) or {})  # a preview saves nothing
    finally:
        state.close()
    saved = app.post(f"/a/{ANA}/settings", data=fields | {"action": "save"}, follow_redirects=False)
    assert saved.status_code == 303
    state = State(home / "state" / "state.sqlite3")
    try:
        table = state.accounts.get(ANA) or {}
        assert table["workday"] == {"hours": ["10:00-16:00"]}
        assert table["blocks"] == [
            {"kind": "prospecting", "minutes": 60},
            {"kind": "deals", "defense": "always"},
        ]
        assert table["followups"] == {"tentative_hold": True}
        assert state.schedule.next_due(ANA) == (datetime.fromisoformat(NOW), "settings")
    finally:
        state.close()
    page = app.get(f"/a/{ANA}/settings").text
    assert "10:00-16:00" in page
    assert re.search(r'name="followups.tentative_hold"\s+checked', page)
    assert re.search(r'name="blocks.deals.defense".*?value="always" selected', page, re.S)
    wrong = app.post(
        f"/a/{ANA}/settings",
        data={"csrf": token, "blocks.admin.decline": "nobody", "action": "save"},
    )
    assert wrong.status_code == 400 and 'id="blocks.admin.decline-error"' in wrong.text


def test_disconnect_returns_held_mail_removes_future_blocks_and_revokes(
    app: TestClient, emu: GoogleEmulator, home: Path
) -> None:
    sign_in(app)
    config = roster.load(cfg.load(home / "firstblock.toml"))
    account = next(a for a in config.accounts if a.name == ANA)
    from worker import runner

    nine = datetime.fromisoformat("2026-11-30T09:00:00-05:00")
    news = emu.arrive(sender="news@vendor.com", received=nine)
    state = State(home / "state" / "state.sqlite3")
    try:
        result = runner.run_one(config, account, FixedClock(nine), apply=True, state=state)
        assert not result.errors and result.hold and result.hold.held == 1
    finally:
        state.close()
    assert "INBOX" not in emu.message(news)["labelIds"]
    assert blocks(emu)
    done = app.post(f"/a/{ANA}/disconnect", data={"csrf": csrf(app, ANA), "remove_blocks": "on"})
    assert done.status_code == 200 and "is disconnected" in done.text, done.text
    assert "1 held message returned" in done.text
    assert "INBOX" in emu.message(news)["labelIds"] and not emu.filters()
    assert not blocks(emu)
    assert all(grant["revoked"] for grant in emu.oauth.refresh_tokens.values())
    assert not SecretStore(home / "state" / "credentials").exists(f"google-{ANA}")
    assert app.get(f"/a/{ANA}").status_code == 404  # the account is gone with it


def blocks(emu: GoogleEmulator) -> list[dict[str, object]]:
    return [
        e for e in emu.events() if e.get("extendedProperties") and e.get("status") != "cancelled"
    ]


def test_the_team_page_is_for_admins(app: TestClient, emu: GoogleEmulator) -> None:
    sign_in(app)
    assert app.get("/team").status_code == 404
    app.cookies.clear()
    emu.oauth.email = "lead@example.com"
    sign_in(app)
    team = app.get("/team")
    assert team.status_code == 200 and "bo" in team.text and ANA in team.text


def test_sign_in_needs_the_secret_key_and_may_then_listen_beyond_loopback(
    home: Path, emu: GoogleEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FIRSTBLOCK_SECRET_KEY", raising=False)
    path = write_config(home, emu)
    config = cfg.load(path)
    with pytest.raises(ConfigError, match="FIRSTBLOCK_SECRET_KEY"):
        create(lambda: config, FixedClock(datetime.fromisoformat(NOW)))


def test_a_rep_an_administrator_connected_signs_in_with_openid_alone(
    home: Path, emu: GoogleEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIRSTBLOCK_SECRET_KEY", KEY)
    path = write_config(
        home,
        emu,
        extra=f'[[accounts]]\nname = "ana-work"\nprovider = "google"\nemail = "{ANA}"\n'
        f'api_root = "{emu.url}"\n',
    )
    delegated = {"type": "service_account", "key": {"client_email": "sa@x"}, "subject": ANA}
    SecretStore(home / "state" / "credentials").save("google-ana-work", delegated)
    client = TestClient(
        create(lambda: roster.load(cfg.load(path)), FixedClock(datetime.fromisoformat(NOW))),
        base_url=BASE,
    )
    landed = through_google(client, client.get("/signin/google", follow_redirects=False))
    assert landed.headers["location"] == BASE  # type: ignore[attr-defined]
    assert [g["scopes"] for g in emu.oauth.grants] == [
        ["openid", "https://www.googleapis.com/auth/userinfo.email"]
    ]
    page = client.get("/a/ana-work/connection")
    assert "Given by your administrator" in page.text and "Reconnect</button>" not in page.text
    assert SecretStore(home / "state" / "credentials").load("google-ana-work") == delegated
