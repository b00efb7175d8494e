"""Gmail's pushes, as Cloud Pub/Sub posts them to /push/gmail.

A push carries `Authorization: Bearer <OIDC token>` signed by Google for the push
subscription's service account, and a body whose `message.data` is base64 JSON with
the mailbox's `emailAddress` and `historyId`. The token is checked here, before any
account is looked up: Google's signature (keys from `certs_url`, kept an hour), the
issuer, the audience, the expiry, and the service account, since any Google service
account can mint a token for any audience.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from providers.errors import BadRequest
from providers.google.push import gmail_channel
from providers.push import Notice, Reading

ISSUERS = ("https://accounts.google.com", "accounts.google.com")
KEEP_KEYS = 3600.0  # seconds; Google rotates its keys over days

_lock = threading.Lock()
_keys: dict[str, tuple[float, Mapping[str, str]]] = {}


def _fetch(url: str) -> Mapping[str, str]:
    import requests

    answer = requests.get(url, timeout=10)
    answer.raise_for_status()
    found = answer.json()
    if not isinstance(found, dict):
        raise ValueError("not a map of key ids to certificates")
    return found


def keys(url: str, *, fetch: Callable[[str], Mapping[str, str]] = _fetch) -> Mapping[str, str]:
    with _lock:
        kept = _keys.get(url)
        if kept and time.monotonic() - kept[0] < KEEP_KEYS:
            return kept[1]
    found = fetch(url)
    with _lock:
        _keys[url] = (time.monotonic(), found)
    return found


def read(
    headers: Mapping[str, str],
    body: bytes,
    *,
    audience: str,
    service_account: str,
    certs_url: str,
) -> Reading:
    """The push's notice, proven. Raises BadRequest for a push that is no Gmail
    notification; PermissionError for one whose token does not hold."""
    from google.auth import exceptions, jwt

    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise PermissionError("no bearer token")
    try:
        claims: dict[str, Any] = jwt.decode(  # type: ignore[no-untyped-call]
            token, certs=keys(certs_url), audience=audience, clock_skew_in_seconds=10
        )
    except (exceptions.GoogleAuthError, ValueError) as exc:
        raise PermissionError(f"token refused: {str(exc)[:200]}") from None
    except OSError as exc:  # Google's keys out of reach: Pub/Sub will try again
        raise PermissionError(f"keys unavailable: {exc}") from None
    if claims.get("iss") not in ISSUERS:
        raise PermissionError("token not issued by Google")
    if claims.get("email") != service_account or claims.get("email_verified") is not True:
        raise PermissionError("token of another service account")
    try:
        data = json.loads(base64.b64decode(json.loads(body)["message"]["data"]))
        email = str(data["emailAddress"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BadRequest(f"not a Gmail notification ({type(exc).__name__})") from None
    return Reading((Notice(gmail_channel(email), "", "changed", verified=True),))
