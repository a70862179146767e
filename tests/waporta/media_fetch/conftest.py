"""The ``server`` fixture: the tiny HTTP server of :mod:`tests.waporta.media_fetch.helpers` on 127.0.0.1."""

from __future__ import annotations

import pytest
import trio

from tests.waporta.media_fetch.helpers import ROUTES, Server, start


@pytest.fixture
async def server(nursery: trio.Nursery) -> Server:
    return await start(nursery, Server(dict(ROUTES)))
