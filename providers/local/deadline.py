"""A time limit on a pure-Python loop that nothing else can interrupt.

dateutil scans an impossible rule (FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30) day by day up
to year 9999 without yielding once, whatever UNTIL or COUNT say. The only way to stop
such a loop from outside, in the thread that runs it, is an asynchronous exception
(PyThreadState_SetAsyncExc): one shared watchdog thread, started on first use, raises
`Expired` in a guarded thread whose time is up.

Why this and not a subprocess with rlimits: rules are checked statically first
(bounds.py), so most cycles use neither; when one is needed, a guard costs
microseconds where a process costs a start-up and a copy of the calendar, in every
cycle of that account. It is safe because what runs under a guard is small and ours:
a dateutil generator over a rule built for the occasion (no cache, no lock, naive
times, so no time zone code). An exception landing in library code that holds a lock
or fills a shared cache could leave it broken for every account; none runs here.
It works in any thread (serve's pool, Celery's thread pool), not under gevent or
eventlet, whose green threads share one thread id.

Races, and why no `Expired` escapes a guard:
- The watchdog checks and raises under a lock, and a guard disarms under the same
  lock: once disarmed, no new one is raised. One raised just before is still pending;
  it is delivered at the next check the interpreter makes, and the guard makes one
  (`_settle`, a call) where it catches it. (Clearing it with SetAsyncExc(id, NULL)
  instead leaves the interpreter's eval-breaker flag set on 3.11, which can hang it.)
- The watchdog raises again only while the guard has not caught one (an exception
  can be swallowed, e.g. by a finalizer that happened to run in the thread), and the
  guard marks it caught before it can be interrupted again.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
RETRY = 0.5  # seconds before raising again into a guard that has not reacted
# Budgets are in CPU seconds of the guarded thread, so that a busy machine (serve's
# threads all at work) does not stop a rule that would finish. Wall time stops it at
# ten times its budget anyway, should it starve; without a CPU clock (not Linux or
# BSD), the budget is wall time.
WALL = 10

_raise = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.py_object)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi)
)


class Expired(BaseException):
    """Raised into a guarded thread. Not an Exception: `except Exception` must not eat it."""


class _Guard:
    __slots__ = ("caught", "clock", "cpu", "ident", "next", "seconds", "wall")

    def __init__(self, seconds: float) -> None:
        self.ident = threading.get_ident()
        self.seconds = seconds
        self.clock = _cpu_clock(self.ident)
        self.cpu = time.clock_gettime(self.clock) if self.clock is not None else 0.0
        now = time.monotonic()
        self.wall = now + (seconds if self.clock is None else WALL * seconds)
        self.next = now  # not raised into before then
        self.caught = False

    def left(self, now: float) -> float:
        """Seconds until it is due, at the soonest: CPU time passes no faster than wall time."""
        if now < self.next:
            return self.next - now
        left = self.wall - now
        if self.clock is not None:
            with contextlib.suppress(OSError):
                left = min(left, self.seconds - (time.clock_gettime(self.clock) - self.cpu))
        return left


def _cpu_clock(ident: int) -> int | None:
    """The CPU-time clock of a thread, where the platform has one."""
    try:
        clock = time.pthread_getcpuclockid(ident)
        time.clock_gettime(clock)
    except (AttributeError, OSError):
        return None
    return clock


class _Watchdog:
    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._armed: set[_Guard] = set()
        self._thread: threading.Thread | None = None

    def arm(self, guard: _Guard) -> None:
        with self._lock:
            self._armed.add(guard)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="firstblock-deadline", daemon=True
                )
                self._thread.start()
            self._wake.notify()

    def disarm(self, guard: _Guard) -> None:
        with self._lock:
            self._armed.discard(guard)

    def _loop(self) -> None:
        with self._lock:
            while True:
                now = time.monotonic()
                waits = []
                for guard in self._armed:
                    if guard.caught:
                        continue
                    left = guard.left(now)
                    if left <= 0:
                        _raise(guard.ident, Expired)
                        guard.next = now + RETRY
                        left = RETRY
                    waits.append(left)
                self._wake.wait(max(min(waits), 0.001) if waits else None)


_DOG = _Watchdog()
# A forked child has no watchdog thread and may hold a copy of a taken lock.
os.register_at_fork(after_in_child=_DOG._reset)


def within(seconds: float, fn: Callable[[], T]) -> tuple[bool, T | None]:
    """(True, fn()) when fn returns within `seconds` of this thread's CPU time; (False,
    None) when it was stopped.

    Only for code that can be abandoned at any bytecode: see the module docstring.
    """
    guard = _Guard(seconds)
    finished = False
    result: T | None = None
    try:
        try:
            _DOG.arm(guard)
            result = fn()
            finished = True
        finally:
            _DOG.disarm(guard)
            _settle()
    except Expired:
        guard.caught = True  # first, before anything can be interrupted
        _DOG.disarm(guard)
        _settle()
    return finished, result


def _settle() -> None:
    """Nothing: calling it lets an exception raised before the disarm arrive here."""
