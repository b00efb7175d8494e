"""Delta queries (calendarView/delta, mailFolders/{id}/messages/delta) as server-side sync states.

A sync state remembers what the client has been sent (item key -> change counter, and the id
it was sent under). A deltaLink call compares the current snapshot with it: new or changed
items come back in full, items that left the view as {"id", "@removed": {"reason": "deleted"}}.
Pages of one round are frozen when the round starts; @odata.nextLink carries a $skiptoken,
the last page an @odata.deltaLink with a $deltatoken. expire_delta() invalidates every token
issued so far, answering either 410 Gone + Location or 400 syncStateNotFound.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from .store import Ctx, Reply
from .wire import GraphError

Snapshot = Callable[[Ctx, dict[str, Any]], dict[str, tuple[int, Any]]]
ODATA_TYPES = {"calendarView": "#microsoft.graph.event", "messages": "#microsoft.graph.message"}


@dataclass
class SyncState:
    kind: str
    mailbox: str
    scope: str  # the delta path, so a token is only good where it was issued
    params: dict[str, Any]
    known: dict[str, int]  # item key -> change counter the client has seen
    sent_ids: dict[str, str]  # item key -> the id it was sent under
    generation: int
    pending: list[Any] = field(default_factory=list)


class DeltaStore:
    def __init__(self) -> None:
        self.states: dict[str, SyncState] = {}
        self.generation = 0
        self.expired_kind = "410"

    def expire(self, kind: str) -> None:
        if kind not in ("410", "syncStateNotFound"):
            raise ValueError(f"unknown expiry kind {kind!r}; known: '410', 'syncStateNotFound'")
        self.generation += 1
        self.expired_kind = kind


def _expired(ctx: Ctx) -> GraphError:
    if ctx.state.deltas.expired_kind == "410":
        return GraphError(
            410,
            "SyncStateNotFound",
            "The sync state generation is not found or has expired. Restart the "
            "synchronization with an empty $deltatoken.",
            {"Location": ctx.link({"$deltatoken": ""})},
        )
    return GraphError(
        400, "syncStateNotFound", "The sync state was not found or has expired. Please resync."
    )


def _removed(kind: str, item_id: str) -> dict[str, Any]:
    return {"@odata.type": ODATA_TYPES[kind], "id": item_id, "@removed": {"reason": "deleted"}}


def delta_response(ctx: Ctx, kind: str, params: dict[str, Any] | None, snapshot: Snapshot) -> Reply:
    """Answer a delta call: a first round (params given) or a $skiptoken/$deltatoken one."""
    store = ctx.state.deltas
    token = (ctx.query.get("$skiptoken") or ctx.query.get("$deltatoken") or [""])[0]
    if params is None:
        previous = store.states.get(token)
        if previous is None or previous.scope != f"{ctx.mb.oid}:{ctx.path}":
            raise GraphError(400, "syncStateNotFound", "The sync state token is not valid.")
        if previous.generation != store.generation:
            raise _expired(ctx)
        if "$skiptoken" in ctx.query:
            return _page(ctx, previous)
        params = previous.params
        known, sent = previous.known, previous.sent_ids
    else:
        known, sent = {}, {}
    current = snapshot(ctx, params)
    change_type = params.get("changeType")
    items: list[Any] = []
    for key, (seq, rendered) in current.items():
        is_new = key not in known
        if (is_new or seq > known[key]) and change_type in (
            None,
            "created" if is_new else "updated",
        ):
            items.append(rendered)
    if change_type in (None, "deleted"):
        items += [_removed(kind, sent[key]) for key in known if key not in current]
    state = SyncState(
        kind,
        ctx.mb.oid,
        f"{ctx.mb.oid}:{ctx.path}",
        params,
        {key: seq for key, (seq, _) in current.items()},
        {key: rendered["id"] for key, (_, rendered) in current.items()},
        store.generation,
        items,
    )
    return _page(ctx, state)


def _page(ctx: Ctx, state: SyncState) -> Reply:
    store = ctx.state.deltas
    size = ctx.page_size(state.params.get("top"))
    chunk, rest = state.pending[:size], state.pending[size:]
    token = ctx.state.ids.token(40)
    store.states[token] = replace(state, pending=rest)
    body: dict[str, Any] = {
        "@odata.context": ctx.state.base_url + f"v1.0/$metadata#Collection({state.kind})",
        "value": chunk,
    }
    if rest:
        body["@odata.nextLink"] = ctx.link({"$skiptoken": token})
    else:
        body["@odata.deltaLink"] = ctx.link({"$deltatoken": token})
    headers = {"Preference-Applied": ", ".join(ctx.prefer.applied)} if ctx.prefer.applied else {}
    return 200, body, headers
