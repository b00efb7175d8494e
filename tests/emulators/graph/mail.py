"""HTTP handlers for mailFolders, messages, move, sendMail and messages/delta."""

from __future__ import annotations

import copy
from typing import Any

from . import messages, rules
from .delta import delta_response
from .events import upsert_extended
from .odata import Query, check_options, matches, parse_query
from .store import Ctx, Mailbox, Reply, page
from .wire import GraphError, bad_request
from .zones import iso_utc

FOLDER = "microsoft.graph.mailFolder"
FOLDER_OPTIONS = {"$select", "$top", "$skip", "$skiptoken", "$filter", "includeHiddenFolders"}
MESSAGE_OPTIONS = {"$select", "$top", "$skip", "$skiptoken", "$filter", "$expand", "$orderby"}
MESSAGE_FILTERS = {
    "receivedDateTime": "datetime",
    "sentDateTime": "datetime",
    "isRead": "bool",
    "isDraft": "bool",
    "subject": "string",
    "conversationId": "string",
    "internetMessageId": "string",
}
DELTA_OPTIONS = {"$select", "$top", "$filter", "$expand", "$orderby", "changeType"}


def _headers(ctx: Ctx) -> dict[str, str]:
    return {"Preference-Applied": ", ".join(ctx.prefer.applied)} if ctx.prefer.applied else {}


# ---- folders ------------------------------------------------------------------------------------
def _render_folder(mb: Mailbox, folder: dict[str, Any]) -> dict[str, Any]:
    inside = [m for m in mb.messages.values() if m["_folder"] == folder["id"]]
    return {
        "id": folder["id"],
        "displayName": folder["displayName"],
        "parentFolderId": folder["parentFolderId"],
        "childFolderCount": sum(
            1 for f in mb.folders.values() if f.get("parentFolderId") == folder["id"]
        ),
        "unreadItemCount": sum(1 for m in inside if not m["isRead"]),
        "totalItemCount": len(inside),
        "isHidden": bool(folder.get("isHidden")),
    }


def _folder_query(ctx: Ctx) -> Query:
    return parse_query(
        ctx.query,
        FOLDER_OPTIONS,
        filter_fields={"displayName": "string"},
        properties=ctx.state.schema.property_names(FOLDER),
        type_name=FOLDER,
    )


def _children(ctx: Ctx, parent: str) -> Reply:
    q = _folder_query(ctx)
    hidden = (ctx.query.get("includeHiddenFolders") or ["false"])[0].lower() == "true"
    found = [
        _render_folder(ctx.mb, f)
        for f in ctx.mb.folders.values()
        if f.get("parentFolderId") == parent and (hidden or not f.get("isHidden"))
    ]
    found = [f for f in found if matches(f, q.filters, lambda name, f=f: f.get(name))]
    chunk, next_link = page(ctx, found, q.skip, ctx.page_size(q.top))
    body: dict[str, Any] = {"value": [_project_folder(f, q) for f in chunk]}
    if next_link:
        body["@odata.nextLink"] = next_link
    return 200, body, {}


def _project_folder(folder: dict[str, Any], q: Query) -> dict[str, Any]:
    if q.select is None:
        return folder
    return {k: v for k, v in folder.items() if k == "id" or k in q.select}


def list_folders(ctx: Ctx) -> Reply:
    return _children(ctx, ctx.mb.well_known["msgfolderroot"])


def list_child_folders(ctx: Ctx) -> Reply:
    return _children(ctx, messages.folder_of(ctx.mb, ctx.args[0]))


def get_folder(ctx: Ctx) -> Reply:
    q = parse_query(
        ctx.query,
        {"$select"},
        properties=ctx.state.schema.property_names(FOLDER),
        type_name=FOLDER,
    )
    folder = ctx.mb.folders[messages.folder_of(ctx.mb, ctx.args[0])]
    return 200, _project_folder(_render_folder(ctx.mb, folder), q), {}


def create_folder(ctx: Ctx) -> Reply:
    parse_query(ctx.query, set())
    ctx.state.schema.validate(ctx.body, FOLDER)
    parent = (
        messages.folder_of(ctx.mb, ctx.args[0]) if ctx.args else ctx.mb.well_known["msgfolderroot"]
    )
    name = ctx.body.get("displayName")
    if not isinstance(name, str) or not name.strip():
        raise GraphError(400, "ErrorInvalidRequest", "The displayName of a folder is required.")
    for folder in ctx.mb.folders.values():
        if folder.get("parentFolderId") == parent and folder["displayName"].lower() == name.lower():
            raise GraphError(
                409, "ErrorFolderExists", "A folder with the specified name already exists."
            )
    folder_id = ctx.state.new_folder(ctx.mb, parent, name, bool(ctx.body.get("isHidden")))
    return 201, _render_folder(ctx.mb, ctx.mb.folders[folder_id]), {}


# ---- messages -----------------------------------------------------------------------------------
def _message_query(ctx: Ctx, allowed: set[str]) -> Query:
    return parse_query(
        ctx.query,
        allowed,
        filter_fields=MESSAGE_FILTERS,
        orderby=("receivedDateTime", "sentDateTime"),
        properties=ctx.state.schema.property_names(messages.MESSAGE),
        type_name=messages.MESSAGE,
    )


def _select(ctx: Ctx, found: list[dict[str, Any]], q: Query) -> list[dict[str, Any]]:
    found = [m for m in found if matches(m, q.filters, lambda n, m=m: messages.value_of(m, n))]
    order, descending = q.orderby or ("receivedDateTime", True)  # Graph's default order
    found.sort(key=lambda m: messages.value_of(m, order) or "", reverse=descending)
    return found


def list_messages(ctx: Ctx) -> Reply:
    q = _message_query(ctx, MESSAGE_OPTIONS)
    found = list(ctx.mb.messages.values())
    if ctx.args:
        folder_id = messages.folder_of(ctx.mb, ctx.args[0])
        found = [m for m in found if m["_folder"] == folder_id]
    chunk, next_link = page(ctx, _select(ctx, found, q), q.skip, ctx.page_size(q.top))
    body: dict[str, Any] = {"value": [messages.render(ctx, m, q) for m in chunk]}
    if next_link:
        body["@odata.nextLink"] = next_link
    return 200, body, _headers(ctx)


def get_message(ctx: Ctx) -> Reply:
    q = _message_query(ctx, {"$select", "$expand"})
    return 200, messages.render(ctx, messages.find(ctx.mb, ctx.args[0]), q), _headers(ctx)


def patch_message(ctx: Ctx) -> Reply:
    parse_query(ctx.query, set())
    ctx.state.schema.validate(ctx.body, messages.MESSAGE)
    msg = messages.find(ctx.mb, ctx.args[0])
    for name, value in ctx.body.items():
        if name == "singleValueExtendedProperties":
            upsert_extended(msg, value or [])
        elif name not in messages.SERVER_OWNED:
            msg[name] = copy.deepcopy(value)
    msg["bodyPreview"] = messages.body_preview(msg.get("body"))
    ctx.state.touch(ctx.mb, msg)
    return 200, messages.render(ctx, msg, None), _headers(ctx)


def delete_message(ctx: Ctx) -> Reply:
    parse_query(ctx.query, set())
    msg = messages.find(ctx.mb, ctx.args[0])
    trash = ctx.mb.well_known["deleteditems"]
    if msg["_folder"] == trash:
        del ctx.mb.regular[msg["_regularId"]]
        del ctx.mb.messages[msg["_key"]]
        ctx.mb.bump()
        ctx.state.changed(ctx.mb, msg, "deleted")
    else:
        messages.move(ctx.state, ctx.mb, msg, trash)  # Graph's DELETE is a soft delete
    return 204, None, {}


def move_message(ctx: Ctx) -> Reply:
    parse_query(ctx.query, set())
    args = ctx.state.schema.validate_action("move", messages.MESSAGE, ctx.body)
    destination = args.get("destinationid")
    if not isinstance(destination, str) or not destination:
        raise bad_request("The destinationId parameter is required.", "ErrorInvalidRequest")
    msg = messages.find(ctx.mb, ctx.args[0])
    messages.move(ctx.state, ctx.mb, msg, messages.folder_of(ctx.mb, destination))
    return 201, messages.render(ctx, msg, None), _headers(ctx)


def create_message(ctx: Ctx) -> Reply:
    """POST /messages or /mailFolders/{id}/messages: a draft in that folder (Drafts)."""
    parse_query(ctx.query, set())
    ctx.state.schema.validate(ctx.body, messages.MESSAGE)
    folder_id = messages.folder_of(ctx.mb, ctx.args[0] if ctx.args else "drafts")
    me = messages.address(ctx.mb.display_name, ctx.mb.upn)
    fields = {"from": me, "sender": me, "isRead": True, **ctx.body, "isDraft": True}
    msg = messages.new_message(ctx.state, ctx.mb, folder_id, fields)
    return 201, messages.render(ctx, msg, None), _headers(ctx)


def send_mail(ctx: Ctx) -> Reply:
    parse_query(ctx.query, set())
    args = ctx.state.schema.validate_action("sendMail", "microsoft.graph.user", ctx.body)
    message = args.get("message")
    if not isinstance(message, dict):
        raise bad_request("The message parameter is required.", "ErrorInvalidRequest")
    recipients = messages.check_recipients(message)
    me = messages.address(ctx.mb.display_name, ctx.mb.upn)
    stamp = iso_utc(ctx.state.clock())
    fields = {**message, "from": me, "sender": me, "sentDateTime": stamp}
    fields["receivedDateTime"] = stamp
    if args.get("savetosentitems") is not False:
        sent = {**fields, "isRead": True}
        messages.new_message(ctx.state, ctx.mb, ctx.mb.well_known["sentitems"], sent)
    delivered: set[str] = set()
    for addr in recipients:
        target = ctx.state.mailbox_by(addr)
        if target is not None and target.oid not in delivered:
            delivered.add(target.oid)
            rules.deliver(ctx.state, target, {**fields, "isRead": False})
    return 202, None, {}


# ---- delta --------------------------------------------------------------------------------------
def messages_delta(ctx: Ctx) -> Reply:
    folder_id = messages.folder_of(ctx.mb, ctx.args[0])
    if "$deltatoken" in ctx.query or "$skiptoken" in ctx.query:
        check_options(ctx.query, {"$deltatoken", "$skiptoken"})
        return delta_response(ctx, "messages", None, messages_snapshot)
    q = _message_query(ctx, DELTA_OPTIONS)
    for clause in q.filters:
        if clause.field != "receivedDateTime" or clause.op not in ("ge", "gt"):
            raise GraphError(
                400,
                "ErrorInvalidUrlQuery",
                "The following parameters are not supported with change tracking over the "
                "'Messages' resource: $filter other than receivedDateTime ge|gt.",
            )
    if q.orderby is not None and q.orderby != ("receivedDateTime", True):
        raise GraphError(
            400, "ErrorInvalidUrlQuery", "Delta supports $orderby=receivedDateTime desc."
        )
    change_type = q.params.get("changeType")
    if change_type not in (None, "created", "updated", "deleted"):
        raise bad_request(f"Invalid changeType '{change_type}'.")
    params = {"folder": folder_id, "query": q, "top": q.top, "changeType": change_type}
    return delta_response(ctx, "messages", params, messages_snapshot)


def messages_snapshot(ctx: Ctx, params: dict[str, Any]) -> dict[str, tuple[int, Any]]:
    q: Query = params["query"]
    found = [m for m in ctx.mb.messages.values() if m["_folder"] == params["folder"]]
    return {m["_key"]: (m["_seq"], messages.render(ctx, m, q)) for m in _select(ctx, found, q)}
