"""The message tests' database: a real SQLite file in the test's directory."""

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
