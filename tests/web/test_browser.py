"""The web app in a real browser: Debian's Chromium, driven by Playwright, against
`firstblock web` running as users run it. Screenshots go to FIRSTBLOCK_SCREENSHOTS
when set (the README's come from there), else to the test's own folder."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_cli import NOW
from tests.web.test_app import setup

CHROMIUM = os.environ.get("FIRSTBLOCK_CHROMIUM", "/usr/bin/chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def app(home: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[str]:
    setup(home, capsys)
    yield from running(home / "firstblock.toml", NOW)


def running(config: Path, now: str) -> Iterator[str]:
    """`firstblock web` as users run it, at `now`: its address until the test ends."""
    port = free_port()
    argv = ["web", "--config", str(config), "--now", now]
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker", *argv, "--listen", f"127.0.0.1:{port}"],
        env={**os.environ},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "/healthz", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"browser tests: no Chromium at {CHROMIUM} (apt-get install chromium)")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            yield chromium
        finally:
            chromium.close()


def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("FIRSTBLOCK_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_a_rep_opens_the_week_and_the_gaps(app: str, browser: object, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1100, "height": 900})  # type: ignore[attr-defined]
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("dialog", lambda d: problems.append(f"a dialog opened: {d.message}"))
    page.goto(app + "/")
    page.click("text=ana")
    page.wait_for_selector(".row.prospecting")
    assert page.locator("h1").inner_text() == "This week"
    assert page.locator(".row.prospecting").count() >= 5
    # Someone else's title is shown as text, never run.
    assert "<script>alert(1)</script> Acme QBR" in page.locator(".row.client").first.inner_text()
    # The stylesheet loaded under the policy: blocks are coloured.
    colour = page.locator(".row.prospecting").first.evaluate(
        "e => getComputedStyle(e).backgroundColor"
    )
    assert colour == "rgb(31, 111, 235)"
    page.screenshot(path=str(shots(tmp_path) / "week.png"), full_page=True)
    page.click("nav >> text=Gaps")
    page.wait_for_selector("table.gaps")
    assert "Globex intro" in page.locator("table.gaps").first.inner_text()
    assert "Proposed: Thu 03 Dec 10:00" in page.locator("table.upcoming").inner_text()
    page.screenshot(path=str(shots(tmp_path) / "gaps.png"), full_page=True)
    page.click("nav >> text=Settings")
    page.wait_for_selector("table.targets")
    # Each kind's time defense, as the config says: prospecting busy, declining
    # colleagues only; the rest ramping, declining nobody.
    assert page.locator('select[name="blocks.prospecting.defense"]').input_value() == "always"
    assert page.locator('select[name="blocks.prospecting.decline"]').input_value() == "internal"
    assert page.locator('select[name="blocks.admin.decline"]').input_value() == "none"
    page.screenshot(path=str(shots(tmp_path) / "settings.png"), full_page=True)
    phone = browser.new_page(viewport={"width": 390, "height": 844})  # type: ignore[attr-defined]
    phone.goto(app + "/a/ana")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the week does not fit a phone's screen"
    phone.screenshot(path=str(shots(tmp_path) / "week-phone.png"))
    phone.goto(app + "/a/ana/settings")
    phone.screenshot(path=str(shots(tmp_path) / "settings-phone.png"), full_page=True)
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the settings do not fit a phone's screen"
    assert problems == []


def test_the_running_app_sees_a_new_account_and_an_edited_file(
    app: str, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The app keeps the config it read until the file or the store's accounts change.
    from tests.test_cli import run

    def home_page() -> str:
        return urllib.request.urlopen(app + "/", timeout=10).read().decode()

    assert "/a/bo" in home_page() and "/a/cy" not in home_page()
    config = str(home / "firstblock.toml")
    added = run(capsys, "accounts", "add", "cy", f"calendar={home / 'cy.ics'}", "--config", config)
    assert added[0] == 0
    assert "/a/cy" in home_page()
    path = home / "firstblock.toml"
    path.write_text(path.read_text().replace('name = "bo"', 'name = "bea"'))
    page = home_page()
    assert "/a/bea" in page and '/a/bo"' not in page and "/a/cy" in page
