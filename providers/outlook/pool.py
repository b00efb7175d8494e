"""One HTTP session for every Outlook account of the process: its connection pools
outlive a cycle, so a steady cycle reuses an open TLS connection to Graph (and to
the sign-in endpoint) instead of making a new one, which was a third of its CPU.

Graph's own requests go through `Transport`, straight to urllib3 (which requests
sits on): requests' layers above it (preparing, cookies, hooks, adapters) were a
sixth of a steady cycle's CPU. It reads proxies and the CA bundle from the
environment exactly as requests does, through the session below; MSAL keeps the
session itself.

Accounts share connections, never state: the session keeps no cookies (Microsoft's
sign-in sets some), and every request carries its own account's headers. urllib3's
pools are safe across threads; with cookies refused, nothing else in the session
changes after it is made.
"""

from __future__ import annotations

import http.cookiejar
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.utils import DEFAULT_CA_BUNDLE_PATH, get_auth_from_url, select_proxy

# Connections kept per host: serve's worker threads at most (64), so none waits.
PER_HOST = 64

_lock = threading.Lock()
_shared: _Session | None = None
_transport: Transport | None = None

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
    return _session()


def _session() -> _Session:
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


def transport(http: requests.Session | None = None) -> Transport:
    """The transport for Graph requests over `http`'s settings: the process's own for
    the shared session (or none given), a new one for another (a test's)."""
    global _transport
    session = _session()
    if http is not None and http is not session:
        return Transport(http)
    with _lock:
        if _transport is None:
            _transport = Transport(session)
        return _transport


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]  # case-insensitive
    content: bytes


class Transport:
    """Requests to Graph over urllib3's pools, one pool manager per proxy and CA
    setting. Raises urllib3's exceptions (OSError's among them) for the session to
    map; follows no redirect (Graph's API answers none) and retries nothing (the
    retry policy is the session's)."""

    def __init__(self, session: requests.Session) -> None:
        self._session = session  # reads the environment as requests does (cached: _Session)
        self._managers: dict[tuple[str, object], urllib3.PoolManager] = {}
        self._lock = threading.Lock()

    def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None,
        headers: dict[str, str],
        timeout: float,
    ) -> Answer:
        found = self._session.merge_environment_settings(url, {}, False, None, None)
        proxy = select_proxy(url, found["proxies"]) or ""
        if proxy and "://" not in proxy:
            proxy = "http://" + proxy  # as requests reads a proxy given without a scheme
        manager = self._manager(proxy, found["verify"])
        headers = {**BASE_HEADERS, **headers}
        if body is not None:
            headers["Content-Type"] = "application/json"
        answer = manager.urlopen(
            method,
            url,
            body=body,
            headers=headers,
            retries=False,
            redirect=False,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
        )
        return Answer(answer.status, answer.headers, answer.data)

    def _manager(self, proxy: str, verify: object) -> urllib3.PoolManager:
        key = (proxy, verify)
        manager = self._managers.get(key)
        if manager is not None:
            return manager
        with self._lock:
            manager = self._managers.get(key)
            if manager is None:
                manager = self._managers[key] = _manager_for(proxy, verify)
            return manager


# What requests sends on every request, but Connection (urllib3 keeps connections alive).
BASE_HEADERS = {
    "User-Agent": "firstblock (python-urllib3)",
    "Accept-Encoding": "gzip, deflate",
    "Accept": "*/*",
}


def _manager_for(proxy: str, verify: object) -> urllib3.PoolManager:
    """As requests' adapter would set it up for this proxy and `verify`: True (the
    bundled CAs), False, or a CA file or folder (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE)."""
    options: dict[str, Any] = {"num_pools": 8, "maxsize": PER_HOST}
    if verify is False:
        options["cert_reqs"] = "CERT_NONE"
    else:
        bundle = verify if isinstance(verify, str) else DEFAULT_CA_BUNDLE_PATH
        options["cert_reqs"] = "CERT_REQUIRED"
        options["ca_cert_dir" if os.path.isdir(bundle) else "ca_certs"] = bundle
    if not proxy:
        return urllib3.PoolManager(**options)
    if not proxy.lower().startswith(("http://", "https://")):
        # requests needs an extra for SOCKS proxies, and so would this: say so plainly.
        raise urllib3.exceptions.ProxySchemeUnknown(proxy.split(":", 1)[0])
    user, password = get_auth_from_url(proxy)
    auth = urllib3.make_headers(proxy_basic_auth=f"{user}:{password}") if user else {}
    return urllib3.ProxyManager(proxy, proxy_headers=auth, **options)
