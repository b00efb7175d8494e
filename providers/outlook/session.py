"""One connected Microsoft 365 account: its token, its HTTP session, its Graph calls.

Every request goes through `call` or `batch`, so every one is retried by the shared
policy and every failure comes out as a `providers.errors` exception. Every request
asks for immutable ids, so a message keeps its id when it moves between folders.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import orjson
import requests

from providers import observe, quota, retry
from providers.errors import AuthError, ProviderError, RateLimited, TransientError
from providers.memo import Memo
from providers.outlook import pool
from providers.outlook.auth import GRAPH_ROOT, Grant
from providers.outlook.errors import from_status, translate

BATCH_LIMIT = 20  # Graph's documented maximum per $batch
LANES = 4  # Outlook's limit of concurrent requests per mailbox
PREFER = 'IdType="ImmutableId", outlook.timezone="UTC", outlook.body-content-type="text"'


@dataclass
class Options:
    name: str
    api_root: str = ""  # "" for Graph's global cloud; a national cloud or proxy otherwise
    timeout: float = 30.0
    attempts: int = 4
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    # Pacing after a Retry-After; tests pass a clock that their fake sleep advances.
    monotonic: Callable[[], float] = field(default=time.monotonic, repr=False)
    quota: str = ""  # the tenant's shared request budget (providers/quota.py)


@dataclass(frozen=True)
class Call:
    """One Graph request, for `call` or as one part of a `$batch`."""

    method: str
    path: str  # relative to the version root, e.g. "me/events"; or an absolute nextLink
    params: Mapping[str, str] | None = None
    body: Any = None
    etag: str = ""
    prefer: str = ""  # added to the Prefer header, e.g. odata.maxpagesize=200
    idempotent: bool = True  # False: sent once; a lost answer must not make it happen twice
    cost: int = 1  # against the tenant's shared budget: a $batch costs one per part


class Session:
    def __init__(
        self, options: Options, grant: Grant, memo: Memo, http: requests.Session | None = None
    ) -> None:
        self.options = options
        self.grant = grant
        self.memo = memo
        self.transport = pool.transport(http)
        self.root = (options.api_root or GRAPH_ROOT) + "v1.0/"
        self.user = f"users/{grant.email}" if grant.app_only else "me"
        self.where = f"outlook:{options.name}"
        self.pacer = retry.Pacer(options.sleep, options.monotonic)

    @property
    def email(self) -> str:
        return self.grant.email

    def _headers(self, c: Call, *, force: bool = False) -> dict[str, str]:
        try:
            token = self.grant.token(force)
        except ProviderError as exc:
            exc.where = exc.where or self.where
            raise
        headers = {"Authorization": f"Bearer {token}", "Prefer": _prefer(c)}
        if c.etag:
            headers["If-Match"] = c.etag
        return headers

    def call(self, c: Call) -> Any:
        """One request with retries; the parsed answer (None when it has no body)."""

        def once() -> Any:
            refreshed = False
            while True:
                url = c.path if c.path.startswith("https://") else self.root + c.path
                quota.take(self.options.quota, c.cost)
                try:
                    response = self.transport.request(
                        c.method,
                        _with_query(url, c.params),
                        body=None if c.body is None else orjson.dumps(c.body),
                        headers=self._headers(c, force=refreshed),
                        timeout=self.options.timeout,
                    )
                except Exception as exc:
                    observe.answered("outlook", None)
                    raise translate(exc, where=self.where) from None
                observe.answered("outlook", response.status)
                if response.status == 401 and not refreshed:
                    refreshed = True  # an access token revoked early: refresh once
                    continue
                if response.status >= 400:
                    raise from_status(
                        response.status,
                        response.content,
                        response.headers,
                        where=self.where,
                    )
                if not response.content:
                    return None
                try:
                    return orjson.loads(response.content)  # faster than requests' json
                except ValueError:  # not JSON: a proxy's or captive portal's page
                    raise TransientError("unreadable answer (not JSON)", where=self.where) from None

        attempts = self.options.attempts if c.idempotent else 1
        return retry.call(once, attempts=attempts, sleep=self.options.sleep, pacer=self.pacer)

    def object(self, c: Call) -> dict[str, Any]:
        """`call`, for an answer that must be a JSON object."""
        answer = self.call(c)
        if not isinstance(answer, dict):
            raise TransientError("unreadable answer (not a JSON object)", where=self.where)
        return answer

    def pages(self, c: Call) -> list[dict[str, Any]]:
        """Every item of a collection, following @odata.nextLink."""
        items: list[dict[str, Any]] = []
        answer = self.object(c)
        while True:
            items += [i for i in answer.get("value") or () if isinstance(i, dict)]
            link = answer.get("@odata.nextLink")
            if not link:
                return items
            answer = self.object(Call("GET", str(link)))

    def batch(self, calls: Sequence[Call]) -> list[Any]:
        """Send `calls` in `$batch` requests of up to 20; one result per call, in order:
        the parsed answer, or the ProviderError it failed with. Parts that hit a rate
        limit or a server error are sent again (only those), under the policy."""
        return retry.batched(
            len(calls),
            BATCH_LIMIT,
            lambda chunk, results: self._send(calls, chunk, results),
            where=self.where,
            attempts=self.options.attempts,
            sleep=self.options.sleep,
            pacer=self.pacer,
        )

    def _send(self, calls: Sequence[Call], chunk: list[int], results: list[Any]) -> list[int]:
        parts = []
        for k, i in enumerate(chunk):
            c = calls[i]
            url = "/" + c.path + (_query(c.params) if c.params else "")
            part: dict[str, Any] = {"id": str(i), "method": c.method, "url": url}
            headers = {"Prefer": _prefer(c)} | ({"If-Match": c.etag} if c.etag else {})
            if c.body is not None:
                part["body"] = c.body
                headers["Content-Type"] = "application/json"
            part["headers"] = headers
            if k >= LANES:
                # Four lanes: Outlook takes at most four requests at once per mailbox.
                part["dependsOn"] = [str(chunk[k - LANES])]
            parts.append(part)
        answer = self.object(Call("POST", "$batch", body={"requests": parts}, cost=len(parts)))
        again: list[int] = []
        for item in answer.get("responses") or ():
            try:
                i = int(item["id"])
                if i not in chunk:
                    continue
            except (KeyError, TypeError, ValueError):
                continue  # not ours to read: its part counts as unanswered below
            status = int(item.get("status", 500))
            if status < 400:
                results[i] = item.get("body")
                continue
            error = from_status(
                status, item.get("body"), item.get("headers") or {}, where=self.where
            )
            if isinstance(error, AuthError):
                raise error
            results[i] = error
            if isinstance(error, RateLimited | TransientError):
                again.append(i)
        for i in chunk:  # a part with no answer at all
            if results[i] is None and i not in again and str(i) not in _ids(answer):
                results[i] = TransientError("no answer in the batch", where=self.where)
                again.append(i)
        return again


def _prefer(c: Call) -> str:
    return f"{PREFER}, {c.prefer}" if c.prefer else PREFER


def _ids(answer: Any) -> set[str]:
    items = (answer or {}).get("responses") or ()
    return {str(item.get("id")) for item in items if isinstance(item, dict)}


def _with_query(url: str, params: Mapping[str, str] | None) -> str:
    """`url` with a request's own query, encoded as requests did (spaces as "+")."""
    if not params:
        return url
    return url + ("&" if "?" in url else "?") + urlencode(params, doseq=True)


def _query(params: Mapping[str, str]) -> str:
    return "?" + urlencode(params, safe="$(),'/:", quote_via=quote)
