"""What this process counts, for `/metrics` (worker/web/metrics.py turns it into
Prometheus' families; worker/operations.py and the web app serve them).

Two kinds of figures come out of `/metrics`, and this module holds the first:

- **Counted in the process**, from its start, where the work happens: cycles by
  outcome (`firstblock_cycles_total`) and how long they took
  (`firstblock_cycle_seconds`), counted where cycles run (`serve`'s threads, a team
  worker's tasks); and the API requests its providers sent, by provider and status
  (`firstblock_api_requests_total`), in every process (the web app's pages read
  calendars too). Prometheus adds the processes up (`sum`).
- **Read from the state when scraped** (worker/web/metrics.py): accounts, those
  failing or needing a reconnect, held messages (as each account's last run left
  them), open gaps. Every process sharing the state says the same (`max`, not `sum`,
  across a team's pods).

Counting is plain Python under a lock, with no prometheus_client: `serve` counts on
an install without the web extra, and only serving `/metrics` needs it.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from providers import observe
from worker.errors import ReconnectNeeded

if TYPE_CHECKING:
    from worker.runner import AccountResult

OUTCOMES = ("ok", "error", "reconnect", "busy")
# Upper bounds of the cycle-duration buckets, in seconds (a steady cycle is well under
# a second; a first run of a big calendar, or retries after a 429, take longer).
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


def outcome(result: AccountResult) -> str:
    """ok, error, reconnect (its grant no longer works) or busy (another process had it)."""
    if result.busy:
        return "busy"
    if any(isinstance(e, ReconnectNeeded) for e in result.errors):
        return "reconnect"
    return "error" if result.errors else "ok"


@dataclass(frozen=True)
class Snapshot:
    cycles: dict[str, int]  # by outcome
    buckets: tuple[int, ...]  # cumulative counts, one per BUCKETS bound
    count: int  # cycles timed
    seconds: float  # their total time
    requests: dict[tuple[str, str], int]  # by (provider, status)


class Telemetry:
    """One process's counts. Thread-safe; every method is cheap."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cycles: Counter[str] = Counter()
        self._buckets = [0] * len(BUCKETS)
        self._count = 0
        self._seconds = 0.0
        self._requests: Counter[tuple[str, str]] = Counter()

    def cycle(self, result: AccountResult, seconds: float) -> None:
        """One cycle of `serve` or a team worker, and how long it took. A busy one
        (another process had the account) did nothing and is not timed."""
        kind = outcome(result)
        with self._lock:
            self._cycles[kind] += 1
            if kind != "busy":
                self._time(seconds)

    def failed(self, seconds: float) -> None:
        """A cycle that could not run at all (its state would not open, or a bug)."""
        with self._lock:
            self._cycles["error"] += 1
            self._time(seconds)

    def skipped(self) -> None:
        """A cycle not run because another process was working on the account."""
        with self._lock:
            self._cycles["busy"] += 1

    def _time(self, seconds: float) -> None:
        self._count += 1
        self._seconds += seconds
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                self._buckets[i] += 1

    def request(self, provider: str, status: str) -> None:
        with self._lock:
            self._requests[(provider, status)] += 1

    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot(
                {o: self._cycles[o] for o in OUTCOMES},
                tuple(self._buckets),
                self._count,
                self._seconds,
                dict(self._requests),
            )


TELEMETRY = Telemetry()  # this process's


def install() -> None:
    """Count every provider request of this process in TELEMETRY."""
    observe.install(TELEMETRY.request)
