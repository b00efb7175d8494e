"""The one error hierarchy every provider raises; the worker catches only these.

ProviderError
├── AuthError            grant missing, expired or revoked: reconnect the account
├── NotFound             the object is gone
├── Conflict             etag/precondition failed, or the id already exists
├── RateLimited          slow down; carries retry_after seconds when the server said
├── SyncStateExpired     an incremental cursor is no longer valid: list in full
├── TransientError       5xx, timeouts, connection resets: try again later
├── BadRequest           the request itself is wrong; retrying will not help
└── DataError            the calendar or mailbox holds data that cannot be read
"""

from __future__ import annotations


class ProviderError(Exception):
    """Base of every provider failure. `where` names the account, file or URL;
    `status` and `reason` keep the provider's own HTTP status and error reason."""

    def __init__(self, message: str, *, where: str = "", status: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.where = where
        self.status = status
        self.reason = reason

    def __str__(self) -> str:
        text = super().__str__()
        return f"{self.where}: {text}" if self.where else text


class AuthError(ProviderError):
    pass


class NotFound(ProviderError):
    pass


class Conflict(ProviderError):
    pass


class RateLimited(ProviderError):
    def __init__(
        self,
        message: str,
        *,
        where: str = "",
        retry_after: float | None = None,
        status: int = 0,
        reason: str = "",
    ) -> None:
        super().__init__(message, where=where, status=status, reason=reason)
        self.retry_after = retry_after


class SyncStateExpired(ProviderError):
    pass


class TransientError(ProviderError):
    pass


class BadRequest(ProviderError):
    pass


class DataError(ProviderError):
    pass
