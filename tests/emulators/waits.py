"""Who was told to wait, and who came back too early: shared by both emulators.

A Retry-After binds its client only once the answer carrying it is delivered. An answer
is a top-level request (a batch envelope with its parts, or one call); a Retry-After noted
while one is open waits for `close(delivered=...)`. An answer that was dropped, or held
back past the client's timeout (the "slow" fault), never reached the client, so its
Retry-After binds no one. A client is identified by its Authorization header.

A slow answer is held back after the work is done: the server did the work at once and
was slow to say so. Cycles in the tests are compressed in time, so work that landed
seconds later would land after the next cycle's read, which a real half-hour never
allows.

State only; the emulator's lock guards every method. The open answer is per thread, as
the server answers each connection on its own thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field


@dataclass
class _Answer:
    told: list[tuple[str, float]] = field(default_factory=list)
    late: bool = False
    delay: float = 0.0


class Waits:
    def __init__(self) -> None:
        self.deadlines: dict[str, float] = {}
        self.early_retries = 0
        self._open = threading.local()

    def arrival(self, client: str) -> None:
        if time.monotonic() < self.deadlines.get(client, 0.0):
            self.early_retries += 1

    def open(self) -> None:
        self._open.answer = _Answer()

    def late(self, seconds: float) -> None:
        """Hold the open answer back by seconds, past the client's timeout."""
        answer: _Answer | None = getattr(self._open, "answer", None)
        if answer is not None:
            answer.late = True
            answer.delay = max(answer.delay, seconds)

    def take_delay(self) -> float:
        """The hold-back of the open answer, for a caller that waits it out itself."""
        answer: _Answer | None = getattr(self._open, "answer", None)
        if answer is None:
            return 0.0
        delay, answer.delay = answer.delay, 0.0
        return delay

    def told(self, client: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        answer: _Answer | None = getattr(self._open, "answer", None)
        if answer is None:
            self._bind(client, deadline)
        else:
            answer.told.append((client, deadline))

    def close(self, *, delivered: bool) -> float:
        """Close the open answer; returns how long to hold it back before sending."""
        answer: _Answer | None = getattr(self._open, "answer", None)
        self._open.answer = None
        if answer is None:
            return 0.0
        if delivered and not answer.late:
            for client, deadline in answer.told:
                self._bind(client, deadline)
        return answer.delay

    def _bind(self, client: str, deadline: float) -> None:
        self.deadlines[client] = max(self.deadlines.get(client, 0.0), deadline)


@contextmanager
def answering(waits: Waits, lock: AbstractContextManager[object], client: str) -> Iterator[None]:
    """One answer to `client`, from its arrival to its delivery (or loss), held back
    as long as a "slow" fault asked; the emulator's `lock` guards `waits`."""
    with lock:
        waits.arrival(client)
        waits.open()
    delivered = False
    try:
        yield
        delivered = True
    finally:
        with lock:
            delay = waits.close(delivered=delivered)
    time.sleep(delay)  # outside the lock: a slow answer holds up no one else
