"""httplib2 connections that outlive a cycle, so a steady cycle reuses an open TLS
connection to Google instead of making a new one.

httplib2's `Http` is not safe across threads, so each is lent to one session at a
time and comes back when that session is gone (garbage, at the end of its cycle);
the next session, on whatever thread, takes it with its open connections. Nothing of
an account stays in it: credentials are added per request by the session's own
AuthorizedHttp around it.
"""

from __future__ import annotations

import queue
import weakref

import httplib2

IDLE = 64  # kept per timeout: serve's worker threads at most


class Lender:
    """Takes no lock: an `Http` comes back from a weakref callback, which the garbage
    collector runs at any allocation on any thread, lend's own included. A lock held
    there would be taken again by the same thread and never released (it hung CI's
    chaos test). SimpleQueue is documented as safe to put to from such callbacks."""

    def __init__(self, idle: int = IDLE) -> None:
        self.idle = idle
        self._free: dict[float, queue.SimpleQueue[httplib2.Http]] = {}

    def lend(self, owner: object, timeout: float) -> httplib2.Http:
        """An `Http` for `owner` alone, back here once `owner` is gone."""
        try:
            http = self._queue(timeout).get_nowait()
        except queue.Empty:
            http = httplib2.Http(timeout=timeout)
        weakref.finalize(owner, self._back, http, timeout)
        return http

    def _back(self, http: httplib2.Http, timeout: float) -> None:
        free = self._queue(timeout)
        if free.qsize() < self.idle:  # approximate under races: the cap is a soft one
            free.put(http)
        else:
            http.close()

    def _queue(self, timeout: float) -> queue.SimpleQueue[httplib2.Http]:
        found = self._free.get(timeout)
        if found is None:  # setdefault is atomic: two threads end up with one queue
            found = self._free.setdefault(timeout, queue.SimpleQueue())
        return found

    def idle_count(self) -> int:
        return sum(f.qsize() for f in list(self._free.values()))


LENDER = Lender()
