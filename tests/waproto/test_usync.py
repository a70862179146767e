"""waproto.usync: the client's usync device queries and prekey fetches, against the sandbox's answers
(through the binary codec, as on the wire), and malformed answers."""

from __future__ import annotations

import random

import pytest

from waproto.binary import Node, marshal, unmarshal
from waproto.errors import DecodeError
from waproto.jid import JID
from waproto.sandbox.registry import Account, DeviceKeys, MemoryRegistry, OneTimePreKey, SignedPreKey
from waproto.sandbox.usync import answer_prekey_fetch, answer_usync
from waproto.signal import generate_identity_key_pair
from waproto.signal.keys import generate_signed_pre_key
from waproto.usync import devices_query, parse_devices_result, parse_prekey_result, prekey_query

ALICE = Account("15550001111", "100000000000001", "Alice")
PN = "s.whatsapp.net"
NOBODY = JID("15559999999", PN)


@pytest.fixture
def registry() -> MemoryRegistry:
    registry = MemoryRegistry()
    registry.add_account(ALICE)
    rng = random.Random(5)
    for device, first, count in ((0, 1, 1), (3, 20, 0)):
        identity = generate_identity_key_pair(rng.randbytes)
        signed = generate_signed_pre_key(identity, 9, rng.randbytes)
        keys = DeviceKeys(
            4321 + device,
            identity.public,
            SignedPreKey(9, signed.key_pair.public, signed.signature),
            [OneTimePreKey(first + i, rng.randbytes(32)) for i in range(count)],
        )
        registry.set_device_keys(ALICE.jid.with_device(device), keys)
    return registry


def _wire(node: Node) -> Node:
    return unmarshal(marshal(node))


def _with_id(iq: Node) -> Node:
    return Node(iq.tag, {**iq.attrs, "id": "1"}, iq.content)


def test_device_lists_of_known_and_unknown_users(registry: MemoryRegistry) -> None:
    query = _wire(_with_id(devices_query([ALICE.jid.with_device(3), NOBODY], sid="s")))
    assert query.attrs["xmlns"] == "usync"
    answer = _wire(answer_usync(query, registry))
    assert parse_devices_result(answer) == {ALICE.jid: [0, 3], NOBODY: []}


def test_prekey_bundles_with_and_without_one_time_key(registry: MemoryRegistry) -> None:
    devices = [ALICE.jid, ALICE.jid.with_device(3), NOBODY]
    answer = _wire(answer_prekey_fetch(_wire(_with_id(prekey_query(devices))), registry))
    bundles = parse_prekey_result(answer)
    primary, companion = bundles[ALICE.jid], bundles[ALICE.jid.with_device(3)]
    assert primary is not None
    assert (primary.registration_id, primary.pre_key_id, primary.signed_pre_key_id) == (4321, 1, 9)
    assert companion is not None
    assert (companion.device_id, companion.pre_key_id, companion.pre_key_public) == (3, None, None)
    companion.verify_signature()
    assert bundles[NOBODY] is None


@pytest.mark.parametrize(
    "answer",
    [
        Node("iq", {"type": "result"}),
        Node("iq", {}, [Node("usync", {}, [Node("list", {}, [Node("user", {"jid": "not a jid@@"})])])]),
        Node("iq", {}, [Node("usync", {}, [Node("list", {}, [Node("user", {})])])]),
        Node(
            "iq",
            {},
            [
                Node(
                    "usync",
                    {},
                    [
                        Node(
                            "list",
                            {},
                            [
                                Node(
                                    "user",
                                    {"jid": ALICE.jid},
                                    [
                                        Node(
                                            "devices",
                                            {},
                                            [Node("device-list", {}, [Node("device", {"id": "x"})])],
                                        )
                                    ],
                                )
                            ],
                        )
                    ],
                )
            ],
        ),
    ],
)
def test_malformed_usync_answers_are_decode_errors(answer: Node) -> None:
    with pytest.raises(DecodeError):
        parse_devices_result(answer)


@pytest.mark.parametrize(
    "user",
    [
        Node("user", {"jid": ALICE.jid}),
        Node("user", {"jid": ALICE.jid}, [Node("registration", {}, b"\x00\x01")]),
        Node(
            "user",
            {"jid": ALICE.jid},
            [
                Node("registration", {}, b"\x00\x00\x00\x01"),
                Node("identity", {}, b"\x01" * 32),
                Node("skey", {}, [Node("id", {}, b""), Node("value", {}, b"\x02" * 32)]),
            ],
        ),
        Node(
            "user",
            {"jid": ALICE.jid},
            [
                Node("registration", {}, b"\x00\x00\x00\x01"),
                Node("identity", {}, b"\x01" * 32),
                Node(
                    "skey",
                    {},
                    [
                        Node("id", {}, b"\x01"),
                        Node("value", {}, b"\x02" * 32),
                        Node("signature", {}, b"short"),
                    ],
                ),
            ],
        ),
    ],
)
def test_malformed_bundles_are_decode_errors(user: Node) -> None:
    with pytest.raises(DecodeError):
        parse_prekey_result(Node("iq", {}, [Node("list", {}, [user])]))
    with pytest.raises(DecodeError):
        parse_prekey_result(Node("iq", {}))
