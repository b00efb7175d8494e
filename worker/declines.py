"""Which invitations firstblock turns down for the rep (docs/design.md §1.1, "Time
defense"): the one thing it ever does to an event it does not own, and only the rep's
own answer to it.

An invitation is declined when all of these hold:
- the kind of block it lands on says so (`decline`: internal or all);
- that block is busy as this cycle reads it, and the rep has not changed it: it was
  busy since an earlier cycle wrote it, before this cycle saw the invitation (an
  invitation seen earlier never overlaps a planned block, since blocks give way to
  meetings; one that overlaps a block only because it does not take the time,
  `tentative_is_busy` off, is remembered as spared when the block is written busy);
- it waits on the rep's answer, from someone else, and was never answered or spared
  by firstblock before (remembered in state: once, ever);
- declines were on already: the first cycle under new settings (or after the state
  was lost) spares what it finds waiting, since that was there before;
- under `internal`: its organizer is inside the internal domains and nobody at it is
  a client (a hidden guest list may hide one: never internal). A client's invitation
  is never declined under `internal`: the block gives way, as it does for any
  meeting, and the next plan moves it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from worker.clients import People, client_keys
from worker.models import Attendee, Block, BlockKind, Event, Response, Status
from worker.policy import BlockPolicy

KEY = "decline/"  # state notice per answered (or spared) invitation: decline/<event id>
ARMED = "decline-armed/"  # state notice: declines are on under these settings


def signature(policies: Sequence[BlockPolicy]) -> str:
    """The decline settings in one string: a change arms them again."""
    return ",".join(f"{kind.value}={mode}" for kind, mode in _modes(policies).items())


def _modes(policies: Sequence[BlockPolicy]) -> dict[BlockKind, str]:
    """The kinds that decline, and how."""
    return {p.kind: p.decline for p in policies if p.decline != "none"}


@dataclass(frozen=True)
class Decline:
    event: Event
    block: Block  # the busy block it landed on
    internal: bool  # a colleague's invitation (else: a client's, under `all`)


def candidates(
    events: Iterable[Event],
    blocks: Sequence[Block],
    policies: Sequence[BlockPolicy],
    people: People,
) -> list[Decline]:
    """The invitations the rules would decline, before state says which were answered
    or spared already. Pure; blocks as read from the calendar."""
    modes = _modes(policies)
    guarded = sorted(
        (b for b in blocks if modes.get(b.kind) and not (b.free or b.touched or b.tentative)),
        key=lambda b: (b.start, b.key),
    )  # the first that qualifies names the block, whatever order the provider lists
    if not guarded or not people.me:
        return []
    found = []
    for event in events:
        if not _waits_on_me(event, people):
            continue
        internal = (
            people.is_internal(event.organizer)
            and not event.guests_hidden  # a client may be among the hidden guests
            and not client_keys(event, people)
        )
        under = [
            b
            for b in guarded
            if b.start < event.end and event.start < b.end
            and (modes[b.kind] == "all" or internal)
        ]  # fmt: skip
        if under:
            found.append(Decline(event, under[0], internal))
    return sorted(found, key=lambda d: (d.event.start, d.event.id))


def _waits_on_me(event: Event, people: People) -> bool:
    if event.status is Status.CANCELLED or event.all_day or event.problem:
        return False
    organizer = event.organizer.strip().lower()
    if not organizer or organizer == people.me:
        return False  # the rep's own event: nothing to answer
    return event.response_of(people.me) is Response.NEEDS_ACTION


def covered(
    found: Sequence[Decline], planned: Sequence[Block], policies: Sequence[BlockPolicy]
) -> list[Decline]:
    """Those a busy block of a declining kind still covers in the plan made with them
    declined."""
    modes = _modes(policies)
    busy = [b for b in planned if modes.get(b.kind) and not (b.free or b.tentative)]
    return [
        d
        for d in found
        if any(
            b.start < d.event.end
            and d.event.start < b.end
            and (modes[b.kind] == "all" or d.internal)
            for b in busy
        )
    ]


def as_declined(events: Iterable[Event], declines: Sequence[Decline], me: str) -> list[Event]:
    """The events as they will be once the declines are sent: the plan keeps the
    blocks those invitations landed on."""
    ids = {d.event.id for d in declines}
    out = []
    for e in events:
        if e.id in ids:
            others = tuple(a for a in e.attendees if a.email.casefold() != me.casefold())
            e = replace(e, attendees=(*others, Attendee(me, response=Response.DECLINED)))
        out.append(e)
    return out


def spared(blocks: Iterable[Block], events: Iterable[Event], people: People) -> list[str]:
    """Invitations still waiting on the rep under blocks about to be written busy: they
    were there first, so they are never declined (with `tentative_is_busy` off, a
    block may be planned on one)."""
    busy = [b for b in blocks if not b.free]
    return sorted(
        e.id
        for e in events
        if _waits_on_me(e, people) and any(b.start < e.end and e.start < b.end for b in busy)
    )
