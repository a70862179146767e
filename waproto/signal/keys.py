"""Signal key material: identity key pairs, registration ids, signed and one-time prekeys, bundles.

- The **identity key pair** is a plain :class:`waproto.signal.curve.KeyPair`; its public key goes on
  the wire in libsignal's 33-byte form (:func:`signal_public_key`: ``05`` || 32 bytes).
- The **registration id** is a random 14-bit number, 1..16383 (libsignal masks two random bytes with
  ``0x3FFF``; zero is avoided).
- A **signed prekey** is a key pair with an id and the identity key's XEdDSA signature over
  ``05 || public`` (PROTOCOL.md §5.2); a **one-time prekey** is a key pair with an id. WhatsApp sends ids
  as 3 bytes, so ids are 1..2**24-1 and wrap around.
- A :class:`PreKeyBundle` is what a peer publishes (what ``<iq xmlns="encrypt">`` returns, §5.3).

Every record serialises to compact bytes (a version byte, then fixed-width fields) and back;
deserialisation of bytes that are not such a record raises ``DecodeError``.

This module does not build sessions (see ``waproto.signal.session``) and does not store anything
(see ``waproto.signal.store``); it has no randomness of its own: generators take ``rng``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from waproto.errors import DecodeError, InvalidKeySignature, LocalProtocolError
from waproto.signal.curve import KEY_TYPE_DJB, KeyPair, generate_key_pair, sign, strip_key_type, verify

__all__ = [
    "MAX_PRE_KEY_ID",
    "PreKeyBundle",
    "PreKeyRecord",
    "SignedPreKeyRecord",
    "deserialize_identity_key_pair",
    "generate_identity_key_pair",
    "generate_pre_keys",
    "generate_registration_id",
    "generate_signed_pre_key",
    "serialize_identity_key_pair",
    "signal_public_key",
]

#: Prekey ids travel as 3 bytes; they run 1..MAX_PRE_KEY_ID and then wrap to 1.
MAX_PRE_KEY_ID = 0xFFFFFF

_RECORD_VERSION = 1
_PRE_KEY = struct.Struct(">BI32s32s")
_SIGNED_PRE_KEY = struct.Struct(">BIQ32s32s64s")
_IDENTITY = struct.Struct(">B32s32s")


def signal_public_key(public: bytes) -> bytes:
    """The 33-byte libsignal form (``05`` || key) of a 32- or 33-byte public key."""
    return bytes([KEY_TYPE_DJB]) + strip_key_type(public)


def generate_identity_key_pair(rng: Callable[[int], bytes]) -> KeyPair:
    """A new identity key pair (an X25519 key pair, clamped)."""
    return generate_key_pair(rng)


def generate_registration_id(rng: Callable[[int], bytes]) -> int:
    """A new registration id in 1..16383 (14 random bits, zero redrawn)."""
    while True:
        value = int.from_bytes(rng(2), "big") & 0x3FFF
        if value:
            return value


def serialize_identity_key_pair(key_pair: KeyPair) -> bytes:
    """65 bytes: a version byte, the private key, the public key."""
    return _IDENTITY.pack(_RECORD_VERSION, key_pair.private, key_pair.public)


def deserialize_identity_key_pair(data: bytes) -> KeyPair:
    """The key pair :func:`serialize_identity_key_pair` wrote; ``DecodeError`` if ``data`` is not one."""
    _check_layout(_IDENTITY, data, "identity key pair")
    private, public = data[1:33], data[33:65]
    pair = KeyPair.from_private(private)
    if pair.public != public:
        raise DecodeError("identity key pair: the public key does not match the private key")
    return pair


def _check_layout(layout: struct.Struct, data: bytes, what: str) -> None:
    if len(data) != layout.size or data[0] != _RECORD_VERSION:
        raise DecodeError(f"not a serialised {what} (version {_RECORD_VERSION}, {layout.size} bytes)")


def _check_id(key_id: int) -> None:
    if not isinstance(key_id, int) or not 0 <= key_id <= MAX_PRE_KEY_ID:
        raise LocalProtocolError(f"a prekey id is an integer in 0..{MAX_PRE_KEY_ID}")


@dataclass(frozen=True, slots=True)
class PreKeyRecord:
    """A one-time prekey: an id and a key pair. ``repr`` never shows the private key."""

    key_id: int
    key_pair: KeyPair

    def __post_init__(self) -> None:
        _check_id(self.key_id)

    def serialize(self) -> bytes:
        """69 bytes: a version byte, the id (4 bytes, big-endian), the private and the public key."""
        return _PRE_KEY.pack(_RECORD_VERSION, self.key_id, self.key_pair.private, self.key_pair.public)

    @classmethod
    def deserialize(cls, data: bytes) -> PreKeyRecord:
        """The record :meth:`serialize` wrote; ``DecodeError`` if ``data`` is not one."""
        _check_layout(_PRE_KEY, data, "prekey")
        key_id = int.from_bytes(data[1:5], "big")
        private, public = data[5:37], data[37:69]
        if key_id > MAX_PRE_KEY_ID:
            raise DecodeError("serialised prekey: id out of range")
        pair = KeyPair.from_private(private)
        if pair.public != public:
            raise DecodeError("serialised prekey: the public key does not match the private key")
        return cls(key_id, pair)


@dataclass(frozen=True, slots=True)
class SignedPreKeyRecord:
    """A signed prekey: id, key pair, the identity key's signature over ``05 || public``, a timestamp."""

    key_id: int
    key_pair: KeyPair
    #: 64-byte XEdDSA signature by the identity key over ``signal_public_key(key_pair.public)``.
    signature: bytes
    #: When it was made (unix seconds, supplied by the caller; waproto reads no clock). 0 if unknown.
    timestamp: int = 0

    def __post_init__(self) -> None:
        _check_id(self.key_id)
        if len(self.signature) != 64:
            raise LocalProtocolError("a signed prekey signature is 64 bytes")

    def serialize(self) -> bytes:
        """141 bytes: version, id (4), timestamp (8), private, public, signature."""
        return _SIGNED_PRE_KEY.pack(
            _RECORD_VERSION,
            self.key_id,
            self.timestamp,
            self.key_pair.private,
            self.key_pair.public,
            self.signature,
        )

    @classmethod
    def deserialize(cls, data: bytes) -> SignedPreKeyRecord:
        """The record :meth:`serialize` wrote; ``DecodeError`` if ``data`` is not one."""
        _check_layout(_SIGNED_PRE_KEY, data, "signed prekey")
        key_id = int.from_bytes(data[1:5], "big")
        timestamp = int.from_bytes(data[5:13], "big")
        private, public, signature = data[13:45], data[45:77], data[77:141]
        if key_id > MAX_PRE_KEY_ID:
            raise DecodeError("serialised signed prekey: id out of range")
        pair = KeyPair.from_private(private)
        if pair.public != public:
            raise DecodeError("serialised signed prekey: the public key does not match the private key")
        return cls(key_id, pair, signature, timestamp)

    def verify(self, identity_public: bytes) -> bool:
        """Whether the signature is the identity key's over ``05 || public``."""
        return verify(identity_public, signal_public_key(self.key_pair.public), self.signature)


def generate_signed_pre_key(
    identity: KeyPair, key_id: int, rng: Callable[[int], bytes], *, timestamp: int = 0
) -> SignedPreKeyRecord:
    """A new signed prekey with id ``key_id``, signed by ``identity``."""
    _check_id(key_id)
    pair = generate_key_pair(rng)
    return SignedPreKeyRecord(key_id, pair, sign(identity.private, signal_public_key(pair.public)), timestamp)


def generate_pre_keys(start: int, count: int, rng: Callable[[int], bytes]) -> list[PreKeyRecord]:
    """``count`` new one-time prekeys with ids ``start``, ``start + 1``, ... wrapping after 2**24-1 to 1."""
    if not isinstance(start, int) or not 1 <= start <= MAX_PRE_KEY_ID:
        raise LocalProtocolError(f"the first prekey id is an integer in 1..{MAX_PRE_KEY_ID}")
    if not isinstance(count, int) or count < 0:
        raise LocalProtocolError("the prekey count is a non-negative integer")
    return [PreKeyRecord((start - 1 + i) % MAX_PRE_KEY_ID + 1, generate_key_pair(rng)) for i in range(count)]


@dataclass(frozen=True, slots=True)
class PreKeyBundle:
    """What a peer device publishes for session building. Public keys are 32 or 33 bytes (stored 32).

    The one-time prekey is optional (``pre_key_id`` and ``pre_key_public`` both set or both ``None``).
    Construction checks shapes only; the signature is checked when a session is built from the bundle.
    """

    registration_id: int
    device_id: int
    pre_key_id: int | None
    pre_key_public: bytes | None
    signed_pre_key_id: int
    signed_pre_key_public: bytes
    signed_pre_key_signature: bytes
    identity_key: bytes

    def __post_init__(self) -> None:
        object.__setattr__(self, "signed_pre_key_public", strip_key_type(self.signed_pre_key_public))
        object.__setattr__(self, "identity_key", strip_key_type(self.identity_key))
        if self.pre_key_public is not None:
            object.__setattr__(self, "pre_key_public", strip_key_type(self.pre_key_public))
        for name in ("registration_id", "device_id", "signed_pre_key_id", "pre_key_id"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or not 0 <= value < 2**32):
                raise DecodeError(f"a prekey bundle's {name} is not a 32-bit unsigned integer")
        if (self.pre_key_id is None) != (self.pre_key_public is None):
            raise DecodeError("a prekey bundle has both a one-time prekey id and key, or neither")
        if len(self.signed_pre_key_signature) != 64:
            raise DecodeError("a signed prekey signature is 64 bytes")

    def verify_signature(self) -> None:
        """Raise ``InvalidKeySignature`` unless the signed prekey is signed by the identity key."""
        if not verify(
            self.identity_key, signal_public_key(self.signed_pre_key_public), self.signed_pre_key_signature
        ):
            raise InvalidKeySignature("the prekey bundle's signed prekey signature does not verify")
