"""Plain HTTP to one CalDAV collection, on urllib3.

Every request is built here, header by header (If-Match, If-None-Match, Depth), and
counted. Connections come from one pool manager for the whole process, so a steady
cycle reuses an open (TLS) connection instead of making a new one; accounts share
connections, never headers: each request carries its own Authorization. urllib3's
own retries and redirects are off: providers/retry.py is the one retry policy.

The password goes into the Authorization header once, at construction, and nowhere
else: not into repr, errors (their `where` is the collection URL, which may carry no
credentials) or logs (urllib3 logs the request line, never headers).
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from urllib.parse import urljoin

import urllib3

from providers import retry
from providers.caldav import errors
from providers.errors import BadRequest
from worker.clock import Clock

log = logging.getLogger(__name__)

# Connections kept per host: serve's worker threads at most, so none waits.
PER_HOST = 64
TIMEOUT = urllib3.Timeout(connect=10.0, read=60.0)

_lock = threading.Lock()
_shared: urllib3.PoolManager | None = None


def shared_pool() -> urllib3.PoolManager:
    global _shared
    with _lock:
        if _shared is None:
            _shared = urllib3.PoolManager(maxsize=PER_HOST, retries=False)
        return _shared


# Called before each request with (method, url, headers): tests count and inspect
# what goes out. The headers never include Authorization.
Observer = Callable[[str, str, Mapping[str, str]], None]


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]  # names in lower case
    body: bytes

    @property
    def etag(self) -> str:
        return self.headers.get("etag", "")


class Client:
    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        *,
        clock: Clock,
        pool: urllib3.PoolManager | None = None,
        timeout: urllib3.Timeout = TIMEOUT,
        observe: Observer | None = None,
        attempts: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        pacer: retry.Pacer | None = None,
    ) -> None:
        try:
            parsed = urllib3.util.parse_url(url)
        except urllib3.exceptions.LocationParseError:
            raise BadRequest("the calendar URL cannot be read") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise BadRequest("the calendar URL must be http:// or https://")
        if parsed.auth:
            # The URL is shown in errors: credentials in it would be shown too.
            raise BadRequest("the calendar URL carries a user or password; give them apart")
        self.url = url if url.endswith("/") else url + "/"
        self.username = username
        # UTF-8, as servers expect (RFC 7617 §2.1); urllib3's helper would fail, and
        # name a character of the password, on anything beyond Latin-1.
        self._authorization = (
            "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        )
        self.clock = clock
        self.pool = pool or shared_pool()
        self.timeout = timeout
        self.observe = observe
        self.attempts, self.sleep, self.pacer = attempts, sleep, pacer
        self.requests = 0  # sent, whatever became of them

    def __repr__(self) -> str:
        return f"Client({self.url!r}, user={self.username!r})"

    def send(
        self,
        method: str,
        href: str = "",
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        expect: Collection[int] = (200,),
    ) -> Response:
        """Send one request to `href` (relative to the collection); return the answer
        when its status is one of `expect`, else raise what it means. Retried under
        providers/retry.py when rate limited or transient: every request here is safe
        to repeat, since a write that landed before its answer was lost meets its own
        precondition (calendar.py tells its 412 apart, or re-plans on a Conflict)."""
        return retry.call(
            lambda: self._send(method, href, headers, body, expect),
            attempts=self.attempts,
            sleep=self.sleep,
            pacer=self.pacer,
        )

    def _send(
        self,
        method: str,
        href: str,
        headers: Mapping[str, str] | None,
        body: bytes | None,
        expect: Collection[int],
    ) -> Response:
        url = urljoin(self.url, href)
        sent = dict(headers or {})
        self.requests += 1
        if self.observe is not None:
            self.observe(method, url, dict(sent))
        sent["Authorization"] = self._authorization
        if body is not None and "Content-Type" not in sent:
            sent["Content-Type"] = "application/xml; charset=utf-8"
        try:
            answer = self.pool.request(
                method,
                url,
                body=body,
                headers=sent,
                retries=False,
                redirect=False,
                timeout=self.timeout,
            )
        except Exception as exc:
            raise errors.translate(exc, where=self.url) from exc
        response = Response(
            answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.data
        )
        log.debug("%s %s: %d", method, url, response.status)
        if response.status not in expect:
            raise errors.from_status(
                response.status,
                response.headers,
                response.body,
                where=self.url,
                now=self.clock.now(),
            )
        return response
