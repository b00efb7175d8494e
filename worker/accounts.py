"""Accounts kept in the state store beside those in the config file, so that one can
be added without editing the file (by `firstblock accounts`, `connect`, the web app).

Each is stored as the table an [[accounts]] entry of the file would be, as JSON, and
read back through the same parser: the same keys, checks and one-line errors.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any

from worker import database


class AccountStore:
    def __init__(self, db: database.Db) -> None:
        self.db = db

    def all(self) -> list[tuple[str, dict[str, Any]]]:
        rows = self.db.execute("SELECT name, body FROM accounts ORDER BY name").fetchall()
        return [(str(name), json.loads(body)) for name, body in rows]

    def get(self, name: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT body FROM accounts WHERE name = ?", (name,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, name: str, table: Mapping[str, Any], now: datetime) -> None:
        """Add or replace the account `name`; `table` without its name."""
        body = json.dumps(plain(dict(table)), sort_keys=True)
        with self.db:
            self.db.execute(
                "INSERT INTO accounts VALUES (?, ?, ?) ON CONFLICT (name)"
                " DO UPDATE SET body = excluded.body, updated = excluded.updated",
                (name, body, now.astimezone(UTC).isoformat()),
            )

    def stamp(self) -> tuple[int, str]:
        """How many there are and when the last changed: a cheap look for `serve`."""
        row = self.db.execute("SELECT count(*), max(updated) FROM accounts").fetchone()
        return int(row[0]), str(row[1] or "")

    def remove(self, name: str) -> bool:
        with self.db:
            gone = self.db.execute("DELETE FROM accounts WHERE name = ?", (name,))
        return bool(getattr(gone, "rowcount", 0))


def plain(value: Any) -> Any:
    """TOML values as JSON can hold them: times as "08:30", dates as "2026-12-24"."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return value
