"""httplib2 connections that outlive a cycle, so a steady cycle reuses an open TLS
connection to Google instead of making a new one.

httplib2's `Http` is not safe across threads, so each is lent to one session at a
time and comes back when that session is gone (garbage, at the end of its cycle);
the next session, on whatever thread, takes it with its open connections. Nothing of
an account stays in it: credentials are added per request by the session's own
AuthorizedHttp around it.
"""

from __future__ import annotations

import weakref
from collections import deque

import httplib2

IDLE = 64  # kept per timeout: serve's worker threads at most


class Lender:
    """Takes no lock: an `Http` comes back from a weakref callback, which the garbage
    collector runs at any allocation on any thread, lend's own included. A lock held
    there would be taken again by the same thread and never released (it hung CI's
    chaos test). A deque's append and pop are single C steps that allocate nothing
    the collector tracks, so a callback can never land inside one. The last `Http`
    back is the next lent: its connection is the likeliest still open."""

    def __init__(self, idle: int = IDLE) -> None:
        self.idle = idle
        self._free: dict[float, deque[httplib2.Http]] = {}

    def lend(self, owner: object, timeout: float) -> httplib2.Http:
        """An `Http` for `owner` alone, back here once `owner` is gone."""
        try:
            http = self._idle(timeout).pop()
        except IndexError:
            http = httplib2.Http(timeout=timeout)
        weakref.finalize(owner, self._back, http, timeout)
        return http

    def _back(self, http: httplib2.Http, timeout: float) -> None:
        free = self._idle(timeout)
        if len(free) < self.idle:  # two at once may both fit: the cap is a soft one
            free.append(http)
        else:
            http.close()

    def _idle(self, timeout: float) -> deque[httplib2.Http]:
        found = self._free.get(timeout)
        if found is None:  # setdefault is atomic: two threads end up with one deque
            found = self._free.setdefault(timeout, deque())
        return found

    def idle_count(self) -> int:
        return sum(len(f) for f in list(self._free.values()))


LENDER = Lender()
