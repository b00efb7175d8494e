"""JSON batching: POST /v1.0/$batch {"requests": [{id, method, url, headers?, body?, dependsOn?}]}.

Items run one after another, in the order given (so `dependsOn` always sees its dependency's
result), each through the full pipeline (auth from the envelope, validation, faults) and
logged with batch_part=True. Because they run sequentially they count as one request towards
the mailbox concurrency limit. The envelope answers 200 with {"responses": [...]}, or 400 when
malformed or over 20 items.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .wire import GraphError, Request, Response, json_response

MAX_REQUESTS = 20
METHODS = {"GET", "POST", "PATCH", "PUT", "DELETE"}


def _bad(message: str) -> GraphError:
    return GraphError(400, "BadRequest", message)


def parse(req: Request) -> list[dict[str, Any]]:
    try:
        payload = json.loads(req.body or b"null")
    except ValueError:
        raise _bad("Invalid batch payload format.") from None
    items = payload.get("requests") if isinstance(payload, dict) else None
    if not isinstance(items, list) or not items:
        raise _bad("Invalid batch payload format.")
    if len(items) > MAX_REQUESTS:
        raise _bad(f"Number of batch requests exceeds the limit of {MAX_REQUESTS}.")
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, dict) or not all(k in item for k in ("id", "method", "url")):
            raise _bad("Each batch request needs an id, a method and a url.")
        item_id = str(item["id"])
        if item_id in seen:
            raise _bad(f"Batch request ids must be unique; '{item_id}' is repeated.")
        for dep in item.get("dependsOn") or []:
            if str(dep) not in seen:
                raise _bad(f"Request '{item_id}' depends on '{dep}', which is not an earlier id.")
        seen.add(item_id)
    return items


def _item_error(item_id: str, err: GraphError) -> dict[str, Any]:
    resp = err.response()
    return {
        "id": item_id,
        "status": resp.status,
        "headers": {"Content-Type": "application/json"},
        "body": json.loads(resp.body),
    }


def run(req: Request, serve: Callable[[Request], Response]) -> Response:
    """Answer a batch envelope; `serve` runs one part through the pipeline (raises Drop)."""
    items = parse(req)
    statuses: dict[str, int] = {}
    responses = []
    for item in items:
        item_id = str(item["id"])
        headers = {str(k).lower(): str(v) for k, v in (item.get("headers") or {}).items()}
        url = str(item["url"])
        failed = [str(d) for d in item.get("dependsOn") or [] if statuses[str(d)] >= 400]
        if failed:
            out = _item_error(
                item_id,
                GraphError(
                    424,
                    "FailedDependency",
                    f"The request was not executed because the request it depends on "
                    f"('{failed[0]}') failed.",
                ),
            )
        elif "body" in item and "content-type" not in headers:
            out = _item_error(
                item_id,
                _bad(f"Write request id : {item_id} does not contain Content-Type header or body."),
            )
        elif urlsplit(url).scheme or str(item["method"]).upper() not in METHODS:
            out = _item_error(item_id, _bad(f"Invalid request URL or method for id {item_id}."))
        else:
            out = _run_item(req, item, headers, serve)
        statuses[item_id] = out["status"]
        responses.append(out)
    return json_response(200, {"responses": responses})


def _run_item(
    envelope: Request,
    item: dict[str, Any],
    headers: dict[str, str],
    serve: Callable[[Request], Response],
) -> dict[str, Any]:
    url = urlsplit("/v1.0/" + str(item["url"]).lstrip("/"))
    if "authorization" in envelope.headers:
        headers.setdefault("authorization", envelope.headers["authorization"])
    body = item.get("body")
    raw = b"" if body is None else (body if isinstance(body, str) else json.dumps(body)).encode()
    part = Request(
        str(item["method"]).upper(),
        unquote(url.path),
        parse_qs(url.query, keep_blank_values=True),
        headers,
        raw,
        batch_part=True,
        arrived=envelope.arrived,
    )
    resp = serve(part)
    out: dict[str, Any] = {"id": str(item["id"]), "status": resp.status, "headers": resp.headers}
    if resp.body:
        try:
            out["body"] = json.loads(resp.body)
        except ValueError:
            out["body"] = resp.body.decode(errors="replace")
    return out
