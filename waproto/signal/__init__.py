"""waproto.signal: Curve25519 keys and XEdDSA signatures (``curve``), the base of Signal support.

Today this package holds only ``curve``; the Signal protocol itself (X3DH, the double ratchet, sender
keys, stores) is not here yet.
"""

from __future__ import annotations

from waproto.signal.curve import KeyPair, generate_key_pair, public_key, shared_secret, sign, verify

__all__ = ["KeyPair", "generate_key_pair", "public_key", "shared_secret", "sign", "verify"]
