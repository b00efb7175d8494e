"""Fault injection for Graph requests: scripted (fail_next) and random (inject).

Also counts `early_retries` (tests/emulators/waits.py): requests that arrive before a
Retry-After the client
was given has passed. Login endpoints never fail.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from tests.emulators.waits import Waits

from .identity import unauthenticated
from .wire import GraphError

KINDS = ("429", "503", "500", "502", "504", "slow", "drop", "concurrency", "401")
DEFAULT_RETRY_AFTER = 1.0
CONCURRENCY_MESSAGE = "Application is over its MailboxConcurrency limit."


@dataclass
class Scripted:
    kind: str
    count: int
    retry_after: float | None
    path_contains: str


@dataclass
class Fault:
    kind: str
    retry_after: float
    slow_seconds: float


def retry_after_header(seconds: float) -> str:
    # Graph sends whole seconds; a fractional value is a test convenience (so tests stay
    # fast), which a client parsing the header with float() handles.
    return str(int(seconds)) if seconds == math.floor(seconds) else f"{seconds:g}"


def throttled(retry_after: float) -> GraphError:
    return GraphError(
        429,
        "ApplicationThrottled",
        CONCURRENCY_MESSAGE,
        {"Retry-After": retry_after_header(retry_after)},
    )


def error_for(fault: Fault) -> GraphError:
    """The Graph-shaped error for a fault kind (not for "slow"/"drop")."""
    retry = {"Retry-After": retry_after_header(fault.retry_after)}
    kind = fault.kind
    if kind == "429":
        return GraphError(
            429,
            "TooManyRequests",
            "Too many requests. Retry after the time given in the Retry-After header.",
            retry,
        )
    if kind == "concurrency":
        return throttled(fault.retry_after)
    if kind == "503":
        return GraphError(
            503, "ServiceUnavailable", "The service is temporarily unavailable.", retry
        )
    if kind == "500":
        return GraphError(500, "generalException", "An unspecified error has occurred.")
    if kind == "502":
        return GraphError(502, "BadGateway", "The gateway received an invalid response.")
    if kind == "504":
        return GraphError(504, "GatewayTimeout", "The gateway did not receive a timely response.")
    if kind == "401":
        return unauthenticated("Access token has expired or is not yet valid.")
    raise ValueError(f"unknown fault kind {kind!r}")


class Faults:
    """State only; the emulator's lock guards every method."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.scripted: list[Scripted] = []
        self.rate = 0.0
        self.kinds: Sequence[str] = ()
        self.slow_seconds = 2.0
        self.retry_after = 0.5
        self.batch_parts = True
        self.waits = Waits()

    def fail_next(
        self, kind: str, count: int, retry_after: float | None, path_contains: str
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {KINDS}")
        self.scripted.append(Scripted(kind, count, retry_after, path_contains))

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
        self.slow_seconds, self.retry_after = slow_seconds, retry_after
        self.batch_parts = batch_parts

    def pick(self, path: str, *, part: bool, envelope: bool = False) -> Fault | None:
        """The fault for this request, if any; scripted faults come first, in FIFO order."""
        for entry in self.scripted:
            if entry.path_contains in path:
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

    def note_retry_after(self, client: str, error: GraphError) -> None:
        value = error.headers.get("Retry-After")
        if error.status in (429, 503) and value is not None:
            self.waits.told(client, float(value))
