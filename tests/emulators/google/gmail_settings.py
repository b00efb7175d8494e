"""Gmail labels and filters, and delivery of new mail through the filters (arrive())."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from . import mime
from .discovery import Call
from .gmail import Gmail, Reply, compile_or_400, entity_not_found, gmail_error
from .query import MessageView, compile_query

MAX_LABELS, MAX_FILTERS = 10_000, 1000
CRITERIA = ("from", "to", "subject", "query", "negatedQuery", "hasAttachment", "size")


def _conflict() -> Exception:
    message = "Label name exists or conflicts"
    return gmail_error(409, "failedPrecondition", message, status="FAILED_PRECONDITION")


def _check_name(gm: Gmail, name: Any, keep_id: str | None = None) -> str:
    if not isinstance(name, str) or not name.strip():
        raise gmail_error(400, "invalidArgument", "Invalid label name")
    for label in gm.labels.values():
        if label["id"] != keep_id and label["name"].lower() == name.strip().lower():
            raise _conflict()
    return name.strip()


def list_labels(gm: Gmail, call: Call) -> Reply:
    gm.check_user(call.params["userId"])
    return 200, {"labels": [dict(label) for label in gm.labels.values()]}


def _label(gm: Gmail, call: Call) -> dict[str, Any]:
    gm.check_user(call.params["userId"])
    label = gm.labels.get(call.params["id"])
    if label is None:
        raise entity_not_found()
    return label


def get_label(gm: Gmail, call: Call) -> Reply:
    label = _label(gm, call)
    carrying = [r for r in gm.messages.values() if label["id"] in r["labelIds"]]
    unread = [r for r in carrying if "UNREAD" in r["labelIds"]]
    return 200, {
        **label,
        "messagesTotal": len(carrying),
        "messagesUnread": len(unread),
        "threadsTotal": len({r["threadId"] for r in carrying}),
        "threadsUnread": len({r["threadId"] for r in unread}),
    }


def create_label(gm: Gmail, call: Call) -> Reply:
    gm.check_user(call.params["userId"])
    body = call.body or {}
    name = _check_name(gm, body.get("name"))
    if sum(1 for lb in gm.labels.values() if lb["type"] == "user") >= MAX_LABELS:
        raise gmail_error(400, "invalidArgument", "Too many labels")
    label_id = f"Label_{gm.next_label}"
    gm.next_label += 1
    label = {
        "id": label_id,
        "name": name,
        "messageListVisibility": body.get("messageListVisibility", "show"),
        "labelListVisibility": body.get("labelListVisibility", "labelShow"),
        "type": "user",
    }
    if body.get("color"):
        label["color"] = body["color"]
    gm.labels[label_id] = label
    gm.bump()
    return 200, dict(label)


def _change_label(gm: Gmail, call: Call, replace: bool) -> Reply:
    label = _label(gm, call)
    if label["type"] == "system":
        raise gmail_error(400, "invalidArgument", "Invalid update request")
    body = {k: v for k, v in (call.body or {}).items() if k not in ("id", "type")}
    if "name" in body or replace:
        body["name"] = _check_name(gm, body.get("name"), keep_id=label["id"])
    if replace:
        label = {
            "id": label["id"],
            "type": "user",
            "messageListVisibility": "show",
            "labelListVisibility": "labelShow",
        }
    label.update({k: v for k, v in body.items() if v is not None})
    gm.labels[label["id"]] = label
    return 200, dict(label)


def delete_label(gm: Gmail, call: Call) -> Reply:
    label = _label(gm, call)
    if label["type"] == "system":
        raise gmail_error(400, "invalidArgument", "Invalid delete request")
    del gm.labels[label["id"]]
    for rec in gm.messages.values():
        gm.relabel(rec, [], [label["id"]])
    return 204, None


def _filter(gm: Gmail, call: Call) -> dict[str, Any]:
    gm.check_user(call.params["userId"])
    found = gm.filters.get(call.params["id"])
    if found is None:
        raise entity_not_found()
    return found


def create_filter(gm: Gmail, call: Call) -> Reply:
    gm.check_user(call.params["userId"])
    body = call.body or {}
    criteria = {k: v for k, v in (body.get("criteria") or {}).items() if v not in (None, "", False)}
    action = {k: v for k, v in (body.get("action") or {}).items() if v}
    if not any(k in criteria for k in CRITERIA):
        raise gmail_error(400, "invalidArgument", "Filter doesn't have any criteria")
    if not action:
        raise gmail_error(400, "invalidArgument", "Filter doesn't have any actions")
    if "size" in criteria or "forward" in action:
        raise gmail_error(400, "invalidArgument", "emulator: unsupported filter (size/forward)")
    for key in ("query", "negatedQuery"):
        if key in criteria:
            compile_or_400(criteria[key])
    gm.check_labels(
        [*action.get("addLabelIds", []), *action.get("removeLabelIds", [])], modifying=True
    )
    if len(gm.filters) >= MAX_FILTERS:
        raise gmail_error(400, "invalidArgument", "Too many filters")
    if any(f["criteria"] == criteria and f["action"] == action for f in gm.filters.values()):
        raise gmail_error(
            400, "failedPrecondition", "Filter already exists", status="FAILED_PRECONDITION"
        )
    gm.next_filter += 1
    filter_id = f"ANe1Bmj{gm.next_filter:010d}"
    made = {"id": filter_id, "criteria": criteria, "action": action}
    gm.filters[filter_id] = made
    return 200, made


def delete_filter(gm: Gmail, call: Call) -> Reply:
    del gm.filters[_filter(gm, call)["id"]]
    return 204, None


def filter_matches(criteria: dict[str, Any], view: MessageView) -> bool:
    if criteria.get("from") and criteria["from"].lower() not in view.sender:
        return False
    if criteria.get("to") and criteria["to"].lower() not in view.recipients:
        return False
    if criteria.get("subject") and criteria["subject"].lower() not in view.subject:
        return False
    if criteria.get("hasAttachment"):
        return False  # messages made by arrive() never have attachments
    if criteria.get("query") and not compile_query(criteria["query"])(view):
        return False
    return not (criteria.get("negatedQuery") and compile_query(criteria["negatedQuery"])(view))


def arrive(
    gm: Gmail,
    *,
    sender: str,
    received: datetime,
    subject: str,
    to: str | None,
    thread_id: str | None,
    labels: Sequence[str],
    body: str,
) -> str:
    """New mail from outside: build the message, run the filters in creation order, store it."""
    if received.tzinfo is None:
        raise ValueError("received must be an aware datetime")
    raw = mime.build(
        sender=sender,
        to=to or gm.email,
        subject=subject,
        body=body,
        date=received,
        message_id=f"{uuid.uuid4().hex}@mail.emulator.test",
    )
    rec = gm.store(raw, labels, thread_id, int(received.timestamp() * 1000))
    for found in gm.filters.values():
        if filter_matches(found["criteria"], gm.view(rec)):
            act = found["action"]
            gm.relabel(rec, act.get("addLabelIds", []), act.get("removeLabelIds", []))
    return str(rec["id"])


def handlers(gm: Gmail) -> dict[str, Callable[[Call], Reply]]:
    def bind(fn: Callable[[Gmail, Call], Reply]) -> Callable[[Call], Reply]:
        return lambda call: fn(gm, call)

    prefix = "gmail.users."
    return {
        prefix + "labels.list": bind(list_labels),
        prefix + "labels.get": bind(get_label),
        prefix + "labels.create": bind(create_label),
        prefix + "labels.patch": lambda call: _change_label(gm, call, False),
        prefix + "labels.update": lambda call: _change_label(gm, call, True),
        prefix + "labels.delete": bind(delete_label),
        prefix + "settings.filters.list": lambda call: (
            200,
            {"filter": list(gm.filters.values())} if gm.filters else {},
        ),
        prefix + "settings.filters.get": lambda call: (200, _filter(gm, call)),
        prefix + "settings.filters.create": bind(create_filter),
        prefix + "settings.filters.delete": bind(delete_filter),
    }
