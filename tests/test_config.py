from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from worker import config as cfg
from worker.errors import ConfigError
from worker.models import BlockKind

ISSUE_EXAMPLE = """
timezone = "America/New_York"
[workday]
days = ["mon", "tue", "wed", "thu", "fri"]
start = "08:30"
end = "17:30"
[[blocks]]
kind = "prospecting"
minutes = 90
min_chunk = 30
[[blocks]]
kind = "deals"
minutes = 60
min_chunk = 30
[[blocks]]
kind = "prep"
minutes = 30
min_chunk = 15
client_meeting_minutes = 15
[[blocks]]
kind = "admin"
minutes = 45
min_chunk = 15
[planning]
horizon_workdays = 5
tentative_is_busy = true
[followups]
internal_domains = ["example.com"]
[[accounts]]
name = "work"
provider = "local"
calendar = "~/firstblock/calendar.ics"
email = "me@example.com"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_the_documented_example_loads(tmp_path: Path) -> None:
    c = cfg.load(write(tmp_path, ISSUE_EXAMPLE))
    assert c.timezone == "America/New_York"
    assert c.workday.start == time(8, 30)
    assert c.workday.end == time(17, 30)
    assert [p.kind for p in c.blocks] == list(cfg.CANONICAL_ORDER)
    assert c.policy(BlockKind.PREP) is not None
    assert c.policy(BlockKind.PREP).client_meeting_minutes == 15  # type: ignore[union-attr]
    [account] = c.accounts
    assert account.options["calendar"] == Path.home() / "firstblock" / "calendar.ics"
    assert account.email == "me@example.com"
    assert c.followups.internal_domains == ("example.com",)


def test_the_init_template_loads_to_the_defaults(tmp_path: Path) -> None:
    text = cfg.Path(cfg.__file__).with_name("config_template.toml").read_text()
    text = text.replace("@CALENDAR@", str(tmp_path / "c.ics"))
    c = cfg.load(write(tmp_path, text.replace("@MAILDIR@", str(tmp_path / "Mail"))))
    d = cfg.default_config()
    assert (c.workday, c.blocks, c.planning, c.followups, c.hold, c.alerts) == (
        d.workday,
        d.blocks,
        d.planning,
        d.followups,
        d.hold,
        d.alerts,
    )
    assert c.accounts[0].options["maildir"] == tmp_path / "Mail"


def test_relative_calendar_paths_are_relative_to_the_config(tmp_path: Path) -> None:
    c = cfg.load(write(tmp_path, '[[accounts]]\nname = "w"\ncalendar = "cal.ics"\n'))
    assert c.accounts[0].options["calendar"] == tmp_path / "cal.ics"


def test_follow_up_proposals_are_configured_under_followups(tmp_path: Path) -> None:
    text = (
        "[followups]\nproposals = 2\npropose_from_workdays = 1\npropose_until_workdays = 5\n"
        "proposal_minutes = 45\nclient_hours = '08:30-16:00'\n"
        "[followups.client_zones]\n'@Acme.DE' = 'Europe/Berlin'\n'Bob@gmail.com' = 'Asia/Tokyo'\n"
    )
    f = cfg.load(write(tmp_path, text)).followups
    assert (f.proposals, f.propose_from_workdays, f.propose_until_workdays) == (2, 1, 5)
    assert f.proposal_minutes == 45 and f.client_hours == (time(8, 30), time(16))
    # Keyed as clients are: the company's domain, or the address at a public domain.
    assert f.client_zones == (("acme.de", "Europe/Berlin"), ("bob@gmail.com", "Asia/Tokyo"))
    assert (f.tentative_hold, f.tentative_hold_days) == (False, 1)  # off unless asked
    f = cfg.load(
        write(tmp_path, "[followups]\ntentative_hold = true\ntentative_hold_days = 2\n")
    ).followups
    assert (f.tentative_hold, f.tentative_hold_days) == (True, 2)


def test_a_kind_can_have_a_window(tmp_path: Path) -> None:
    text = "[[blocks]]\nkind = 'prospecting'\nminutes = 90\nwindow = '08:30-11:30'\n"
    [p] = cfg.load(write(tmp_path, text)).blocks
    assert p.window == (time(8, 30), time(11, 30))
    assert cfg.load(write(tmp_path, "")).blocks[0].window is None  # the whole workday


def test_internal_domain_defaults_to_the_accounts_domain() -> None:
    c = cfg.parse({"accounts": [{"name": "w", "email": "Me@Corp.example"}]})
    assert c.internal_domains_for(c.accounts[0]) == ("corp.example",)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("timezone = 'Mars/Olympus'", "timezone"),
        ("[workday]\nstart = '25:00'", "workday.start"),
        ("[workday]\nstart = '22:00'\nend = '06:00'", "workday.end: 06:00 is not after"),
        ("[workday]\ndays = ['monday']", "workday.days"),
        ("[[blocks]]\nkind = 'golf'", "blocks[0].kind"),
        ("[[blocks]]\nkind = 'admin'\n[[blocks]]\nkind = 'prospecting'", "blocks: kinds must"),
        ("[[blocks]]\nkind = 'deals'\nminutes = 20\nmin_chunk = 30", "blocks[0].min_chunk"),
        ("[[blocks]]\nkind = 'deals'\nclient_meeting_minutes = 10", "client_meeting_minutes"),
        ("[planning]\nhorizon_workdays = 'five'", "planning.horizon_workdays"),
        ("[planning]\nholidays = ['25/12/2026']", "planning.holidays"),
        ("[planning]\ntentative_is_busy = 1", "planning.tentative_is_busy"),
        ("blokcs = 1", "blokcs: unknown key"),
        ("[[accounts]]\nprovider = 'local'", "accounts[0].name"),
        ("[[accounts]]\nname = 'a'\nprovider = 'exchange2003'", "accounts[0].provider"),
        ("[[accounts]]\nname = 'a'\n[[accounts]]\nname = 'a'", "accounts[1].name"),
        ("this is = not toml =", "not valid TOML"),
        ("[hold]\nallow = ['nobody']", "hold.allow"),
        ("[followups]\ngrace_minutes = -5", "followups.grace_minutes"),
        ("[followups]\nclient_hours = '17:00-09:00'", "followups.client_hours"),
        ("[followups.client_zones]\n'acme.de' = 'Berlin'", "followups.client_zones.acme.de"),
        ("[followups]\npropose_from_workdays = 5\npropose_until_workdays = 2", "need 1 <="),
        ("[followups]\nproposals = 9", "followups.proposals: must be between 0 and 5"),
        ("[followups]\ntentative_hold = 'yes'", "followups.tentative_hold"),
        ("[[blocks]]\nkind = 'prospecting'\nwindow = '11:30-08:30'", "blocks[0].window"),
        (
            "[followups]\nlookback_days = 3\ntentative_hold_days = 5",
            "followups.tentative_hold_days: must not be more than lookback_days",
        ),
        ("[alerts]\nwebhook_url = 'hooks.slack.com/x'", "alerts.webhook_url"),
        ("[hold]\nallow_meeting_attendees_days = -1", "hold.allow_meeting_attendees_days"),
        ("[[accounts]]\nname = 'g'\nprovider = 'google'\nmaildir = 'M'", "accounts[0].maildir"),
        ("[workday]\nstart = '09:00'\nend = '09:00'", "workday.end: 09:00 is not after"),
        (
            "[workday]\nstart = '09:00'\nend = '10:00'\n[[blocks]]\nkind = 'prospecting'\n"
            "minutes = 120\nmin_chunk = 90",
            "blocks[0].min_chunk: prospecting needs at least 90 minutes in one piece",
        ),
        ("[focus_time]\nauto_decline = 'sometimes'", "focus_time.auto_decline"),
        ("[serve]\nworkers = 0", "serve.workers"),
        ("[serve]\ninterval_minutes = 0", "serve.interval_minutes"),
        ("[[accounts]]\nname = 'g'\nprovider = 'google'\napi_root = 'proxy'", "api_root"),
        ("[[accounts]]\nname = 'o'\nprovider = 'outlook'\nlogin_root = 'http://x/'", "login_root"),
        ("[[accounts]]\nname = 'l'\nlogin_root = 'https://x/'", "accounts[0].login_root"),
    ],
)
def test_bad_config_names_file_and_key(tmp_path: Path, text: str, where: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        cfg.load(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ")
    assert where in message
    assert "\n" not in message


def test_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="firstblock init"):
        cfg.load(tmp_path / "nope.toml")
