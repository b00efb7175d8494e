"""The one place Google's failures become `providers.errors` (docs/design.md §2.2).

Google explains an error in `error.errors[0].reason`; the status alone is not enough:
403 is a rate limit when the reason says so and a refusal otherwise.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from typing import Any

import httplib2
from google.auth import exceptions as auth_exceptions
from googleapiclient.errors import BatchError, HttpError

from providers import retry
from providers.errors import (
    AuthError,
    BadRequest,
    Conflict,
    NotFound,
    ProviderError,
    RateLimited,
    SyncStateExpired,
    TransientError,
)

RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"})
# A grant without a scope the worker needs: connecting again (and consenting) fixes it.
AUTH_REASONS = frozenset({"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"})


def reason_of(content: bytes) -> tuple[str, str]:
    """(reason, message) from a Google error body; ("", "") when it has none."""
    try:
        error = json.loads(content.decode("utf-8"))["error"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return "", ""
    if not isinstance(error, dict):
        return "", str(error)
    details = error.get("errors") or [{}]
    first: dict[str, Any] = details[0] if isinstance(details[0], dict) else {}
    return str(first.get("reason", "")), str(first.get("message") or error.get("message", ""))


def from_status(
    status: int, content: bytes, headers: dict[str, str], *, where: str
) -> ProviderError:
    reason, message = reason_of(content)
    text = f"Google answered {status}" + (f" {reason}" if reason else "")
    text += f": {message}" if message else ""

    def kept(cls: type[ProviderError]) -> ProviderError:
        return cls(text, where=where, status=status, reason=reason)

    if status == 401 or (status == 403 and reason in AUTH_REASONS):
        return kept(AuthError)
    if status == 429 or (status == 403 and reason in RATE_REASONS):
        return RateLimited(
            text, where=where, status=status, reason=reason, retry_after=retry.retry_after(headers)
        )
    if status == 403:
        return kept(BadRequest)
    if status == 404:
        return kept(NotFound)
    if status == 410 and reason in ("fullSyncRequired", "updatedMinTooLongAgo"):
        return kept(SyncStateExpired)
    if status == 410:
        return kept(NotFound)  # "deleted": gone already
    if status in (409, 412):
        return kept(Conflict)
    if status >= 500 or status == 408:
        retry_after = retry.retry_after(headers)
        if retry_after is not None:
            return RateLimited(
                text, where=where, status=status, reason=reason, retry_after=retry_after
            )
        return kept(TransientError)
    return kept(BadRequest)


def translate(exc: BaseException, *, where: str) -> ProviderError:
    """Any exception from the client libraries or the network, as one of ours."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, HttpError) and exc.resp is not None:
        headers = {k.lower(): str(v) for k, v in dict(exc.resp).items()}
        content = exc.content if isinstance(exc.content, bytes) else str(exc.content).encode()
        return from_status(exc.resp.status, content, headers, where=where)
    if isinstance(exc, auth_exceptions.RefreshError):
        if getattr(exc, "retryable", False):  # the token endpoint itself failed
            return TransientError(f"Google's sign-in is unavailable ({_short(exc)})", where=where)
        # invalid_grant: revoked, expired, or a password change. Never retried.
        return AuthError(f"Google refused the grant ({_short(exc)})", where=where)
    if isinstance(exc, auth_exceptions.TransportError):
        return TransientError(f"cannot reach Google's sign-in ({_short(exc)})", where=where)
    if isinstance(exc, auth_exceptions.GoogleAuthError):
        return AuthError(f"Google sign-in failed ({_short(exc)})", where=where)
    if isinstance(
        exc,
        socket.timeout
        | TimeoutError
        | ConnectionError
        | ssl.SSLError
        | httplib2.HttpLib2Error
        | http.client.HTTPException,
    ) or (isinstance(exc, OSError) and exc.errno is not None):
        return TransientError(f"network: {type(exc).__name__}: {exc}", where=where)
    if isinstance(exc, BatchError | ValueError):
        # A reply that is not what the API sends (cut short, a proxy's error page).
        return TransientError(f"unreadable answer ({type(exc).__name__})", where=where)
    raise exc


def _short(exc: BaseException) -> str:
    # RefreshError args are (message, response body): the message is enough, and the
    # body may echo request details.
    first = exc.args[0] if exc.args else type(exc).__name__
    return str(first)[:200]
