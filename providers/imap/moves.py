"""Moving messages between the inbox and the hold, never losing or doubling one.

With MOVE (RFC 6851) the server moves atomically. Without it: COPY, then flag the
originals \\Deleted, then `UID EXPUNGE` just those UIDs (UIDPLUS, RFC 4315), so no
other message marked \\Deleted is expunged; a server with neither is refused. A
message is in the source until the COPY lands, then in both until the EXPUNGE.

"In both" is repaired, never left: a journal entry (kept in the caller's dict when it
gives one) is written before the COPY and cleared after the EXPUNGE; the next call
finishes what it names, and any move that finds its message in both places already
does the same. A copy is only expunged when its bytes equal the other copy's: then
nothing can be lost. If the COPY never landed, the original keeps its flags.
"""

from __future__ import annotations

import re
from collections.abc import Callable, MutableMapping, Sequence
from typing import Any

from providers.errors import BadRequest
from providers.imap.folders import Folders

Hook = Callable[[str], None]
Journal = MutableMapping[str, Any]
_COPYUID = re.compile(rb"\[COPYUID (\d+) ([\d:,]+) ([\d:,]+)\]")
_DELETED = b"\\Deleted"


def uid_set(text: bytes) -> list[int]:
    out: list[int] = []
    for part in text.split(b","):
        low, _, high = part.partition(b":")
        a, b = int(low), int(high or low)
        out.extend(range(min(a, b), max(a, b) + 1))
    return out


def _learn_copy(f: Folders, source: str, target: str, answers: Sequence[Any]) -> None:
    """Tell the target's view the new UIDs (COPYUID) so a listing need not fetch them."""
    source_view, target_view = f.views.get(source), f.views.get(target)
    for answer in answers:
        text = answer if isinstance(answer, bytes) else str(answer).encode()
        match = _COPYUID.search(text)
        if not match or source_view is None:
            continue
        old, new = uid_set(match.group(2)), uid_set(match.group(3))
        for a, b in zip(old, new, strict=False):
            entry = source_view.entries.pop(a, None)
            if entry is not None and target_view and target_view.uidvalidity == int(match[1]):
                target_view.entries[b] = entry
                f.landed.append((a, b))


def _expunge(f: Folders, uids: Sequence[int], *, mark: bool = True) -> None:
    """Remove exactly these UIDs of the selected folder (`mark`: flag them first;
    without, only those already marked \\Deleted go)."""
    if mark:
        f.conn.call("add_flags", list(uids), [_DELETED], silent=True)
    f.conn.call("uid_expunge", list(uids))
    view = f.views.get(f.selected[0]) if f.selected else None
    for uid in uids:
        if view is not None:
            view.entries.pop(uid, None)


def _doubles(
    f: Folders, source: str, target: str, in_source: dict[str, list[int]], validity: int
) -> dict[str, list[int]]:
    """Settle ids found in both folders, byte for byte (an interrupted move's copies):
    while the target's copy is live, the source's copies go (the move is finished;
    returned). A target copy marked \\Deleted next to a live source copy is the
    leftover of a move the other way: it goes, and the source copy moves as usual.
    Leaves the source selected read-write."""
    in_target = f.locate(target, list(in_source), readonly=True)
    if not in_target:
        f.check_validity(source, validity)
        return {}
    twins = {u: (f.body(u), _DELETED in fl) for u, fl in f.flags(_all(in_target)).items()}
    f.check_validity(source, validity)
    mine = {u: (f.body(u), _DELETED in fl) for u, fl in f.flags(_all(in_source)).items()}
    finished: dict[str, list[int]] = {}
    stale: list[int] = []
    for i, uids in in_target.items():
        live = {twins[u][0] for u in uids if u in twins and not twins[u][1]}
        done = [u for u in in_source.get(i, []) if u in mine and mine[u][0] in live]
        if done:
            finished[i] = done
            continue
        clean = {mine[u][0] for u in in_source.get(i, []) if u in mine and not mine[u][1]}
        stale += [u for u in uids if u in twins and twins[u][1] and twins[u][0] in clean]
    if stale:
        f.select(target, readonly=False)
        _expunge(f, stale, mark=False)
        f.check_validity(source, validity)
    return finished


def _all(found: dict[str, list[int]]) -> list[int]:
    return sorted(u for uids in found.values() for u in uids)


def move(
    f: Folders,
    source: str,
    target: str,
    wanted: Sequence[str],
    *,
    use_move: bool,
    journal: Journal,
    hook: Hook | None = None,
    keep: Callable[[], None] | None = None,
    found: set[str] | None = None,
) -> int:
    """Move the wanted ids from source to target; return how many moved. `keep`
    writes the journal where a later process finds it, before the COPY; `found`
    collects the ids found in the source."""
    wanted = list(dict.fromkeys(wanted))
    if not wanted:
        return 0
    in_source = f.locate(source, wanted, readonly=False)
    if found is not None:
        found.update(in_source)
    if not in_source:
        return 0
    assert f.selected is not None
    validity = f.selected[2]
    f.make(target)
    doubles = _doubles(f, source, target, in_source, validity)
    moved = 0
    for i, uids in doubles.items():
        if uids:
            _expunge(f, uids)
            moved += 1
        in_source[i] = [u for u in in_source[i] if u not in uids]
    rest = {i: uids for i, uids in in_source.items() if uids}
    if not rest:
        return moved
    uids = sorted(u for us in rest.values() for u in us)
    if use_move and f.conn.has("MOVE"):
        f.conn.untagged("OK")  # drop what earlier commands left, to read only this MOVE's
        f.conn.call("move", uids, target)
        _learn_copy(f, source, target, f.conn.untagged("OK"))
        return moved + len(rest)
    if not f.conn.has("UIDPLUS"):
        raise BadRequest(
            "the server offers neither MOVE nor UIDPLUS: expunging could remove other mail",
            where=f.conn.where,
        )
    flags = f.flags(uids)
    for i, us in rest.items():
        journal[i] = [source, target, [u for u in us if _DELETED in flags.get(u, ())]]
    if keep:
        keep()
    answer = f.conn.call("copy", uids, target)
    if hook:
        hook("copied")
    _learn_copy(f, source, target, [answer])
    f.conn.call("add_flags", uids, [_DELETED], silent=True)
    if hook:
        hook("flagged")
    f.conn.call("uid_expunge", uids)
    for i in rest:
        journal.pop(i, None)
    if keep:
        keep()
    return moved + len(rest)


def repair(f: Folders, journal: Journal) -> dict[str, str]:
    """Finish the moves the journal names: a copy in both places loses its source
    copy when the bytes match; an original left alone gets its flags back. Returns
    the ids it moved, with the folder each is now in."""
    finished: dict[str, str] = {}
    for i, record in list(journal.items()):
        source, target = str(record[0]), str(record[1])
        deleted_before = {int(u) for u in record[2]} if len(record) > 2 else set()
        in_source = f.locate(source, [i], readonly=False)
        if i in in_source:
            assert f.selected is not None
            doubles = _doubles(f, source, target, in_source, f.selected[2])
            done = doubles.get(i, [])
            if done:
                _expunge(f, done)
                finished[i] = target
            left = [u for u in in_source[i] if u not in done and u not in deleted_before]
            if left and not done:
                # The COPY never landed: this is the only copy, so it must not stay
                # marked for deletion by the step that was interrupted.
                f.conn.call("remove_flags", left, [_DELETED], silent=True)
        journal.pop(i, None)
    return finished
