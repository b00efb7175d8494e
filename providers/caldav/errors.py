"""The one place a CalDAV server's answers and network failures become `providers.errors`.

The status alone is not always enough: RFC 6578 answers an expired sync token with
403 or 409 and a DAV:valid-sync-token precondition in the body, and that 403 is not
an authorisation failure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

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

# The precondition or postcondition a DAV:error body names (RFC 4918 §16), e.g.
# <D:error><D:valid-sync-token/></D:error> or <C:no-uid-conflict>.
_CONDITION = re.compile(rb"<(?:[\w-]+:)?error\b[^>]*>\s*<(?:[\w-]+:)?([\w-]+)")


def condition(body: bytes) -> str:
    """The name of the first element inside a DAV:error body, or ""."""
    found = _CONDITION.search(body[:4096])
    return found.group(1).decode("ascii", "replace") if found else ""


def from_status(
    status: int, headers: Mapping[str, str], body: bytes, *, where: str, now: datetime
) -> ProviderError:
    reason = condition(body)
    text = f"the CalDAV server answered {status}" + (f" ({reason})" if reason else "")

    def kept(cls: type[ProviderError]) -> ProviderError:
        return cls(text, where=where, status=status, reason=reason)

    if status in (403, 409) and reason == "valid-sync-token":
        return kept(SyncStateExpired)
    if status in (401, 403):
        return kept(AuthError)
    wait = retry.retry_after(headers, now)
    if status == 429 or (status == 503 and wait is not None):
        return RateLimited(text, where=where, retry_after=wait, status=status, reason=reason)
    if status in (404, 410):
        return kept(NotFound)
    if status in (409, 412):  # 409: a UID used by another resource (RFC 4791 §5.3.2.1)
        return kept(Conflict)
    if status >= 500 or status == 408:
        return kept(TransientError)
    if 300 <= status < 400:  # redirects are not followed: the URL should name the collection
        moved = next((v for k, v in headers.items() if k.lower() == "location"), "")
        text += f"; it moved to {moved}" if moved else ""
    return kept(BadRequest)


def translate(exc: BaseException, *, where: str) -> ProviderError:
    """A failure to get an answer at all, as one of ours; anything else is re-raised."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, urllib3.exceptions.LocationParseError):
        return BadRequest("not a usable calendar URL", where=where)
    if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
        # The exception's text names the host and port, never a header.
        return TransientError(f"network: {type(exc).__name__}", where=where)
    raise exc
