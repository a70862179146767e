"""usync answers (devices, contact, lid) and prekey-bundle answers, as Node in -> Node out."""

from __future__ import annotations

import random

import pytest

from waproto.binary import Node, marshal, unmarshal
from waproto.jid import JID
from waproto.sandbox.registry import Account, DeviceKeys, MemoryRegistry, OneTimePreKey, SignedPreKey
from waproto.sandbox.usync import answer_prekey_fetch, answer_usync
from waproto.signal import (
    MemorySignalStore,
    ProtocolAddress,
    generate_identity_key_pair,
    process_pre_key_bundle,
)
from waproto.signal.keys import PreKeyBundle, generate_signed_pre_key

ALICE = Account("15550001111", "100000000000001", "Alice")
PN = "s.whatsapp.net"


def _keys(rng: random.Random, first_pre_key: int = 1, count: int = 2) -> DeviceKeys:
    identity = generate_identity_key_pair(rng.randbytes)
    signed = generate_signed_pre_key(identity, 7, rng.randbytes)
    return DeviceKeys(
        1234,
        identity.public,
        SignedPreKey(7, signed.key_pair.public, signed.signature),
        [OneTimePreKey(first_pre_key + i, rng.randbytes(32)) for i in range(count)],
    )


@pytest.fixture
def registry() -> MemoryRegistry:
    registry = MemoryRegistry()
    registry.add_account(ALICE)
    rng = random.Random(3)
    registry.set_device_keys(ALICE.jid, _keys(rng))
    registry.set_device_keys(ALICE.jid.with_device(4), _keys(rng, 10, 1))
    return registry


def _usync(protocols: list[str], users: list[Node]) -> Node:
    query = Node("query", {}, [Node(p, {"version": "2"} if p == "devices" else {}) for p in protocols])
    usync = Node(
        "usync",
        {"sid": "s1", "mode": "query", "context": "message", "last": "true", "index": "0"},
        [query, Node("list", {}, users)],
    )
    return Node("iq", {"id": "q1", "xmlns": "usync", "type": "get", "to": JID("", PN)}, [usync])


def _users(answer: Node) -> list[Node]:
    usync = answer.child("usync")
    assert usync is not None
    listed = usync.child("list")
    assert listed is not None
    return listed.children


def test_devices_list_every_device_with_key_index(registry: MemoryRegistry) -> None:
    answer = answer_usync(
        _usync(
            ["devices", "lid"], [Node("user", {"jid": ALICE.jid}), Node("user", {"jid": JID("1999", PN)})]
        ),
        registry,
    )
    assert answer.attrs["type"] == "result"
    assert answer.attrs["id"] == "q1"
    alice, stranger = _users(answer)
    assert alice.attrs["jid"] == ALICE.jid
    devices = alice.children[0].children[0].children
    assert [d.attrs for d in devices] == [{"id": "0"}, {"id": "4", "key-index": "4"}]
    assert alice.children[1].attrs == {"val": ALICE.lid_jid}
    assert stranger.children[0].children[0].children == []
    assert stranger.children[1].attrs == {}
    unmarshal(marshal(answer))  # the answer is encodable as it stands


def test_devices_of_a_lid_user(registry: MemoryRegistry) -> None:
    answer = answer_usync(_usync(["devices"], [Node("user", {"jid": f"{ALICE.lid}@lid"})]), registry)
    [user] = _users(answer)
    assert user.attrs["jid"] == ALICE.lid_jid
    assert len(user.children[0].children[0].children) == 2


@pytest.mark.parametrize(
    ("content", "known"),
    [("+15550001111", True), ("15550001111", True), ("+15550001111@c.us", True), ("+15559990000", False)],
)
def test_contact_says_whether_a_number_is_on_whatsapp(
    registry: MemoryRegistry, content: str, known: bool
) -> None:
    answer = answer_usync(
        _usync(["contact", "lid", "status"], [Node("user", {}, [Node("contact", {}, content.encode())])]),
        registry,
    )
    [user] = _users(answer)
    number = content.strip("+").partition("@")[0]
    assert user.attrs["jid"] == JID(number, PN)
    contact, lid, status = user.children
    assert contact.attrs == {"type": "in" if known else "out"}
    assert ("val" in lid.attrs) is known
    assert status.tag == "status"


@pytest.mark.parametrize(
    "iq",
    [
        Node("iq", {"id": "x"}),
        Node("iq", {"id": "x"}, [Node("usync", {}, [Node("query")])]),
        _usync(["contact"], [Node("user", {}, [Node("contact", {}, "not a number")])]),
        _usync(["contact"], [Node("user", {})]),
        _usync(["contact"], [Node("user", {}, [Node("contact", {}, b"\xff\xfe")])]),
    ],
)
def test_malformed_usync_gets_an_error_result(registry: MemoryRegistry, iq: Node) -> None:
    answer = answer_usync(iq, registry)
    assert answer.attrs["type"] == "error"
    assert answer.children[0].attrs == {"code": "400", "text": "bad-request"}


def _fetch(*jids: object) -> Node:
    users = [Node("user", {"jid": jid}) for jid in jids]  # type: ignore[misc]
    return Node("iq", {"id": "k1", "xmlns": "encrypt", "type": "get"}, [Node("key", {}, users)])


def _bundle(user: Node) -> PreKeyBundle:
    def raw(node: Node | None) -> bytes:
        assert node is not None
        assert isinstance(node.content, bytes)
        return node.content

    skey = user.child("skey")
    key = user.child("key")
    assert skey is not None
    assert raw(user.child("type")) == b"\x05"
    return PreKeyBundle(
        registration_id=int.from_bytes(raw(user.child("registration"))),
        device_id=0,
        pre_key_id=int.from_bytes(raw(key.child("id"))) if key else None,
        pre_key_public=raw(key.child("value")) if key else None,
        signed_pre_key_id=int.from_bytes(raw(skey.child("id"))),
        signed_pre_key_public=raw(skey.child("value")),
        signed_pre_key_signature=raw(skey.child("signature")),
        identity_key=raw(user.child("identity")),
    )


async def test_prekey_bundles_consume_one_time_keys_once(registry: MemoryRegistry) -> None:
    answers = [answer_prekey_fetch(_fetch(ALICE.jid), registry) for _ in range(3)]
    bundles = [_bundle(a.children[0].children[0]) for a in answers]
    assert [b.pre_key_id for b in bundles] == [1, 2, None]
    keys = registry.device_keys(ALICE.jid)
    assert keys is not None
    assert keys.pre_keys == []
    for bundle in bundles:
        bundle.verify_signature()
        assert bundle.identity_key == keys.identity
        assert bundle.registration_id == 1234
    # a bundle as served builds a session
    rng = random.Random(9).randbytes
    store = MemorySignalStore(generate_identity_key_pair(rng), 77)
    address = ProtocolAddress(ALICE.phone, 0)
    await process_pre_key_bundle(address, bundles[0], identity_store=store, session_store=store, rng=rng)
    assert await store.load_session(address) is not None
    unmarshal(marshal(answers[0]))


def test_prekey_fetch_by_device_lid_and_unknown(registry: MemoryRegistry) -> None:
    asked = [ALICE.jid.with_device(4), f"{ALICE.lid}:4@lid", JID("1999", PN), ALICE.jid.with_device(9)]
    answer = answer_prekey_fetch(_fetch(*asked), registry)
    users = answer.children[0].children
    assert [u.attrs["jid"] for u in users] == [
        ALICE.jid.with_device(4),
        JID(ALICE.lid, "lid", device=4),
        *asked[2:],
    ]
    first, second, unknown, unlinked = users
    assert _bundle(first).pre_key_id == 10
    assert _bundle(second).pre_key_id is None  # the only one-time key went to the first ask
    for user in (unknown, unlinked):
        assert [c.tag for c in user.children] == ["error"]
        assert user.children[0].attrs["code"] == "404"


@pytest.mark.parametrize(
    "iq", [Node("iq", {"id": "k"}), _fetch("garbage"), Node("message", {}, [Node("key", {}, [Node("user")])])]
)
def test_malformed_prekey_fetch_gets_an_error_result(registry: MemoryRegistry, iq: Node) -> None:
    assert answer_prekey_fetch(iq, registry).attrs["type"] == "error"
