"""httplib2 connections that outlive a cycle, so a steady cycle reuses an open TLS
connection to Google instead of making a new one.

httplib2's `Http` is not safe across threads, so each is lent to one session at a
time and comes back when that session is gone (garbage, at the end of its cycle);
the next session, on whatever thread, takes it with its open connections. Nothing of
an account stays in it: credentials are added per request by the session's own
AuthorizedHttp around it.
"""

from __future__ import annotations

import threading
import weakref

import httplib2

IDLE = 64  # kept per timeout: serve's worker threads at most


class Lender:
    def __init__(self, idle: int = IDLE) -> None:
        self.idle = idle
        self._lock = threading.Lock()
        self._free: dict[float, list[httplib2.Http]] = {}

    def lend(self, owner: object, timeout: float) -> httplib2.Http:
        """An `Http` for `owner` alone, back here once `owner` is gone."""
        with self._lock:
            free = self._free.get(timeout)
            http = free.pop() if free else httplib2.Http(timeout=timeout)
        weakref.finalize(owner, self._back, http, timeout)
        return http

    def _back(self, http: httplib2.Http, timeout: float) -> None:
        with self._lock:
            free = self._free.setdefault(timeout, [])
            if len(free) < self.idle:
                free.append(http)
                return
        http.close()

    def idle_count(self) -> int:
        with self._lock:
            return sum(len(f) for f in self._free.values())


LENDER = Lender()
