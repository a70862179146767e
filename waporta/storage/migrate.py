"""Numbered schema migrations, tracked in ``PRAGMA user_version``.

A migration is a file ``waporta/storage/migrations/NNNN_name.sql``. Numbers start at 1 and have no gaps;
migration N is applied (once) when the database's ``user_version`` is below N, inside its own
``BEGIN IMMEDIATE … COMMIT`` that also sets ``user_version = N``, so a failing migration leaves the
database exactly at N-1. A database whose ``user_version`` is above the newest migration was written by a
newer waporta and is refused rather than guessed at.

This module is NOT the connection handling (``database.py``) and holds no SQL of its own.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources

__all__ = ["Migration", "MigrationError", "apply_migrations", "check_sequence", "load_migrations"]

_FILE_RE = re.compile(r"\A(\d{4})_([a-z0-9_]+)\.sql\Z")


class MigrationError(Exception):
    """The migration set is malformed, a migration failed, or the database is newer than this code."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: ``version`` (1, 2, …), a short ``name`` and the SQL script."""

    version: int
    name: str
    sql: str


def load_migrations(package: str = "waporta.storage.migrations") -> list[Migration]:
    """The migrations shipped in ``package``, in order; raises :class:`MigrationError` on gaps."""
    found: list[Migration] = []
    for entry in resources.files(package).iterdir():
        match = _FILE_RE.match(entry.name)
        if match is None:
            continue
        found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    return check_sequence(found)


def check_sequence(migrations: Iterable[Migration]) -> list[Migration]:
    """``migrations`` sorted; raises :class:`MigrationError` unless they are numbered 1..N exactly."""
    ordered = sorted(migrations, key=lambda m: m.version)
    for expected, migration in enumerate(ordered, start=1):
        if migration.version != expected:
            raise MigrationError(
                f"migrations must be numbered 1..N without gaps or repeats: expected {expected:04d}, "
                f"found {migration.version:04d}_{migration.name}"
            )
    return ordered


def apply_migrations(conn: sqlite3.Connection, migrations: Sequence[Migration]) -> int:
    """Bring ``conn`` (autocommit mode, no open transaction) up to date; returns the final version.

    Each pending migration runs in its own immediate transaction together with the ``user_version`` bump,
    so it is applied completely or not at all.
    """
    ordered = check_sequence(migrations)
    current = _user_version(conn)
    latest = len(ordered)
    if current > latest:
        raise MigrationError(
            f"the database is at schema version {current}, newer than this waporta knows ({latest}); "
            "upgrade waporta or use another data directory"
        )
    for migration in ordered[current:]:
        script = f"BEGIN IMMEDIATE;\n{migration.sql}\n;\nPRAGMA user_version = {migration.version};\nCOMMIT;\n"
        try:
            conn.executescript(script)
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise MigrationError(
                f"migration {migration.version:04d}_{migration.name} failed: {exc}"
            ) from exc
    return _user_version(conn)


def _user_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])
