"""Fixtures of the session tests: a served sandbox with a phone and an echo account (``db`` comes from
``tests/waporta/conftest.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.waporta.sessions.helpers import ECHO, PHONE
from tests.waproto.sandbox.interop_helpers import Served, served_sandbox


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with served_sandbox(tmp_path / "sandbox") as running:
        await running.create_account(PHONE, name="Alice")
        await running.create_account(ECHO, name="Echo", bot="echo")
        yield running

