"""waproto.pairing.link_code_nodes: the three link-code stanzas, built, sent through the codec, parsed."""

from __future__ import annotations

import pytest

from waproto.binary import Node, marshal, unmarshal
from waproto.errors import DecodeError, LocalProtocolError
from waproto.jid import JID, SERVER_JID
from waproto.pairing.link_code_nodes import (
    companion_finish_node,
    companion_hello_node,
    companion_hello_result_node,
    parse_companion_finish,
    parse_companion_hello,
    parse_companion_hello_result,
    parse_primary_hello,
    primary_hello_node,
)

PHONE = JID.parse("15550001111@s.whatsapp.net")
WRAPPED = bytes(range(80))
KEY = bytes(range(100, 132))
BUNDLE = bytes(range(156))


def wire(node: Node) -> Node:
    return unmarshal(marshal(node))


def hello() -> Node:
    return companion_hello_node(
        iq_id="h1",
        phone=PHONE,
        wrapped_ephemeral=WRAPPED,
        noise_public=KEY,
        platform_id="1",
        platform_display="Chrome (Ubuntu)",
    )


def test_companion_hello_shape() -> None:
    node = hello()
    assert node.tag == "iq"
    assert node.attrs == {"to": SERVER_JID, "type": "set", "id": "h1", "xmlns": "md"}
    (reg,) = node.children
    assert reg.tag == "link_code_companion_reg"
    assert reg.attrs == {"jid": PHONE, "stage": "companion_hello", "should_show_push_notification": "true"}
    assert [(c.tag, c.content) for c in reg.children] == [
        ("link_code_pairing_wrapped_companion_ephemeral_pub", WRAPPED),
        ("companion_server_auth_key_pub", KEY),
        ("companion_platform_id", "1"),
        ("companion_platform_display", "Chrome (Ubuntu)"),
        ("link_code_pairing_nonce", "0"),
    ]


@pytest.mark.parametrize("through_the_wire", [False, True])
def test_companion_hello_round_trip(through_the_wire: bool) -> None:
    node = wire(hello()) if through_the_wire else hello()
    parsed = parse_companion_hello(node)
    assert (parsed.iq_id, parsed.phone, parsed.wrapped_ephemeral, parsed.noise_public) == ("h1", PHONE, WRAPPED, KEY)
    assert (parsed.platform_id, parsed.platform_display, parsed.show_push_notification) == ("1", "Chrome (Ubuntu)", True)
    quiet = companion_hello_node(
        iq_id="h2", phone=PHONE, wrapped_ephemeral=WRAPPED, noise_public=KEY, platform_id="9",
        platform_display="Other (Linux)", show_push_notification=False,
    )
    assert parse_companion_hello(wire(quiet)).show_push_notification is False


def test_companion_hello_repr_omits_key_bytes() -> None:
    assert WRAPPED.hex()[:16] not in repr(parse_companion_hello(hello()))


def test_hello_result_round_trip() -> None:
    node = companion_hello_result_node(iq_id="h1", ref=b"2@REF")
    assert node.attrs == {"from": SERVER_JID, "type": "result", "id": "h1"}
    assert parse_companion_hello_result(wire(node)) == b"2@REF"


def test_primary_hello_round_trip() -> None:
    node = primary_hello_node(
        notification_id="n1", ref=b"2@REF", wrapped_ephemeral=WRAPPED, primary_identity=KEY, server_time=1764590000
    )
    assert node.tag == "notification"
    assert node.attrs == {"from": SERVER_JID, "type": "link_code_companion_reg", "id": "n1", "t": "1764590000"}
    assert node.children[0].attrs == {"stage": "primary_hello"}
    parsed = parse_primary_hello(wire(node))
    assert (parsed.notification_id, parsed.ref, parsed.wrapped_ephemeral, parsed.primary_identity) == (
        "n1",
        b"2@REF",
        WRAPPED,
        KEY,
    )


def test_companion_finish_round_trip() -> None:
    node = companion_finish_node(iq_id="f1", phone=PHONE, wrapped_key_bundle=BUNDLE, companion_identity=KEY, ref=b"R")
    assert node.attrs == {"to": SERVER_JID, "type": "set", "id": "f1", "xmlns": "md"}
    reg = node.children[0]
    assert reg.attrs == {"jid": PHONE, "stage": "companion_finish"}
    assert [c.tag for c in reg.children] == [
        "link_code_pairing_wrapped_key_bundle",
        "companion_identity_public",
        "link_code_pairing_ref",
    ]
    parsed = parse_companion_finish(wire(node))
    assert (parsed.iq_id, parsed.phone, parsed.wrapped_key_bundle, parsed.companion_identity, parsed.ref) == (
        "f1",
        PHONE,
        BUNDLE,
        KEY,
        b"R",
    )


def test_text_children_may_arrive_as_bytes_and_jids_as_strings() -> None:
    node = hello()
    reg = node.children[0]
    reg.attrs["jid"] = "15550001111@s.whatsapp.net"
    for child in reg.children:
        if isinstance(child.content, str):
            child.content = child.content.encode()
    parsed = parse_companion_hello(node)
    assert (parsed.phone, parsed.platform_id, parsed.platform_display) == (PHONE, "1", "Chrome (Ubuntu)")


def test_whatsmeow_nonce_byte_is_accepted() -> None:
    node = hello()
    nonce = node.children[0].child("link_code_pairing_nonce")
    assert nonce is not None
    nonce.content = b"\x00"
    assert parse_companion_hello(node).iq_id == "h1"


def _drop(node: Node, tag: str) -> Node:
    reg = node.children[0]
    reg.content = [c for c in reg.children if c.tag != tag]
    return node


def _set(node: Node, tag: str, content: bytes | str) -> Node:
    child = node.children[0].child(tag)
    assert child is not None
    child.content = content
    return node


def _stage(node: Node, stage: str) -> Node:
    node.children[0].attrs["stage"] = stage
    return node


def _attr(node: Node, key: str, value: str | None) -> Node:
    target = node if key == "id" else node.children[0]
    if value is None:
        del target.attrs[key]
    else:
        target.attrs[key] = value
    return node


@pytest.mark.parametrize(
    "node",
    [
        Node("iq", {"id": "x"}),
        _stage(hello(), "companion_finish"),
        _drop(hello(), "link_code_pairing_wrapped_companion_ephemeral_pub"),
        _set(hello(), "link_code_pairing_wrapped_companion_ephemeral_pub", WRAPPED[:79]),
        _set(hello(), "companion_server_auth_key_pub", KEY + b"\x00"),
        _set(hello(), "companion_platform_display", b"\xff\xfe"),
        _set(hello(), "companion_platform_id", b""),
        _attr(hello(), "jid", None),
        _attr(hello(), "jid", "not a jid"),
        _attr(hello(), "id", None),
    ],
)
def test_malformed_companion_hello(node: Node) -> None:
    with pytest.raises(DecodeError) as info:
        parse_companion_hello(node)
    assert info.value.node is node


def primary() -> Node:
    return primary_hello_node(notification_id="n", ref=b"R", wrapped_ephemeral=WRAPPED, primary_identity=KEY, server_time=1)


def finish() -> Node:
    return companion_finish_node(iq_id="f", phone=PHONE, wrapped_key_bundle=BUNDLE, companion_identity=KEY, ref=b"R")


@pytest.mark.parametrize(
    "node",
    [
        _stage(primary(), "companion_hello"),
        _drop(primary(), "link_code_pairing_ref"),
        _drop(primary(), "primary_identity_pub"),
        _set(primary(), "link_code_pairing_wrapped_primary_ephemeral_pub", WRAPPED + b"\x00"),
        _set(primary(), "primary_identity_pub", KEY[:16]),
        _attr(primary(), "id", None),
    ],
)
def test_malformed_primary_hello(node: Node) -> None:
    with pytest.raises(DecodeError):
        parse_primary_hello(node)


@pytest.mark.parametrize(
    "node",
    [
        _stage(finish(), "primary_hello"),
        _drop(finish(), "link_code_pairing_ref"),
        _set(finish(), "link_code_pairing_wrapped_key_bundle", BUNDLE[:-1]),
        _set(finish(), "companion_identity_public", KEY * 2),
        _attr(finish(), "jid", None),
    ],
)
def test_malformed_companion_finish(node: Node) -> None:
    with pytest.raises(DecodeError):
        parse_companion_finish(node)


def test_hello_result_without_ref() -> None:
    with pytest.raises(DecodeError):
        parse_companion_hello_result(Node("iq", {"type": "result", "id": "1"}))
    with pytest.raises(DecodeError):
        parse_companion_hello_result(Node("iq", {"type": "result", "id": "1"}, [Node("link_code_companion_reg")]))


def test_builders_refuse_wrong_lengths() -> None:
    with pytest.raises(LocalProtocolError):
        companion_hello_node(iq_id="h", phone=PHONE, wrapped_ephemeral=WRAPPED[:1], noise_public=KEY, platform_id="1", platform_display="x")
    with pytest.raises(LocalProtocolError):
        primary_hello_node(notification_id="n", ref=b"R", wrapped_ephemeral=WRAPPED, primary_identity=KEY[:1], server_time=1)
    with pytest.raises(LocalProtocolError):
        companion_finish_node(iq_id="f", phone=PHONE, wrapped_key_bundle=BUNDLE[:1], companion_identity=KEY, ref=b"R")
