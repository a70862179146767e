"""Fixtures for the store tests: ``backend`` (memory and SQLite, see ``backends.py``) and ``db``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.waporta.storage.stores.backends import Backend
from waporta.storage import Database


@pytest.fixture(params=["memory", "sqlite", "sqlite-nocache"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    made = Backend(request.param, tmp_path / "data" / "waporta.db")
    await made.open()
    try:
        yield made
    finally:
        await made.close()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    opened = await Database.open(tmp_path / "data" / "waporta.db")
    try:
        yield opened
    finally:
        await opened.aclose()
