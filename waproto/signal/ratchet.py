"""The double ratchet's key derivations (libsignal v3, "WhisperText"; PROTOCOL.md §5.4).

- :func:`hkdf`: RFC 5869 HKDF-SHA256 (extract with a salt, expand with an info string).
- :func:`initial_root`: the X3DH master secret → root key (and an unused chain key), ``"WhisperText"``.
- :func:`ratchet_root`: a DH output and a root key → the next root key and a chain key, ``"WhisperRatchet"``.
- :func:`chain_step`: a chain key → this step's message-key seed (``HMAC(ck, 01)``) and the next chain key
  (``HMAC(ck, 02)``).
- :func:`message_keys`: a seed → AES-256 key, HMAC-SHA256 key and CBC IV (``"WhisperMessageKeys"``).

All of it is HMAC-SHA256 (RFC 2104), computed here on ``hashlib``'s SHA-256 (:func:`hmac_sha256`): per
message the chain step and the message keys take six HMACs, and ``hmac.digest`` or ``cryptography``'s HKDF
set up an OpenSSL MAC context each time, which cost more than the hashing. The chain step hashes the padded
key once for both of its HMACs, and the message keys start from the precomputed state of their all-zero
salt. This module holds no state and does not know about sessions, stores or wire formats.
"""

from __future__ import annotations

import hashlib
from typing import Final, NamedTuple

__all__ = ["MessageKeys", "chain_step", "hkdf", "hmac_sha256", "initial_root", "message_keys", "ratchet_root"]

_ZERO_SALT = bytes(32)
_ONE = b"\x01"
_TWO = b"\x02"
_INFO_TEXT = b"WhisperText"
_INFO_RATCHET = b"WhisperRatchet"
_INFO_MESSAGE_KEYS = b"WhisperMessageKeys"
_BLOCK: Final = 64  # SHA-256's block size: HMAC pads (or hashes) the key to it
_IPAD: Final = bytes(x ^ 0x36 for x in range(256))
_OPAD: Final = bytes(x ^ 0x5C for x in range(256))
_sha256 = hashlib.sha256
# HMAC's inner and outer states for the all-zero 32-byte salt of the message keys' HKDF extract.
_ZERO_INNER: Final = _sha256(bytes(_BLOCK).translate(_IPAD))
_ZERO_OUTER: Final = _sha256(bytes(_BLOCK).translate(_OPAD))
_MESSAGE_INFO_1 = _INFO_MESSAGE_KEYS + b"\x01"
_MESSAGE_INFO_2 = _INFO_MESSAGE_KEYS + b"\x02"
_MESSAGE_INFO_3 = _INFO_MESSAGE_KEYS + b"\x03"


def _keyed(key: bytes) -> tuple[hashlib._Hash, hashlib._Hash]:
    """HMAC-SHA256's inner and outer hash states after the padded ``key``."""
    if len(key) > _BLOCK:
        key = _sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return _sha256(key.translate(_IPAD)), _sha256(key.translate(_OPAD))


def _finish(inner: hashlib._Hash, outer: hashlib._Hash, message: bytes) -> bytes:
    """HMAC of ``message`` from the keyed states (copied: they stay reusable)."""
    inner = inner.copy()
    inner.update(message)
    outer = outer.copy()
    outer.update(inner.digest())
    return outer.digest()


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 (RFC 2104) of ``message`` under ``key``: the same bytes as ``hmac.digest``."""
    inner, outer = _keyed(key)
    inner.update(message)
    outer.update(inner.digest())
    return outer.digest()


class MessageKeys(NamedTuple):
    """The keys of one message: AES-256-CBC key, HMAC-SHA256 key, IV."""

    cipher_key: bytes
    mac_key: bytes
    iv: bytes


def hkdf(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """HKDF-SHA256 (RFC 5869) of ``length`` bytes (at most 255 × 32)."""
    prk = hmac_sha256(salt, ikm)
    inner, outer = _keyed(prk)
    out = b""
    block = b""
    counter = 1
    while len(out) < length:
        block = _finish(inner, outer, block + info + bytes((counter,)))
        out += block
        counter += 1
    return out[:length]


def initial_root(master: bytes) -> tuple[bytes, bytes]:
    """``(root_key, chain_key)`` from the X3DH master secret (``FF×32 || DH1 || DH2 || DH3 [|| DH4]``)."""
    okm = hkdf(master, _ZERO_SALT, _INFO_TEXT, 64)
    return okm[:32], okm[32:]


def ratchet_root(root_key: bytes, dh_output: bytes) -> tuple[bytes, bytes]:
    """One DH ratchet step: ``(new_root_key, chain_key)`` from the root key and a fresh DH output."""
    inner, outer = _keyed(hmac_sha256(root_key, dh_output))
    first = _finish(inner, outer, _INFO_RATCHET + _ONE)
    second = _finish(inner, outer, first + _INFO_RATCHET + _TWO)
    return first, second


def chain_step(chain_key: bytes) -> tuple[bytes, bytes]:
    """``(message_key_seed, next_chain_key)`` for one step of a symmetric chain."""
    inner, outer = _keyed(chain_key)
    return _finish(inner, outer, _ONE), _finish(inner, outer, _TWO)


def message_keys(seed: bytes) -> MessageKeys:
    """The cipher key, MAC key and IV of one message from its seed (HKDF, 80 bytes)."""
    prk = _finish(_ZERO_INNER, _ZERO_OUTER, seed)  # the extract, salt 32 zero bytes
    inner, outer = _keyed(prk)
    cipher_key = _finish(inner, outer, _MESSAGE_INFO_1)
    mac_key = _finish(inner, outer, cipher_key + _MESSAGE_INFO_2)
    iv = _finish(inner, outer, mac_key + _MESSAGE_INFO_3)
    return MessageKeys(cipher_key, mac_key, iv[:16])
