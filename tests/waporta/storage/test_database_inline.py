"""waporta.storage.database, inline writes: run in the trio thread when the writer is idle, queued behind
a running batch (a queued batch of inline writes only is run in the trio thread too), never waiting for
another process's lock, and checkpoints only on the thread path."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

import waporta.storage.database as database
from tests.waporta.storage.test_database import COUNTER, ITEMS, Gate, names
from waporta.storage import Database


def insert_noting_thread(name: str, threads: list[int]) -> Any:
    def fn(conn: sqlite3.Connection) -> str:
        threads.append(threading.get_ident())
        conn.execute("INSERT INTO items VALUES (?)", (name,))
        return name

    return fn


async def test_an_inline_write_on_an_idle_writer_runs_in_this_thread_and_commits(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "i.db", migrations=[COUNTER, ITEMS])
    threads: list[int] = []
    try:
        before = db.transactions
        assert await db.write(insert_noting_thread("a", threads), inline=True) == "a"
        assert threads == [threading.get_ident()]
        assert (db.transactions - before, db.inline_writes) == (1, 1)
        # Committed: the reader connection (another snapshot) sees it.
        assert await db.read(names) == ["a"]
        # Without inline=True the same write takes a worker thread.
        await db.write(insert_noting_thread("b", threads))
        assert threads[1] != threading.get_ident()
        assert db.inline_writes == 1
    finally:
        await db.aclose()
    # And it is on disk.
    with sqlite3.connect(tmp_path / "i.db") as conn:
        assert names(conn) == ["a", "b"]


async def test_an_inline_write_that_raises_is_rolled_back_alone(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "r.db", migrations=[COUNTER, ITEMS])

    def insert_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO items VALUES ('ghost')")
        raise KeyError("boom")

    try:
        with pytest.raises(KeyError):
            await db.write(insert_then_fail, inline=True)
        assert await db.write(insert_noting_thread("after", []), inline=True) == "after"
        assert await db.read(names) == ["after"]
    finally:
        await db.aclose()


async def test_an_inline_write_queues_behind_a_running_batch_in_call_order(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "q.db", migrations=[COUNTER, ITEMS])
    threads: list[int] = []
    order: list[str] = []

    async def writer(name: str, inline: bool) -> None:
        order.append(await db.write(insert_noting_thread(name, threads), inline=inline))

    try:
        gate = Gate()
        async with trio.open_nursery() as nursery:
            await gate.hold(db, nursery)
            nursery.start_soon(writer, "queued", False)
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(writer, "inline", True)
            await trio.testing.wait_all_tasks_blocked()
            assert threads == []  # it did not overtake the batch
            gate.release.set()
        assert await db.read(names) == ["queued", "inline"]
        assert threading.get_ident() not in threads
        assert db.inline_writes == 0
    finally:
        await db.aclose()


async def test_an_inline_write_never_waits_for_another_process_in_this_thread(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    db = await Database.open(path, migrations=[COUNTER, ITEMS])
    other = sqlite3.connect(path, isolation_level=None)
    threads: list[int] = []
    done = trio.Event()

    async def writer() -> None:
        await db.write(insert_noting_thread("mine", threads), inline=True)
        done.set()

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        for _ in range(10):
            ticks += 1
            await trio.lowlevel.checkpoint()

    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO items VALUES ('theirs')")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ticker)
            nursery.start_soon(writer)
            await trio.testing.wait_all_tasks_blocked()  # the write waits in a worker thread
            other.execute("COMMIT")
        assert done.is_set()
        assert ticks == 10  # the event loop ran while the other connection held the lock
        assert threads
        assert threads[0] != threading.get_ident()
        assert db.inline_writes == 0
        assert await db.read(names) == ["theirs", "mine"]
        # The inline attempt gave the writer its patience back.
        assert db._writer is not None
        assert db._writer.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    finally:
        other.close()
        await db.aclose()


async def test_checkpoints_run_on_the_thread_path_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database, "CHECKPOINT_COMMITS", 3)
    db = await Database.open(tmp_path / "c.db", migrations=[COUNTER, ITEMS])
    threads: list[int] = []
    try:
        assert db._writer is not None
        assert db._writer.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        for i in range(8):
            await db.write(insert_noting_thread(f"n{i}", threads), inline=True)
        here = threading.get_ident()
        # Three inline commits, then one on the thread path with the checkpoint after it, and again.
        assert [t == here for t in threads] == [True, True, True, False, True, True, True, False]
        assert db.checkpoints == 2
        assert db.inline_writes == 6
        assert await db.read(lambda conn: len(names(conn))) == 8
    finally:
        await db.aclose()


async def test_a_cancelled_inline_write_does_not_run(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "x.db", migrations=[COUNTER, ITEMS])
    threads: list[int] = []
    try:
        with trio.CancelScope() as scope:
            scope.cancel()
            await db.write(insert_noting_thread("never", threads), inline=True)
        assert threads == []
        assert await db.read(names) == []
    finally:
        await db.aclose()


async def queue_behind_a_gate(db: Database, writes: list[tuple[Any, bool]]) -> list[Any]:
    """Hold the writer with a thread batch, queue ``writes`` (function, inline) behind it in this order,
    release it; the writes' results (or exceptions) in order."""
    results: list[Any] = [None] * len(writes)

    async def writer(index: int, fn: Any, inline: bool) -> None:
        try:
            results[index] = await db.write(fn, inline=inline)
        except Exception as exc:
            results[index] = exc

    gate = Gate()
    async with trio.open_nursery() as nursery:
        await gate.hold(db, nursery)
        for index, (fn, inline) in enumerate(writes):
            nursery.start_soon(writer, index, fn, inline)
            await trio.testing.wait_all_tasks_blocked()
        gate.release.set()
    return results


async def test_a_queued_batch_of_inline_writes_runs_in_this_thread_as_one_transaction(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "b.db", migrations=[COUNTER, ITEMS])
    threads: list[int] = []
    try:
        before = db.transactions
        writes = [(insert_noting_thread(name, threads), True) for name in ("x", "y", "z")]
        assert await queue_behind_a_gate(db, writes) == ["x", "y", "z"]
        assert threads == [threading.get_ident()] * 3
        assert db.transactions - before == 2  # the gate's, then one for the three
        assert db.inline_writes == 3
        assert await db.read(names) == ["x", "y", "z"]
    finally:
        await db.aclose()


async def test_a_failing_write_in_an_inline_batch_is_rolled_back_alone(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "f.db", migrations=[COUNTER, ITEMS])

    def insert_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO items VALUES ('ghost')")
        raise KeyError("boom")

    try:
        writes = [(insert_noting_thread("a", []), True), (insert_then_fail, True), (insert_noting_thread("b", []), True)]
        results = await queue_behind_a_gate(db, writes)
        assert results[0] == "a"
        assert results[2] == "b"
        assert isinstance(results[1], KeyError)
        assert db.inline_writes == 3
        assert await db.read(names) == ["a", "b"]
    finally:
        await db.aclose()


async def test_a_large_or_due_batch_of_inline_writes_takes_the_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "INLINE_BATCH_MAX", 2)
    db = await Database.open(tmp_path / "t.db", migrations=[COUNTER, ITEMS])
    threads: list[int] = []
    try:
        writes = [(insert_noting_thread(name, threads), True) for name in ("p", "q", "r")]
        assert await queue_behind_a_gate(db, writes) == ["p", "q", "r"]
        assert threading.get_ident() not in threads
        assert db.inline_writes == 0
        # A checkpoint due: the batch goes to the thread, which runs it.
        monkeypatch.setattr(database, "INLINE_BATCH_MAX", 16)
        monkeypatch.setattr(database, "CHECKPOINT_COMMITS", db._since_checkpoint + 2)
        threads.clear()
        writes = [(insert_noting_thread(name, threads), True) for name in ("s", "t")]
        assert await queue_behind_a_gate(db, writes) == ["s", "t"]
        assert threading.get_ident() not in threads
        assert db.checkpoints == 1
        assert await db.read(names) == ["p", "q", "r", "s", "t"]
    finally:
        await db.aclose()
