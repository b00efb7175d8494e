"""The web app through its ASGI interface (Starlette's test client): what each page
shows, what it refuses, and the headers every answer carries."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.test_cli import NOW, run
from tests.test_read_only import snapshot
from worker import config as cfg
from worker import roster
from worker.clock import FixedClock
from worker.errors import ConfigError
from worker.state import State
from worker.web.app import create
from worker.web.serve import loopback
from worker.web.serve import run as serve

CLIENT_MEETING = (
    "BEGIN:VEVENT\r\nUID:acme@x\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:20261201T190000Z\r\n"
    "DTEND:20261201T200000Z\r\nSUMMARY:<script>alert(1)</script> Acme QBR\r\n"
    "ATTENDEE:mailto:jo@acme.com\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:old@x\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:20261127T190000Z\r\n"
    "DTEND:20261127T200000Z\r\nSUMMARY:Globex intro\r\n"
    "ATTENDEE:mailto:li@globex.com\r\nEND:VEVENT\r\n"
)


def setup(home: Path, capsys: pytest.CaptureFixture[str]) -> cfg.Config:
    path = home / "firstblock.toml"
    path.write_text(
        'timezone = "America/New_York"\n[followups]\ninternal_domains = ["example.com"]\n'
        f'[[accounts]]\nname = "ana"\ncalendar = "{home / "ana.ics"}"\n'
        f'maildir = "{home / "Mail"}"\nemail = "ana@example.com"\n'
        f'[[accounts]]\nname = "bo"\ncalendar = "{home / "bo.ics"}"\n'
    )
    (home / "ana.ics").write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n"
        + CLIENT_MEETING
        + "END:VCALENDAR\r\n",
        newline="",
    )
    assert run(capsys, "run", "--config", str(path), "--now", NOW)[0] == 0
    return roster.load(cfg.load(path))


@pytest.fixture
def client(home: Path, capsys: pytest.CaptureFixture[str]) -> TestClient:
    config = setup(home, capsys)
    clock = FixedClock(datetime.fromisoformat(NOW))
    return TestClient(create(lambda: config, clock))


def test_the_week_shows_blocks_meetings_and_the_prep_beside_its_meeting(
    client: TestClient,
) -> None:
    page = client.get("/a/ana")
    assert page.status_code == 200
    html = page.text
    assert "Mon 30 Nov" in html and "Fri 04 Dec" in html
    assert html.count('class="row prospecting block"') >= 5
    assert 'class="row client"' in html and "jo@acme.com" not in html
    assert "Prep: &lt;script&gt;alert(1)&lt;/script&gt; Acme QBR" in html  # its prep block
    assert "for the Tue 14:00 meeting" in html
    assert "<script>" not in html  # a title from someone else stays inert text
    assert "no next meeting booked with acme.com" in html
    assert '<span class="notes proposed">Proposed: Thu 03 Dec 10:00' in html


def test_every_answer_carries_a_strict_policy(client: TestClient) -> None:
    for url in ("/a/ana", "/a/ana/gaps", "/healthz", "/a/nobody"):
        answer = client.get(url)
        policy = answer.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src" not in policy
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_an_unknown_account_is_404_and_home_lists_the_accounts(client: TestClient) -> None:
    assert client.get("/a/nobody").status_code == 404
    assert client.get("/a/nobody/gaps").status_code == 404
    home = client.get("/", follow_redirects=False)
    assert home.status_code == 200 and "/a/ana" in home.text and "/a/bo" in home.text


def test_gaps_oldest_first_and_operations_endpoints(
    client: TestClient, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gaps = client.get("/a/ana/gaps")
    assert gaps.status_code == 200 and "Globex intro" in gaps.text and "globex.com" in gaps.text
    # Friday's Globex intro: slots from its second workday on, checked at this moment
    # (Monday 07:00, before the day's prospecting is placed over 08:30-10:00).
    assert "Proposed: Tue 01 Dec 10:00, Wed 02 Dec 10:00, Thu 03 Dec 10:00" in gaps.text
    # Tuesday's Acme QBR, coming up: what to propose before leaving it.
    coming = gaps.text.split("Coming up, no next meeting booked", 1)[1]
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Acme QBR" in coming
    assert "Proposed: Thu 03 Dec 10:00" in coming and "<script>" not in gaps.text
    assert client.get("/healthz").text == "ok\n"
    assert client.get("/readyz").status_code == 200
    metrics = client.get("/metrics").text
    assert 'firstblock_accounts{provider="local"} 2.0' in metrics
    assert "firstblock_open_gaps 1.0" in metrics


def test_pages_write_nothing(
    home: Path, capsys: pytest.CaptureFixture[str], client: TestClient
) -> None:
    before = snapshot(home / "state", home / "ana.ics", home / "bo.ics")
    for url in ("/a/ana", "/a/bo", "/a/ana/gaps", "/metrics", "/readyz"):
        assert client.get(url).status_code == 200
    assert snapshot(home / "state", home / "ana.ics", home / "bo.ics") == before


def test_not_ready_when_the_state_database_is_out_of_reach() -> None:
    pytest.importorskip("psycopg")
    config = dataclasses.replace(cfg.default_config(), state_url="postgresql://127.0.0.1:9/x")
    app = create(lambda: config, FixedClock(datetime.fromisoformat(NOW)))
    answer = TestClient(app).get("/readyz")
    assert answer.status_code == 503 and answer.text.startswith("not ready: state database")


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.com"])
def test_it_refuses_to_listen_beyond_this_machine_without_sign_in(host: str) -> None:
    assert not loopback(host)
    with pytest.raises(ConfigError, match="not a loopback address"):
        serve(f"{host}:8421", cfg.default_config, FixedClock(datetime.fromisoformat(NOW)))


def test_the_web_config_is_checked(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = home / "firstblock.toml"
    path.write_text('[web]\nlisten = "nowhere"\n')
    code, _, err = run(capsys, "web", "--config", str(path))
    assert code == 3 and "web.listen: expected HOST:PORT" in err
    assert json.dumps(loopback("127.0.0.1")) == "true" and loopback("::1")


def test_on_this_machine_stored_accounts_are_tuned_and_the_files_are_read_only(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = setup(home, capsys)
    table = {"provider": "local", "calendar": str(home / "cy.ics")}
    state = State(config.state_location())
    try:
        state.accounts.put("cy", table, datetime.fromisoformat(NOW))
    finally:
        state.close()

    def load() -> cfg.Config:  # as `firstblock web` does: the store read at each request
        return roster.load(cfg.load(home / "firstblock.toml"))

    client = TestClient(create(load, FixedClock(datetime.fromisoformat(NOW))))
    page = client.get("/a/ana/settings")
    assert "change its settings there" in page.text and "Save</button>" not in page.text
    token = page.text.split('name="csrf" value="')[1].split('"')[0]
    form = {"csrf": token, "blocks.deals.minutes": "75", "action": "save"}
    assert client.post("/a/ana/settings", data=form).status_code == 409
    saved = client.post("/a/cy/settings", data=form, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"].endswith("?saved=1")
    state = State(config.state_location())
    try:
        assert state.accounts.get("cy") == table | {"blocks": [{"kind": "deals", "minutes": 75}]}
    finally:
        state.close()
    assert 'value="75"' in client.get("/a/cy/settings").text
