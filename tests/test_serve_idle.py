"""IMAP IDLE (providers/imap/idle.py) against a real Dovecot: new mail wakes the
account at once, in `serve` too; flag changes do not; a lost session comes back."""

from __future__ import annotations

import dataclasses
import imaplib
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("imapclient", reason="the IMAP mailbox needs imapclient")

from providers.base import AccountSpec
from providers.imap import account as imap_account
from providers.imap.connection import Connection
from providers.imap.idle import Idle
from tests.servers.dovecot import PASSWORD, Dovecot, running
from tests.test_cli_serve import StepClock, at
from worker import config as cfg
from worker import runner
from worker.serve import Server

NO_IDLE = "IMAP4rev1 LITERAL+ UIDPLUS MOVE CONDSTORE UNSELECT NAMESPACE"


@pytest.fixture(scope="module")
def server() -> Iterator[Dovecot]:
    with running() as dovecot:
        yield dovecot


def deliver(server: Dovecot, user: str, n: int = 1, *, seen: bool = False) -> None:
    box = imaplib.IMAP4(server.host, server.imap_port)
    box.login(user, PASSWORD)
    raw = f"From: x{n}@vendor.io\r\nSubject: n{n}\r\n\r\nhi\r\n".encode()
    box.append("INBOX", "(\\Seen)" if seen else None, None, raw)
    box.logout()


def read_all(server: Dovecot, user: str) -> None:
    box = imaplib.IMAP4(server.host, server.imap_port)
    box.login(user, PASSWORD)
    box.select("INBOX")
    box.store("1:*", "+FLAGS", "(\\Seen)")
    box.logout()


def idle(server: Dovecot, user: str, woken: list[str], **how: Any) -> Idle:
    conn = Connection(
        server.host, server.imap_port, ssl="none", user=user, password=PASSWORD,
        timeout=10, where=user,
    )  # fmt: skip
    return Idle(conn, woken.append, check=0.2, **how).start()


def until(condition: Any, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_new_mail_wakes_at_once_and_reading_mail_does_not(server: Dovecot) -> None:
    user, woken = server.new_user(), []
    listener = idle(server, user, woken)
    try:
        assert listener.idling.wait(10)
        deliver(server, user, 1)
        assert until(lambda: woken == ["new mail"])
        assert until(listener.idling.is_set)  # idling again
        read_all(server, user)  # flags only: the rep reading their mail
        time.sleep(1.0)
        assert woken == ["new mail"]
        deliver(server, user, 2)
        assert until(lambda: len(woken) == 2)
    finally:
        listener.stop()
    assert not listener.thread.is_alive()


def test_a_server_without_idle_costs_one_try(tmp_path: Path) -> None:
    with running(NO_IDLE) as plain:
        user, woken = plain.new_user(), []
        listener = idle(plain, user, woken)
        listener.thread.join(10)
        assert not listener.thread.is_alive() and woken == []


def test_a_lost_session_comes_back_and_still_wakes() -> None:
    with running() as dovecot:
        user, woken = dovecot.new_user(), []
        listener = idle(dovecot, user, woken, pauses=(0.2,))
        try:
            assert listener.idling.wait(10)
            dovecot.stop(remove=False)
            assert until(lambda: not listener.idling.is_set())
            dovecot.start(same_ports=True)
            assert listener.idling.wait(15)
            deliver(dovecot, user)
            assert until(lambda: woken == ["new mail"])
        finally:
            listener.stop()


def test_serve_cycles_an_imap_account_when_mail_arrives(
    server: Dovecot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = server.new_user()
    spec = AccountSpec("work", email=user, state_dir=tmp_path / "state")
    url = f"imap+plain://{server.host}:{server.imap_port}"
    imap_account.connect(spec, url=url, login=user, password=PASSWORD, sieve_port="none")
    account = cfg.Account("work", "imap", user, {"calendar": tmp_path / "w.ics"})
    config = dataclasses.replace(
        cfg.default_config(),
        timezone="America/New_York",
        accounts=(account,),
        state_dir=tmp_path / "state",
    )
    clock = StepClock(at(18))  # next due on its own: the hourly reconcile, 19:00
    seen: list[tuple[datetime, str]] = []
    real = runner.run_one

    def recording(config: cfg.Config, account: cfg.Account, *a: Any, **k: Any) -> Any:
        seen.append((clock.now(), server_.slots["work"].due.why))
        return real(config, account, *a, **k)

    monkeypatch.setattr(runner, "run_one", recording)
    server_: Server
    delivered = threading.Event()
    started: list[Any] = []

    def wait(seconds: float) -> None:
        while any(s.running for s in server_.slots.values()):
            time.sleep(0.005)
        if not delivered.is_set():
            [(_, listener)] = server_._listeners.values()
            started.append(listener)
            assert listener.idling.wait(10)
            deliver(server, user)
            delivered.set()
            assert until(lambda: server_.slots["work"].due.at <= clock.moment)
        clock.moment += timedelta(seconds=min(seconds, 60))
        if clock.moment >= at(18, 10):
            server_.stop.set()

    server_ = Server(lambda: config, clock, interval=timedelta(hours=1), wait=wait)
    assert server_.run() == 0
    assert [why for _, why in seen] == ["start", "new mail"]
    assert seen[1][0] < at(18, 2)
    assert server_._listeners == {}  # stopped with serve, its thread ended
    assert not started[0].thread.is_alive()
