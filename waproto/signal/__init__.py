"""waproto.signal: Curve25519 keys and XEdDSA signatures (``curve``), the base of Signal support.

1:1 sessions (libsignal v3 as WhatsApp uses it): ``keys`` (identity, registration id, signed and
one-time prekeys, bundles), ``session`` (state, records with previous states, X3DH building),
``ratchet`` (key derivations), ``cipher`` (pkmsg/msg encrypt and decrypt), ``store`` (the async store
Protocols), ``memory`` (in-memory stores), ``padding`` (WhatsApp's plaintext padding), ``address``.
Groups: ``sender_keys`` (sender-key chains, states, records, ``SenderKeyStore`` and its memory store) and
``group`` (distribution messages, ``skmsg`` encrypt and decrypt).
The most used names are re-exported here.
"""

from __future__ import annotations

from waproto.signal.address import ProtocolAddress
from waproto.signal.cipher import CiphertextMessage, DecryptResult, decrypt, encrypt
from waproto.signal.curve import KeyPair, generate_key_pair, public_key, shared_secret, sign, verify
from waproto.signal.group import (
    SenderKeyDistribution,
    create_distribution_message,
    group_decrypt,
    group_encrypt,
    process_distribution_message,
)
from waproto.signal.keys import (
    PreKeyBundle,
    PreKeyRecord,
    SignedPreKeyRecord,
    generate_identity_key_pair,
    generate_pre_keys,
    generate_registration_id,
    generate_signed_pre_key,
)
from waproto.signal.memory import MemorySignalStore
from waproto.signal.padding import pad, unpad
from waproto.signal.sender_keys import MemorySenderKeyStore, SenderKeyName, SenderKeyRecord, SenderKeyStore
from waproto.signal.session import IdentityChange, SessionRecord, process_pre_key_bundle
from waproto.signal.store import IdentityKeyStore, PreKeyStore, SessionStore, SignedPreKeyStore

__all__ = [
    "CiphertextMessage",
    "DecryptResult",
    "IdentityChange",
    "IdentityKeyStore",
    "KeyPair",
    "MemorySenderKeyStore",
    "MemorySignalStore",
    "PreKeyBundle",
    "PreKeyRecord",
    "PreKeyStore",
    "ProtocolAddress",
    "SenderKeyDistribution",
    "SenderKeyName",
    "SenderKeyRecord",
    "SenderKeyStore",
    "SessionRecord",
    "SessionStore",
    "SignedPreKeyRecord",
    "SignedPreKeyStore",
    "create_distribution_message",
    "decrypt",
    "encrypt",
    "generate_identity_key_pair",
    "generate_key_pair",
    "generate_pre_keys",
    "generate_registration_id",
    "generate_signed_pre_key",
    "group_decrypt",
    "group_encrypt",
    "pad",
    "process_distribution_message",
    "process_pre_key_bundle",
    "public_key",
    "shared_secret",
    "sign",
    "unpad",
    "verify",
]
