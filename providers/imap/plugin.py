"""IMAP as the registry knows it: an account whose calendar is a local .ics file and
whose mail is on any IMAP server. (A CalDAV account takes an IMAP mailbox too:
`providers/caldav/plugin.py`, with the same flags.)"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from providers.base import (
    AccountSpec,
    CalendarProvider,
    Listener,
    MailProvider,
    Option,
    Provider,
)
from providers.local.plugin import LocalProvider
from worker.clock import Clock


def add_flag(group: argparse._ArgumentGroup, flag: str, **how: str) -> None:
    """Add `flag` unless another provider's group has it already."""
    with contextlib.suppress(argparse.ArgumentError):
        group.add_argument(flag, **how)  # type: ignore[arg-type]


def mailbox_flags(group: argparse._ArgumentGroup) -> list[str]:
    """The flags the CalDAV and IMAP providers share; their argparse dests."""
    add_flag(
        group, "--login", metavar="USER", help="CalDAV/IMAP: the user name (often the address)"
    )
    add_flag(
        group,
        "--password-file",
        metavar="FILE",
        help="CalDAV/IMAP: a file holding the app password (else asked at the terminal)",
    )
    add_flag(
        group,
        "--imap",
        metavar="URL",
        help="CalDAV/IMAP: the mail server, imaps://HOST[:PORT] (none: no mailbox)",
    )
    add_flag(
        group,
        "--sieve",
        metavar="PORT",
        help="CalDAV/IMAP: the ManageSieve port (default: 4190 if it answers; none)",
    )
    return ["login", "password_file", "imap", "sieve"]


def password_path(value: str | None) -> Path | None:
    return Path(value).expanduser() if value else None


class ImapProvider(Provider):
    name = "imap"
    connectable = True
    # The calendar is a local .ics file, taken as the local provider takes it.
    options: ClassVar[Mapping[str, Option]] = {"calendar": LocalProvider.options["calendar"]}

    def defaults(self, account: str, options: dict[str, Any], data_dir: Path) -> dict[str, Any]:
        return LocalProvider().defaults(account, options, data_dir)

    def where(self, options: Mapping[str, Any]) -> str:
        return LocalProvider().where(options)

    def open(self, spec: AccountSpec, clock: Clock) -> tuple[CalendarProvider, MailProvider | None]:
        from providers.imap.account import open_account

        return open_account(spec, clock)

    def connect_flags(self, parser: argparse.ArgumentParser) -> list[str]:
        return mailbox_flags(parser.add_argument_group("imap"))

    def connect(self, spec: AccountSpec, args: argparse.Namespace) -> str:
        from providers.imap.account import connect
        from providers.imap.password import read_password

        return connect(
            spec,
            url=args.imap or "",
            login=args.login or "",
            password=read_password(password_path(args.password_file), "the mailbox"),
            sieve_port=args.sieve or "",
        )

    def listen(self, spec: AccountSpec, wake: Callable[[str], None]) -> Listener | None:
        from providers.imap.account import document_of, listen

        document = document_of(spec)
        return listen(spec, document, wake) if document else None

    def forget(self, spec: AccountSpec) -> str:
        from providers.imap.account import forget

        return forget(spec)

    def connected(self, spec: AccountSpec) -> bool:
        from providers.imap.account import connected

        return connected(spec)
