"""The Report page and the admins' roll-up, signed in through the Google emulator: a
rep sees their own week in charts and who can see it; admins see the reps who share,
never one who does not."""

from __future__ import annotations

import io
import re
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image
from starlette.testclient import TestClient

from tests.emulators.google import GoogleEmulator
from tests.test_cli import run
from tests.web.test_signin import BASE, BO, KEY, emu, sign_in, write_config
from worker import config as cfg
from worker import roster
from worker.clock import FixedClock
from worker.web.app import create

__all__ = ["emu"]  # a fixture, imported for pytest

CY = "cy@example.com"
THURSDAY = "2026-12-03T12:00:00-05:00"


@pytest.fixture
def app(
    home: Path,
    emu: GoogleEmulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> TestClient:
    """bo shares their figures (the default), cy does not; both ran Monday to Thursday."""
    monkeypatch.setenv("FIRSTBLOCK_SECRET_KEY", KEY)
    path = write_config(
        home,
        emu,
        extra=f'[[accounts]]\nname = "cy"\nprovider = "local"\nemail = "{CY}"\n'
        f'calendar = "{home / "cy.ics"}"\n[accounts.report]\nshare_with_admins = false\n',
    )
    for day in ("11-30", "12-01", "12-02", "12-03"):
        code, _, err = run(
            capsys, "run", "--config", str(path), "--now", f"2026-{day}T07:00:00-05:00"
        )
        assert (code, err) == (0, "")
    clock = FixedClock(datetime.fromisoformat(THURSDAY))
    return TestClient(create(lambda: roster.load(cfg.load(path)), clock), base_url=BASE)


def as_user(app: TestClient, emu: GoogleEmulator, email: str) -> None:
    """Signed in as `email`; one with no account yet connects one on the way."""
    app.cookies.clear()
    emu.oauth.email = email
    assert sign_in(app).headers["location"].startswith(BASE)  # type: ignore[attr-defined]


def picture(png: bytes) -> tuple[int, int]:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image.size


def test_a_rep_sees_their_week_in_charts_and_who_can_see_it(
    app: TestClient, emu: GoogleEmulator
) -> None:
    as_user(app, emu, BO)
    page = app.get("/a/bo/report")
    assert page.status_code == 200
    html = page.text
    assert "Report, week 2026-W49" in html
    assert "Prospecting: 100% of the planned minutes kept (270 of 270 minutes" in html
    found = r'<img src="{0}(/a/bo/report/2026-W49/\w+\.png)" width="640" height="280" alt="([^"]+)"'
    images = re.findall(found.format(re.escape(BASE.rstrip("/"))), html)
    assert len(images) == 5 and all(len(alt) > 30 for _, alt in images)
    for src, _ in images:
        chart = app.get(src)
        assert chart.status_code == 200 and chart.headers["content-type"] == "image/png"
        assert picture(chart.content) == (640, 280)
    assert "You, and your team's admins on their Team page: lead@example.com" in html
    assert app.get("/a/bo/report?week=2026-W48").status_code == 200
    assert "Nothing was recorded for week 2026-W48" in app.get("/a/bo/report?week=2026-W48").text
    assert app.get("/a/bo/report?week=soon").status_code == 404
    # Another rep's report, and its pictures, do not exist for bo.
    assert app.get("/a/cy/report").status_code == 404
    assert app.get("/a/cy/report/2026-W49/prospecting.png").status_code == 404
    assert app.get("/a/bo/report/2026-W49/nothing.png").status_code == 404


def test_a_rep_who_does_not_share_is_told_so_and_never_in_the_rollup(
    app: TestClient, emu: GoogleEmulator
) -> None:
    as_user(app, emu, CY)
    assert "Only you: your team's admins do not see them." in app.get("/a/cy/report").text
    as_user(app, emu, "lead@example.com")
    team = app.get("/team")
    assert team.status_code == 200
    rollup = team.text.split('id="rollup"', 1)[1]
    reps = re.findall(r"<tr>\s*<td>([\w@.-]+)</td>", rollup)
    assert "bo" in reps and "cy" not in reps and "cy" not in rollup
    chart = app.get("/team/report.png?week=2026-W49")
    assert chart.status_code == 200 and picture(chart.content)[0] == 640
    # A rep is not an admin: no roll-up, no team chart.
    as_user(app, emu, BO)
    assert app.get("/team").status_code == 404
    assert app.get("/team/report.png").status_code == 404
