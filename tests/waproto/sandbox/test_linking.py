"""waproto.sandbox.linking: QR linking, login, replacement (440), unlinking (401), over in-memory pipes.

A minimal companion (``memclient``, built on waproto.pairing's companion side) registers, is scanned by the
sandbox phone, answers pair-success, gets 515, then logs in. Deterministic: seeded randomness, fixed time,
autojump clock.
"""

from __future__ import annotations

import random

import pytest
import trio

from tests.waproto.sandbox.memclient import NOW, Companion, Keys, MemoryPipe
from waproto.binary import Node
from waproto.jid import JID, SERVER_JID
from waproto.pairing import QRData, parse_qr
from waproto.sandbox.linking import LinkError
from waproto.sandbox.server import Sandbox
from waproto.sandbox.state import Network

PHONE = "15550001111"


def make_sandbox() -> Sandbox:
    rng = random.Random(2).randbytes
    sandbox = Sandbox(Network.open(None, rng=rng), rng=rng, now=lambda: NOW)
    sandbox.network.create_account(PHONE, rng=rng, now=NOW, name="Alice")
    return sandbox


async def connect(nursery: trio.Nursery, sandbox: Sandbox, keys: Keys) -> Companion:
    pipe = MemoryPipe()
    nursery.start_soon(sandbox.handle, pipe.server)
    return Companion(pipe, keys, root=sandbox.root_public_key)


async def link(nursery: trio.Nursery, sandbox: Sandbox, keys: Keys) -> JID:
    companion = await connect(nursery, sandbox, keys)
    qr = await companion.register()
    results: dict[str, JID] = {}

    async def scan() -> None:
        results["scan"] = await sandbox.linker.scan(PHONE, qr)

    nursery.start_soon(scan)
    jid = await companion.finish_pairing()
    await trio.sleep(1)
    assert results["scan"] == jid
    return jid


async def login(nursery: trio.Nursery, sandbox: Sandbox, keys: Keys, jid: JID) -> tuple[Companion, list[Node]]:
    companion = await connect(nursery, sandbox, keys)
    await companion.handshake(Companion.login_payload(jid))
    first = await companion.receive_node()
    assert first is not None
    if first.tag != "success":
        return companion, [first, *await companion.receive_until_closed()]
    second = await companion.receive_node()
    assert second is not None
    return companion, [first, second]


async def test_qr_link_and_login(autojump_clock: trio.abc.Clock, nursery: trio.Nursery) -> None:
    sandbox = make_sandbox()
    keys = Keys.generate(1)
    jid = await link(nursery, sandbox, keys)
    state = sandbox.network.accounts[PHONE]
    assert jid == JID(PHONE, "s.whatsapp.net", device=1)
    companion = state.companions[1]
    assert (companion.noise_public, companion.identity) == (keys.noise.public, keys.identity.public)
    assert companion.registration_id == keys.registration_id
    assert companion.platform == "memclient"
    assert state.next_device == 2

    client, (success, offline) = await login(nursery, sandbox, keys, jid)
    assert success.tag == "success"
    assert success.attrs["lid"] == JID(state.lid, "lid", device=1)
    assert success.attrs["t"] == str(NOW)
    assert offline.tag == "ib"
    marker = offline.child("offline")
    assert marker is not None
    assert marker.attrs["count"] == "0"
    assert sandbox.connections[jid].device == jid

    # The basic iqs a companion sends after login.
    await client.send_node(Node("iq", {"id": "c", "to": SERVER_JID, "type": "get", "xmlns": "encrypt"}, [Node("count")]))
    count = await client.receive_node()
    assert count is not None
    count_node = count.child("count")
    assert count_node is not None
    assert count_node.attrs["value"] == "0"


async def test_second_device_gets_the_next_number(autojump_clock: trio.abc.Clock, nursery: trio.Nursery) -> None:
    sandbox = make_sandbox()
    first = await link(nursery, sandbox, Keys.generate(1))
    second = await link(nursery, sandbox, Keys.generate(2))
    assert (first.device, second.device) == (1, 2)
    assert sandbox.network.device_ids(PHONE) == [0, 1, 2]


async def test_login_of_an_unlinked_device_fails_401(autojump_clock: trio.abc.Clock, nursery: trio.Nursery) -> None:
    sandbox = make_sandbox()
    _, nodes = await login(nursery, sandbox, Keys.generate(1), JID(PHONE, "s.whatsapp.net", device=5))
    assert [(n.tag, n.attrs.get("reason")) for n in nodes] == [("failure", "401")]
    _, nodes = await login(nursery, sandbox, Keys.generate(1), JID("15559999999", "s.whatsapp.net", device=1))
    assert nodes[0].attrs.get("reason") == "401"


async def test_login_with_another_noise_key_fails_401(autojump_clock: trio.abc.Clock, nursery: trio.Nursery) -> None:
    sandbox = make_sandbox()
    jid = await link(nursery, sandbox, Keys.generate(1))
    _, nodes = await login(nursery, sandbox, Keys.generate(2), jid)
    assert [(n.tag, n.attrs.get("reason")) for n in nodes] == [("failure", "401")]


async def test_second_login_replaces_the_first(autojump_clock: trio.abc.Clock, nursery: trio.Nursery) -> None:
    sandbox = make_sandbox()
    keys = Keys.generate(1)
    jid = await link(nursery, sandbox, keys)
    first, _ = await login(nursery, sandbox, keys, jid)
    second, nodes = await login(nursery, sandbox, keys, jid)
    assert nodes[0].tag == "success"
    rest = await first.receive_until_closed()
    assert [n.tag for n in rest] == ["stream:error"]
    conflict = rest[0].child("conflict")
    assert conflict is not None
    assert conflict.attrs["type"] == "replaced"
    assert sandbox.connections[jid].device == jid
    assert first.pipe.close_code is not None
    assert second.pipe.close_code is None


async def test_unlink_sends_401_and_login_fails(autojump_clock: trio.abc.Clock, nursery: trio.Nursery) -> None:
    sandbox = make_sandbox()
    keys = Keys.generate(1)
    jid = await link(nursery, sandbox, keys)
    client, _ = await login(nursery, sandbox, keys, jid)
    assert await sandbox.unlink(jid)
    rest = await client.receive_until_closed()
    assert [(n.tag, n.attrs.get("code")) for n in rest] == [("stream:error", "401")]
    assert jid not in sandbox.connections
    _, nodes = await login(nursery, sandbox, keys, jid)
    assert nodes[0].attrs.get("reason") == "401"
    assert not await sandbox.unlink(jid)


async def test_companion_removes_itself(autojump_clock: trio.abc.Clock, nursery: trio.Nursery) -> None:
    sandbox = make_sandbox()
    keys = Keys.generate(1)
    jid = await link(nursery, sandbox, keys)
    client, _ = await login(nursery, sandbox, keys, jid)
    await client.send_node(
        Node(
            "iq",
            {"id": "rm", "to": SERVER_JID, "type": "set", "xmlns": "md"},
            [Node("remove-companion-device", {"jid": jid, "reason": "user_initiated"})],
        )
    )
    nodes = await client.receive_until_closed()
    assert [n.tag for n in nodes] == ["iq", "stream:error"]
    assert nodes[0].attrs["type"] == "result"
    assert sandbox.network.accounts[PHONE].companions == {}


async def test_disconnect_lets_the_device_log_in_again(autojump_clock: trio.abc.Clock, nursery: trio.Nursery) -> None:
    sandbox = make_sandbox()
    keys = Keys.generate(1)
    jid = await link(nursery, sandbox, keys)
    client, _ = await login(nursery, sandbox, keys, jid)
    assert await sandbox.disconnect(jid)
    assert await client.receive_until_closed() == []
    assert not await sandbox.disconnect(jid)
    _, nodes = await login(nursery, sandbox, keys, jid)
    assert nodes[0].tag == "success"


async def test_scan_errors(autojump_clock: trio.abc.Clock, nursery: trio.Nursery) -> None:
    sandbox = make_sandbox()
    keys = Keys.generate(1)
    companion = await connect(nursery, sandbox, keys)
    qr = parse_qr(await companion.register())
    cases = [
        ("not a qr", 400, "bad_qr"),
        (str(QRData("2@unknown", keys.noise.public, keys.identity.public, keys.adv_secret)), 404, "unknown_qr"),
        (str(QRData(qr.ref, keys.identity.public, keys.identity.public, keys.adv_secret)), 409, "qr_mismatch"),
    ]
    for text, status, code in cases:
        with pytest.raises(LinkError) as caught:
            await sandbox.linker.scan(PHONE, text)
        assert (caught.value.status, caught.value.code) == (status, code)
    with pytest.raises(LinkError) as caught:
        await sandbox.linker.scan("15550000000", str(qr))
    assert caught.value.code == "unknown_account"
    # The companion leaves: its refs are forgotten.
    companion.pipe.eof()
    await trio.sleep(1)
    with pytest.raises(LinkError) as caught:
        await sandbox.linker.scan(PHONE, str(qr))
    assert caught.value.code == "unknown_qr"


async def test_companion_that_refuses_pair_success(autojump_clock: trio.abc.Clock, nursery: trio.Nursery) -> None:
    sandbox = make_sandbox()
    keys = Keys.generate(1)
    companion = await connect(nursery, sandbox, keys)
    qr = await companion.register()
    outcome: dict[str, LinkError] = {}

    async def scan() -> None:
        with pytest.raises(LinkError) as caught:
            await sandbox.linker.scan(PHONE, qr)
        outcome["error"] = caught.value

    nursery.start_soon(scan)
    success = await companion.receive_node()
    assert success is not None
    await companion.send_node(
        Node("iq", {"to": SERVER_JID, "type": "error", "id": success.attrs["id"]}, [Node("error", {"code": "401", "text": "hmac-mismatch"})])
    )
    await companion.receive_until_closed()
    await trio.sleep(1)
    assert (outcome["error"].status, outcome["error"].code) == (502, "link_refused")
    assert sandbox.network.accounts[PHONE].companions == {}


async def test_companion_that_never_answers_pair_success(autojump_clock: trio.abc.Clock, nursery: trio.Nursery) -> None:
    sandbox = make_sandbox()
    companion = await connect(nursery, sandbox, Keys.generate(1))
    qr = await companion.register()
    with pytest.raises(LinkError) as caught:
        await sandbox.linker.scan(PHONE, qr)
    assert caught.value.code == "companion_timeout"
    assert companion.pipe.close_code is not None


async def test_link_code_requests_are_checked(autojump_clock: trio.abc.Clock, nursery: trio.Nursery) -> None:
    sandbox = make_sandbox()
    companion = await connect(nursery, sandbox, Keys.generate(1))
    await companion.register()
    with pytest.raises(LinkError) as caught:
        await sandbox.linker.enter_code(PHONE, "ABCD-EFGH")
    assert caught.value.code == "no_pending_code"
    with pytest.raises(LinkError) as caught:
        await sandbox.linker.enter_code(PHONE, "short")
    assert caught.value.code == "bad_code"
    # companion_hello for an unknown number, and a finish nobody waits for, get error answers.
    from waproto.pairing import companion_finish_node, companion_hello_node

    await companion.send_node(
        companion_hello_node(
            iq_id="h1",
            phone=JID("15559999999", "s.whatsapp.net"),
            wrapped_ephemeral=b"\x01" * 80,
            noise_public=companion.keys.noise.public,
            platform_id="1",
            platform_display="Chrome (Linux)",
        )
    )
    answer = await companion.receive_node()
    assert answer is not None
    assert answer.attrs["type"] == "error"
    await companion.send_node(
        companion_finish_node(
            iq_id="f1",
            phone=JID(PHONE, "s.whatsapp.net"),
            wrapped_key_bundle=b"\x02" * 156,
            companion_identity=companion.keys.identity.public,
            ref=b"nope",
        )
    )
    answer = await companion.receive_node()
    assert answer is not None
    assert answer.attrs["type"] == "error"
    assert companion.pipe.close_code is None
