"""waproto.usync: the client's usync queries (devices, contact, LID) and prekey fetches, against the
sandbox's answers (through the binary codec, as on the wire), hand-written answers in Baileys' and
whatsmeow's forms, and malformed or garbage answers (DecodeError only)."""

from __future__ import annotations

import contextlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from waproto.binary import Node, marshal, unmarshal
from waproto.errors import DecodeError, LocalProtocolError
from waproto.jid import JID
from waproto.sandbox.registry import Account, DeviceKeys, MemoryRegistry, OneTimePreKey, SignedPreKey
from waproto.sandbox.usync import answer_prekey_fetch, answer_usync
from waproto.signal import generate_identity_key_pair
from waproto.signal.keys import generate_signed_pre_key
from waproto.usync import (
    CheckResult,
    UsyncUser,
    contact_query,
    devices_query,
    lid_query,
    normalize_phone,
    parse_contact_result,
    parse_devices_result,
    parse_lid_result,
    parse_prekey_result,
    parse_retry_keys,
    parse_usync_users,
    prekey_query,
)

ALICE = Account("15550001111", "100000000000001", "Alice")
PN = "s.whatsapp.net"
NOBODY = JID("15559999999", PN)
LID = "lid"


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


# ----------------------------------------------------------------------------- devices with LIDs


def test_device_query_can_ask_lids_too(registry: MemoryRegistry) -> None:
    plain = devices_query([ALICE.jid], sid="s")
    usync = plain.child("usync")
    assert usync is not None
    query = usync.child("query")
    assert query is not None
    assert [p.tag for p in query.children] == ["devices"]
    asked = _wire(_with_id(devices_query([ALICE.jid.with_device(3), NOBODY], sid="s", lid=True)))
    usync = asked.child("usync")
    assert usync is not None
    assert usync.attrs["context"] == "message"
    query = usync.child("query")
    assert query is not None
    assert [p.tag for p in query.children] == ["devices", "lid"]
    answer = _wire(answer_usync(asked, registry))
    users = parse_usync_users(answer)
    assert users == [
        UsyncUser(jid=ALICE.jid, devices=(0, 3), lid=ALICE.lid_jid),
        UsyncUser(jid=NOBODY, devices=()),
    ]
    assert parse_lid_result(answer) == {ALICE.jid: ALICE.lid_jid}
    assert parse_devices_result(answer) == {ALICE.jid: [0, 3], NOBODY: []}


def test_device_lists_of_lid_users(registry: MemoryRegistry) -> None:
    asked = _wire(_with_id(devices_query([ALICE.lid_jid.with_device(3)], sid="s")))
    list_node = asked.content[0].child("list")  # type: ignore[index,union-attr]
    assert list_node is not None
    assert list_node.children[0].attrs["jid"] == ALICE.lid_jid
    users = parse_usync_users(_wire(answer_usync(asked, registry)))
    assert users == [UsyncUser(jid=ALICE.lid_jid, devices=(0, 3))]


def test_hosted_devices_errors_and_duplicates_are_told_apart() -> None:
    devices = Node(
        "devices",
        {},
        [
            Node(
                "device-list",
                {},
                [
                    Node("device", {"id": "0"}),
                    Node("device", {"id": "7", "key-index": "2"}),
                    Node("device", {"id": "7", "key-index": "2"}),
                    Node("device", {"id": "99", "is_hosted": "true"}),
                ],
            ),
            Node("key-index-list", {"ts": "1"}, b"\x01"),
        ],
    )
    failed = Node("devices", {}, [Node("error", {"code": "500", "text": "internal"})])
    answer = _answer(
        [
            Node("user", {"jid": ALICE.jid}, [devices]),
            Node("user", {"jid": NOBODY}, [failed, Node("lid", {})]),
        ]
    )
    assert parse_usync_users(answer) == [
        UsyncUser(jid=ALICE.jid, devices=(0, 7), hosted=(99,)),
        UsyncUser(jid=NOBODY),
    ]


def _answer(users: list[Node]) -> Node:
    usync = Node("usync", {"sid": "s", "last": "true"}, [Node("list", {}, users)])
    return _wire(Node("iq", {"type": "result", "id": "1", "from": JID("", PN)}, [usync]))


# ----------------------------------------------------------------------------- check numbers


def test_contact_query_has_whatsmeows_form() -> None:
    iq = _wire(_with_id(contact_query(["+15550001111", "15559999999"], sid="s")))
    assert iq.attrs["xmlns"] == "usync"
    assert iq.attrs["type"] == "get"
    usync = iq.child("usync")
    assert usync is not None
    assert (usync.attrs["mode"], usync.attrs["context"]) == ("query", "interactive")
    query = usync.child("query")
    assert query is not None
    assert [(p.tag, p.attrs) for p in query.children] == [
        ("contact", {"addressing_mode": "lid"}),
        ("business", {}),
        ("disappearing_mode", {}),
        ("username", {}),
    ]
    users = usync.child("list")
    assert users is not None
    contents = [u.child("contact").content for u in users.children]  # type: ignore[union-attr]
    assert [c.decode() if isinstance(c, bytes) else c for c in contents] == [
        "+15550001111@c.us",
        "+15559999999@c.us",
    ]


def test_check_numbers_against_the_sandbox(registry: MemoryRegistry) -> None:
    iq = _wire(_with_id(contact_query([ALICE.phone, NOBODY.user], sid="s")))
    answer = _wire(answer_usync(iq, registry))
    assert parse_contact_result(answer) == {
        ALICE.phone: CheckResult(True, ALICE.jid, ALICE.lid_jid),
        NOBODY.user: CheckResult(False, None, None),
    }


def test_check_answers_in_baileys_form() -> None:
    answer = _answer(
        [
            Node(
                "user",
                {"jid": ALICE.jid},
                [Node("contact", {"type": "in"}), Node("lid", {"val": ALICE.lid_jid})],
            ),
            Node("user", {"jid": NOBODY}, [Node("contact", {"type": "out"}), Node("lid", {})]),
            Node("user", {"jid": JID("15550007777", PN)}, [Node("contact", {"type": "in"})]),
        ]
    )
    assert parse_contact_result(answer) == {
        ALICE.phone: CheckResult(True, ALICE.jid, ALICE.lid_jid),
        NOBODY.user: CheckResult(False),
        "15550007777": CheckResult(True, JID("15550007777", PN), None),
    }


def test_check_answers_in_whatsmeow_form() -> None:
    answer = _answer(
        [
            Node(
                "user",
                {"jid": ALICE.lid_jid, "pn_jid": ALICE.jid},
                [Node("contact", {"type": "in"}, "+15550001111@c.us"), Node("business", {})],
            ),
            # Unknown: only the echoed query says which number.
            Node("user", {}, [Node("contact", {"type": "out"}, b"+15559999999@c.us")]),
            # A user naming no number at all is skipped.
            Node("user", {"jid": ALICE.lid_jid}, [Node("contact", {"type": "in"})]),
            # The server's number for the account differs from the one asked (a 9th digit added).
            Node(
                "user",
                {"jid": JID("100000000000077", LID), "pn_jid": JID("5511988887777", PN)},
                [Node("contact", {"type": "in"}, "+551188887777@c.us")],
            ),
            # An <error> in place of the contact answer: not known to exist.
            Node(
                "user",
                {"jid": JID("15550004444", PN)},
                [Node("contact", {}, [Node("error", {"code": "500"})])],
            ),
        ]
    )
    assert parse_contact_result(answer) == {
        ALICE.phone: CheckResult(True, ALICE.jid, ALICE.lid_jid),
        NOBODY.user: CheckResult(False),
        "551188887777": CheckResult(True, JID("5511988887777", PN), JID("100000000000077", LID)),
        "15550004444": CheckResult(False),
    }


@pytest.mark.parametrize(
    "phone", ["", "+", "1234", "++15550001111", "1555 0001111", "١٢٣٤٥٦", "1" * 21, 15550001111]
)
def test_bad_phone_numbers_are_refused(phone: object) -> None:
    with pytest.raises(LocalProtocolError):
        normalize_phone(phone)  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        contact_query([phone], sid="s")  # type: ignore[list-item]


def test_phone_numbers_are_normalised() -> None:
    assert normalize_phone("+15550001111") == "15550001111"
    assert normalize_phone("15550001111") == "15550001111"


# ----------------------------------------------------------------------------- LIDs


def test_lid_query_against_the_sandbox(registry: MemoryRegistry) -> None:
    iq = _wire(_with_id(lid_query([ALICE.jid.with_device(2), NOBODY], sid="s")))
    usync = iq.child("usync")
    assert usync is not None
    assert usync.attrs["context"] == "background"
    query = usync.child("query")
    assert query is not None
    assert [p.tag for p in query.children] == ["lid"]
    answer = _wire(answer_usync(iq, registry))
    assert parse_lid_result(answer) == {ALICE.jid: ALICE.lid_jid}


def test_lid_answers_that_are_not_pn_to_lid_are_ignored() -> None:
    answer = _answer(
        [
            Node("user", {"jid": ALICE.lid_jid}, [Node("lid", {"val": ALICE.lid_jid})]),
            Node("user", {"jid": ALICE.jid}, [Node("lid", {"val": NOBODY})]),
            Node("user", {"jid": NOBODY}, [Node("lid", {"val": ""})]),
        ]
    )
    assert parse_lid_result(answer) == {}


# ----------------------------------------------------------------------------- malformed answers


@pytest.mark.parametrize(
    "user",
    [
        Node("user", {"jid": "not a jid@@"}),
        Node("user", {"jid": ALICE.jid, "pn_jid": "x@y@z"}),
        Node("user", {"jid": ALICE.jid}, [Node("lid", {"val": "no at sign"})]),
        Node("user", {"jid": ALICE.jid}, [Node("contact", {"type": "in"}, b"\xff\xfe")]),
        Node(
            "user", {"jid": ALICE.jid}, [Node("devices", {}, [Node("device-list", {}, [Node("device", {})])])]
        ),
        Node(
            "user",
            {"jid": ALICE.jid},
            [Node("devices", {}, [Node("device-list", {}, [Node("device", {"id": "65536"})])])],
        ),
        Node(
            "user",
            {"jid": ALICE.jid},
            [Node("devices", {}, [Node("device-list", {}, [Node("device", {"id": "-1"})])])],
        ),
    ],
)
def test_malformed_users_are_decode_errors(user: Node) -> None:
    answer = Node("iq", {}, [Node("usync", {}, [Node("list", {}, [user])])])
    for parse in (parse_usync_users, parse_contact_result, parse_lid_result):
        with pytest.raises(DecodeError):
            parse(answer)


def _nodes() -> st.SearchStrategy[Node]:
    tags = st.sampled_from(
        ["iq", "usync", "list", "user", "devices", "device-list", "device", "lid", "contact", "x"]
    )
    attr_names = st.sampled_from(["jid", "pn_jid", "id", "val", "type", "is_hosted", "key-index"])
    attr_values = st.one_of(
        st.sampled_from(["0", "3", "in", "out", "true", "15550001111@s.whatsapp.net", "1@lid", "@", "a:b@c"]),
        st.text(max_size=12),
        st.builds(JID, st.sampled_from(["", "1", "15550001111"]), st.sampled_from([PN, LID, "g.us"])),
    )
    leaves = st.builds(
        Node,
        tags,
        st.dictionaries(attr_names, attr_values, max_size=3),
        st.one_of(st.none(), st.binary(max_size=8), st.text(max_size=8)),
    )
    return st.recursive(
        leaves,
        lambda children: st.builds(
            Node, tags, st.dictionaries(attr_names, attr_values, max_size=3), st.lists(children, max_size=4)
        ),
        max_leaves=20,
    )


@settings(max_examples=300)
@given(_nodes())
def test_garbage_answers_only_raise_decode_errors(answer: Node) -> None:
    for parse in (parse_usync_users, parse_contact_result, parse_lid_result, parse_devices_result):
        with contextlib.suppress(DecodeError):
            parse(answer)


def _retry_receipt(keys: list[Node] | None, registration: bytes | None = b"\x00\x00\x10\xe1") -> Node:
    children = [Node("retry", {"count": "2", "id": "3EB0R", "t": "1", "v": "1"})]
    if registration is not None:
        children.append(Node("registration", {}, registration))
    if keys is not None:
        children.append(Node("keys", {}, keys))
    return Node("receipt", {"id": "3EB0R", "type": "retry"}, children)


def _keys(kind: bytes = b"\x05", *, one_time: bool = True) -> list[Node]:
    nodes = [Node("type", {}, kind), Node("identity", {}, bytes(range(32)))]
    if one_time:
        nodes.append(Node("key", {}, [Node("id", {}, b"\x00\x00\x07"), Node("value", {}, bytes(32))]))
    skey = [
        Node("id", {}, b"\x00\x00\x01"),
        Node("value", {}, bytes(range(1, 33))),
        Node("signature", {}, bytes(64)),
    ]
    nodes.append(Node("skey", {}, skey))
    return nodes


def test_retry_keys_become_a_bundle() -> None:
    bundle = parse_retry_keys(_retry_receipt(_keys()), 3)
    assert bundle is not None
    assert (bundle.registration_id, bundle.device_id, bundle.pre_key_id) == (4321, 3, 7)
    assert bundle.identity_key == bytes(range(32))
    assert (bundle.signed_pre_key_id, bundle.signed_pre_key_public) == (1, bytes(range(1, 33)))
    without = parse_retry_keys(_retry_receipt(_keys(one_time=False)), 0)
    assert without is not None
    assert (without.pre_key_id, without.pre_key_public) == (None, None)
    assert parse_retry_keys(_retry_receipt(None), 0) is None  # a first retry carries no keys


@pytest.mark.parametrize(
    "receipt",
    [
        _retry_receipt(_keys(b"\x06")),  # another key type
        _retry_receipt(_keys(), registration=None),
        _retry_receipt(_keys(), registration=b"\x01"),
        _retry_receipt(_keys()[:-1]),  # no <skey>
        _retry_receipt([*_keys()[:1], *_keys()[2:]]),  # no <identity>
    ],
)
def test_malformed_retry_keys_are_decode_errors(receipt: Node) -> None:
    with pytest.raises(DecodeError):
        parse_retry_keys(receipt, 0)
