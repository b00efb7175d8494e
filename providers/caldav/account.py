"""A CalDAV account: its calendar collection, and the IMAP mailbox beside it when one
was connected, each with a login and an app password.

What `connect caldav` learns is kept as one credentials document ("caldav"): the
collection's URL, the login, the password, and the mailbox's (`providers/imap/account.py`
reads that part). Passwords come from a file or a prompt (`providers/imap/password.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from providers import credentials, memo
from providers.base import AccountSpec, Listener, MailProvider
from providers.caldav import discover, services
from providers.caldav.calendar import CalDAVCalendar
from providers.errors import BadRequest
from providers.imap.password import drop, kept
from worker.clock import Clock

DOCUMENT = "caldav"


def open_account(spec: AccountSpec, clock: Clock) -> tuple[CalDAVCalendar, MailProvider | None]:
    document = kept(spec, DOCUMENT)
    remembered = memo.for_account(spec, "caldav")
    calendar = CalDAVCalendar(
        str(document["url"]),
        str(document.get("login", "")),
        str(document.get("password", "")),
        name=spec.name,
        clock=clock,
        memo=remembered.data,
        save=remembered.save,
    )
    mailbox = None
    if document.get("imap"):
        from providers.imap.account import open_mailbox

        mailbox = open_mailbox(spec, document["imap"])
    return calendar, mailbox


def connect(
    spec: AccountSpec,
    *,
    url: str,
    login: str,
    password: str,
    calendar: str = "",
    imap: str = "",
    imap_login: str = "",
    imap_password: str = "",
    sieve_port: str = "",
    clock: Clock,
    resolver: Any = None,
) -> str:
    """Find the calendar, try the mailbox, and keep both; return the account's address.

    Nothing is kept unless every part answered, so a failed connect leaves an earlier
    working one in place. Raises BadRequest, AuthError, NotFound, TransientError."""
    login = login or spec.email
    if not login:
        raise BadRequest("give --login: the user name (usually the email address)")
    if not url or not imap:
        address = login if "@" in login else spec.email
        found = services.services(address, resolver, calendar=not url, mail=not imap)
        url, imap = url or found[0], imap or found[1]
    if not url:
        raise BadRequest("give --url: the CalDAV server, or the calendar's own address")
    chosen = discover.choose(discover.calendars(url, login, password, clock=clock), calendar)
    document: dict[str, Any] = {"url": chosen.url, "login": login, "password": password}
    if imap and imap != "none":
        from providers.imap.account import try_mailbox

        document["imap"] = try_mailbox(spec, imap, imap_login or login, imap_password or password)
    credentials.store_for(spec).save(DOCUMENT, document)
    # A memo of another calendar or mailbox would mislead the first read.
    memo.forget(spec, "caldav")
    memo.forget(spec, "imap")
    return login if "@" in login else spec.email or login


def connected(spec: AccountSpec) -> bool:
    return credentials.store_for(spec).exists(DOCUMENT)


def forget(spec: AccountSpec) -> str:
    # The mailbox's memo too: it is kept as an `imap` account's is.
    return drop(spec, DOCUMENT, ("caldav", "imap"), "the provider's account settings")


def listen(spec: AccountSpec, wake: Callable[[str], None]) -> Listener | None:
    """IDLE on the account's IMAP mailbox, when it has one (the calendar has no
    such watch: CalDAV's push is not widely served)."""
    document = credentials.store_for(spec).load(DOCUMENT)
    if not document or not document.get("imap"):
        return None
    from providers.imap.account import listen as idle

    return idle(spec, document["imap"], wake)
