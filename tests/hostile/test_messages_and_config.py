"""What reaches the terminal: one bounded, escaped line per error, exit codes by
kind, no secret, and config values that would break files or leak refused early."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import filelock
import pytest

from providers.errors import TransientError
from tests.hostile.conftest import NOW, run, write_config
from worker.models import Alert
from worker.notify import Webhook


def one_line(err: str, limit: int = 1200) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err[:2000]
    assert "\x00" not in err and "\x1b" not in err
    assert len(err) <= limit
    return lines[0]


def broken(home: Path, data: bytes) -> Path:
    (home / "bad.ics").write_bytes(data)
    return write_config(home, f'[[accounts]]\nname = "work"\ncalendar = "{home / "bad.ics"}"\n')


def test_a_file_error_quotes_a_short_escaped_excerpt_only(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = broken(home, b"\x1b[31mRED\x00" + b"A" * 1_000_000 + b"\n")
    code, _, err = run(capsys, "run", "--config", str(path), "--now", NOW)
    assert code == 6
    line = one_line(err)
    assert str(home / "bad.ics") in line
    assert "\\x1b[31mRED\\x00" in line  # shown, escaped


def test_ten_thousand_unclosed_components_are_one_line(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = broken(home, b"BEGIN:VCALENDAR\n" + b"BEGIN:VEVENT\n" * 10_000)
    code, _, err = run(capsys, "run", "--config", str(path), "--now", NOW)
    assert code == 6
    assert "not a valid iCalendar file" in one_line(err)


def test_a_warning_quoting_the_file_is_escaped_and_bounded(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rule = b"RRULE:FREQ=\x1bWEEKLY" + b"A" * 100_000
    path = broken(
        home,
        b"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:x\nBEGIN:VEVENT\nUID:x\n"
        b"DTSTART:20261201T150000Z\nDTEND:20261201T160000Z\nSUMMARY:Evil\x1b[2J\n"
        + rule
        + b"\nEND:VEVENT\nEND:VCALENDAR\n",
    )
    code, out, err = run(capsys, "run", "--config", str(path), "--now", NOW)
    assert (code, err) == (0, "")
    warnings = [ln for ln in out.splitlines() if ln.startswith("warning:")]
    assert warnings and all("\x1b" not in w and len(w) < 1100 for w in warnings)


@pytest.mark.parametrize(
    "now", ["tomorrow", "2026-11-30T07:00", "2026-13-45T07:00:00+00:00", "\x1b[2Jx"]
)
def test_a_bad_now_is_a_usage_error(
    home: Path, capsys: pytest.CaptureFixture[str], now: str
) -> None:
    code, _, err = run(capsys, "plan", "--now", now)
    assert code == 2
    assert "--now" in one_line(err)


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("../../x", "accounts[0].name"),
        ("work/../../x", "accounts[0].name"),
        (".hidden", "accounts[0].name"),
        ("a\\u0000b", "accounts[0].name"),
        ("tab\\tname", "accounts[0].name"),
        ("x" * 65, "accounts[0].name"),
    ],
)
def test_an_account_name_that_is_not_plain_is_refused(
    home: Path, capsys: pytest.CaptureFixture[str], name: str, key: str
) -> None:
    path = write_config(home, f'[[accounts]]\nname = "{name}"\ncalendar = "{home / "c.ics"}"\n')
    code, _, err = run(capsys, "run", "--config", str(path), "--now", NOW)
    assert code == 3
    assert key in one_line(err)
    assert not (home / "x.lock").exists() and not list(home.glob("**/*.lock"))
    assert not (home / "c.ics").exists()


def test_connect_refuses_a_name_that_is_not_plain(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "connect", "google", "--account", "../x", "--no-browser")
    assert code == 2
    assert "--account" in one_line(err)


def test_a_nul_in_a_calendar_path_is_a_config_error(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(home, '[[accounts]]\nname = "work"\ncalendar = "/tmp/a\\u0000b.ics"\n')
    code, _, err = run(capsys, "run", "--config", str(path), "--now", NOW)
    assert code == 3
    assert "accounts[0].calendar" in one_line(err)


SECRET = "T000/B000/XXXXsecretXXXX"


@pytest.mark.parametrize(
    "url",
    [
        f"https://hooks.slack.com:port/services/{SECRET}",
        f"https://hooks.slack.com/services/{SECRET} x",
        f"https://hooks.slack.com/services/{SECRET}\\u001b",
        f"https://[::1:zz]/services/{SECRET}",
        f"https://[::1/services/{SECRET}",
        f"https://user:pw@hooks.slack.com/services/{SECRET}",
        f"https://hooks.slack.com:99999/services/{SECRET}",
    ],
)
def test_a_webhook_url_that_cannot_work_is_refused_without_showing_it(
    home: Path, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    path = write_config(home, extra=f'[alerts]\nwebhook_url = "{url}"\n')
    code, out, err = run(capsys, "run", "--config", str(path), "--now", NOW)
    assert code == 3
    assert "alerts.webhook_url" in one_line(err)
    assert "secret" not in out + err and "hooks.slack" not in out + err


@pytest.fixture
def garbage_server() -> Iterator[str]:
    """Answers every connection with bytes that are not HTTP."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(b"\x1b[2J not http at all\r\n\r\n")

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/services/{SECRET}"
    server.close()


def test_a_webhook_that_answers_garbage_says_webhook_failed_and_nothing_more(
    garbage_server: str,
) -> None:
    alert = Alert("k", "subject", "text", datetime(2026, 11, 30, tzinfo=UTC))
    with pytest.raises(TransientError, match=r"^webhook failed") as caught:
        Webhook(garbage_server, sleep=lambda _: None).send(alert)
    assert "secret" not in str(caught.value) and "127.0.0.1" not in str(caught.value)


def test_a_busy_account_is_said_to_be_skipped(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(home)
    (home / "state" / "locks").mkdir(parents=True)
    with filelock.FileLock(str(home / "state" / "locks" / "work.lock")):
        code, out, _ = run(capsys, "run", "--config", str(path), "--now", NOW, "--json")
        assert code == 0
        data = json.loads(out)
        assert data["accounts"] == []
        assert data["skipped"] == [
            {"account": "work", "why": "another firstblock is working on it"}
        ]
        code, out, _ = run(capsys, "run", "--config", str(path), "--now", NOW)
        assert code == 0
        assert "work: skipped, another firstblock is working on it" in out
    assert not (home / "cal.ics").exists()


def test_a_file_outside_any_account_that_cannot_be_written_is_one_line(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (home / "plain-file").write_text("x")
    code, _, err = run(capsys, "init", "--config", str(home / "plain-file" / "config.toml"))
    assert code == 6
    assert str(home / "plain-file") in one_line(err)
