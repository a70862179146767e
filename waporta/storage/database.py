"""The hub's SQLite database, driven from trio: one writer path with group commit, one reader, migrations.

Recipe (``STACK.md`` §6): the file is created with mode 0600 before SQLite writes a byte (SQLite then
gives its ``-wal`` and ``-shm`` files the same mode), journal mode WAL with ``synchronous=NORMAL``,
``busy_timeout`` and ``foreign_keys`` on. Two connections opened with ``check_same_thread=False``:

- the **writer**: every write goes through :meth:`Database.write`. Writes are **group-committed**: the
  functions of all writes waiting at one moment (at most ``max_batch``) run in ONE worker-thread call
  inside ONE ``BEGIN IMMEDIATE … COMMIT``, each inside its own ``SAVEPOINT`` (a write alone in its batch
  needs none), so a function that raises is rolled back alone and only its caller sees the exception. Every caller is woken
  after the ``COMMIT``, with its own result or exception; if the ``COMMIT`` fails, every caller of the
  batch whose function had succeeded gets that error. One batch runs at a time, so the connection never
  sees two threads, and requests are taken in arrival order, so the writes of one task apply in call
  order. A thread hop plus a commit costs far more than a typical store write (§6: 5–7k transactions/s
  one by one, 83k with group commit), which is why writes are batched rather than run one by one;
- the **reader** (``PRAGMA query_only``): :meth:`Database.read` runs a function in a worker thread inside
  a read transaction, so it sees one consistent snapshot and can run while a write is in progress.

Who runs a batch: ``Database`` owns no nursery (it is opened and closed by plain calls), so there is no
long-lived writer task. Instead the **caller whose request is first in the queue leads**: a write that
finds the writer idle runs a batch at once (its own request plus whatever is queued when it gets there);
a write that finds a batch running queues its request and sleeps. When a batch ends, its leader hands
the lead to the first request still queued (whose task wakes and runs the next batch) and then wakes the
batch's callers, so a caller waits only for the batches queued ahead of its own, and nothing runs
when nobody writes. The leader runs the batch in a cancel-shielded ``trio.to_thread.run_sync``;
``fn`` runs in that worker thread with the leader task's context variables, not its own caller's.

**Inline writes.** ``write(fn, inline=True)`` is for a small write (a few rows, as a Signal session
record): when the writer is idle it runs at once, in the trio thread, as its own transaction (about
20 µs, where a thread hop costs some 170 µs of CPU); when a batch is running or queued it is queued like
any other write. It still commits before it returns. A queued batch made only of inline writes, at most
:data:`INLINE_BATCH_MAX` of them, is run the same way by its leader, in the trio thread as one
transaction (each write in its own savepoint), so small writes that had to queue behind a batch in a
worker thread (a send's Signal records behind an inbound message's write, say) do not take a thread hop
of their own after it. An inline write never waits for a lock held by another process (the thread path does, up to
``busy_timeout``): then it goes the thread path too. Checkpoints never run
inline: the writer's automatic checkpoint is off, and the thread path runs a passive
``wal_checkpoint`` after its batch once ``CHECKPOINT_COMMITS`` transactions have been committed since the
last one; an inline write is taken to the thread path when one is due, so the fsync of a checkpoint never
stalls the event loop.

Cancellation: a ``write`` cancelled while its request is still queued is removed from the queue and its
function never runs. A worker thread cannot be interrupted, so once its batch has started a cancelled
``write`` waits until the batch has committed (or rolled back) before the cancellation is delivered;
the database is never left mid-transaction.

Rules for the functions passed to ``write``: they run in a transaction they do not own, so they may not
``BEGIN``, ``COMMIT``, ``ROLLBACK`` or ``END`` it (the writer connection refuses those statements inside
a write with ``sqlite3.DatabaseError: not authorized``); they may use savepoints of their own. When an
error makes SQLite roll the whole transaction back on its own (an ``OR ROLLBACK`` conflict, a trigger's
``RAISE(ROLLBACK)``, a full disk), the functions that had already succeeded in that batch are run again,
in order, in a new transaction, so a function should do nothing but work on the connection.

This module is NOT the schema (``migrations/*.sql``), the migration runner (``migrate.py``) or any
table's logic (``waporta/auth.py``, ``waporta/webhooks.py``, ``waporta/storage/stores/`` own theirs).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

import trio

from waporta.storage.migrate import Migration, apply_migrations, load_migrations

__all__ = [
    "CHECKPOINT_COMMITS",
    "DB_FILENAME",
    "DEFAULT_MAX_BATCH",
    "INLINE_BATCH_MAX",
    "Database",
    "DatabaseClosedError",
    "db_path",
]

T = TypeVar("T")

#: The database file's name inside the configured data directory.
DB_FILENAME = "waporta.db"

#: How many writes one transaction takes at most, unless ``Database.open(max_batch=...)`` says otherwise.
DEFAULT_MAX_BATCH = 128

_BUSY_TIMEOUT_MS = 5000

#: Transactions committed between two checkpoints of the WAL (run by the thread path after its batch).
CHECKPOINT_COMMITS = 256

#: The most inline writes a queued batch may hold to be run in the trio thread (about 10–20 µs each).
INLINE_BATCH_MAX = 16

_NO_WAIT = "PRAGMA busy_timeout = 0"
_WAIT = f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}"
_CHECKPOINT = "PRAGMA wal_checkpoint(PASSIVE)"

# The writer's own transaction statements. The comments make their text unique, so a function's
# "COMMIT" is never served from sqlite3's statement cache as ours (the authorizer sees only new
# statements) and is always checked by _Guard.
_SAVEPOINT_NAME = "waporta_write"
_BEGIN = "BEGIN IMMEDIATE -- waporta batch"
_COMMIT = "COMMIT -- waporta batch"
_ROLLBACK = "ROLLBACK -- waporta batch"
_SAVEPOINT = f"SAVEPOINT {_SAVEPOINT_NAME} -- waporta batch"
_ROLLBACK_TO = f"ROLLBACK TO {_SAVEPOINT_NAME} -- waporta batch"
_RELEASE = f"RELEASE {_SAVEPOINT_NAME} -- waporta batch"

# States of a write request.
_QUEUED = "queued"  # waiting in Database._pending
_LEAD = "lead"  # first in the queue, woken to run the next batch
_TAKEN = "taken"  # in a running batch: its fn has started or will start
_DONE = "done"  # its batch is over; value or error is final


class DatabaseClosedError(RuntimeError):
    """``read``/``write`` was called after :meth:`Database.aclose` (``write`` also while it is closing)."""


def db_path(data_dir: Path) -> Path:
    """Where the hub keeps its database for a given data directory: ``<data_dir>/waporta.db``."""
    return Path(data_dir) / DB_FILENAME


class _Request(Generic[T]):
    """One ``write`` call: its function, where it stands, and (once run) its result or exception."""

    __slots__ = ("error", "fn", "has_value", "inline", "state", "value", "wake")

    def __init__(self, fn: Callable[[sqlite3.Connection], T], inline: bool = False) -> None:
        self.fn = fn
        self.inline = inline  # small enough to run in the trio thread
        self.state = _QUEUED
        self.wake = trio.Event()  # set when the request leads (_LEAD) or its batch is over (_DONE)
        self.has_value = False
        self.value: T | None = None
        self.error: BaseException | None = None

    def succeed(self, value: T) -> None:
        self.has_value, self.value, self.error = True, value, None

    def fail(self, error: BaseException) -> None:
        self.has_value, self.value, self.error = False, None, error

    def reset(self) -> None:
        self.has_value, self.value, self.error = False, None, None

    def unwrap(self) -> T:
        if self.error is not None:
            raise self.error
        if not self.has_value:
            raise RuntimeError("the write's batch ended without running it")
        return self.value  # type: ignore[return-value]  # has_value: value is fn's T


class _Guard:
    """The writer connection's authorizer: inside a write's function, refuse transaction control."""

    __slots__ = ("active",)

    def __init__(self) -> None:
        self.active = False

    def __call__(
        self, action: int, arg1: str | None, arg2: str | None, db: str | None, src: str | None
    ) -> int:
        if self.active and (
            action == sqlite3.SQLITE_TRANSACTION
            or (action == sqlite3.SQLITE_SAVEPOINT and (arg2 or "").lower() == _SAVEPOINT_NAME)
        ):
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK


class Database:
    """An open hub database. Create with ``await Database.open(path)``; close with ``await db.aclose()``."""

    #: The database file.
    path: Path
    #: The schema version after migrations (``PRAGMA user_version``).
    schema_version: int
    #: The most writes one transaction takes.
    max_batch: int

    def __init__(
        self,
        path: Path,
        writer: sqlite3.Connection,
        reader: sqlite3.Connection,
        schema_version: int,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> None:
        # Use Database.open(); this constructor only wires already-open connections together.
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, not {max_batch}")
        self.path = path
        self.schema_version = schema_version
        self.max_batch = max_batch
        self._writer: sqlite3.Connection | None = writer
        self._reader: sqlite3.Connection | None = reader
        self._read_limiter = trio.CapacityLimiter(1)
        self._guard = _Guard()
        writer.set_authorizer(self._guard)
        self._pending: deque[_Request[Any]] = deque()
        self._busy = False  # a batch is running or a queued request has been handed the lead
        self._idle = trio.Event()
        self._idle.set()
        self._closers = 0  # aclose calls under way: new writes are refused
        #: Transactions the writer has committed or attempted (one per batch, more after a rerun).
        self.transactions = 0
        #: Writes that ran inline (in the trio thread, see the module docstring).
        self.inline_writes = 0
        #: Checkpoints of the WAL run so far.
        self.checkpoints = 0
        self._since_checkpoint = 0
        writer.execute("PRAGMA wal_autocheckpoint = 0")

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        migrations: Sequence[Migration] | None = None,
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> Database:
        """Open (creating if needed) the database at ``path`` and apply pending migrations.

        The parent directory is created (mode 0700) if missing; a new file is created with mode 0600 and
        an existing file is tightened to 0600. ``migrations`` defaults to the ones shipped in
        ``waporta/storage/migrations/``; tests may pass their own. ``max_batch`` bounds how many writes
        share one transaction. Raises :class:`~waporta.storage.migrate.MigrationError` if the schema
        cannot be brought up to date.
        """
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, not {max_batch}")
        path = Path(path)
        chosen = list(migrations) if migrations is not None else load_migrations()
        writer, reader, version = await trio.to_thread.run_sync(_open_sync, path, chosen)
        return cls(path, writer, reader, version, max_batch=max_batch)

    async def write(self, fn: Callable[[sqlite3.Connection], T], *, inline: bool = False) -> T:
        """Run ``fn(conn)`` in the writer's transaction; returns its result once it is committed.

        Writes are serialized and taken in arrival order; several may share one transaction (see the
        module docstring), each in its own savepoint. If ``fn`` raises, its own changes are rolled back
        and the exception propagates to this caller only. ``fn`` must not begin, commit or roll back the
        transaction. ``inline``: ``fn`` is small, run it at once in this thread when the writer is idle
        (module docstring). Raises :class:`DatabaseClosedError` once :meth:`aclose` has been called.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._writer is None or self._closers:
            raise DatabaseClosedError(f"database {self.path} is closed")
        request: _Request[T] = _Request(fn, inline)
        if inline and not self._busy and self._since_checkpoint < CHECKPOINT_COMMITS:
            if _run_inline(self._writer, request, self._guard):
                self.transactions += 1
                self.inline_writes += 1
                self._since_checkpoint += 1
                await trio.lowlevel.cancel_shielded_checkpoint()
                return request.unwrap()
            request.reset()  # another process holds the write lock: wait for it in a thread
        self._pending.append(request)
        if self._busy:
            await self._wait_turn(request)
        else:
            self._busy = True
            self._idle = trio.Event()
            request.state = _LEAD
        if request.state == _LEAD:
            await self._lead()
        return request.unwrap()

    async def _wait_turn(self, request: _Request[Any]) -> None:
        """Sleep until ``request`` leads the next batch or its batch is over."""
        try:
            await request.wake.wait()
            if request.state == _LEAD:
                # A cancellation requested after the wake-up but before this task ran: honour it
                # rather than start a batch (no checkpoint follows until the batch is in the thread).
                await trio.lowlevel.checkpoint_if_cancelled()
        except trio.Cancelled:
            if request.state == _QUEUED:
                self._pending.remove(request)  # its function never runs
            elif request.state == _LEAD:
                self._pending.remove(request)  # cancelled before it could lead: pass the lead on
                self._hand_off()
            else:
                # Its function has started (or will, with the batch already in the thread): the
                # outcome is the batch's; deliver the cancellation once it is committed.
                with trio.CancelScope(shield=True):
                    await request.wake.wait()
            raise

    async def _lead(self) -> None:
        """Run the first ``max_batch`` queued requests (this task's own is first) as one transaction: in
        the trio thread when they are all inline writes, at most :data:`INLINE_BATCH_MAX`, no checkpoint
        is due and no other process holds the write lock; else in a worker thread."""
        conn = self._writer
        batch = [self._pending.popleft() for _ in range(min(self.max_batch, len(self._pending)))]
        for request in batch:
            request.state = _TAKEN
        try:
            if conn is None:  # cannot happen: aclose waits for the writer to be idle
                raise DatabaseClosedError(f"database {self.path} is closed")
            checkpoint = self._since_checkpoint + 1 >= CHECKPOINT_COMMITS
            todo = batch
            used = 0
            if not checkpoint and len(batch) <= INLINE_BATCH_MAX and all(request.inline for request in batch):
                ran, todo = _run_inline_batch(conn, batch, self._guard)
                if ran:
                    used = 1
                    self.inline_writes += len(batch)
            if todo:  # not inline, or what SQLite rolled back under an inline batch
                with trio.CancelScope(shield=True):
                    used += await trio.to_thread.run_sync(_run_batch, conn, todo, self._guard, checkpoint)
            self.transactions += used
            if checkpoint:
                self.checkpoints += 1
                self._since_checkpoint = 0
            else:
                self._since_checkpoint += used
        except Exception as exc:  # the thread could not run (the batch's own errors are in the requests)
            for request in batch:
                if request.has_value or request.error is None:
                    request.fail(exc)
        finally:
            self._hand_off()
            for request in batch:
                request.state = _DONE
                request.wake.set()

    def _hand_off(self) -> None:
        """Wake the first queued request to lead the next batch, or mark the writer idle."""
        if self._pending:
            first = self._pending[0]
            first.state = _LEAD
            first.wake.set()
        else:
            self._busy = False
            self._idle.set()

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` in a read-only transaction on the reader connection; returns its result."""
        async with self._read_limiter:
            conn = self._reader
            if conn is None:
                raise DatabaseClosedError(f"database {self.path} is closed")
            return await trio.to_thread.run_sync(_in_transaction, conn, "BEGIN", fn)

    async def aclose(self) -> None:
        """Refuse new writes, wait for the queued writes and the running read, close both connections.

        Idempotent. Writes queued before ``aclose`` are still run and committed; a ``write`` called
        after it raises :class:`DatabaseClosedError`.
        """
        self._closers += 1
        try:
            while self._busy:
                await self._idle.wait()
            async with self._read_limiter:
                writer, reader = self._writer, self._reader
                self._writer = self._reader = None
                if writer is not None and reader is not None:
                    await trio.to_thread.run_sync(_close_sync, writer, reader)
        finally:
            self._closers -= 1

    @property
    def closed(self) -> bool:
        """True once :meth:`aclose` has run."""
        return self._writer is None


def _run_batch(
    conn: sqlite3.Connection, batch: list[_Request[Any]], guard: _Guard, checkpoint: bool = False
) -> int:
    """In the worker thread: run ``batch``, each request in its own savepoint; returns transactions used.

    Every request ends with a value or an error. Requests that had succeeded in a transaction SQLite
    then rolled back by itself are run again in a new one; each round drops at least the request that
    caused the rollback, so this ends. With ``checkpoint``, a passive WAL checkpoint follows (its failure
    is no write's: ignored, the next one is tried later).
    """
    todo = batch
    transactions = 0
    while todo:
        transactions += 1
        todo = _attempt(conn, todo, guard)
    if checkpoint:
        with contextlib.suppress(sqlite3.Error):
            conn.execute(_CHECKPOINT).fetchall()
    return transactions


def _run_inline(conn: sqlite3.Connection, request: _Request[Any], guard: _Guard) -> bool:
    """In the trio thread: ``request`` alone in one transaction, unless another connection holds the
    write lock (then False at once, nothing run)."""
    conn.execute(_NO_WAIT)
    try:
        conn.execute(_BEGIN)
    except sqlite3.OperationalError:
        return False
    finally:
        conn.execute(_WAIT)
    _attempt(conn, [request], guard, begun=True)
    return True


def _run_inline_batch(
    conn: sqlite3.Connection, batch: list[_Request[Any]], guard: _Guard
) -> tuple[bool, list[_Request[Any]]]:
    """In the trio thread: ``batch`` in one transaction, unless another connection holds the write lock
    (then ``(False, batch)`` at once, nothing run); else ``(True, the requests to run again)`` (empty
    unless SQLite rolled the transaction back by itself)."""
    conn.execute(_NO_WAIT)
    try:
        conn.execute(_BEGIN)
    except sqlite3.OperationalError:
        return False, batch
    finally:
        conn.execute(_WAIT)
    return True, _attempt(conn, batch, guard, begun=True)


def _attempt(
    conn: sqlite3.Connection, todo: list[_Request[Any]], guard: _Guard, *, begun: bool = False
) -> list[_Request[Any]]:
    """One transaction over ``todo``; returns the requests to run again (empty unless SQLite rolled back).

    A request alone in its transaction needs no savepoint: if it fails, the whole transaction is rolled back.
    ``begun``: the transaction is already open.
    """
    alone = len(todo) == 1
    if not begun:
        try:
            conn.execute(_BEGIN)
        except BaseException as exc:
            for request in todo:
                request.fail(exc)
            return []
    try:
        done: list[_Request[Any]] = []
        for index, request in enumerate(todo):
            if not alone:
                conn.execute(_SAVEPOINT)
            guard.active = True
            try:
                value = request.fn(conn)
            except BaseException as exc:
                guard.active = False
                request.fail(exc)
                if not conn.in_transaction:  # SQLite rolled the whole transaction back
                    return _again(done, todo[index + 1 :])
                if alone:
                    conn.execute(_ROLLBACK)
                    return []
                conn.execute(_ROLLBACK_TO)
                conn.execute(_RELEASE)
                continue
            guard.active = False
            if not conn.in_transaction:  # fn swallowed an error after which SQLite rolled back
                request.fail(sqlite3.OperationalError("SQLite rolled the transaction back during this write"))
                return _again(done, todo[index + 1 :])
            if not alone:
                conn.execute(_RELEASE)
            request.succeed(value)
            done.append(request)
        conn.execute(_COMMIT)
    except BaseException as exc:
        # COMMIT (or savepoint bookkeeping) failed: nothing of this transaction is kept.
        guard.active = False
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # the error that got us here is the one to report
                conn.execute(_ROLLBACK)
        for request in todo:
            if request.has_value or request.error is None:
                request.fail(exc)
    return []


def _again(done: list[_Request[Any]], rest: list[_Request[Any]]) -> list[_Request[Any]]:
    for request in done:
        request.reset()
    return [*done, *rest]


def _in_transaction(conn: sqlite3.Connection, begin: str, fn: Callable[[sqlite3.Connection], T]) -> T:
    conn.execute(begin)
    try:
        result = fn(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result


def _create_private_file(path: Path) -> None:
    """Make sure ``path`` exists with mode 0600 before SQLite opens it (its -wal/-shm copy the mode)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != 0o600:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"could not switch {path} to WAL (journal_mode is {mode})")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        conn.close()
        raise
    return conn


def _open_sync(
    path: Path, migrations: Sequence[Migration]
) -> tuple[sqlite3.Connection, sqlite3.Connection, int]:
    _create_private_file(path)
    writer = _connect(path)
    try:
        version = apply_migrations(writer, migrations)
        reader = _connect(path)
    except BaseException:
        writer.close()
        raise
    reader.execute("PRAGMA query_only = ON")
    return writer, reader, version


def _close_sync(writer: sqlite3.Connection, reader: sqlite3.Connection) -> None:
    reader.close()
    writer.close()
