"""An in-memory calendar and mailbox held to the same contracts as the real ones."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from providers.base import AccountSpec, Alert, CalendarProvider, MailProvider, Message, Provider
from providers.errors import BadRequest, Conflict, NotFound, ProviderError
from providers.push import Channel, Watcher
from worker.clock import Clock
from worker.models import (
    Attendee,
    Block,
    Change,
    Draft,
    Event,
    Op,
    Response,
    Snapshot,
    Window,
    WorkHours,
)

_etags = itertools.count(1)


class MemoryCalendar(CalendarProvider):
    supports_decline = True

    def __init__(
        self, *, name: str = "memory", zone: str | None = None, hours: WorkHours | None = None
    ) -> None:
        super().__init__(name=name)
        self.events: list[Event] = []
        self.blocks: dict[str, Block] = {}
        self.zone = zone
        self.hours = hours  # working hours as a calendar's settings would declare them
        self.writes = 0  # how many changes were applied: lets tests count API-like calls
        self.owner_email = ""  # set to answer invitations as this address
        self.answers: list[tuple[str, str]] = []  # (event id, message) per decline

    def timezone(self) -> str | None:
        return self.zone

    def working_hours(self) -> WorkHours | None:
        return self.hours

    def fetch(self, window: Window) -> Snapshot:
        events = tuple(e for e in self.events if window.overlaps(e.start, e.end))
        blocks = tuple(b for b in self.blocks.values() if window.overlaps(b.start, b.end))
        return Snapshot(events, blocks)

    def decline(self, event: Event, message: str) -> None:
        found = next((e for e in self.events if e.id == event.id), None)
        if found is None:
            raise NotFound(f"no event {event.id}", where=self.name)
        if found != event:
            raise Conflict(f"event {event.id} changed since it was read", where=self.name)
        me = self.owner_email
        if not me or found.response_of(me) is None or found.organizer == me:
            raise BadRequest(f"not invited to {event.id}", where=self.name)
        people = tuple(a for a in found.attendees if a.email.casefold() != me.casefold())
        answered = replace(found, attendees=(*people, Attendee(me, response=Response.DECLINED)))
        self.events = [answered if e.id == event.id else e for e in self.events]
        self.answers.append((event.id, message))

    def owner(self) -> str:
        return self.owner_email

    def _apply(self, changes: Sequence[Change]) -> list[Change]:
        for change in changes:  # check everything first: all or nothing
            found = self.blocks.get(change.block.id)
            if change.op is Op.CREATE and found is not None and found.touched:
                raise Conflict(f"block {change.block.key} was changed meanwhile", where=self.name)
            if change.op is Op.UPDATE and found is None:
                raise Conflict(f"block {change.block.key} is gone", where=self.name)
            if (
                change.op is not Op.CREATE
                and found
                and change.before
                and found.etag != change.before.etag
            ):
                raise Conflict(
                    f"block {change.block.key} changed since it was read", where=self.name
                )
        applied = []
        for change in changes:
            self.writes += 1
            if change.op is Op.DELETE:
                self.blocks.pop(change.block.id, None)
                applied.append(change)
                continue
            stored = replace(change.block, written=change.block.fingerprint, etag=str(next(_etags)))
            self.blocks[stored.id] = stored
            applied.append(replace(change, block=stored))
        return applied

    # -- what a user does in their calendar app, for tests

    def user_edit(self, key: str, **fields: object) -> Block:
        """Move or retitle a block the way a user would: the tag stays, the content changes."""
        block = next(b for b in self.blocks.values() if b.key == key)
        changed = replace(block, etag=str(next(_etags)), **fields)  # type: ignore[arg-type]
        self.blocks[block.id] = changed
        return changed

    def user_delete(self, key: str) -> None:
        self.blocks = {i: b for i, b in self.blocks.items() if b.key != key}


class MemoryMailbox(MailProvider):
    """A mailbox in memory: an inbox and a held set, each message stored exactly once."""

    supports_hold_rule = True
    supports_drafts = True

    def __init__(self, *, name: str = "memory") -> None:
        super().__init__(name=name)
        self.messages: dict[str, Message] = {}  # id -> message, with `held` as its place
        self.drafts: dict[str, Draft] = {}  # by key
        self.flags: dict[str, frozenset[str]] = {}  # read/flagged state, never changed by us
        self.rule: tuple[str, ...] | None = None
        self.calls = 0  # provider operations made: lets tests count API-like calls

    def arrive(self, message: Message, flags: frozenset[str] = frozenset()) -> None:
        """Mail arriving; with a hold rule in place it goes straight to the hold."""
        held = self.rule is not None and not message.alert and not _allowed(message, self.rule)
        self.messages[message.id] = replace(message, held=held)
        self.flags[message.id] = flags

    def list_inbox(self, since: datetime | None) -> list[Message]:
        self.calls += 1
        return [
            m
            for m in self.messages.values()
            if not m.held and (since is None or m.received >= since)
        ]

    def list_held(self) -> list[Message]:
        self.calls += 1
        return [m for m in self.messages.values() if m.held]

    def hold(self, ids: Sequence[str]) -> int:
        return self._move(ids, held=True)

    def release(self, ids: Sequence[str]) -> int:
        return self._move(ids, held=False)

    def _move(self, ids: Sequence[str], *, held: bool) -> int:
        self.calls += 1
        moved = 0
        for i in ids:
            m = self.messages.get(i)
            if m is not None and m.held is not held:
                self.messages[i] = replace(m, held=held)
                moved += 1
        return moved

    def deliver(self, alert: Alert, *, first_try: bool = False) -> None:
        self.calls += 1
        key = "alert-" + alert.key
        if key not in self.messages:
            self.messages[key] = Message(key, "firstblock@localhost", alert.created, alert=True)
            self.flags[key] = frozenset()

    def save_draft(self, draft: Draft) -> None:
        self.calls += 1
        self.drafts.setdefault(draft.key, draft)

    def set_hold_rule(self, allowed: Sequence[str] | None) -> None:
        self.calls += 1
        self.rule = None if allowed is None else tuple(allowed)


def _allowed(message: Message, allowed: Sequence[str]) -> bool:
    """Like a server filter on "from": an address, or a domain and its subdomains."""
    domain = message.sender.rpartition("@")[2]
    return message.sender in allowed or any(
        a.startswith("@") and (domain == a[1:] or domain.endswith("." + a[1:])) for a in allowed
    )


class MemoryProvider(Provider):
    """For tests: an account whose calendar and mailbox live in this process only."""

    name = "memory"

    def open(self, spec: AccountSpec, clock: Clock) -> tuple[CalendarProvider, MailProvider | None]:
        return MemoryCalendar(name=spec.name), MemoryMailbox(name=spec.name)


class MemoryWatch(Watcher):
    """A source that can be watched, held to the Watcher contract: channels last
    `longest`; `renewable` ones are extended in place and get ids of
    their own, as Graph's subscriptions do; others keep the chosen id, as Google's."""

    def __init__(
        self,
        *,
        source: str = "calendar",
        longest: timedelta = timedelta(days=7),
        renewable: bool = False,
    ) -> None:
        self.source, self.longest, self.renewable = source, longest, renewable
        self.confirmed_at_once = renewable
        self.names_items = renewable  # Graph's notices name the item; Google's do not
        self.live: dict[str, tuple[Channel, str]] = {}  # id -> the channel, its token
        self.failure: ProviderError | None = None  # raised by the next calls, when set
        self.calls: list[str] = []
        self._ids = itertools.count(1)

    def watch(self, address: str, token: str, now: datetime, chosen: str) -> Channel:
        self._call("watch")
        cid = f"sub-{next(self._ids)}" if self.renewable else chosen
        if cid in self.live:
            raise BadRequest(f"channel id {cid} is taken")
        channel = Channel(self.source, cid, f"res-{self.source}", now + self.longest)
        self.live[cid] = (channel, token)
        return channel

    def renew(self, channel: Channel, now: datetime) -> Channel | None:
        if not self.renewable:
            return None
        self._call("renew")
        if channel.id not in self.live:
            raise NotFound(f"no channel {channel.id}")
        renewed = replace(channel, expires=now + self.longest)
        self.live[channel.id] = (renewed, self.live[channel.id][1])
        return renewed

    def unwatch(self, channel: Channel) -> None:
        self._call("stop")
        self.live.pop(channel.id, None)

    def _call(self, what: str) -> None:
        self.calls.append(what)
        if self.failure is not None:
            raise self.failure
