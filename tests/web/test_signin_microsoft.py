"""Signing in on the web app through the Graph emulator: MSAL's confidential client
and its auth-code flow over real TLS sockets, then the worker's runs on the grant
that sign-in kept."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from starlette.testclient import TestClient

from providers.credentials import SecretStore
from tests.emulators.forms import click, forms
from tests.emulators.graph import GraphEmulator
from tests.test_cli import NOW
from worker import config as cfg
from worker import roster, runner
from worker.clock import FixedClock
from worker.state import State
from worker.web.app import create

BASE = "http://testserver/"
ANA, MALLORY = "ana@contoso.com", "mallory@contoso.com"
CLIENT_ID = "11111111-2222-3333-4444-555555555555"


@pytest.fixture
def emu() -> Iterator[GraphEmulator]:
    emulator = GraphEmulator().start()
    emulator.app(CLIENT_ID, secret="web-app-secret", redirect_uris=[f"{BASE}auth/outlook"])
    emulator.user(ANA, timezone="Eastern Standard Time")
    emulator.user(MALLORY)
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def app(home: Path, emu: GraphEmulator, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setenv("FIRSTBLOCK_SECRET_KEY", "a-test-key")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", emu.ca_file)
    (home / "app-secret").write_text("web-app-secret\n")
    path = home / "firstblock.toml"
    path.write_text(
        f'[web]\nbase_url = "{BASE}"\n'
        f'[web.outlook]\nclient_id = "{CLIENT_ID}"\nclient_secret_file = "{home / "app-secret"}"\n'
        f'tenant = "{emu.tenant_id}"\nlogin_root = "{emu.url}"\napi_root = "{emu.url}"\n'
    )
    clock = FixedClock(datetime.fromisoformat(NOW))
    return TestClient(create(lambda: roster.load(cfg.load(path)), clock), base_url=BASE)


def through_microsoft(client: TestClient, answer: Any, who: str = ANA) -> Any:
    """The browser's trip: to the sign-in page, pick `who`, Accept, back to the app."""
    assert answer.status_code == 303, answer.text
    url = answer.headers["location"]
    page = requests.get(url, timeout=10)
    assert page.status_code == 200, page.text
    logins = {v for f in forms(page.text) for v in f.radios.get("login", [])}
    choose = {"login": next(v for v in logins if who in v or v == who)} if logins else None
    action, fields = click(url, page.text, "idSIButton9", choose)
    back = requests.post(action, data=fields, allow_redirects=False, timeout=10)
    assert back.status_code == 302, back.text
    return client.get(back.headers["Location"], follow_redirects=False)


def test_a_rep_signs_in_with_microsoft_and_the_worker_runs_on_that_grant(
    app: TestClient, emu: GraphEmulator, home: Path
) -> None:
    first = app.get("/signin/outlook", follow_redirects=False)
    assert "code_challenge=" in first.headers["location"]
    second = through_microsoft(app, first)
    assert "Calendars.ReadWrite" in second.headers["location"]  # now the account's scopes
    landed = through_microsoft(app, second)
    assert landed.headers["location"] == f"{BASE}a/{ANA}"
    assert app.get(f"/a/{ANA}").text.count("prospecting block") >= 5
    stored = SecretStore(home / "state" / "credentials").load(f"outlook-{ANA}")
    assert stored is not None and stored["type"] == "web" and stored["email"] == ANA
    config = roster.load(cfg.load(home / "firstblock.toml"))
    [account] = config.accounts
    state = State(config.state_location())
    try:
        clock = FixedClock(datetime.fromisoformat(NOW))
        result = runner.run_one(config, account, clock, apply=True, state=state)
    finally:
        state.close()
    assert not result.errors and result.outcome and result.outcome.changes
    token = app.get(f"/a/{ANA}/settings").text.split('name="csrf" value="')[1].split('"')[0]
    # Reconnecting as another person is refused, and the kept grant stays.
    answer = app.post(f"/a/{ANA}/reconnect", data={"csrf": token}, follow_redirects=False)
    refused = through_microsoft(app, answer, who=MALLORY)
    assert refused.status_code == 403 and MALLORY in refused.text
    assert SecretStore(home / "state" / "credentials").load(f"outlook-{ANA}") == stored
    done = app.post(f"/a/{ANA}/disconnect", data={"csrf": token, "remove_blocks": "on"})
    assert done.status_code == 200 and "myapps.microsoft.com" in done.text
    assert not SecretStore(home / "state" / "credentials").exists(f"outlook-{ANA}")


def test_cancelling_at_microsoft_signs_nobody_in(app: TestClient) -> None:
    first = app.get("/signin/outlook", follow_redirects=False)
    url = first.headers["location"]
    page = requests.get(url, timeout=10)
    action, fields = click(url, page.text, "idBtn_Back")
    back = requests.post(action, data=fields, allow_redirects=False, timeout=10)
    answer = app.get(back.headers["Location"], follow_redirects=False)
    assert answer.status_code == 400 and "access_denied" in answer.text
    assert app.get(f"/a/{ANA}", follow_redirects=False).headers["location"] == f"{BASE}signin"
