"""An IMAP mailbox end to end through the `firstblock` command, against a real
Dovecot over TLS: connect once (the password from a file), hold, the Sieve rule at
arrival, release."""

from __future__ import annotations

import imaplib
import json
import ssl
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

pytest.importorskip("imapclient", reason="the IMAP mailbox needs imapclient")

from tests.servers.dovecot import PASSWORD, Dovecot, running
from tests.test_cli import run

HELD = "Firstblock-Held"


@pytest.fixture(scope="module")
def server() -> Iterator[Dovecot]:
    with running(tls=True) as dovecot:
        yield dovecot


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: Dovecot) -> Path:
    monkeypatch.setenv("FIRSTBLOCK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FIRSTBLOCK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("FIRSTBLOCK_CONFIG", raising=False)
    monkeypatch.delenv("FIRSTBLOCK_SECRET_KEY", raising=False)
    # The server's self-signed certificate, trusted as a company's own CA would be.
    monkeypatch.setenv("SSL_CERT_FILE", str(server.cert))
    (tmp_path / "app-password").write_text(PASSWORD + "\n")
    return tmp_path


class Client:
    """The rep's own mail app, over its own connection."""

    def __init__(self, server: Dovecot, user: str) -> None:
        context = ssl.create_default_context(cafile=str(server.cert))
        self.imap = imaplib.IMAP4_SSL(server.host, server.imaps_port, ssl_context=context)
        self.imap.login(user, PASSWORD)
        self.user = user

    def arrive(self, sender: str, at: str, n: int) -> None:
        raw = (
            f"From: {sender}\r\nTo: {self.user}\r\nSubject: note {n}\r\n"
            f"Message-ID: <n{n}@outside.test>\r\n\r\nkeep these bytes\r\n"
        ).encode()
        when = imaplib.Time2Internaldate(datetime.fromisoformat(at))
        assert self.imap.append("INBOX", None, when, raw)[0] == "OK"

    def senders(self, folder: str) -> list[str]:
        typ, _ = self.imap.select(f'"{folder}"', readonly=True)
        if typ != "OK":
            return []
        _, data = self.imap.search(None, "ALL")
        found = []
        for number in (data[0] or b"").split():
            _, parts = self.imap.fetch(number, "(BODY.PEEK[HEADER.FIELDS (FROM)])")
            header = parts[0][1] if isinstance(parts[0], tuple) else b""
            found.append(header.decode().split(":", 1)[1].strip())
        return sorted(found)


def test_connect_then_hold_with_the_sieve_rule_and_release(
    server: Dovecot, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    user = server.new_user()
    cfg = home / "firstblock.toml"
    cfg.write_text(
        '[hold]\nallow = ["boss@corp.example"]\n'
        f'[[accounts]]\nname = "rep"\nprovider = "imap"\nemail = "{user}"\n'
        'timezone = "America/New_York"\n'
    )
    code, out, err = run(
        capsys, "connect", "imap", "--account", "rep", "--config", str(cfg),
        "--imap", f"imaps://{server.host}:{server.imaps_port}", "--login", user,
        "--password-file", str(home / "app-password"), "--sieve", str(server.sieve_port),
    )  # fmt: skip
    assert (code, err) == (0, ""), err
    assert PASSWORD not in out

    monday = "2026-11-30T{}-05:00"
    code, out, err = run(capsys, "run", "--config", str(cfg), "--now", monday.format("07:00"))
    assert code == 0, err
    rep = Client(server, user)
    rep.arrive("sales@vendor.example", monday.format("09:00"), 1)
    rep.arrive("boss@corp.example", monday.format("09:01"), 2)
    code, out, err = run(
        capsys, "run", "--config", str(cfg), "--now", monday.format("09:05"), "--json"
    )
    hold = json.loads(out)["accounts"][0]["hold"]
    assert (code, hold["state"], hold["held"]) == (0, "holding", 1), err
    assert rep.senders(HELD) == ["sales@vendor.example"]
    assert rep.senders("INBOX") == ["boss@corp.example"]

    # The rule now holds mail at arrival, as the server delivers it.
    late = b"From: news@vendor.example\r\nSubject: late\r\nMessage-ID: <late@v>\r\n\r\nhi\r\n"
    server.deliver(late, sender="news@vendor.example", user=user)
    assert rep.senders(HELD) == ["news@vendor.example", "sales@vendor.example"]

    code, out, _ = run(capsys, "release", "--config", str(cfg), "--json")
    assert code == 0 and json.loads(out)["accounts"] == [{"account": "rep", "returned": 2}]
    assert rep.senders(HELD) == []
    assert len(rep.senders("INBOX")) == 3

    code, out, _ = run(capsys, "status", "--config", str(cfg), "--now", monday.format("09:06"))
    assert code == 0 and PASSWORD not in out


def test_a_wrong_password_keeps_nothing_and_says_so(
    server: Dovecot, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    user = server.new_user()
    wrong = home / "wrong"
    wrong.write_text("not-it\n")
    code, out, err = run(
        capsys, "connect", "imap", "--account", "rep",
        "--imap", f"imaps://{server.host}:{server.imaps_port}", "--login", user,
        "--password-file", str(wrong),
    )  # fmt: skip
    assert code != 0 and "not-it" not in out + err
    assert len(err.strip().splitlines()) == 1, err
    assert not (home / "state" / "credentials").exists() or not any(
        (home / "state" / "credentials").iterdir()
    )


def test_plain_imap_is_refused_beyond_loopback(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys, "connect", "imap", "--account", "rep", "--imap", "imap+plain://mail.example",
        "--login", "rep", "--password-file", str(home / "app-password"),
    )  # fmt: skip
    assert code != 0 and "only allowed on loopback" in err


def test_a_caldav_account_holds_mail_in_its_imap_mailbox(
    server: Dovecot, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.servers import radicale
    from tests.test_cli_caldav import calendar, events_in

    user = server.new_user()
    cfg = home / "firstblock.toml"
    cfg.write_text(
        f'[[accounts]]\nname = "dana"\nprovider = "caldav"\nemail = "{user}"\n'
        'timezone = "America/New_York"\n'
    )
    # One app password for both, as Fastmail's and iCloud's are; the mailbox has
    # its own login here.
    with radicale.running() as dav:
        work = calendar(dav, "Work")
        (home / "dav-password").write_text(radicale.PASSWORD)
        code, out, err = run(
            capsys, "connect", "caldav", "--account", "dana", "--config", str(cfg),
            "--url", work, "--login", radicale.USER,
            "--password-file", str(home / "dav-password"),
            "--imap", f"imaps://{server.host}:{server.imaps_port}", "--imap-login", user,
            "--imap-password-file", str(home / "app-password"), "--sieve", "none",
        )  # fmt: skip
        assert (code, err) == (0, ""), err
        monday = "2026-11-30T{}-05:00"
        assert run(capsys, "run", "--config", str(cfg), "--now", monday.format("07:00"))[0] == 0
        assert events_in(work) > 0
        rep = Client(server, user)
        rep.arrive("sales@vendor.example", monday.format("09:00"), 1)
        code, out, err = run(
            capsys, "run", "--config", str(cfg), "--now", monday.format("09:05"), "--json"
        )
        hold = json.loads(out)["accounts"][0]["hold"]
        assert (code, hold["held"]) == (0, 1), err
        assert rep.senders(HELD) == ["sales@vendor.example"]
        code, out, _ = run(capsys, "release", "--config", str(cfg), "--json")
        assert json.loads(out)["accounts"] == [{"account": "dana", "returned": 1}]


def test_forgetting_an_account_drops_its_password_and_both_memos(
    server: Dovecot, home: Path
) -> None:
    from providers.base import AccountSpec
    from providers.caldav import account as caldav_account
    from providers.imap import account as imap_account

    user = server.new_user()
    spec = AccountSpec("rep", email=user, state_dir=home / "state")
    url = f"imap+plain://{server.host}:{server.imap_port}"
    imap_account.connect(spec, url=url, login=user, password=PASSWORD, sieve_port="none")
    memos = [home / "state" / kind / "rep.json" for kind in ("caldav", "imap")]
    for path in memos:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
    assert imap_account.connected(spec)
    assert "app password" in imap_account.forget(spec)
    assert not imap_account.connected(spec) and not memos[1].exists() and memos[0].exists()
    assert imap_account.forget(spec) == ""  # nothing left to revoke
    assert caldav_account.forget(spec) == "" and not memos[0].exists()
