"""Gmail's history.list: the changes since a history id, or 404 once it has expired.

The caller holds the emulator's lock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .discovery import Call
from .gmail import Gmail, Reply, entity_not_found, gmail_error, page_of

KINDS = {
    "messageAdded": "messagesAdded",
    "labelAdded": "labelsAdded",
    "labelRemoved": "labelsRemoved",
}


def handlers(gmail: Gmail) -> dict[str, Callable[[Call], Reply]]:
    def list_history(call: Call) -> Reply:
        gmail.check_user(call.params["userId"])
        try:
            start = int(call.params["startHistoryId"])
        except ValueError:
            raise gmail_error(400, "invalidArgument", "Invalid startHistoryId") from None
        if start < gmail.history_floor:
            # Documented: an out-of-date startHistoryId typically answers 404.
            raise entity_not_found()
        kinds = [KINDS[k] for k in call.params.get("historyTypes", []) if k in KINDS]
        label = call.params.get("labelId")
        records = [r for r in gmail.changes if int(r["id"]) > start]
        if kinds:
            records = [r for r in records if any(k in r for k in kinds)]
        if label:
            records = [r for r in records if touches(r, label)]
        page, token = page_of(records, call.params, 100, 500, gmail.page_size)
        out: dict[str, Any] = {"historyId": str(gmail.history_id)}
        if page:
            out["history"] = page
        if token:
            out["nextPageToken"] = token
        return 200, out

    return {"gmail.users.history.list": list_history}


def touches(record: dict[str, Any], label: str) -> bool:
    """Whether a history record is about `label`: its message has it, or it was changed."""
    for kind in ("messagesAdded", "labelsAdded", "labelsRemoved"):
        for item in record.get(kind, []):
            if label in item["message"]["labelIds"] or label in item.get("labelIds", []):
                return True
    return False
