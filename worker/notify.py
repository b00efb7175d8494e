"""Alert delivery to a webhook: a JSON POST that Slack incoming webhooks accept.

The URL usually embeds a secret token, so it never appears in an error or a log:
not when the config is read (`problem`), not when a post fails ("webhook failed").
Retries go through the shared policy; a webhook that keeps failing raises one
ProviderError, which the caller reports without stopping the run.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from urllib.parse import urlsplit

from providers import retry
from providers.errors import BadRequest, RateLimited, TransientError
from worker.models import Alert

_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def problem(url: str) -> str:
    """What makes `url` unusable as a webhook, without quoting it; "" when usable."""
    if any(not 0x21 <= ord(ch) <= 0x7E for ch in url):
        return "it holds spaces, control or non-ASCII characters (percent-encode them)"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "its host or port is malformed"
    if parts.scheme not in ("https", "http"):
        return "it must start with https:// (or http://)"
    if parts.username is not None or parts.password is not None:
        return "a user name or password in the URL is not supported"
    host = parts.hostname or ""
    if not host:
        return "it has no host"
    if "[" in parts.netloc:
        try:
            ipaddress.IPv6Address(host.split("%")[0])
        except ValueError:
            return "its IPv6 host is malformed"
    elif not all(_LABEL.fullmatch(label) for label in host.rstrip(".").split(".")):
        return "its host name is malformed"
    if port == 0:
        return "its port must be between 1 and 65535"
    return ""


class Webhook:
    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        attempts: int = 3,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.attempts = attempts
        self.sleep = sleep

    def send(self, alert: Alert) -> None:
        """POST the alert. Raises RateLimited, TransientError or BadRequest."""
        body = json.dumps({"text": f"*{alert.subject}*\n{alert.text}"}).encode()
        retry.call(
            lambda: self._post(body), attempts=self.attempts, base=1.0, cap=30.0, sleep=self.sleep
        )

    def _post(self, body: bytes) -> None:
        try:
            request = urllib.request.Request(
                self.url, data=body, method="POST", headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 429:
                raise RateLimited(
                    "webhook failed: rate limited",
                    retry_after=retry.retry_after(dict(exc.headers.items())),
                ) from None
            if exc.code >= 500:
                raise TransientError(f"webhook failed: answered {exc.code}") from None
            raise BadRequest(f"webhook failed: answered {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = self._scrubbed(str(getattr(exc, "reason", exc)))
            raise TransientError(f"webhook failed: unreachable ({reason})") from None
        except (http.client.InvalidURL, ValueError):
            # urllib's own texts quote the URL.
            raise BadRequest("webhook failed: urllib cannot use its URL") from None
        except http.client.HTTPException as exc:
            raise TransientError(
                f"webhook failed: a broken answer ({type(exc).__name__})"
            ) from None

    def _scrubbed(self, text: str) -> str:
        parts = urlsplit(self.url)
        for secret in (self.url, parts.path, parts.query):
            if secret and secret != "/":
                text = text.replace(secret, "…")
        return text
