"""An Outlook account end to end through the `firstblock` command, on the Graph
emulator: connect once (real MSAL device-code flow over TLS), run, hold, release,
reconnect, app-only access."""

from __future__ import annotations

import builtins
import json
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.emulators.graph import GraphEmulator
from tests.test_cli import NOW, run

ME = "rep@contoso.com"
CLIENT_ID = "6731de76-14a6-49ae-97bc-6eba6914391e"


@pytest.fixture
def emu() -> Iterator[GraphEmulator]:
    emulator = GraphEmulator().start()
    emulator.app(CLIENT_ID)
    emulator.user(ME, timezone="Pacific Standard Time")
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
    assert code == 3 and "--client-secrets is not a outlook option" in err
