"""waporta_plugins.rest_sessions: the session routes under /api/whatsapp, end to end against a sandbox on
127.0.0.1 (real sockets; every wait bounded).

Link by QR and by pairing code through the API, restart the hub (the session reconnects without
re-linking), unlink from the phone (``logged_out``), DELETE (logged out and wiped); errors as JSON 4xx.
Sandbox mode (``[whatsapp] sandbox``) serves the sandbox's control API on the gateway itself.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio
from quart import typing as quart_typing

from tests.fakes import FakeClock
from tests.plugins.conftest import DEFAULT_KEY
from tests.waproto.sandbox.interop_helpers import Served, served_sandbox
from waporta import hookimpl
from waporta.app import create_app
from waporta.config import Config, WhatsAppConfig
from waporta.hub import Hub, open_hub
from waporta.plugins import Plugins
from waporta.storage.stores import SESSION_TABLES
from waporta_plugins import rest_auth, rest_keys, rest_sessions, rest_webhooks

AUTH = {"X-API-Key": DEFAULT_KEY}
PHONE = "15550004444"
BASE = "/api/whatsapp/sessions"


class Recorder:
    """A plugin recording ``session_status_changed`` calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    @hookimpl
    def session_status_changed(self, hub: Hub, session_id: str, status: str) -> None:
        self.calls.append((session_id, status))


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with served_sandbox(tmp_path / "sandbox") as running:
        await running.create_account(PHONE, name="Alice")
        yield running


@pytest.fixture
def wa_config(config: Config, served: Served) -> Config:
    return dataclasses.replace(
        config,
        whatsapp=WhatsAppConfig(
            websocket_url=served.ws_url, noise_root_public_key=served.sandbox.root_public_key.hex()
        ),
    )


def make_plugins(recorder: Recorder | None = None) -> Plugins:
    plugins = Plugins()
    for module in (rest_auth, rest_keys, rest_webhooks, rest_sessions):
        plugins.register(module, module.__name__)
    if recorder is not None:
        plugins.register(recorder, "recorder")
    return plugins


@dataclasses.dataclass
class Gateway:
    hub: Hub
    client: quart_typing.TestClientProtocol

    async def call(self, method: str, path: str, json: Any = None) -> tuple[int, Any]:
        response = await self.client.open(path, method=method, json=json, headers=AUTH)
        return response.status_code, await response.get_json()

    async def wait_status(self, session_id: str, status: str, *, seconds: float = 20) -> dict[str, Any]:
        """Wait for the supervisor's status change, then read the session through the API."""
        assert self.hub.sessions is not None
        with trio.fail_after(seconds):
            await self.hub.sessions.get(session_id).wait_status(status)
        code, body = await self.call("GET", f"{BASE}/{session_id}")
        assert code == 200, body
        assert body["status"] == status
        return dict(body)

    async def wait_qr(self, session_id: str) -> dict[str, Any]:
        code, body = await self.call("GET", f"{BASE}/{session_id}/qr")
        if code == 409:
            assert body["error"] == "no_qr"
            await self.wait_status(session_id, "qr")
            code, body = await self.call("GET", f"{BASE}/{session_id}/qr")
        assert code == 200, body
        return dict(body)


@contextlib.asynccontextmanager
async def gateway(config: Config, clock: FakeClock, recorder: Recorder | None = None) -> AsyncIterator[Gateway]:
    async with open_hub(config, make_plugins(recorder), clock=clock) as hub:
        yield Gateway(hub, create_app(hub).test_client())


def wa_rows(config: Config, session_id: str) -> int:
    with sqlite3.connect(config.storage.data_dir / "waporta.db") as conn:
        return sum(
            conn.execute(f"SELECT count(*) FROM {table} WHERE session_id = ?", (session_id,)).fetchone()[0]
            for table in SESSION_TABLES
        )


async def link_by_qr(gw: Gateway, served: Served, session_id: str) -> dict[str, Any]:
    code, body = await gw.call("POST", f"{BASE}/{session_id}")
    assert code == 201, body
    assert body == {"id": session_id, "status": "connecting", "jid": None, "lid": None, "reason": None}
    qr = await gw.wait_qr(session_id)
    assert qr["image"].startswith("data:image/svg+xml;base64,")
    assert base64.b64decode(qr["image"].split(",", 1)[1]).startswith(b"<svg")
    response = await served.post(f"/sandbox/accounts/{PHONE}/scan", {"qr": qr["qr"]})
    assert response.status_code == 200, response.text
    connected = await gw.wait_status(session_id, "connected")
    assert connected["jid"] == response.json()["jid"]
    return connected


async def test_qr_link_restart_and_unlink(wa_config: Config, clock: FakeClock, served: Served) -> None:
    recorder = Recorder()
    async with gateway(wa_config, clock, recorder) as gw:
        connected = await link_by_qr(gw, served, "sales")
        assert connected["lid"] is not None
        code, body = await gw.call("POST", f"{BASE}/sales")  # already running: unchanged
        assert (code, body["status"]) == (200, "connected")
        code, body = await gw.call("GET", f"{BASE}/sales/qr")
        assert (code, body["error"], body["sessionStatus"]) == (409, "no_qr", "connected")
        code, listed = await gw.call("GET", BASE)
        assert code == 200
        assert [s["id"] for s in listed] == ["sales"]
    statuses = [status for sid, status in recorder.calls if sid == "sales"]
    assert statuses[:2] == ["connecting", "qr"]
    assert "connected" in statuses

    # Restart: the session is restored from the database and reconnects without a QR.
    account = served.sandbox.network.accounts[PHONE]
    assert sorted(account.companions) == [1]
    async with gateway(wa_config, clock) as gw:
        code, body = await gw.call("GET", f"{BASE}/sales")
        assert code == 200
        assert body["jid"] == connected["jid"]
        again = await gw.wait_status("sales", "connected")
        assert again["jid"] == connected["jid"]
        assert sorted(account.companions) == [1]

        # The phone unlinks the device: logged_out, WhatsApp state wiped.
        response = await served.post(f"/sandbox/devices/{connected['jid']}/logout")
        assert response.status_code == 200, response.text
        body = await gw.wait_status("sales", "logged_out")
        assert body["reason"] == "device_removed"
        assert wa_rows(wa_config, "sales") == 0  # wiped before the status changed
        code, body = await gw.call("POST", f"{BASE}/sales/pairing-code", {"phoneNumber": PHONE})
        assert (code, body["error"]) == (409, "session_logged_out")


async def test_pairing_code_link(wa_config: Config, clock: FakeClock, served: Served) -> None:
    async with gateway(wa_config, clock) as gw:
        code, _ = await gw.call("POST", f"{BASE}/support")
        assert code == 201
        with trio.fail_after(30):
            code, body = await gw.call("POST", f"{BASE}/support/pairing-code", {"phoneNumber": PHONE})
        assert code == 200, body
        assert len(body["code"]) == 9
        assert body["code"][4] == "-"
        assert (await gw.call("GET", f"{BASE}/support"))[1]["status"] == "pairing"
        response = await served.post(f"/sandbox/accounts/{PHONE}/link-code", {"code": body["code"]})
        assert response.status_code == 200, response.text
        connected = await gw.wait_status("support", "connected")
        assert connected["jid"].startswith(PHONE)
        code, body = await gw.call("POST", f"{BASE}/support/pairing-code", {"phoneNumber": PHONE})
        assert (code, body["error"]) == (409, "session_already_linked")


async def test_delete_logs_out_and_wipes(wa_config: Config, clock: FakeClock, served: Served) -> None:
    recorder = Recorder()
    async with gateway(wa_config, clock, recorder) as gw:
        await link_by_qr(gw, served, "gone")
        assert wa_rows(wa_config, "gone") > 0
        with trio.fail_after(20):
            code, body = await gw.call("DELETE", f"{BASE}/gone")
        assert code == 200, body
        assert (body["id"], body["status"]) == ("gone", "logged_out")
        assert recorder.calls[-1] == ("gone", "logged_out")
        assert wa_rows(wa_config, "gone") == 0
        assert served.sandbox.network.accounts[PHONE].companions == {}
        code, body = await gw.call("GET", f"{BASE}/gone")
        assert (code, body["error"]) == (404, "session_not_found")
        assert await gw.call("GET", BASE) == (200, [])


async def test_errors_are_json_4xx(wa_config: Config, clock: FakeClock, served: Served) -> None:
    async with gateway(wa_config, clock) as gw:
        for method, path in [
            ("GET", f"{BASE}/nobody"),
            ("GET", f"{BASE}/nobody/qr"),
            ("DELETE", f"{BASE}/nobody"),
        ]:
            code, body = await gw.call(method, path)
            assert (code, body["error"]) == (404, "session_not_found"), path
        code, body = await gw.call("POST", f"{BASE}/nobody/pairing-code", {"phoneNumber": PHONE})
        assert (code, body["error"]) == (404, "session_not_found")
        code, body = await gw.call("POST", f"{BASE}/-bad-")
        assert (code, body["error"], body["field"]) == (400, "invalid_session_id", "sessionId")
        code, _ = await gw.call("POST", f"{BASE}/ok")
        assert code == 201
        for phone in ["+15550004444", "1555", "12 34567", 15550004444, None, "١٢٣٤٥٦٧"]:
            code, body = await gw.call("POST", f"{BASE}/ok/pairing-code", {"phoneNumber": phone})
            assert (code, body["error"], body["field"]) == (400, "invalid_phone_number", "phoneNumber"), phone
        code, body = await gw.call("POST", f"{BASE}/ok/pairing-code", {})
        assert (code, body["field"]) == (400, "phoneNumber")
        response = await gw.client.get(BASE)
        assert response.status_code == 401  # no credentials


async def test_sandbox_mode_serves_the_control_api_and_links(config: Config, clock: FakeClock) -> None:
    sandbox_config = dataclasses.replace(config, whatsapp=WhatsAppConfig(sandbox=True))
    async with gateway(sandbox_config, clock) as gw:
        assert gw.hub.sandbox is not None
        response = await gw.client.post("/sandbox/accounts", json={"phone": PHONE, "name": "Alice"})
        assert response.status_code == 201, await response.get_data(as_text=True)
        code, _ = await gw.call("POST", f"{BASE}/box")
        assert code == 201
        qr = await gw.wait_qr("box")
        response = await gw.client.post(f"/sandbox/accounts/{PHONE}/scan", json={"qr": qr["qr"]})
        assert response.status_code == 200, await response.get_data(as_text=True)
        connected = await gw.wait_status("box", "connected")
        assert connected["jid"] == (await response.get_json())["jid"]
    assert (config.storage.data_dir / "sandbox").is_dir()
    async with gateway(config, clock) as gw:  # not in sandbox mode: no control API
        assert gw.hub.sandbox is None
        response = await gw.client.post("/sandbox/accounts", json={"phone": PHONE})
        assert response.status_code == 404
