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
import os
import threading
from typing import Any

import requests
from requests.adapters import HTTPAdapter

# Connections kept per host: serve's worker threads at most (64), so none waits.
PER_HOST = 64

_lock = threading.Lock()
_shared: requests.Session | None = None

# What requests reads from the environment for a request: proxies and the CA bundle.
_PROXIES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
ENVIRONMENT = (
    *_PROXIES,
    *(name.upper() for name in _PROXIES),
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
)


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    def set_ok(self, cookie: http.cookiejar.Cookie, request: object) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: object) -> bool:
        return False


class _Session(requests.Session):
    """Reads the environment once per host and setting, not at every request: requests
    walks all of os.environ for proxies each time, a fifth of a steady cycle's CPU.
    A change to any of ENVIRONMENT is seen at the next request."""

    def __init__(self) -> None:
        super().__init__()
        self._settings: dict[tuple[Any, ...], dict[str, Any]] = {}

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> dict[str, Any]:
        host = str(url).split("/", 3)[:3]
        given = tuple(sorted(proxies.items())) if proxies else ()
        env = tuple(os.environ.get(name) for name in ENVIRONMENT)
        key = (*host, given, stream, verify, cert, env)
        found = self._settings.get(key)
        if found is None:
            found = super().merge_environment_settings(url, proxies, stream, verify, cert)
            if len(self._settings) > 256:  # hosts and settings are few; never grow
                self._settings.clear()
            self._settings[key] = found
        return {**found, "proxies": dict(found["proxies"])}


def shared() -> requests.Session:
    global _shared
    with _lock:
        if _shared is None:
            http = _Session()
            http.cookies.set_policy(_NoCookies())
            adapter = HTTPAdapter(pool_connections=8, pool_maxsize=PER_HOST)
            http.mount("https://", adapter)
            http.mount("http://", adapter)
            _shared = http
        return _shared
