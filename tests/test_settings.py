"""Settings per account: layered key by key over the team's, checked by the same code,
shown with where each came from; working hours with several ranges."""

from __future__ import annotations

import json
from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from providers.local.calendar import LocalCalendar
from tests.test_cli import deliver, run, stamp
from tests.test_team import redis_url
from tests.worker.test_state_store import postgres_url
from worker import config as cfg
from worker.clock import FixedClock
from worker.errors import ConfigError
from worker.models import BlockKind, Window

__all__ = ["postgres_url", "redis_url"]  # fixtures, imported for pytest

TEAM = """
timezone = "America/New_York"
[hold]
allow = ["boss@example.com"]
[followups]
internal_domains = ["example.com"]
"""


def load(tmp_path: Path, text: str) -> cfg.Config:
    path = tmp_path / "firstblock.toml"
    path.write_text(text)
    return cfg.load(path)


def two(home: Path) -> str:
    return TEAM + (
        f'[[accounts]]\nname = "ana"\ncalendar = "{home / "ana.ics"}"\n'
        f'maildir = "{home / "ana-mail"}"\nemail = "ana@example.com"\n'
        f'[[accounts]]\nname = "bo"\ncalendar = "{home / "bo.ics"}"\n'
        f'maildir = "{home / "bo-mail"}"\nemail = "bo@example.com"\n'
        'timezone = "Europe/Berlin"\n'
        '[accounts.workday]\nhours = ["08:00-12:00", "13:00-17:00"]\nfri = ["08:00-13:00"]\n'
        '[accounts.hold]\nallow = ["@bigclient.com"]\n'
        '[accounts.followups]\ninternal_domains = ["example.com", "partner.com"]\n'
        '[[accounts.blocks]]\nkind = "prospecting"\nminutes = 120\n'
    )


def test_an_account_layers_its_own_keys_over_the_teams(tmp_path: Path) -> None:
    c = load(tmp_path, two(tmp_path))
    ana, bo = (c.for_account(a) for a in c.accounts)
    assert ana.timezone == "America/New_York" and ana.hold.allow == ("boss@example.com",)
    assert bo.timezone == "Europe/Berlin"
    assert bo.hold.allow == ("@bigclient.com",)  # the list replaces the team's
    assert bo.hold.enabled and bo.hold.allow_meeting_attendees_days == 2  # the rest stays
    assert bo.followups.internal_domains == ("example.com", "partner.com")
    assert ana.followups.internal_domains == ("example.com",)  # not set: the team's
    assert bo.workday.hours(0) == ((time(8), time(12)), (time(13), time(17)))
    assert bo.workday.hours(4) == ((time(8), time(13)),)
    assert bo.workday.hours(5) == ()
    minutes = {p.kind: p.minutes for p in bo.blocks}
    assert minutes == {
        BlockKind.PROSPECTING: 120,
        BlockKind.DEALS: 60,
        BlockKind.PREP: 30,
        BlockKind.ADMIN: 45,
    }
    assert bo.workday_set and not ana.workday_set


@pytest.mark.parametrize(
    ("account", "key"),
    [
        ('[accounts.hold]\nallow = ["nobody"]', "accounts[0].hold.allow"),
        ('[accounts.hold]\nallow = "x@y.com"', "accounts[0].hold.allow"),
        ('timezone = "Mars/Olympus"', "accounts[0].timezone"),
        ('[accounts.workday]\nstart = "18:00"\nend = "09:00"', "accounts[0].workday.end"),
        ('[accounts.workday]\nhours = ["09:00-12:00", "11:00-17:00"]', "accounts[0].workday.hours"),
        ('[accounts.workday]\nhours = ["22:00-02:00"]', "accounts[0].workday.hours"),
        ('[accounts.workday]\nhours = ["9-5"]', "accounts[0].workday.hours"),
        (
            '[accounts.workday]\nhours = ["09:00-17:00"]\nstart = "08:00"',
            "accounts[0].workday.hours",
        ),
        ('[accounts.workday]\nsat = ["09:00-12:00"]', "accounts[0].workday.sat"),
        ('[[accounts.blocks]]\nkind = "golf"', "accounts[0].blocks[0].kind"),
        (
            '[[accounts.blocks]]\nkind = "deals"\nmin_chunk = 600\nminutes = 700',
            "accounts[0].blocks[0].min_chunk",
        ),
        ("[accounts.planning]\nhorizon_workdays = 99", "accounts[0].planning.horizon_workdays"),
        ("[accounts.alerts]\nwebhook_url = 'https://h:x/secret'", "accounts[0].alerts.webhook_url"),
        ('[accounts.focus_time]\nauto_decline = "some"', "accounts[0].focus_time.auto_decline"),
        ("[accounts.serve]\nworkers = 2", "accounts[0].serve"),
    ],
)
def test_an_accounts_settings_are_checked_by_the_same_code(
    tmp_path: Path, account: str, key: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, f'[[accounts]]\nname = "ana"\ncalendar = "c.ics"\n{account}\n')
    message = str(caught.value)
    assert f"firstblock.toml: {key}" in message, message
    assert "\n" not in message and "secret" not in message


def test_working_hours_with_ranges_and_weekdays_of_their_own(tmp_path: Path) -> None:
    c = load(
        tmp_path,
        '[workday]\ndays = ["mon", "tue", "fri"]\nhours = ["08:30-12:00", "13:00-17:30"]\n'
        'fri = ["09:00-13:00"]\n',
    )
    assert c.workday.hours(0) == ((time(8, 30), time(12)), (time(13), time(17, 30)))
    assert c.workday.hours(4) == ((time(9), time(13)),)
    assert c.workday.bounds(0) == (time(8, 30), time(17, 30))
    assert c.workday.hours(2) == ()


def test_top_level_blocks_are_still_the_whole_policy(tmp_path: Path) -> None:
    c = load(tmp_path, '[[blocks]]\nkind = "prospecting"\nminutes = 60\n')
    assert [p.kind for p in c.blocks] == [BlockKind.PROSPECTING]


MEETING = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:m@x\r\n"
    "DTSTAMP:20261101T000000Z\r\nDTSTART:20261130T110000Z\r\nDTEND:20261130T120000Z\r\n"
    "SUMMARY:Partner sync\r\nATTENDEE:mailto:kim@partner.com\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)
NOW = "2026-11-30T09:00:00-05:00"  # Monday 09:00 New York, 15:00 Berlin: both holding


def test_two_accounts_get_their_own_plans_holds_and_allow_lists(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = home / "firstblock.toml"
    path.write_text(two(home))
    early = stamp("2026-11-30T06:00:00-05:00")
    for box in ("ana-mail", "bo-mail"):
        deliver(home / box, f"{early}.boss.host", "boss@example.com")
        deliver(home / box, f"{early}.client.host", "buyer@bigclient.com")
        deliver(home / box, f"{early}.news.host", "news@letters.com")
    for cal in ("ana.ics", "bo.ics"):  # a meeting with partner.com that ended at 07:00
        (home / cal).write_text(MEETING, newline="")
    code, out, err = run(capsys, "run", "--json", "--config", str(path), "--now", NOW)
    assert (code, err) == (0, "")
    ana, bo = json.loads(out)["accounts"]
    # partner.com is a client for ana, a colleague's company for bo.
    assert (ana["followups"]["open"], bo["followups"]["open"]) == (1, 0)
    assert (ana["timezone"], bo["timezone"]) == ("America/New_York", "Europe/Berlin")

    def local(block: dict[str, str], zone: str) -> tuple[time, time]:
        z = ZoneInfo(zone)
        start = datetime.fromisoformat(block["start"]).astimezone(z)
        return start.time(), datetime.fromisoformat(block["end"]).astimezone(z).time()

    for b in ana["blocks"]:
        s, e = local(b, "America/New_York")
        assert time(8, 30) <= s < e <= time(17, 30)
    berlin = ZoneInfo("Europe/Berlin")
    for b in bo["blocks"]:
        s, e = local(b, "Europe/Berlin")
        friday = datetime.fromisoformat(b["start"]).astimezone(berlin).weekday() == 4
        ranges = [(time(8), time(13))] if friday else [(time(8), time(12)), (time(13), time(17))]
        assert any(rs <= s < e <= re for rs, re in ranges), (b, ranges)
    tuesday = [b for b in bo["blocks"] if b["start"].startswith("2026-12-01")]
    assert (
        sum(
            (datetime.fromisoformat(b["end"]) - datetime.fromisoformat(b["start"])).seconds // 60
            for b in tuesday
            if b["kind"] == "prospecting"
        )
        == 120
    )
    # The hold: each account's own allow list, and nobody else's. bo's list replaces
    # the team's (a list is one value), so the boss waits for bo's admin block.
    assert ana["hold"]["held"] == 2  # the client and the newsletter
    assert bo["hold"]["held"] == 2  # the boss and the newsletter
    inbox = [p.name for p in (home / "ana-mail" / "new").iterdir() if "fb-alert" not in p.name]
    assert inbox == [f"{early}.boss.host"]
    assert [p.name for p in (home / "bo-mail" / "new").iterdir()] == [f"{early}.client.host"]


def test_settings_shows_each_value_and_where_it_comes_from(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = home / "firstblock.toml"
    path.write_text(two(home))
    code, out, _ = run(capsys, "settings", "--json", "--config", str(path), "--account", "bo")
    assert code == 0
    [bo] = json.loads(out)["accounts"]
    got = {e["key"]: (e["value"], e["from"]) for e in bo["settings"]}
    assert got["timezone"] == ("Europe/Berlin", f"{path} accounts[1]")
    assert got["workday.hours"] == (["08:00-12:00", "13:00-17:00"], f"{path} accounts[1]")
    assert got["workday.fri"] == (["08:00-13:00"], f"{path} accounts[1]")
    assert got["hold.allow"] == (["@bigclient.com"], f"{path} accounts[1]")
    assert got["followups.grace_minutes"] == (60, "built-in default")
    assert got["blocks.prospecting.minutes"] == (120, f"{path} accounts[1]")
    assert got["blocks.deals.minutes"] == (60, "built-in default")
    code, out, _ = run(capsys, "settings", "--json", "--config", str(path), "--account", "ana")
    [ana] = json.loads(out)["accounts"]
    got = {e["key"]: (e["value"], e["from"]) for e in ana["settings"]}
    assert got["hold.allow"] == (["boss@example.com"], f"{path} (team default)")
    assert got["workday.hours"] == (["08:30-17:30"], "built-in default")
    code, out, _ = run(capsys, "settings", "--config", str(path))
    assert code == 0 and "ana [local]" in out and "bo [local]" in out


def test_two_accounts_in_team_mode_one_from_the_file_one_from_the_store(
    home: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    postgres_url: str,
    redis_url: str,
) -> None:
    """The same two reps on PostgreSQL, run by the team's own task: ana is in the file,
    bo was added to the shared store from the command line."""
    from worker import team

    text = two(home)
    ana = text.split("[[accounts]]")[1]
    path = home / "firstblock.toml"
    path.write_text(f'state_url = "{postgres_url}"\n' + TEAM + "[[accounts]]" + ana)
    cfg = str(path)
    early = stamp("2026-11-30T06:00:00-05:00")
    for box in ("ana-mail", "bo-mail"):
        deliver(home / box, f"{early}.boss.host", "boss@example.com")
        deliver(home / box, f"{early}.client.host", "buyer@bigclient.com")
    for cal in ("ana.ics", "bo.ics"):
        (home / cal).write_text(MEETING, newline="")
    pairs = [
        f"calendar={home / 'bo.ics'}",
        f"maildir={home / 'bo-mail'}",
        "email=bo@example.com",
        "timezone=Europe/Berlin",
        'workday.hours=["08:00-12:00", "13:00-17:00"]',
        'workday.fri=["08:00-13:00"]',
        'hold.allow=["@bigclient.com"]',
        'followups.internal_domains=["example.com", "partner.com"]',
        "blocks.prospecting.minutes=120",
    ]
    assert run(capsys, "accounts", "add", "bo", *pairs, "--config", cfg) == (
        0,
        "added account bo (local) to the state store\n",
        "",
    )
    monkeypatch.setenv("FIRSTBLOCK_CONFIG", cfg)
    monkeypatch.setenv("FIRSTBLOCK_REDIS_URL", redis_url)
    monkeypatch.setattr(team, "_loaded", {})
    monkeypatch.setattr(team, "SystemClock", lambda: FixedClock(datetime.fromisoformat(NOW)))
    for name in ("ana", "bo"):
        result = team.cycle(name)
        assert result == {"account": name, "errors": []}, result
    # Each in its own hours and zone.
    for name, zone, hours in (
        ("ana", "America/New_York", [(time(8, 30), time(17, 30))]),
        ("bo", "Europe/Berlin", [(time(8), time(12)), (time(13), time(17))]),
    ):
        z = ZoneInfo(zone)
        window = Window(datetime(2026, 11, 30, tzinfo=z), datetime(2026, 12, 4, tzinfo=z), zone)
        blocks = LocalCalendar(home / f"{name}.ics").fetch(window).blocks
        assert blocks
        for b in blocks:
            s, e = b.start.astimezone(z).time(), b.end.astimezone(z).time()
            assert any(rs <= s < e <= re for rs, re in hours), (name, b)
    # Each its own allow list: the client waits for ana, not for bo.
    inbox = [p.name for p in (home / "ana-mail" / "new").iterdir() if "fb-alert" not in p.name]
    assert inbox == [f"{early}.boss.host"]
    assert [p.name for p in (home / "bo-mail" / "new").iterdir()] == [f"{early}.client.host"]
    # Each its own internal domains.
    code, out, _ = run(capsys, "gaps", "--json", "--config", cfg, "--now", NOW)
    assert code == 0
    assert [g["account"] for g in json.loads(out)["gaps"]] == ["ana"]
