"""Inbox rules (/mailFolders/inbox/messageRules) and mail delivery through them.

Enabled rules run by `sequence` when mail arrives (the arrive() helper or sendMail to a
mailbox of the emulator). A rule acts when all its conditions hold and none of its exceptions
does (Exchange ORs exceptions). Supported predicates, for conditions and exceptions alike:
fromAddresses, senderContains, subjectContains, bodyContains, bodyOrSubjectContains,
recipientContains, sentToAddresses, sentToMe, importance; no conditions matches every message.
Supported actions: moveToFolder, copyToFolder, delete, permanentDelete, markAsRead,
markImportance, assignCategories, stopProcessingRules. A rule using any other predicate or
action is accepted at creation (the schema knows it) but raises UnsupportedRule when mail
arrives: arrive() propagates it, an API call answers 500, and State.rule_errors records it.
"""

from __future__ import annotations

import copy
from typing import Any

from . import messages
from .odata import parse_query
from .store import Ctx, Mailbox, Reply, State, public
from .wire import GraphError, not_found

RULE = "microsoft.graph.messageRule"
PREDICATES = {
    "fromAddresses",
    "senderContains",
    "subjectContains",
    "bodyContains",
    "bodyOrSubjectContains",
    "recipientContains",
    "sentToAddresses",
    "sentToMe",
    "importance",
}
ACTIONS = {
    "moveToFolder",
    "copyToFolder",
    "delete",
    "permanentDelete",
    "markAsRead",
    "markImportance",
    "assignCategories",
    "stopProcessingRules",
}


class UnsupportedRule(NotImplementedError):
    """A rule uses a predicate or action the emulator does not evaluate."""


def _invalid(message: str) -> GraphError:
    return GraphError(400, "ErrorInvalidRequest", message)


def _check_inbox(ctx: Ctx) -> None:
    if ctx.mb.folder_id(ctx.args[0]) != ctx.mb.well_known["inbox"]:
        raise GraphError(
            400, "ErrorInvalidRequest", "Message rules exist only on the Inbox folder."
        )


def _resolve_folders(mb: Mailbox, rule: dict[str, Any]) -> None:
    actions = rule.get("actions") or {}
    for name in ("moveToFolder", "copyToFolder"):
        if actions.get(name):
            folder_id = mb.folder_id(actions[name])
            if folder_id is None:
                raise _invalid(f"The folder '{actions[name]}' given in {name} doesn't exist.")
            actions[name] = folder_id


def _render(rule: dict[str, Any]) -> dict[str, Any]:
    return public(rule)


def list_rules(ctx: Ctx) -> Reply:
    _check_inbox(ctx)
    parse_query(ctx.query, {"$top"})
    found = sorted(ctx.mb.rules.values(), key=lambda r: r["sequence"])
    return 200, {"value": [_render(r) for r in found]}, {}


def create_rule(ctx: Ctx) -> Reply:
    _check_inbox(ctx)
    ctx.state.schema.validate(ctx.body, RULE)
    body = ctx.body
    if not body.get("displayName") or not isinstance(body.get("sequence"), int):
        raise _invalid("A message rule needs a displayName and a sequence.")
    if body["sequence"] < 1:
        raise _invalid("The sequence of a message rule must be at least 1.")
    if not body.get("actions"):
        raise _invalid("A message rule needs at least one action.")
    rule: dict[str, Any] = {"isEnabled": True, "hasError": False, "isReadOnly": False}
    rule.update({k: copy.deepcopy(v) for k, v in body.items() if k not in ("id", "hasError")})
    _resolve_folders(ctx.mb, rule)
    rule["id"] = ctx.state.ids.item("AQMkADAwATM0")
    ctx.mb.rules[rule["id"]] = rule
    return 201, _render(rule), {}


def _rule(ctx: Ctx) -> dict[str, Any]:
    _check_inbox(ctx)
    rule = ctx.mb.rules.get(ctx.args[1])
    if rule is None:
        raise not_found()
    return rule


def get_rule(ctx: Ctx) -> Reply:
    parse_query(ctx.query, set())
    return 200, _render(_rule(ctx)), {}


def patch_rule(ctx: Ctx) -> Reply:
    rule = _rule(ctx)
    ctx.state.schema.validate(ctx.body, RULE)
    merged = copy.deepcopy(rule)
    merged.update({k: copy.deepcopy(v) for k, v in ctx.body.items() if k != "id"})
    _resolve_folders(ctx.mb, merged)
    rule.update(merged)
    return 200, _render(rule), {}


def delete_rule(ctx: Ctx) -> Reply:
    rule = _rule(ctx)
    del ctx.mb.rules[rule["id"]]
    return 204, None, {}


# ---- evaluation ---------------------------------------------------------------------------------
def _addresses(values: list[Any] | None) -> set[str]:
    return {
        str(((v or {}).get("emailAddress") or {}).get("address", "")).lower() for v in values or []
    }


def _contains(haystacks: list[str], needles: list[str]) -> bool:
    text = [h.lower() for h in haystacks]
    return any(n.lower() in h for n in needles for h in text)


def _matches(
    mb: Mailbox, msg: dict[str, Any], predicates: dict[str, Any], *, any_of: bool = False
) -> bool:
    """Whether the predicates hold: all of them (conditions), or any one (exceptions, as
    Exchange treats them). Values within one predicate always OR. No predicates: True for
    conditions, False for exceptions."""
    sender = (msg.get("from") or {}).get("emailAddress") or {}
    recipients = _addresses(msg.get("toRecipients")) | _addresses(msg.get("ccRecipients"))
    subject, body = msg.get("subject") or "", (msg.get("body") or {}).get("content") or ""
    for name, value in predicates.items():
        if value is None or value == []:
            continue
        if name not in PREDICATES:
            raise UnsupportedRule(f"emulator: unsupported predicate {name!r}")
        ok = {
            "fromAddresses": lambda v: str(sender.get("address", "")).lower() in _addresses(v),
            "senderContains": lambda v: _contains(
                [sender.get("address", ""), sender.get("name") or ""], v
            ),
            "subjectContains": lambda v: _contains([subject], v),
            "bodyContains": lambda v: _contains([body], v),
            "bodyOrSubjectContains": lambda v: _contains([subject, body], v),
            "recipientContains": lambda v: _contains(sorted(recipients), v),
            "sentToAddresses": lambda v: bool(_addresses(v) & recipients),
            "sentToMe": lambda v: (mb.upn.lower() in recipients) == v,
            "importance": lambda v: msg.get("importance") == v,
        }[name](value)
        if ok and any_of:
            return True
        if not ok and not any_of:
            return False
    return not any_of


def deliver(state: State, mb: Mailbox, fields: dict[str, Any]) -> dict[str, Any] | None:
    """Deliver a message to `mb`'s Inbox through its rules; None if a rule deleted it."""
    msg = messages.new_message(state, mb, mb.well_known["inbox"], fields)
    try:
        for rule in sorted(mb.rules.values(), key=lambda r: r["sequence"]):
            if not rule.get("isEnabled", True):
                continue
            if not _matches(mb, msg, rule.get("conditions") or {}):
                continue
            if _matches(mb, msg, rule.get("exceptions") or {}, any_of=True):
                continue
            if _act(state, mb, msg, rule.get("actions") or {}):
                break
    except UnsupportedRule as err:
        state.rule_errors.append(str(err))
        raise
    return mb.messages.get(msg["_key"])


def _act(state: State, mb: Mailbox, msg: dict[str, Any], actions: dict[str, Any]) -> bool:
    """Apply one rule's actions; True if rule processing stops here."""
    for name, value in actions.items():
        if value in (None, False, []):
            continue
        if name not in ACTIONS:
            raise UnsupportedRule(f"emulator: unsupported rule action {name!r}")
        if name == "markAsRead":
            msg["isRead"] = True
        elif name == "markImportance":
            msg["importance"] = value
        elif name == "assignCategories":
            msg["categories"] = sorted(set(msg["categories"]) | set(value))
        elif name == "copyToFolder":
            fields = {k: v for k, v in msg.items() if not k.startswith("_")}
            messages.new_message(state, mb, value, fields)
    if actions.get("permanentDelete"):
        del mb.regular[msg["_regularId"]]
        del mb.messages[msg["_key"]]
        state.changed(mb, msg, "deleted")
        return True
    if actions.get("delete"):
        messages.move(state, mb, msg, mb.well_known["deleteditems"])
    elif actions.get("moveToFolder"):
        messages.move(state, mb, msg, actions["moveToFolder"])
    state.touch(mb, msg)
    return bool(actions.get("stopProcessingRules"))
