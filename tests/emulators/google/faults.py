"""Fault injection for API requests: scripted (fail_next) and random (inject).

Also counts `early_retries` (tests/emulators/waits.py): requests that arrive before a
Retry-After the client
was given has passed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from tests.emulators.waits import Waits

from .oauth import unauthenticated
from .wire import ApiError

# "drop-after" does the work, then drops the connection: the reply is lost.
KINDS = (
    "429",
    "403-rate",
    "403-user-rate",
    "403-quota",
    "500",
    "503",
    "slow",
    "drop",
    "drop-after",
    "401",
)
DEFAULT_RETRY_AFTER = 1.0


@dataclass
class Scripted:
    kind: str
    count: int
    retry_after: float | None
    path_contains: str
    method: str = ""  # "" for any


@dataclass
class Fault:
    kind: str
    retry_after: float
    slow_seconds: float


def retry_after_header(seconds: float) -> str:
    # Real servers send whole seconds; a fractional value is a test convenience (so tests can
    # stay fast), which a client parsing with float() handles.
    return str(int(seconds)) if seconds == math.floor(seconds) else f"{seconds:g}"


def error_for(fault: Fault, api: str) -> ApiError:
    """The Google-shaped error for a fault kind (not for "slow"/"drop")."""
    gmail = api == "gmail"
    retry = {"Retry-After": retry_after_header(fault.retry_after)}
    kind = fault.kind
    if kind == "429":
        return ApiError(
            429,
            "rateLimitExceeded",
            "Rate Limit Exceeded",
            domain="usageLimits",
            headers=retry,
            with_status=gmail,
        )
    if kind == "403-rate":
        return ApiError(
            403, "rateLimitExceeded", "Rate Limit Exceeded", domain="usageLimits", with_status=gmail
        )
    if kind == "403-user-rate":
        return ApiError(
            403,
            "userRateLimitExceeded",
            "User Rate Limit Exceeded",
            domain="usageLimits",
            with_status=gmail,
        )
    if kind == "403-quota":
        message = "Quota exceeded for quota metric" if gmail else "Calendar usage limits exceeded."
        return ApiError(403, "quotaExceeded", message, domain="usageLimits", with_status=gmail)
    if kind == "500":
        return ApiError(500, "backendError", "Backend Error", with_status=gmail)
    if kind == "503":
        return ApiError(
            503,
            "backendError",
            "The service is currently unavailable.",
            headers=retry,
            with_status=gmail,
        )
    if kind == "401":
        return unauthenticated()
    raise ValueError(f"unknown fault kind {kind!r}")


class Faults:
    """State only; the emulator's lock guards every method."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.scripted: list[Scripted] = []
        self.rate = 0.0
        self.kinds: Sequence[str] = ()
        self.slow_seconds = 2.0
        self.retry_after = DEFAULT_RETRY_AFTER
        self.batch_parts = True
        self.waits = Waits()

    def fail_next(
        self, kind: str, count: int, retry_after: float | None, path_contains: str, method: str = ""
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {KINDS}")
        self.scripted.append(Scripted(kind, count, retry_after, path_contains, method.upper()))

    def inject(
        self,
        rate: float,
        kinds: Sequence[str],
        slow_seconds: float,
        retry_after: float,
        batch_parts: bool,
    ) -> None:
        for kind in kinds:
            if kind not in KINDS:
                raise ValueError(f"unknown fault kind {kind!r}; known: {KINDS}")
        self.rate, self.kinds = rate, tuple(kinds)
        self.slow_seconds, self.retry_after, self.batch_parts = (
            slow_seconds,
            retry_after,
            batch_parts,
        )

    def pick(
        self, path: str, *, part: bool, envelope: bool = False, method: str = ""
    ) -> Fault | None:
        """The fault for this request, if any; scripted faults come first, in FIFO order."""
        for entry in self.scripted:
            if entry.path_contains in path and entry.method in ("", method):
                entry.count -= 1
                if entry.count <= 0:
                    self.scripted.remove(entry)
                retry = entry.retry_after if entry.retry_after is not None else DEFAULT_RETRY_AFTER
                return Fault(entry.kind, retry, self.slow_seconds)
        # Random faults hit either the batch parts or the envelope, never both.
        eligible = (part and self.batch_parts) or (envelope and not self.batch_parts)
        eligible = eligible or (not part and not envelope)
        if self.rate > 0 and self.kinds and eligible and self.rng.random() < self.rate:
            return Fault(self.rng.choice(list(self.kinds)), self.retry_after, self.slow_seconds)
        return None

    @property
    def early_retries(self) -> int:
        return self.waits.early_retries

    def note_retry_after(self, client: str, error: ApiError) -> None:
        value = error.headers.get("Retry-After")
        if error.code in (429, 503) and value is not None:
            self.waits.told(client, float(value))
