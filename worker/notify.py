"""Alert delivery to a webhook: a JSON POST that Slack incoming webhooks accept.

The URL usually embeds a secret token, so it never appears in an error or a log.
Retries go through the shared policy; a webhook that keeps failing raises one
ProviderError, which the caller reports without stopping the run.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from providers import retry
from providers.errors import BadRequest, RateLimited, TransientError
from worker.models import Alert


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
        request = urllib.request.Request(
            self.url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 429:
                raise RateLimited(
                    "webhook rate limited",
                    where="webhook",
                    retry_after=retry.retry_after(dict(exc.headers.items())),
                ) from None
            if exc.code >= 500:
                raise TransientError(f"webhook answered {exc.code}", where="webhook") from None
            raise BadRequest(f"webhook answered {exc.code}", where="webhook") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TransientError(f"webhook unreachable ({reason})", where="webhook") from None
