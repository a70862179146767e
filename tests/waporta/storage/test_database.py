"""Tests for waporta.storage: file creation and modes, WAL, migrations, the one writer path, reopen."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
import trio

from waporta.storage import (
    DB_FILENAME,
    Database,
    DatabaseClosedError,
    Migration,
    MigrationError,
    db_path,
    load_migrations,
)

COUNTER = Migration(1, "counter", "CREATE TABLE counter (v INTEGER NOT NULL); INSERT INTO counter VALUES (0);")
ITEMS = Migration(2, "items", "CREATE TABLE items (name TEXT PRIMARY KEY);")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def count(conn: sqlite3.Connection, table: str) -> int:
    return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


async def test_db_path_is_inside_the_data_dir(tmp_path: Path) -> None:
    assert db_path(tmp_path / "data") == tmp_path / "data" / DB_FILENAME
    assert DB_FILENAME == "waporta.db"


async def test_open_creates_the_data_dir_and_private_files(tmp_path: Path) -> None:
    path = tmp_path / "new" / "deeper" / "waporta.db"
    db = await Database.open(path)
    try:
        assert db.path == path
        assert mode(path.parent) == 0o700
        await db.write(lambda conn: conn.execute("INSERT INTO api_keys VALUES ('i', 'n', 'p', 'h', 't', NULL)"))
        assert mode(path) == 0o600
        # SQLite gives its side files the database file's mode; they hold the same secrets.
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            assert side.exists()
            assert mode(side) == 0o600
    finally:
        await db.aclose()


async def test_an_existing_loose_file_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "waporta.db"
    path.touch()
    os.chmod(path, 0o644)
    db = await Database.open(path)
    await db.aclose()
    assert mode(path) == 0o600


async def test_the_file_is_private_before_sqlite_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "waporta.db"
    seen: list[int] = []
    real_connect = sqlite3.connect

    def spy(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        seen.append(mode(path))
        conn: sqlite3.Connection = real_connect(*args, **kwargs)
        return conn

    monkeypatch.setattr(sqlite3, "connect", spy)
    db = await Database.open(path)
    await db.aclose()
    assert seen
    assert seen[0] == 0o600


async def test_wal_and_pragmas(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "w.db")
    try:
        def pragmas(conn: sqlite3.Connection) -> tuple[str, int, int, int]:
            return (
                conn.execute("PRAGMA journal_mode").fetchone()[0],
                conn.execute("PRAGMA synchronous").fetchone()[0],
                conn.execute("PRAGMA foreign_keys").fetchone()[0],
                conn.execute("PRAGMA busy_timeout").fetchone()[0],
            )

        for result in (await db.write(pragmas), await db.read(pragmas)):
            assert result == ("wal", 1, 1, 5000)  # synchronous 1 == NORMAL
    finally:
        await db.aclose()


async def test_shipped_migrations_create_the_hub_tables(tmp_path: Path) -> None:
    shipped = load_migrations()
    assert [m.version for m in shipped] == list(range(1, len(shipped) + 1))
    assert shipped[0].name == "hub"
    db = await Database.open(tmp_path / "w.db")
    try:
        assert db.schema_version == len(shipped)
        tables = await db.read(
            lambda conn: {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        )
        assert {"dashboard_credentials", "dashboard_tokens", "api_keys", "webhooks"} <= tables
        version = await db.read(lambda conn: conn.execute("PRAGMA user_version").fetchone()[0])
        assert version == len(shipped)
    finally:
        await db.aclose()


async def test_migrations_are_applied_once_across_reopens(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    db = await Database.open(path, migrations=[COUNTER])
    assert db.schema_version == 1
    await db.write(lambda conn: conn.execute("UPDATE counter SET v = 41"))
    await db.aclose()

    # Reopening with the same set changes nothing (COUNTER's INSERT would add a second row).
    db = await Database.open(path, migrations=[COUNTER])
    assert await db.read(lambda conn: conn.execute("SELECT v FROM counter").fetchall()) == [(41,)]
    await db.aclose()

    # A new migration is applied on top, and only it.
    db = await Database.open(path, migrations=[ITEMS, COUNTER])
    try:
        assert db.schema_version == 2
        assert await db.read(lambda conn: count(conn, "counter")) == 1
        assert await db.read(lambda conn: count(conn, "items")) == 0
    finally:
        await db.aclose()


async def test_a_failing_migration_leaves_the_previous_version(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    broken = Migration(2, "broken", "CREATE TABLE half (x INTEGER); INSERT INTO nowhere VALUES (1);")
    with pytest.raises(MigrationError, match="0002_broken"):
        await Database.open(path, migrations=[COUNTER, broken])
    db = await Database.open(path, migrations=[COUNTER])
    try:
        assert db.schema_version == 1
        names = await db.read(lambda conn: [r[0] for r in conn.execute("SELECT name FROM sqlite_master")])
        assert "half" not in names
    finally:
        await db.aclose()


async def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    db = await Database.open(path, migrations=[COUNTER, ITEMS])
    await db.aclose()
    with pytest.raises(MigrationError, match="newer"):
        await Database.open(path, migrations=[COUNTER])


@pytest.mark.parametrize(
    "migrations",
    [[ITEMS], [COUNTER, Migration(3, "gap", "")], [COUNTER, Migration(1, "again", "")]],
)
async def test_gaps_and_repeats_in_migration_numbers_are_refused(
    tmp_path: Path, migrations: list[Migration]
) -> None:
    with pytest.raises(MigrationError, match=r"1\.\.N"):
        await Database.open(tmp_path / "m.db", migrations=migrations)


async def test_data_survives_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "data" / "waporta.db"
    db = await Database.open(path, migrations=[COUNTER, ITEMS])
    await db.write(lambda conn: conn.executemany("INSERT INTO items VALUES (?)", [("a",), ("b",)]))
    await db.aclose()
    db = await Database.open(path, migrations=[COUNTER, ITEMS])
    try:
        assert await db.read(lambda conn: conn.execute("SELECT name FROM items ORDER BY name").fetchall()) == [
            ("a",),
            ("b",),
        ]
    finally:
        await db.aclose()


async def test_concurrent_writers_are_serialized(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "c.db", migrations=[COUNTER])
    lock = threading.Lock()
    active = 0
    peak = 0

    def increment(conn: sqlite3.Connection) -> None:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        try:
            (value,) = conn.execute("SELECT v FROM counter").fetchone()
            conn.execute("UPDATE counter SET v = ?", (value + 1,))
        finally:
            with lock:
                active -= 1

    async def writer() -> None:
        for _ in range(10):
            await db.write(increment)

    try:
        async with trio.open_nursery() as nursery:
            for _ in range(30):
                nursery.start_soon(writer)
        assert peak == 1
        assert await db.read(lambda conn: conn.execute("SELECT v FROM counter").fetchone()[0]) == 300
    finally:
        await db.aclose()


async def test_a_failed_write_rolls_back_and_the_next_one_works(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "r.db", migrations=[COUNTER, ITEMS])

    class Boom(Exception):
        pass

    def insert_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO items VALUES ('ghost')")
        raise Boom

    try:
        with pytest.raises(Boom):
            await db.write(insert_then_fail)
        assert await db.read(lambda conn: count(conn, "items")) == 0
        # A constraint violation also rolls the whole transaction back.
        with pytest.raises(sqlite3.IntegrityError):
            await db.write(lambda conn: conn.executemany("INSERT INTO items VALUES (?)", [("x",), ("x",)]))
        assert await db.read(lambda conn: count(conn, "items")) == 0
        await db.write(lambda conn: conn.execute("INSERT INTO items VALUES ('real')"))
        assert await db.read(lambda conn: count(conn, "items")) == 1
    finally:
        await db.aclose()


async def test_write_returns_the_function_result(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "r.db", migrations=[COUNTER, ITEMS])
    try:
        rowid = await db.write(lambda conn: conn.execute("INSERT INTO items VALUES ('a')").lastrowid)
        assert rowid == 1
    finally:
        await db.aclose()


async def test_read_cannot_write(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "r.db", migrations=[COUNTER, ITEMS])
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            await db.read(lambda conn: conn.execute("INSERT INTO items VALUES ('a')"))
        assert await db.read(lambda conn: count(conn, "items")) == 0
    finally:
        await db.aclose()


async def test_a_cancelled_write_still_completes(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "k.db", migrations=[COUNTER, ITEMS])
    started = threading.Event()
    release = threading.Event()

    def slow_insert(conn: sqlite3.Connection) -> None:
        started.set()
        release.wait()
        conn.execute("INSERT INTO items VALUES ('kept')")

    scope = trio.CancelScope()

    async def run() -> None:
        with scope:
            await db.write(slow_insert)

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run)
            await trio.to_thread.run_sync(started.wait)
            scope.cancel()
            release.set()
        assert scope.cancel_called
        assert await db.read(lambda conn: count(conn, "items")) == 1
    finally:
        await db.aclose()


async def test_closed_database_refuses_work_and_aclose_is_idempotent(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "x.db", migrations=[COUNTER])
    was_closed = db.closed
    await db.aclose()
    await db.aclose()
    assert (was_closed, db.closed) == (False, True)
    with pytest.raises(DatabaseClosedError):
        await db.write(lambda conn: None)
    with pytest.raises(DatabaseClosedError):
        await db.read(lambda conn: None)


async def test_aclose_waits_for_the_running_write(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    db = await Database.open(path, migrations=[COUNTER, ITEMS])
    started = threading.Event()
    release = threading.Event()

    def slow_insert(conn: sqlite3.Connection) -> None:
        started.set()
        release.wait()
        conn.execute("INSERT INTO items VALUES ('late')")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(db.write, slow_insert)
        await trio.to_thread.run_sync(started.wait)
        nursery.start_soon(db.aclose)
        await trio.testing.wait_all_tasks_blocked()
        release.set()
    assert db.closed
    db = await Database.open(path, migrations=[COUNTER, ITEMS])
    try:
        assert await db.read(lambda conn: count(conn, "items")) == 1
    finally:
        await db.aclose()


# --- group commit -------------------------------------------------------------------------------------


class Gate:
    """A write that holds the writer in its worker thread until released, so others queue behind it."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self, conn: sqlite3.Connection) -> str:
        self.started.set()
        self.release.wait()
        return "gate"

    async def hold(self, db: Database, nursery: trio.Nursery) -> None:
        """Start the gate write and wait until its thread is running."""
        nursery.start_soon(db.write, self)
        await trio.to_thread.run_sync(self.started.wait)


def insert(name: str) -> Any:
    def fn(conn: sqlite3.Connection) -> int | None:
        return conn.execute("INSERT INTO items VALUES (?)", (name,)).lastrowid

    return fn


def names(conn: sqlite3.Connection) -> list[str]:
    return [row[0] for row in conn.execute("SELECT name FROM items ORDER BY rowid")]


def commit_counter(db: Database) -> list[str]:
    """Every COMMIT the writer connection executes (a trace callback on the private writer connection)."""
    seen: list[str] = []
    assert db._writer is not None
    db._writer.set_trace_callback(lambda sql: seen.append(sql) if sql.startswith("COMMIT") else None)
    return seen


async def test_concurrent_writes_share_transactions(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "g.db", migrations=[COUNTER, ITEMS])
    commits = commit_counter(db)
    results: dict[int, int | None] = {}

    async def writer(i: int) -> None:
        results[i] = await db.write(insert(f"n{i}"))

    try:
        before = db.transactions
        gate = Gate()
        async with trio.open_nursery() as nursery:
            await gate.hold(db, nursery)
            for i in range(50):
                nursery.start_soon(writer, i)
            await trio.testing.wait_all_tasks_blocked()
            gate.release.set()
        # The gate's transaction, then all 50 queued writes in one.
        assert db.transactions - before == 2
        assert len(commits) == 2
        assert sorted(results) == list(range(50))
        assert sorted(r for r in results.values() if r is not None) == list(range(1, 51))
        assert sorted(await db.read(names)) == sorted(f"n{i}" for i in range(50))
    finally:
        await db.aclose()


async def test_batches_are_bounded(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "g.db", migrations=[COUNTER, ITEMS], max_batch=8)
    sizes: list[int] = []
    current = [0]

    def counted(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE counter SET v = v + 1")
        current[0] += 1

    assert db._writer is not None

    def trace(sql: str) -> None:  # in the worker thread, batch by batch
        if sql.startswith("COMMIT"):
            sizes.append(current[0])
            current[0] = 0

    db._writer.set_trace_callback(trace)
    try:
        gate = Gate()
        async with trio.open_nursery() as nursery:
            await gate.hold(db, nursery)
            for _ in range(50):
                nursery.start_soon(db.write, counted)
            await trio.testing.wait_all_tasks_blocked()
            gate.release.set()
        assert sizes == [0, 8, 8, 8, 8, 8, 8, 2]
        assert await db.read(lambda conn: conn.execute("SELECT v FROM counter").fetchone()[0]) == 50
        with pytest.raises(ValueError, match="max_batch"):
            await Database.open(tmp_path / "h.db", migrations=[COUNTER], max_batch=0)
    finally:
        await db.aclose()


class Boom(Exception):
    pass


async def record(db: Database, outcomes: dict[str, object], label: str, fn: Any) -> None:
    """Write ``fn`` and keep its result or exception under ``label``."""
    try:
        outcomes[label] = await db.write(fn)
    except Exception as exc:
        outcomes[label] = exc


async def test_a_failing_write_in_a_batch_rolls_back_only_itself(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "f.db", migrations=[COUNTER, ITEMS])
    outcomes: dict[str, object] = {}

    def insert_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO items VALUES ('ghost')")
        conn.execute("UPDATE counter SET v = 99")
        raise Boom

    def duplicate(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO items VALUES ('dup')")
        conn.execute("INSERT INTO items VALUES ('a')")  # 'a' was inserted earlier in this batch

    try:
        before = db.transactions
        gate = Gate()
        async with trio.open_nursery() as nursery:
            await gate.hold(db, nursery)
            for label, fn in (
                ("a", insert("a")),
                ("ghost", insert_then_fail),
                ("dup", duplicate),
                ("b", insert("b")),
            ):
                nursery.start_soon(record, db, outcomes, label, fn)
                await trio.testing.wait_all_tasks_blocked()
            gate.release.set()
        assert db.transactions - before == 2
        assert outcomes["a"] == 1
        assert outcomes["b"] == 2
        assert isinstance(outcomes["ghost"], Boom)
        assert isinstance(outcomes["dup"], sqlite3.IntegrityError)
        assert await db.read(names) == ["a", "b"]
        assert await db.read(lambda conn: conn.execute("SELECT v FROM counter").fetchone()[0]) == 0
    finally:
        await db.aclose()


async def test_a_failed_commit_fails_every_write_of_the_batch(tmp_path: Path) -> None:
    # A deferred foreign key is checked only at COMMIT, so one write can make the COMMIT itself fail.
    parents = Migration(
        3,
        "parents",
        "CREATE TABLE parent (id INTEGER PRIMARY KEY);"
        "CREATE TABLE child (pid INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);",
    )
    db = await Database.open(tmp_path / "c.db", migrations=[COUNTER, ITEMS, parents])
    outcomes: dict[str, object] = {}

    def own_failure(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO items VALUES ('own')")
        raise Boom

    def insert_orphan(conn: sqlite3.Connection) -> int:
        return conn.execute("INSERT INTO child VALUES (7)").rowcount

    try:
        gate = Gate()
        async with trio.open_nursery() as nursery:
            await gate.hold(db, nursery)
            nursery.start_soon(record, db, outcomes, "a", insert("a"))
            nursery.start_soon(record, db, outcomes, "own", own_failure)
            nursery.start_soon(record, db, outcomes, "orphan", insert_orphan)
            nursery.start_soon(record, db, outcomes, "b", insert("b"))
            await trio.testing.wait_all_tasks_blocked()
            gate.release.set()
        for label in ("a", "orphan", "b"):
            assert isinstance(outcomes[label], sqlite3.IntegrityError), label
            assert "FOREIGN KEY" in str(outcomes[label])
        assert isinstance(outcomes["own"], Boom)  # its own error, not the COMMIT's
        assert await db.read(names) == []
        assert await db.read(lambda conn: count(conn, "child")) == 0
        # The writer is usable again.
        assert await db.write(insert("after")) == 1
        assert await db.read(names) == ["after"]
    finally:
        await db.aclose()


async def test_a_write_returns_only_after_its_commit(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "d.db", migrations=[COUNTER, ITEMS])
    commits = commit_counter(db)
    seen_after_return: dict[int, bool] = {}

    async def writer(i: int) -> None:
        committed_before = len(commits)
        await db.write(insert(f"n{i}"))
        # Its batch's COMMIT has run and another connection (the reader) sees the row.
        assert len(commits) > committed_before
        seen_after_return[i] = await db.read(
            lambda conn: conn.execute("SELECT 1 FROM items WHERE name = ?", (f"n{i}",)).fetchone() is not None
        )

    try:
        async with trio.open_nursery() as nursery:
            for i in range(40):
                nursery.start_soon(writer, i)
        assert seen_after_return == dict.fromkeys(range(40), True)
        assert db.transactions < 40  # they were batched
    finally:
        await db.aclose()


async def test_a_write_cancelled_while_queued_never_runs(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "q.db", migrations=[COUNTER, ITEMS])
    ran: list[str] = []
    scope = trio.CancelScope()

    def tracked(name: str) -> Any:
        def fn(conn: sqlite3.Connection) -> None:
            ran.append(name)
            conn.execute("INSERT INTO items VALUES (?)", (name,))

        return fn

    async def cancelled_writer() -> None:
        with scope:
            await db.write(tracked("cancelled"))

    try:
        gate = Gate()
        async with trio.open_nursery() as nursery:
            await gate.hold(db, nursery)
            nursery.start_soon(db.write, tracked("before"))
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(cancelled_writer)
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(db.write, tracked("after"))
            await trio.testing.wait_all_tasks_blocked()
            scope.cancel()
            await trio.testing.wait_all_tasks_blocked()
            gate.release.set()
        assert scope.cancelled_caught
        assert ran == ["before", "after"]
        assert await db.read(names) == ["before", "after"]
    finally:
        await db.aclose()


async def test_a_write_cancelled_after_its_batch_started_is_committed(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "s.db", migrations=[COUNTER, ITEMS])
    second = Gate()  # the first write of the second batch; the cancelled one follows it in the same batch
    scope = trio.CancelScope()
    returned: list[object] = []

    async def cancelled_writer() -> None:
        with scope:
            returned.append(await db.write(insert("kept")))

    try:
        gate = Gate()
        async with trio.open_nursery() as nursery:
            await gate.hold(db, nursery)
            nursery.start_soon(db.write, second)
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(cancelled_writer)
            await trio.testing.wait_all_tasks_blocked()
            gate.release.set()
            await trio.to_thread.run_sync(second.started.wait)  # the batch [second, kept] is running
            scope.cancel()
            await trio.testing.wait_all_tasks_blocked()
            second.release.set()
        assert scope.cancelled_caught  # the cancellation was delivered, after the commit
        assert returned == []
        assert await db.read(names) == ["kept"]
    finally:
        await db.aclose()


async def lead_race_round(db: Database, it: int) -> bool:
    """One round of the hand-off race below; True if B dropped out without running."""
    ran: list[str] = []
    scope = trio.CancelScope()

    def tracked(name: str) -> Any:
        def fn(conn: sqlite3.Connection) -> None:
            ran.append(name)
            conn.execute("INSERT INTO items VALUES (?)", (name,))

        return fn

    async def b_writer() -> None:
        with scope:
            await db.write(tracked(f"b{it}"))

    async def c_writer() -> None:
        await db.write(tracked(f"c{it}"))
        scope.cancel()

    first, second = Gate(), Gate()
    async with trio.open_nursery() as nursery:
        await first.hold(db, nursery)
        nursery.start_soon(db.write, second)
        await trio.testing.wait_all_tasks_blocked()
        for task in (c_writer, b_writer):
            nursery.start_soon(task)
            await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(db.write, tracked(f"d{it}"))
        await trio.testing.wait_all_tasks_blocked()
        first.release.set()
        await trio.to_thread.run_sync(second.started.wait)
        second.release.set()
    stored = set(await db.read(names))
    assert {f"c{it}", f"d{it}"} <= stored
    if f"b{it}" in ran:
        assert f"b{it}" in stored
        return False
    assert scope.cancelled_caught
    assert f"b{it}" not in stored
    return True


async def test_a_write_cancelled_just_as_it_is_handed_the_lead_never_runs(tmp_path: Path) -> None:
    # B is first in the queue when batch [G2, C] ends, so it is woken to lead the next batch; C's caller,
    # woken in the same scheduler turn, cancels B. When C's caller runs first (trio orders such turns at
    # random), B must not run its batch: it drops out and hands the lead to D.
    db = await Database.open(tmp_path / "l.db", migrations=[COUNTER, ITEMS], max_batch=2)
    try:
        dropped = [await lead_race_round(db, it) for it in range(24)]
        # About half the rounds; all 24 going the other way has odds of 1 in 16 million.
        assert any(dropped)
    finally:
        await db.aclose()


async def test_writes_apply_in_call_order(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "o.db", migrations=[COUNTER, ITEMS], max_batch=7)

    async def sequence(task: int) -> None:
        for n in range(20):
            await db.write(insert(f"{task}:{n:02}"))

    try:
        # Arrival order across tasks: each queued in turn behind a held batch.
        gate = Gate()
        async with trio.open_nursery() as nursery:
            await gate.hold(db, nursery)
            for i in range(30):
                nursery.start_soon(db.write, insert(f"q{i:02}"))
                await trio.testing.wait_all_tasks_blocked()
            gate.release.set()
        assert await db.read(names) == [f"q{i:02}" for i in range(30)]
        # Call order within each task, with several tasks writing at once.
        async with trio.open_nursery() as nursery:
            for task in range(10):
                nursery.start_soon(sequence, task)
        rows = [name for name in await db.read(names) if ":" in name]
        for task in range(10):
            mine = [name for name in rows if name.startswith(f"{task}:")]
            assert mine == [f"{task}:{n:02}" for n in range(20)]
    finally:
        await db.aclose()


async def test_a_write_cannot_end_the_shared_transaction(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "t.db", migrations=[COUNTER, ITEMS])
    outcomes: dict[str, object] = {}

    def commits_early(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO items VALUES ('early')")
        conn.execute("COMMIT")

    def releases_ours(conn: sqlite3.Connection) -> None:
        conn.execute("RELEASE waporta_write")

    def own_savepoint(conn: sqlite3.Connection) -> str:
        conn.execute("SAVEPOINT mine")
        conn.execute("INSERT INTO items VALUES ('undone')")
        conn.execute("ROLLBACK TO mine")
        conn.execute("RELEASE mine")
        conn.execute("INSERT INTO items VALUES ('mine')")
        return "ok"

    try:
        gate = Gate()
        async with trio.open_nursery() as nursery:
            await gate.hold(db, nursery)
            for label, fn in (
                ("a", insert("a")),
                ("commit", commits_early),
                ("rollback", lambda conn: conn.execute("ROLLBACK")),
                ("release", releases_ours),
                ("savepoint", own_savepoint),
                ("b", insert("b")),
            ):
                nursery.start_soon(record, db, outcomes, label, fn)
                await trio.testing.wait_all_tasks_blocked()
            gate.release.set()
        for label in ("commit", "rollback", "release"):
            assert isinstance(outcomes[label], sqlite3.DatabaseError), label
            assert "not authorized" in str(outcomes[label])
        assert outcomes["savepoint"] == "ok"
        assert await db.read(names) == ["a", "mine", "b"]
        # Outside a write, the writer's own transaction control still works (statement cache included).
        await db.write(insert("c"))
        assert await db.read(names) == ["a", "mine", "b", "c"]
    finally:
        await db.aclose()


async def test_writes_are_run_again_when_sqlite_rolls_the_transaction_back(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "a.db", migrations=[COUNTER, ITEMS])
    runs: list[str] = []
    outcomes: dict[str, object] = {}

    def tracked(name: str) -> Any:
        def fn(conn: sqlite3.Connection) -> str:
            runs.append(name)
            conn.execute("INSERT INTO items VALUES (?)", (name,))
            return name

        return fn

    def or_rollback(conn: sqlite3.Connection) -> None:
        runs.append("conflict")
        conn.execute("INSERT OR ROLLBACK INTO items VALUES ('a')")

    def swallows(conn: sqlite3.Connection) -> str:
        runs.append("swallows")
        with contextlib.suppress(sqlite3.IntegrityError):
            conn.execute("INSERT OR ROLLBACK INTO items VALUES ('a')")
        return "pretends"

    try:
        before = db.transactions
        gate = Gate()
        async with trio.open_nursery() as nursery:
            await gate.hold(db, nursery)
            for label, fn in (
                ("a", tracked("a")),
                ("conflict", or_rollback),
                ("b", tracked("b")),
                ("swallows", swallows),
                ("c", tracked("c")),
            ):
                nursery.start_soon(record, db, outcomes, label, fn)
                await trio.testing.wait_all_tasks_blocked()
            gate.release.set()
        assert isinstance(outcomes["conflict"], sqlite3.IntegrityError)
        assert isinstance(outcomes["swallows"], sqlite3.OperationalError)
        assert (outcomes["a"], outcomes["b"], outcomes["c"]) == ("a", "b", "c")
        assert await db.read(names) == ["a", "b", "c"]
        # 'a' ran in the first transaction, which the conflict rolled back; 'a' and 'b' ran in the second,
        # which the swallowed conflict rolled back; the third committed a, b, c.
        assert runs == ["a", "conflict", "a", "b", "swallows", "a", "b", "c"]
        assert db.transactions - before == 1 + 3
    finally:
        await db.aclose()


async def test_random_cancellations_never_lose_or_invent_writes(tmp_path: Path) -> None:
    import random

    rng = random.Random(6)
    db = await Database.open(tmp_path / "r.db", migrations=[COUNTER, ITEMS], max_batch=5)
    ran: set[str] = set()
    returned: set[str] = set()
    cancelled: set[str] = set()

    def tracked(name: str) -> Any:
        def fn(conn: sqlite3.Connection) -> None:
            ran.add(name)
            conn.execute("INSERT INTO items VALUES (?)", (name,))

        return fn

    async def writer(name: str, delay: int) -> None:
        with trio.CancelScope() as scope:
            for _ in range(delay):
                await trio.lowlevel.checkpoint()
            # Cancel this write after a random number of scheduler turns: before it queues, while it
            # waits, after it was handed the lead, or while its batch runs.
            async with trio.open_nursery() as nursery:

                async def cancel_later(turns: int) -> None:
                    for _ in range(turns):
                        await trio.lowlevel.checkpoint()
                    scope.cancel()

                nursery.start_soon(cancel_later, rng.randrange(0, 12))
                await db.write(tracked(name))
                returned.add(name)
                nursery.cancel_scope.cancel()
        if scope.cancelled_caught:
            cancelled.add(name)

    try:
        for round_ in range(5):
            async with trio.open_nursery() as nursery:
                for i in range(60):
                    nursery.start_soon(writer, f"{round_}-{i}", rng.randrange(0, 4))
            stored = set(await db.read(names))
            assert stored == ran  # every function that ran was committed, nothing else was
            assert returned <= stored  # every write that returned is stored
            assert returned | cancelled == {f"{r}-{i}" for r in range(round_ + 1) for i in range(60)}
        assert cancelled - ran  # some were cancelled before they ran ...
        assert returned  # ... and some went through
        await db.write(insert("last"))
        assert "last" in await db.read(names)
    finally:
        await db.aclose()


async def test_aclose_commits_queued_writes_and_refuses_later_ones(tmp_path: Path) -> None:
    path = tmp_path / "z.db"
    db = await Database.open(path, migrations=[COUNTER, ITEMS])
    refused: list[BaseException] = []

    async def late() -> None:
        try:
            await db.write(insert("late"))
        except DatabaseClosedError as exc:
            refused.append(exc)

    gate = Gate()
    async with trio.open_nursery() as nursery:
        await gate.hold(db, nursery)
        for i in range(5):
            nursery.start_soon(db.write, insert(f"queued{i}"))
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(db.aclose)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(late)
        await trio.testing.wait_all_tasks_blocked()
        closed_while_queued = db.closed
        gate.release.set()
    assert (closed_while_queued, db.closed) == (False, True)
    assert len(refused) == 1
    db = await Database.open(path, migrations=[COUNTER, ITEMS])
    try:
        assert sorted(await db.read(names)) == [f"queued{i}" for i in range(5)]
    finally:
        await db.aclose()
