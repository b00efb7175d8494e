"""Logging for `serve` and friends: readable lines by default, JSON lines on request.

What goes into a log line is counts, times, account names and error messages (which
name files and accounts, never tokens). Event titles and mail subjects are logged at
debug level only; tokens, secrets and message bodies never are.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from worker.text import excerpt

LOGGER = logging.getLogger("firstblock")


# Defence in depth: the worker never logs a secret, but a client library at debug level
# would (requests-oauthlib logs whole token responses). Masked before any line is written.
SECRET_FIELDS = (
    "access_token|refresh_token|id_token|client_secret|client_assertion|assertion"
    "|code_verifier|device_code|code|token|password"
)
SECRETS = [
    (re.compile(r"(?i)\bBearer\s+[A-Za-z0-9._~+/=-]+"), "Bearer ***"),
    (
        re.compile(rf"(?i)([\"']?\b(?:{SECRET_FIELDS})[\"']?\s*[:=]\s*[\"']?)[^\"'\s,&}}]+"),
        r"\1***",
    ),
    (re.compile(r"\bya29\.[A-Za-z0-9._-]+"), "ya29.***"),  # Google access tokens
    (re.compile(r"\b1//[A-Za-z0-9._-]+"), "1//***"),  # Google refresh tokens
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "***jwt***"),
]


def redact(text: str) -> str:
    for pattern, replacement in SECRETS:
        text = pattern.sub(replacement, text)
    return text


class Redacting(logging.Filter):
    """Masks token-shaped values in a record's final text, and keeps it one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        # One line, bounded, no terminal escapes: messages may quote a user's file.
        clean = excerpt(redact(message), 2000)
        if clean != message:
            record.msg, record.args = clean, None
        return True


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="seconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("account", "event", "next_at", "why"):
            if hasattr(record, key):
                line[key] = getattr(record, key)
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(line, ensure_ascii=False)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever standard error is now (a test harness swaps it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def setup(fmt: str = "human", level: str = "info") -> None:
    """Configure the root logger once, to standard error."""
    handler = _Stderr()
    if fmt == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    handler.addFilter(Redacting())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    # Client libraries log request details at debug level: keep them at warnings.
    for name in (
        "googleapiclient",
        "google",
        "urllib3",
        "msal",
        "httplib2",
        "filelock",
        "oauthlib",
        "requests_oauthlib",
    ):
        logging.getLogger(name).setLevel(logging.WARNING)
