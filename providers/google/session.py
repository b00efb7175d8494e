"""One connected Google account: its credentials, its HTTP connection, its calls.

Every request goes through `call` or `batch`, so every one is retried by the shared
policy and every failure comes out as a `providers.errors` exception. httplib2 is not
thread-safe: a session holds one `Http` (lent, providers/google/pool.py) and must stay
on one thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import google_auth_httplib2
import httplib2
from google.auth.credentials import Credentials
from googleapiclient.http import BatchHttpRequest, HttpRequest

from providers import observe, quota, retry
from providers.errors import RateLimited, TransientError
from providers.google import apis, pool
from providers.google.errors import translate
from providers.memo import Memo

# httplib2 silently sends a request again when sending it fails, which would double the
# policy's retries: off. (It still resends once on a stale keep-alive connection.)
httplib2.RETRIES = 1

GOOGLE_ROOT = "https://www.googleapis.com/"
GMAIL_ROOT = "https://gmail.googleapis.com/"
CALENDAR_BATCH_LIMIT = 1000  # documented maximum per batch request
GMAIL_BATCH_LIMIT = 50  # Gmail allows 100 and recommends at most 50


@dataclass
class Options:
    """What the worker's config says about one Google account."""

    name: str
    email: str = ""
    api_root: str = ""  # "" for Google itself; a proxy or the test emulator otherwise
    timeout: float = 30.0
    focus_time: bool = True  # blocks as Focus Time events where the account has them
    auto_decline: str = "new"  # none | new | all: for kinds in `native_declines`
    native_declines: tuple[str, ...] = ()  # kinds whose Focus Time declines on its own
    decline_message: str = ""
    attempts: int = 4
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    # Pacing after a Retry-After; tests pass a clock that their fake sleep advances.
    monotonic: Callable[[], float] = field(default=time.monotonic, repr=False)
    quota: str = ""  # the project's shared request budget (providers/quota.py)


class Session:
    def __init__(
        self, options: Options, credentials: Credentials, memo: Memo, *, on_refresh: Any = None
    ) -> None:
        self.options = options
        self.credentials = credentials
        self.memo = memo
        self._on_refresh = on_refresh  # persists a refreshed access token
        self._token = getattr(credentials, "token", None)
        # Its connections come from the process's lender and go back when it is gone.
        raw = pool.LENDER.lend(self, options.timeout)
        self.http = google_auth_httplib2.AuthorizedHttp(credentials, http=raw)
        self.where = f"google:{options.name}"
        self.pacer = retry.Pacer(options.sleep, options.monotonic)

    # -- services

    @property
    def calendar(self) -> Any:
        root = self.options.api_root or GOOGLE_ROOT
        return apis.service("calendar", "v3", root + "calendar/v3/")

    @property
    def gmail(self) -> Any:
        return apis.service("gmail", "v1", self.options.api_root or GMAIL_ROOT)

    def batch_uri(self, api: str) -> str:
        if api == "calendar":
            return (self.options.api_root or GOOGLE_ROOT) + "batch/calendar/v3"
        return (self.options.api_root or GMAIL_ROOT) + "batch/gmail/v1"

    # -- calls

    def call(self, request: HttpRequest, *, etag: str = "", idempotent: bool = True) -> Any:
        """Execute one request, with retries when it is idempotent (a retry of a call
        whose answer was lost must not do it twice). Raises providers.errors."""
        request.http = self.http  # built on the process's shared objects (apis.py)
        if etag:
            request.headers["If-Match"] = etag

        def once() -> Any:
            quota.take(self.options.quota)
            statuses: list[int] = []  # the answer's status, for the process's counts

            def seen(response: Any) -> None:
                statuses.append(int(response.status))

            request.response_callbacks.append(seen)
            try:
                # googleapiclient's own retries stay off: the policy here is the only one.
                answer = request.execute(num_retries=0)
            except Exception as exc:
                raise translate(exc, where=self.where) from None
            finally:
                request.response_callbacks.remove(seen)
                observe.answered("google", statuses[-1] if statuses else None)
            if isinstance(answer, str) and answer.strip():  # not JSON: a proxy's page
                raise TransientError("unreadable answer (not JSON)", where=self.where)
            return answer

        try:
            attempts = self.options.attempts if idempotent else 1
            return retry.call(once, attempts=attempts, sleep=self.options.sleep, pacer=self.pacer)
        finally:
            self._persist_token()

    def batch(self, api: str, requests: Sequence[HttpRequest]) -> list[Any]:
        """Send `requests` in as few batch requests as allowed; one result per request,
        in order: the response, or the ProviderError it failed with. Parts that hit a
        rate limit or a server error are sent again (only those), under the policy."""
        limit = CALENDAR_BATCH_LIMIT if api == "calendar" else GMAIL_BATCH_LIMIT
        try:
            return retry.batched(
                len(requests),
                limit,
                lambda chunk, results: self._send_chunk(api, requests, chunk, results),
                where=self.where,
                attempts=self.options.attempts,
                sleep=self.options.sleep,
                pacer=self.pacer,
            )
        finally:
            self._persist_token()

    def _send_chunk(
        self, api: str, requests: Sequence[HttpRequest], chunk: list[int], results: list[Any]
    ) -> list[int]:
        """Send one batch; fill `results`; return the indexes worth sending again."""
        again: list[int] = []

        def done(request_id: str, response: Any, exception: BaseException | None) -> None:
            i = int(request_id)
            if exception is None:
                results[i] = response
                return
            error = translate(exception, where=self.where)
            results[i] = error
            if isinstance(error, RateLimited | TransientError):
                again.append(i)

        batch = BatchHttpRequest(callback=done, batch_uri=self.batch_uri(api))
        for i in chunk:
            requests[i].http = self.http  # each part's credentials come from it
            batch.add(requests[i], request_id=str(i))
        quota.take(self.options.quota, len(chunk))  # Google counts every part
        try:
            batch.execute(http=self.http)
        except Exception as exc:  # the envelope itself failed: no part was answered
            observe.answered("google", getattr(getattr(exc, "resp", None), "status", None))
            raise translate(exc, where=self.where) from None
        observe.answered("google", 200)  # the envelope's: each part has its own
        return again

    def _persist_token(self) -> None:
        token = getattr(self.credentials, "token", None)
        if token != self._token:
            self._token = token
            if self._on_refresh is not None:
                self._on_refresh(self.credentials)
