"""The inbox hold in Gmail, which has no snooze API.

Holding relabels: INBOX comes off and the worker's label goes on; releasing is the
reverse. Nothing is copied, deleted or altered, and held mail is found again by the
label alone. Gmail shows conversations, so a thread leaves the inbox whole (every
message of it in the inbox) and comes back whole (every message of it held).

A Gmail filter holds new mail at arrival during the hold window, so nothing shows
between runs; the worker's sweep holds what arrived before the filter existed. The
worker's alerts are inserted straight into the inbox: filters do not apply to them.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from providers import mime
from providers.base import Alert, Draft, MailProvider, Message
from providers.errors import BadRequest, Conflict, NotFound, ProviderError
from providers.google import mapping
from providers.google.push import InboxWatch
from providers.google.session import Session

HELD_LABEL = "Firstblock/Held"
ALERT_LABEL = "Firstblock/Alerts"
MODIFY_LIMIT = 1000  # ids per batchModify, the documented maximum
PAGE = 500
HEADER_CACHE = 5000  # messages whose sender and date are remembered


class GmailMailbox(MailProvider, InboxWatch):
    supports_hold_rule = True
    supports_drafts = True

    def __init__(self, session: Session, *, name: str) -> None:
        super().__init__(name=name)
        self.session = session
        self.memo = session.memo
        self._looked = False  # history was checked in this run, and is still to be used

    @property
    def _users(self) -> Any:
        return self.session.gmail.users()

    # -- labels

    def _label(self, name: str) -> str:
        """The id of the worker's label `name`: remembered, found by name, or created;
        in a dry run (which creates nothing) "" when there is none yet."""
        ids: dict[str, str] = self.memo.get("labels") or {}
        if name not in ids and not ids.get("looked"):
            ids.update(self._find_labels())  # one look finds both of ours
            ids["looked"] = "yes"
        if name not in ids and self.memo.read_only:
            return ""
        if name not in ids:
            body = {
                "name": name,
                "labelListVisibility": "labelShow",
                "messageListVisibility": "show",
            }
            try:
                label = self.session.call(self._users.labels().create(userId="me", body=body))
                ids[name] = str(label["id"])
            except Conflict:  # made meanwhile, by another run
                ids.update(self._find_labels())
                if name not in ids:
                    raise
        self.memo.set("labels", ids)
        self.memo.save()
        return ids[name]

    def _find_labels(self) -> dict[str, str]:
        answer = self.session.call(self._users.labels().list(userId="me"))
        ours = {n.lower(): n for n in (HELD_LABEL, ALERT_LABEL)}
        return {
            ours[str(x.get("name")).lower()]: str(x["id"])
            for x in answer.get("labels") or ()
            if str(x.get("name")).lower() in ours
        }

    def _with_label(self, name: str, action: Any) -> Any:
        """Run action(label_id); a label deleted by the user is made again once."""
        try:
            return action(self._label(name))
        except (NotFound, BadRequest):
            labels = self.memo.get("labels") or {}
            if name not in labels:
                raise
            labels.pop(name)
            labels.pop("looked", None)  # look again before making it anew
            self.memo.set("labels", labels)
            return action(self._label(name))

    # -- reading

    def _refs(self, **params: Any) -> list[dict[str, str]]:
        """{id, threadId} of every message the query matches, all pages."""
        refs: list[dict[str, str]] = []
        page: str | None = None
        while True:
            request = self._users.messages().list(
                userId="me", maxResults=PAGE, pageToken=page, **params
            )
            answer = self.session.call(request)
            refs += answer.get("messages") or []
            page = answer.get("nextPageToken")
            if not page:
                return refs

    def _read(self, refs: Sequence[dict[str, str]], *, held: bool) -> list[Message]:
        """Sender and arrival of each message: remembered, or read in one batch."""
        cache: dict[str, list[Any]] = self.memo.get("headers") or {}
        missing = [r["id"] for r in refs if r["id"] not in cache]
        if missing:
            alert_label = self._label(ALERT_LABEL)
            gets = [
                self._users.messages().get(
                    userId="me",
                    id=i,
                    format="metadata",
                    metadataHeaders=["From"],
                    fields="id,threadId,labelIds,internalDate,payload/headers",
                )
                for i in missing
            ]
            for i, answer in zip(missing, self._each(gets), strict=True):
                if isinstance(answer, NotFound):
                    continue  # gone since the list: nothing to move
                if isinstance(answer, ProviderError):
                    raise answer
                m = mapping.to_message(answer, held_label="", alert_label=alert_label)
                thread = str(answer.get("threadId", ""))
                cache[i] = [m.sender, int(m.received.timestamp() * 1000), m.alert, thread]
        out = []
        for r in refs:
            if r["id"] in cache:
                sender, ms, alert = cache[r["id"]][:3]
                received = mapping.to_message(
                    {"id": r["id"], "internalDate": ms}, held_label="", alert_label=""
                ).received
                out.append(Message(r["id"], sender, received, held=held, alert=bool(alert)))
        self._keep_headers(cache)
        return out

    def _keep_headers(self, cache: dict[str, list[Any]]) -> None:
        if len(cache) > HEADER_CACHE:
            newest = sorted(cache.items(), key=lambda kv: kv[1][1])[-HEADER_CACHE:]
            cache = dict(newest)
        self.memo.set("headers", cache)
        self.memo.save()

    def _each(self, requests: list[Any]) -> list[Any]:
        if not requests:
            return []
        if len(requests) == 1:
            try:
                return [self.session.call(requests[0])]
            except ProviderError as exc:
                return [exc]
        return self.session.batch("gmail", requests)

    def list_inbox(self, since: datetime | None) -> list[Message]:
        mail = self._check(consume=False)
        key = int(since.timestamp()) if since else None
        cached = mail.get("inbox")
        if cached is None or cached.get("since") != key:
            # Gmail's after: counts whole seconds; the exact cut is made below.
            query = {"q": f"after:{key - 1}"} if key is not None else {}
            cached = {"since": key, "refs": self._refs(labelIds=["INBOX"], **query)}
            mail["inbox"] = cached
            self._remember(mail)
        messages = self._read(cached["refs"], held=False)
        return [m for m in messages if since is None or m.received >= since]

    def _held_refs(self) -> list[dict[str, str]]:
        mail = self._check(consume=True)
        if "held" not in mail:
            mail["held"] = self._with_label(
                HELD_LABEL, lambda label: self._refs(labelIds=[label]) if label else []
            )
            self._remember(mail)
        refs: list[dict[str, str]] = mail["held"]
        return refs

    def list_held(self) -> list[Message]:
        return self._read(self._held_refs(), held=True)

    def count_held(self) -> int:
        return len(self._held_refs())

    def _check(self, *, consume: bool) -> dict[str, Any]:
        """The remembered inbox and held lists, still valid when Gmail's history since
        they were read shows no change but this worker's own moves: one small request
        instead of two lists.

        A look serves the next `list_inbox` and `list_held` of the same run (the worker
        asks for both in turn); `consume` marks the last use of it.
        """
        mail: dict[str, Any] = self.memo.get("mail") or {}
        if self._looked:
            self._looked = not consume
            return mail
        start, current = mail.get("history"), None
        if start:
            try:
                answer = self.session.call(
                    self._users.history().list(userId="me", startHistoryId=start, maxResults=100)
                )
            except NotFound:  # too old: Gmail keeps history for about a week
                answer = {"history": [{}]}
            current = answer.get("historyId")
            records = answer.get("history") or []
            if answer.get("nextPageToken") or not _only_ours(records, mail.get("ours") or {}):
                mail = {}
        if not current:
            current = self.session.call(self._users.getProfile(userId="me")).get("historyId")
            mail = {}
        mail["history"] = str(current)
        mail["ours"] = {}
        self._remember(mail)
        self._looked = not consume
        return mail

    def _remember(self, mail: dict[str, Any]) -> None:
        self.memo.set("mail", mail)
        self.memo.save()

    def _moved(self, refs: list[dict[str, str]], *, held: bool, label: str) -> None:
        """This run moved these: keep the lists right and expect the history to say so."""
        mail = self.memo.get("mail") or {}
        moved = {r["id"] for r in refs}
        ours = mail.setdefault("ours", {})
        for r in refs:
            ours[r["id"]] = [label, "INBOX"] if held else ["INBOX", label]  # [added, removed]
        if "held" in mail:
            kept = [r for r in mail["held"] if r["id"] not in moved]
            mail["held"] = kept + (refs if held else [])
        if "inbox" in mail:
            if held:
                mail["inbox"]["refs"] = [r for r in mail["inbox"]["refs"] if r["id"] not in moved]
            else:
                del mail["inbox"]  # mail from before `since` is back: list again
        self._remember(mail)
        self._looked = False

    def _changed(self) -> None:
        """This run added mail: what was read before is stale."""
        mail = self.memo.get("mail") or {}
        self._remember({"history": mail["history"]} if "history" in mail else {})
        self._looked = False

    # -- moving

    def hold(self, ids: Sequence[str]) -> int:
        """Every inbox message of the threads of `ids` leaves the inbox."""
        moving = [
            {"id": str(m["id"]), "threadId": str(thread["id"])}
            for thread in self._threads_of(ids)
            for m in thread.get("messages") or ()
            if "INBOX" in (m.get("labelIds") or ())
        ]
        return self._move(moving, held=True)

    def release(self, ids: Sequence[str]) -> int:
        """Every held message of the threads of `ids` returns to the inbox."""
        refs = self._held_refs()
        wanted = set(ids)
        threads = {r["threadId"] for r in refs if r["id"] in wanted}
        return self._move([r for r in refs if r["threadId"] in threads], held=False)

    def release_all(self) -> int:
        return self._move(list(self._held_refs()), held=False)

    def _move(self, refs: list[dict[str, str]], *, held: bool) -> int:
        def move(label: str) -> int:
            add, remove = ([label], ["INBOX"]) if held else (["INBOX"], [label])
            moved = self._modify([r["id"] for r in refs], add=add, remove=remove)
            if moved:
                self._moved(refs, held=held, label=label)
            return moved

        count: int = self._with_label(HELD_LABEL, move)
        return count

    def _threads_of(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        cache: dict[str, list[Any]] = self.memo.get("headers") or {}
        thread_ids = {str(cache[i][3]) for i in ids if i in cache and len(cache[i]) > 3}
        unknown = [i for i in ids if i not in cache or len(cache[i]) <= 3]
        gets = [
            self._users.messages().get(userId="me", id=i, format="minimal", fields="id,threadId")
            for i in unknown
        ]
        thread_ids |= {str(a["threadId"]) for a in _answers(self._each(gets)) if a.get("threadId")}
        reads = [
            self._users.threads().get(
                userId="me", id=t, format="minimal", fields="id,messages(id,labelIds)"
            )
            for t in sorted(thread_ids)
        ]
        return _answers(self._each(reads))

    def _modify(self, ids: Iterable[str], *, add: list[str], remove: list[str]) -> int:
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), MODIFY_LIMIT):
            body = {
                "ids": unique[start : start + MODIFY_LIMIT],
                "addLabelIds": add,
                "removeLabelIds": remove,
            }
            # Idempotent in effect (a label already there changes nothing): safe to retry.
            self.session.call(self._users.messages().batchModify(userId="me", body=body))
        return len(unique)

    # -- alerts

    def deliver(self, alert: Alert, *, first_try: bool = False) -> None:
        """Insert the alert into the inbox, once per key (its Message-ID derives from
        the key, so even with state lost a second delivery finds the first). On the
        `first_try` nothing is there to find before the insert."""
        message_id = f"<{hashlib.sha256(alert.key.encode()).hexdigest()[:32]}@firstblock.invalid>"
        query = f"rfc822msgid:{message_id}"
        found = [] if first_try else self._refs(q=query)
        if not found:
            label = self._label(ALERT_LABEL)
            raw = _alert_message(alert, message_id, self.session.options.email)
            body = {"raw": raw, "labelIds": ["INBOX", "UNREAD", label]}
            request = self._users.messages().insert(
                userId="me", body=body, internalDateSource="dateHeader"
            )
            self._changed()
            # Not idempotent: after a lost answer, the next run looks before trying again.
            self.session.call(request, idempotent=False)
            found = self._refs(q=query)
        # httplib2 resends a request once when the connection closes unanswered (right
        # for a stale connection, wrong when the server had stored it): keep one copy.
        for extra in found[1:]:
            self.session.call(self._users.messages().trash(userId="me", id=extra["id"]))

    def save_draft(self, draft: Draft) -> None:
        """drafts.create (gmail.modify covers it; nothing asks for gmail.send), once per
        key: its Message-ID derives from the key, and is looked for first."""
        digest = hashlib.sha256(draft.key.encode()).hexdigest()[:32]
        message_id = f"<{digest}@firstblock.invalid>"
        if self._refs(q=f"rfc822msgid:{message_id}"):
            return
        msg = EmailMessage()
        if self.session.options.email:
            msg["From"] = self.session.options.email
        msg["To"] = ", ".join(draft.to)
        msg["Subject"] = draft.subject
        msg["Date"] = format_datetime(draft.created)
        msg["Message-ID"] = message_id
        msg.set_content(draft.text)
        raw = base64.urlsafe_b64encode(msg.as_bytes()).decode()
        request = self._users.drafts().create(userId="me", body={"message": {"raw": raw}})
        # Not idempotent: after a lost answer, the next run looks before trying again.
        self.session.call(request, idempotent=False)

    # -- the filter

    def set_hold_rule(self, allowed: Sequence[str] | None) -> None:
        """One filter holds mail from everyone but `allowed`; None removes it."""
        current = self.memo.get("filter")  # {"id": ..., "query": ...}, or {} for none
        if current is None:
            current = self._adopt_filter()
            self.memo.set("filter", current)
            self.memo.save()
        wanted = None if allowed is None else self._query(allowed)
        if current.get("query") == wanted:
            return
        if wanted is not None:
            created = self._with_label(HELD_LABEL, lambda label: self._create_filter(wanted, label))
            current_id = current.get("id")
            self.memo.set("filter", {"id": created, "query": wanted})
            self.memo.save()
        else:
            current_id = current.get("id")
            self.memo.set("filter", {})
        if current_id:
            self._delete_filter(str(current_id))
        self.memo.save()

    def _query(self, allowed: Sequence[str]) -> str:
        me = self.session.options.email
        parts = [f"-from:{me}"] if me else []
        parts += [f"-from:{a.lstrip('@')}" for a in sorted(set(allowed) - {me})]
        return " ".join(parts) or "-from:nobody.invalid"

    def _create_filter(self, query: str, label: str) -> str:
        body = {
            "criteria": {"query": query},
            "action": {"addLabelIds": [label], "removeLabelIds": ["INBOX"]},
        }
        filters = self._users.settings().filters()
        try:
            answer = self.session.call(filters.create(userId="me", body=body))
        except BadRequest:
            # Gmail refuses a second identical filter: one made by a run whose answer
            # was lost. Adopt it.
            existing = self.session.call(filters.list(userId="me")).get("filter") or ()
            same = [f for f in existing if (f.get("criteria") or {}).get("query") == query]
            if not same:
                raise
            answer = same[0]
        return str(answer["id"])

    def _delete_filter(self, filter_id: str) -> None:
        with contextlib.suppress(NotFound):  # removed by the user already
            self.session.call(self._users.settings().filters().delete(userId="me", id=filter_id))

    def _adopt_filter(self) -> dict[str, Any]:
        """With nothing remembered: remove every filter of ours, so none is left behind."""
        answer = self.session.call(self._users.settings().filters().list(userId="me"))
        label = self._label(HELD_LABEL)
        for f in answer.get("filter") or ():
            if label in ((f.get("action") or {}).get("addLabelIds") or ()):
                self._delete_filter(str(f["id"]))
        return {}


def _only_ours(records: list[dict[str, Any]], ours: dict[str, list[list[str]]]) -> bool:
    """Whether these history records show nothing but moves this worker made."""
    for record in records:
        if set(record) - {"id", "messages", "labelsAdded", "labelsRemoved"}:
            return False  # mail added or deleted: not ours
        for kind, side in (("labelsAdded", 0), ("labelsRemoved", 1)):
            for item in record.get(kind) or ():
                expected = ours.get(str(item["message"]["id"]))
                if expected is None or not set(item.get("labelIds") or ()) <= {expected[side]}:
                    return False
    return True


def _answers(results: list[Any]) -> list[dict[str, Any]]:
    """The successful answers; a message or thread gone meanwhile is skipped."""
    for r in results:
        if isinstance(r, ProviderError) and not isinstance(r, NotFound):
            raise r
    return [r for r in results if isinstance(r, dict)]


def _alert_message(alert: Alert, message_id: str, me: str) -> str:
    msg = EmailMessage()
    msg["From"] = f"firstblock <{me or 'firstblock@localhost'}>"
    msg["To"] = me or "firstblock@localhost"
    msg["Subject"] = alert.subject
    msg["Date"] = format_datetime(alert.created)
    msg["Message-ID"] = message_id
    msg["X-Firstblock-Alert"] = "1"
    # From the id, not random: the same alert makes the same bytes (cassettes).
    mime.fill(msg, alert, message_id.strip("<>").split("@")[0])
    return base64.urlsafe_b64encode(msg.as_bytes()).decode()
