"""Full cycles on both emulators with every logger at debug level: no token, secret
or message body in any log line, nor in `status --json`."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import pytest

from tests.emulators.google import GoogleEmulator
from tests.emulators.graph import GraphEmulator
from tests.test_cli import run
from tests.test_cli_google import CLIENT_SECRET
from tests.test_cli_google import config as google_config
from tests.test_cli_google import connect as connect_google
from tests.test_cli_google import emu as google_emu  # noqa: F401 - a fixture
from tests.test_cli_google import home as google_home  # noqa: F401 - a fixture
from tests.test_cli_outlook import CLIENT_ID, user_at_a_browser
from worker import logs

BODY = "BODY-MARKER-7f3a: the quarterly numbers are attached"
NINE = datetime.fromisoformat("2026-11-30T09:00:00-05:00")


def debug_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every command at the product's debug level, and every client library's logger at
    debug too: the worker's redaction must hold even for what the libraries write."""
    real = logs.setup

    def setup(fmt: str = "human", level: str = "info") -> None:
        real(fmt, "debug")
        for name in ("googleapiclient", "google", "urllib3", "httplib2", "oauthlib"):
            logging.getLogger(name).setLevel(logging.DEBUG)
        for name in ("requests_oauthlib", "msal", "requests", "filelock"):
            logging.getLogger(name).setLevel(logging.DEBUG)

    monkeypatch.setattr(logs, "setup", setup)


def test_google_cycles_at_debug_level_leak_nothing(
    google_home: Path,  # noqa: F811
    google_emu: GoogleEmulator,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    debug_everything(monkeypatch)
    cfg = google_config(google_home, google_emu)
    connected = connect_google(capsys, monkeypatch, cfg, google_home, google_emu)
    assert connected[0] == 0
    google_emu.arrive(sender="cfo@vendor.com", received=NINE, body=BODY, subject="Numbers")
    google_emu.expire_access_tokens()  # a refresh happens under the microscope
    outputs = [connected]
    for now in ("2026-11-30T07:00:00-05:00", "2026-11-30T09:05:00-05:00"):
        outputs.append(run(capsys, "run", "--config", cfg, "--now", now, "--json"))
    outputs.append(
        run(capsys, "status", "--config", cfg, "--now", "2026-11-30T09:10:00-05:00", "--json")
    )
    assert all(code == 0 for code, _, _ in outputs)
    seen = "".join(out + err for _, out, err in outputs)
    [grant] = google_emu.grants
    secrets = [grant["refresh_token"], CLIENT_SECRET, "BODY-MARKER-7f3a"]
    secrets += google_emu.access_tokens_issued()
    assert "URL being requested" in seen  # the libraries did log, at debug level
    for secret in secrets:
        assert secret not in seen


def test_outlook_cycles_at_debug_level_leak_nothing(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emu = GraphEmulator().start()
    try:
        emu.app(CLIENT_ID)
        emu.user("rep@contoso.com", timezone="Eastern Standard Time")
        for key, value in {
            "FIRSTBLOCK_DATA_DIR": tmp_path / "data",
            "FIRSTBLOCK_STATE_DIR": tmp_path / "state",
            "XDG_CONFIG_HOME": tmp_path / "config",
            "REQUESTS_CA_BUNDLE": emu.ca_file,
        }.items():
            monkeypatch.setenv(key, str(value))
        monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
        debug_everything(monkeypatch)
        cfg = tmp_path / "firstblock.toml"
        cfg.write_text(
            f'[[accounts]]\nname = "work"\nprovider = "outlook"\napi_root = "{emu.url}"\n'
            f'login_root = "{emu.url}"\n'
        )
        with monkeypatch.context() as patch:
            user_at_a_browser(emu, patch)
            argv = ["connect", "outlook", "--account", "work", "--config", str(cfg)]
            connected = run(capsys, *argv, "--client-id", CLIENT_ID)
            assert connected[0] == 0
        emu.arrive(sender="cfo@vendor.com", received=NINE, body=BODY, subject="Numbers")
        emu.expire_access_tokens()
        outputs = [
            connected,
            run(capsys, "run", "--config", str(cfg), "--now", "2026-11-30T09:05:00-05:00"),
            run(capsys, "status", "--config", str(cfg), "--json"),
        ]
        assert all(code == 0 for code, _, _ in outputs)
        seen = "".join(out + err for _, out, err in outputs)
        [grant] = emu.grants
        assert "DEBUG" in seen  # the libraries did log, at debug level
        for secret in (grant["refresh_token"], "BODY-MARKER-7f3a"):
            assert secret not in seen
        for token in emu.access_tokens_issued():
            assert token not in seen
    finally:
        emu.stop()
