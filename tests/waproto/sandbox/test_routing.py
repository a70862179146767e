"""Routing plans for hand-built stanzas: fan-out, addressing, acks, refusals, receipts, offline queues,
groups and the w:g2 iqs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from waproto.binary import Node
from waproto.errors import LocalProtocolError
from waproto.jid import JID
from waproto.sandbox.registry import Account, MemoryRegistry
from waproto.sandbox.routing import (
    OfflineQueues,
    answer_group_iq,
    group_node,
    new_group,
    route_message,
    route_receipt,
)
from waproto.sandbox.usync import answer_prekey_fetch, answer_usync

PN = "s.whatsapp.net"
A = Account("15550001111", "101", "Alice")
B = Account("15550002222", "102", "Bob")
C = Account("15550003333", "103")
NOW = 1_700_000_000


@pytest.fixture
def registry() -> MemoryRegistry:
    registry = MemoryRegistry()
    for account in (A, B, C):
        registry.add_account(account)
    registry.devices[A.phone][2] = None  # companions
    registry.devices[B.phone][5] = None
    return registry


def _enc(kind: str, body: bytes = b"\x33x") -> Node:
    return Node("enc", {"v": "2", "type": kind}, body)


def _to(jid: object, kind: str = "pkmsg") -> Node:
    return Node("to", {"jid": jid}, [_enc(kind, str(jid).encode())])  # type: ignore[dict-item]


def test_one_to_one_fan_out(registry: MemoryRegistry) -> None:
    identity = Node("device-identity", {}, b"adv")
    message = Node(
        "message",
        {"id": "M1", "to": B.jid, "type": "text"},
        [
            Node(
                "participants",
                {},
                [_to(B.jid), _to(B.jid.with_device(5), "msg"), _to(A.jid.with_device(2)), _to(A.jid)],
            ),
            identity,
        ],
    )
    routed = route_message(registry, A.jid, message, now=NOW)
    assert routed.error is None
    assert routed.ack is not None
    assert routed.ack.attrs == {"class": "message", "id": "M1", "t": str(NOW), "from": B.jid}
    plan = {d.device: d.node for d in routed.deliveries}
    assert list(plan) == [B.jid, B.jid.with_device(5), A.jid.with_device(2)]  # never back to the sender
    to_b = plan[B.jid]
    assert to_b.attrs == {
        "from": A.jid,
        "id": "M1",
        "type": "text",
        "t": str(NOW),
        "sender_lid": A.lid_jid,
        "notify": "Alice",
    }
    assert [c.tag for c in to_b.children] == ["enc", "device-identity"]
    assert to_b.children[0].content == str(B.jid).encode()
    assert [c.tag for c in plan[B.jid.with_device(5)].children] == ["enc"]  # a msg: no identity
    own = plan[A.jid.with_device(2)]
    assert own.attrs["recipient"] == B.jid
    assert own.children[0].content == b"15550001111:2@s.whatsapp.net"


def test_lid_addressing_comes_back_as_lid(registry: MemoryRegistry) -> None:
    message = Node(
        "message",
        {"id": "M2", "to": B.lid_jid, "type": "text"},
        [Node("participants", {}, [_to(JID(B.lid, "lid", device=5))])],
    )
    [delivery] = route_message(registry, A.jid.with_device(2), message, now=NOW).deliveries
    assert delivery.device == B.jid.with_device(5)
    assert delivery.node.attrs["from"] == JID(A.lid, "lid", device=2)
    assert delivery.node.attrs["sender_pn"] == A.jid


def test_direct_enc_goes_to_the_addressed_device_or_all(registry: MemoryRegistry) -> None:
    to_device = Node("message", {"id": "R", "to": B.jid.with_device(5), "type": "text"}, [_enc("pkmsg")])
    assert [d.device for d in route_message(registry, A.jid, to_device, now=NOW).deliveries] == [
        B.jid.with_device(5)
    ]
    to_user = Node("message", {"id": "R", "to": B.jid, "type": "text"}, [_enc("msg")])
    assert [d.device for d in route_message(registry, A.jid, to_user, now=NOW).deliveries] == [
        B.jid,
        B.jid.with_device(5),
    ]


def test_unlinked_devices_are_skipped(registry: MemoryRegistry) -> None:
    message = Node(
        "message", {"id": "M", "to": B.jid}, [Node("participants", {}, [_to(B.jid.with_device(9))])]
    )
    routed = route_message(registry, A.jid, message, now=NOW)
    assert routed.error is None
    assert routed.deliveries == []


@pytest.mark.parametrize(
    ("sender", "message", "code"),
    [
        (A.jid, Node("message", {"to": B.jid}), "400"),
        (A.jid, Node("message", {"id": "x"}), "400"),
        (A.jid, Node("receipt", {"id": "x", "to": B.jid}), "400"),
        (JID("1999", PN), Node("message", {"id": "x", "to": B.jid}), "400"),
        (A.jid, Node("message", {"id": "x", "to": "garbage"}), "400"),
        (A.jid, Node("message", {"id": "x", "to": JID("1999", PN)}), "404"),
        (A.jid, Node("message", {"id": "x", "to": B.jid}, [Node("participants", {}, [_to(C.jid)])]), "400"),
        (A.jid, Node("message", {"id": "x", "to": B.jid}, [Node("participants", {}, [_to("junk")])]), "400"),
        (A.jid, Node("message", {"id": "x", "to": JID("999", "g.us")}, [_enc("skmsg")]), "404"),
    ],
)
def test_refused_messages_get_an_error_ack(
    registry: MemoryRegistry, sender: JID, message: Node, code: str
) -> None:
    routed = route_message(registry, sender, message, now=NOW)
    assert routed.ack is not None
    assert routed.ack.attrs["error"] == code
    assert routed.ack.attrs["class"] == "message"
    assert routed.deliveries == []
    assert routed.error


def _group(registry: MemoryRegistry) -> JID:
    group = new_group(
        registry, group_id="120363000000000009", subject="g", creator=A.jid, participants=[B.jid], now=NOW
    )
    registry.add_group(group)
    return group.jid


def test_group_fan_out(registry: MemoryRegistry) -> None:
    gid = _group(registry)
    skmsg = _enc("skmsg", b"group")
    message = Node(
        "message",
        {"id": "G1", "to": gid, "type": "text"},
        [Node("participants", {}, [_to(B.jid.with_device(5))]), skmsg, Node("device-identity", {}, b"i")],
    )
    routed = route_message(registry, A.jid.with_device(2), message, now=NOW)
    plan = {d.device: d.node for d in routed.deliveries}
    assert list(plan) == [A.jid, B.jid, B.jid.with_device(5)]
    for node in plan.values():
        assert node.attrs["from"] == gid
        assert node.attrs["participant"] == A.jid.with_device(2)
        assert node.children[-1].tag in ("enc", "device-identity")
    assert [c.attrs.get("type", c.tag) for c in plan[B.jid.with_device(5)].children] == [
        "pkmsg",
        "skmsg",
        "device-identity",
    ]
    assert [c.attrs["type"] for c in plan[B.jid].children] == ["skmsg"]
    outsider = route_message(registry, C.jid, Node("message", {"id": "G2", "to": gid}, [skmsg]), now=NOW)
    assert outsider.ack is not None
    assert outsider.ack.attrs["error"] == "403"
    empty = route_message(registry, B.jid, Node("message", {"id": "G3", "to": gid}), now=NOW)
    assert empty.ack is not None
    assert empty.ack.attrs["error"] == "400"


def test_receipts_go_to_the_senders_devices(registry: MemoryRegistry) -> None:
    receipt = Node(
        "receipt",
        {"id": "M1", "to": A.jid, "type": "read"},
        [Node("list", {}, [Node("item", {"id": "M0"})])],
    )
    routed = route_receipt(registry, B.jid.with_device(5), receipt, now=NOW)
    assert routed.ack is not None
    assert routed.ack.attrs == {"class": "receipt", "id": "M1", "from": A.jid, "type": "read"}
    assert [d.device for d in routed.deliveries] == [A.jid, A.jid.with_device(2)]
    node = routed.deliveries[0].node
    assert node.attrs == {"from": B.jid.with_device(5), "id": "M1", "t": str(NOW), "type": "read"}
    assert [c.tag for c in node.children] == ["list"]
    own = route_receipt(registry, A.jid, Node("receipt", {"id": "M", "to": A.jid, "type": "sender"}), now=NOW)
    assert [d.device for d in own.deliveries] == [A.jid.with_device(2)]


def test_group_receipts_name_the_group_and_participant(registry: MemoryRegistry) -> None:
    gid = _group(registry)
    receipt = Node("receipt", {"id": "G1", "to": gid, "participant": A.jid.with_device(2)})
    routed = route_receipt(registry, B.jid, receipt, now=NOW)
    assert [d.device for d in routed.deliveries] == [A.jid, A.jid.with_device(2)]
    assert routed.deliveries[0].node.attrs == {"from": gid, "participant": B.jid, "id": "G1", "t": str(NOW)}


@pytest.mark.parametrize(
    ("receipt", "code"),
    [
        (Node("receipt", {"to": A.jid}), "400"),
        (Node("receipt", {"id": "x"}), "400"),
        (Node("receipt", {"id": "x", "to": JID("1999", PN)}), "404"),
        (Node("receipt", {"id": "x", "to": JID("5", "g.us")}), "404"),
    ],
)
def test_bad_receipts_are_acked_with_an_error(registry: MemoryRegistry, receipt: Node, code: str) -> None:
    routed = route_receipt(registry, B.jid, receipt, now=NOW)
    assert routed.ack is not None
    assert routed.ack.attrs["error"] == code
    assert routed.deliveries == []


def test_offline_queues_keep_order_per_device() -> None:
    queues = OfflineQueues()
    one, two = A.jid.with_device(2), B.jid
    for i in range(5):
        queues.push(one, Node("message", {"id": str(i)}))
    queues.push(two, Node("receipt", {"id": "r"}))
    assert (queues.pending(one), queues.pending(two)) == (5, 1)
    drained = queues.drain(one)
    assert [n.attrs["id"] for n in drained] == ["0", "1", "2", "3", "4"]
    assert all(n.attrs["offline"] == "1" for n in drained)
    assert queues.drain(one) == []
    queues.forget(two)
    assert queues.pending(two) == 0


def test_new_group_validates(registry: MemoryRegistry) -> None:
    group = new_group(
        registry,
        group_id="1-2",
        subject="s",
        creator=B.jid.with_device(5),
        participants=[A.lid_jid, B.jid, A.jid],
        now=NOW,
    )
    assert group.participants == [B.jid, A.jid]
    assert group.admins == {B.jid}
    node = group_node(group)
    assert node.attrs["id"] == "1-2"
    assert [(p.attrs["jid"], p.attrs.get("type")) for p in node.children] == [(B.jid, "admin"), (A.jid, None)]
    for kwargs, match in [
        ({"creator": JID("1", PN)}, "creator"),
        ({"subject": ""}, "subject"),
        ({"group_id": "12a"}, "group id"),
        ({"participants": [JID("1999", PN)]}, "participant"),
    ]:
        args = {"group_id": "1", "subject": "s", "creator": A.jid, "participants": [], "now": NOW, **kwargs}
        with pytest.raises(LocalProtocolError, match=match):
            new_group(registry, **args)  # type: ignore[arg-type]


def test_group_iqs(registry: MemoryRegistry) -> None:
    create = Node(
        "iq",
        {"id": "c1", "xmlns": "w:g2", "type": "set", "to": JID("", "g.us")},
        [Node("create", {"subject": "made", "key": "K"}, [Node("participant", {"jid": C.jid})])],
    )
    answer, group = answer_group_iq(create, registry, A.jid.with_device(2), now=NOW, new_group_id="777")
    assert group is not None
    assert answer.attrs["type"] == "result"
    assert group.participants == [A.jid, C.jid]
    registry.add_group(group)
    query = Node("iq", {"id": "q", "xmlns": "w:g2", "type": "get", "to": group.jid}, [Node("query")])
    answer, none = answer_group_iq(query, registry, C.jid, now=NOW, new_group_id="unused")
    assert none is None
    assert answer.children[0].attrs["subject"] == "made"
    assert answer.children[0].attrs["creation"] == str(NOW)
    forbidden, _ = answer_group_iq(query, registry, B.jid, now=NOW, new_group_id="x")
    assert forbidden.children[0].attrs["code"] == "403"
    query.attrs["to"] = JID("404", "g.us")
    missing, _ = answer_group_iq(query, registry, C.jid, now=NOW, new_group_id="x")
    assert missing.children[0].attrs["code"] == "404"
    bad_participant = Node(
        "iq", {"id": "b"}, [Node("create", {"subject": "s"}, [Node("participant", {"jid": "?"})])]
    )
    assert (
        answer_group_iq(bad_participant, registry, A.jid, now=NOW, new_group_id="8")[0].attrs["type"]
        == "error"
    )
    unknown = Node(
        "iq",
        {"id": "b"},
        [Node("create", {"subject": "s"}, [Node("participant", {"jid": "1@s.whatsapp.net"})])],
    )
    assert answer_group_iq(unknown, registry, A.jid, now=NOW, new_group_id="8")[0].attrs["type"] == "error"
    assert answer_group_iq(Node("iq", {"id": "z"}), registry, A.jid, now=NOW, new_group_id="8")[1] is None


# --------------------------------------------------------------------- garbage never raises


_JIDS = st.sampled_from(
    [
        A.jid,
        B.jid.with_device(5),
        B.lid_jid,
        JID(C.lid, "lid", device=7),
        JID("120363000000000009", "g.us"),
        JID("999", "g.us"),
        JID("", PN),
        JID("status", "broadcast"),
        JID("1", "newsletter"),
        JID("1999", PN, device=3),
    ]
)
_VALUES = st.one_of(
    _JIDS,
    st.sampled_from(["", "x", "0", "pkmsg", "skmsg", "msg", "read", "+1555", "a@b@c"]),
    st.text(max_size=5),
)
_KEYS = st.sampled_from(
    ["id", "to", "from", "type", "participant", "jid", "recipient", "subject", "v", "count"]
)
_TAGS = st.sampled_from(
    [
        "message",
        "receipt",
        "participants",
        "to",
        "enc",
        "device-identity",
        "list",
        "item",
        "iq",
        "usync",
        "query",
        "user",
        "devices",
        "contact",
        "lid",
        "key",
        "create",
        "participant",
        "x",
    ]
)


def _nodes() -> st.SearchStrategy[Node]:
    leaf = st.builds(
        Node,
        _TAGS,
        st.dictionaries(_KEYS, _VALUES, max_size=4),
        st.one_of(st.none(), st.binary(max_size=8), st.text(max_size=8)),
    )
    return st.recursive(
        leaf,
        lambda children: st.builds(
            Node, _TAGS, st.dictionaries(_KEYS, _VALUES, max_size=4), st.lists(children, max_size=4)
        ),
        max_leaves=12,
    )


@settings(max_examples=300)
@given(node=_nodes(), sender=_JIDS)
def test_garbage_stanzas_are_answered_never_raised(node: Node, sender: JID) -> None:
    registry = MemoryRegistry()
    for account in (A, B, C):
        registry.add_account(account)
    registry.devices[B.phone][5] = None
    registry.add_group(
        new_group(
            registry, group_id="120363000000000009", subject="g", creator=A.jid, participants=[B.jid], now=1
        )
    )
    for route in (route_message, route_receipt):
        routed = route(registry, sender, node, now=NOW)
        assert routed.ack is not None
        assert routed.ack.tag == "ack"
        assert (routed.error is None) or not routed.deliveries
        for delivery in routed.deliveries:
            assert delivery.device.server == PN
    for answer in (answer_usync(node, registry), answer_prekey_fetch(node, registry)):
        assert answer.tag == "iq"
        assert answer.attrs["type"] in ("result", "error")
    answer, _ = answer_group_iq(node, registry, sender, now=NOW, new_group_id="5")
    assert answer.attrs["type"] in ("result", "error")
