"""HTTP handlers for /events, /calendar/events, /calendarView and /calendarView/delta."""

from __future__ import annotations

from typing import Any

from . import events
from .delta import delta_response
from .odata import Query, check_options, matches, parse_query
from .store import Ctx, Reply, page
from .wire import GraphError
from .zones import from_dtz, iso_utc, parse_query_instant

LIST_OPTIONS = {"$select", "$top", "$skip", "$skiptoken", "$filter", "$expand", "$orderby"}
VIEW_OPTIONS = LIST_OPTIONS | {"startDateTime", "endDateTime"}
ORDER = ("start/dateTime", "end/dateTime", "createdDateTime", "lastModifiedDateTime", "subject")
FILTER_FIELDS = {"subject": "string", "type": "string", "showAs": "string"}
DELTA_REFUSED = ("$select", "$filter", "$expand", "$orderby", "$search", "$top")


def _headers(ctx: Ctx) -> dict[str, str]:
    return {"Preference-Applied": ", ".join(ctx.prefer.applied)} if ctx.prefer.applied else {}


def _query(ctx: Ctx, allowed: set[str]) -> Query:
    return parse_query(
        ctx.query,
        allowed,
        filter_fields=FILTER_FIELDS,
        orderby=ORDER,
        properties=ctx.state.schema.property_names(events.EVENT),
        type_name=events.EVENT,
    )


def _sort_key(name: str) -> Any:
    def key(item: dict[str, Any]) -> Any:
        if name in ("start/dateTime", "end/dateTime"):
            return from_dtz(item[name.split("/")[0]])
        return item.get(name) or ""

    return key


def _collection(ctx: Ctx, items: list[dict[str, Any]], q: Query, context: str) -> Reply:
    items = [i for i in items if matches(i, q.filters, lambda f, i=i: i.get(f))]
    if q.orderby is not None:
        items.sort(key=_sort_key(q.orderby[0]), reverse=q.orderby[1])
    chunk, next_link = page(ctx, items, q.skip, ctx.page_size(q.top))
    body: dict[str, Any] = {
        "@odata.context": ctx.state.base_url + f"v1.0/$metadata#{context}",
        "value": [events.render(ctx, item, q) for item in chunk],
    }
    if next_link:
        body["@odata.nextLink"] = next_link
    return 200, body, _headers(ctx)


def list_events(ctx: Ctx) -> Reply:
    q = _query(ctx, LIST_OPTIONS)
    return _collection(ctx, list(ctx.mb.events.values()), q, f"users('{ctx.mb.oid}')/events")


def create_event(ctx: Ctx) -> Reply:
    ctx.state.schema.validate(ctx.body, events.EVENT)
    parse_query(ctx.query, set())
    tx = ctx.body.get("transactionId")
    existing = ctx.mb.events.get(ctx.mb.transactions.get(tx, "")) if tx else None
    if existing is not None:
        # A retried POST with the same transactionId: Graph answers 201 with the event it
        # already created and creates nothing (observed behaviour, API-NOTES 3.3).
        return 201, events.render(ctx, existing, None), _headers(ctx)
    stored = events.store_new(ctx.state, ctx.mb, ctx.body, as_is=False)
    return 201, events.render(ctx, stored, None), _headers(ctx)


def _check_etag(ctx: Ctx, item: dict[str, Any]) -> None:
    wanted = ctx.headers.get("if-match")
    if wanted is None or wanted.strip() == "*":
        return
    tags = [t.strip().removeprefix("W/").strip('"') for t in wanted.split(",")]
    if item["changeKey"] not in tags:
        raise GraphError(
            412,
            "ErrorIrresolvableConflict",
            "The change key passed in the request does not match the current change key for "
            "the item.",
        )


def get_event(ctx: Ctx) -> Reply:
    q = parse_query(
        ctx.query,
        {"$select", "$expand"},
        properties=ctx.state.schema.property_names(events.EVENT),
        type_name=events.EVENT,
    )
    item, _, _ = events.resolve(ctx.mb, ctx.args[0])
    return 200, events.render(ctx, item, q), _headers(ctx)


def patch_event(ctx: Ctx) -> Reply:
    ctx.state.schema.validate(ctx.body, events.EVENT)
    parse_query(ctx.query, set())
    item, _, _ = events.resolve(ctx.mb, ctx.args[0])
    _check_etag(ctx, item)
    updated = events.apply_changes(ctx.state, ctx.mb, ctx.args[0], ctx.body, api=True)
    return 200, events.render(ctx, updated, None), _headers(ctx)


def decline_event(ctx: Ctx) -> Reply:
    """POST /events/{id}/decline: the mailbox's own answer; 202, no body. The
    organizer cannot answer their own meeting."""
    args = ctx.state.schema.validate_action("decline", events.EVENT, ctx.body or {})
    parse_query(ctx.query, set())
    item, _, _ = events.resolve(ctx.mb, ctx.args[0])
    if item.get("isOrganizer", True):
        raise GraphError(
            400,
            "ErrorInvalidRequest",
            "Your request can't be completed. You can't respond to a meeting you organized.",
        )
    answer = {"response": "declined", "time": iso_utc(ctx.state.clock())}
    events.apply_changes(ctx.state, ctx.mb, ctx.args[0], {"responseStatus": answer}, api=False)
    ctx.mb.answers.append(
        (ctx.args[0], "declined", str(args.get("comment") or ""), args.get("sendresponse", True))
    )
    return 202, None, {}


def delete_event(ctx: Ctx) -> Reply:
    parse_query(ctx.query, set())
    item, _, _ = events.resolve(ctx.mb, ctx.args[0])
    _check_etag(ctx, item)
    events.remove(ctx.state, ctx.mb, ctx.args[0])
    return 204, None, {}


def _window(ctx: Ctx) -> tuple[Any, Any]:
    raw = {name: (ctx.query.get(name) or [""])[0] for name in ("startDateTime", "endDateTime")}
    if not raw["startDateTime"] or not raw["endDateTime"]:
        raise GraphError(
            400,
            "ErrorInvalidParameter",
            "This request requires a time window specified by the query string parameters "
            "StartDateTime and EndDateTime.",
        )
    lo = parse_query_instant(raw["startDateTime"], "startDateTime")
    hi = parse_query_instant(raw["endDateTime"], "endDateTime")
    if hi < lo:
        raise GraphError(400, "ErrorInvalidParameter", "The time window is empty.")
    return lo, hi


def calendar_view(ctx: Ctx) -> Reply:
    q = _query(ctx, VIEW_OPTIONS)
    lo, hi = _window(ctx)
    found = events.instances(ctx.mb, lo, hi, ctx.prefer.timezone)
    items = [item for _, item, _ in found]
    return _collection(ctx, items, q, f"users('{ctx.mb.oid}')/calendarView")


def calendar_delta(ctx: Ctx) -> Reply:
    for name in ctx.query:
        if name in DELTA_REFUSED:
            raise GraphError(
                400,
                "ErrorInvalidUrlQuery",
                "The following parameters are not supported with change tracking over the "
                f"'CalendarView' resource: '{name}'.",
            )
    check_options(ctx.query, {"startDateTime", "endDateTime", "$deltatoken", "$skiptoken"})
    if "$deltatoken" in ctx.query or "$skiptoken" in ctx.query:
        return delta_response(ctx, "calendarView", None, calendar_snapshot)
    lo, hi = _window(ctx)
    return delta_response(ctx, "calendarView", {"lo": lo, "hi": hi}, calendar_snapshot)


def calendar_snapshot(ctx: Ctx, params: dict[str, Any]) -> dict[str, tuple[int, Any]]:
    """What a calendarView delta tracks: item id -> (change counter, rendered event).

    Cancelled meetings count as removed, as Graph reports them.
    """
    found = events.instances(ctx.mb, params["lo"], params["hi"], ctx.prefer.timezone)
    out: dict[str, tuple[int, Any]] = {}
    for _, item, seq in found:
        if not item.get("isCancelled"):
            out[item["id"]] = (seq, events.render(ctx, item, None))
    return out
