"""Gmail v1 state, and the message/thread/profile methods. Labels and filters: gmail_settings.py.

The caller holds the emulator's lock for every method here.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Callable, Iterable
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from . import mime
from .discovery import Call
from .query import MessageView, Predicate, UnsupportedQuery, compile_query, normalise_label
from .wire import ApiError

Reply = tuple[int, Any]
SYSTEM_LABELS = (
    "INBOX",
    "SENT",
    "DRAFT",
    "SPAM",
    "TRASH",
    "UNREAD",
    "STARRED",
    "IMPORTANT",
    "CHAT",
    "CATEGORY_PERSONAL",
    "CATEGORY_SOCIAL",
    "CATEGORY_PROMOTIONS",
    "CATEGORY_UPDATES",
    "CATEGORY_FORUMS",
)
FIXED_LABELS = ("DRAFT", "SENT")  # documented: cannot be applied or removed by clients
FORMATS = ("minimal", "metadata", "full", "raw")


def gmail_error(code: int, reason: str, message: str, status: str | None = None) -> ApiError:
    return ApiError(code, reason, message, with_status=True, status=status)


def entity_not_found() -> ApiError:
    return gmail_error(404, "notFound", "Requested entity was not found.")


def compile_or_400(q: str) -> Predicate:
    try:
        return compile_query(q)
    except UnsupportedQuery as exc:
        raise gmail_error(400, "invalidArgument", str(exc)) from None


def page_of(
    items: list[Any], p: dict[str, Any], default: int, cap: int, page_size: int | None
) -> tuple[list[Any], str | None]:
    size = max(1, min(int(p.get("maxResults", default)), cap, page_size or cap))
    try:
        offset = int(base64.urlsafe_b64decode(p["pageToken"].encode())) if "pageToken" in p else 0
    except ValueError:
        raise gmail_error(400, "invalidArgument", "Invalid pageToken") from None
    more = offset + size < len(items)
    token = base64.urlsafe_b64encode(str(offset + size).encode()).decode() if more else None
    return items[offset : offset + size], token


class Gmail:
    def __init__(self, email: str, clock: Callable[[], datetime], page_size: int | None) -> None:
        self.email = email
        self.page_size = page_size  # caps list pages, like Calendar's, so tests can force paging
        self.clock = clock
        self.labels: dict[str, dict[str, Any]] = {
            name: {"id": name, "name": name, "type": "system"} for name in SYSTEM_LABELS
        }
        self.next_label = 1
        self.messages: dict[str, dict[str, Any]] = {}
        self.next_message = 0
        self.next_draft = 0
        self.history_id = 1000
        self.history_floor = 1000  # history.list from before this answers 404 (expired)
        self.changes: list[dict[str, Any]] = []  # one history record per change, in order
        # Told of each history record as it is appended, the lock held (pubsub.py's watch).
        self.on_change: Callable[[dict[str, Any]], None] | None = None
        self.filters: dict[str, dict[str, Any]] = {}
        self.next_filter = 0

    # ---- helpers ----------------------------------------------------------------------------
    def check_user(self, user_id: str) -> None:
        if user_id != "me" and user_id.lower() != self.email.lower():
            raise gmail_error(403, "forbidden", f"Delegation denied for {self.email}")

    def bump(self) -> str:
        self.history_id += 1
        return str(self.history_id)

    def view(self, rec: dict[str, Any]) -> MessageView:
        msg = mime.parse(rec["raw"])
        names = {
            normalise_label(self.labels[i]["name"]) for i in rec["labelIds"] if i in self.labels
        }
        return MessageView(
            label_ids=set(rec["labelIds"]),
            label_names=names | {i.lower() for i in rec["labelIds"]},
            sender=mime.addresses(msg, "From"),
            recipients=mime.addresses(msg, "To", "Cc", "Bcc"),
            subject=mime.header(msg, "Subject").lower(),
            message_id=mime.header(msg, "Message-ID").strip().strip("<>").lower(),
            internal_ms=int(rec["internalDate"]),
        )

    def check_labels(self, ids: Iterable[str], *, modifying: bool) -> None:
        for label_id in ids:
            if label_id not in self.labels or (modifying and label_id in FIXED_LABELS):
                raise gmail_error(400, "invalidArgument", f"Invalid label: {label_id}")

    def relabel(self, rec: dict[str, Any], add: Iterable[str], remove: Iterable[str]) -> None:
        labels = [i for i in rec["labelIds"] if i not in set(remove)]
        labels += [i for i in add if i not in labels]
        if labels != rec["labelIds"]:
            added = [i for i in labels if i not in rec["labelIds"]]
            removed = [i for i in rec["labelIds"] if i not in labels]
            rec["labelIds"] = labels
            rec["historyId"] = self.bump()
            self.record(rec, labelsAdded=added, labelsRemoved=removed)

    def store(
        self, raw: bytes, labels: Iterable[str], thread_id: str | None, internal_ms: int
    ) -> dict[str, Any]:
        self.next_message += 1
        msg_id = f"{0x190A0B0C0D000000 + self.next_message:016x}"
        msg = mime.parse(raw)
        rec = {
            "id": msg_id,
            "threadId": thread_id or msg_id,  # Gmail names a thread after its first message
            "labelIds": list(dict.fromkeys(labels)),
            "internalDate": str(internal_ms),
            "historyId": self.bump(),
            "raw": raw,
            "sizeEstimate": len(raw),
            "snippet": mime.snippet(msg),
        }
        self.messages[msg_id] = rec
        self.record(rec, messagesAdded=True)
        return rec

    def record(self, rec: dict[str, Any], **what: Any) -> None:
        """Note a change for history.list, in Gmail's record shape."""
        ref = {"id": rec["id"], "threadId": rec["threadId"]}
        entry: dict[str, Any] = {"id": str(self.history_id), "messages": [ref]}
        message = {**ref, "labelIds": list(rec["labelIds"])}
        if what.get("messagesAdded"):
            entry["messagesAdded"] = [{"message": message}]
        for kind in ("labelsAdded", "labelsRemoved"):
            if what.get(kind):
                entry[kind] = [{"message": message, "labelIds": what[kind]}]
        self.changes.append(entry)
        if self.on_change is not None:
            self.on_change(entry)

    def render(self, rec: dict[str, Any], fmt: str, wanted: list[str] | None) -> dict[str, Any]:
        out: dict[str, Any] = {"id": rec["id"], "threadId": rec["threadId"]}
        if rec["labelIds"]:
            out["labelIds"] = list(rec["labelIds"])
        out.update({k: rec[k] for k in ("snippet", "sizeEstimate", "historyId", "internalDate")})
        msg = mime.parse(rec["raw"])
        if fmt == "raw":
            out["raw"] = mime.b64url(rec["raw"])
        elif fmt == "full":
            out["payload"] = mime.payload(msg)
        elif fmt == "metadata":
            headers = mime.headers(msg)
            if wanted:
                keep = {w.lower() for w in wanted}
                headers = [h for h in headers if h["name"].lower() in keep]
            out["payload"] = {
                "partId": "",
                "mimeType": msg.get_content_type(),
                "filename": "",
                "headers": headers,
            }
        return out

    def _ordered(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        """Messages matching labelIds (all of them), q and includeSpamTrash, newest first."""
        predicate = compile_or_400(p.get("q", ""))
        wanted = set(p.get("labelIds", []))
        hide = set() if p.get("includeSpamTrash") else {"SPAM", "TRASH"} - wanted
        recs = sorted(
            self.messages.values(), key=lambda r: (int(r["internalDate"]), r["id"]), reverse=True
        )
        keep = [r for r in recs if wanted <= set(r["labelIds"]) and not hide & set(r["labelIds"])]
        return [r for r in keep if predicate(self.view(r))]

    def _get(self, call: Call) -> dict[str, Any]:
        self.check_user(call.params["userId"])
        rec = self.messages.get(call.params["id"])
        if rec is None:
            raise entity_not_found()
        return rec

    # ---- API methods ------------------------------------------------------------------------
    def get_profile(self, call: Call) -> Reply:
        self.check_user(call.params["userId"])
        threads = {r["threadId"] for r in self.messages.values()}
        return 200, {
            "emailAddress": self.email,
            "messagesTotal": len(self.messages),
            "threadsTotal": len(threads),
            "historyId": str(self.history_id),
        }

    def list_messages(self, call: Call) -> Reply:
        self.check_user(call.params["userId"])
        matched = self._ordered(call.params)
        page, token = page_of(matched, call.params, 100, 500, self.page_size)
        out: dict[str, Any] = {}
        if page:
            out["messages"] = [{"id": r["id"], "threadId": r["threadId"]} for r in page]
        if token:
            out["nextPageToken"] = token
        out["resultSizeEstimate"] = len(matched)
        return 200, out

    def get_message(self, call: Call) -> Reply:
        rec = self._get(call)
        return 200, self.render(
            rec, call.params.get("format", "full"), call.params.get("metadataHeaders")
        )

    def _new_message(self, call: Call, default_labels: list[str]) -> Reply:
        self.check_user(call.params["userId"])
        body = call.body or {}
        if not body.get("raw"):
            raise gmail_error(
                400,
                "invalidArgument",
                "'raw' RFC822 payload message string or uploading message via /upload/* URL "
                "required",
            )
        try:
            raw = mime.decode_raw(body["raw"])
        except ValueError:
            raise gmail_error(400, "invalidArgument", "Invalid value for ByteString") from None
        labels = body.get("labelIds") or default_labels
        self.check_labels(labels, modifying=False)
        thread_id = body.get("threadId")
        if thread_id and not any(r["threadId"] == thread_id for r in self.messages.values()):
            raise entity_not_found()
        moment = self.clock()
        if call.params.get("internalDateSource") == "dateHeader":
            # Documented: an invalid Date header falls back to the receive time.
            with contextlib.suppress(TypeError, ValueError):
                moment = parsedate_to_datetime(mime.header(mime.parse(raw), "Date"))
        rec = self.store(raw, labels, thread_id, int(moment.timestamp() * 1000))
        # As Gmail answers an insert or a send: the new message's ids and labels only.
        return 200, {"id": rec["id"], "threadId": rec["threadId"], "labelIds": rec["labelIds"]}

    def insert_message(self, call: Call) -> Reply:
        return self._new_message(call, [])

    def create_draft(self, call: Call) -> Reply:
        """drafts.create: the message is stored with the DRAFT label, and not sent."""
        self.check_user(call.params["userId"])
        message = (call.body or {}).get("message")
        if not isinstance(message, dict):
            raise gmail_error(400, "invalidArgument", "Missing draft message")
        call.body = {"raw": message.get("raw"), "labelIds": ["DRAFT"]}
        status, message = self._new_message(call, ["DRAFT"])
        self.next_draft += 1
        return status, {"id": f"r{self.next_draft:019d}", "message": message}

    def send_message(self, call: Call) -> Reply:
        call.body = {**(call.body or {}), "labelIds": ["SENT"]}
        return self._new_message(call, ["SENT"])

    def modify_message(self, call: Call) -> Reply:
        rec = self._get(call)
        add, remove = (
            (call.body or {}).get("addLabelIds", []),
            (call.body or {}).get("removeLabelIds", []),
        )
        self.check_labels([*add, *remove], modifying=True)
        self.relabel(rec, add, remove)
        return 200, {
            "id": rec["id"],
            "threadId": rec["threadId"],
            "labelIds": list(rec["labelIds"]),
        }

    def trash_message(self, call: Call) -> Reply:
        rec = self._get(call)
        self.relabel(rec, ["TRASH"], ["INBOX", "UNREAD"])
        return 200, self.render(rec, "minimal", None)

    def batch_modify(self, call: Call) -> Reply:
        self.check_user(call.params["userId"])
        body = call.body or {}
        ids = body.get("ids") or []
        if len(ids) > 1000:
            raise gmail_error(400, "invalidArgument", "Number of ids cannot exceed 1000")
        add, remove = body.get("addLabelIds", []), body.get("removeLabelIds", [])
        self.check_labels([*add, *remove], modifying=True)
        for msg_id in ids:  # unknown ids are ignored, as Gmail does
            if msg_id in self.messages:
                self.relabel(self.messages[msg_id], add, remove)
        return 204, None

    def _thread(self, call: Call) -> list[dict[str, Any]]:
        self.check_user(call.params["userId"])
        recs = [r for r in self.messages.values() if r["threadId"] == call.params["id"]]
        if not recs:
            raise entity_not_found()
        return sorted(recs, key=lambda r: (int(r["internalDate"]), r["id"]))

    def get_thread(self, call: Call) -> Reply:
        recs = self._thread(call)
        fmt, wanted = call.params.get("format", "full"), call.params.get("metadataHeaders")
        return 200, {
            "id": call.params["id"],
            "historyId": max(r["historyId"] for r in recs),
            "messages": [self.render(r, fmt, wanted) for r in recs],
        }

    def modify_thread(self, call: Call) -> Reply:
        recs = self._thread(call)
        add, remove = (
            (call.body or {}).get("addLabelIds", []),
            (call.body or {}).get("removeLabelIds", []),
        )
        self.check_labels([*add, *remove], modifying=True)
        for rec in recs:
            self.relabel(rec, add, remove)
        return 200, {
            "id": call.params["id"],
            "historyId": max(r["historyId"] for r in recs),
            "messages": [self.render(r, "minimal", None) for r in recs],
        }

    def list_threads(self, call: Call) -> Reply:
        self.check_user(call.params["userId"])
        newest: dict[str, dict[str, Any]] = {}
        for rec in self._ordered(call.params):
            newest.setdefault(rec["threadId"], rec)
        page, token = page_of(list(newest.values()), call.params, 100, 500, self.page_size)
        out: dict[str, Any] = {}
        if page:
            out["threads"] = [
                {"id": r["threadId"], "snippet": r["snippet"], "historyId": r["historyId"]}
                for r in page
            ]
        if token:
            out["nextPageToken"] = token
        out["resultSizeEstimate"] = len(newest)
        return 200, out

    def handlers(self) -> dict[str, Callable[[Call], Reply]]:
        prefix = "gmail.users."
        return {
            prefix + "getProfile": self.get_profile,
            prefix + "messages.list": self.list_messages,
            prefix + "messages.get": self.get_message,
            prefix + "messages.insert": self.insert_message,
            prefix + "messages.send": self.send_message,
            prefix + "drafts.create": self.create_draft,
            prefix + "messages.modify": self.modify_message,
            prefix + "messages.batchModify": self.batch_modify,
            prefix + "messages.trash": self.trash_message,
            prefix + "threads.get": self.get_thread,
            prefix + "threads.modify": self.modify_thread,
            prefix + "threads.list": self.list_threads,
        }
