"""App passwords for CalDAV and IMAP: from a file, or asked at the terminal. Never
from a flag, where the shell's history and `ps` would show it."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from pathlib import Path

from providers.errors import BadRequest


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
