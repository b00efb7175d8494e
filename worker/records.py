"""Each account's daily record of discipline, kept after the calendar window has moved
on: prospecting minutes planned and kept, blocks lost to meetings by kind, mail held
and released, and every follow-up gap's outcome (docs/design.md §1.5). The digest
and `firstblock report` read it; nothing in a cycle's decisions does.

Days are the account's own local days, so a team across zones each count their own.
A steady cycle reads one small row set here and writes nothing: the day's plan is
written by its first cycle, a past day's kept minutes by the first cycle after it,
losses and gaps by the cycles that change them, mail in the run log's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from worker.database import Db
from worker.stores import Store, _iso

KEEP = timedelta(weeks=60)  # a year of weeks, and the eight before it for the trend


@dataclass(frozen=True)
class Marks:
    """What the record has for the days a cycle can see."""

    planned_today: bool
    unkept: tuple[date, ...]  # past days with a plan and no kept minutes yet


@dataclass(frozen=True)
class Day:
    day: date
    planned: int | None = None  # prospecting minutes, as first planned that day
    kept: int | None = None  # prospecting minutes on the calendar once the day was over
    held: int | None = None  # the most messages held at once that day
    released: int | None = None  # messages returned to the inbox that day


@dataclass(frozen=True)
class GapRecord:
    key: str
    client: str
    end: datetime  # the client meeting's end
    opened: datetime  # when the worker first found it
    closed: datetime | None  # when a next meeting was found booked


@dataclass(frozen=True)
class History:
    """The record for days first..last of one account."""

    days: tuple[Day, ...]
    losses: tuple[tuple[date, str, int], ...]  # (day, kind, blocks); kind "" before 0.8
    gaps: tuple[GapRecord, ...]  # meeting ended or gap closed in the span
    since: date | None  # the account's first recorded day, if any


class Figures(Store):
    def __init__(self, db: Db) -> None:
        super().__init__(db)
        # Per account, the day this connection has recorded all it can: the rest of
        # that day's cycles ask nothing (a steady cycle in serve keeps its connection).
        self._recorded: dict[str, date] = {}

    def recorded(self, account: str, today: date) -> bool:
        return self._recorded.get(account) == today

    def forget_cached(self, account: str) -> None:
        self._recorded.pop(account, None)

    def marks(self, account: str, today: date, oldest: date) -> Marks:
        rows = self.db.execute(
            "SELECT d.day, k.minutes FROM days d LEFT JOIN kept k"
            " ON k.account = d.account AND k.day = d.day"
            " WHERE d.account = ? AND d.day BETWEEN ? AND ?",
            (account, oldest.isoformat(), today.isoformat()),
        ).fetchall()
        days = {date.fromisoformat(r[0]): r[1] for r in rows}
        unkept = tuple(sorted(d for d, kept in days.items() if d < today and kept is None))
        return Marks(today in days, unkept)

    def record_days(
        self,
        account: str,
        today: date,
        planned: int | None,
        kept: Mapping[date, int],
        zone: str = "",
    ) -> None:
        """Today's planned minutes (kept as first written) and past days' kept minutes;
        with them, once a day, the zone the days are counted in, and the record older
        than KEEP goes."""
        if planned is None and not kept:
            self._recorded[account] = today
            return
        with self.db:
            if planned is not None:
                self.db.execute(
                    "INSERT INTO days (account, day, planned) VALUES (?, ?, ?)"
                    " ON CONFLICT DO NOTHING",
                    (account, today.isoformat(), planned),
                )
                if zone:
                    self.db.execute(
                        "INSERT INTO day_zones VALUES (?, ?) ON CONFLICT (account)"
                        " DO UPDATE SET zone = excluded.zone",
                        (account, zone),
                    )
                cutoff = (today - KEEP).isoformat()
                for table in ("days", "kept", "losses", "mail_days"):
                    self.db.execute(
                        f"DELETE FROM {table} WHERE account = ? AND day < ?", (account, cutoff)
                    )
                self.db.execute(
                    'DELETE FROM gap_history WHERE account = ? AND "end" < ?', (account, cutoff)
                )
            self.db.executemany(
                "INSERT INTO kept VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [(account, d.isoformat(), m) for d, m in kept.items()],
            )
        self._recorded[account] = today

    def planned(self, account: str, day: date, minutes: int) -> None:
        """The day's prospecting minutes as first planned on that day."""
        if not self.marks(account, day, day).planned_today:
            self.record_days(account, day, minutes, {})

    def lost(self, account: str, day: date, kind: str, blocks: int) -> None:
        with self.db:
            self.db.execute(
                "INSERT INTO losses VALUES (?, ?, ?, ?) ON CONFLICT (account, day, kind)"
                " DO UPDATE SET blocks = losses.blocks + excluded.blocks",
                (account, day.isoformat(), kind, blocks),
            )

    def week(self, account: str, first: date, last: date) -> tuple[int, int]:
        """(planned prospecting minutes, blocks lost) over the days first..last."""
        span = (account, first.isoformat(), last.isoformat())
        row = self.db.execute(
            "SELECT COALESCE(SUM(planned), 0), COALESCE(SUM(lost), 0) FROM days"
            " WHERE account = ? AND day BETWEEN ? AND ?",
            span,
        ).fetchone()
        lost = self.db.execute(
            "SELECT COALESCE(SUM(blocks), 0) FROM losses WHERE account = ? AND day BETWEEN ? AND ?",
            span,
        ).fetchone()
        # days.lost: losses recorded before the record by kind (schema 8)
        return int(row[0]), int(row[1]) + int(lost[0])

    def history(self, account: str, first: date, last: date) -> History:
        span = (account, first.isoformat(), last.isoformat())
        days: dict[date, dict[str, Any]] = {}

        def put(rows: list[tuple[Any, ...]], *names: str) -> None:
            for day, *values in rows:
                days.setdefault(date.fromisoformat(day), {}).update(zip(names, values, strict=True))

        where = "WHERE account = ? AND day BETWEEN ? AND ?"
        put(self._rows(f"SELECT day, planned, lost FROM days {where}", span), "planned", "old")
        put(self._rows(f"SELECT day, minutes FROM kept {where}", span), "kept")
        mail = self._rows(f"SELECT day, held, released FROM mail_days {where}", span)
        put(mail, "held", "released")
        losses = [
            (date.fromisoformat(d), str(k), int(n))
            for d, k, n in self._rows(f"SELECT day, kind, blocks FROM losses {where}", span)
        ]
        losses += [(d, "", int(v["old"])) for d, v in days.items() if v.get("old")]
        start, end = _iso(_midnight(first, -1)), _iso(_midnight(last, 2))  # any zone's day
        gaps = [
            GapRecord(str(k), str(c), _at(e), _at(o), _at(x) if x else None)
            for k, c, e, o, x in self._rows(
                'SELECT key, client, "end", opened, closed FROM gap_history WHERE account = ?'
                ' AND (("end" >= ? AND "end" < ?) OR (closed >= ? AND closed < ?))',
                (account, start, end, start, end),
            )
        ]
        first_day = self.db.execute(
            "SELECT MIN(day) FROM days WHERE account = ?", (account,)
        ).fetchone()[0]
        return History(
            tuple(
                Day(d, v.get("planned"), v.get("kept"), v.get("held"), v.get("released"))
                for d, v in sorted(days.items())
            ),
            tuple(sorted(losses)),
            tuple(sorted(gaps, key=lambda g: (g.end, g.key))),
            date.fromisoformat(first_day) if first_day else None,
        )

    def zone(self, account: str) -> str | None:
        """The zone the account's days were last counted in."""
        row = self.db.execute("SELECT zone FROM day_zones WHERE account = ?", (account,)).fetchone()
        return str(row[0]) if row else None

    def _rows(self, query: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.db.execute(query, args).fetchall()]


def _midnight(day: date, shift: int) -> datetime:
    return datetime.combine(day + timedelta(days=shift), time(), UTC)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)
