"""WhatsApp's random padding of E2E plaintexts (``<enc v="2">``, PROTOCOL.md §5.5).

Before Signal encryption a serialised ``Message`` gets ``n`` bytes each equal to ``n``, ``n`` drawn
uniformly from 1..16 (Baileys draws ``(random & 0x0F) + 1``; whatsmeow 1..15). Removal reads ``n`` from
the last byte and checks every pad byte (as whatsmeow does; Baileys does not check).

This module is not the Signal cipher's own AES-CBC PKCS#7 padding, and it has no randomness of its
own: ``pad`` takes the random bytes source.
"""

from __future__ import annotations

from collections.abc import Callable

from waproto.errors import InvalidPadding

__all__ = ["MAX_PADDING", "pad", "unpad"]

#: The largest pad WhatsApp clients add.
MAX_PADDING = 16


def pad(plaintext: bytes, rng: Callable[[int], bytes]) -> bytes:
    """``plaintext`` followed by 1..16 random-length pad bytes, each equal to the pad length."""
    n = (rng(1)[0] & 0x0F) + 1
    return bytes(plaintext) + bytes([n]) * n


def unpad(padded: bytes) -> bytes:
    """Remove the padding added by :func:`pad` (or another client: any length up to the data's).

    Raises ``InvalidPadding`` for empty input, a zero pad length, a pad longer than the data, or pad
    bytes that are not all equal to the pad length.
    """
    if not padded:
        raise InvalidPadding("padded plaintext is empty")
    n = padded[-1]
    if n == 0:
        raise InvalidPadding("pad length is zero")
    if n > len(padded):
        raise InvalidPadding(f"pad length {n} is longer than the {len(padded)}-byte plaintext")
    if padded[-n:] != bytes([n]) * n:
        raise InvalidPadding(f"the last {n} bytes are not all {n}")
    return bytes(padded[:-n])
