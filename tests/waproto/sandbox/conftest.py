"""Fixtures of the sandbox tests: ``served``, a sandbox on 127.0.0.1 with a state directory under tmp_path;
``served_media``, the same with its HTTPS media server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.waproto.sandbox.interop_helpers import Served, served_sandbox


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with served_sandbox(tmp_path / "state") as running:
        yield running


@pytest.fixture
async def served_media(tmp_path: Path) -> AsyncIterator[Served]:
    async with served_sandbox(tmp_path / "state", media=True) as running:
        yield running
