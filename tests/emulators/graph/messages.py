"""Messages of a mailbox: storage, ids, moves and rendering.

Each message keeps one stable immutable id (its key) and a regular id that changes whenever it
moves, as Outlook's ids do. Responses show the immutable id only to requests that carry
`Prefer: IdType="ImmutableId"`; either id is accepted on input. A regular id that a move
retired answers 404 afterwards.
"""

from __future__ import annotations

import base64
import copy
from datetime import datetime
from typing import Any

from .odata import Query, ext_value, project
from .store import Ctx, Mailbox, State, etag
from .wire import GraphError, not_found
from .zones import iso_utc, parse_offset

MESSAGE = "microsoft.graph.message"
SERVER_OWNED = {
    "id",
    "changeKey",
    "createdDateTime",
    "lastModifiedDateTime",
    "parentFolderId",
    "bodyPreview",
    "hasAttachments",
    "webLink",
}


def address(name: str | None, addr: str) -> dict[str, Any]:
    return {"emailAddress": {"name": name or addr, "address": addr}}


def body_preview(body: Any) -> str:
    content = body.get("content") if isinstance(body, dict) else ""
    return " ".join((content or "").split())[:255]


APART = ("singleValueExtendedProperties", "attachments")  # stored apart from the message


def new_message(
    state: State, mb: Mailbox, folder_id: str, fields: dict[str, Any]
) -> dict[str, Any]:
    """Store a message in a folder; `fields` are Graph message properties."""
    key = state.ids.item("AAkALgAA")
    stamp = iso_utc(state.clock())
    msg: dict[str, Any] = {
        "categories": [],
        "receivedDateTime": stamp,
        "sentDateTime": stamp,
        "hasAttachments": False,
        "internetMessageId": f"<{state.ids.token(20)}@emulator.local>",
        "subject": "",
        "importance": "normal",
        "conversationId": state.ids.item("AAQkA"),
        "isDeliveryReceiptRequested": False,
        "isReadReceiptRequested": False,
        "isRead": False,
        "isDraft": False,
        "inferenceClassification": "focused",
        "body": {"contentType": "text", "content": ""},
        "toRecipients": [],
        "ccRecipients": [],
        "bccRecipients": [],
        "replyTo": [],
        "flag": {"flagStatus": "notFlagged"},
    }
    for name, value in fields.items():
        if name not in SERVER_OWNED and name not in APART:
            msg[name] = copy.deepcopy(value)
    # A navigation property: kept apart, returned only when asked for. hasAttachments
    # leaves inline ones out, as Graph documents.
    msg["_attachments"] = [
        {**copy.deepcopy(a), "id": state.ids.item("AAMkAGIatt"), "size": _size(a)}
        for a in fields.get("attachments") or ()
    ]
    msg["hasAttachments"] = any(not a.get("isInline") for a in msg["_attachments"])
    msg["bodyPreview"] = body_preview(msg.get("body"))
    msg["singleValueExtendedProperties"] = [
        {"id": p["id"], "value": p.get("value")}
        for p in fields.get("singleValueExtendedProperties") or []
    ]
    msg["_key"], msg["_folder"] = key, folder_id
    msg["_regularId"] = state.ids.item("AAMkAGI")
    state.touch(mb, msg, created=True)
    mb.messages[key] = msg
    mb.regular[msg["_regularId"]] = key
    return msg


def _size(attachment: dict[str, Any]) -> int:
    return len(base64.b64decode(str(attachment.get("contentBytes") or "")))


def find(mb: Mailbox, ref: str) -> dict[str, Any]:
    key = mb.message_key(ref)
    if key is None:
        raise not_found()
    return mb.messages[key]


def move(state: State, mb: Mailbox, msg: dict[str, Any], folder_id: str) -> None:
    """Move to a folder: Outlook copies the item and removes the original, so the regular id
    changes (the immutable id does not)."""
    if msg["_folder"] == folder_id:
        return
    previous = (msg["_folder"], msg["_regularId"])
    del mb.regular[msg["_regularId"]]
    msg["_regularId"] = state.ids.item("AAMkAGI")
    mb.regular[msg["_regularId"]] = msg["_key"]
    msg["_folder"] = folder_id
    state.touch(mb, msg, moved=previous)


def folder_of(mb: Mailbox, ref: str) -> str:
    folder_id = mb.folder_id(ref)
    if folder_id is None:
        raise not_found()
    return folder_id


def render(ctx: Ctx, msg: dict[str, Any], q: Query | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "@odata.etag": etag(msg),
        "id": msg["_key"] if ctx.prefer.immutable else msg["_regularId"],
    }
    for name, value in msg.items():
        if not name.startswith("_") and name != "singleValueExtendedProperties":
            out[name] = copy.deepcopy(value)
    out["parentFolderId"] = msg["_folder"]
    out = project(out, q.select if q else None)
    if q is not None and q.expand_ext:
        prop = ext_value(msg, q.expand_ext)
        if prop is not None:
            out["singleValueExtendedProperties"] = [{"id": prop["id"], "value": prop["value"]}]
    return out


def value_of(msg: dict[str, Any], name: str) -> Any:
    if name in ("receivedDateTime", "sentDateTime"):
        return parse_offset(msg[name]) if msg.get(name) else None
    return msg.get(name)


def received(msg: dict[str, Any]) -> datetime:
    value = value_of(msg, "receivedDateTime")
    assert isinstance(value, datetime)
    return value


def stored_copy(mb: Mailbox, msg: dict[str, Any]) -> dict[str, Any]:
    """What the message() helper shows: the immutable id and the folder's name."""
    out = {k: copy.deepcopy(v) for k, v in msg.items() if not k.startswith("_")}
    out["id"] = msg["_key"]
    out["regularId"] = msg["_regularId"]
    out["folder"] = mb.folder_label(msg["_folder"])
    out["parentFolderId"] = msg["_folder"]
    out["attachments"] = copy.deepcopy(msg.get("_attachments") or [])
    return out


def check_recipients(message: dict[str, Any]) -> list[str]:
    """The recipient addresses of a message to send; 400 if it has none."""
    found = []
    for field_name in ("toRecipients", "ccRecipients", "bccRecipients"):
        for recipient in message.get(field_name) or []:
            addr = ((recipient or {}).get("emailAddress") or {}).get("address")
            if not addr:
                raise GraphError(
                    400, "ErrorInvalidRecipients", "At least one recipient is not valid."
                )
            found.append(addr)
    if not found:
        raise GraphError(400, "ErrorInvalidRecipients", "At least one recipient is required.")
    return found
