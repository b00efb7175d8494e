"""Request/response values shared by the emulator's modules, and Graph/AAD-shaped errors."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

REASON_PHRASES = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    410: "Gone",
    412: "Precondition Failed",
    424: "Failed Dependency",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass
class Logged:
    """One request as the emulator saw it; `status` is 0 while in flight or when dropped."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes
    status: int
    batch_part: bool
    headers: dict[str, str]
    at: float = field(default_factory=time.time)  # when it arrived (wall clock)


@dataclass
class Request:
    method: str
    path: str  # decoded path, e.g. "/v1.0/me/events"
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes
    batch_part: bool = False
    # When its headers arrived (wall clock), before the latency the emulator adds: a
    # batch's parts arrived with their envelope. None: when it is served.
    arrived: float | None = None


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, obj: Any, headers: dict[str, str] | None = None) -> Response:
    if obj is None:
        return Response(status, b"", dict(headers or {}))
    hdrs = {"Content-Type": "application/json; odata.metadata=minimal; charset=utf-8"}
    hdrs.update(headers or {})
    return Response(status, json.dumps(obj).encode(), hdrs)


class Drop(Exception):
    """Raised to close the client's connection without any response."""


class GraphError(Exception):
    """A Graph-shaped JSON error: {"error": {"code", "message", "innerError"}}."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def response(self, client_request_id: str | None = None) -> Response:
        request_id = str(uuid.uuid4())
        inner = {
            "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "request-id": request_id,
            "client-request-id": client_request_id or request_id,
        }
        body = {"error": {"code": self.code, "message": self.message, "innerError": inner}}
        headers = {"request-id": request_id, "client-request-id": inner["client-request-id"]}
        return json_response(self.status, body, {**headers, **self.headers})


def bad_request(message: str, code: str = "BadRequest") -> GraphError:
    return GraphError(400, code, message)


def not_found() -> GraphError:
    return GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")


def body_error(message: str) -> GraphError:
    return GraphError(400, "RequestBodyRead", message)


def access_denied(
    message: str = "Access is denied. Check credentials and try again.",
) -> GraphError:
    return GraphError(403, "ErrorAccessDenied", message)


class AadError(Exception):
    """An identity-platform error: {"error", "error_description": "AADSTS...", "error_codes"...}."""

    def __init__(self, status: int, error: str, aadsts: int, description: str) -> None:
        super().__init__(f"{error}: AADSTS{aadsts}: {description}")
        self.status = status
        self.error = error
        self.aadsts = aadsts
        self.description = description

    def response(self) -> Response:
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        body = {
            "error": self.error,
            "error_description": (
                f"AADSTS{self.aadsts}: {self.description} Trace ID: {trace} "
                f"Correlation ID: {correlation} Timestamp: {stamp}"
            ),
            "error_codes": [self.aadsts],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"https://login.microsoftonline.com/error?code={self.aadsts}",
        }
        return Response(
            self.status,
            json.dumps(body).encode(),
            {"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store"},
        )
