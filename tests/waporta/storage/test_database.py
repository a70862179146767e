"""Tests for waporta.storage: file creation and modes, WAL, migrations, the one writer path, reopen."""

from __future__ import annotations

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
