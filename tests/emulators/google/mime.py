"""RFC 822 messages: build one for arrive(), and render stored bytes in Gmail's formats."""

from __future__ import annotations

import base64
import email
import email.policy
import re
from datetime import datetime
from email.message import EmailMessage, Message
from email.utils import format_datetime, getaddresses
from typing import Any

SNIPPET_CHARS = 200


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def decode_raw(text: str) -> bytes:
    """Gmail's `raw`: base64url; padding and the standard alphabet are tolerated."""
    cleaned = text.strip().replace("+", "-").replace("/", "_").rstrip("=")
    return base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))


def build(
    *, sender: str, to: str, subject: str, body: str, date: datetime, message_id: str
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = f"<{message_id}>"
    msg.set_content(body)
    return msg.as_bytes(policy=email.policy.SMTP)


def parse(raw: bytes) -> Message:
    return email.message_from_bytes(raw)


def header(msg: Message, name: str) -> str:
    return str(msg.get(name, "") or "")


def addresses(msg: Message, *names: str) -> str:
    """The addresses in these headers, lower case and space separated, for substring matches."""
    values = [header(msg, n) for n in names]
    return " ".join(addr.lower() for _, addr in getaddresses(values) if addr)


def headers(msg: Message) -> list[dict[str, str]]:
    return [{"name": k, "value": str(v)} for k, v in msg.items()]


def payload(msg: Message, part_id: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {
        "partId": part_id,
        "mimeType": msg.get_content_type(),
        "filename": msg.get_filename() or "",
        "headers": headers(msg),
    }
    if msg.is_multipart():
        out["body"] = {"size": 0}
        subparts = msg.get_payload()
        assert isinstance(subparts, list)
        prefix = f"{part_id}." if part_id else ""
        out["parts"] = [payload(sub, f"{prefix}{i}") for i, sub in enumerate(subparts)]
    else:
        data = msg.get_payload(decode=True)
        data = data if isinstance(data, bytes) else b""
        out["body"] = {"size": len(data), "data": b64url(data)} if data else {"size": 0}
    return out


def snippet(msg: Message) -> str:
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                text = data.decode(part.get_content_charset() or "utf-8", "replace")
                return re.sub(r"\s+", " ", text).strip()[:SNIPPET_CHARS]
    return ""
