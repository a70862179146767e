"""waproto.client end to end against the real sandbox served on 127.0.0.1 (websocket, Noise, control API).

Link by QR and by pairing code, log in again with saved credentials (no re-linking), reconnect after the
sandbox drops the connection, and get logged out (credentials wiped) when the sandbox unlinks the device.
Real sockets and real time, so every wait is bounded.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from tests.waproto.sandbox.interop_helpers import Served, served_sandbox
from waproto.binary import Node
from waproto.client import (
    Client,
    ClientEvent,
    ClientSettings,
    Connected,
    Disconnected,
    LoggedOut,
    MemoryClientStore,
    Paired,
    PairingCode,
    QRCode,
    open_client,
)
from waproto.credentials import Credentials
from waproto.jid import JID
from waproto.sandbox.iqs import result_iq

PHONE = "15550002222"


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with served_sandbox(tmp_path / "state") as running:
        await running.create_account(PHONE, name="Alice")
        yield running


def settings_for(served: Served) -> ClientSettings:
    return ClientSettings(
        url=served.ws_url,
        noise_root_public_key=served.sandbox.root_public_key,
        backoff_initial=0.05,
        backoff_max=0.5,
    )


async def next_event(client: Client, kind: type[ClientEvent], *, seconds: float = 15) -> ClientEvent:
    """The next event of ``kind`` (earlier ones of other kinds are skipped)."""
    with trio.fail_after(seconds):
        async for event in client.events:
            if isinstance(event, kind):
                return event
    raise AssertionError(f"the client stopped before a {kind.__name__}")


async def link_by_qr(served: Served, store: MemoryClientStore, creds: Credentials) -> JID:
    async with open_client(settings_for(served), creds, store) as client:
        qr = await next_event(client, QRCode)
        assert isinstance(qr, QRCode)
        response = await served.post(f"/sandbox/accounts/{PHONE}/scan", {"qr": qr.qr})
        assert response.status_code == 200, response.text
        jid = JID.parse(response.json()["jid"])
        paired = await next_event(client, Paired)
        assert isinstance(paired, Paired)
        assert paired.jid == jid
        connected = await next_event(client, Connected)
        assert isinstance(connected, Connected)
        assert connected.jid == jid
        assert client.status == "connected"
    return jid


async def test_link_by_qr_then_log_in_again_without_relinking(served: Served) -> None:
    creds = Credentials.generate(secrets.token_bytes, push_name="waporta")
    store = MemoryClientStore(creds)
    jid = await link_by_qr(served, store, creds)
    account = served.sandbox.network.accounts[PHONE]
    assert jid == account.device_jid(1)
    companion = account.companions[1]
    assert companion.noise_public == creds.noise_key.public
    assert len(companion.pre_keys) == ClientSettings().initial_pre_keys
    saved = store.credentials
    assert saved is not None
    assert saved.me == jid
    assert saved.lid == account.device_lid(1)
    assert saved.next_pre_key_id == 1 + ClientSettings().initial_pre_keys
    assert len(store.pre_keys) == ClientSettings().initial_pre_keys

    # A new client from the saved credentials logs in: no QR, no new device.
    async with open_client(settings_for(served), Credentials.from_dict(saved.to_dict()), store) as client:
        first = await next_event(client, ClientEvent)
        assert isinstance(first, Connected)
        assert first.jid == jid
        assert served.sandbox.connections[jid].active
    assert sorted(account.companions) == [1]


async def test_link_by_pairing_code(served: Served) -> None:
    creds = Credentials.generate(secrets.token_bytes)
    store = MemoryClientStore(creds)
    async with open_client(settings_for(served), creds, store) as client:
        with trio.fail_after(15):
            code = await client.request_pairing_code(PHONE)
        event = await next_event(client, PairingCode)
        assert event == PairingCode(code, PHONE)
        assert client.status == "pairing"
        response = await served.post(f"/sandbox/accounts/{PHONE}/link-code", {"code": code})
        assert response.status_code == 200, response.text
        paired = await next_event(client, Paired)
        assert isinstance(paired, Paired)
        connected = await next_event(client, Connected)
        assert isinstance(connected, Connected)
        assert connected.jid == paired.jid
    assert store.credentials is not None
    assert store.credentials.adv_secret != creds.adv_secret  # derived by the pairing-code exchange


async def test_dropped_connection_reconnects(served: Served) -> None:
    creds = Credentials.generate(secrets.token_bytes)
    store = MemoryClientStore(creds)
    jid = await link_by_qr(served, store, creds)
    assert store.credentials is not None
    async with open_client(settings_for(served), store.credentials, store) as client:
        assert isinstance(await next_event(client, Connected), Connected)
        response = await served.post(f"/sandbox/devices/{jid}/disconnect")
        assert response.status_code == 200, response.text
        dropped = await next_event(client, Disconnected)
        assert isinstance(dropped, Disconnected)
        assert dropped.reconnect_in is not None
        again = await next_event(client, Connected)
        assert isinstance(again, Connected)
        assert jid in served.sandbox.connections


async def test_unlinked_device_is_logged_out(served: Served) -> None:
    creds = Credentials.generate(secrets.token_bytes)
    store = MemoryClientStore(creds)
    jid = await link_by_qr(served, store, creds)
    assert store.credentials is not None
    async with open_client(settings_for(served), store.credentials, store) as client:
        assert isinstance(await next_event(client, Connected), Connected)
        response = await served.post(f"/sandbox/devices/{jid}/logout")
        assert response.status_code == 200, response.text
        logged_out = await next_event(client, LoggedOut)
        assert logged_out == LoggedOut("device_removed", 401)
        assert client.status == "logged_out"
    assert store.credentials is None


async def test_logout_unlinks_the_device(served: Served) -> None:
    creds = Credentials.generate(secrets.token_bytes)
    store = MemoryClientStore(creds)
    await link_by_qr(served, store, creds)
    assert store.credentials is not None
    async with open_client(settings_for(served), store.credentials, store) as client:
        assert isinstance(await next_event(client, Connected), Connected)
        with trio.fail_after(10):
            await client.logout()
        event = await next_event(client, LoggedOut)
        assert isinstance(event, LoggedOut)
        assert event.reason in ("logout", "device_removed")
    assert store.credentials is None
    assert served.sandbox.network.accounts[PHONE].companions == {}


async def test_keepalive_against_the_sandbox(served: Served) -> None:
    creds = Credentials.generate(secrets.token_bytes)
    store = MemoryClientStore(creds)
    jid = await link_by_qr(served, store, creds)
    assert store.credentials is not None
    settings = dataclasses.replace(settings_for(served), keepalive_interval=(0.05, 0.1), keepalive_timeout=0.5)
    pings: list[Node] = []

    async def ping(connection: object, iq: Node) -> Node:
        pings.append(iq)
        return result_iq(iq)

    served.sandbox.iqs.register("w:p", "ping", ping)
    async with open_client(settings, store.credentials, store) as client:
        assert isinstance(await next_event(client, Connected), Connected)
        connection = served.sandbox.connections[jid]
        await trio.sleep(1.0)  # about a dozen pings, each answered
        assert len(pings) >= 5
        with pytest.raises(trio.WouldBlock):
            client.events.receive_nowait()
        assert served.sandbox.connections[jid] is connection
        assert client.status == "connected"
