"""multipart/mixed batch envelopes: split a request into parts, join the parts' responses.

The response shape is what googleapiclient's BatchHttpRequest parses: each part is
`application/http` with `Content-ID: <response-ID>` (ID being the request part's Content-ID
without its angle brackets), holding a status line, headers and a JSON body.
"""

from __future__ import annotations

import re
import secrets
from email.message import Message
from email.parser import BytesParser
from urllib.parse import parse_qs, urlsplit

from .wire import REASON_PHRASES, ApiError, Request, Response


def _bad(message: str) -> ApiError:
    return ApiError(400, "badRequest", message)


def _inner(raw: bytes) -> Request:
    gap = re.search(rb"\r?\n\r?\n", raw)
    head, body = (raw[: gap.start()], raw[gap.end() :]) if gap else (raw, b"")
    lines = head.decode("latin-1").splitlines()
    if not lines or len(lines[0].split(" ")) < 2:
        raise _bad("Failed to parse batch request: missing request line.")
    method, target = lines[0].split(" ")[:2]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = body[: int(headers["content-length"])]
    else:
        body = body.rstrip(b"\r\n")
    url = urlsplit(target)
    query = parse_qs(url.query, keep_blank_values=True)
    return Request(method.upper(), url.path, query, headers, body, batch_part=True)


def parse(req: Request) -> list[tuple[str, Request]]:
    ctype = req.headers.get("content-type", "")
    if not ctype.lower().startswith("multipart/"):
        raise _bad("Batch requests must be multipart/mixed.")
    envelope = BytesParser().parsebytes(f"Content-Type: {ctype}\r\n\r\n".encode() + req.body)
    parts = envelope.get_payload()
    if not envelope.is_multipart() or not isinstance(parts, list):
        raise _bad("Failed to parse batch request.")
    out = []
    for part in parts:
        assert isinstance(part, Message)
        raw = part.get_payload(decode=True)
        if not isinstance(raw, bytes):
            raise _bad("Failed to parse batch request part.")
        out.append((str(part.get("Content-ID", "")), _inner(raw)))
    return out


def join(results: list[tuple[str, Response]]) -> Response:
    boundary = "batch_" + secrets.token_hex(12)
    chunks = []
    for content_id, resp in results:
        rid = content_id.strip()
        rid = rid[1:-1] if rid.startswith("<") and rid.endswith(">") else rid
        chunks.append(
            f"--{boundary}\r\nContent-Type: application/http\r\n"
            f"Content-ID: <response-{rid}>\r\n\r\n".encode()
        )
        head = [f"HTTP/1.1 {resp.status} {REASON_PHRASES.get(resp.status, 'Unknown')}"]
        head += [f"{k}: {v}" for k, v in resp.headers.items()]
        # At least one header line, so the status line and the body stay separable.
        head.append(f"Content-Length: {len(resp.body)}")
        chunks.append(("\r\n".join(head) + "\r\n\r\n").encode() + resp.body + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return Response(
        200, b"".join(chunks), {"Content-Type": f"multipart/mixed; boundary={boundary}"}
    )
