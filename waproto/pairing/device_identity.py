"""The signed device identity ("ADV") that links a companion to an account: both sides of pair-success.

When the primary phone links a companion (by QR or by pairing code) it issues an ``ADVDeviceIdentity``
(raw id, timestamp, key index, account and device type), signs it with its account identity key over the
companion's identity key, wraps it in an HMAC under the companion's adv secret and has the server deliver
it in ``<iq type="set" xmlns="md"><pair-success>`` (PROTOCOL.md §4.3). The companion checks the HMAC and
the account signature, countersigns with its own identity key and answers with
``<pair-device-sign><device-identity key-index>``; then the server restarts the stream (515).

Byte layouts (``||`` is concatenation; keys are raw 32-byte Curve25519 keys, no ``05`` prefix):

- HMAC: ``HMAC-SHA256(adv secret, [06 05 if the container's account type is HOSTED] || details)``,
  where ``details`` is the serialised ``ADVSignedDeviceIdentity``;
- account signature: XEdDSA by the account key over ``prefix || identity details || companion identity``,
  prefix ``06 05`` when the identity's *device* type is HOSTED, else ``06 00`` (whatsmeow, Baileys 7);
- device signature: XEdDSA by the companion over ``06 01 || identity details || companion identity ||
  account key``. Baileys 6 signs hosted accounts with ``06 06`` instead; the phone side accepts that
  too, for hosted accounts only.

Unlike Baileys (whose signature check is a no-op, PROTOCOL.md §12.1) the companion side here really
verifies the account signature. Every failed check is a distinct ``PairingError`` subclass
(``BadDeviceIdentityHMAC``, ``BadAccountSignature``, ``BadDeviceSignature``); malformed stanzas and
protobufs are ``DecodeError``. Time and ids are parameters: nothing here reads a clock or draws
randomness.

This module is not the pairing-code key exchange (``waproto.pairing.link_code``), the QR string
(``waproto.pairing.qr``) or the storage of credentials; it does not send anything.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Final

from waproto import proto
from waproto.binary import AttrValue, Node
from waproto.errors import (
    BadAccountSignature,
    BadDeviceIdentityHMAC,
    BadDeviceSignature,
    DecodeError,
    LocalProtocolError,
    PairingError,
    WAProtoError,
)
from waproto.jid import JID, SERVER_JID
from waproto.proto import (
    ADVDeviceIdentity,
    ADVEncryptionType,
    ADVSignedDeviceIdentity,
    ADVSignedDeviceIdentityHMAC,
)
from waproto.signal import curve
from waproto.signal.curve import KeyPair

__all__ = [
    "ACCOUNT_SIGNATURE_PREFIX",
    "DEVICE_SIGNATURE_PREFIX",
    "E2EE",
    "HOSTED",
    "HOSTED_ACCOUNT_SIGNATURE_PREFIX",
    "HOSTED_DEVICE_SIGNATURE_PREFIX",
    "PairSuccess",
    "PairedDevice",
    "account_signature_message",
    "complete_pairing",
    "device_identity_hmac",
    "device_signature_message",
    "issue_device_identity",
    "pair_device_sign_reply",
    "pair_error_reply",
    "pair_success_node",
    "parse_pair_success",
    "verify_device_identity",
    "verify_pair_device_sign",
]

#: ``ADVEncryptionType`` values: an ordinary end-to-end encrypted account or device.
E2EE: Final = ADVEncryptionType.E2EE
#: ``ADVEncryptionType`` values: an account or device hosted by a business provider.
HOSTED: Final = ADVEncryptionType.HOSTED

#: Prefix of the account signature message (and, for hosted accounts, of the HMAC input: see below).
ACCOUNT_SIGNATURE_PREFIX: Final = b"\x06\x00"
#: Prefix of the device signature message.
DEVICE_SIGNATURE_PREFIX: Final = b"\x06\x01"
#: Prefix of the account signature for a hosted device, and of the HMAC input for a hosted account.
HOSTED_ACCOUNT_SIGNATURE_PREFIX: Final = b"\x06\x05"
#: Prefix Baileys 6 uses for the device signature of a hosted account.
HOSTED_DEVICE_SIGNATURE_PREFIX: Final = b"\x06\x06"

_KEY_LENGTH: Final = 32
_SIGNATURE_LENGTH: Final = 64
_MAX_U32: Final = 0xFFFFFFFF


# --------------------------------------------------------------------------- byte layouts


def device_identity_hmac(adv_secret: bytes, details: bytes, account_type: int = E2EE) -> bytes:
    """The 32-byte HMAC of an ``ADVSignedDeviceIdentityHMAC`` over ``details`` (a serialised
    ``ADVSignedDeviceIdentity``), keyed with the adv secret; hosted accounts prefix ``06 05``."""
    prefix = HOSTED_ACCOUNT_SIGNATURE_PREFIX if account_type == HOSTED else b""
    return hmac.new(bytes(adv_secret), prefix + bytes(details), hashlib.sha256).digest()


def account_signature_message(details: bytes, companion_identity: bytes, device_type: int = E2EE) -> bytes:
    """What the account key signs: prefix (hosted device: ``06 05``, else ``06 00``), the serialised
    ``ADVDeviceIdentity``, the companion's identity key (32 bytes)."""
    prefix = HOSTED_ACCOUNT_SIGNATURE_PREFIX if device_type == HOSTED else ACCOUNT_SIGNATURE_PREFIX
    return prefix + bytes(details) + curve.strip_key_type(companion_identity)


def device_signature_message(
    details: bytes, companion_identity: bytes, account_key: bytes, prefix: bytes = DEVICE_SIGNATURE_PREFIX
) -> bytes:
    """What the companion signs: ``prefix`` (``06 01``), the serialised ``ADVDeviceIdentity``, its own
    identity key and the account key (32 bytes each)."""
    return bytes(prefix) + bytes(details) + curve.strip_key_type(companion_identity) + curve.strip_key_type(account_key)


def _identity_details(signed: ADVSignedDeviceIdentity) -> ADVDeviceIdentity:
    return proto.decode(ADVDeviceIdentity, signed.details)


# --------------------------------------------------------------------------- phone (primary) side


def issue_device_identity(
    *,
    account: KeyPair,
    companion_identity: bytes,
    adv_secret: bytes,
    raw_id: int,
    key_index: int,
    timestamp: int,
    account_type: int = E2EE,
    device_type: int = E2EE,
) -> bytes:
    """Issue a companion's device identity, as the primary phone does: the ``<device-identity>`` content.

    Builds the ``ADVDeviceIdentity`` (``raw_id`` and ``key_index`` are 32-bit, ``timestamp`` is unix
    seconds, both from the caller), signs it with the ``account`` identity key over the companion's
    identity key (32 or 33 bytes) and wraps it in an ``ADVSignedDeviceIdentityHMAC`` keyed with the
    companion's ``adv_secret``. Returns that container serialised. Raises ``LocalProtocolError`` for
    values out of range.
    """
    if len(adv_secret) != _KEY_LENGTH:
        raise LocalProtocolError("the adv secret is 32 bytes")
    for name, value in (("raw_id", raw_id), ("key_index", key_index)):
        if not 0 <= value <= _MAX_U32:
            raise LocalProtocolError(f"{name} must fit in 32 bits, not {value}")
    if not 0 <= timestamp < 2**64:
        raise LocalProtocolError(f"timestamp must be unix seconds, not {timestamp}")
    if account_type not in (E2EE, HOSTED) or device_type not in (E2EE, HOSTED):
        raise LocalProtocolError("account_type and device_type are E2EE or HOSTED")
    try:
        companion = curve.strip_key_type(companion_identity)
    except DecodeError as exc:
        raise LocalProtocolError("the companion identity key is 32 bytes (or 33 with the 05 prefix)") from exc
    details = ADVDeviceIdentity(
        raw_id=raw_id,
        timestamp=timestamp,
        key_index=key_index,
        account_type=ADVEncryptionType.ValueType(account_type),
        device_type=ADVEncryptionType.ValueType(device_type),
    ).SerializeToString()
    signed = ADVSignedDeviceIdentity(
        details=details,
        account_signature_key=account.public,
        account_signature=curve.sign(account.private, account_signature_message(details, companion, device_type)),
    ).SerializeToString()
    container = ADVSignedDeviceIdentityHMAC(
        details=signed,
        hmac=device_identity_hmac(adv_secret, signed, account_type),
        account_type=ADVEncryptionType.ValueType(account_type),
    )
    return bytes(container.SerializeToString())


def pair_success_node(
    *,
    iq_id: str,
    device_identity: bytes,
    jid: JID,
    lid: JID | None = None,
    platform: str = "android",
    business_name: str | None = None,
    server_time: int | None = None,
) -> Node:
    """The ``<iq type="set" xmlns="md"><pair-success>`` the server delivers to a companion once linked.

    ``device_identity`` is :func:`issue_device_identity`'s result; ``jid`` (and ``lid``) the companion's
    new device JIDs; ``platform`` the primary's platform name (``android``, ``iphone``, ``smba``, ...);
    ``server_time`` the optional ``t`` attribute (unix seconds).
    """
    device_attrs: dict[str, AttrValue] = {"jid": jid}
    if lid is not None:
        device_attrs["lid"] = lid
    children = [
        Node("device-identity", {}, bytes(device_identity)),
        Node("platform", {"name": platform}),
        Node("device", device_attrs),
    ]
    if business_name is not None:
        children.append(Node("biz", {"name": business_name}))
    success_attrs: dict[str, AttrValue] = {} if server_time is None else {"t": str(server_time)}
    return Node(
        "iq",
        {"from": SERVER_JID, "type": "set", "id": iq_id, "xmlns": "md"},
        [Node("pair-success", success_attrs, children)],
    )


def verify_pair_device_sign(reply: Node, *, device_identity: bytes, companion_identity: bytes) -> ADVSignedDeviceIdentity:
    """Check a companion's ``<pair-device-sign>`` reply against the identity the phone issued.

    ``device_identity`` is what :func:`issue_device_identity` returned; ``companion_identity`` the
    companion's identity key as the phone knows it (from the QR, or the pairing-code key bundle). The
    reply must countersign exactly the details and account signature issued, under the ``key-index``
    issued, with a valid device signature. Returns the complete ``ADVSignedDeviceIdentity`` (account key
    restored). Raises ``BadDeviceSignature`` when the signature or the signed content is wrong,
    ``DecodeError`` when the reply is malformed.
    """
    container = proto.decode(ADVSignedDeviceIdentityHMAC, device_identity)
    issued = proto.decode(ADVSignedDeviceIdentity, container.details)
    issued_details = _identity_details(issued)
    sign = reply.child("pair-device-sign") if reply.tag == "iq" and reply.attrs.get("type") == "result" else None
    node = sign.child("device-identity") if sign is not None else None
    if node is None or not isinstance(node.content, bytes):
        raise DecodeError("not an iq result with <pair-device-sign><device-identity> bytes", node=reply)
    if node.attrs.get("key-index") != str(issued_details.key_index):
        raise DecodeError(
            f"pair-device-sign key-index {node.attrs.get('key-index')!r} is not {issued_details.key_index}", node=reply
        )
    answered = proto.decode(ADVSignedDeviceIdentity, node.content)
    if answered.details != issued.details or answered.account_signature != issued.account_signature:
        raise BadDeviceSignature("the companion countersigned other details than were issued", node=reply)
    if answered.HasField("account_signature_key") and answered.account_signature_key != issued.account_signature_key:
        raise BadDeviceSignature("the companion names another account key", node=reply)
    prefixes = [DEVICE_SIGNATURE_PREFIX]
    if container.account_type == HOSTED:
        prefixes.append(HOSTED_DEVICE_SIGNATURE_PREFIX)
    try:
        messages = [
            device_signature_message(issued.details, companion_identity, issued.account_signature_key, prefix)
            for prefix in prefixes
        ]
    except DecodeError as exc:
        raise LocalProtocolError("the companion identity and account keys are 32 bytes") from exc
    if not any(curve.verify(companion_identity, message, answered.device_signature) for message in messages):
        raise BadDeviceSignature("the companion's device signature does not verify", node=reply)
    complete = ADVSignedDeviceIdentity()
    complete.CopyFrom(issued)
    complete.device_signature = answered.device_signature
    return complete


# --------------------------------------------------------------------------- companion side


@dataclass(frozen=True, slots=True)
class PairSuccess:
    """The contents of a ``<pair-success>`` stanza, parsed but not yet verified."""

    #: The iq id to answer.
    iq_id: str
    #: The ``ADVSignedDeviceIdentityHMAC`` bytes of ``<device-identity>``.
    device_identity: bytes = field(repr=False)
    #: Our new device JID (phone-number form).
    jid: JID
    #: Our new device LID, when the server sent one.
    lid: JID | None
    #: The primary's platform name (``android``, ``iphone``, ``smba``, ...), when sent.
    platform: str | None
    #: The business name from ``<biz name>``, when sent.
    business_name: str | None
    #: The ``t`` attribute of ``<pair-success>`` (unix seconds), when sent.
    server_time: int | None



def _str_attr(node: Node | None, key: str) -> str | None:
    value = None if node is None else node.attrs.get(key)
    return None if value is None else str(value)


def parse_pair_success(stanza: Node) -> PairSuccess:
    """Read an ``<iq><pair-success>`` stanza. Raises ``DecodeError`` (carrying the node) when it has no id,
    no ``<device-identity>`` bytes or no ``<device jid>``."""
    success = stanza.child("pair-success") if stanza.tag == "iq" else None
    iq_id = stanza.attrs.get("id")
    if success is None or not isinstance(iq_id, str):
        raise DecodeError("not an <iq id> with a <pair-success> child", node=stanza)
    identity = success.child("device-identity")
    device = success.child("device")
    if identity is None or not isinstance(identity.content, bytes):
        raise DecodeError("<pair-success> has no <device-identity> bytes", node=stanza)
    jid = None if device is None else device.jid_attr("jid", stanza=stanza)
    if device is None or jid is None:
        raise DecodeError("<pair-success> has no <device jid>", node=stanza)
    t = _str_attr(success, "t")
    if t is not None and not (t.isascii() and t.isdigit()):
        raise DecodeError(f"<pair-success t={t[:20]!r}> is not unix seconds", node=stanza)
    return PairSuccess(
        iq_id=iq_id,
        device_identity=identity.content,
        jid=jid,
        lid=device.jid_attr("lid", stanza=stanza),
        platform=_str_attr(success.child("platform"), "name"),
        business_name=_str_attr(success.child("biz"), "name"),
        server_time=None if t is None else int(t),
    )


def verify_device_identity(device_identity: bytes, *, adv_secret: bytes, identity: KeyPair) -> ADVSignedDeviceIdentity:
    """Verify a pair-success device identity as the companion and countersign it.

    Checks, in order: the HMAC under ``adv_secret`` (constant-time; ``BadDeviceIdentityHMAC``), then the
    account signature over our ``identity`` key (``BadAccountSignature``, also when the key or signature
    has the wrong length). Returns the ``ADVSignedDeviceIdentity`` with our device signature added and the
    account key kept: the ``account`` credential to store. ``DecodeError`` for malformed protobufs.
    """
    container = proto.decode(ADVSignedDeviceIdentityHMAC, device_identity)
    expected = device_identity_hmac(adv_secret, container.details, container.account_type)
    if not hmac.compare_digest(expected, container.hmac):
        raise BadDeviceIdentityHMAC("pair-success device identity HMAC does not match our adv secret")
    signed = proto.decode(ADVSignedDeviceIdentity, container.details)
    details = _identity_details(signed)
    account_key = signed.account_signature_key
    if len(account_key) != _KEY_LENGTH or len(signed.account_signature) != _SIGNATURE_LENGTH:
        raise BadAccountSignature(
            f"account key of {len(account_key)} bytes / signature of {len(signed.account_signature)} bytes"
        )
    message = account_signature_message(signed.details, identity.public, details.device_type)
    if not curve.verify(account_key, message, signed.account_signature):
        raise BadAccountSignature("the account signature over our identity key does not verify")
    signed.device_signature = curve.sign(
        identity.private, device_signature_message(signed.details, identity.public, account_key)
    )
    return signed


def pair_device_sign_reply(iq_id: str, account: ADVSignedDeviceIdentity) -> Node:
    """The companion's answer to pair-success: ``<iq type="result"><pair-device-sign><device-identity
    key-index>`` carrying ``account`` serialised **without** the account key, as WhatsApp expects."""
    stripped = ADVSignedDeviceIdentity()
    stripped.CopyFrom(account)
    stripped.ClearField("account_signature_key")
    key_index = _identity_details(account).key_index
    return Node(
        "iq",
        {"to": SERVER_JID, "type": "result", "id": iq_id},
        [
            Node(
                "pair-device-sign",
                {},
                [Node("device-identity", {"key-index": str(key_index)}, stripped.SerializeToString())],
            )
        ],
    )


def pair_error_reply(iq_id: str, error: WAProtoError) -> Node:
    """The companion's error answer to a pair-success it refused: ``<iq type="error"><error code text>``;
    401 with the error's text for a failed check, 500 ``internal-error`` for anything else (whatsmeow's)."""
    code, text = (
        (error.reply_code, error.reply_text) if isinstance(error, PairingError) else (500, "internal-error")
    )
    return Node(
        "iq",
        {"to": SERVER_JID, "type": "error", "id": iq_id},
        [Node("error", {"code": str(code), "text": text})],
    )


@dataclass(frozen=True, slots=True)
class PairedDevice:
    """What a verified pair-success gives the companion: credentials to store and the reply to send."""

    #: Our device JID (phone-number form).
    jid: JID
    #: Our device LID, when the server sent one.
    lid: JID | None
    #: The primary's platform name, when sent.
    platform: str | None
    #: The business name, when sent.
    business_name: str | None
    #: The complete signed identity (with our device signature and the account key): store it.
    account: ADVSignedDeviceIdentity = field(repr=False)
    #: The key index the primary assigned to this device.
    key_index: int
    #: The primary's Signal identity key (32 bytes): trust it for the account's device 0.
    primary_identity: bytes
    #: ``<iq type="result"><pair-device-sign>...`` to send back.
    reply: Node = field(repr=False)


def complete_pairing(stanza: Node, *, adv_secret: bytes, identity: KeyPair) -> PairedDevice:
    """Parse, verify and answer a ``<pair-success>`` stanza as the companion.

    Raises what :func:`parse_pair_success` and :func:`verify_device_identity` raise; the caller answers
    such a failure with :func:`pair_error_reply` (``DecodeError`` before the id is known carries the node).
    """
    success = parse_pair_success(stanza)
    account = verify_device_identity(success.device_identity, adv_secret=adv_secret, identity=identity)
    return PairedDevice(
        jid=success.jid,
        lid=success.lid,
        platform=success.platform,
        business_name=success.business_name,
        account=account,
        key_index=_identity_details(account).key_index,
        primary_identity=bytes(account.account_signature_key),
        reply=pair_device_sign_reply(success.iq_id, account),
    )
