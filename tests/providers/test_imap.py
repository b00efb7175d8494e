"""The mail contract, and what only IMAP has, against a real Dovecot on loopback.

Each test gets its own account (an empty mailbox) on a server shared by the module;
tests that stop the server get one of their own. `outside` reads and writes through
its own connection (the standard library's imaplib), never through the provider.
Without Dovecot installed, these skip (tests/servers/dovecot.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import imaplib
import json
import logging
import re
import socket
import ssl
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from providers.errors import AuthError, BadRequest, TransientError

pytest.importorskip("imapclient", reason="the IMAP mailbox needs imapclient")

from providers.imap import errors as imap_errors
from providers.imap import sieve
from providers.imap.mailbox import ImapMailbox
from tests.contract.mail import T0, MailContract
from tests.servers.dovecot import PASSWORD, Dovecot, running
from worker.models import Alert

HELD = "Firstblock-Held"
# Dovecot's own list without MOVE: the copy-and-expunge path, as the server decides it.
NO_MOVE = (
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT NAMESPACE UIDPLUS CHILDREN "
    "LIST-EXTENDED CONDSTORE QRESYNC ESEARCH LITERAL+ UNSELECT SPECIAL-USE MULTIAPPEND"
)


def expected_id(message_id: str, received: datetime, size: int) -> str:
    """The id the provider derives (providers/imap/ids.py), worked out independently."""
    basis = f"m\0{message_id}\0{int(received.timestamp())}\0{size}"
    return "imap-" + hashlib.sha256(basis.encode()).hexdigest()[:32]


@pytest.fixture(scope="module")
def server() -> Iterator[Dovecot]:
    with running() as dovecot:
        yield dovecot


@pytest.fixture
def own_server() -> Iterator[Dovecot]:
    """A server for this test alone, which it may stop and start."""
    with running() as dovecot:
        yield dovecot


def open_mailbox(server: Dovecot, user: str, **kwargs: object) -> ImapMailbox:
    return ImapMailbox(
        server.host,
        server.imap_port,
        user=user,
        password=PASSWORD,
        ssl="none",
        timeout=10,
        sieve_port=server.sieve_port,
        **kwargs,  # type: ignore[arg-type]
    )


class ImapOutside:
    """Another client of the same account."""

    def __init__(self, host: str, port: int, user: str) -> None:
        self.host, self.port, self.user = host, port, user
        self.imap = imaplib.IMAP4(host, port)
        self.imap.login(user, PASSWORD)
        self.mids: dict[str, str] = {}

    def close(self) -> None:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            self.imap.logout()

    def _ok(self, answer: tuple[str, list[object]]) -> list[object]:
        typ, data = answer
        assert typ == "OK", data
        return data

    def put(
        self, raw: bytes, received: datetime, *, read: bool = False, folder: str = "INBOX"
    ) -> None:
        flags = "(\\Seen)" if read else None
        self._reconnect_if_needed()
        self._ok(self.imap.append(folder, flags, imaplib.Time2Internaldate(received), raw))

    def _reconnect_if_needed(self) -> None:
        try:
            self.imap.noop()
        except (imaplib.IMAP4.abort, OSError):
            self.imap = imaplib.IMAP4(self.host, self.port)
            self.imap.login(self.user, PASSWORD)

    def arrive(self, sender: str, received: datetime, *, read: bool = False) -> str:
        n = len(self.mids) + 1
        mid = f"<m{n}.{int(received.timestamp())}@outside.test>"
        raw = (
            f"From: {sender}\r\nTo: {self.user}\r\nSubject: hello {n}\r\n"
            f"Message-ID: {mid}\r\n\r\nbody that must never change\r\n"
        ).encode()
        self.put(raw, received, read=read)
        key = expected_id(mid, received, len(raw))
        self.mids[key] = mid
        return key

    def folders(self) -> list[str]:
        names = []
        for line in self._ok(self.imap.list()):
            assert isinstance(line, bytes)
            names.append(line.rsplit(b' "/" ', 1)[1].decode().strip('"'))
        return names

    def places(self, message_id: str) -> list[tuple[str, bytes]]:
        """(folder, uid) of every copy of the message, in every folder."""
        self._reconnect_if_needed()
        found = []
        for folder in self.folders():
            self._ok(self.imap.select(folder, readonly=True))
            data = self._ok(self.imap.uid("SEARCH", "HEADER", "Message-ID", self.mids[message_id]))
            found += [(folder, uid) for uid in (data[0] or b"").split()]  # type: ignore[union-attr]
        return found

    def where(self, message_id: str) -> tuple[str, bytes]:
        """The one place the message is: never none, never two."""
        places = self.places(message_id)
        assert len(places) == 1, places
        self._ok(self.imap.select(places[0][0], readonly=True))
        return places[0]

    def flags(self, message_id: str) -> frozenset[str]:
        _, uid = self.where(message_id)
        data = self._ok(self.imap.uid("FETCH", uid, "(FLAGS)"))
        text = data[0].decode()  # type: ignore[union-attr]
        found = re.search(r"FLAGS \(([^)]*)\)", text)
        assert found is not None
        return frozenset(found.group(1).split()) - {"\\Recent"}

    def content(self, message_id: str) -> bytes:
        _, uid = self.where(message_id)
        data = self._ok(self.imap.uid("FETCH", uid, "(BODY.PEEK[])"))
        return data[0][1]  # type: ignore[index,no-any-return]

    def drafts(self) -> list[tuple[tuple[str, ...], str]]:
        import email
        import email.policy

        self._ok(self.imap.select("Drafts", readonly=True))
        uids = (self._ok(self.imap.uid("SEARCH", "DRAFT"))[0] or b"").split()  # type: ignore[union-attr]
        out = []
        for uid in uids:
            data = self._ok(self.imap.uid("FETCH", uid, "(BODY.PEEK[])"))
            msg = email.message_from_bytes(data[0][1], policy=email.policy.default)  # type: ignore[index]
            to = tuple(sorted(a.strip() for a in str(msg["To"]).split(",")))
            out.append((to, str(msg["Subject"])))
        return sorted(out)

    def sent(self) -> int:
        data = self._ok(self.imap.status("Sent", "(MESSAGES)"))
        found = re.search(rb"MESSAGES (\d+)", data[0])  # type: ignore[arg-type]
        assert found is not None
        return int(found.group(1))


class TestImapMailbox(MailContract):
    """Every mailbox's contract, moving with MOVE, with COPY and EXPUNGE by choice,
    and with COPY and EXPUNGE because the server offers no MOVE."""

    @pytest.fixture(params=["move", "copy", "server-without-move"])
    def mailbox(self, request: pytest.FixtureRequest, server: Dovecot) -> Iterator[ImapMailbox]:
        if request.param == "server-without-move":
            without = request.getfixturevalue("server_without_move")
            box = open_mailbox(without, without.new_user())
            assert not box.conn.has("MOVE") and box.conn.has("UIDPLUS")
        else:
            box = open_mailbox(server, server.new_user(), use_move=request.param == "move")
        yield box
        box.close()

    @pytest.fixture
    def outside(self, mailbox: ImapMailbox) -> Iterator[ImapOutside]:
        outside = ImapOutside(mailbox.conn.host, mailbox.conn.port, mailbox.conn.user)
        yield outside
        outside.close()


@pytest.fixture(scope="module")
def server_without_move() -> Iterator[Dovecot]:
    with running(capability=NO_MOVE) as dovecot:
        yield dovecot


@pytest.fixture
def box(server: Dovecot) -> Iterator[ImapMailbox]:
    mailbox = open_mailbox(server, server.new_user())
    yield mailbox
    mailbox.close()


@pytest.fixture
def outside(server: Dovecot, box: ImapMailbox) -> Iterator[ImapOutside]:
    outside = ImapOutside(server.host, server.imap_port, box.conn.user)
    yield outside
    outside.close()


def raw_message(sender: str, subject: str, message_id: str | None = None) -> bytes:
    mid = f"Message-ID: {message_id}\r\n" if message_id else ""
    return (
        f"From: {sender}\r\nTo: rep@example.com\r\nSubject: {subject}\r\n{mid}\r\n"
        "body that must never change\r\n"
    ).encode()


def cut(box: ImapMailbox) -> None:
    """Drop the session under the provider, as a network failure would."""
    box.conn.client().socket().shutdown(socket.SHUT_RDWR)


class Crash(Exception):
    """The worker process dying mid-step (not a provider error: nothing retries it)."""


# Reading: cheap, headers only, nothing marked read


def test_a_steady_listing_costs_one_status_per_folder(
    box: ImapMailbox, outside: ImapOutside
) -> None:
    outside.arrive("a@x.com", T0)
    held = outside.arrive("b@x.com", T0)
    since = T0 - timedelta(days=1)
    box.list_inbox(since), box.list_held()
    box.hold([held])
    before = box.commands
    box.list_held()
    # STATUS, EXAMINE, SEARCH, UNSELECT: no FETCH, as the MOVE's COPYUID told the
    # moved message's new UID, whose headers are known.
    assert box.commands - before == 4
    box.list_inbox(since)
    before = box.commands
    inbox, holding = box.list_inbox(since), box.list_held()
    assert box.commands - before == 2  # STATUS INBOX, STATUS Firstblock-Held
    assert [len(inbox), len(holding)] == [1, 1]
    outside.arrive("c@x.com", T0 + timedelta(minutes=5))
    before = box.commands
    assert len(box.list_inbox(since)) == 2 and len(box.list_held()) == 1
    # STATUS, EXAMINE, SEARCH, FETCH of the new UID's headers, UNSELECT; STATUS.
    assert box.commands - before == 6


def test_after_its_own_move_the_next_listing_needs_only_status(
    box: ImapMailbox, outside: ImapOutside
) -> None:
    since = T0 - timedelta(days=1)
    a, b = outside.arrive("a@x.com", T0), outside.arrive("b@x.com", T0)
    box.hold([a])  # makes the held folder
    box.list_inbox(since), box.list_held()
    assert box.hold([b]) == 1
    before = box.commands
    inbox, held = box.list_inbox(since), box.list_held()
    assert box.commands - before == 2  # STATUS of each: the move explained both
    assert inbox == [] and sorted(m.id for m in held) == sorted([a, b])


def test_mail_that_came_around_a_move_is_still_listed(
    box: ImapMailbox, outside: ImapOutside
) -> None:
    since = T0 - timedelta(days=1)
    a, b = outside.arrive("a@x.com", T0), outside.arrive("b@x.com", T0)
    box.hold([a])
    box.list_inbox(since), box.list_held()
    c = outside.arrive("c@x.com", T0 + timedelta(minutes=1))  # after the listing
    outside.put(raw_message("d@x.com", "straight in"), T0, folder=HELD)  # a Sieve rule's
    assert box.hold([b]) == 1
    assert [m.id for m in box.list_inbox(since)] == [c]
    assert len(box.list_held()) == 3


def test_a_new_process_with_the_memo_lists_as_cheaply(
    server: Dovecot, box: ImapMailbox, outside: ImapOutside
) -> None:
    user = box.conn.user
    memo: dict[str, Any] = {}
    saved: list[str] = []
    first = open_mailbox(server, user, memo=memo, save=lambda: saved.append("x"))
    outside.arrive("a@x.com", T0)
    held = outside.arrive("b@x.com", T0)
    since = T0 - timedelta(days=1)
    first.hold([held])
    first.list_inbox(since), first.list_held()
    first.close()
    assert saved, "the memo was never written"
    kept = json.loads(json.dumps(memo))  # as the memo file holds it

    again = open_mailbox(server, user, memo=kept)
    inbox, holding = again.list_inbox(since), again.list_held()
    # The greeting, LOGIN and CAPABILITY, then STATUS INBOX and STATUS of the hold.
    assert again.commands == 5
    assert [m.id for m in holding] == [held] and len(inbox) == 1
    outside.arrive("c@x.com", T0 + timedelta(minutes=5))
    assert len(again.list_inbox(since)) == 2  # the STATUS changed: listed again

    cold = open_mailbox(server, user, memo={"folders": {"views": "garbage"}})
    assert len(cold.list_inbox(since)) == 2  # an unreadable memo only costs commands
    assert cold.commands > 5


def test_listing_fetches_headers_only_and_marks_nothing_read(
    box: ImapMailbox, outside: ImapOutside, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = outside.arrive("a@x.com", T0)
    sent: list[str] = []
    call = box.conn.call

    def spy(name: str, *args: object, **kwargs: object) -> object:
        sent.append(f"{name} {args}")
        return call(name, *args, **kwargs)

    monkeypatch.setattr(box.conn, "call", spy)
    assert [m.id for m in box.list_inbox(None)] == [a]
    box.hold([a])
    box.list_held()
    box.release([a])
    fetches = [s for s in sent if s.startswith("fetch")]
    assert fetches and all("BODY.PEEK[HEADER.FIELDS" in s for s in fetches), fetches
    assert not any("'BODY[]'" in s or "RFC822'" in s or "RFC822.TEXT" in s for s in sent)
    assert "\\Seen" not in outside.flags(a)


def test_since_uses_the_arrival_time_not_the_date_header(
    box: ImapMailbox, outside: ImapOutside
) -> None:
    # The Date header says last year; INTERNALDATE (arrival) is what counts.
    outside.put(raw_message("late@x.com", "old date") + b"", T0)
    [m] = box.list_inbox(T0 - timedelta(minutes=1))
    assert (m.sender, m.received) == ("late@x.com", T0)
    assert box.list_inbox(T0 + timedelta(seconds=1)) == []


# Ids


def test_a_message_without_message_id_keeps_its_id_through_moves(
    box: ImapMailbox, outside: ImapOutside
) -> None:
    outside.put(raw_message("a@x.com", "no id"), T0)
    outside.put(raw_message("a@x.com", "no id"), T0 + timedelta(minutes=1))
    first, second = box.list_inbox(None)
    assert first.id != second.id  # same headers, different arrival: two messages
    assert box.hold([first.id]) == 1
    assert [m.id for m in box.list_held()] == [first.id]
    assert [m.id for m in box.list_inbox(None)] == [second.id]
    fresh = open_mailbox_like(box)  # nothing remembered: found from the mailbox alone
    assert fresh.release([first.id]) == 1
    assert sorted(m.id for m in fresh.list_inbox(None)) == sorted([first.id, second.id])
    fresh.close()


def open_mailbox_like(box: ImapMailbox, **kwargs: object) -> ImapMailbox:
    return ImapMailbox(
        box.conn.host,
        box.conn.port,
        user=box.conn.user,
        password=PASSWORD,
        ssl="none",
        timeout=10,
        sieve_port=box.sieve_port,
        **kwargs,  # type: ignore[arg-type]
    )


def test_one_message_id_delivered_twice_is_two_messages(
    box: ImapMailbox, outside: ImapOutside
) -> None:
    # A mailing list's copy and the direct one: same Message-ID, different arrival.
    outside.put(raw_message("a@x.com", "twice", "<same@x.com>"), T0)
    outside.put(raw_message("a@x.com", "twice", "<same@x.com>"), T0 + timedelta(seconds=30))
    one, two = box.list_inbox(None)
    assert one.id != two.id
    assert box.hold([two.id]) == 1
    assert [m.id for m in box.list_inbox(None)] == [one.id]
    assert [m.id for m in box.list_held()] == [two.id]
    assert box.take_renamed() == []


def test_the_hold_is_a_folder_other_clients_see(box: ImapMailbox, outside: ImapOutside) -> None:
    a = outside.arrive("a@x.com", T0)
    box.hold([a])
    assert outside.where(a)[0] == HELD
    typ, data = outside.imap.lsub('""', HELD)
    assert typ == "OK" and data[0] is not None  # subscribed, so mail clients show it


def test_after_uidvalidity_changes_the_hold_is_listed_afresh(
    box: ImapMailbox, outside: ImapOutside
) -> None:
    a = outside.arrive("a@x.com", T0)
    box.hold([a])
    assert [m.id for m in box.list_held()] == [a]
    raw = outside.content(a)
    outside.imap.select("INBOX")
    assert outside.imap.delete(HELD)[0] == "OK"  # the folder goes and comes back:
    assert outside.imap.create(HELD)[0] == "OK"  # a new UIDVALIDITY, old UIDs void
    outside.put(raw, T0, folder=HELD)
    assert [m.id for m in box.list_held()] == [a]
    assert box.release([a]) == 1 and outside.where(a)[0] == "INBOX"


def test_uids_found_before_a_uidvalidity_change_are_refused(
    box: ImapMailbox, outside: ImapOutside
) -> None:
    from providers.errors import SyncStateExpired

    a = outside.arrive("a@x.com", T0)
    box.hold([a])
    validity = box.folders.select(HELD, readonly=False)
    box.folders.select("INBOX", readonly=True)
    outside.imap.select("INBOX")
    outside.imap.delete(HELD)
    outside.imap.create(HELD)
    with pytest.raises(SyncStateExpired):
        box.folders.check_validity(HELD, validity)


# Alerts and drafts


def test_an_alert_is_not_delivered_again_once_held_or_looked_for(
    box: ImapMailbox, outside: ImapOutside
) -> None:
    alert = Alert("gap:acme:1", "Book Acme", "text", T0, html="<p>text</p>")
    box.deliver(alert, first_try=True)
    [m] = box.list_inbox(None)
    assert m.alert and m.sender == "firstblock@localhost" and m.received == T0
    box.hold([m.id])  # even where the worker would never put it
    box.deliver(alert)
    box.deliver(Alert("gap:acme:10", "Another", "text", T0))  # a key that contains the first
    assert len(box.list_inbox(None)) == 1 and [h.id for h in box.list_held()] == [m.id]


@pytest.mark.parametrize("first_try", [True, False])
def test_an_alert_whose_answer_was_lost_is_not_appended_twice(
    box: ImapMailbox, monkeypatch: pytest.MonkeyPatch, first_try: bool
) -> None:
    call = box.conn.call

    def lose_the_answer(name: str, *args: object, **kwargs: object) -> object:
        answer = call(name, *args, **kwargs)
        if name == "append":  # it landed, but the client never heard so
            monkeypatch.setattr(box.conn, "call", call)
            cut(box)
            raise TransientError("connection lost")
        return answer

    monkeypatch.setattr(box.conn, "call", lose_the_answer)
    box.deliver(Alert("gap:acme:2", "Book Acme", "text", T0), first_try=first_try)
    assert [m.alert for m in box.list_inbox(None)] == [True]


def test_a_draft_is_flagged_as_one_in_the_drafts_folder(
    box: ImapMailbox, outside: ImapOutside
) -> None:
    from worker.models import Draft

    box.save_draft(Draft("d1", ("jane@acme.com",), "Hello", "text", T0))
    outside.imap.select("Drafts", readonly=True)
    typ, data = outside.imap.uid("SEARCH", "DRAFT", "HEADER", "X-Firstblock-Draft", "d1")
    assert typ == "OK" and len(data[0].split()) == 1


# Errors


def test_a_wrong_password_is_an_auth_error_that_never_shows_the_password(
    own_server: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    # Its own server: Dovecot slows every login from an address after a failed one.
    caplog.set_level(logging.DEBUG)  # imapclient logs every command at DEBUG
    secret = "not-the-Password-123"
    box = ImapMailbox(
        own_server.host, own_server.imap_port, user="rep@example.com", password=secret, ssl="none"
    )
    with pytest.raises(AuthError) as caught:
        box.list_inbox(None)
    assert caught.value.reason == "AUTHENTICATIONFAILED"
    shown = str(caught.value) + repr(caught.value) + repr(box) + repr(box.conn) + caplog.text
    assert "LOGIN" in caplog.text.upper() and secret not in shown


def test_a_stopped_server_is_a_transient_error(own_server: Dovecot) -> None:
    box = open_mailbox(own_server, own_server.new_user())
    assert box.list_inbox(None) == []
    own_server.stop(remove=False)
    with pytest.raises(TransientError):
        box.list_inbox(None)  # the session is gone, and connecting again is refused
    with pytest.raises(TransientError):
        box.hold(["x"])
    own_server.start(same_ports=True)
    assert box.list_inbox(None) == []  # back without a new object


def test_too_many_sessions_is_rate_limited_by_the_servers_limit_code() -> None:
    with running(connections=1) as server:
        user = server.new_user()
        first, second = open_mailbox(server, user), open_mailbox(server, user)
        assert first.list_inbox(None) == []
        with pytest.raises(imap_errors.RateLimited) as caught:
            second.list_inbox(None)
        assert caught.value.reason == "LIMIT"
        first.close()


def test_plain_imap_is_refused_off_loopback() -> None:
    with pytest.raises(BadRequest):
        ImapMailbox("imap.example.com", 143, user="u", password="p", ssl="none")


def test_a_dropped_session_is_reconnected_once(box: ImapMailbox, outside: ImapOutside) -> None:
    a = outside.arrive("a@x.com", T0)
    assert [m.id for m in box.list_inbox(None)] == [a]
    cut(box)
    assert box.hold([a]) == 1  # the first command fails; the second session moves it
    assert outside.where(a)[0] == HELD


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("[AUTHENTICATIONFAILED] Authentication failed.", AuthError),
        ("[LIMIT] Too many commands", imap_errors.RateLimited),
        ("[UNAVAILABLE] Backend down", TransientError),
        ("[NONEXISTENT] No such mailbox", imap_errors.NotFound),
        ("[OVERQUOTA] Quota exceeded", imap_errors.DataError),
        ("Error in IMAP command", BadRequest),
    ],
)
def test_response_codes_map_to_our_errors(text: str, kind: type[Exception]) -> None:
    error = imap_errors.from_answer(text, where="x")
    assert type(error) is kind


def test_socket_failures_and_bye_are_transient() -> None:
    for exc in (
        ConnectionRefusedError(111, "refused"),
        ConnectionResetError(104, "reset"),
        TimeoutError(),
        imaplib.IMAP4.abort("BYE server shutting down"),
    ):
        error = imap_errors.translate(exc, where="x")
        assert type(error) is TransientError and imap_errors.connection_lost(error), exc


# Faults mid-move: never lost, never in two places, flags and bytes kept


def _state(outside: ImapOutside, ids: list[str]) -> dict[str, tuple[frozenset[str], bytes]]:
    return {i: (outside.flags(i), outside.content(i)) for i in ids}


@pytest.mark.parametrize("step", ["copied", "flagged"])
def test_a_session_cut_mid_copy_is_finished_in_the_same_call(
    box: ImapMailbox, outside: ImapOutside, step: str
) -> None:
    box.use_move = False
    a = outside.arrive("a@x.com", T0, read=True)
    b = outside.arrive("b@x.com", T0)
    before = _state(outside, [a, b])
    box.step_hook = lambda at: cut(box) if at == step else None
    assert box.hold([a, b]) == 2
    box.step_hook = None
    assert [outside.where(i)[0] for i in (a, b)] == [HELD, HELD]
    assert _state(outside, [a, b]) == before
    assert not box.journal
    assert box.release([a, b]) == 2 and _state(outside, [a, b]) == before


@pytest.mark.parametrize("step", ["copied", "flagged"])
def test_a_server_gone_mid_copy_is_repaired_by_the_next_call(
    own_server: Dovecot, step: str
) -> None:
    memo: dict[str, object] = {}
    box = open_mailbox(own_server, own_server.new_user(), use_move=False, memo=memo)
    outside = ImapOutside(own_server.host, own_server.imap_port, box.conn.user)
    a = outside.arrive("a@x.com", T0, read=True)
    before = _state(outside, [a])
    box.step_hook = lambda at: own_server.stop(remove=False) if at == step else None
    with pytest.raises(TransientError):
        box.hold([a])
    assert memo["moving"]  # the half-done move is remembered where the caller keeps it
    own_server.start(same_ports=True)
    # The next process, with the same memo: its first call finishes the move.
    again = open_mailbox(own_server, box.conn.user, use_move=False, memo=memo)
    assert [m.id for m in again.list_held()] == [a]
    assert again.list_inbox(None) == [] and memo["moving"] == {}
    assert outside.where(a)[0] == HELD and _state(outside, [a]) == before
    again.close()
    outside.close()


@pytest.mark.parametrize("step", ["copied", "flagged"])
def test_with_the_memo_lost_the_next_move_settles_both_copies(
    box: ImapMailbox, outside: ImapOutside, step: str
) -> None:
    box.use_move = False
    a = outside.arrive("a@x.com", T0, read=True)
    before = _state(outside, [a])

    def crash(at: str) -> None:
        if at == step:
            raise Crash(at)

    box.step_hook = crash
    with pytest.raises(Crash):
        box.hold([a])
    assert len(outside.places(a)) == 2  # the very state the next call must settle
    fresh = open_mailbox_like(box)  # nothing remembered
    assert [m.id for m in fresh.list_held()] == [a]
    assert fresh.hold([a]) == 1  # found in both, byte for byte: the inbox copy goes
    assert outside.where(a)[0] == HELD and _state(outside, [a]) == before
    fresh.close()


def test_a_release_cut_after_flagging_leaves_no_deleted_copy_behind(
    box: ImapMailbox, outside: ImapOutside
) -> None:
    box.use_move = False
    a = outside.arrive("a@x.com", T0)
    before = _state(outside, [a])
    box.hold([a])

    def crash(at: str) -> None:
        if at == "flagged":
            raise Crash(at)

    box.step_hook = crash
    with pytest.raises(Crash):
        box.release([a])
    # Now the inbox has it and the hold keeps a copy marked \Deleted. Holding it again
    # must drop that leftover, not the live copy, and keep the flags as they were.
    fresh = open_mailbox_like(box)
    assert fresh.list_held() == [] and [m.id for m in fresh.list_inbox(None)] == [a]
    assert fresh.hold([a]) == 1
    assert outside.where(a)[0] == HELD and _state(outside, [a]) == before
    fresh.close()


def test_copies_that_differ_in_bytes_are_both_kept(box: ImapMailbox, outside: ImapOutside) -> None:
    # Same Message-ID, arrival and size, different bytes: the same id, but not a
    # leftover of a move. Nothing may be expunged.
    one = raw_message("a@x.com", "version A", "<twin@x.com>")
    two = raw_message("a@x.com", "version B", "<twin@x.com>")
    outside.put(one, T0)
    box.folders.make(HELD)
    outside.put(two, T0, folder=HELD)
    [m] = box.list_inbox(None)
    assert [h.id for h in box.list_held()] == [m.id]
    assert box.hold([m.id]) == 1
    outside.mids["twin"] = "<twin@x.com>"
    assert sorted(folder for folder, _ in outside.places("twin")) == [HELD, HELD]


# The hold rule: Sieve over ManageSieve, run by Dovecot's LDA


def sieve_session(server: Dovecot, user: str) -> sieve.ManageSieve:
    session = sieve.ManageSieve(
        server.host, server.sieve_port, starttls=False, timeout=10, where="test"
    )
    session.open(user, PASSWORD)
    return session


def test_the_hold_rule_files_strangers_and_lets_allowed_senders_through(
    box: ImapMailbox, server: Dovecot
) -> None:
    assert box.supports_hold_rule
    box.set_hold_rule(["Boss@Acme.com", "@client.com"])
    user = box.conn.user
    server.deliver(raw_message("stranger@else.com", "1", "<s1@t>"), sender="x@y", user=user)
    server.deliver(raw_message("boss@acme.com", "2", "<s2@t>"), sender="x@y", user=user)
    server.deliver(raw_message("jo@client.com", "3", "<s3@t>"), sender="x@y", user=user)
    server.deliver(raw_message("jo@notclient.com", "4", "<s4@t>"), sender="x@y", user=user)
    assert sorted(m.sender for m in box.list_held()) == ["jo@notclient.com", "stranger@else.com"]
    assert sorted(m.sender for m in box.list_inbox(None)) == ["boss@acme.com", "jo@client.com"]
    box.set_hold_rule(["someone@else.com"])  # replaced, not added
    server.deliver(raw_message("boss@acme.com", "5", "<s5@t>"), sender="x@y", user=user)
    assert len(box.list_held()) == 3
    box.set_hold_rule(None)
    server.deliver(raw_message("stranger@else.com", "6", "<s6@t>"), sender="x@y", user=user)
    assert len(box.list_held()) == 3 and len(box.list_inbox(None)) == 3
    session = sieve_session(server, user)
    assert session.scripts() == {}
    session.close()


def test_removing_the_rule_makes_the_users_own_script_active_again(
    box: ImapMailbox, server: Dovecot
) -> None:
    session = sieve_session(server, box.conn.user)
    session.put("mine", 'require ["fileinto"];\r\nif header :contains "subject" "x" { stop; }\r\n')
    session.activate("mine")
    session.close()
    box.set_hold_rule([])
    box.set_hold_rule(["a@b.com"])  # replacing ours keeps theirs named
    session = sieve_session(server, box.conn.user)
    assert session.scripts() == {"mine": False, sieve.SCRIPT: True}
    assert 'include :personal "mine"' in session.get(sieve.SCRIPT)
    session.close()
    box.set_hold_rule(None)
    session = sieve_session(server, box.conn.user)
    assert session.scripts() == {"mine": True}
    session.close()


def test_a_rule_the_server_refuses_or_an_odd_entry_is_a_bad_request(
    box: ImapMailbox, server: Dovecot
) -> None:
    with pytest.raises(BadRequest):
        box.set_hold_rule(['evil"@x.com'])
    session = sieve_session(server, box.conn.user)
    with pytest.raises(BadRequest):
        session.put("broken", "this is not sieve;\r\n")  # checked by Pigeonhole
    assert session.scripts() == {}
    session.close()


def test_without_a_managesieve_port_there_is_no_hold_rule(server: Dovecot) -> None:
    box = ImapMailbox(server.host, server.imap_port, user="u", password="p", ssl="none")
    assert not box.supports_hold_rule
    with pytest.raises(NotImplementedError):
        box.set_hold_rule([])


def test_a_wrong_managesieve_password_is_an_auth_error(server: Dovecot) -> None:
    session = sieve.ManageSieve(
        server.host, server.sieve_port, starttls=False, timeout=10, where="test"
    )
    with pytest.raises(AuthError):
        session.open(server.new_user(), "wrong")


# TLS: implicit on 993's kind of port, STARTTLS on 143's and on ManageSieve


@pytest.fixture(scope="module")
def tls_server() -> Iterator[Dovecot]:
    with running(tls=True) as dovecot:
        yield dovecot


@pytest.mark.parametrize("mode", ["tls", "starttls"])
def test_tls_and_starttls_carry_the_session_and_the_rule(tls_server: Dovecot, mode: str) -> None:
    trusted = ssl.create_default_context(cafile=str(tls_server.cert))
    box = ImapMailbox(
        "127.0.0.1",
        tls_server.imaps_port if mode == "tls" else tls_server.imap_port,
        user=tls_server.new_user(),
        password=PASSWORD,
        ssl=mode,  # type: ignore[arg-type]
        timeout=10,
        sieve_port=tls_server.sieve_port,
        ssl_context=trusted,
    )
    box.deliver(Alert("k", "s", "t", T0))
    assert len(box.list_inbox(None)) == 1
    assert isinstance(box.conn.client().socket(), ssl.SSLSocket)
    box.set_hold_rule(["a@b.com"])  # over ManageSieve's STARTTLS
    box.set_hold_rule(None)
    box.close()


def test_an_untrusted_certificate_is_refused(tls_server: Dovecot) -> None:
    box = ImapMailbox("127.0.0.1", tls_server.imaps_port, user="rep@example.com", password=PASSWORD)
    with pytest.raises(BadRequest, match="certificate"):
        box.list_inbox(None)
