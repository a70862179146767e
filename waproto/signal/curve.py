"""Curve25519 keys and libsignal-style XEdDSA signatures.

Keys are raw bytes: a private key is 32 bytes (clamped or not; X25519 and signing clamp it), a public
key is the 32-byte Montgomery u-coordinate. Functions that take a public key also accept libsignal's
33-byte form (``05`` || 32 bytes).

Signatures follow the convention of libsignal-node / curve25519-js (which Baileys uses), not the XEdDSA
specification: the clamped X25519 scalar ``a`` is used as the Ed25519 secret scalar without negation,
the nonce is ``SHA-512(a || M) mod L`` (so signing is deterministic), and the sign bit of the Edwards
public key ``a·B`` travels in the top bit of the signature's last byte. Verification converts the
Montgomery key to its Edwards y-coordinate, restores that bit and runs standard Ed25519 verification in
``cryptography``. Signatures made by whatsmeow (random nonces) verify here too.

Signing is constant-time: the secret scalar and the nonce only ever enter libsodium (through PyNaCl's
low-level bindings: ``crypto_scalarmult_ed25519_base_noclamp`` for ``a·B`` and ``r·B``,
``crypto_core_ed25519_scalar_{reduce,mul,add}`` for the arithmetic modulo L). That matters because a
group member signs every sender-key message it sends, so a timing side channel would be exercised at
message rate, not once per pairing. The output is byte-identical to libsignal-node (tested against it).
Verification handles only public values and uses ``cryptography``'s Ed25519. Python ``bytes`` holding a
private key cannot be wiped from memory; nothing here tries to pretend otherwise.

This module is not a Signal session implementation, and it has no randomness of its own: key generation
takes the random bytes source as an argument.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from nacl import bindings as _sodium

from waproto.errors import DecodeError, LocalProtocolError

__all__ = [
    "KEY_TYPE_DJB",
    "KeyPair",
    "generate_key_pair",
    "public_key",
    "shared_secret",
    "sign",
    "strip_key_type",
    "verify",
]

#: The libsignal key-type byte that prefixes a 33-byte public key ("DJB" curve25519).
KEY_TYPE_DJB = 0x05

_P = 2**255 - 19


def _clamp(private: bytes) -> bytes:
    clamped = bytearray(private)
    clamped[0] &= 248
    clamped[31] &= 127
    clamped[31] |= 64
    return bytes(clamped)


def _check_private(private: bytes) -> None:
    if not isinstance(private, bytes | bytearray) or len(private) != 32:
        raise LocalProtocolError("a Curve25519 private key is 32 bytes")


def strip_key_type(public: bytes) -> bytes:
    """Return the 32-byte key of a 32-byte or 33-byte (``05``-prefixed) public key.

    Raises ``DecodeError`` for any other length or prefix (a public key usually comes from the peer).
    """
    if len(public) == 33 and public[0] == KEY_TYPE_DJB:
        return bytes(public[1:])
    if len(public) == 32:
        return bytes(public)
    raise DecodeError(f"not a Curve25519 public key ({len(public)} bytes)")


@dataclass(frozen=True, slots=True)
class KeyPair:
    """An X25519 key pair as raw bytes. ``repr`` never shows the private key."""

    #: 32 bytes.
    private: bytes = field(repr=False)
    #: 32 bytes, no type prefix.
    public: bytes

    @classmethod
    def from_private(cls, private: bytes) -> KeyPair:
        """The key pair of an existing private key."""
        return cls(bytes(private), public_key(private))

    @property
    def signal_public(self) -> bytes:
        """The public key in libsignal's 33-byte form (``05`` || key)."""
        return bytes([KEY_TYPE_DJB]) + self.public


def generate_key_pair(rng: Callable[[int], bytes]) -> KeyPair:
    """A new key pair from 32 bytes of ``rng`` (for example ``secrets.token_bytes``), clamped."""
    private = rng(32)
    _check_private(private)
    return KeyPair.from_private(_clamp(private))


def public_key(private: bytes) -> bytes:
    """The 32-byte X25519 public key of ``private`` (which is clamped first, as X25519 does)."""
    _check_private(private)
    return X25519PrivateKey.from_private_bytes(bytes(private)).public_key().public_bytes_raw()


def shared_secret(private: bytes, public: bytes) -> bytes:
    """X25519(private, public): 32 bytes.

    ``public`` may carry the ``05`` prefix. Raises ``DecodeError`` when it is malformed or of low order
    (the shared secret would be all zeros); ``LocalProtocolError`` when ``private`` is not 32 bytes.
    """
    _check_private(private)
    peer = X25519PublicKey.from_public_bytes(strip_key_type(public))
    try:
        return X25519PrivateKey.from_private_bytes(bytes(private)).exchange(peer)
    except ValueError as exc:
        raise DecodeError("the peer's Curve25519 public key is of low order") from exc


def sign(private: bytes, message: bytes) -> bytes:
    """The deterministic 64-byte XEdDSA signature of ``message`` (libsignal-node convention).

    The secret-dependent work (both base-point multiplications and the scalar arithmetic modulo L) runs
    in libsodium's constant-time code; only public values (R, A's encoding, the hashes' inputs) are
    handled as Python objects.
    """
    _check_private(private)
    a_bytes = _clamp(private)
    a_enc = _sodium.crypto_scalarmult_ed25519_base_noclamp(a_bytes)
    a_scalar = _sodium.crypto_core_ed25519_scalar_reduce(a_bytes + bytes(32))
    r = _sodium.crypto_core_ed25519_scalar_reduce(hashlib.sha512(a_bytes + message).digest())
    r_enc = _sodium.crypto_scalarmult_ed25519_base_noclamp(r)
    h = _sodium.crypto_core_ed25519_scalar_reduce(hashlib.sha512(r_enc + a_enc + message).digest())
    s = _sodium.crypto_core_ed25519_scalar_add(r, _sodium.crypto_core_ed25519_scalar_mul(h, a_scalar))
    signature = bytearray(r_enc + s)
    signature[63] |= a_enc[31] & 0x80
    return bytes(signature)


def verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is a valid XEdDSA signature of ``message`` by ``public`` (32 or 33 bytes).

    Never raises for malformed input: a public key or signature of the wrong length is simply invalid.
    """
    if len(signature) != 64:
        return False
    try:
        u_bytes = strip_key_type(public)
    except DecodeError:
        return False
    u = int.from_bytes(u_bytes, "little") & ((1 << 255) - 1)
    denominator = (u + 1) % _P
    y = 0 if denominator == 0 else (u - 1) * pow(denominator, -1, _P) % _P
    edwards = y | ((signature[63] & 0x80) << 248)
    ed_signature = bytes(signature[:63]) + bytes([signature[63] & 0x7F])
    try:
        Ed25519PublicKey.from_public_bytes(edwards.to_bytes(32, "little")).verify(ed_signature, bytes(message))
    except (InvalidSignature, ValueError):
        return False
    return True
