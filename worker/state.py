"""State: only what the calendar itself cannot tell (docs/design.md §2.3). An SQLite file
by default; PostgreSQL for a team's workers (worker/database.py). One connection, and
a small store per concern on it (worker/stores.py, worker/accounts.py):

- `ledger`: the blocks seen on the calendar, so that one that disappears can be told
  apart from one never written (a user deletion: a tombstone), and the tombstones;
- `holds`: when the hold last ended; `gaps`: follow-up gaps, alerts, digests;
- `runs`: the run log and notices; `figures`: the week's discipline figures;
- `schedule`: when each account is due (team scale); `accounts`: accounts added
  without editing the config; `documents`: a team's credentials and memos;
- `channels` and `nudges`: push notifications (worker/channels.py).

Losing this file is safe: the calendar still carries every block's tag, so nothing is
duplicated; at worst a block the user deleted comes back once.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from worker import database
from worker.accounts import AccountStore
from worker.channels import Channels, Nudges, OwnWrites
from worker.errors import from_os
from worker.records import Figures
from worker.stores import Gaps, HoldMarks, Ledger, Run, RunLog, Schedule

__all__ = ["Run", "SharedDocuments", "State"]

LOG = logging.getLogger("firstblock.state")


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
    "held",
    "channels",
    "nudges",
    "own_writes",
    "heard",
    "kept",
    "losses",
    "mail_days",
    "gap_history",
    "day_zones",
)


def _free_name(path: Path) -> Path:
    """`state.sqlite3.damaged`, or `.damaged-2`, … : never over an earlier one."""
    n = 1
    while True:
        aside = path.with_name(f"{path.name}.damaged" + (f"-{n}" if n > 1 else ""))
        if not aside.exists():
            return aside
        n += 1


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
        self._stores()

    def _stores(self) -> None:
        db = self.db
        self.accounts = AccountStore(db)
        self.ledger = Ledger(db)
        self.holds = HoldMarks(db)
        self.gaps = Gaps(db)
        self.runs = RunLog(db)
        self.figures = Figures(db)
        self.schedule = Schedule(db)
        self.channels = Channels(db)
        self.nudges = Nudges(db)
        self.own_writes = OwnWrites(db)
        self.documents = SharedDocuments(self)

    @classmethod
    def memory(cls) -> State:
        """A store that keeps nothing: for a run with no state of its own."""
        return cls._around(database.memory())

    @classmethod
    def read_only(cls, location: Path | str) -> State:
        """The state at `location` to read, never written: `plan`, `status` and `gaps`.
        A write raises, so a dry run that tried one would be found out. No SQLite file
        yet, or a damaged one: an empty store (nothing is created or moved)."""
        if isinstance(location, str) and database.is_url(location):
            state = cls(location)
            state.db.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            return state
        path = Path(location)
        if not path.exists():
            return cls.memory()
        try:
            return cls._around(database.read_only(str(path)))
        except sqlite3.Error as exc:
            if database.damaged(exc):
                return cls.memory()  # the next `run` sets it aside, with a warning
            raise database.sqlite_error(exc, str(path)) from None

    @classmethod
    def _around(cls, db: database.Db) -> State:
        state = cls.__new__(cls)
        state.warnings, state.path, state.db = [], None, db
        state._stores()
        return state

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

    def forget_account(self, account: str) -> None:
        """Everything kept for `account`, gone: it was removed."""
        with self.db:
            for table in ACCOUNT_TABLES:
                self.db.execute(f"DELETE FROM {table} WHERE account = ?", (account,))
            self.db.execute("DELETE FROM accounts WHERE name = ?", (account,))
        self.runs.forget_cached(account)
        self.figures.forget_cached(account)


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
