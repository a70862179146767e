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

Signing uses pure-Python Edwards arithmetic with a fixed-base table. Python big integers are **not
constant-time**; signing is rare in WhatsApp (signed pre-keys, device identity at pairing, test
certificates), which is why that is acceptable here.

This module is not a Signal session implementation, and it has no randomness of its own: key generation
takes the random bytes source as an argument.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

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
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, -1, _P) % _P
_D2 = 2 * _D % _P
_BASE_X = 15112221349535400772501151409588531511454012693041857206046113283949847762202
_BASE_Y = 46316835694926478169428394003475163141307993866256225615783033603165251855960

# Points are in extended twisted-Edwards coordinates (X, Y, Z, T) with x = X/Z, y = Y/Z, xy = T/Z.
_Point = tuple[int, int, int, int]
# Precomputed affine points: (y + x, y - x, 2·d·x·y).
_Cached = tuple[int, int, int]

_IDENTITY: _Point = (0, 1, 1, 0)


def _add(p: _Point, q: _Point) -> _Point:
    """Unified addition for a = -1 (add-2008-hwcd-3): complete on edwards25519."""
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % _P
    b = (y1 + x1) * (y2 + x2) % _P
    c = t1 * _D2 * t2 % _P
    d = 2 * z1 * z2 % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _add_cached(p: _Point, q: _Cached) -> _Point:
    """Mixed addition of an extended point and a precomputed affine point."""
    x1, y1, z1, t1 = p
    ypx, ymx, xy2d = q
    a = (y1 - x1) * ymx % _P
    b = (y1 + x1) * ypx % _P
    c = t1 * xy2d % _P
    d = 2 * z1 % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


@functools.cache
def _table() -> list[list[_Cached]]:
    """table[i][j] = j·16^i·B for i < 64, j < 16, in cached affine form (built once, on first use)."""
    base: _Point = (_BASE_X, _BASE_Y, 1, _BASE_X * _BASE_Y % _P)
    points: list[_Point] = []
    for _ in range(64):
        row = [_IDENTITY]
        for _ in range(15):
            row.append(_add(row[-1], base))
        points.extend(row)
        base = _add(row[-1], base)  # 16·base
    # One field inversion for all 1024 Z values (Montgomery's batch trick).
    prefix = [1] * (len(points) + 1)
    for i, pt in enumerate(points):
        prefix[i + 1] = prefix[i] * pt[2] % _P
    inv = pow(prefix[-1], -1, _P)
    inverses = [0] * len(points)
    for i in range(len(points) - 1, -1, -1):
        inverses[i] = inv * prefix[i] % _P
        inv = inv * points[i][2] % _P
    table: list[list[_Cached]] = []
    for i in range(64):
        row_cached: list[_Cached] = []
        for j in range(16):
            x, y, _, _ = points[16 * i + j]
            zi = inverses[16 * i + j]
            ax, ay = x * zi % _P, y * zi % _P
            row_cached.append(((ay + ax) % _P, (ay - ax) % _P, _D2 * ax % _P * ay % _P))
        table.append(row_cached)
    return table


def _base_mult(scalar: int) -> bytes:
    """Encode scalar·B (0 <= scalar < 2**256) as 32 bytes: y, little-endian, x's parity in the top bit."""
    rows = _table()
    point = _IDENTITY
    for i in range(64):
        point = _add_cached(point, rows[i][(scalar >> (4 * i)) & 15])
    x, y, z, _ = point
    zi = pow(z, -1, _P)
    x, y = x * zi % _P, y * zi % _P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


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
    """The deterministic 64-byte XEdDSA signature of ``message`` (libsignal-node convention)."""
    _check_private(private)
    a_bytes = _clamp(private)
    a = int.from_bytes(a_bytes, "little")
    a_enc = _base_mult(a)
    r = int.from_bytes(hashlib.sha512(a_bytes + message).digest(), "little") % _L
    r_enc = _base_mult(r)
    h = int.from_bytes(hashlib.sha512(r_enc + a_enc + message).digest(), "little") % _L
    s = (r + h * a) % _L
    signature = bytearray(r_enc + s.to_bytes(32, "little"))
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
