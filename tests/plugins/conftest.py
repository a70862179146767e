"""Fixtures for the built-in plugins' tests: a real hub (SQLite in tmp_path) with a fake clock, the
built-in REST plugins registered, and a test client of its app."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from quart.testing import QuartClient

from tests.fakes import FakeClock
from waporta.app import create_app
from waporta.config import ApiConfig, Config, DashboardConfig, StorageConfig, default_config
from waporta.hub import Hub, open_hub
from waporta.plugins import Plugins
from waporta_plugins import rest_auth, rest_keys, rest_webhooks

PASSWORD = "correct horse battery staple"
DEFAULT_KEY = "wap_default_key_from_the_config_0123456789"
TTL = 3600.0
MAX_FAILURES = 3
WINDOW = 300.0



@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return dataclasses.replace(
        default_config(),
        storage=StorageConfig(data_dir=tmp_path / "data"),
        dashboard=DashboardConfig(
            password=PASSWORD, token_ttl=TTL, login_max_failures=MAX_FAILURES, login_window=WINDOW
        ),
        api=ApiConfig(default_key=DEFAULT_KEY),
    )


@pytest.fixture
async def hub(config: Config, clock: FakeClock) -> AsyncIterator[Hub]:
    plugins = Plugins()
    for module in (rest_auth, rest_keys, rest_webhooks):
        plugins.register(module, module.__name__)
    async with open_hub(config, plugins, clock=clock) as opened:
        yield opened


@pytest.fixture
def client(hub: Hub) -> QuartClient:
    return create_app(hub).test_client()


async def login(client: QuartClient, password: str = PASSWORD) -> str:
    response = await client.post("/api/auth/login", json={"username": "admin", "password": password})
    assert response.status_code == 200, await response.get_data(as_text=True)
    token: str = (await response.get_json())["token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
