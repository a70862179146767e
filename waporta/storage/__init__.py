"""The hub's storage: one SQLite database (WAL), one writer path, numbered migrations.

Public surface: :class:`Database` (``open``/``write``/``read``/``aclose``), :func:`db_path`, the errors,
and the timestamp helpers every table uses. This package is NOT where table logic lives: ``auth.py`` and
``webhooks.py`` own their SQL; the schema is in ``migrations/NNNN_name.sql``.
"""

from __future__ import annotations

from waporta.storage.database import DB_FILENAME, Database, DatabaseClosedError, db_path
from waporta.storage.migrate import Migration, MigrationError, load_migrations
from waporta.storage.timestamps import format_iso, from_posix, parse_iso

__all__ = [
    "DB_FILENAME",
    "Database",
    "DatabaseClosedError",
    "Migration",
    "MigrationError",
    "db_path",
    "format_iso",
    "from_posix",
    "load_migrations",
    "parse_iso",
]
