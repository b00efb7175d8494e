"""CalDAV (Fastmail, iCloud, Nextcloud, Radicale, ...) as the registry knows it. An
account is one calendar collection, plus an IMAP mailbox when one is connected."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from providers.base import AccountSpec, CalendarProvider, Listener, MailProvider, Provider
from providers.imap.plugin import mailbox_flags, password_path
from worker.clock import Clock, SystemClock


class CalDAVProvider(Provider):
    name = "caldav"
    connectable = True

    def open(self, spec: AccountSpec, clock: Clock) -> tuple[CalendarProvider, MailProvider | None]:
        from providers.caldav.account import open_account

        return open_account(spec, clock)

    def connect_flags(self, parser: argparse.ArgumentParser) -> list[str]:
        group = parser.add_argument_group("caldav")
        group.add_argument(
            "--url", metavar="URL", help="CalDAV: the server, or the calendar's own address"
        )
        group.add_argument("--calendar", metavar="NAME", help="CalDAV: which calendar, by name")
        group.add_argument("--imap-login", metavar="USER", help="CalDAV: the mailbox's own login")
        group.add_argument(
            "--imap-password-file", metavar="FILE", help="CalDAV: the mailbox's own app password"
        )
        return ["url", "calendar", "imap_login", "imap_password_file", *mailbox_flags(group)]

    def connect(self, spec: AccountSpec, args: argparse.Namespace) -> str:
        from providers.caldav.account import connect
        from providers.imap.password import read_password

        password = read_password(password_path(args.password_file), "the account")
        own = password_path(args.imap_password_file)
        return connect(
            spec,
            url=args.url or "",
            login=args.login or "",
            password=password,
            calendar=args.calendar or "",
            imap=args.imap or "",
            imap_login=args.imap_login or "",
            imap_password=read_password(own, "the mailbox") if own else "",
            sieve_port=args.sieve or "",
            clock=SystemClock(),
        )

    def listen(self, spec: AccountSpec, wake: Callable[[str], None]) -> Listener | None:
        from providers.caldav.account import listen

        return listen(spec, wake)

    def forget(self, spec: AccountSpec) -> str:
        from providers.caldav.account import forget

        return forget(spec)

    def connected(self, spec: AccountSpec) -> bool:
        from providers.caldav.account import connected

        return connected(spec)
