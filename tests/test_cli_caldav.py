"""A CalDAV account end to end through the `firstblock` command, against a real
Radicale: connect once (the password from a file), run, run again."""

from __future__ import annotations

import json
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.servers.radicale import PASSWORD, USER, Radicale, running
from tests.test_cli import run

MONDAY = "2026-11-30T07:00:00-05:00"


@pytest.fixture
def server() -> Iterator[Radicale]:
    with running() as radicale:
        yield radicale


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FIRSTBLOCK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FIRSTBLOCK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("FIRSTBLOCK_CONFIG", raising=False)
    monkeypatch.delenv("FIRSTBLOCK_SECRET_KEY", raising=False)
    return tmp_path


def calendar(server: Radicale, name: str) -> str:
    url = f"{server.url}{USER}/{uuid.uuid4().hex}/"
    body = (
        '<?xml version="1.0"?><C:mkcalendar xmlns:D="DAV:" '
        'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>'
        f"<D:displayname>{name}</D:displayname></D:prop></D:set></C:mkcalendar>"
    )
    answer = requests.request("MKCALENDAR", url, auth=(USER, PASSWORD), data=body, timeout=10)
    assert answer.status_code == 201
    return url


def events_in(url: str) -> int:
    answer = requests.request(
        "PROPFIND", url, auth=(USER, PASSWORD), headers={"Depth": "1"}, timeout=10
    )
    return answer.text.count(".ics</")


def config(home: Path) -> str:
    path = home / "firstblock.toml"
    path.write_text(
        '[[accounts]]\nname = "dana"\nprovider = "caldav"\nemail = "dana@example.com"\n'
        'timezone = "America/New_York"\n'
    )
    return str(path)


def test_connect_once_from_the_server_address_then_run_twice(
    server: Radicale, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    work = calendar(server, "Work")
    calendar(server, "Family")
    secret = home / "app-password"
    secret.write_text(PASSWORD + "\n")
    cfg = config(home)
    base = ["connect", "caldav", "--account", "dana", "--config", cfg, "--url", server.url]
    base += ["--login", USER, "--password-file", str(secret), "--imap", "none"]
    code, out, err = run(capsys, *base)
    assert code != 0 and "choose one with --calendar ('Family', 'Work')" in err
    assert not (home / "state" / "credentials").exists() or not any(
        (home / "state" / "credentials").iterdir()
    )

    code, out, err = run(capsys, *base, "--calendar", "Work")
    assert (code, err) == (0, ""), err
    assert "connected" in out and PASSWORD not in out
    [stored] = (home / "state" / "credentials").iterdir()
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600

    code, out, err = run(capsys, "run", "--config", cfg, "--now", MONDAY, "--json")
    assert (code, err) == (0, ""), err
    [account] = json.loads(out)["accounts"]
    kinds = {c["kind"] for c in account["changes"] if c["op"] == "create"}
    assert kinds == {"prospecting", "deals", "prep", "admin"}
    assert events_in(work) == len(account["changes"])

    code, out, _ = run(capsys, "run", "--config", cfg, "--now", MONDAY, "--json")
    assert code == 0 and json.loads(out)["accounts"][0]["changes"] == []
    assert PASSWORD not in out


def test_another_providers_flag_is_refused(
    server: Radicale, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config(home)
    code, _, err = run(
        capsys, "connect", "caldav", "--account", "dana", "--config", cfg, "--client-id", "x"
    )
    assert code != 0 and "--client-id is a" in err


def test_no_password_file_and_no_terminal_is_a_clear_error(
    server: Radicale, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config(home)
    code, _, err = run(
        capsys, "connect", "caldav", "--account", "dana", "--config", cfg,
        "--url", server.url, "--login", USER,
    )  # fmt: skip
    assert code != 0 and "--password-file" in err
