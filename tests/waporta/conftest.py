"""Fixtures shared by the hub's tests: ``db``, a real SQLite database file ``waporta.db`` in the test's
directory (a folder's own ``conftest.py`` may define another)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from waporta.storage import Database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    opened = await Database.open(tmp_path / "waporta.db")
    try:
        yield opened
    finally:
        await opened.aclose()
