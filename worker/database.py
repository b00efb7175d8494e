"""Where the state lives: an SQLite file on one machine (the default), or PostgreSQL
shared by a team's workers (docs/design.md §2.3; the `team` extra).

Both are reached through the few calls of `sqlite3.Connection` that State uses:
`execute`, `executemany`, `with db:` for a transaction, `close`. The SQL in State is
the dialect both understand (upserts with ON CONFLICT, "end" quoted).

The schema is a numbered list of migrations, each written for both dialects, applied
in order and recorded: SQLite in `PRAGMA user_version`, PostgreSQL in a table, under
an advisory lock so that workers starting together migrate once.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import quote, urlsplit, urlunsplit

from worker.errors import ConfigError, OutOfSpace, StateUnavailable, StorageError, WorkerError
from worker.text import excerpt

# (version, SQLite, PostgreSQL). Append; never edit a migration that has shipped.
_PUSH = (
    "CREATE TABLE IF NOT EXISTS channels (id TEXT PRIMARY KEY, account TEXT NOT NULL,"
    " provider TEXT NOT NULL, source TEXT NOT NULL, resource TEXT NOT NULL,"
    " token TEXT NOT NULL, expires TEXT NOT NULL, health TEXT NOT NULL,"
    " error TEXT NOT NULL, updated TEXT NOT NULL);"
    " CREATE TABLE IF NOT EXISTS nudges ("
    " account TEXT PRIMARY KEY, due TEXT NOT NULL, why TEXT NOT NULL);"
)
_OWN_WRITES = (
    "CREATE TABLE IF NOT EXISTS own_writes (account TEXT NOT NULL, item TEXT NOT NULL,"
    " version TEXT NOT NULL, until TEXT NOT NULL, PRIMARY KEY (account, item, version));"
    " CREATE TABLE IF NOT EXISTS heard (account TEXT NOT NULL, item TEXT NOT NULL,"
    " version TEXT NOT NULL, PRIMARY KEY (account, item, version));"
)
# Days are the account's own local days (ISO dates); times are UTC text.
_RECORDS = (
    "CREATE TABLE IF NOT EXISTS kept (account TEXT NOT NULL, day TEXT NOT NULL,"
    " minutes INTEGER NOT NULL, PRIMARY KEY (account, day));"
    " CREATE TABLE IF NOT EXISTS losses (account TEXT NOT NULL, day TEXT NOT NULL,"
    " kind TEXT NOT NULL, blocks INTEGER NOT NULL, PRIMARY KEY (account, day, kind));"
    " CREATE TABLE IF NOT EXISTS mail_days (account TEXT NOT NULL, day TEXT NOT NULL,"
    " held INTEGER NOT NULL, released INTEGER NOT NULL, PRIMARY KEY (account, day));"
    " CREATE TABLE IF NOT EXISTS gap_history (account TEXT NOT NULL, key TEXT NOT NULL,"
    ' client TEXT NOT NULL, "end" TEXT NOT NULL, opened TEXT NOT NULL, closed TEXT,'
    " PRIMARY KEY (account, key));"
    " CREATE TABLE IF NOT EXISTS day_zones (account TEXT PRIMARY KEY, zone TEXT NOT NULL);"
)
_GAPS_KNOWN = (
    'gap_history (account, key, client, "end", opened, closed)'
    ' SELECT account, key, client, "end", "end", closed_at FROM gaps'
)
MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (
        1,
        """
CREATE TABLE IF NOT EXISTS known (
    account TEXT NOT NULL, key TEXT NOT NULL, start TEXT NOT NULL, "end" TEXT NOT NULL,
    PRIMARY KEY (account, key));
CREATE TABLE IF NOT EXISTS tombstones (
    account TEXT NOT NULL, key TEXT NOT NULL, "end" TEXT NOT NULL, at TEXT NOT NULL,
    PRIMARY KEY (account, key));
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT NOT NULL,
    started TEXT NOT NULL, finished TEXT NOT NULL, ok INTEGER NOT NULL,
    created INTEGER NOT NULL, updated INTEGER NOT NULL, deleted INTEGER NOT NULL,
    error TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS runs_by_account ON runs (account, id);
CREATE TABLE IF NOT EXISTS releases (
    account TEXT PRIMARY KEY, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS gaps (
    account TEXT NOT NULL, key TEXT NOT NULL, title TEXT NOT NULL,
    start TEXT NOT NULL, "end" TEXT NOT NULL, client TEXT NOT NULL,
    alerted_at TEXT, closed_at TEXT, digested INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account, key));
CREATE TABLE IF NOT EXISTS digests (
    account TEXT NOT NULL, day TEXT NOT NULL, PRIMARY KEY (account, day));
CREATE TABLE IF NOT EXISTS days (
    account TEXT NOT NULL, day TEXT NOT NULL, planned INTEGER NOT NULL,
    lost INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (account, day));
CREATE TABLE IF NOT EXISTS notices (
    account TEXT NOT NULL, key TEXT NOT NULL, at TEXT NOT NULL, PRIMARY KEY (account, key));
""",
        """
CREATE TABLE known (
    account TEXT NOT NULL, key TEXT NOT NULL, start TEXT NOT NULL, "end" TEXT NOT NULL,
    PRIMARY KEY (account, key));
CREATE TABLE tombstones (
    account TEXT NOT NULL, key TEXT NOT NULL, "end" TEXT NOT NULL, at TEXT NOT NULL,
    PRIMARY KEY (account, key));
CREATE TABLE runs (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, account TEXT NOT NULL,
    started TEXT NOT NULL, finished TEXT NOT NULL, ok INTEGER NOT NULL,
    created INTEGER NOT NULL, updated INTEGER NOT NULL, deleted INTEGER NOT NULL,
    error TEXT NOT NULL DEFAULT '');
CREATE INDEX runs_by_account ON runs (account, id);
CREATE TABLE releases (account TEXT PRIMARY KEY, at TEXT NOT NULL);
CREATE TABLE gaps (
    account TEXT NOT NULL, key TEXT NOT NULL, title TEXT NOT NULL,
    start TEXT NOT NULL, "end" TEXT NOT NULL, client TEXT NOT NULL,
    alerted_at TEXT, closed_at TEXT, digested INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account, key));
CREATE TABLE digests (account TEXT NOT NULL, day TEXT NOT NULL, PRIMARY KEY (account, day));
CREATE TABLE days (
    account TEXT NOT NULL, day TEXT NOT NULL, planned INTEGER NOT NULL,
    lost INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (account, day));
CREATE TABLE notices (
    account TEXT NOT NULL, key TEXT NOT NULL, at TEXT NOT NULL, PRIMARY KEY (account, key));
""",
    ),
    (
        2,  # team scale: when each account is next due, for the fan-out (worker/team.py)
        "CREATE TABLE IF NOT EXISTS schedule ("
        " account TEXT PRIMARY KEY, due TEXT NOT NULL, why TEXT NOT NULL);",
        "CREATE TABLE schedule (account TEXT PRIMARY KEY, due TEXT NOT NULL, why TEXT NOT NULL);",
    ),
    (
        3,  # team scale: credentials (encrypted) and provider memos, for every worker
        "CREATE TABLE IF NOT EXISTS documents (name TEXT PRIMARY KEY, body TEXT NOT NULL);",
        "CREATE TABLE documents (name TEXT PRIMARY KEY, body TEXT NOT NULL);",
    ),
    (
        4,  # accounts added without editing the config: an [[accounts]] table as JSON
        "CREATE TABLE IF NOT EXISTS accounts ("
        " name TEXT PRIMARY KEY, body TEXT NOT NULL, updated TEXT NOT NULL);",
        "CREATE TABLE accounts (name TEXT PRIMARY KEY, body TEXT NOT NULL, updated TEXT NOT NULL);",
    ),
    (
        5,  # how many messages the last run left held: the Team page and /metrics
        # (a table of its own: CREATE … IF NOT EXISTS is safe when two processes
        # bring one file up to date at once, where SQLite's ADD COLUMN is not)
        "CREATE TABLE IF NOT EXISTS held ("
        " account TEXT PRIMARY KEY, messages INTEGER NOT NULL, at TEXT NOT NULL);",
        "CREATE TABLE IF NOT EXISTS held ("
        " account TEXT PRIMARY KEY, messages INTEGER NOT NULL, at TEXT NOT NULL);",
    ),
    (
        6,  # push: the channels providers post to (a hash of each token), and the
        # accounts a notification made due (worker/push.py)
        _PUSH,
        _PUSH,
    ),
    (
        7,  # push: the worker's own writes, so their notifications wake nothing
        _OWN_WRITES,
        _OWN_WRITES,
    ),
    (
        8,  # the report: each day's record kept past the lookback (worker/records.py),
        # with the gaps known at the upgrade (first found: unknown, so their meeting's end)
        _RECORDS + " INSERT OR IGNORE INTO " + _GAPS_KNOWN + ";",
        _RECORDS + " INSERT INTO " + _GAPS_KNOWN + " ON CONFLICT DO NOTHING;",
    ),
)
SCHEMA = MIGRATIONS[-1][0]
_LOCK = 0x66697273  # the advisory lock that serialises migrations ("firs")


class Db(Protocol):
    def execute(self, sql: str, args: Sequence[Any] = ..., /) -> Any: ...
    def executemany(self, sql: str, args: Iterable[Sequence[Any]], /) -> Any: ...
    def close(self) -> None: ...
    def __enter__(self) -> Any: ...
    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> Any: ...


def is_url(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


# SQLite's primary result codes (`sqlite3.Error.sqlite_errorcode & 0xFF`).
_BUSY, _LOCKED, _IOERR, _CORRUPT, _FULL, _NOTADB = 5, 6, 10, 11, 13, 26


def damaged(exc: sqlite3.Error) -> bool:
    """The file is not a database, or a damaged one: nothing else (a full disk, a
    permission) may ever be taken for that, or a good state would be set aside."""
    return (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in (_CORRUPT, _NOTADB)


def sqlite_error(exc: sqlite3.Error, path: str) -> WorkerError:
    """What a failed SQLite call means for the user; the transaction was rolled back."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    where = f"state file {excerpt(path, 300)}"
    if code == _FULL or (code == _IOERR and _no_space(path)):
        return OutOfSpace(f"{where}: no space left on the device; nothing was written")
    if code in (_BUSY, _LOCKED):
        return StateUnavailable(f"{where}: busy with another firstblock; try again")
    return StorageError(f"{where}: {excerpt(str(exc), 120)}")


def _no_space(path: str) -> bool:
    """Whether the disk under `path` is full: SQLite says only "disk I/O error" when
    it cannot grow its shared-memory file there."""
    try:
        disk = os.statvfs(os.path.dirname(path) or ".")
    except OSError:
        return False
    return disk.f_bavail * disk.f_frsize < 64 * 1024


def open_sqlite(path: str) -> Sqlite:
    """Raises sqlite3.Error (see `damaged`) and StorageError (a newer schema)."""
    # Not bound to its thread: serve lends a connection to one cycle at a time, on
    # whichever thread runs it (worker/serve.py, StatePool).
    db = _migrated(sqlite3.connect(path, timeout=30, check_same_thread=False), path)
    try:
        # WAL: `status` reads while `serve` writes, and a commit costs no fsync of the
        # database. NORMAL may lose the last commits on power loss, never consistency;
        # losing state is safe by design (docs/design.md §2.3).
        db.conn.execute("PRAGMA journal_mode = WAL")
        db.conn.execute("PRAGMA synchronous = NORMAL")
    except BaseException:
        db.close()
        raise
    return db


def memory() -> Sqlite:
    """An empty store in memory, migrated: it keeps nothing past its run."""
    return _migrated(sqlite3.connect(":memory:", check_same_thread=False), ":memory:")


def read_only(path: str) -> Sqlite:
    """The SQLite state at `path`, to read and never write: a write raises. Nothing
    is created beside it: with no `-wal` file nobody has it open, so it is opened as
    immutable (no lock, no `-shm`); otherwise the journal files are there already. A
    file of an older schema is read into memory and brought up to date there.
    Raises sqlite3.Error and StorageError (a newer schema)."""
    quiet = "" if os.path.exists(path + "-wal") else "&immutable=1"
    db = sqlite3.connect(
        f"file:{quote(path)}?mode=ro{quiet}", uri=True, timeout=30, check_same_thread=False
    )
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
    except BaseException:
        db.close()
        raise
    if version >= SCHEMA:
        return _migrated(db, path)  # migrates nothing: refuses a newer one
    copy = sqlite3.connect(":memory:", check_same_thread=False)
    try:
        db.backup(copy)
    finally:
        db.close()
    return _migrated(copy, path)


def _migrated(db: sqlite3.Connection, path: str) -> Sqlite:
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA:
            raise StorageError(
                f"state file {excerpt(path, 300)} is from a newer firstblock (schema "
                f"{version}); upgrade firstblock, or point state_dir elsewhere"
            )
        for number, sql, _ in MIGRATIONS:
            if number > version:
                with db:
                    db.executescript(sql)
                    db.execute(f"PRAGMA user_version = {number}")
    except BaseException:
        db.close()
        raise
    return Sqlite(db, path)


class Sqlite:
    """An sqlite3 connection whose failures reach State as WorkerErrors naming the file
    (a full disk is exit 5, anything else 6), never as a traceback."""

    def __init__(self, conn: sqlite3.Connection, path: str) -> None:
        self.conn, self.path = conn, path

    def execute(self, sql: str, args: Sequence[Any] = (), /) -> Any:
        try:
            return self.conn.execute(sql, args)
        except sqlite3.Error as exc:
            raise sqlite_error(exc, self.path) from exc

    def executemany(self, sql: str, args: Iterable[Sequence[Any]], /) -> Any:
        try:
            return self.conn.executemany(sql, args)
        except sqlite3.Error as exc:
            raise sqlite_error(exc, self.path) from exc

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Sqlite:
        self.conn.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> None:
        try:
            self.conn.__exit__(kind, value, tb)  # commit, or roll back on an error
        except sqlite3.Error as exc:
            raise sqlite_error(exc, self.path) from exc


class Postgres:
    """A psycopg connection that State can use as it uses an sqlite3 one."""

    def __init__(self, url: str) -> None:
        try:
            import psycopg  # the `team` extra; only loaded when a URL asks for it
        except ImportError:
            raise ConfigError(
                "state_url needs the team extra: pip install 'firstblock[team]'"
            ) from None
        try:
            self.conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise StateUnavailable(f"state database {_safe(url)}: {reason}") from None
        self._open: list[Any] = []
        self._psycopg = psycopg
        self.where = f"state database {_safe(url)}"
        try:
            self._migrate()
        except BaseException:
            self.conn.close()
            raise

    def _migrate(self) -> None:
        with self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
            self.conn.execute("CREATE TABLE IF NOT EXISTS firstblock_schema (version INTEGER)")
            row = self.conn.execute("SELECT max(version) FROM firstblock_schema").fetchone()
            version = (row[0] if row else None) or 0
            if version > SCHEMA:
                raise StorageError(
                    f"{self.where} is from a newer firstblock (schema {version}); "
                    "upgrade firstblock"
                )
            for number, _, sql in MIGRATIONS:
                if number > version:
                    self.conn.execute(sql.encode())  # several statements: no parameters
                    self.conn.execute("INSERT INTO firstblock_schema VALUES (%s)", (number,))

    def execute(self, sql: str, args: Sequence[Any] = (), /) -> Any:
        try:
            return self.conn.execute(_placeholders(sql), tuple(args))
        except self._psycopg.Error as exc:
            raise self._error(exc) from exc

    def executemany(self, sql: str, args: Iterable[Sequence[Any]], /) -> Any:
        rows = [tuple(a) for a in args]
        cursor = self.conn.cursor()
        try:
            if rows:
                cursor.executemany(_placeholders(sql), rows)
        except self._psycopg.Error as exc:
            raise self._error(exc) from exc
        return cursor

    def _error(self, exc: Exception) -> WorkerError:
        """One line for the user: the server out of reach is worth a retry later."""
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if isinstance(exc, self._psycopg.OperationalError):
            return StateUnavailable(f"{self.where}: {excerpt(reason, 200)}")
        return StorageError(f"{self.where}: {excerpt(reason, 200)}")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Postgres:
        tx = self.conn.transaction()
        tx.__enter__()
        self._open.append(tx)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> None:
        try:
            self._open.pop().__exit__(kind, value, tb)
        except self._psycopg.Error as exc:
            raise self._error(exc) from exc


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _placeholders(sql: str) -> str:
    # State's SQL has no literal "?" or "%": qmark style becomes psycopg's format style.
    return sql.replace("?", "%s")
