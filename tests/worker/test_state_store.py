"""One contract for the state store, run on both places it can live: the SQLite file
of one machine, and a PostgreSQL server shared by a team's workers.

The PostgreSQL runs need a server: FIRSTBLOCK_TEST_POSTGRES names one to create
throwaway databases on (default: postgresql://127.0.0.1/postgres as the current user);
without one they are skipped, saying why."""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from worker import database
from worker.alerts import OpenGap
from worker.errors import StorageError, WorkerError
from worker.models import Block, BlockKind
from worker.state import Run, State

SERVER = os.environ.get("FIRSTBLOCK_TEST_POSTGRES", "postgresql://127.0.0.1/postgres")
T0 = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)


def _admin() -> Any:
    try:
        import psycopg
    except ImportError:
        pytest.skip("PostgreSQL tests: psycopg is not installed (pip install '.[team]')")
    try:
        return psycopg.connect(SERVER, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        pytest.skip(f"PostgreSQL tests: no server at {SERVER} ({first})")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh database, dropped afterwards."""
    admin = _admin()
    name = f"firstblock_test_{uuid.uuid4().hex[:12]}"
    admin.execute(f"CREATE DATABASE {name}")
    try:
        yield SERVER.rsplit("/", 1)[0] + "/" + name
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    if request.param == "sqlite":
        return tmp_path / "state.sqlite3"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def state(location: str | Path) -> Iterator[State]:
    store = State(location)
    try:
        yield store
    finally:
        store.close()


def block(key: str, start: datetime, minutes: int = 30) -> Block:
    end = start + timedelta(minutes=minutes)
    return Block(key, BlockKind.PROSPECTING, start.date(), start, end, "Prospecting")


def gap(key: str, end: datetime, title: str = "Acme call") -> OpenGap:
    return OpenGap("rep", key, title, end - timedelta(hours=1), end, "acme.com")


def test_a_known_block_that_disappears_is_a_tombstone(state: State) -> None:
    window = (T0, T0 + timedelta(days=5))
    a, b = block("d1/prospecting/0", T0 + timedelta(hours=1)), block("d1/deals/0", T0)
    assert state.ledger.observe("rep", [a, b], window, T0) == frozenset()
    assert state.ledger.observe("rep", [a], window, T0) == frozenset({"d1/deals/0"})
    assert state.ledger.observe("rep", [a], window, T0) == frozenset({"d1/deals/0"})  # it stays
    assert state.ledger.observe("other", [], window, T0) == frozenset()  # per account
    later = (T0 + timedelta(days=2), T0 + timedelta(days=7))
    assert state.ledger.observe("rep", [a], later, T0) == frozenset()  # ended before the window


def test_a_block_the_worker_deletes_itself_is_no_tombstone(state: State) -> None:
    window = (T0, T0 + timedelta(days=5))
    a = block("d1/prep/0", T0)
    state.ledger.remember("rep", [a])
    state.ledger.remember("rep", [a])  # again: an upsert, not a second row
    state.ledger.forget("rep", [a.key])
    assert state.ledger.observe("rep", [], window, T0) == frozenset()


def test_the_release_only_moves_forward(state: State) -> None:
    assert state.holds.last_release("rep") is None
    state.holds.released("rep", T0)
    state.holds.released("rep", T0 - timedelta(days=1))
    assert state.holds.last_release("rep") == T0
    state.holds.released("rep", T0 + timedelta(days=1))
    assert state.holds.last_release("rep") == T0 + timedelta(days=1)


def test_the_run_log_keeps_the_last_200_runs_per_account(state: State) -> None:
    for i in range(205):
        at = T0 + timedelta(minutes=i)
        state.runs.log(Run("rep", at, at, ok=i % 2 == 0, created=i))
    state.runs.log(Run("other", T0, T0, ok=False, error="account other: boom"))
    last = state.runs.last("rep")
    assert last is not None and last.created == 204 and last.ok
    failed = state.runs.last("rep", ok=False)
    assert failed is not None and failed.created == 203
    assert state.runs.last("nobody") is None
    other = state.runs.last("other")
    assert other is not None and other.error == "account other: boom" and not other.ok
    count = state.db.execute("SELECT count(*) FROM runs WHERE account = ?", ("rep",))
    assert count.fetchone()[0] == 200


def test_gaps_open_close_reopen_and_age_out(state: State) -> None:
    end = T0 + timedelta(hours=2)
    opened, closed = state.gaps.sync("rep", [gap("m1", end), gap("m2", end)], T0, T0)
    assert [g.key for g in opened] == ["m1", "m2"] and closed == []
    state.gaps.alerted("rep", ["m1"], T0)
    opened, closed = state.gaps.sync("rep", [gap("m2", end)], T0 + timedelta(hours=3), T0)
    assert [g.key for g in opened] == ["m2"]
    assert [(g.key, g.alerted_at) for g in closed] == [("m1", T0)]
    assert [g.key for g in state.gaps.closed("rep")] == ["m1"]
    state.gaps.digested("rep", T0.date())
    assert state.gaps.digest_sent("rep", T0.date()) and not state.gaps.digest_sent(
        "rep", date(2026, 12, 1)
    )
    assert state.gaps.closed("rep") == []
    opened, _ = state.gaps.sync("rep", [gap("m1", end, "Acme, again"), gap("m2", end)], T0, T0)
    assert {(g.key, g.title) for g in opened} == {("m1", "Acme, again"), ("m2", "Acme call")}
    opened, closed = state.gaps.sync("rep", [], T0, end + timedelta(days=1))
    assert opened == [] and closed == []  # aged out: forgotten, not closed
    state.gaps.digested("rep", T0.date())  # a second digest mark for the day is harmless


def test_a_steady_cycle_finding_what_it_knew_writes_nothing(
    state: State, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Serve's threads share one state: a write per cycle that changes nothing was a
    lock for every cycle to queue on."""
    end = T0 + timedelta(hours=2)
    found = [gap("m1", end), gap("m2", end)]
    state.gaps.sync("rep", found, T0, T0)
    statements: list[str] = []
    real = state.db.execute

    def watched(sql: str, args: Any = (), /) -> Any:
        statements.append(sql.split()[0].upper())
        return real(sql, args)

    state.figures.planned("rep", T0.date(), 90)
    monkeypatch.setattr(state.db, "execute", watched)
    monkeypatch.setattr(state.db, "executemany", lambda sql, args, /: statements.append(sql))
    opened, closed = state.gaps.sync("rep", found, T0 + timedelta(minutes=15), T0)
    state.runs.notice("rep", "reconnect", T0, told=False)  # nothing to be over
    state.figures.planned("rep", T0.date(), 60)  # the day's first plan is kept
    state.figures.record_days("rep", T0.date(), None, {})  # nothing new to keep
    assert state.figures.marks("rep", T0.date(), T0.date()).planned_today
    assert [g.key for g in opened] == ["m1", "m2"] and closed == []
    assert statements and set(statements) == {"SELECT"}
    assert state.figures.week("rep", T0.date(), T0.date()) == (90, 0)


def test_notices_are_told_once_until_over(state: State) -> None:
    assert not state.runs.noticed("rep", "reconnect")
    state.runs.notice("rep", "reconnect", T0)
    state.runs.notice("rep", "reconnect", T0 + timedelta(hours=1))
    assert state.runs.noticed("rep", "reconnect")
    state.runs.notice("rep", "reconnect", T0, told=False)
    assert not state.runs.noticed("rep", "reconnect")


def test_the_weeks_figures(state: State) -> None:
    monday = date(2026, 11, 30)
    tuesday = monday + timedelta(days=1)
    state.figures.planned("rep", monday, 120)
    state.figures.planned("rep", monday, 30)  # the first plan of the day counts
    state.figures.lost("rep", monday, "prospecting", 1)
    state.figures.lost("rep", tuesday, "prospecting", 2)
    state.figures.lost("rep", tuesday, "admin", 1)
    state.figures.lost("rep", tuesday, "prospecting", 1)
    assert state.figures.week("rep", monday, monday + timedelta(days=4)) == (120, 5)
    assert state.figures.week("rep", monday + timedelta(days=7), monday + timedelta(days=11)) == (
        0,
        0,
    )
    losses = state.figures.history("rep", monday, tuesday).losses
    assert losses == (
        (monday, "prospecting", 1),
        (tuesday, "admin", 1),
        (tuesday, "prospecting", 3),
    )


def test_a_blocks_loss_on_a_later_day_leaves_that_days_plan_to_its_first_cycle(
    state: State,
) -> None:
    # A block of Wednesday's lost on Monday used to make Wednesday's row with 0 planned,
    # and Wednesday's own first plan was then never kept.
    monday, wednesday = date(2026, 11, 30), date(2026, 12, 2)
    state.figures.lost("rep", wednesday, "prospecting", 1)
    state.figures.planned("rep", wednesday, 90)
    assert state.figures.week("rep", monday, wednesday) == (90, 1)


def test_the_record_of_days_kept_mail_and_gaps(state: State) -> None:
    monday = date(2026, 11, 30)
    days = [monday + timedelta(days=i) for i in range(3)]
    for d in days:
        assert not state.figures.marks("rep", d, monday).planned_today
        state.figures.record_days("rep", d, 60, {})
    marks = state.figures.marks("rep", days[2], monday)
    assert marks.planned_today and marks.unkept == (days[0], days[1])
    state.figures.record_days("rep", days[2], None, {days[0]: 45, days[1]: 60})
    state.figures.record_days("rep", days[2], None, {days[0]: 0})  # kept as first written
    assert state.figures.marks("rep", days[2], monday).unkept == ()
    state.runs.log(Run("rep", T0, T0, True, held=4, day=monday))
    state.runs.log(Run("rep", T0, T0, True, held=2, day=monday))
    state.runs.log(Run("rep", T0, T0, True, held=0, day=monday, released=5))
    state.runs.log(Run("rep", T0, T0, True, held=0, day=days[1]))  # nothing to record
    end = T0 - timedelta(hours=2)
    gap = OpenGap("rep", "m1|buyer@acme.com", "Call", end - timedelta(hours=1), end, "acme.com")
    state.gaps.sync("rep", [gap], T0, T0 - timedelta(days=14))
    state.gaps.sync("rep", [], T0 + timedelta(days=1), T0 - timedelta(days=14))
    history = state.figures.history("rep", monday - timedelta(days=7), days[2])
    assert [(d.day, d.planned, d.kept, d.held, d.released) for d in history.days] == [
        (monday, 60, 45, 4, 5),
        (days[1], 60, 60, None, None),
        (days[2], 60, None, None, None),
    ]
    [record] = history.gaps
    assert (record.key, record.opened, record.closed) == (gap.key, T0, T0 + timedelta(days=1))
    assert history.since == monday
    # The gap outlives the lookback that forgets it in the gaps table.
    state.gaps.sync("rep", [], T0 + timedelta(days=30), T0 + timedelta(days=16))
    assert state.gaps.closed_since("rep", T0) == []
    assert [g.key for g in state.figures.history("rep", monday, days[2]).gaps] == [gap.key]


def test_two_workers_share_one_store(location: str | Path) -> None:
    first, second = State(location), State(location)
    try:
        first.runs.log(Run("rep", T0, T0, ok=True, created=3))
        seen = second.runs.last("rep")
        assert seen is not None and seen.created == 3
        second.holds.released("rep", T0)
        assert first.holds.last_release("rep") == T0
    finally:
        first.close()
        second.close()


def test_opening_again_migrates_nothing_and_a_newer_schema_is_refused(
    location: str | Path,
) -> None:
    State(location).close()
    again = State(location)
    again.runs.notice("rep", "x", T0)
    again.close()
    if isinstance(location, Path):
        with sqlite3.connect(location) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == database.SCHEMA
            db.execute(f"PRAGMA user_version = {database.SCHEMA + 1}")
    else:
        pg = database.Postgres(location)
        versions = pg.execute("SELECT version FROM firstblock_schema ORDER BY version")
        assert [r[0] for r in versions.fetchall()] == [m[0] for m in database.MIGRATIONS]
        pg.execute("INSERT INTO firstblock_schema VALUES (?)", (database.SCHEMA + 1,))
        pg.close()
    with pytest.raises(StorageError, match="newer firstblock"):
        State(location)


def test_status_on_another_machine_shows_the_run_from_the_shared_store(
    postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`run` on one worker, `status` on another: each has its own state_dir (locks,
    memos), both have the same state_url."""
    from tests.test_cli import NOW, run

    calendar = tmp_path / "cal.ics"
    configs = []
    for machine in ("one", "two"):
        path = tmp_path / f"{machine}.toml"
        path.write_text(
            f'timezone = "America/New_York"\nstate_dir = "{tmp_path / machine}"\n'
            f'state_url = "{postgres_url}"\n'
            f'[[accounts]]\nname = "work"\ncalendar = "{calendar}"\nemail = "me@example.com"\n'
        )
        configs.append(str(path))
    code, out, _ = run(capsys, "run", "--json", "--config", configs[0], "--now", NOW)
    created = len(json.loads(out)["accounts"][0]["changes"])
    assert code == 0 and created > 0
    code, out, _ = run(capsys, "status", "--json", "--config", configs[1], "--now", NOW)
    [row] = json.loads(out)["accounts"]
    assert code == 0 and row["last_run"] == "2026-11-30T12:00:00+00:00"
    assert row["last_changes"]["created"] == created
    assert not (tmp_path / "two" / "state.sqlite3").exists()  # nothing local was used


def test_a_state_url_that_is_not_postgresql_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.test_cli import run

    path = tmp_path / "bad.toml"
    path.write_text('state_url = "mysql://db/firstblock"\n')
    code, _, err = run(capsys, "plan", "--config", str(path))
    assert code == 3 and "state_url" in err and err.count("\n") == 1


def test_an_unreachable_state_database_is_one_line_without_its_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("psycopg", reason="PostgreSQL tests: psycopg is not installed")
    from tests.test_cli import run

    path = tmp_path / "down.toml"
    path.write_text('state_url = "postgresql://fb:hunter2@127.0.0.1:1/firstblock"\n')
    code, _, err = run(capsys, "plan", "--config", str(path))
    assert code == 5 and err.count("\n") == 1
    assert "state database postgresql://fb:***@127.0.0.1:1/firstblock" in err
    assert "hunter2" not in err


def test_the_fan_out_claims_each_due_account_once(state: State) -> None:
    hold = timedelta(minutes=10)
    assert state.schedule.claim_due(["a", "b"], T0, hold) == ["a", "b"]  # new: due at once
    assert state.schedule.claim_due(["a", "b"], T0 + timedelta(minutes=1), hold) == []  # queued
    state.schedule.set("a", T0 + timedelta(minutes=15), "reconcile")
    assert state.schedule.next_due("a") == (T0 + timedelta(minutes=15), "reconcile")
    assert state.schedule.claim_due(["a", "b"], T0 + timedelta(minutes=11), hold) == ["b"]  # lost
    assert state.schedule.claim_due(["a", "b"], T0 + timedelta(minutes=16), hold) == ["a"]
    assert state.schedule.next_due("nobody") is None


def test_two_fan_outs_at_once_never_claim_the_same_account(location: str | Path) -> None:
    import threading

    names = [f"rep{i}" for i in range(200)]
    claimed: list[list[str]] = [[], []]
    State(location).close()  # the schema in place before the race
    barrier = threading.Barrier(2)

    def fan_out(i: int) -> None:
        store = State(location)  # one connection per worker, as in production
        try:
            barrier.wait()
            claimed[i] = store.schedule.claim_due(names, T0, timedelta(minutes=10))
        finally:
            store.close()

    threads = [threading.Thread(target=fan_out, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed[0] + claimed[1]) == sorted(names)


def test_shared_credentials_are_encrypted_or_refused_and_memos_round_trip(
    state: State, tmp_path: Path
) -> None:
    from providers.credentials import SecretStore
    from providers.errors import AuthError, DataError
    from providers.memo import Memo
    from worker.state import SharedDocuments

    shared = SharedDocuments(state)
    tmp_path = tmp_path / "machine"  # the worker's own state_dir, beside the store file
    secret = {"type": "app", "secret": "s3cret-from-the-portal"}
    with pytest.raises(DataError, match="must be encrypted"):
        SecretStore(tmp_path, key="", shared=shared).save("outlook-rep", secret)
    store = SecretStore(tmp_path, key="team-key", shared=shared)
    store.save("outlook-rep", secret)
    stored = shared.read("credentials/outlook-rep")
    assert stored is not None and "s3cret" not in stored
    assert store.load("outlook-rep") == secret and store.exists("outlook-rep")
    assert not tmp_path.exists()  # nothing written to the machine
    with pytest.raises(AuthError, match="set FIRSTBLOCK_SECRET_KEY"):
        SecretStore(tmp_path, key="", shared=shared).load("outlook-rep")
    shared.write("credentials/plain", json.dumps(secret))
    with pytest.raises(AuthError, match="not encrypted"):
        store.load("plain")
    store.delete("outlook-rep")
    assert store.load("outlook-rep") is None

    memo = Memo(tmp_path / "memo.json", shared=shared, name="memo/outlook/rep")
    memo.set("delta", "link-1")
    memo.save()
    again = Memo(tmp_path / "memo.json", shared=shared, name="memo/outlook/rep")
    assert again.get("delta") == "link-1" and not (tmp_path / "memo.json").exists()


def test_accounts_are_kept_as_tables_and_listed_in_name_order(state: State) -> None:
    assert state.accounts.all() == [] and state.accounts.stamp() == (0, "")
    table = {
        "provider": "local",
        "timezone": "Europe/Berlin",
        "workday": {"hours": ["08:00-12:00"]},
    }
    state.accounts.put("zoe", table, T0)
    state.accounts.put("ana", {"provider": "google", "email": "ana@x.com"}, T0)
    assert [n for n, _ in state.accounts.all()] == ["ana", "zoe"]
    assert state.accounts.get("zoe") == table
    first = state.accounts.stamp()
    state.accounts.put("zoe", {**table, "timezone": "Asia/Tokyo"}, T0 + timedelta(minutes=1))
    assert state.accounts.get("zoe")["timezone"] == "Asia/Tokyo"  # type: ignore[index]
    assert state.accounts.stamp() != first
    assert state.accounts.remove("ana") and not state.accounts.remove("ana")
    assert state.accounts.get("ana") is None


def test_forgetting_an_account_leaves_nothing_of_it_and_all_of_the_others(
    state: State,
) -> None:
    for name in ("gone", "stays"):
        state.accounts.put(name, {"provider": "local"}, T0)
        state.ledger.observe(name, [block(f"{name}/1", T0)], (T0, T0 + timedelta(days=1)), T0)
        state.runs.log(Run(name, T0, T0, True))
        state.holds.released(name, T0)
        state.runs.notice(name, "reconnect", T0)
        state.schedule.set(name, T0, "reconcile")
        state.figures.planned(name, T0.date(), 90)
        state.figures.lost(name, T0.date(), "deals", 1)
    state.forget_account("gone")
    assert [n for n, _ in state.accounts.all()] == ["stays"]
    assert state.runs.last("gone") is None and state.holds.last_release("gone") is None
    assert state.schedule.next_due("gone") is None and not state.runs.noticed("gone", "reconnect")
    assert state.figures.week("gone", T0.date(), T0.date()) == (0, 0)
    assert state.figures.history("gone", T0.date(), T0.date()).since is None
    assert state.runs.last("stays") is not None and state.schedule.next_due("stays") is not None
    assert state.figures.week("stays", T0.date(), T0.date())[0] == 90


def test_a_look_decides_without_writing_and_a_read_only_state_refuses_writes(
    location: str | Path,
) -> None:
    state = State(location)
    window = (T0, T0 + timedelta(days=1))
    state.ledger.observe("rep", [block("a", T0), block("b", T0)], window, T0)
    state.gaps.sync("rep", [gap("m1", T0)], T0, T0 - timedelta(days=14))
    state.close()
    reader = State.read_only(location)
    try:
        look = reader.ledger.look("rep", [block("a", T0)], window, T0)
        assert look.tombstones == {"b"} and look.buried == (
            ("b", (T0 + timedelta(minutes=30)).isoformat()),
        )
        sync = reader.gaps.look("rep", [], T0 + timedelta(hours=2), T0 - timedelta(days=14))
        assert [g.key for g in sync.closed] == ["m1"] and sync.open == ()
        with pytest.raises(WorkerError):  # a dry run that tried to write is found out
            reader.ledger.commit("rep", look, T0)
    finally:
        reader.close()
    state = State(location)
    try:  # nothing of the looks was kept
        assert state.ledger.look("rep", [], window, T0).tombstones == {"a", "b"}
        assert state.gaps.look("rep", [], T0, T0).open == ()
        assert [g.key for g in state.gaps.open("rep")] == ["m1"]
    finally:
        state.close()


def test_a_read_only_state_of_a_missing_file_is_empty_and_creates_nothing(
    tmp_path: Path,
) -> None:
    reader = State.read_only(tmp_path / "nothing" / "state.sqlite3")
    assert reader.accounts.all() == [] and reader.runs.last("rep") is None
    reader.close()
    assert not (tmp_path / "nothing").exists()


def test_a_burst_of_nudges_is_taken_once(state: State) -> None:
    firsts = [state.nudges.nudge("a", T0 + timedelta(seconds=2 + s), "push") for s in range(5)]
    assert firsts == [True, False, False, False, False]  # the first sets the moment
    state.nudges.nudge("b", T0 + timedelta(seconds=9), "push")
    assert state.nudges.take(T0 + timedelta(seconds=1)) == []
    assert state.nudges.take(T0 + timedelta(seconds=2)) == [("a", "push")]
    assert state.nudges.take(T0 + timedelta(seconds=10)) == [("b", "push")]
    assert state.nudges.take(T0 + timedelta(days=1)) == []
    assert state.nudges.nudge("c", T0, "push")
    state.nudges.clear("c")  # its cycle began
    assert state.nudges.take(T0 + timedelta(days=1)) == []


def test_channels_keep_a_token_digest_and_a_first_ok_survives_being_kept_again(
    state: State,
) -> None:
    from providers.push import Channel
    from worker.channels import OK, WAITING, digest

    pending = Channel("calendar", "c1", "", T0 + timedelta(days=30))
    state.channels.put("a", "google", pending, digest("tok"), WAITING, T0)
    state.channels.mark("c1", OK, "", T0)  # its sync message came before the answer
    made = Channel("calendar", "c1", "res-1", T0 + timedelta(days=7))
    state.channels.put("a", "google", made, digest("tok"), WAITING, T0)
    [row] = state.channels.of("a")
    assert (row.channel, row.health) == (made, OK)
    assert row.answers("tok") and not row.answers("tok2") and row.token != "tok"
    state.channels.failed("a", "google", "inbox", "503 backendError", T0)
    assert [r.placeholder for r in state.channels.of("a")] == [False, True]
    state.channels.put("a", "google", Channel("inbox", "c2", "r", T0), digest("t"), OK, T0)
    assert [r.channel.id for r in state.channels.of("a")] == ["c1", "c2"]  # reason gone
    state.forget_account("a")
    assert state.channels.of("a") == [] and state.channels.get("c1") is None


def test_gaps_known_at_the_upgrade_enter_the_report_record(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    state = State(path)
    end = T0 - timedelta(days=2)
    gap = OpenGap("rep", "m1|a.com", "Call", end - timedelta(hours=1), end, "a.com")
    state.gaps.sync("rep", [gap], T0, T0 - timedelta(days=14))
    state.close()
    with sqlite3.connect(path) as db:  # as a state of schema 7 had it: no history yet
        db.execute("DELETE FROM gap_history")
        db.execute("PRAGMA user_version = 7")
    state = State(path)
    try:
        [record] = state.figures.history("rep", end.date(), end.date()).gaps
        assert (record.key, record.opened, record.closed) == (gap.key, end, None)
    finally:
        state.close()
