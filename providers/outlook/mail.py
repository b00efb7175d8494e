"""The inbox hold in Outlook, which has no snooze in Graph.

Holding moves a message into the worker's own folder ("Held by firstblock", beside
the Inbox); releasing moves it back. Every request asks for immutable ids, so a
message keeps its id through the moves, and held mail is found again by listing the
folder. An inbox rule moves new mail there at arrival during the hold window, except
from allowed senders and from the user's own address; the worker's alerts are sent
from that address to itself, so they always land in the inbox.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from providers.base import Alert, Draft, MailProvider, Message
from providers.errors import BadRequest, Conflict, NotFound, ProviderError
from providers.outlook import mapping
from providers.outlook.push import InboxSubscribed
from providers.outlook.session import Call, Session

HELD_FOLDER = "Held by firstblock"
RULE_NAME = "firstblock: hold until admin time"
SELECT = "id,from,sender,receivedDateTime,parentFolderId"
EXPAND = f"singleValueExtendedProperties($filter=id eq '{mapping.ALERT_PROP}')"


class OutlookMailbox(MailProvider, InboxSubscribed):
    supports_hold_rule = True
    supports_drafts = True

    def __init__(self, session: Session, *, name: str) -> None:
        super().__init__(name=name)
        self.session = session
        self.memo = session.memo
        self.user = session.user
        self._held: list[Message] | None = None  # read with the inbox, for list_held
        self._where: dict[str, str] = {}  # message id -> folder id, from this run's listings

    # -- the folder

    def _folder(self, *, create: bool = True) -> str:
        """The held folder's id: remembered, found by name, or created ("" when it does
        not exist and `create` is off: reading, as in a dry run, writes nothing)."""
        known = self.memo.get("held_folder")  # None: not looked for; "": there is none
        if known or (known == "" and not create):
            return str(known)
        found = None if known == "" else self._find_folder()
        if found is None and not create:
            self.memo.set("held_folder", "")
            self.memo.save()
            return ""
        if found is None:
            try:
                created = self.session.call(
                    Call("POST", f"{self.user}/mailFolders", body={"displayName": HELD_FOLDER})
                )
                found = str(created["id"])
            except Conflict:  # ErrorFolderExists: made meanwhile by another run
                found = self._find_folder()
                if found is None:
                    raise
        self.memo.set("held_folder", found)
        self.memo.save()
        return found

    def _find_folder(self) -> str | None:
        answer = self.session.call(
            Call(
                "GET",
                f"{self.user}/mailFolders",
                {"$filter": f"displayName eq '{HELD_FOLDER}'", "$select": "id,displayName"},
            )
        )
        for f in answer.get("value") or ():
            if f.get("displayName") == HELD_FOLDER:
                return str(f["id"])
        return None

    def _listing(self, folder: str, since: datetime | None) -> Call:
        params = {"$select": SELECT, "$expand": EXPAND, "$top": "500"}
        if since is not None:
            params["$filter"] = f"receivedDateTime ge {_utc(since)}"
        return Call("GET", f"{self.user}/mailFolders/{folder}/messages", params)

    # -- reading

    def list_inbox(self, since: datetime | None) -> list[Message]:
        """The inbox, and the held folder with it in the same $batch: the worker asks
        for both in turn, so one request serves both."""
        folder = self._folder(create=False)
        if not folder:
            inbox = self.session.object(self._listing("inbox", since))
            self._held = []
            return [m for m in self._all(inbox, held=False) if since is None or m.received >= since]
        inbox, held = self.session.batch(
            [self._listing("inbox", since), self._listing(folder, None)]
        )
        if isinstance(held, NotFound):  # the folder was deleted: make it again next time
            self.memo.set("held_folder", None)
            held = {"value": []}
        for answer in (inbox, held):
            if isinstance(answer, ProviderError):
                raise answer
        messages = self._all(inbox, held=False)
        self._held = self._all(held, held=True)
        return [m for m in messages if since is None or m.received >= since]

    def _all(self, answer: dict[str, Any], *, held: bool) -> list[Message]:
        items = list(answer.get("value") or ())
        link = answer.get("@odata.nextLink")
        while link:
            page = self.session.call(Call("GET", str(link)))
            items += page.get("value") or []
            link = page.get("@odata.nextLink")
        self._where |= {str(i["id"]): str(i.get("parentFolderId", "")) for i in items}
        return [mapping.to_message(i, held=held) for i in items]

    def list_held(self) -> list[Message]:
        if self._held is not None:
            held, self._held = self._held, None
            return held
        folder = self._folder(create=False)
        if not folder:
            return []
        try:
            answer = self.session.object(self._listing(folder, None))
        except NotFound:
            self.memo.set("held_folder", None)
            return []
        return self._all(answer, held=True)

    # -- moving

    def hold(self, ids: Sequence[str]) -> int:
        return self._move(ids, self._folder())

    def release(self, ids: Sequence[str]) -> int:
        return self._move(ids, "inbox")

    def _move(self, ids: Sequence[str], destination: str) -> int:
        """Move each message; one already there, or gone, is skipped. Where each one is
        comes first: with immutable ids, a move that timed out is safe to repeat."""
        self._held = None
        if not ids:
            return 0
        target = self._folder_id(destination)
        # Where each one is: known from this run's listing, else asked (a move is only
        # repeated safely when the message is known not to be there already).
        unknown = [i for i in ids if not self._where.get(i)]
        looks = [
            Call("GET", f"{self.user}/messages/{i}", {"$select": "id,parentFolderId"})
            for i in unknown
        ]
        for i, found in zip(unknown, self._each(looks), strict=True):
            if _raise_unless_gone(found):
                self._where[i] = str(found.get("parentFolderId", ""))
        moving = [i for i in ids if self._where.get(i) and self._where[i] != target]
        calls = [
            Call("POST", f"{self.user}/messages/{i}/move", body={"destinationId": destination})
            for i in moving
        ]
        moved = 0
        for i, result in zip(moving, self._each(calls), strict=True):
            if _raise_unless_gone(result):
                moved += 1
                self._where[i] = target
        return moved

    def _each(self, calls: list[Call]) -> list[Any]:
        if len(calls) > 1:
            return self.session.batch(calls)
        out: list[Any] = []
        for c in calls:
            try:
                out.append(self.session.call(c))
            except ProviderError as exc:
                out.append(exc)
        return out

    def _folder_id(self, name: str) -> str:
        if name != "inbox":
            return name
        known = self.memo.get("inbox_folder")
        if not known:
            known = str(
                self.session.call(Call("GET", f"{self.user}/mailFolders/inbox", {"$select": "id"}))[
                    "id"
                ]
            )
            self.memo.set("inbox_folder", known)
            self.memo.save()
        return str(known)

    # -- alerts

    def deliver(self, alert: Alert, *, first_try: bool = False) -> None:
        """Sent from the user to the user, tagged with its key: the rule lets mail from
        the user through, and the tag makes a second delivery of one key a no-op (looked
        up unless this is the `first_try`)."""
        if not first_try and self._delivered(alert.key):
            return
        message = {
            "subject": alert.subject,
            "body": {
                "contentType": "html" if alert.html else "text",
                "content": alert.html or alert.text,
            },
            "toRecipients": [{"emailAddress": {"address": self.session.email}}],
            "singleValueExtendedProperties": [{"id": mapping.ALERT_PROP, "value": alert.key}],
        }
        if alert.images:  # shown in the HTML by cid:, not listed as attachments
            message["attachments"] = [
                {
                    "@odata.type": "#microsoft.graph.fileAttachment",
                    "name": f"{image.name}.png",
                    "contentType": "image/png",
                    "contentBytes": base64.b64encode(image.png).decode(),
                    "contentId": image.cid,
                    "isInline": True,
                }
                for image in alert.images
            ]
        self._held = None
        # Not idempotent: after a lost answer, the next run's lookup finds it.
        send = {"message": message, "saveToSentItems": False}
        self.session.call(Call("POST", f"{self.user}/sendMail", body=send, idempotent=False))

    def _delivered(self, key: str, prop: str = mapping.ALERT_PROP) -> bool:
        quoted = key.replace("'", "''")
        lookup = Call(
            "GET",
            f"{self.user}/messages",
            {
                "$filter": "singleValueExtendedProperties/Any(ep: ep/id eq "
                f"'{prop}' and ep/value eq '{quoted}')",
                "$select": "id",
            },
        )
        return bool(self.session.call(lookup).get("value"))

    def save_draft(self, draft: Draft) -> None:
        """A message created, not sent, lands in Drafts (Mail.ReadWrite, no Mail.Send);
        tagged with its key, which is looked up first, so it is saved once."""
        if self._delivered(draft.key, mapping.DRAFT_PROP):
            return
        message = {
            "subject": draft.subject,
            "body": {"contentType": "text", "content": draft.text},
            "toRecipients": [{"emailAddress": {"address": a}} for a in draft.to],
            "singleValueExtendedProperties": [{"id": mapping.DRAFT_PROP, "value": draft.key}],
        }
        # Not idempotent: after a lost answer, the next run's lookup finds it.
        self.session.call(Call("POST", f"{self.user}/messages", body=message, idempotent=False))

    # -- the rule

    def set_hold_rule(self, allowed: Sequence[str] | None) -> None:
        """One inbox rule moves mail from everyone but `allowed` (and the user) into the
        held folder; None switches it off. Nothing is sent when it is as wanted; at each
        change, the rules are looked up by name, so a copy made by a create whose
        answer was lost is found, and removed, rather than left holding mail."""
        known = self.memo.get("rule")  # {"enabled": bool, "allowed": [...] | None}
        wanted = None if allowed is None else sorted(set(allowed))
        as_wanted = known is not None and known.get("enabled") == (wanted is not None)
        if as_wanted and (wanted is None or known.get("allowed") == wanted):
            return
        path = f"{self.user}/mailFolders/inbox/messageRules"
        ours = self._our_rules()
        if wanted is None:
            for r in ours:
                if r.get("isEnabled"):
                    self.session.call(Call("PATCH", f"{path}/{r['id']}", body={"isEnabled": False}))
        else:
            body = {
                "displayName": RULE_NAME,
                # Last, and letting later rules run: the user's own filing rules go first.
                "sequence": 999,
                "isEnabled": True,
                "exceptions": self._exceptions(wanted),
                "actions": {"moveToFolder": self._folder(), "stopProcessingRules": False},
            }
            for extra in ours[1:]:
                self.session.call(Call("DELETE", f"{path}/{extra['id']}"))
            if ours:
                self.session.call(Call("PATCH", f"{path}/{ours[0]['id']}", body=body))
            else:
                self.memo.set("rule", None)  # until it is known to exist: look it up
                self.memo.save()
                self.session.call(Call("POST", path, body=body, idempotent=False))
        self.memo.set("rule", {"enabled": wanted is not None, "allowed": wanted})
        self.memo.save()

    def _exceptions(self, allowed: list[str]) -> dict[str, Any]:
        addresses = [a for a in allowed if not a.startswith("@")]
        if self.session.email:
            addresses.append(self.session.email)  # the user's own mail, alerts included
        out: dict[str, Any] = {
            "fromAddresses": [{"emailAddress": {"address": a}} for a in sorted(set(addresses))]
        }
        # "acme.com" without the @: a sender at sales.acme.com is allowed too.
        domains = sorted({a[1:] for a in allowed if a.startswith("@")})
        if domains:
            out["senderContains"] = domains
        return out

    def _our_rules(self) -> list[dict[str, Any]]:
        answer = self.session.object(Call("GET", f"{self.user}/mailFolders/inbox/messageRules"))
        return [
            r
            for r in answer.get("value") or ()
            if isinstance(r, dict) and r.get("displayName") == RULE_NAME
        ]


def _raise_unless_gone(result: Any) -> bool:
    """False for a message that is gone (skipped); raise any other failure."""
    if isinstance(result, NotFound | BadRequest):
        return False  # gone, or an id Graph no longer knows
    if isinstance(result, ProviderError):
        raise result
    return True


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
