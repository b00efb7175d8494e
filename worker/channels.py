"""Push in the state (worker/push.py): the channels each account is watched by, and
the accounts a notification made due.

A channel's token is a secret shared with the provider; only its SHA-256 is kept,
which is enough to check one that comes back. Health is `waiting` (made, its first
notification not seen yet: Google's sync message proves the address is reached),
`ok`, `failed` with the reason, or `gone` (the provider said it removed it). A
source whose channel could not be made keeps a `failed` row of its own (id
ACCOUNT/SOURCE), so status can say why.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

from providers.push import Channel
from worker import database

WAITING, OK, FAILED = "waiting", "ok", "failed"
GONE = "gone"  # the provider removed it: replaced without a call to renew or stop it


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()  # UTC: compares correctly as text


@dataclass(frozen=True)
class Watched:
    account: str
    provider: str
    channel: Channel
    token: str  # digest(token)
    health: str
    error: str
    updated: datetime

    def answers(self, token: str) -> bool:
        return hmac.compare_digest(self.token.encode(), digest(token).encode())

    @property
    def placeholder(self) -> bool:
        """A row that only records why a source has no channel."""
        return not self.channel.resource and self.channel.id.startswith(self.account + "/")


class Channels:
    def __init__(self, db: database.Db) -> None:
        self.db = db

    COLUMNS = "id, account, provider, source, resource, token, expires, health, error, updated"

    def of(self, account: str) -> list[Watched]:
        rows = self.db.execute(
            f"SELECT {self.COLUMNS} FROM channels WHERE account = ? ORDER BY source, expires",
            (account,),
        ).fetchall()
        return [_watched(r) for r in rows]

    def get(self, channel_id: str) -> Watched | None:
        row = self.db.execute(
            f"SELECT {self.COLUMNS} FROM channels WHERE id = ?", (channel_id,)
        ).fetchone()
        return _watched(row) if row else None

    def every(self) -> list[Watched]:
        rows = self.db.execute(f"SELECT {self.COLUMNS} FROM channels ORDER BY account").fetchall()
        return [_watched(r) for r in rows]

    def put(
        self, account: str, provider: str, channel: Channel, token: str, health: str, now: datetime
    ) -> None:
        """Keep a channel (`token`: its digest), in place of the source's failure row."""
        c = channel
        values = (c.id, account, provider, c.source, c.resource, token, _iso(c.expires), health)
        with self.db:
            self.db.execute("DELETE FROM channels WHERE id = ?", (f"{account}/{c.source}",))
            self.db.execute(
                # Kept again once made: a first notification may have said ok already.
                "INSERT INTO channels VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', ?) ON CONFLICT (id)"
                " DO UPDATE SET resource = excluded.resource, expires = excluded.expires,"
                " health = CASE WHEN channels.health = 'ok' AND excluded.health = 'waiting'"
                " THEN channels.health ELSE excluded.health END,"
                " error = '', updated = excluded.updated",
                (*values, _iso(now)),
            )

    def failed(self, account: str, provider: str, source: str, error: str, now: datetime) -> None:
        """The source has no working channel: why, for status and the next cycle."""
        channel = Channel(source, f"{account}/{source}", "", now)
        with self.db:
            self.db.execute(
                "INSERT INTO channels VALUES (?, ?, ?, ?, '', '', ?, ?, ?, ?) ON CONFLICT (id)"
                " DO UPDATE SET error = excluded.error, updated = excluded.updated",
                (channel.id, account, provider, source, _iso(now), FAILED, error, _iso(now)),
            )

    def mark(self, channel_id: str, health: str, error: str, now: datetime) -> None:
        with self.db:
            self.db.execute(
                "UPDATE channels SET health = ?, error = ?, updated = ? WHERE id = ?",
                (health, error, _iso(now), channel_id),
            )

    def drop(self, channel_id: str) -> None:
        with self.db:
            self.db.execute("DELETE FROM channels WHERE id = ?", (channel_id,))


def _watched(row: tuple[object, ...]) -> Watched:
    cid, account, provider, source, resource, token, expires, health, error, updated = map(str, row)
    channel = Channel(source, cid, resource, datetime.fromisoformat(expires))
    return Watched(
        account, provider, channel, token, health, error, datetime.fromisoformat(updated)
    )


class Nudges:
    """Accounts a notification made due. The first of a burst sets the moment (now
    and the debounce); the rest find it set, so a burst becomes one cycle."""

    def __init__(self, db: database.Db) -> None:
        self.db = db

    def nudge(self, account: str, due: datetime, why: str) -> bool:
        """True for the first of a burst."""
        with self.db:
            cursor = self.db.execute(
                "INSERT INTO nudges VALUES (?, ?, ?) ON CONFLICT (account) DO NOTHING",
                (account, _iso(due), why),
            )
            return bool(cursor.rowcount == 1)

    def clear(self, account: str) -> None:
        """Its cycle has begun: what comes now needs another."""
        with self.db:
            self.db.execute("DELETE FROM nudges WHERE account = ?", (account,))
            self.db.execute("DELETE FROM heard WHERE account = ?", (account,))

    def take(self, now: datetime) -> list[tuple[str, str]]:
        """The accounts due by `now`, and why; each is taken once."""
        with self.db:
            rows = self.db.execute(
                "DELETE FROM nudges WHERE due <= ? RETURNING account, why", (_iso(now),)
            ).fetchall()
        return sorted((str(a), str(w)) for a, w in rows)


class OwnWrites:
    """The worker's own writes for a few minutes after it made them (the item and its
    version afterwards), and the items notifications named since an account's last
    cycle ("" for a notification that names none). When every item heard is one of its
    own writes, the notifications were the echo of that cycle, not news: serve takes
    no cycle for them (worker/push.py). Decided when the nudge is taken, after the
    debounce, so a notification that overtakes the writes' record is still known."""

    def __init__(self, db: database.Db) -> None:
        self.db = db

    def wrote(
        self, account: str, items: list[tuple[str, str]], now: datetime, until: datetime
    ) -> None:
        with self.db:
            self.db.execute(
                "DELETE FROM own_writes WHERE account = ? AND until < ?", (account, _iso(now))
            )
            self.db.executemany(
                "INSERT INTO own_writes VALUES (?, ?, ?, ?) ON CONFLICT (account, item, version)"
                " DO UPDATE SET until = excluded.until",
                [(account, item, version, _iso(until)) for item, version in items],
            )

    def own(self, account: str, item: str, version: str, now: datetime) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM own_writes WHERE account = ? AND item = ? AND version = ?"
            " AND until >= ?",
            (account, item, version, _iso(now)),
        ).fetchone()
        return row is not None

    def heard(self, account: str, item: str, version: str) -> None:
        with self.db:
            self.db.execute(
                "INSERT INTO heard VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (account, item, version),
            )

    def only_echoes(self, account: str, now: datetime, *, answer: bool = False) -> bool:
        """Whether all that was heard for `account` is its own writes; forgets it.
        `answer` (a task a notification queued): when it is, forget the account's nudge
        too, in the same transaction, so a notice heard after it makes a new one."""
        with self.db:
            rows = self.db.execute(
                "DELETE FROM heard WHERE account = ? RETURNING item, version", (account,)
            ).fetchall()
            if not rows or any(not item for item, _ in rows):
                return False
            ours = self.db.execute(
                "SELECT item, version FROM own_writes WHERE account = ? AND until >= ?",
                (account, _iso(now)),
            ).fetchall()
            echoes = {(str(i), str(v)) for i, v in rows} <= {(str(i), str(v)) for i, v in ours}
            if echoes and answer:
                self.db.execute("DELETE FROM nudges WHERE account = ?", (account,))
        return echoes
