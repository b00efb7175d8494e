"""State: only what the calendar itself cannot tell (docs/design.md §2.3). An SQLite file
by default; PostgreSQL for a team's workers (worker/database.py).

- known blocks: the blocks the worker has seen on the calendar, so that one that
  disappears can be told apart from one never written (a user deletion: a tombstone);
- tombstones: blocks the user deleted, never recreated;
- the run log.

Losing this file is safe: the calendar still carries every block's tag, so nothing is
duplicated; at worst a block the user deleted comes back once.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from worker import database
from worker.accounts import AccountStore
from worker.alerts import OpenGap
from worker.errors import from_os
from worker.models import Block

LOG = logging.getLogger("firstblock.state")


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


# The tables with a row per account (and an `account` column).
ACCOUNT_TABLES = (
    "known",
    "tombstones",
    "runs",
    "releases",
    "gaps",
    "digests",
    "days",
    "notices",
    "schedule",
)


def _free_name(path: Path) -> Path:
    """`state.sqlite3.damaged`, or `.damaged-2`, … : never over an earlier one."""
    n = 1
    while True:
        aside = path.with_name(f"{path.name}.damaged" + (f"-{n}" if n > 1 else ""))
        if not aside.exists():
            return aside
        n += 1


def _iso(moment: datetime) -> str:
    # UTC, so that stored times compare correctly as text
    return moment.astimezone(UTC).isoformat()


class State:
    def __init__(self, location: Path | str) -> None:
        """`location`: an SQLite file, or a postgresql:// URL.

        Raises WorkerError: StorageError (a folder or file that cannot be used, a newer
        version's state), OutOfSpace, StateUnavailable. `warnings` says what the user
        should know, e.g. that a damaged file was set aside."""
        self.warnings: list[str] = []
        self.path: Path | None = None
        self.db: database.Db
        if isinstance(location, str) and database.is_url(location):
            self.db = database.Postgres(location)
        else:
            self.path = Path(location)
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.db = self._open(self.path)
            except OSError as exc:
                raise from_os("state", exc) from None
        self.accounts = AccountStore(self.db)

    def _open(self, path: Path) -> database.Sqlite:
        try:
            return database.open_sqlite(str(path))
        except sqlite3.Error as exc:
            if not database.damaged(exc):
                raise database.sqlite_error(exc, str(path)) from None
        # Not a database any more (a disk error, a stray write). Losing state is safe
        # by design (docs/design.md §2.3): keep the damaged file for a look, start anew.
        aside = _free_name(path)
        try:
            path.replace(aside)
        except FileNotFoundError:  # another thread of `serve` set it aside first
            return self._open(path)
        for journal in ("-wal", "-shm"):  # they belong to the damaged file
            path.with_name(path.name + journal).unlink(missing_ok=True)
        warning = f"{path}: not a readable database, moved to {aside.name}; starting anew"
        LOG.warning("%s", warning)
        self.warnings.append(warning)
        try:
            return database.open_sqlite(str(path))
        except sqlite3.Error as exc:
            raise database.sqlite_error(exc, str(path)) from None

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[database.Db]:
        with self.db:
            yield self.db

    def observe(
        self,
        account: str,
        present: Iterable[Block],
        window: tuple[datetime, datetime],
        now: datetime,
    ) -> frozenset[str]:
        """Record the blocks present now; return every tombstone still relevant.

        A known block inside the window that is no longer present was deleted by the
        user: it becomes a tombstone. That holds for a block that has started or ended
        too (the worker never deletes those), or its kind would come back that day.
        """
        keys = {b.key: b for b in present}
        with self._tx() as db:
            rows = db.execute('SELECT key, start, "end" FROM known WHERE account = ?', (account,))
            for key, start, end in rows.fetchall():
                s, e = datetime.fromisoformat(start), datetime.fromisoformat(end)
                if key in keys or not (s < window[1] and e > window[0]):
                    continue
                db.execute(
                    "INSERT INTO tombstones VALUES (?, ?, ?, ?) ON CONFLICT (account, key)"
                    ' DO UPDATE SET "end" = excluded."end", at = excluded.at',
                    (account, key, end, _iso(now)),
                )
                db.execute("DELETE FROM known WHERE account = ? AND key = ?", (account, key))
            self._remember(db, account, keys.values())
            db.execute(
                'DELETE FROM tombstones WHERE account = ? AND "end" < ?', (account, _iso(window[0]))
            )
            rows = db.execute("SELECT key FROM tombstones WHERE account = ?", (account,))
            return frozenset(r[0] for r in rows.fetchall())

    def remember(self, account: str, blocks: Iterable[Block]) -> None:
        with self._tx() as db:
            self._remember(db, account, blocks)

    @staticmethod
    def _remember(db: database.Db, account: str, blocks: Iterable[Block]) -> None:
        db.executemany(
            "INSERT INTO known VALUES (?, ?, ?, ?) ON CONFLICT (account, key)"
            ' DO UPDATE SET start = excluded.start, "end" = excluded."end"',
            [(account, b.key, _iso(b.start), _iso(b.end)) for b in blocks],
        )

    def forget_account(self, account: str) -> None:
        """Everything kept for `account`, gone: it was removed."""
        with self._tx() as db:
            for table in ACCOUNT_TABLES:
                db.execute(f"DELETE FROM {table} WHERE account = ?", (account,))
            db.execute("DELETE FROM accounts WHERE name = ?", (account,))

    def forget(self, account: str, keys: Iterable[str]) -> None:
        """The worker itself is about to delete these: their absence is no tombstone."""
        with self._tx() as db:
            db.executemany(
                "DELETE FROM known WHERE account = ? AND key = ?", [(account, k) for k in keys]
            )

    def last_release(self, account: str) -> datetime | None:
        """When the hold last ended for this account (the admin block's start)."""
        row = self.db.execute("SELECT at FROM releases WHERE account = ?", (account,)).fetchone()
        return datetime.fromisoformat(row[0]) if row else None

    def released(self, account: str, moment: datetime) -> None:
        """Record a release; only ever moves forward."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO releases VALUES (?, ?) ON CONFLICT (account)"
                " DO UPDATE SET at = excluded.at WHERE excluded.at > releases.at",
                (account, _iso(moment)),
            )

    def log_run(self, run: Run) -> None:
        with self._tx() as db:
            db.execute(
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
            db.execute(
                "DELETE FROM runs WHERE account = ? AND id NOT IN "
                "(SELECT id FROM runs WHERE account = ? ORDER BY id DESC LIMIT 200)",
                (run.account, run.account),
            )

    def last_run(self, account: str, *, ok: bool | None = None) -> Run | None:
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

    # -- follow-up gaps: alerted once, closed when a follow-up appears

    def sync_gaps(
        self, account: str, found: Iterable[OpenGap], now: datetime, oldest: datetime
    ) -> tuple[list[OpenGap], list[OpenGap]]:
        """Record the gaps found now; return (open gaps, gaps closed by this call).

        A known open gap that is no longer found closed, unless its meeting aged out
        (ended before `oldest`): then it is simply forgotten.
        """
        current = {g.key: g for g in found}
        closed: list[OpenGap] = []
        with self._tx() as db:
            rows = db.execute(
                'SELECT key, title, start, "end", client, alerted_at FROM gaps'
                " WHERE account = ? AND closed_at IS NULL",
                (account,),
            ).fetchall()
            for key, title, start, end, client, alerted in rows:
                if key in current:
                    continue
                if datetime.fromisoformat(end) < oldest:
                    db.execute("DELETE FROM gaps WHERE account = ? AND key = ?", (account, key))
                    continue
                db.execute(
                    "UPDATE gaps SET closed_at = ? WHERE account = ? AND key = ?",
                    (_iso(now), account, key),
                )
                closed.append(_gap(account, (key, title, start, end, client, alerted, _iso(now))))
            db.executemany(
                'INSERT INTO gaps (account, key, title, start, "end", client)'
                " VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (account, key) DO UPDATE SET closed_at = NULL, digested = 0,"
                " title = excluded.title WHERE gaps.closed_at IS NOT NULL",
                [
                    (account, g.key, g.title, _iso(g.start), _iso(g.end), g.client)
                    for g in current.values()
                ],
            )
            db.execute('DELETE FROM gaps WHERE account = ? AND "end" < ?', (account, _iso(oldest)))
        return self.open_gaps(account), closed

    def open_gaps(self, account: str) -> list[OpenGap]:
        rows = self.db.execute(
            'SELECT key, title, start, "end", client, alerted_at, closed_at FROM gaps'
            ' WHERE account = ? AND closed_at IS NULL ORDER BY "end", key',
            (account,),
        ).fetchall()
        return [_gap(account, r) for r in rows]

    def closed_gaps(self, account: str) -> list[OpenGap]:
        """Gaps closed since the last digest."""
        rows = self.db.execute(
            'SELECT key, title, start, "end", client, alerted_at, closed_at FROM gaps'
            ' WHERE account = ? AND closed_at IS NOT NULL AND digested = 0 ORDER BY "end", key',
            (account,),
        ).fetchall()
        return [_gap(account, r) for r in rows]

    def alerted(self, account: str, keys: Iterable[str], now: datetime) -> None:
        with self._tx() as db:
            db.executemany(
                "UPDATE gaps SET alerted_at = ? WHERE account = ? AND key = ?",
                [(_iso(now), account, k) for k in keys],
            )

    def noticed(self, account: str, key: str) -> bool:
        """Whether the user was told about `key` (e.g. "reconnect") already."""
        row = self.db.execute(
            "SELECT 1 FROM notices WHERE account = ? AND key = ?", (account, key)
        ).fetchone()
        return row is not None

    def notice(self, account: str, key: str, now: datetime, *, told: bool = True) -> None:
        """Record that the user was told (or, with `told` off, that it is over)."""
        with self._tx() as db:
            if told:
                db.execute(
                    "INSERT INTO notices VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    (account, key, _iso(now)),
                )
            else:
                db.execute("DELETE FROM notices WHERE account = ? AND key = ?", (account, key))

    def digest_sent(self, account: str, day: date) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM digests WHERE account = ? AND day = ?", (account, day.isoformat())
        ).fetchone()
        return row is not None

    def digested(self, account: str, day: date) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO digests VALUES (?, ?) ON CONFLICT DO NOTHING",
                (account, day.isoformat()),
            )
            db.execute(
                "UPDATE gaps SET digested = 1 WHERE account = ? AND closed_at IS NOT NULL",
                (account,),
            )

    # -- the week's discipline figures

    def note_planned(self, account: str, day: date, minutes: int) -> None:
        """The day's prospecting minutes as first planned on that day; kept thereafter."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO days (account, day, planned) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (account, day.isoformat(), minutes),
            )

    def note_lost(self, account: str, day: date, blocks: int) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO days (account, day, planned, lost) VALUES (?, ?, 0, ?)"
                " ON CONFLICT (account, day) DO UPDATE SET lost = days.lost + excluded.lost",
                (account, day.isoformat(), blocks),
            )

    def week(self, account: str, first: date, last: date) -> tuple[int, int]:
        """(planned prospecting minutes, blocks lost) over the days first..last."""
        row = self.db.execute(
            "SELECT COALESCE(SUM(planned), 0), COALESCE(SUM(lost), 0) FROM days"
            " WHERE account = ? AND day BETWEEN ? AND ?",
            (account, first.isoformat(), last.isoformat()),
        ).fetchone()
        return int(row[0]), int(row[1])

    # -- team scale: what is due, for the fan-out (worker/team.py)

    def claim_due(self, accounts: Iterable[str], now: datetime, hold: timedelta) -> list[str]:
        """The accounts due now, each marked queued until now + hold so that the next
        fan-out does not queue it again; a cycle that never reports back is due again
        after that. New accounts are due at once."""
        names = list(accounts)
        with self._tx() as db:
            db.executemany(
                "INSERT INTO schedule VALUES (?, ?, 'start') ON CONFLICT DO NOTHING",
                [(n, _iso(now)) for n in names],
            )
            rows = db.execute(
                "UPDATE schedule SET due = ?, why = 'queued' WHERE due <= ? RETURNING account",
                (_iso(now + hold), _iso(now)),
            ).fetchall()
        wanted = set(names)
        return sorted(r[0] for r in rows if r[0] in wanted)

    def schedule(self, account: str, due: datetime, why: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO schedule VALUES (?, ?, ?) ON CONFLICT (account)"
                " DO UPDATE SET due = excluded.due, why = excluded.why",
                (account, _iso(due), why),
            )

    def next_due(self, account: str) -> tuple[datetime, str] | None:
        row = self.db.execute(
            "SELECT due, why FROM schedule WHERE account = ?", (account,)
        ).fetchone()
        return (datetime.fromisoformat(row[0]), row[1]) if row else None


class SharedDocuments:
    """The providers' credentials and memos in the shared state (providers.base.Documents),
    on the connection of the State it comes from."""

    def __init__(self, state: State) -> None:
        self.db = state.db

    def read(self, name: str) -> str | None:
        row = self.db.execute("SELECT body FROM documents WHERE name = ?", (name,)).fetchone()
        return str(row[0]) if row else None

    def write(self, name: str, text: str) -> None:
        with self.db:
            self.db.execute(
                "INSERT INTO documents VALUES (?, ?) ON CONFLICT (name)"
                " DO UPDATE SET body = excluded.body",
                (name, text),
            )

    def remove(self, name: str) -> None:
        with self.db:
            self.db.execute("DELETE FROM documents WHERE name = ?", (name,))


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
