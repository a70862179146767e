"""waproto.sandbox.iqs: the IQ table's dispatch rules and the basic answers, with a fake connection."""

from __future__ import annotations

import random
from typing import Any, cast

from tests.waproto.sandbox.test_state import NOW, companion
from waproto.binary import Node
from waproto.jid import JID, SERVER_JID
from waproto.sandbox.connection import Connection
from waproto.sandbox.iqs import IqTable, register_basic_iqs, result_iq
from waproto.sandbox.state import Companion, Network


class FakeConnection:
    """What the handlers read: a name, the sandbox's network, the device and its companion record."""

    def __init__(self, linked: Companion | None) -> None:
        rng = random.Random(1).randbytes
        self.name = "fake"
        self.active = False
        network = Network.open(None, rng=rng)
        network.create_account("15550001111", rng=rng, now=NOW)
        if linked is not None:
            network.add_companion("15550001111", linked)
        self.sandbox = type("S", (), {"network": network})()
        self.companion = linked
        self.device = None if linked is None else JID("15550001111", "s.whatsapp.net", device=linked.device)


def iq(xmlns: str, kind: str, *children: Node) -> Node:
    return Node("iq", {"id": "i1", "to": SERVER_JID, "type": kind, "xmlns": xmlns}, list(children))


async def answer(table: IqTable, connection: FakeConnection, node: Node) -> Node:
    result = await table.answer(cast(Connection, connection), node)
    assert result is not None
    return result


def basic() -> IqTable:
    table = IqTable()
    register_basic_iqs(table)
    return table


async def test_most_specific_handler_wins() -> None:
    table = IqTable()
    calls: list[str] = []

    def handler(name: str) -> Any:
        async def run(connection: Connection, node: Node) -> Node:
            calls.append(name)
            return result_iq(node)

        return run

    table.register("x", None, handler("any"))
    table.register("x", "a", handler("child"))
    table.register("x", "a", handler("get-child"), type="get")
    connection = FakeConnection(None)
    await answer(table, connection, iq("x", "get", Node("a")))
    await answer(table, connection, iq("x", "set", Node("a")))
    await answer(table, connection, iq("x", "set", Node("b")))
    await answer(table, connection, iq("x", "get"))
    assert calls == ["get-child", "child", "any", "any"]
    error = await answer(table, connection, iq("y", "get"))
    assert error.attrs["type"] == "error"
    assert error.children[0].attrs == {"code": "501", "text": "feature-not-implemented"}


async def test_prekey_upload_count_and_digest() -> None:
    linked = companion(1)
    linked.pre_keys.clear()
    connection = FakeConnection(linked)
    table = basic()
    count = await answer(table, connection, iq("encrypt", "get", Node("count")))
    assert count.children[0].attrs["value"] == "0"
    rng = random.Random(4)
    upload = iq(
        "encrypt",
        "set",
        Node("registration", {}, (99).to_bytes(4, "big")),
        Node("type", {}, b"\x05"),
        Node("identity", {}, linked.identity),
        Node("list", {}, [Node("key", {}, [Node("id", {}, i.to_bytes(3, "big")), Node("value", {}, rng.randbytes(32))]) for i in (5, 6, 7)]),
        Node("skey", {}, [Node("id", {}, b"\x00\x00\x02"), Node("value", {}, rng.randbytes(32)), Node("signature", {}, rng.randbytes(64))]),
    )
    assert (await answer(table, connection, upload)).attrs["type"] == "result"
    assert [k.key_id for k in linked.pre_keys] == [5, 6, 7]
    assert (linked.registration_id, linked.signed_pre_key.key_id) == (99, 2)
    count = await answer(table, connection, iq("encrypt", "get", Node("count")))
    assert count.children[0].attrs["value"] == "3"
    digest = await answer(table, connection, iq("encrypt", "get", Node("digest")))
    assert digest.child("digest") is not None


async def test_malformed_and_unauthorised_uploads() -> None:
    table = basic()
    linked = companion(1)
    connection = FakeConnection(linked)
    bad = iq("encrypt", "set", Node("registration", {}, b"\x00\x00\x00\x01"), Node("identity", {}, b"short"))
    error = await answer(table, connection, bad)
    assert error.children[0].attrs["code"] == "400"
    other = iq("encrypt", "set", Node("registration", {}, b"\x00\x00\x00\x01"), Node("identity", {}, bytes(32)))
    assert (await answer(table, connection, other)).children[0].attrs["code"] == "409"
    assert (await answer(table, FakeConnection(None), other)).children[0].attrs["code"] == "401"


async def test_simple_answers() -> None:
    table = basic()
    connection = FakeConnection(companion(1))
    assert (await answer(table, connection, iq("w:p", "get", Node("ping")))).attrs["type"] == "result"
    await answer(table, connection, iq("passive", "set", Node("active")))
    assert connection.active
    for xmlns in ("w", "abt"):
        props = await answer(table, connection, iq(xmlns, "get", Node("props", {"protocol": "1"})))
        assert props.children[0].attrs["protocol"] == "1"
    blocklist = await answer(table, connection, iq("blocklist", "get"))
    assert blocklist.children[0].tag == "list"
    privacy = await answer(table, connection, iq("privacy", "get", Node("privacy")))
    names = {c.attrs["name"] for c in privacy.children[0].children}
    assert {"last", "online", "readreceipts"} <= names
