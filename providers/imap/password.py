"""App passwords for CalDAV and IMAP: read from a file, or asked at the terminal
(never from a flag, where the shell's history and `ps` would show it), then kept and
forgotten with the server and login they open. Imports no IMAP library: CalDAV
accounts without a mailbox use it too."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from providers import credentials, memo
from providers.base import AccountSpec
from providers.errors import AuthError, BadRequest


def read_password(path: Path | None, what: str, ask: Callable[[str], str] | None = None) -> str:
    """The app password: the first line of `path`, else asked at the terminal."""
    if path is not None:
        try:
            text = path.expanduser().read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BadRequest(f"cannot read the password file {path}: {exc}") from None
        # The first line as it is: spaces may be part of a password, line ends are not.
        password = text.splitlines()[0] if text else ""
        if not password:
            raise BadRequest(f"the password file {path} is empty")
        return password
    if ask is None and not sys.stdin.isatty():
        raise BadRequest(f"give --password-file: {what}'s app password is never read from flags")
    password = (ask or getpass.getpass)(f"{what} app password: ")
    if not password:
        raise BadRequest("no password given")
    return password


def kept(spec: AccountSpec, provider: str) -> dict[str, Any]:
    """What `connect PROVIDER` kept for the account (its server, login and app
    password). Raises AuthError saying how to connect it."""
    found = credentials.store_for(spec).load(provider)
    if not found or not found.get("url"):
        raise AuthError(
            f"account {spec.name} is not connected: run firstblock connect {provider} "
            f"--account {spec.name}"
        )
    return found


def drop(spec: AccountSpec, provider: str, memos: tuple[str, ...], where: str) -> str:
    """Delete what `connect PROVIDER` kept and the memos named; an app password
    cannot be revoked from here, so the note says `where` to."""
    store = credentials.store_for(spec)
    had = store.exists(provider)
    store.delete(provider)
    for name in memos:
        memo.forget(spec, name)
    return f"revoke its app password in {where}" if had else ""
