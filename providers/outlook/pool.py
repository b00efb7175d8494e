"""One HTTP session for every Outlook account of the process: its connection pools
outlive a cycle, so a steady cycle reuses an open TLS connection to Graph (and to
the sign-in endpoint) instead of making a new one, which was a third of its CPU.

Accounts share connections, never state: the session keeps no cookies (Microsoft's
sign-in sets some), and every request carries its own account's headers. urllib3's
pools are safe across threads; with cookies refused, nothing else in the session
changes after it is made.
"""

from __future__ import annotations

import http.cookiejar
import threading

import requests
from requests.adapters import HTTPAdapter

# Connections kept per host: serve's worker threads at most (64), so none waits.
PER_HOST = 64

_lock = threading.Lock()
_shared: requests.Session | None = None


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    def set_ok(self, cookie: http.cookiejar.Cookie, request: object) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: object) -> bool:
        return False


def shared() -> requests.Session:
    global _shared
    with _lock:
        if _shared is None:
            http = requests.Session()
            http.cookies.set_policy(_NoCookies())
            adapter = HTTPAdapter(pool_connections=8, pool_maxsize=PER_HOST)
            http.mount("https://", adapter)
            http.mount("http://", adapter)
            _shared = http
        return _shared
