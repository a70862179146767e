"""The stanzas of pairing-code linking: ``<link_code_companion_reg>`` in its three stages, built and parsed.

PROTOCOL.md §4.4. The companion sends ``companion_hello`` (an iq set; the server answers with a
``<link_code_pairing_ref>``), the server relays the phone's ``primary_hello`` to the companion as a
``<notification type="link_code_companion_reg">``, and the companion sends ``companion_finish`` (an iq
set). The bytes inside come from ``waproto.pairing.link_code``.

Builders write what Baileys writes (the nonce as the string ``"0"``; whatsmeow sends the byte ``00``,
which the parser accepts too). Parsers accept text children as ``str`` or ``bytes`` (the binary decoder
yields either, depending on how the sender encoded them) and raise ``DecodeError`` carrying the node for
a missing child, a wrong stage or a value of the wrong length.

This module is not the crypto (``link_code``), the pair-success that follows (``device_identity``) or
the iq bookkeeping of the client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from waproto.binary import AttrValue, Node
from waproto.errors import DecodeError, LocalProtocolError
from waproto.jid import JID, SERVER_JID
from waproto.pairing.link_code import KEY_BUNDLE_LENGTH, WRAPPED_KEY_LENGTH

__all__ = [
    "LINK_CODE_TAG",
    "CompanionFinishRequest",
    "CompanionHelloRequest",
    "PrimaryHelloNotification",
    "companion_finish_node",
    "companion_hello_node",
    "companion_hello_result_node",
    "parse_companion_finish",
    "parse_companion_hello",
    "parse_companion_hello_result",
    "parse_primary_hello",
    "primary_hello_node",
]

#: The element (and notification type) of every stage.
LINK_CODE_TAG: Final = "link_code_companion_reg"

_KEY: Final = 32


def _iq(iq_id: str, kind: str, attrs: dict[str, AttrValue], children: list[Node]) -> Node:
    return Node("iq", {"to": SERVER_JID, "type": kind, "id": iq_id, "xmlns": "md"}, [Node(LINK_CODE_TAG, attrs, children)])


def _reg(node: Node, stage: str | None, what: str) -> Node:
    reg = node.child(LINK_CODE_TAG)
    if reg is None or (stage is not None and reg.attrs.get("stage") != stage):
        raise DecodeError(f"{what}: no <{LINK_CODE_TAG} stage={stage!r}>", node=node)
    return reg


def _bytes(reg: Node, tag: str, node: Node, length: int | None = None) -> bytes:
    child = reg.child(tag)
    content = None if child is None else child.content
    if isinstance(content, str):
        content = content.encode("utf-8")
    if not isinstance(content, bytes) or not content:
        raise DecodeError(f"<{LINK_CODE_TAG}> has no <{tag}> content", node=node)
    if length is not None and len(content) != length:
        raise DecodeError(f"<{tag}> is {len(content)} bytes, not {length}", node=node)
    return content


def _text(reg: Node, tag: str, node: Node) -> str:
    raw = _bytes(reg, tag, node)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"<{tag}> is not UTF-8 text", node=node) from exc


def _id(node: Node, what: str) -> str:
    iq_id = node.attrs.get("id")
    if not isinstance(iq_id, str) or not iq_id:
        raise DecodeError(f"{what} has no id", node=node)
    return iq_id


def _phone(reg: Node, node: Node) -> JID:
    value = reg.attrs.get("jid")
    if isinstance(value, str):
        try:
            value = JID.parse(value)
        except LocalProtocolError as exc:
            raise DecodeError(f"<{LINK_CODE_TAG} jid> is not a JID", node=node) from exc
    if not isinstance(value, JID):
        raise DecodeError(f"<{LINK_CODE_TAG}> has no jid", node=node)
    return value


# --------------------------------------------------------------------------- companion_hello


@dataclass(frozen=True, slots=True)
class CompanionHelloRequest:
    """A parsed ``companion_hello`` iq (what the server, or the sandbox playing it, receives)."""

    #: The iq id, to answer with :func:`companion_hello_result_node`.
    iq_id: str
    #: The phone number's JID (``<number>@s.whatsapp.net``) the companion wants to link to.
    phone: JID
    #: The companion's wrapped ephemeral public key (80 bytes).
    wrapped_ephemeral: bytes = field(repr=False)
    #: The companion's Noise static public key (32 bytes).
    noise_public: bytes = field(repr=False)
    #: ``companion_platform_id``: a client type number as text (``"1"`` for Chrome).
    platform_id: str
    #: ``companion_platform_display``, e.g. ``"Chrome (Ubuntu)"``.
    platform_display: str
    #: Whether the phone should show a push notification.
    show_push_notification: bool


def companion_hello_node(
    *,
    iq_id: str,
    phone: JID,
    wrapped_ephemeral: bytes,
    noise_public: bytes,
    platform_id: str,
    platform_display: str,
    show_push_notification: bool = True,
) -> Node:
    """The companion's ``<iq type="set" xmlns="md"><link_code_companion_reg stage="companion_hello">``."""
    if len(wrapped_ephemeral) != WRAPPED_KEY_LENGTH or len(noise_public) != _KEY:
        raise LocalProtocolError("the wrapped ephemeral key is 80 bytes and the noise key 32")
    attrs: dict[str, AttrValue] = {
        "jid": phone,
        "stage": "companion_hello",
        "should_show_push_notification": "true" if show_push_notification else "false",
    }
    return _iq(
        iq_id,
        "set",
        attrs,
        [
            Node("link_code_pairing_wrapped_companion_ephemeral_pub", {}, bytes(wrapped_ephemeral)),
            Node("companion_server_auth_key_pub", {}, bytes(noise_public)),
            Node("companion_platform_id", {}, platform_id),
            Node("companion_platform_display", {}, platform_display),
            Node("link_code_pairing_nonce", {}, "0"),
        ],
    )


def parse_companion_hello(node: Node) -> CompanionHelloRequest:
    """Read a ``companion_hello`` iq."""
    reg = _reg(node, "companion_hello", "companion_hello")
    return CompanionHelloRequest(
        iq_id=_id(node, "companion_hello"),
        phone=_phone(reg, node),
        wrapped_ephemeral=_bytes(reg, "link_code_pairing_wrapped_companion_ephemeral_pub", node, WRAPPED_KEY_LENGTH),
        noise_public=_bytes(reg, "companion_server_auth_key_pub", node, _KEY),
        platform_id=_text(reg, "companion_platform_id", node),
        platform_display=_text(reg, "companion_platform_display", node),
        show_push_notification=reg.attrs.get("should_show_push_notification") == "true",
    )


def companion_hello_result_node(*, iq_id: str, ref: bytes) -> Node:
    """The server's answer to ``companion_hello``: ``<iq type="result">`` naming the pairing ``ref``."""
    return Node(
        "iq",
        {"from": SERVER_JID, "type": "result", "id": iq_id},
        [Node(LINK_CODE_TAG, {}, [Node("link_code_pairing_ref", {}, bytes(ref))])],
    )


def parse_companion_hello_result(node: Node) -> bytes:
    """The ``link_code_pairing_ref`` of the server's answer to ``companion_hello``."""
    return _bytes(_reg(node, None, "companion_hello result"), "link_code_pairing_ref", node)


# --------------------------------------------------------------------------- primary_hello


@dataclass(frozen=True, slots=True)
class PrimaryHelloNotification:
    """A parsed ``primary_hello`` notification (what the companion receives)."""

    #: The notification id, to acknowledge.
    notification_id: str
    #: The pairing ref; the companion echoes it in ``companion_finish``.
    ref: bytes
    #: The phone's wrapped ephemeral public key (80 bytes).
    wrapped_ephemeral: bytes = field(repr=False)
    #: The phone's identity public key (32 bytes).
    primary_identity: bytes = field(repr=False)


def primary_hello_node(
    *, notification_id: str, ref: bytes, wrapped_ephemeral: bytes, primary_identity: bytes, server_time: int
) -> Node:
    """``<notification type="link_code_companion_reg"><link_code_companion_reg stage="primary_hello">``."""
    if len(wrapped_ephemeral) != WRAPPED_KEY_LENGTH or len(primary_identity) != _KEY:
        raise LocalProtocolError("the wrapped ephemeral key is 80 bytes and the identity key 32")
    return Node(
        "notification",
        {"from": SERVER_JID, "type": LINK_CODE_TAG, "id": notification_id, "t": str(server_time)},
        [
            Node(
                LINK_CODE_TAG,
                {"stage": "primary_hello"},
                [
                    Node("link_code_pairing_wrapped_primary_ephemeral_pub", {}, bytes(wrapped_ephemeral)),
                    Node("primary_identity_pub", {}, bytes(primary_identity)),
                    Node("link_code_pairing_ref", {}, bytes(ref)),
                ],
            )
        ],
    )


def parse_primary_hello(node: Node) -> PrimaryHelloNotification:
    """Read a ``primary_hello`` notification."""
    reg = _reg(node, "primary_hello", "primary_hello")
    return PrimaryHelloNotification(
        notification_id=_id(node, "primary_hello"),
        ref=_bytes(reg, "link_code_pairing_ref", node),
        wrapped_ephemeral=_bytes(reg, "link_code_pairing_wrapped_primary_ephemeral_pub", node, WRAPPED_KEY_LENGTH),
        primary_identity=_bytes(reg, "primary_identity_pub", node, _KEY),
    )


# --------------------------------------------------------------------------- companion_finish


@dataclass(frozen=True, slots=True)
class CompanionFinishRequest:
    """A parsed ``companion_finish`` iq (what the server, or the sandbox, receives)."""

    #: The iq id.
    iq_id: str
    #: The phone number's JID.
    phone: JID
    #: The encrypted key bundle (156 bytes).
    wrapped_key_bundle: bytes = field(repr=False)
    #: The companion's identity public key (32 bytes).
    companion_identity: bytes = field(repr=False)
    #: The pairing ref from ``primary_hello``.
    ref: bytes


def companion_finish_node(
    *, iq_id: str, phone: JID, wrapped_key_bundle: bytes, companion_identity: bytes, ref: bytes
) -> Node:
    """The companion's ``<iq type="set" xmlns="md"><link_code_companion_reg stage="companion_finish">``."""
    if len(wrapped_key_bundle) != KEY_BUNDLE_LENGTH or len(companion_identity) != _KEY:
        raise LocalProtocolError("the key bundle is 156 bytes and the identity key 32")
    return _iq(
        iq_id,
        "set",
        {"jid": phone, "stage": "companion_finish"},
        [
            Node("link_code_pairing_wrapped_key_bundle", {}, bytes(wrapped_key_bundle)),
            Node("companion_identity_public", {}, bytes(companion_identity)),
            Node("link_code_pairing_ref", {}, bytes(ref)),
        ],
    )


def parse_companion_finish(node: Node) -> CompanionFinishRequest:
    """Read a ``companion_finish`` iq."""
    reg = _reg(node, "companion_finish", "companion_finish")
    return CompanionFinishRequest(
        iq_id=_id(node, "companion_finish"),
        phone=_phone(reg, node),
        wrapped_key_bundle=_bytes(reg, "link_code_pairing_wrapped_key_bundle", node, KEY_BUNDLE_LENGTH),
        companion_identity=_bytes(reg, "companion_identity_public", node, _KEY),
        ref=_bytes(reg, "link_code_pairing_ref", node),
    )
