"""An IMAP mailbox as an account keeps it: its server as a URL, the login, the app
password, and the ManageSieve port when the server offered one at connect.

`imaps://HOST[:PORT]` is TLS from the first byte (993); `imap://HOST[:PORT]` must
upgrade with STARTTLS (143); `imap+plain://` sends the password in the clear, so it
is refused anywhere but loopback (a local bridge, the tests' Dovecot).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from providers import credentials, memo
from providers.base import AccountSpec, CalendarProvider
from providers.errors import AuthError, BadRequest, ProviderError
from providers.imap import sieve
from providers.imap.connection import Security
from providers.imap.idle import CHECK, Idle
from providers.imap.mailbox import ImapMailbox
from providers.imap.password import drop, kept
from worker.clock import Clock

DOCUMENT = "imap"
SIEVE_PORT = 4190  # RFC 5804's
_SCHEMES: dict[str, tuple[Security, int]] = {
    "imaps": ("tls", 993),
    "imap": ("starttls", 143),
    "imap+plain": ("none", 143),
}


def parse(url: str) -> tuple[str, int, Security]:
    """(host, port, security) of an IMAP URL. Raises BadRequest saying what is wrong."""
    parts = urlsplit(url if "://" in url else f"imaps://{url}")
    try:
        security, port = _SCHEMES[parts.scheme.lower()]
        port = parts.port or port
    except (KeyError, ValueError):
        raise BadRequest(f"not an IMAP server address: {url!r} (imaps://HOST[:PORT])") from None
    if not parts.hostname or parts.username or parts.path not in ("", "/"):
        raise BadRequest(f"not an IMAP server address: {url!r} (imaps://HOST[:PORT])")
    return parts.hostname, port, security


def open_mailbox(spec: AccountSpec, document: dict[str, Any]) -> ImapMailbox:
    host, port, security = parse(str(document.get("url", "")))
    kept = memo.for_account(spec, "imap")
    sieve_port = document.get("sieve_port")
    return ImapMailbox(
        host,
        port,
        user=str(document.get("login", "")),
        password=str(document.get("password", "")),
        ssl=security,
        name=spec.name,
        sieve_port=int(sieve_port) if sieve_port else None,
        memo=kept.data,
        save=kept.save,
    )


def try_mailbox(
    spec: AccountSpec, url: str, login: str, password: str, *, sieve_port: str = ""
) -> dict[str, Any]:
    """Log in and read the inbox once; look for ManageSieve (`sieve_port`: a port,
    "none", or "" to try the standard one). Returns the document to keep.
    Raises AuthError, BadRequest, TransientError."""
    document: dict[str, Any] = {"url": url, "login": login, "password": password}
    mailbox = open_mailbox(spec, document)
    try:
        mailbox.list_inbox(None)
    finally:
        mailbox.close()
    if sieve_port != "none":
        port = _port(sieve_port) if sieve_port else SIEVE_PORT
        if _sieve_answers(mailbox, port, password, required=bool(sieve_port)):
            document["sieve_port"] = port
    return document


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise BadRequest(f"--sieve takes a port number or none, not {text!r}")
    return int(text)


def _sieve_answers(mailbox: ImapMailbox, port: int, password: str, *, required: bool) -> bool:
    """Whether ManageSieve at `port` on the IMAP host takes the login. Only a port
    asked for by name must answer: the standard one is merely tried."""
    conn = mailbox.conn
    session = sieve.ManageSieve(
        conn.host, port, starttls=conn.ssl != "none", timeout=10.0, where=conn.where
    )
    try:
        session.open(conn.user, password, conn.ssl_context)
    except ProviderError:
        if required:
            raise
        return False
    session.close()
    return True


def open_account(spec: AccountSpec, clock: Clock) -> tuple[CalendarProvider, ImapMailbox]:
    """An `imap` account: the local .ics calendar and the mailbox."""
    from providers.local.calendar import LocalCalendar

    document = kept(spec, DOCUMENT)
    path = Path(spec.options["calendar"])
    return LocalCalendar(path, name=spec.name, clock=clock), open_mailbox(spec, document)


def connect(spec: AccountSpec, *, url: str, login: str, password: str, sieve_port: str) -> str:
    """Try the mailbox, then keep it; return its address. Nothing is kept when the
    server refuses, so an earlier working connection stays."""
    login = login or spec.email
    if not url and "@" in login:
        from providers.caldav.services import services

        url = services(login, calendar=False)[1]
    if not url or not login:
        raise BadRequest("give --imap imaps://HOST and --login USER")
    document = try_mailbox(spec, url, login, password, sieve_port=sieve_port)
    credentials.store_for(spec).save(DOCUMENT, document)
    memo.forget(spec, "imap")
    return login if "@" in login else spec.email or login


def connected(spec: AccountSpec) -> bool:
    return credentials.store_for(spec).exists(DOCUMENT)


def forget(spec: AccountSpec) -> str:
    return drop(spec, DOCUMENT, ("imap",), "the mail provider's account settings")


def listen(spec: AccountSpec, document: dict[str, Any], wake: Callable[[str], None]) -> Idle:
    """An IDLE session on the account's inbox, calling `wake` on new mail."""
    from providers.imap.connection import Connection

    host, port, security = parse(str(document.get("url", "")))
    conn = Connection(
        host,
        port,
        ssl=security,
        user=str(document.get("login", "")),
        password=str(document.get("password", "")),
        timeout=CHECK + 30,  # longer than a wait in IDLE: silence there is normal
        where=f"{spec.name} (IDLE)",
    )
    return Idle(conn, wake).start()


def document_of(spec: AccountSpec) -> dict[str, Any] | None:
    """An `imap` account's kept mailbox, if connected."""
    try:
        return kept(spec, DOCUMENT)
    except AuthError:
        return None
