"""WhatsApp's protobuf messages, as waproto uses them: generated classes and one safe parser.

The classes come from our own ``.proto`` sources beside this file (a subset of WhatsApp's schema with
WhatsApp's field numbers and types, snake_case names), compiled by ``scripts/gen_proto.py`` into the
committed ``*_pb2.py``/``*_pb2.pyi`` modules:

- ``handshake_pb2``: ``HandshakeMessage``, ``CertChain`` (with ``CertChain.NoiseCertificate.Details``),
  ``ClientPayload`` (``UserAgent``, ``WebInfo``, ``DevicePairingRegistrationData``, ...), ``DeviceProps``;
- ``adv_pb2``: the companion-identity (ADV) messages, ``ADVEncryptionType`` and the business
  ``VerifiedNameCertificate``;
- ``e2e_pb2``: ``Message`` (text, media, location, contact, reaction, poll, protocol, device-sent,
  sender-key-distribution and the ``FutureProofMessage`` wrappers), ``MessageKey``, ``ContextInfo``,
  ``MessageContextInfo``, ``DeviceListMetadata``;
- ``signal_pb2``: the Signal wire messages ``SignalMessage``, ``PreKeySignalMessage``,
  ``SenderKeyMessage``, ``SenderKeyDistributionMessage``.

The sources are proto3 with ``optional`` on every singular field (as Baileys' WAProto is): every field has
explicit presence, so test it with ``msg.HasField("name")``; enums are open, so an enum value newer than
this schema reads back as its number; strings must be valid UTF-8.

Serialise with ``msg.SerializeToString()``. Parse bytes from the network with :func:`decode`, which turns
protobuf's own decode failures into :class:`waproto.errors.DecodeError`. Fields this schema does not
define are kept as unknown fields and written back unchanged on re-serialisation.

This package is not the place for protocol logic (what the fields mean, signatures, encryption): that
lives in the modules that use these messages.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from google.protobuf.message import DecodeError as _ProtobufDecodeError

from waproto.errors import DecodeError
from waproto.proto.adv_pb2 import (
    ADVDeviceIdentity,
    ADVEncryptionType,
    ADVKeyIndexList,
    ADVSignedDeviceIdentity,
    ADVSignedDeviceIdentityHMAC,
    ADVSignedKeyIndexList,
    LocalizedName,
    VerifiedNameCertificate,
)
from waproto.proto.e2e_pb2 import (
    ContextInfo,
    DeviceListMetadata,
    DisappearingMode,
    GroupMention,
    Message,
    MessageContextInfo,
    MessageKey,
)
from waproto.proto.handshake_pb2 import CertChain, ClientPayload, DeviceProps, HandshakeMessage
from waproto.proto.signal_pb2 import (
    PreKeySignalMessage,
    SenderKeyDistributionMessage,
    SenderKeyMessage,
    SignalMessage,
)

__all__ = [
    "ADVDeviceIdentity",
    "ADVEncryptionType",
    "ADVKeyIndexList",
    "ADVSignedDeviceIdentity",
    "ADVSignedDeviceIdentityHMAC",
    "ADVSignedKeyIndexList",
    "CertChain",
    "ClientPayload",
    "ContextInfo",
    "DeviceListMetadata",
    "DeviceProps",
    "DisappearingMode",
    "GroupMention",
    "HandshakeMessage",
    "LocalizedName",
    "Message",
    "MessageContextInfo",
    "MessageKey",
    "PreKeySignalMessage",
    "SenderKeyDistributionMessage",
    "SenderKeyMessage",
    "SignalMessage",
    "VerifiedNameCertificate",
    "decode",
]

class _Parseable(Protocol):
    def ParseFromString(self, serialized: bytes, /) -> int: ...


_M = TypeVar("_M", bound=_Parseable)


def decode(message_type: type[_M], data: bytes | bytearray | memoryview) -> _M:
    """Parse ``data`` as a ``message_type`` (e.g. ``decode(HandshakeMessage, frame)``).

    Raises :class:`waproto.errors.DecodeError` (a ``RemoteProtocolError``) when the bytes are not a valid
    encoding of that message: truncated, a bad tag or wire type, a length running past the end, a string
    that is not UTF-8, nesting too deep. Bytes that are valid protobuf but carry fields this schema does
    not define parse fine.
    """
    message = message_type()
    try:
        message.ParseFromString(bytes(data))
    except _ProtobufDecodeError as exc:
        raise DecodeError(f"malformed {message_type.__qualname__} protobuf ({len(data)} bytes): {exc}") from exc
    return message
