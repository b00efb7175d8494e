"""Request/response values shared by the emulator's modules, and Google-shaped errors."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# Google's canonical status names, used in the "status" member of v2-style errors.
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    410: "NOT_FOUND",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
}

REASON_PHRASES = {
    200: "OK",
    204: "No Content",
    302: "Found",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    410: "Gone",
    412: "Precondition Failed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
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


@dataclass
class Request:
    method: str
    path: str  # percent-encoded, as sent
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    batch_part: bool = False


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, obj: Any, headers: dict[str, str] | None = None) -> Response:
    if obj is None:
        return Response(status, b"", dict(headers or {}))
    hdrs = {"Content-Type": "application/json; charset=UTF-8", **(headers or {})}
    return Response(status, json.dumps(obj, indent=1).encode(), hdrs)


class Drop(Exception):
    """Raised to close the client's connection without any response."""


class ApiError(Exception):
    """A Google-shaped JSON error.

    `with_status` adds the v2 "status" member: Gmail (a One Platform API) sends it, Calendar's
    legacy error bodies do not.
    """

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        domain: str = "global",
        location: str | None = None,
        location_type: str | None = None,
        headers: dict[str, str] | None = None,
        with_status: bool = False,
        status: str | None = None,
    ) -> None:
        super().__init__(f"{code} {reason}: {message}")
        self.code = code
        self.reason = reason
        self.message = message
        self.domain = domain
        self.location = location
        self.location_type = location_type
        self.headers = headers or {}
        self.with_status = with_status or status is not None
        self.status = status

    def body(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "domain": self.domain,
            "reason": self.reason,
            "message": self.message,
        }
        if self.location is not None:
            item["location"] = self.location
        if self.location_type is not None:
            item["locationType"] = self.location_type
        err: dict[str, Any] = {"errors": [item], "code": self.code, "message": self.message}
        if self.with_status:
            err["status"] = self.status or STATUS_NAMES.get(self.code, "UNKNOWN")
        return {"error": err}

    def response(self) -> Response:
        return json_response(self.code, self.body(), self.headers)


def bad_param(name: str, message: str, reason: str = "invalid") -> ApiError:
    return ApiError(400, reason, message, location=name, location_type="parameter")


def not_found(message: str = "Not Found", *, with_status: bool = False) -> ApiError:
    return ApiError(404, "notFound", message, with_status=with_status)
