"""HTTP handlers for the user itself and its mailboxSettings."""

from __future__ import annotations

import copy
from typing import Any

from .odata import parse_query
from .store import Ctx, Mailbox, Reply
from .wire import GraphError
from .zones import zone

SETTINGS = "microsoft.graph.mailboxSettings"
USER_FIELDS = {
    "id",
    "displayName",
    "givenName",
    "surname",
    "mail",
    "userPrincipalName",
    "businessPhones",
    "jobTitle",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
}


def user_info(ctx: Ctx) -> Reply:
    q = parse_query(
        ctx.query, {"$select"}, properties=USER_FIELDS, type_name="microsoft.graph.user"
    )
    mb = ctx.mb
    given, _, surname = mb.display_name.partition(" ")
    body: dict[str, Any] = {
        "businessPhones": [],
        "displayName": mb.display_name,
        "givenName": given,
        "jobTitle": None,
        "mail": mb.upn,
        "mobilePhone": None,
        "officeLocation": None,
        "preferredLanguage": "en-US",
        "surname": surname or None,
        "userPrincipalName": mb.upn,
        "id": mb.oid,
    }
    if q.select is not None:
        body = {k: v for k, v in body.items() if k == "id" or k in q.select}
    context = ctx.state.base_url + "v1.0/$metadata#users/$entity"
    return 200, {"@odata.context": context, **body}, {}


def settings(mb: Mailbox) -> dict[str, Any]:
    return {
        "archiveFolder": mb.well_known["archive"],
        "timeZone": mb.timezone,
        "automaticRepliesSetting": {
            "status": "disabled",
            "externalAudience": "all",
            "internalReplyMessage": "",
            "externalReplyMessage": "",
        },
        "dateFormat": "M/d/yyyy",
        "timeFormat": "h:mm tt",
        "userPurpose": "user",
        "delegateMeetingMessageDeliveryOptions": "sendToDelegateOnly",
        "language": {"locale": "en-US", "displayName": "English (United States)"},
        "workingHours": copy.deepcopy(mb.working_hours),
    }


def mailbox_settings(ctx: Ctx) -> Reply:
    parse_query(ctx.query, {"$select"})
    context = ctx.state.base_url + f"v1.0/$metadata#users('{ctx.mb.oid}')/mailboxSettings"
    return 200, {"@odata.context": context, **settings(ctx.mb)}, {}


def mailbox_setting(ctx: Ctx) -> Reply:
    """GET /mailboxSettings/{timeZone|workingHours|language|...}."""
    parse_query(ctx.query, set())
    wanted = ctx.args[0]
    found = {k.lower(): (k, v) for k, v in settings(ctx.mb).items()}
    if wanted.lower() not in found:
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{wanted}'.")
    name, value = found[wanted.lower()]
    context = ctx.state.base_url + f"v1.0/$metadata#users('{ctx.mb.oid}')/mailboxSettings/{name}"
    if isinstance(value, dict):
        return 200, {"@odata.context": context, **value}, {}
    return 200, {"@odata.context": context, "value": value}, {}


def patch_mailbox_settings(ctx: Ctx) -> Reply:
    parse_query(ctx.query, set())
    ctx.state.schema.validate(ctx.body, SETTINGS)
    if "timeZone" in ctx.body:
        zone(ctx.body["timeZone"])
        ctx.mb.timezone = ctx.body["timeZone"]
    if isinstance(ctx.body.get("workingHours"), dict):
        ctx.mb.working_hours.update(copy.deepcopy(ctx.body["workingHours"]))
    return 200, settings(ctx.mb), {}
