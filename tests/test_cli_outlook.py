"""An Outlook account end to end through the `firstblock` command, on the Graph
emulator: connect once (real MSAL device-code flow over TLS), run, hold, release,
reconnect, app-only access."""

from __future__ import annotations

import builtins
import json
import re
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import pytest

from tests.emulators.graph import GraphEmulator
from tests.test_cli import NOW, run

ME = "rep@contoso.com"
CLIENT_ID = "6731de76-14a6-49ae-97bc-6eba6914391e"


@pytest.fixture
def emu(request: pytest.FixtureRequest) -> Iterator[GraphEmulator]:
    """The mailbox ME; a test may give its mailboxSettings (timeZone, workingHours)."""
    timezone, hours = getattr(request, "param", ("Pacific Standard Time", None))
    emulator = GraphEmulator().start()
    emulator.app(CLIENT_ID)
    emulator.user(ME, timezone=timezone, working_hours=hours)
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emu: GraphEmulator) -> Path:
    monkeypatch.setenv("FIRSTBLOCK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FIRSTBLOCK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("FIRSTBLOCK_CONFIG", raising=False)
    monkeypatch.delenv("FIRSTBLOCK_SECRET_KEY", raising=False)
    # The emulator's own CA, as a company proxy's would be configured.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", emu.ca_file)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    return tmp_path


def config(home: Path, emu: GraphEmulator, *, local: bool = False) -> str:
    path = home / "firstblock.toml"
    text = (
        '[hold]\nallow = ["boss@contoso.com"]\n'
        f'[[accounts]]\nname = "work"\nprovider = "outlook"\napi_root = "{emu.url}"\n'
        f'login_root = "{emu.url}"\n'
    )
    if local:
        text += f'[[accounts]]\nname = "laptop"\ncalendar = "{home / "cal.ics"}"\n'
    path.write_text(text)
    return str(path)


def user_at_a_browser(emu: GraphEmulator, patch: pytest.MonkeyPatch) -> None:
    """Stands in for the user: reads the printed code and enters it on another device."""
    real_print = builtins.print

    def print_and_sign_in(*args: object, **kwargs: object) -> None:
        real_print(*args, **kwargs)  # type: ignore[call-overload]
        found = re.search(r"enter the code (\S+)", " ".join(map(str, args)))
        if found:
            emu.approve(found.group(1), ME)

    patch.setattr(builtins, "print", print_and_sign_in)


def connect(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    cfg: str,
    emu: GraphEmulator,
) -> tuple[int, str, str]:
    argv = ["connect", "outlook", "--account", "work", "--config", cfg, "--client-id", CLIENT_ID]
    with monkeypatch.context() as patch:
        user_at_a_browser(emu, patch)
        return run(capsys, *argv)


def test_connect_once_then_run_hold_and_release(
    home: Path,
    emu: GraphEmulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = config(home, emu)
    code, out, err = connect(capsys, monkeypatch, cfg, emu)
    assert (code, err) == (0, "")
    assert "enter the code" in out and f"connected {ME} as account work" in out
    stored = home / "state" / "credentials" / "outlook-work.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600

    emu.expire_access_tokens()  # the next run refreshes on its own
    code, out, err = run(
        capsys, "run", "--config", cfg, "--now", "2026-11-30T07:00:00-08:00", "--json"
    )
    assert (code, err) == (0, "")
    [account] = json.loads(out)["accounts"]
    assert account["timezone"] == "America/Los_Angeles"  # from "Pacific Standard Time"
    assert {c["kind"] for c in account["changes"]} == {"prospecting", "deals", "prep", "admin"}
    [grant] = emu.grants
    assert grant["refresh_token"] not in out + err

    from datetime import datetime

    nine = datetime.fromisoformat("2026-11-30T09:00:00-08:00")
    vendor = emu.arrive(sender="sales@vendor.com", received=nine)
    boss = emu.arrive(sender="boss@contoso.com", received=nine)
    code, out, _ = run(
        capsys, "run", "--config", cfg, "--now", "2026-11-30T09:05:00-08:00", "--json"
    )
    hold = json.loads(out)["accounts"][0]["hold"]
    assert (code, hold["state"], hold["held"]) == (0, "holding", 1)
    assert emu.message(vendor)["folder"] == "Held by firstblock"
    assert emu.message(boss)["folder"] == "inbox"
    late = emu.arrive(sender="news@vendor.com", received=nine)  # the rule holds it
    assert emu.message(late)["folder"] == "Held by firstblock"
    code, out, _ = run(capsys, "release", "--config", cfg, "--json")
    assert code == 0 and json.loads(out)["accounts"] == [{"account": "work", "returned": 2}]
    assert {emu.message(m)["folder"] for m in (vendor, boss, late)} == {"inbox"}
    assert [r["isEnabled"] for r in emu.rules()] == [False]

    code, out, _ = run(capsys, "status", "--config", cfg, "--now", NOW, "--json")
    [row] = json.loads(out)["accounts"]
    assert (code, row["health"], row["email"]) == (0, "ok", ME)
    assert "Outlook has no Focus Time" in row["notes"][0]


def test_a_revoked_grant_says_reconnect_and_spares_the_other_accounts(
    home: Path,
    emu: GraphEmulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = config(home, emu, local=True)
    assert connect(capsys, monkeypatch, cfg, emu)[0] == 0
    emu.revoke(ME)
    emu.expire_access_tokens()
    code, _, err = run(capsys, "run", "--config", cfg, "--now", NOW)
    assert code == 4
    assert "account work: reconnect this account" in err
    assert err.count("\n") == 1
    assert (home / "cal.ics").read_text().count("BEGIN:VEVENT") > 0


def test_app_only_access_for_one_mailbox(
    home: Path, emu: GraphEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    emu.app("app-only-client", secret="s3cret-value-from-the-portal")
    secret = home / "secret.txt"
    secret.write_text("s3cret-value-from-the-portal\n")
    cfg = config(home, emu)
    argv = ["connect", "outlook", "--account", "work", "--config", cfg]
    code, out, err = run(
        capsys,
        *argv,
        "--client-id",
        "app-only-client",
        "--tenant",
        emu.tenant_id,
        "--app-only",
        "--user",
        ME,
        "--client-secret-file",
        str(secret),
    )
    assert (code, err) == (0, "")
    assert f"connected {ME}" in out
    code, out, err = run(capsys, "run", "--config", cfg, "--now", NOW, "--json")
    assert (code, err) == (0, "")
    assert json.loads(out)["accounts"][0]["changes"]
    assert "s3cret" not in out + err
    emu.restrict_app("app-only-client", ["someone.else@contoso.com"])
    emu.expire_access_tokens()
    code, _, err = run(capsys, "run", "--config", cfg, "--now", NOW)
    assert code == 4 and "ErrorAccessDenied" in err and err.count("\n") == 1


def test_google_flags_are_refused_for_outlook(
    home: Path, emu: GraphEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["connect", "outlook", "--account", "work", "--config", config(home, emu)]
    code, _, err = run(capsys, *argv, "--client-secrets", "x.json")
    assert code == 3 and "connect outlook: --client-secrets is a google option" in err


# -- the mailbox's zone and working hours


CUSTOM_0320 = {  # UTC+03:20, no daylight time: no IANA zone has it
    "@odata.type": "#microsoft.graph.customTimeZone",
    "name": "Customized Time Zone",
    "bias": -200,  # Windows' sign: UTC = local time + bias
    "standardOffset": {"time": "00:00:00.0000000", "dayOccurrence": 0, "month": 0, "year": 0},
    "daylightOffset": {"daylightBias": 0, "time": "00:00:00.0000000", "dayOccurrence": 0,
                       "month": 0, "year": 0},
}  # fmt: skip
CUSTOM_DST = {  # Graph's own example: UTC+03:20, and UTC+05:00 from October to May
    **CUSTOM_0320,
    "standardOffset": {"time": "02:00:00.0000000", "dayOccurrence": 4, "dayOfWeek": "sunday",
                       "month": 5, "year": 0},
    "daylightOffset": {"daylightBias": -100, "time": "02:00:00.0000000", "dayOccurrence": 2,
                       "dayOfWeek": "sunday", "month": 10, "year": 0},
}  # fmt: skip
NINE_TO_FIVE = {"startTime": "09:00:00.0000000", "endTime": "17:00:00.0000000"}


def blocks_json(capsys: pytest.CaptureFixture[str], cfg: str, *more: str) -> dict[str, Any]:
    code, out, err = run(capsys, "run", "--config", cfg, "--now", "2026-11-30T00:00:00Z", *more)
    assert (code, err) == (0, "")
    [account] = json.loads(out)["accounts"]
    return dict(account)


@pytest.mark.parametrize(
    "emu", [("UTC", {"timeZone": {"name": "Pacific Standard Time"}})], indirect=True
)
def test_working_hours_in_another_zone_are_the_users_real_day(
    home: Path,
    emu: GraphEmulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The mailbox is in UTC, its working hours 08:00-17:00 Pacific: blocks go into the
    Pacific working day, not 08:30-17:30 UTC (from 00:30 Pacific)."""
    cfg = config(home, emu)
    assert connect(capsys, monkeypatch, cfg, emu)[0] == 0
    account = blocks_json(capsys, cfg, "--json")
    assert account["timezone"] == "America/Los_Angeles" and account["problems"] == []
    starts = sorted(datetime.fromisoformat(b["start"]) for b in account["blocks"])
    ends = [datetime.fromisoformat(b["end"]) for b in account["blocks"]]
    assert starts[0] == datetime.fromisoformat("2026-11-30T08:00:00-08:00")
    assert all(time(8) <= s.time() for s in starts) and all(e.time() <= time(17) for e in ends)
    code, out, _ = run(capsys, "status", "--config", cfg, "--now", NOW, "--json")
    [row] = json.loads(out)["accounts"]
    assert code == 0 and len(row["notes"]) == 1  # how blocks are protected; no fallback
    # A zone in the config wins: hours given in another zone fall back, and say so.
    Path(cfg).write_text('timezone = "Europe/London"\n' + Path(cfg).read_text())
    [warning] = blocks_json(capsys, cfg, "--json")["problems"]
    assert "America/Los_Angeles" in warning and "Europe/London" in warning
    code, out, _ = run(capsys, "run", "--config", cfg, "--now", NOW)
    assert code == 0 and f"warning: {warning}" in out
    code, out, _ = run(capsys, "status", "--config", cfg, "--now", NOW)
    assert f"  {warning}" in out


@pytest.mark.parametrize(
    "emu", [("Nowhere Standard Time", {"timeZone": {"name": "Nowhere Standard Time"}})],
    indirect=True,
)  # fmt: skip
def test_hours_and_zone_that_fall_back_to_defaults_say_so(
    home: Path,
    emu: GraphEmulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = config(home, emu)
    assert connect(capsys, monkeypatch, cfg, emu)[0] == 0
    problems = blocks_json(capsys, cfg, "--json")["problems"]
    hours, zone = problems
    assert "working hours" in hours and "'Nowhere Standard Time'" in hours
    assert "default workday" in hours and "[workday]" in hours
    assert "time zone 'Nowhere Standard Time'" in zone and "`timezone`" in zone
    code, out, _ = run(capsys, "plan", "--config", cfg, "--now", NOW, "--json")
    assert json.loads(out)["accounts"][0]["problems"] == problems
    code, out, _ = run(capsys, "run", "--config", cfg, "--now", NOW)
    assert code == 0 and f"warning: {hours}" in out and f"warning: {zone}" in out
    code, out, _ = run(capsys, "status", "--config", cfg, "--now", NOW, "--json")
    assert json.loads(out)["accounts"][0]["notes"][1:] == problems
    code, out, _ = run(capsys, "status", "--config", cfg, "--now", NOW)
    assert f"  {hours}" in out and f"  {zone}" in out
    # The config's zone and workday: nothing falls back, nothing is said.
    Path(cfg).write_text(
        'timezone = "Europe/London"\n[workday]\nstart = "09:00"\nend = "17:00"\n'
        + Path(cfg).read_text()
    )
    assert blocks_json(capsys, cfg, "--json")["problems"] == []


@pytest.mark.parametrize(
    ("emu", "nine"),
    [
        (("customTimeZone", {**NINE_TO_FIVE, "timeZone": CUSTOM_0320}), "05:40"),
        (("Customized Time Zone", {**NINE_TO_FIVE, "timeZone": CUSTOM_DST}), "04:00"),
    ],
    indirect=["emu"],
)
def test_a_custom_time_zone_is_planned_in(
    home: Path,
    emu: GraphEmulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    nine: str,
) -> None:
    """A custom zone (UTC+03:20; the second one in daylight time on 30 November, at
    UTC+05:00) is planned in, not in this machine's zone."""
    cfg = config(home, emu)
    assert connect(capsys, monkeypatch, cfg, emu)[0] == 0
    account = blocks_json(capsys, cfg, "--json")
    assert account["timezone"].startswith("<+0320>-03:20") and account["problems"] == []
    first = min(datetime.fromisoformat(b["start"]) for b in account["blocks"])
    assert first.astimezone(UTC) == datetime.fromisoformat(f"2026-11-30T{nine}:00+00:00")
    assert first.time() == time(9)
    code, out, _ = run(capsys, "run", "--config", cfg, "--now", "2026-11-30T00:00:00Z")
    assert code == 0 and "warning" not in out and "no changes" in out
    code, out, _ = run(capsys, "status", "--config", cfg, "--now", NOW, "--json")
    assert "custom zone" in json.loads(out)["accounts"][0]["notes"][1]


@pytest.mark.parametrize(
    "emu", [("Customized Time Zone", {"timeZone": {**CUSTOM_0320, "bias": None}})], indirect=True
)
def test_a_custom_zone_that_cannot_be_built_falls_back_and_says_so(
    home: Path,
    emu: GraphEmulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = config(home, emu)
    assert connect(capsys, monkeypatch, cfg, emu)[0] == 0
    hours, zone = blocks_json(capsys, cfg, "--json")["problems"]
    assert "custom definition is unusable" in hours
    assert "'Customized Time Zone'" in zone and "machine's time zone" in zone


def test_plan_status_and_gaps_write_nothing_to_graph_or_the_state(
    home: Path,
    emu: GraphEmulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.test_read_only import snapshot

    cfg = config(home, emu)
    assert connect(capsys, monkeypatch, cfg, emu)[0] == 0
    now = "2026-11-30T07:00:00-08:00"
    assert run(capsys, "run", "--config", cfg, "--now", now)[0] == 0
    emu.expire_access_tokens()  # a dry run refreshes, and must not write the cache back
    before = snapshot(home / "state")
    seen = len(emu.requests)
    for argv in (["plan"], ["status"], ["gaps"]):
        code, _, err = run(capsys, *argv, "--config", cfg, "--now", "2026-11-30T09:05:00-08:00")
        assert (code, err) == (0, ""), argv
    writes = [
        (r.method, r.path)
        for r in emu.requests[seen:]
        if r.method not in ("GET",) and r.path.startswith("/v1.0/") and "$batch" not in r.path
    ]
    assert writes == []
    assert snapshot(home / "state") == before
