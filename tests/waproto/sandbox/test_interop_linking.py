"""Real Baileys 6.7.24 and 7.0.0-rc14 link to the sandbox and log in (issue #5 acceptance, linking part).

Each test serves a sandbox on 127.0.0.1, points an unmodified Baileys socket at ``ws://…/ws/chat`` and drives
the phone through the control API: QR scan → pair-success → 515 → login → ``connection: open``; the same with
a pairing code. Real time, bounded: Baileys runs on Node's timers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.interop.harness import Harness
from tests.waproto.sandbox.interop_helpers import Served, Sock, call, served_sandbox
from waproto.jid import JID

pytestmark = pytest.mark.interop

VERSIONS = ["v6", "v7"]


@pytest.mark.parametrize("version", VERSIONS)
async def test_qr_link_then_open(baileys: Harness, served: Served, version: str) -> None:
    account = await served.create_account("15550001111", name="Alice")
    sock = await Sock.create(baileys, version, served.ws_url)
    try:
        qr = await sock.wait_qr()
        if version == "v7":
            assert qr.startswith("https://wa.me/settings/linked_devices#")
        response = await served.post("/sandbox/accounts/15550001111/scan", {"qr": qr})
        assert response.status_code == 200, response.text
        jid = JID.parse(response.json()["jid"])
        assert (jid.user, jid.device) == ("15550001111", 1)
        restart = await sock.wait_close()
        assert restart["statusCode"] == 515
        await sock.wait_open(after=restart["n"])
        creds = await sock.creds()
        assert JID.parse(creds["me"]["id"]) == jid
        assert JID.parse(creds["me"]["lid"]).user == JID.parse(account["lid"]).user
        assert jid in served.sandbox.connections
        companion = served.sandbox.network.companion(jid)
        assert companion is not None
        assert companion.pre_keys, "Baileys uploaded its prekeys"
    finally:
        await sock.end()


@pytest.mark.parametrize("version", VERSIONS)
async def test_pairing_code_link_then_open(baileys: Harness, served: Served, version: str) -> None:
    await served.create_account("15550002222", name="Bob")
    sock = await Sock.create(baileys, version, served.ws_url)
    try:
        await sock.wait_qr()  # registered and offered refs: the socket is ready to ask for a code
        code = await call(baileys, "sock.requestPairingCode", h=sock.handle, phone="15550002222")
        assert len(code) == 8
        response = await served.post("/sandbox/accounts/15550002222/link-code", {"code": code[:4] + "-" + code[4:]})
        assert response.status_code == 200, response.text
        jid = JID.parse(response.json()["jid"])
        assert (jid.user, jid.device) == ("15550002222", 1)
        restart = await sock.wait_close()
        assert restart["statusCode"] == 515
        await sock.wait_open(after=restart["n"])
        assert JID.parse((await sock.creds())["me"]["id"]) == jid
    finally:
        await sock.end()


async def test_wrong_pairing_code_is_refused(baileys: Harness, served: Served) -> None:
    await served.create_account("15550003333")
    sock = await Sock.create(baileys, "v6", served.ws_url)
    try:
        await sock.wait_qr()
        code = await call(baileys, "sock.requestPairingCode", h=sock.handle, phone="15550003333", code="ABCDEFGH")
        assert code == "ABCDEFGH"
        response = await served.post("/sandbox/accounts/15550003333/link-code", {"code": "HGFEDCBA"})
        assert response.status_code == 409
        assert response.json()["error"] == "wrong_code"
        assert served.sandbox.network.accounts["15550003333"].companions == {}
    finally:
        await sock.end()


@pytest.mark.parametrize("version", VERSIONS)
async def test_same_device_twice_replaces_the_first(baileys: Harness, served: Served, version: str) -> None:
    await served.create_account("15550006666")
    first = await Sock.create(baileys, version, served.ws_url)
    second: Sock | None = None
    try:
        response = await served.post("/sandbox/accounts/15550006666/scan", {"qr": await first.wait_qr()})
        jid = JID.parse(response.json()["jid"])
        restart = await first.wait_close()
        opened = await first.wait_open(after=restart["n"])
        second = await Sock.create(baileys, version, served.ws_url, sameCredsAs=first.handle)
        await second.wait_open()
        replaced = await first.wait_close(after=opened["n"])
        assert replaced["statusCode"] == 440
        assert served.sandbox.connections[jid] is not None
        await second.poll()
        assert not [e for e in second.events if e.get("connection") == "close"]
    finally:
        await first.end()
        if second is not None:
            await second.end()


async def test_linked_device_logs_in_after_a_sandbox_restart(baileys: Harness, tmp_path: Path) -> None:
    state = tmp_path / "state"
    async with served_sandbox(state) as first_run:
        await first_run.create_account("15550007777")
        sock = await Sock.create(baileys, "v7", first_run.ws_url)
        response = await first_run.post("/sandbox/accounts/15550007777/scan", {"qr": await sock.wait_qr()})
        jid = JID.parse(response.json()["jid"])
        restart = await sock.wait_close()
        opened = await sock.wait_open(after=restart["n"])
        await call(baileys, "sock.setReconnect", h=sock.handle, on=False)
        root = first_run.sandbox.root_public_key
    again: Sock | None = None
    try:
        await sock.wait_close(after=opened["n"])
        async with served_sandbox(state) as second_run:
            assert second_run.sandbox.root_public_key == root
            again = await Sock.create(baileys, "v7", second_run.ws_url, sameCredsAs=sock.handle)
            await again.wait_open()
            assert jid in second_run.sandbox.connections
            await again.end()
            again = None
    finally:
        await sock.end()
        if again is not None:
            await again.end()
