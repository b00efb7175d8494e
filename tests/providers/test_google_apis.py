"""Google's API objects are built once per process (providers/google/apis.py); every
request still goes out on its own session's connection, with its own credentials."""

from __future__ import annotations

import threading

import pytest
from google.oauth2.credentials import Credentials

from providers.google.apis import Unbound
from providers.google.session import Options, Session
from providers.memo import Memo
from tests.emulators.google import GoogleEmulator
from tests.providers.google_fixtures import ME, Sleeps, emulator

__all__ = ["emulator"]  # a fixture, imported for pytest


def _session(emu: GoogleEmulator, token: str) -> Session:
    options = Options(name=token, email=ME, api_root=emu.url, sleep=Sleeps())
    return Session(options, Credentials(token=token), Memo(None))


def test_two_accounts_share_resources_and_send_with_their_own_token(
    emulator: GoogleEmulator,
) -> None:
    a, b = _session(emulator, "token-of-a"), _session(emulator, "token-of-b")
    assert a.calendar.events() is b.calendar.events()  # made once, not per session
    assert a.gmail.users().messages() is b.gmail.users().messages()
    a.call(a.calendar.events().list(calendarId="primary"))
    b.call(b.calendar.events().list(calendarId="primary"))
    a.batch("gmail", [a.gmail.users().labels().list(userId="me")] * 2)
    seen = [r.headers.get("authorization") for r in emulator.requests]
    assert seen == [
        "Bearer token-of-a",
        "Bearer token-of-b",
        "Bearer token-of-a",  # the batch envelope
        "Bearer token-of-a",  # its parts
        "Bearer token-of-a",
    ]
    # Each part carries the session's credentials itself, as before the objects were
    # shared (the emulator would otherwise give it the envelope's).
    envelope = emulator.requests[2].body.lower()
    assert envelope.count(b"authorization: bearer token-of-a") == 2


def test_a_request_sent_outside_a_session_goes_nowhere(emulator: GoogleEmulator) -> None:
    request = _session(emulator, "t").calendar.events().list(calendarId="primary")
    assert isinstance(request.http, Unbound)
    with pytest.raises(RuntimeError, match="session's http"):
        request.execute()
    assert emulator.requests == []


def test_accounts_on_many_threads_never_cross_credentials(emulator: GoogleEmulator) -> None:
    """As serve's worker threads run Google accounts side by side on one endpoint."""

    def account(token: str) -> None:
        session = _session(emulator, token)
        for _ in range(10):
            session.call(session.calendar.events().list(calendarId="primary", q=token))

    tokens = [f"token-{i}" for i in range(6)]
    threads = [threading.Thread(target=account, args=(t,)) for t in tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    sent = [(r.query["q"][0], r.headers.get("authorization")) for r in emulator.requests]
    assert len(sent) == 60
    assert all(auth == f"Bearer {tag}" for tag, auth in sent)
