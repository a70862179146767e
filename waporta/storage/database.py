"""The hub's SQLite database, driven from trio: one writer path, one reader, migrations on open.

Recipe (``STACK.md`` §6): the file is created with mode 0600 before SQLite writes a byte (SQLite then
gives its ``-wal`` and ``-shm`` files the same mode), journal mode WAL with ``synchronous=NORMAL``,
``busy_timeout`` and ``foreign_keys`` on. Two connections opened with ``check_same_thread=False``:

- the **writer**: every write goes through :meth:`Database.write`, which runs the caller's function in a
  worker thread inside ``BEGIN IMMEDIATE … COMMIT`` (``ROLLBACK`` if the function raises), serialized by
  a ``CapacityLimiter(1)``, so there is exactly one writer at a time and no interleaving on the connection;
- the **reader** (``PRAGMA query_only``): :meth:`Database.read` runs a function in a worker thread inside
  a read transaction, so it sees one consistent snapshot and can run while a write is in progress.

A worker thread cannot be interrupted, so a cancelled ``write`` still finishes (commits or rolls back)
before the cancellation is delivered; the database is never left mid-transaction.

This module is NOT the schema (``migrations/*.sql``), the migration runner (``migrate.py``) or any
table's logic (``waporta/auth.py``, ``waporta/webhooks.py`` own theirs).
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import trio

from waporta.storage.migrate import Migration, apply_migrations, load_migrations

__all__ = ["DB_FILENAME", "Database", "DatabaseClosedError", "db_path"]

T = TypeVar("T")

#: The database file's name inside the configured data directory.
DB_FILENAME = "waporta.db"

_BUSY_TIMEOUT_MS = 5000


class DatabaseClosedError(RuntimeError):
    """``read``/``write`` was called after :meth:`Database.aclose`."""


def db_path(data_dir: Path) -> Path:
    """Where the hub keeps its database for a given data directory: ``<data_dir>/waporta.db``."""
    return Path(data_dir) / DB_FILENAME


class Database:
    """An open hub database. Create with ``await Database.open(path)``; close with ``await db.aclose()``."""

    #: The database file.
    path: Path
    #: The schema version after migrations (``PRAGMA user_version``).
    schema_version: int

    def __init__(
        self, path: Path, writer: sqlite3.Connection, reader: sqlite3.Connection, schema_version: int
    ) -> None:
        # Use Database.open(); this constructor only wires already-open connections together.
        self.path = path
        self.schema_version = schema_version
        self._writer: sqlite3.Connection | None = writer
        self._reader: sqlite3.Connection | None = reader
        self._write_limiter = trio.CapacityLimiter(1)
        self._read_limiter = trio.CapacityLimiter(1)

    @classmethod
    async def open(cls, path: Path, *, migrations: Sequence[Migration] | None = None) -> Database:
        """Open (creating if needed) the database at ``path`` and apply pending migrations.

        The parent directory is created (mode 0700) if missing; a new file is created with mode 0600 and
        an existing file is tightened to 0600. ``migrations`` defaults to the ones shipped in
        ``waporta/storage/migrations/``; tests may pass their own. Raises
        :class:`~waporta.storage.migrate.MigrationError` if the schema cannot be brought up to date.
        """
        path = Path(path)
        chosen = list(migrations) if migrations is not None else load_migrations()
        writer, reader, version = await trio.to_thread.run_sync(_open_sync, path, chosen)
        return cls(path, writer, reader, version)

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` as one immediate transaction on the writer connection; returns its result.

        Writes are serialized: at most one runs at a time, in arrival order. If ``fn`` raises, the
        transaction is rolled back and the exception propagates.
        """
        async with self._write_limiter:
            conn = self._writer
            if conn is None:
                raise DatabaseClosedError(f"database {self.path} is closed")
            return await trio.to_thread.run_sync(_in_transaction, conn, "BEGIN IMMEDIATE", fn)

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` in a read-only transaction on the reader connection; returns its result."""
        async with self._read_limiter:
            conn = self._reader
            if conn is None:
                raise DatabaseClosedError(f"database {self.path} is closed")
            return await trio.to_thread.run_sync(_in_transaction, conn, "BEGIN", fn)

    async def aclose(self) -> None:
        """Wait for the running read and write to finish, then close both connections. Idempotent."""
        async with self._write_limiter, self._read_limiter:
            writer, reader = self._writer, self._reader
            self._writer = self._reader = None
            if writer is not None and reader is not None:
                await trio.to_thread.run_sync(_close_sync, writer, reader)

    @property
    def closed(self) -> bool:
        """True once :meth:`aclose` has run."""
        return self._writer is None


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
