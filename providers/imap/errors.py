"""The one place IMAP and ManageSieve failures become `providers.errors` (docs/design.md §2.2).

IMAP explains a refusal with a response code in brackets (RFC 5530): `[AUTHENTICATIONFAILED]`,
`[LIMIT]`, `[UNAVAILABLE]`, `[NONEXISTENT]`; ManageSieve uses the same words (RFC 5804).
A dropped connection, a `BYE`, a timeout or a refused connect is transient. Messages
carry the server's words, never what was sent: a LOGIN's arguments hold the password.
"""

from __future__ import annotations

import re
import socket
import ssl

from imapclient import exceptions as imap_errors

from providers.errors import (
    AuthError,
    BadRequest,
    DataError,
    NotFound,
    ProviderError,
    RateLimited,
    SyncStateExpired,
    TransientError,
)

_CODE = re.compile(r"\[([A-Z][A-Z0-9-]*)")
AUTH_CODES = frozenset(
    {"AUTHENTICATIONFAILED", "AUTHORIZATIONFAILED", "EXPIRED", "PRIVACYREQUIRED"}
)
SLOW_CODES = frozenset({"LIMIT", "INUSE"})  # the server asks for fewer or later commands
BUSY_CODES = frozenset({"UNAVAILABLE", "SERVERBUG", "TRYLATER"})
GONE_CODES = frozenset({"NONEXISTENT", "TRYCREATE"})
FULL_CODES = frozenset({"OVERQUOTA", "QUOTA"})


def code_of(text: str) -> str:
    """The response code a server's answer starts with ("" when none)."""
    match = _CODE.search(text[:200])
    return match.group(1) if match else ""


def _words(exc: BaseException) -> str:
    text = str(exc).replace("\r", " ").replace("\n", " ")
    quoted = re.fullmatch(r"b(['\"])(.*)\1", text)  # imaplib hands some answers as repr(bytes)
    return (quoted.group(2) if quoted else text)[:200]


def from_answer(text: str, *, where: str, login: bool = False) -> ProviderError:
    """A NO or BAD answer (its text, with any response code) as our error. `login`:
    the answer refused a login, so without a code it is an authentication failure."""
    code = code_of(text)
    words = f"server said: {text[:200]}"
    if code in AUTH_CODES or (login and not code):
        return AuthError(words, where=where, reason=code)
    if code in SLOW_CODES:
        return RateLimited(words, where=where, reason=code)
    if code in BUSY_CODES:
        return TransientError(words, where=where, reason=code)
    if code in GONE_CODES:
        return NotFound(words, where=where, reason=code)
    if code in FULL_CODES:
        return DataError(words, where=where, reason=code)
    return BadRequest(words, where=where, reason=code)


def translate(exc: BaseException, *, where: str) -> ProviderError:
    """Any failure of a command (or of connecting) as our error, to raise `from exc`."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, imap_errors.IMAPClientAbortError):
        # A BYE or a connection that broke mid-answer: the session is gone.
        return TransientError(f"connection lost: {_words(exc)}", where=where)
    if isinstance(exc, imap_errors.LoginError):
        return from_answer(_words(exc), where=where, login=True)
    if isinstance(exc, imap_errors.IMAPClientReadOnlyError):
        return BadRequest(f"folder is read-only: {_words(exc)}", where=where)
    if isinstance(exc, imap_errors.IMAPClientError):
        return from_answer(_words(exc), where=where)
    if isinstance(exc, socket.timeout | TimeoutError):
        return TransientError("timed out", where=where)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return BadRequest(f"TLS certificate refused: {exc.verify_message}", where=where)
    if isinstance(exc, OSError | EOFError):
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        return TransientError(f"connection failed: {reason}", where=where)
    return TransientError(f"unexpected failure: {type(exc).__name__}", where=where)


def connection_lost(error: ProviderError) -> bool:
    """Whether the session is gone and one reconnect may help."""
    return isinstance(error, TransientError) and not error.reason


def uidvalidity_changed(folder: str, *, where: str) -> SyncStateExpired:
    """UIDs found earlier no longer name the same messages (RFC 3501 §2.3.1.1)."""
    return SyncStateExpired(f"UIDVALIDITY of {folder!r} changed; list again", where=where)
