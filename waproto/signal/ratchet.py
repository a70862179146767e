"""The double ratchet's key derivations (libsignal v3, "WhisperText"; PROTOCOL.md §5.4).

- :func:`hkdf`: RFC 5869 HKDF-SHA256 (extract with a salt, expand with an info string).
- :func:`initial_root`: the X3DH master secret → root key (and an unused chain key), ``"WhisperText"``.
- :func:`ratchet_root`: a DH output and a root key → the next root key and a chain key, ``"WhisperRatchet"``.
- :func:`chain_step`: a chain key → this step's message-key seed (``HMAC(ck, 01)``) and the next chain key
  (``HMAC(ck, 02)``).
- :func:`message_keys`: a seed → AES-256 key, HMAC-SHA256 key and CBC IV (``"WhisperMessageKeys"``).

All of it is HMAC-SHA256: ``hmac.digest`` (OpenSSL underneath) for the one- and two-block steps,
``cryptography``'s HKDF for the 80-byte message keys (one call instead of four). This module holds no state and does not know about sessions, stores or wire formats.
"""

from __future__ import annotations

import hmac
from typing import NamedTuple

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["MessageKeys", "chain_step", "hkdf", "initial_root", "message_keys", "ratchet_root"]

_ZERO_SALT = bytes(32)
_ONE = b"\x01"
_TWO = b"\x02"
_INFO_TEXT = b"WhisperText"
_INFO_RATCHET = b"WhisperRatchet"
_INFO_MESSAGE_KEYS = b"WhisperMessageKeys"
_SHA256 = SHA256()


class MessageKeys(NamedTuple):
    """The keys of one message: AES-256-CBC key, HMAC-SHA256 key, IV."""

    cipher_key: bytes
    mac_key: bytes
    iv: bytes


def hkdf(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """HKDF-SHA256 (RFC 5869) of ``length`` bytes (at most 255 × 32)."""
    prk = hmac.digest(salt, ikm, "sha256")
    out = b""
    block = b""
    counter = 1
    while len(out) < length:
        block = hmac.digest(prk, block + info + bytes((counter,)), "sha256")
        out += block
        counter += 1
    return out[:length]


def initial_root(master: bytes) -> tuple[bytes, bytes]:
    """``(root_key, chain_key)`` from the X3DH master secret (``FF×32 || DH1 || DH2 || DH3 [|| DH4]``)."""
    okm = hkdf(master, _ZERO_SALT, _INFO_TEXT, 64)
    return okm[:32], okm[32:]


def ratchet_root(root_key: bytes, dh_output: bytes) -> tuple[bytes, bytes]:
    """One DH ratchet step: ``(new_root_key, chain_key)`` from the root key and a fresh DH output."""
    prk = hmac.digest(root_key, dh_output, "sha256")
    first = hmac.digest(prk, _INFO_RATCHET + _ONE, "sha256")
    second = hmac.digest(prk, first + _INFO_RATCHET + _TWO, "sha256")
    return first, second


def chain_step(chain_key: bytes) -> tuple[bytes, bytes]:
    """``(message_key_seed, next_chain_key)`` for one step of a symmetric chain."""
    return hmac.digest(chain_key, _ONE, "sha256"), hmac.digest(chain_key, _TWO, "sha256")


def message_keys(seed: bytes) -> MessageKeys:
    """The cipher key, MAC key and IV of one message from its seed (HKDF, 80 bytes)."""
    okm = HKDF(_SHA256, 80, _ZERO_SALT, _INFO_MESSAGE_KEYS).derive(seed)
    return MessageKeys(okm[:32], okm[32:64], okm[64:80])
