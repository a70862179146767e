"""The hub's numbered SQL migrations (data files ``NNNN_name.sql``, applied by ``waporta.storage.migrate``).

This package holds only SQL; it is a package so that setuptools ships the ``.sql`` files in the wheel.
It is NOT the place for Python code: the loader and runner live in ``waporta/storage/migrate.py``.
"""

from __future__ import annotations

__all__: list[str] = []
