"""Fixtures of the sandbox tests: ``served``, a sandbox on 127.0.0.1 with a state directory under tmp_path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.waproto.sandbox.interop_helpers import Served, served_sandbox


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with served_sandbox(tmp_path / "state") as running:
        yield running
