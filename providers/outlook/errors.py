"""The one place Microsoft Graph's failures become `providers.errors` (docs/design.md §2.2).

Graph explains an error in `error.code`; the status alone is not enough (an expired
delta token can come back as 410 or as a 400 `syncStateNotFound`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import requests
import urllib3

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

SYNC_CODES = frozenset({"syncstatenotfound", "resyncrequired", "syncstateinvalid"})


def code_of(body: object) -> tuple[str, str]:
    """(code, message) from a Graph error body (bytes, text or parsed)."""
    try:
        data = json.loads(body) if isinstance(body, bytes | str) else body
        error = data["error"]  # type: ignore[index]
        return str(error.get("code", "")), str(error.get("message", ""))
    except (ValueError, KeyError, TypeError, AttributeError):
        return "", ""


def from_status(
    status: int, body: object, headers: Mapping[str, str], *, where: str
) -> ProviderError:
    code, message = code_of(body)
    text = f"Graph answered {status}" + (f" {code}" if code else "")
    text += f": {message[:200]}" if message else ""
    retry_after = retry.retry_after(headers)

    def kept(cls: type[ProviderError]) -> ProviderError:
        return cls(text, where=where, status=status, reason=code)

    if status in (401, 403):
        # Graph throttles with 429, never 403: a 403 is a missing permission, consent or
        # an administrator's access policy. Connecting again (or an admin) fixes it.
        return kept(AuthError)
    if status == 429 or (status == 503 and retry_after is not None):
        return RateLimited(text, where=where, retry_after=retry_after, status=status, reason=code)
    if status == 410 or code.lower() in SYNC_CODES:
        return kept(SyncStateExpired)
    if status == 404:
        return kept(NotFound)
    if status in (409, 412):
        return kept(Conflict)
    if status >= 500 or status in (408, 424):  # 424: a batched request it depended on failed
        return kept(TransientError)
    return kept(BadRequest)


def translate(exc: BaseException, *, where: str) -> ProviderError:
    """A transport failure (from urllib3 for Graph's requests, from requests for the
    sign-in's), as one of ours."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, requests.Timeout | requests.ConnectionError | OSError):
        return TransientError(f"network: {type(exc).__name__}", where=where)
    if isinstance(exc, urllib3.exceptions.TimeoutError | urllib3.exceptions.ProtocolError):
        return TransientError(f"network: {type(exc).__name__}", where=where)
    if isinstance(exc, requests.RequestException | urllib3.exceptions.HTTPError):
        return TransientError(f"network: {type(exc).__name__}: {exc}", where=where)
    raise exc
