"""The state by concern: one small store per thing it remembers, on one connection
(SQLite or PostgreSQL, worker/database.py). Where a cycle must first decide and only
later write, a store answers with what it would change (`Look`, `GapSync`), and
writes that only when told to commit it: `plan`, `status` and `gaps` never write.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from worker import database
from worker.alerts import OpenGap
from worker.models import Block


def _iso(moment: datetime) -> str:
    # UTC, so that stored times compare correctly as text
    return moment.astimezone(UTC).isoformat()


class Store:
    def __init__(self, db: database.Db) -> None:
        self.db = db


# -- the blocks ledger: which blocks were seen, and which the user deleted


@dataclass(frozen=True)
class Look:
    """What the ledger makes of the blocks on the calendar now: the tombstones that
    apply, and what committing this look writes."""

    tombstones: frozenset[str]
    buried: tuple[tuple[str, str], ...] = ()  # (key, end): known blocks now gone
    present: tuple[Block, ...] = ()  # to remember as known
    aged_before: datetime | None = None  # tombstones ending before this are dropped


class Ledger(Store):
    def look(
        self,
        account: str,
        present: Iterable[Block],
        window: tuple[datetime, datetime],
        now: datetime,
    ) -> Look:
        """Decide, writing nothing: a known block inside the window that is no longer
        present was deleted by the user and becomes a tombstone. That holds for a
        block that has started or ended too (the worker never deletes those), or its
        kind would come back that day."""
        keys = {b.key: b for b in present}
        rows = self.db.execute(
            'SELECT key, start, "end" FROM known WHERE account = ?', (account,)
        ).fetchall()
        buried, known = [], {}
        for key, start, end in rows:
            known[key] = (start, end)
            if key in keys:
                continue
            s, e = datetime.fromisoformat(start), datetime.fromisoformat(end)
            if s < window[1] and e > window[0]:
                buried.append((str(key), str(end)))
        stones = self.db.execute(
            'SELECT key, "end" FROM tombstones WHERE account = ?', (account,)
        ).fetchall()
        alive = {str(k) for k, end in stones if datetime.fromisoformat(end) >= window[0]}
        ends = [datetime.fromisoformat(end) for _, end in (*stones, *buried)]
        return Look(
            frozenset(alive | {k for k, end in buried if datetime.fromisoformat(end) >= window[0]}),
            tuple(buried),
            # Only what is new or moved: a steady cycle then writes nothing here.
            tuple(b for k, b in keys.items() if known.get(k) != (_iso(b.start), _iso(b.end))),
            window[0] if any(end < window[0] for end in ends) else None,
        )

    def commit(self, account: str, look: Look, now: datetime) -> None:
        if not (look.buried or look.present or look.aged_before):
            return  # a steady cycle's: no write, no transaction
        with self.db:
            self.db.executemany(
                "INSERT INTO tombstones VALUES (?, ?, ?, ?) ON CONFLICT (account, key)"
                ' DO UPDATE SET "end" = excluded."end", at = excluded.at',
                [(account, key, end, _iso(now)) for key, end in look.buried],
            )
            self.db.executemany(
                "DELETE FROM known WHERE account = ? AND key = ?",
                [(account, key) for key, _ in look.buried],
            )
            self._remember(account, look.present)
            if look.aged_before is not None:
                self.db.execute(
                    'DELETE FROM tombstones WHERE account = ? AND "end" < ?',
                    (account, _iso(look.aged_before)),
                )

    def observe(
        self,
        account: str,
        present: Iterable[Block],
        window: tuple[datetime, datetime],
        now: datetime,
    ) -> frozenset[str]:
        """Look and commit at once: every tombstone still relevant."""
        look = self.look(account, present, window, now)
        self.commit(account, look, now)
        return look.tombstones

    def remember(self, account: str, blocks: Iterable[Block]) -> None:
        with self.db:
            self._remember(account, blocks)

    def _remember(self, account: str, blocks: Iterable[Block]) -> None:
        self.db.executemany(
            "INSERT INTO known VALUES (?, ?, ?, ?) ON CONFLICT (account, key)"
            ' DO UPDATE SET start = excluded.start, "end" = excluded."end"',
            [(account, b.key, _iso(b.start), _iso(b.end)) for b in blocks],
        )

    def count(self, account: str, start: datetime, end: datetime) -> int:
        """How many of the account's blocks, as last seen, start in [start, end)."""
        row = self.db.execute(
            "SELECT count(*) FROM known WHERE account = ? AND start >= ? AND start < ?",
            (account, _iso(start), _iso(end)),
        ).fetchone()
        return int(row[0])

    def forget(self, account: str, keys: Iterable[str]) -> None:
        """The worker itself is about to delete these: their absence is no tombstone."""
        with self.db:
            self.db.executemany(
                "DELETE FROM known WHERE account = ? AND key = ?", [(account, k) for k in keys]
            )


# -- the hold's marks: when it last ended


class HoldMarks(Store):
    def last_release(self, account: str) -> datetime | None:
        """When the hold last ended for this account (the admin block's start)."""
        row = self.db.execute("SELECT at FROM releases WHERE account = ?", (account,)).fetchone()
        return datetime.fromisoformat(row[0]) if row else None

    def released(self, account: str, moment: datetime) -> None:
        """Record a release; only ever moves forward."""
        with self.db:
            self.db.execute(
                "INSERT INTO releases VALUES (?, ?) ON CONFLICT (account)"
                " DO UPDATE SET at = excluded.at WHERE excluded.at > releases.at",
                (account, _iso(moment)),
            )


# -- follow-up gaps: alerted once, closed when a follow-up appears, in one digest


@dataclass(frozen=True)
class GapSync:
    """The gaps once those found now are recorded, and what recording them writes."""

    open: tuple[OpenGap, ...]
    closed: tuple[OpenGap, ...]  # closed by this look
    found: tuple[OpenGap, ...] = ()
    now: datetime | None = None
    oldest: datetime | None = None
    dropped: tuple[str, ...] = field(default=())  # open gaps whose meeting aged out
    writes: bool = True  # whether committing changes anything


class Gaps(Store):
    _COLUMNS = 'key, title, start, "end", client, alerted_at, closed_at'

    def look(
        self, account: str, found: Iterable[OpenGap], now: datetime, oldest: datetime
    ) -> GapSync:
        """Decide, writing nothing: a known open gap that is no longer found closes,
        unless its meeting aged out (ended before `oldest`): then it is forgotten. A
        gap found again reopens, still alerted if it was."""
        current = {g.key: g for g in found}
        rows = self.db.execute(
            f"SELECT {self._COLUMNS} FROM gaps WHERE account = ?", (account,)
        ).fetchall()
        known = {g.key: g for g in (_gap(account, r) for r in rows)}
        closed, dropped = [], []
        for key, g in known.items():
            if key in current or g.closed_at is not None:
                continue
            if g.end < oldest:
                dropped.append(key)
            else:
                closed.append(replace(g, closed_at=now))
        still = [
            replace(g, alerted_at=known[k].alerted_at if k in known else None, closed_at=None)
            for k, g in current.items()
            if g.end >= oldest
        ]
        # Most cycles find the gaps they knew, all open: then committing writes nothing,
        # and a write transaction per cycle is what serve's threads would queue on.
        writes = bool(closed or dropped) or any(
            g.key not in known or known[g.key].closed_at is not None for g in current.values()
        )
        writes = writes or any(g.end < oldest for g in known.values())
        return GapSync(
            tuple(sorted(still, key=lambda g: (g.end, g.key))),
            tuple(closed),
            tuple(current.values()),
            now,
            oldest,
            tuple(dropped),
            writes,
        )

    def commit(self, account: str, sync: GapSync) -> None:
        if sync.now is None or sync.oldest is None or not sync.writes:
            return
        with self.db:
            self.db.executemany(
                "DELETE FROM gaps WHERE account = ? AND key = ?",
                [(account, k) for k in sync.dropped],
            )
            self.db.executemany(
                "UPDATE gaps SET closed_at = ? WHERE account = ? AND key = ?",
                [(_iso(sync.now), account, g.key) for g in sync.closed],
            )
            self.db.executemany(
                'INSERT INTO gaps (account, key, title, start, "end", client)'
                " VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (account, key) DO UPDATE SET closed_at = NULL, digested = 0,"
                " title = excluded.title WHERE gaps.closed_at IS NOT NULL",
                [
                    (account, g.key, g.title, _iso(g.start), _iso(g.end), g.client)
                    for g in sync.found
                ],
            )
            self.db.execute(
                'DELETE FROM gaps WHERE account = ? AND "end" < ?', (account, _iso(sync.oldest))
            )
            # The report's record (worker/records.py) outlives the lookback.
            self.db.executemany(
                "UPDATE gap_history SET closed = ? WHERE account = ? AND key = ?",
                [(_iso(sync.now), account, g.key) for g in sync.closed],
            )
            self.db.executemany(
                "INSERT INTO gap_history VALUES (?, ?, ?, ?, ?, NULL)"
                " ON CONFLICT (account, key) DO UPDATE SET closed = NULL"
                " WHERE gap_history.closed IS NOT NULL",
                [(account, g.key, g.client, _iso(g.end), _iso(sync.now)) for g in sync.found],
            )

    def sync(
        self, account: str, found: Iterable[OpenGap], now: datetime, oldest: datetime
    ) -> tuple[list[OpenGap], list[OpenGap]]:
        """Look and commit at once: (open gaps, gaps closed by this call)."""
        sync = self.look(account, found, now, oldest)
        self.commit(account, sync)
        return self.open(account), list(sync.closed)

    def open(self, account: str) -> list[OpenGap]:
        rows = self.db.execute(
            f"SELECT {self._COLUMNS} FROM gaps"
            ' WHERE account = ? AND closed_at IS NULL ORDER BY "end", key',
            (account,),
        ).fetchall()
        return [_gap(account, r) for r in rows]

    def closed(self, account: str) -> list[OpenGap]:
        """Gaps closed since the last digest."""
        rows = self.db.execute(
            f"SELECT {self._COLUMNS} FROM gaps"
            ' WHERE account = ? AND closed_at IS NOT NULL AND digested = 0 ORDER BY "end", key',
            (account,),
        ).fetchall()
        return [_gap(account, r) for r in rows]

    def closed_since(self, account: str, since: datetime) -> list[OpenGap]:
        """Gaps closed at or after `since`, the latest first."""
        rows = self.db.execute(
            f"SELECT {self._COLUMNS} FROM gaps"
            " WHERE account = ? AND closed_at >= ? ORDER BY closed_at DESC, key",
            (account, _iso(since)),
        ).fetchall()
        return [_gap(account, r) for r in rows]

    def alerted(self, account: str, keys: Iterable[str], now: datetime) -> None:
        with self.db:
            self.db.executemany(
                "UPDATE gaps SET alerted_at = ? WHERE account = ? AND key = ?",
                [(_iso(now), account, k) for k in keys],
            )

    def digest_sent(self, account: str, day: date) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM digests WHERE account = ? AND day = ?", (account, day.isoformat())
        ).fetchone()
        return row is not None

    def digested(self, account: str, day: date) -> None:
        with self.db:
            self.db.execute(
                "INSERT INTO digests VALUES (?, ?) ON CONFLICT DO NOTHING",
                (account, day.isoformat()),
            )
            self.db.execute(
                "UPDATE gaps SET digested = 1 WHERE account = ? AND closed_at IS NOT NULL",
                (account,),
            )


def _gap(account: str, row: tuple[Any, ...]) -> OpenGap:
    key, title, start, end, client, alerted, closed = row
    return OpenGap(
        account,
        key,
        title,
        datetime.fromisoformat(start),
        datetime.fromisoformat(end),
        client,
        datetime.fromisoformat(alerted) if alerted else None,
        datetime.fromisoformat(closed) if closed else None,
    )


# -- the run log, and what the user was told outside a run (reconnect)


@dataclass(frozen=True)
class Run:
    account: str
    started: datetime
    finished: datetime
    ok: bool
    created: int = 0
    updated: int = 0
    deleted: int = 0
    error: str = ""
    held: int | None = None  # messages held when it ended; None: no hold step ran (not
    # read back by `last`: `held` keeps the latest)
    day: date | None = None  # the account's local day, for the mail record
    released: int = 0  # messages this run returned to the inbox


class RunLog(Store):
    KEEP = 200  # runs kept per account

    def __init__(self, db: database.Db) -> None:
        super().__init__(db)
        self._for_good: set[tuple[str, str]] = set()

    def log(self, run: Run) -> None:
        with self.db:
            self.db.execute(
                "INSERT INTO runs (account, started, finished, ok, created, updated, deleted,"
                " error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run.account,
                    _iso(run.started),
                    _iso(run.finished),
                    int(run.ok),
                    run.created,
                    run.updated,
                    run.deleted,
                    run.error,
                ),
            )
            if run.held is not None:
                self.db.execute(
                    "INSERT INTO held VALUES (?, ?, ?) ON CONFLICT (account)"
                    " DO UPDATE SET messages = excluded.messages, at = excluded.at",
                    (run.account, run.held, _iso(run.finished)),
                )
            if run.day is not None and (run.held or run.released):
                # the day's record (worker/records.py): the most held at once, and
                # every message returned
                self.db.execute(
                    "INSERT INTO mail_days VALUES (?, ?, ?, ?) ON CONFLICT (account, day)"
                    " DO UPDATE SET released = mail_days.released + excluded.released,"
                    " held = CASE WHEN excluded.held > mail_days.held"
                    " THEN excluded.held ELSE mail_days.held END",
                    (run.account, run.day.isoformat(), run.held or 0, run.released),
                )
            # Below the KEEP-th newest id: a walk of the index, five times cheaper than
            # "NOT IN (the newest KEEP)", which compared every row with a list.
            self.db.execute(
                "DELETE FROM runs WHERE account = ? AND id <= (SELECT id FROM runs"
                f" WHERE account = ? ORDER BY id DESC LIMIT 1 OFFSET {self.KEEP})",
                (run.account, run.account),
            )

    def last(self, account: str, *, ok: bool | None = None) -> Run | None:
        query = (
            "SELECT account, started, finished, ok, created, updated, deleted, error"
            " FROM runs"
            " WHERE account = ?" + ("" if ok is None else " AND ok = ?") + " ORDER BY id DESC"
        )
        args: tuple[object, ...] = (account,) if ok is None else (account, int(ok))
        row = self.db.execute(query, args).fetchone()
        if row is None:
            return None
        return Run(
            row[0],
            datetime.fromisoformat(row[1]),
            datetime.fromisoformat(row[2]),
            bool(row[3]),
            row[4],
            row[5],
            row[6],
            row[7],
        )

    def held(self, account: str) -> int | None:
        """Messages held as the last run that had a hold step left them."""
        row = self.db.execute("SELECT messages FROM held WHERE account = ?", (account,)).fetchone()
        return None if row is None else int(row[0])

    def noticed(self, account: str, key: str) -> bool:
        """Whether the user was told about `key` (e.g. "reconnect") already."""
        row = self.db.execute(
            "SELECT 1 FROM notices WHERE account = ? AND key = ?", (account, key)
        ).fetchone()
        return row is not None

    def noticed_for_good(self, account: str, key: str) -> bool:
        """`noticed`, for a notice never taken back: once seen, this connection stops
        asking (a steady cycle in serve, which keeps its connections, reads nothing)."""
        if (account, key) in self._for_good:
            return True
        found = self.noticed(account, key)
        if found:
            self._for_good.add((account, key))
        return found

    def forget_cached(self, account: str) -> None:
        self._for_good = {k for k in self._for_good if k[0] != account}

    def notice(self, account: str, key: str, now: datetime, *, told: bool = True) -> None:
        """Record that the user was told (or, with `told` off, that it is over)."""
        if not told and not self.noticed(account, key):
            return  # every good cycle says it is over: a read, not a write, when it is
        with self.db:
            if told:
                self.db.execute(
                    "INSERT INTO notices VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    (account, key, _iso(now)),
                )
            else:
                self.db.execute("DELETE FROM notices WHERE account = ? AND key = ?", (account, key))


# -- team scale: when each account is due, for the fan-out (worker/team.py)


class Schedule(Store):
    def claim_due(self, accounts: Iterable[str], now: datetime, hold: timedelta) -> list[str]:
        """The accounts due now, each marked queued until now + hold so that the next
        fan-out does not queue it again; a cycle that never reports back is due again
        after that. New accounts are due at once."""
        names = list(accounts)
        with self.db:
            self.db.executemany(
                "INSERT INTO schedule VALUES (?, ?, 'start') ON CONFLICT DO NOTHING",
                [(n, _iso(now)) for n in names],
            )
            rows = self.db.execute(
                "UPDATE schedule SET due = ?, why = 'queued' WHERE due <= ? RETURNING account",
                (_iso(now + hold), _iso(now)),
            ).fetchall()
        wanted = set(names)
        return sorted(r[0] for r in rows if r[0] in wanted)

    def set(self, account: str, due: datetime, why: str) -> None:
        with self.db:
            self.db.execute(
                "INSERT INTO schedule VALUES (?, ?, ?) ON CONFLICT (account)"
                " DO UPDATE SET due = excluded.due, why = excluded.why",
                (account, _iso(due), why),
            )

    def next_due(self, account: str) -> tuple[datetime, str] | None:
        row = self.db.execute(
            "SELECT due, why FROM schedule WHERE account = ?", (account,)
        ).fetchone()
        return (datetime.fromisoformat(row[0]), str(row[1])) if row else None
