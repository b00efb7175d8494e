"""A Google account end to end through the `firstblock` command, on the emulator:
connect once (real OAuth flow, real token endpoint), run, hold, release, reconnect."""

from __future__ import annotations

import json
import os
import re
import stat
import threading
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.emulators.google import GoogleEmulator
from tests.test_cli import NOW, run
from tests.worker.test_alerts import Hook, hook
from worker.models import block_id

__all__ = ["hook"]  # a fixture, imported for pytest

ME = "rep@example.com"
CLIENT_ID, CLIENT_SECRET = "client-123.apps.example", "not-a-real-secret"


@pytest.fixture
def emu() -> Iterator[GoogleEmulator]:
    emulator = GoogleEmulator(email=ME, require_auth=True).start()
    emulator.client(CLIENT_ID, CLIENT_SECRET)
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FIRSTBLOCK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FIRSTBLOCK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("FIRSTBLOCK_CONFIG", raising=False)
    monkeypatch.delenv("FIRSTBLOCK_SECRET_KEY", raising=False)
    return tmp_path


def config(home: Path, emu: GoogleEmulator, *, local: bool = False) -> str:
    path = home / "firstblock.toml"
    text = (
        'timezone = "America/New_York"\n'
        '[hold]\nallow = ["boss@example.com"]\n'
        f'[[accounts]]\nname = "work"\nprovider = "google"\napi_root = "{emu.url}"\n'
    )
    if local:
        text += f'[[accounts]]\nname = "laptop"\ncalendar = "{home / "cal.ics"}"\n'
    path.write_text(text)
    return str(path)


def secrets_file(home: Path, emu: GoogleEmulator) -> str:
    path = home / "client_secret.json"
    installed = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "auth_uri": emu.auth_uri,
        "token_uri": emu.token_uri,
        "redirect_uris": ["http://localhost"],
    }
    path.write_text(json.dumps({"installed": installed}))
    return str(path)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def browser(capsys: pytest.CaptureFixture[str]) -> object:
    """Stands in for the user: opens the printed address, consents, pastes the result."""

    def answer(prompt: str) -> str:
        printed = capsys.readouterr().out
        [url] = re.findall(r"http://127\.0\.0\.1:\d+/o/oauth2/auth\?\S+", printed)
        opener = urllib.request.build_opener(NoRedirect)
        try:
            opener.open(url)
        except urllib.error.HTTPError as redirect:  # the 302 to the loopback address
            return str(redirect.headers["Location"])
        raise AssertionError("the consent page did not redirect")

    return answer


def connect(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    cfg: str,
    home: Path,
    emu: GoogleEmulator,
) -> tuple[int, str, str]:
    monkeypatch.setattr("builtins.input", browser(capsys))
    argv = ["connect", "google", "--account", "work", "--config", cfg]
    return run(capsys, *argv, "--client-secrets", secrets_file(home, emu), "--no-browser")


def test_connect_once_then_run_with_silent_refresh(
    home: Path,
    emu: GoogleEmulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = config(home, emu)
    code, out, err = connect(capsys, monkeypatch, cfg, home, emu)
    assert (code, err) == (0, "")
    assert f"connected {ME} as account work" in out
    [grant] = emu.grants
    assert sorted(grant["scopes"]) == sorted(
        [
            "https://www.googleapis.com/auth/calendar.events.owned",
            "https://www.googleapis.com/auth/calendar.settings.readonly",
            "https://www.googleapis.com/auth/gmail.modify",
            "https://www.googleapis.com/auth/gmail.settings.basic",
        ]
    )
    stored = home / "state" / "credentials" / "google-work.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o700
    assert json.loads(stored.read_text())["refresh_token"] == grant["refresh_token"]

    emu.expire_access_tokens()  # the next run must refresh on its own
    code, out, err = run(capsys, "run", "--config", cfg, "--now", NOW, "--json")
    assert (code, err) == (0, "")
    [account] = json.loads(out)["accounts"]
    assert account["timezone"] == "America/New_York"
    assert {c["kind"] for c in account["changes"]} == {"prospecting", "deals", "prep", "admin"}
    owned = [e for e in emu.events() if e.get("extendedProperties")]
    assert len(owned) == len(account["changes"])
    for secret in (grant["refresh_token"], CLIENT_SECRET):
        assert secret not in out + err

    code, out, _ = run(capsys, "status", "--config", cfg, "--now", NOW, "--json")
    [row] = json.loads(out)["accounts"]
    assert (code, row["health"], row["email"]) == (0, "ok", ME)
    # Prospecting declines colleagues only (the default): Focus Time declines nobody.
    assert row["notes"] == [
        "blocks: Focus Time events (auto-decline off: a client is never declined)"
    ]


def test_a_revoked_grant_says_reconnect_and_spares_the_other_accounts(
    home: Path,
    emu: GoogleEmulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = config(home, emu, local=True)
    assert connect(capsys, monkeypatch, cfg, home, emu)[0] == 0
    emu.revoke_all()
    emu.expire_access_tokens()
    code, out, err = run(capsys, "run", "--config", cfg, "--now", NOW)
    assert code == 4
    assert "account work: reconnect this account" in err
    assert err.count("\n") == 1  # one line, no traceback
    assert (home / "cal.ics").read_text().count("BEGIN:VEVENT") > 0  # the other ran
    code, out, _ = run(capsys, "status", "--config", cfg, "--now", NOW, "--json")
    rows = {r["account"]: r for r in json.loads(out)["accounts"]}
    assert code == 4
    assert "reconnect" in rows["work"]["error"] and rows["laptop"]["health"] == "ok"


def test_an_account_never_connected_says_how(
    home: Path, emu: GoogleEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "run", "--config", config(home, emu), "--now", NOW)
    assert code == 4
    assert "firstblock connect google --account work" in err


def test_credentials_others_can_read_are_refused(
    home: Path,
    emu: GoogleEmulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = config(home, emu)
    assert connect(capsys, monkeypatch, cfg, home, emu)[0] == 0
    stored = home / "state" / "credentials" / "google-work.json"
    stored.chmod(0o644)
    code, _, err = run(capsys, "run", "--config", cfg, "--now", NOW)
    assert code == 4
    assert f"chmod 600 {stored}" in err


def test_credentials_can_be_encrypted_at_rest(
    home: Path,
    emu: GoogleEmulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FIRSTBLOCK_SECRET_KEY", "correct horse battery staple, but longer")
    cfg = config(home, emu)
    assert connect(capsys, monkeypatch, cfg, home, emu)[0] == 0
    stored = (home / "state" / "credentials" / "google-work.json").read_bytes()
    assert emu.grants[0]["refresh_token"].encode() not in stored
    assert run(capsys, "run", "--config", cfg, "--now", NOW)[0] == 0
    monkeypatch.delenv("FIRSTBLOCK_SECRET_KEY")
    code, _, err = run(capsys, "run", "--config", cfg, "--now", NOW)
    assert code == 4 and "encrypted; set FIRSTBLOCK_SECRET_KEY" in err


def service_account_key(home: Path, emu: GoogleEmulator) -> Path:
    """A service account with domain-wide delegation, known to the emulator; its key file."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    robot = "firstblock@project.iam.gserviceaccount.com"
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    emu.register_service_account(robot, public)
    key_file = home / "key.json"
    key_file.write_text(
        json.dumps(
            {
                "type": "service_account",
                "client_email": robot,
                "private_key": pem,
                "private_key_id": "k1",
                "client_id": "1",
                "token_uri": emu.token_uri,
            }
        )
    )
    return key_file


def test_a_workspace_service_account_connects_without_a_browser(
    home: Path, emu: GoogleEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = service_account_key(home, emu)
    cfg = config(home, emu)
    argv = ["connect", "google", "--account", "work", "--config", cfg]
    code, out, _ = run(capsys, *argv, "--service-account", str(key_file), "--subject", ME)
    assert code == 0 and f"connected {ME}" in out
    assert run(capsys, "run", "--config", cfg, "--now", NOW)[0] == 0
    assert emu.event(block_id("2026-11-30/prospecting/0")) is not None
    code, _, err = run(
        capsys, *argv, "--service-account", str(key_file), "--subject", "x@other.org"
    )
    # Google refuses to act for a user outside the delegation.
    assert code == 4 and "account work: reconnect" in err


def test_a_service_account_keeps_its_token_until_it_expires(
    home: Path, emu: GoogleEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """As a consent grant does: a run mints a new access token (a JWT-bearer request)
    only once the stored one has expired."""
    from providers.credentials import SecretStore

    def minted() -> int:
        return sum(1 for r in emu.requests if r.path == "/token" and b"jwt-bearer" in r.body)

    cfg = config(home, emu)
    argv = ["connect", "google", "--account", "work", "--config", cfg, "--subject", ME]
    assert run(capsys, *argv, "--service-account", str(service_account_key(home, emu)))[0] == 0
    assert minted() == 1  # connect's own, kept for the runs
    emu.reset_log()
    for _ in range(2):
        assert run(capsys, "run", "--config", cfg, "--now", NOW)[0] == 0
    assert minted() == 0
    # An hour later: the token has expired, at Google and in the stored document.
    emu.expire_access_tokens()
    store = SecretStore(home / "state" / "credentials")
    doc = store.load("google-work")
    assert doc is not None and doc["token"] and doc["expiry"]
    store.save("google-work", {**doc, "expiry": "2026-01-01T00:00:00"})
    emu.reset_log()
    assert run(capsys, "run", "--config", cfg, "--now", NOW)[0] == 0
    assert minted() == 1
    emu.reset_log()
    assert run(capsys, "run", "--config", cfg, "--now", NOW)[0] == 0
    assert minted() == 0


def test_a_changed_time_zone_is_planned_in_by_the_very_next_run(
    home: Path,
    emu: GoogleEmulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The user moves from New York to Los Angeles in Calendar's settings: the next run
    plans Los Angeles' workday, and the run after has nothing to correct."""
    from datetime import datetime, time

    cfg = config(home, emu)
    Path(cfg).write_text(Path(cfg).read_text().replace('timezone = "America/New_York"\n', ""))
    assert connect(capsys, monkeypatch, cfg, home, emu)[0] == 0

    def run_json() -> dict[str, object]:
        code, out, _ = run(capsys, "run", "--config", cfg, "--now", NOW, "--json")
        assert code == 0
        [account] = json.loads(out)["accounts"]
        return dict(account)

    assert run_json()["timezone"] == "America/New_York"
    emu.timezone = "America/Los_Angeles"
    moved = run_json()
    assert moved["timezone"] == "America/Los_Angeles"
    assert isinstance(moved["blocks"], list) and moved["blocks"]
    for b in moved["blocks"]:
        start, end = datetime.fromisoformat(b["start"]), datetime.fromisoformat(b["end"])
        assert start.utcoffset() == end.utcoffset() == -timedelta(hours=8)
        assert time(8, 30) <= start.time() and end.time() <= time(17, 30)
    after = run_json()
    assert (after["timezone"], after["changes"]) == ("America/Los_Angeles", [])


def test_the_hold_and_release_in_gmail(
    home: Path,
    emu: GoogleEmulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from datetime import datetime

    cfg = config(home, emu)
    assert connect(capsys, monkeypatch, cfg, home, emu)[0] == 0
    assert run(capsys, "run", "--config", cfg, "--now", NOW)[0] == 0  # before the workday
    at_nine = datetime.fromisoformat("2026-11-30T09:00:00-05:00")
    vendor = emu.arrive(sender="sales@vendor.com", received=at_nine)
    boss = emu.arrive(sender="boss@example.com", received=at_nine)
    code, out, _ = run(
        capsys, "run", "--config", cfg, "--now", "2026-11-30T09:05:00-05:00", "--json"
    )
    hold = json.loads(out)["accounts"][0]["hold"]
    assert (code, hold["state"], hold["held"]) == (0, "holding", 1)
    assert "INBOX" not in emu.message(vendor)["labelIds"]
    assert "INBOX" in emu.message(boss)["labelIds"]
    [rule] = emu.filters()
    late = emu.arrive(sender="news@vendor.com", received=at_nine)  # the filter holds it
    assert "INBOX" not in emu.message(late)["labelIds"]
    code, out, _ = run(capsys, "release", "--config", cfg, "--json")
    assert code == 0 and json.loads(out)["accounts"] == [{"account": "work", "returned": 2}]
    assert all("INBOX" in emu.message(m)["labelIds"] for m in (vendor, boss, late))
    assert emu.filters() == []
    assert rule["criteria"]["query"].startswith(f"-from:{ME}")
    assert os.path.exists(home / "state" / "google" / "work.json")


def test_connect_through_the_browser_on_a_loopback_redirect(
    home: Path,
    emu: GoogleEmulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened: list[str] = []

    class Browser:
        def open(self, url: str, new: int = 0, autoraise: bool = True) -> bool:
            opened.append(url)
            # The consent page redirects to firstblock's loopback server, which only
            # starts answering once this returns: follow it from another thread.
            threading.Thread(target=urllib.request.urlopen, args=(url,), daemon=True).start()
            return True

    monkeypatch.setattr("webbrowser.get", lambda using=None: Browser())
    cfg = config(home, emu)
    argv = ["connect", "google", "--account", "work", "--config", cfg]
    code, out, _ = run(capsys, *argv, "--client-secrets", secrets_file(home, emu))
    assert code == 0 and f"connected {ME}" in out
    [url] = opened
    assert url.startswith(emu.auth_uri) and "code_challenge=" in url and "prompt=consent" in url
    assert (home / "state" / "credentials" / "google-work.json").exists()


def test_a_revoked_grant_is_told_once_by_the_webhook_and_again_after_a_repair(
    home: Path,
    emu: GoogleEmulator,
    hook: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = home / "firstblock.toml"
    cfg.write_text(
        f'[alerts]\nwebhook_url = "{hook}"\n'
        f'[[accounts]]\nname = "work"\nprovider = "google"\napi_root = "{emu.url}"\n'
    )
    assert connect(capsys, monkeypatch, str(cfg), home, emu)[0] == 0
    emu.revoke_all()
    emu.expire_access_tokens()
    for _ in range(3):
        assert run(capsys, "run", "--config", str(cfg), "--now", NOW)[0] == 4
    notices = [json.loads(b)["text"] for b in Hook.bodies]
    assert len(notices) == 1 and "reconnect account work" in notices[0]
    assert "secret-token" not in "".join(notices)
    assert connect(capsys, monkeypatch, str(cfg), home, emu)[0] == 0  # repaired
    assert run(capsys, "run", "--config", str(cfg), "--now", NOW)[0] == 0
    emu.revoke_all()
    emu.expire_access_tokens()
    assert run(capsys, "run", "--config", str(cfg), "--now", NOW)[0] == 4
    assert len(Hook.bodies) == 2  # a new revocation is a new notice


def test_connect_adds_a_new_account_to_the_state_store_and_remove_takes_it_away(
    home: Path,
    emu: GoogleEmulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from datetime import datetime

    path = home / "firstblock.toml"
    path.write_text(
        'timezone = "America/New_York"\n'
        f'[[accounts]]\nname = "laptop"\ncalendar = "{home / "cal.ics"}"\n'
    )
    cfg = str(path)
    monkeypatch.setattr("builtins.input", browser(capsys))
    code, out, err = run(
        capsys,
        *("connect", "google", "--account", "rep", "--config", cfg, "--no-browser"),
        *("--client-secrets", secrets_file(home, emu), "--api-root", emu.url),
    )
    assert (code, err) == (0, "")
    assert "added account rep to the state store" in out
    code, out, _ = run(capsys, "accounts", "list", "--json", "--config", cfg)
    assert json.loads(out)["accounts"] == [
        {"account": "laptop", "provider": "local", "email": None, "from": f"{cfg} accounts[0]"},
        {"account": "rep", "provider": "google", "email": ME, "from": "state store"},
    ]
    code, out, _ = run(capsys, "run", "--config", cfg, "--now", NOW, "--json")
    assert code == 0 and [a["account"] for a in json.loads(out)["accounts"]] == ["laptop", "rep"]
    blocks = [e for e in emu.events() if e.get("extendedProperties")]
    assert blocks and all(e["status"] != "cancelled" for e in blocks)
    held = emu.arrive(
        sender="news@vendor.com", received=datetime.fromisoformat("2026-11-30T09:00:00-05:00")
    )
    assert run(capsys, "run", "--config", cfg, "--now", "2026-11-30T09:05:00-05:00")[0] == 0
    assert "INBOX" not in emu.message(held)["labelIds"]

    argv = ("accounts", "remove", "rep", "--remove-blocks", "--config", cfg)
    code, out, err = run(capsys, *argv, "--now", "2026-11-30T09:10:00-05:00")
    assert (code, err) == (0, "")
    assert "1 held message(s) returned" in out
    assert "INBOX" in emu.message(held)["labelIds"] and emu.filters() == []
    future = [
        e
        for e in emu.events()
        if e.get("extendedProperties") and e["start"]["dateTime"] > "2026-11-30T14:10"
    ]
    assert future and all(e["status"] == "cancelled" for e in future)
    assert not (home / "state" / "credentials" / "google-rep.json").exists()
    assert not (home / "state" / "google" / "rep.json").exists()
    code, out, _ = run(capsys, "accounts", "list", "--json", "--config", cfg)
    assert [a["account"] for a in json.loads(out)["accounts"]] == ["laptop"]
    code, out, _ = run(capsys, "status", "--config", cfg, "--now", NOW, "--json")
    assert [r["account"] for r in json.loads(out)["accounts"]] == ["laptop"]


def test_plan_status_and_gaps_write_nothing_to_google_or_the_state(
    home: Path,
    emu: GoogleEmulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from datetime import datetime

    from tests.test_read_only import snapshot

    cfg = config(home, emu)
    assert connect(capsys, monkeypatch, cfg, home, emu)[0] == 0
    assert run(capsys, "run", "--config", cfg, "--now", NOW)[0] == 0
    emu.arrive(sender="news@vendor.com", received=datetime.fromisoformat(NOW))
    emu.expire_access_tokens()  # a dry run refreshes, and must not write the token back
    before = snapshot(home / "state")
    seen = len(emu.requests)
    for argv in (["plan"], ["status"], ["gaps"]):
        code, _, err = run(capsys, *argv, "--config", cfg, "--now", "2026-11-30T09:05:00-05:00")
        assert (code, err) == (0, ""), argv
    writes = [
        (r.method, r.path)
        for r in emu.requests[seen:]
        if r.method != "GET" and "token" not in r.path and not r.path.startswith("/batch")
    ]
    batches = [r for r in emu.requests[seen:] if r.path.startswith("/batch")]
    assert writes == [] and batches == []
    assert snapshot(home / "state") == before
