"""A rep's whole visit in a real browser (Debian's Chromium, driven by Playwright):
sign in through the provider emulator's consent page, land on a week with blocks,
change their hours, preview and save them, see the new plan after the next cycle,
and disconnect. `firstblock web` runs as users run it, in its own process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.emulators.google import GoogleEmulator
from tests.test_cli import NOW
from tests.web.test_browser import browser, free_port, shots
from worker import config as cfg
from worker import roster, runner
from worker.clock import FixedClock
from worker.state import State

__all__ = ["browser"]  # a fixture, imported for pytest

ANA = "ana@example.com"
CLIENT_ID, CLIENT_SECRET = "web-123.apps.example", "web-secret"


def start_web(config: Path, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    argv = ["web", "--config", str(config), "--now", NOW, "--listen", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker", *argv],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(proc.stdout.read().decode() if proc.stdout else "") from None
            time.sleep(0.1)
    raise AssertionError("firstblock web did not start")


@pytest.fixture
def google(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, GoogleEmulator, Path]]:
    monkeypatch.setenv("FIRSTBLOCK_SECRET_KEY", "browser-test-key")
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    emu = GoogleEmulator(email=ANA, require_auth=True).start()
    emu.client(CLIENT_ID, CLIENT_SECRET, redirect_uris=[f"{base}auth/google"])
    emu.consent_page = True
    client = home / "web-client.json"
    web = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    web |= {"auth_uri": emu.auth_uri, "token_uri": emu.token_uri}
    client.write_text(json.dumps({"web": web}))
    path = home / "firstblock.toml"
    path.write_text(
        'timezone = "America/New_York"\n'
        f'[web]\nbase_url = "{base}"\n'
        f'[web.google]\nclient_secrets = "{client}"\napi_root = "{emu.url}"\n'
    )
    proc = start_web(path, port, {})
    try:
        yield base, emu, path
    finally:
        proc.terminate()
        proc.wait(10)
        emu.stop()


def cycle(path: Path, at: str) -> runner.AccountResult:
    """The account's next cycle, as `serve` runs it."""
    config = roster.load(cfg.load(path))
    [account] = config.accounts
    state = State(config.state_location())
    try:
        clock = FixedClock(datetime.fromisoformat(at))
        return runner.run_one(config, account, clock, apply=True, state=state)
    finally:
        state.close()


def allow(page: Any, shot: Path | None = None) -> None:
    page.wait_for_selector("#submit_approve_access")
    if shot is not None:
        page.screenshot(path=str(shot))
    page.click("#submit_approve_access")


def test_a_rep_signs_in_with_google_tunes_their_day_and_disconnects(
    google: tuple[str, GoogleEmulator, Path], browser: Any, home: Path, tmp_path: Path
) -> None:
    base, emu, path = google
    folder = shots(tmp_path)
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    problems: list[str] = []

    def console(message: Any) -> None:
        # The app's own pages only: the emulator's have no favicon.
        if message.type == "error" and message.location.get("url", "").startswith(base):
            problems.append(f"{message.text} at {message.location}")

    page.on("console", console)
    page.goto(base)
    page.wait_for_selector("text=Continue with Google")
    page.screenshot(path=str(folder / "signin.png"))
    page.click("text=Continue with Google")
    allow(page)  # who they are
    allow(page, folder / "consent.png")  # then the calendar and mail, once
    page.wait_for_selector(".row.prospecting")
    assert page.url == f"{base}a/{ANA}"
    assert page.locator(".row.prospecting").count() >= 5
    first = page.locator(".row.prospecting .time").first.inner_text()
    assert first.startswith("08:30")

    page.click("nav >> text=Settings")
    page.fill("input[name='workday.hours']", "10:00-12:00, 13:00-17:00")
    page.click("text=Preview next week")
    page.wait_for_selector(".preview .row.prospecting")
    assert "Mon 07 Dec" in page.locator(".preview").inner_text()
    assert page.locator(".preview .row.prospecting .time").first.inner_text().startswith("10:00")
    page.screenshot(path=str(folder / "settings-preview.png"), full_page=True)
    page.click("button[value='save']")
    page.wait_for_selector("text=Saved.")

    result = cycle(path, NOW)  # the cycle the save brought forward
    assert not result.errors
    starts = sorted(e["start"]["dateTime"] for e in emu.events() if e.get("extendedProperties"))
    assert starts and starts[0].startswith("2026-11-30T15:00")  # 10:00 in New York
    page.click("nav >> text=Week")
    page.wait_for_selector(".row.prospecting")
    assert page.locator(".row.prospecting .time").first.inner_text().startswith("10:00")
    page.screenshot(path=str(folder / "week-signed-in.png"), full_page=True)

    page.click("nav >> text=Connection")
    page.wait_for_selector(".health.ok")
    page.screenshot(path=str(folder / "connection.png"))
    page.click("button.danger")
    page.wait_for_selector("text=is disconnected")
    assert not [
        e
        for e in emu.events()
        if e.get("extendedProperties")
        and e.get("status") != "cancelled"
        and e["start"]["dateTime"] >= "2026-11-30T12:00"
    ]
    page.screenshot(path=str(folder / "disconnected.png"))
    phone = browser.new_page(viewport={"width": 390, "height": 844})
    phone.goto(base + "signin")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    assert problems == []


def test_a_rep_signs_in_with_microsoft_and_lands_on_a_week_with_blocks(
    home: Path, browser: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.emulators.graph import GraphEmulator

    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    emu = GraphEmulator().start()
    client_id = "11111111-2222-3333-4444-555555555555"
    emu.app(client_id, secret="web-app-secret", redirect_uris=[f"{base}auth/outlook"])
    emu.user("ana@contoso.com", timezone="Eastern Standard Time")
    emu.user("bo@contoso.com")
    (home / "app-secret").write_text("web-app-secret\n")
    path = home / "firstblock.toml"
    path.write_text(
        f'[web]\nbase_url = "{base}"\n'
        f'[web.outlook]\nclient_id = "{client_id}"\n'
        f'client_secret_file = "{home / "app-secret"}"\ntenant = "{emu.tenant_id}"\n'
        f'login_root = "{emu.url}"\napi_root = "{emu.url}"\n'
    )
    monkeypatch.setenv("FIRSTBLOCK_SECRET_KEY", "browser-test-key")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", emu.ca_file)  # the emulator's own CA
    proc = start_web(path, port, {})
    try:
        # The browser trusts the emulator's certificate as MSAL does, by being told.
        page = browser.new_page(viewport={"width": 1100, "height": 900}, ignore_https_errors=True)
        page.goto(base + "signin")
        page.click("text=Continue with Microsoft")
        for _ in range(2):  # who they are, then the calendar and mail
            page.wait_for_selector("#idSIButton9")
            page.check("input[name='login'][value='ana@contoso.com']")
            page.click("#idSIButton9")
        page.wait_for_selector(".row.prospecting")
        assert page.url == f"{base}a/ana@contoso.com"
        assert page.locator(".row.prospecting").count() >= 5
        page.screenshot(path=str(shots(tmp_path) / "week-microsoft.png"))
    finally:
        proc.terminate()
        proc.wait(10)
        emu.stop()
