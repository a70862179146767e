"""Pairing-code ("link code") crypto: linking a companion by typing 8 characters on the phone.

Instead of scanning a QR, the user types the companion's 8-character code on the primary phone
(PROTOCOL.md §4.4). The code never travels; it only keys the exchange of two ephemeral X25519 keys:

1. the companion wraps its ephemeral public key ``ce`` under the code and sends it (``companion_hello``);
2. the phone unwraps it with the code the user typed, wraps its own ephemeral ``pe`` the same way and
   sends it with its identity key (``primary_hello``);
3. the companion unwraps ``pe`` and sends a key bundle, encrypted under a key derived from
   ``DH(ce, pe)``, naming both identity keys and 32 random bytes (``companion_finish``); both sides then
   derive the adv secret that authenticates the pair-success which follows (``device_identity``).

Layouts (``||`` is concatenation):

- code: 5 random bytes as 8 characters of Crockford's alphabet without 0, I, O, U
  (``123456789ABCDEFGHJKLMNPQRSTVWXYZ``), 5 bits a character, most significant first; shown
  ``XXXX-XXXX``, the dash never part of the crypto;
- code key: ``PBKDF2-HMAC-SHA256(code as ASCII, salt, 131072 iterations, 32 bytes)``;
- wrapped key (80 bytes): ``salt(32) || iv(16) || AES-256-CTR(code key(salt), iv, public key(32))``;
- bundle key: ``HKDF-SHA256(DH(ce, pe), salt, "link_code_pairing_key_bundle_encryption_key", 32)``;
- key bundle: ``salt(32) || nonce(12) || AES-256-GCM(bundle key, nonce, companion identity(32) ||
  primary identity(32) || random(32), no associated data)`` (128 bytes with the tag);
- adv secret: ``HKDF-SHA256(DH(ce, pe) || DH(companion identity, primary identity) || random, no salt,
  "adv_secret", 32)``.

The CTR wrapping is not authenticated: a wrong code unwraps to a wrong key, and the mismatch shows up
only as a key bundle that does not decrypt (``BadKeyBundle``) and an adv secret that does not match.
PBKDF2 with 131072 iterations takes about 0.1 s a call (measured here); that is the protocol's choice.
Randomness comes from the ``rng`` argument (``secrets.token_bytes`` in production).

This module is not the stanzas that carry these bytes (``<link_code_companion_reg>``, built by the client
and the sandbox) nor the pair-success that follows (``waproto.pairing.device_identity``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from waproto.errors import BadKeyBundle, DecodeError, LocalProtocolError
from waproto.signal import curve
from waproto.signal.curve import KeyPair

__all__ = [
    "ADV_SECRET_INFO",
    "KEY_BUNDLE_INFO",
    "KEY_BUNDLE_LENGTH",
    "PAIRING_CODE_ALPHABET",
    "PAIRING_CODE_ITERATIONS",
    "PAIRING_CODE_LENGTH",
    "WRAPPED_KEY_LENGTH",
    "CompanionFinish",
    "companion_finish",
    "derive_adv_secret",
    "format_pairing_code",
    "generate_pairing_code",
    "normalize_pairing_code",
    "pairing_code_key",
    "primary_finish",
    "unwrap_ephemeral_key",
    "wrap_ephemeral_key",
]

#: The 32 characters of a pairing code, in value order (Crockford's base32 without 0, I, O, U).
PAIRING_CODE_ALPHABET: Final = "123456789ABCDEFGHJKLMNPQRSTVWXYZ"
#: Characters in a pairing code (5 random bytes, 5 bits a character).
PAIRING_CODE_LENGTH: Final = 8
#: PBKDF2 iterations of the code key (``2 << 16``).
PAIRING_CODE_ITERATIONS: Final = 2 << 16
#: Length of a wrapped ephemeral key: salt, iv, encrypted 32-byte key.
WRAPPED_KEY_LENGTH: Final = 80
#: Length of a key bundle: salt, nonce, 96 encrypted bytes, 16-byte GCM tag.
KEY_BUNDLE_LENGTH: Final = 32 + 12 + 96 + 16
#: HKDF info of the key bundle encryption key.
KEY_BUNDLE_INFO: Final = b"link_code_pairing_key_bundle_encryption_key"
#: HKDF info of the adv secret.
ADV_SECRET_INFO: Final = b"adv_secret"

_SALT: Final = 32
_IV: Final = 16
_NONCE: Final = 12
_KEY: Final = 32


def _random(rng: Callable[[int], bytes], n: int) -> bytes:
    value = rng(n)
    if not isinstance(value, bytes) or len(value) != n:
        raise LocalProtocolError(f"rng({n}) must return {n} bytes")
    return value


def generate_pairing_code(rng: Callable[[int], bytes]) -> str:
    """A new 8-character pairing code from 5 bytes of ``rng``."""
    value = int.from_bytes(_random(rng, 5), "big")
    return "".join(PAIRING_CODE_ALPHABET[(value >> shift) & 31] for shift in range(35, -1, -5))


def normalize_pairing_code(code: str) -> str:
    """The code as the crypto uses it: ``XXXX-XXXX`` loses its dash; the rest must be 8 ASCII letters or
    digits (``LocalProtocolError`` otherwise). Case is kept: the code is the PBKDF2 password as given.

    Codes this module generates use :data:`PAIRING_CODE_ALPHABET` only; Baileys lets a user choose any 8
    characters, so other letters and digits are accepted too.
    """
    if not isinstance(code, str):
        raise LocalProtocolError(f"a pairing code is a string, not {type(code).__name__}")
    if len(code) == PAIRING_CODE_LENGTH + 1 and code[4] == "-":
        code = code[:4] + code[5:]
    if len(code) != PAIRING_CODE_LENGTH or not code.isascii() or not code.isalnum():
        raise LocalProtocolError("a pairing code is 8 ASCII letters or digits (optionally XXXX-XXXX)")
    return code


def format_pairing_code(code: str) -> str:
    """The code as shown to a user: ``XXXX-XXXX``."""
    code = normalize_pairing_code(code)
    return f"{code[:4]}-{code[4:]}"


def pairing_code_key(code: str, salt: bytes) -> bytes:
    """The 32-byte AES key a wrapped ephemeral key is encrypted with: PBKDF2-HMAC-SHA256 of the code."""
    password = normalize_pairing_code(code).encode("ascii")
    return hashlib.pbkdf2_hmac("sha256", password, bytes(salt), PAIRING_CODE_ITERATIONS, _KEY)


def _ctr(key: bytes, iv: bytes, data: bytes) -> bytes:
    cryptor = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return cryptor.update(data) + cryptor.finalize()


def wrap_ephemeral_key(code: str, public: bytes, rng: Callable[[int], bytes]) -> bytes:
    """Wrap an ephemeral public key (32 bytes, or 33 with ``05``) under the code: 80 bytes.

    Both sides use it: the companion for ``link_code_pairing_wrapped_companion_ephemeral_pub``, the phone
    for ``link_code_pairing_wrapped_primary_ephemeral_pub``. Draws the salt and iv from ``rng``.
    """
    try:
        key = curve.strip_key_type(public)
    except DecodeError as exc:
        raise LocalProtocolError("an ephemeral public key is 32 bytes (or 33 with the 05 prefix)") from exc
    normalize_pairing_code(code)
    salt = _random(rng, _SALT)
    iv = _random(rng, _IV)
    return salt + iv + _ctr(pairing_code_key(code, salt), iv, key)


def unwrap_ephemeral_key(code: str, wrapped: bytes) -> bytes:
    """The 32-byte public key inside an 80-byte wrapped key (``DecodeError`` for another length).

    Nothing authenticates it: a wrong code yields a wrong key, not an error.
    """
    if len(wrapped) != WRAPPED_KEY_LENGTH:
        raise DecodeError(f"a wrapped ephemeral key is {WRAPPED_KEY_LENGTH} bytes, not {len(wrapped)}")
    wrapped = bytes(wrapped)
    salt, iv, body = wrapped[:_SALT], wrapped[_SALT : _SALT + _IV], wrapped[_SALT + _IV :]
    return _ctr(pairing_code_key(code, salt), iv, body)


def _hkdf(ikm: bytes, salt: bytes | None, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=_KEY, salt=salt, info=info).derive(ikm)


def derive_adv_secret(ephemeral_shared: bytes, identity_shared: bytes, random: bytes) -> bytes:
    """The adv secret both sides derive: HKDF-SHA256 of the two shared secrets and the bundle's random."""
    return _hkdf(bytes(ephemeral_shared) + bytes(identity_shared) + bytes(random), None, ADV_SECRET_INFO)


@dataclass(frozen=True, slots=True)
class CompanionFinish:
    """The companion's last step: the bundle to send and the adv secret to keep (hidden from ``repr``)."""

    #: ``link_code_pairing_wrapped_key_bundle`` content (156 bytes).
    wrapped_key_bundle: bytes = field(repr=False)
    #: The derived adv secret: it replaces the random one the companion started with.
    adv_secret: bytes = field(repr=False)


def companion_finish(
    *,
    code: str,
    ephemeral: KeyPair,
    identity: KeyPair,
    wrapped_primary_ephemeral: bytes,
    primary_identity: bytes,
    rng: Callable[[int], bytes],
) -> CompanionFinish:
    """The companion's answer to ``primary_hello``: unwrap the phone's ephemeral key with ``code``, encrypt
    the key bundle and derive the adv secret.

    ``ephemeral`` is the key pair whose public key the companion wrapped in ``companion_hello``;
    ``identity`` its Signal identity; ``primary_identity`` the phone's identity key (32 bytes, from
    ``primary_identity_pub``). Draws 32 + 32 + 12 bytes from ``rng`` (random, salt, nonce). Raises
    ``DecodeError`` for a wrapped key of the wrong length or a malformed or low-order public key.
    """
    primary = curve.strip_key_type(primary_identity)
    primary_ephemeral = unwrap_ephemeral_key(code, wrapped_primary_ephemeral)
    ephemeral_shared = curve.shared_secret(ephemeral.private, primary_ephemeral)
    random = _random(rng, 32)
    salt = _random(rng, _SALT)
    nonce = _random(rng, _NONCE)
    bundle_key = _hkdf(ephemeral_shared, salt, KEY_BUNDLE_INFO)
    sealed = AESGCM(bundle_key).encrypt(nonce, identity.public + primary + random, None)
    identity_shared = curve.shared_secret(identity.private, primary)
    return CompanionFinish(
        wrapped_key_bundle=salt + nonce + sealed,
        adv_secret=derive_adv_secret(ephemeral_shared, identity_shared, random),
    )


def primary_finish(
    *,
    ephemeral: KeyPair,
    identity: KeyPair,
    companion_ephemeral: bytes,
    companion_identity: bytes,
    wrapped_key_bundle: bytes,
) -> bytes:
    """The phone's last step: open the companion's key bundle and derive the adv secret (32 bytes).

    ``ephemeral`` is the pair the phone wrapped in ``primary_hello``; ``identity`` the account identity;
    ``companion_ephemeral`` the key the phone unwrapped from ``companion_hello``; ``companion_identity``
    the ``companion_identity_public`` the companion sent. Raises ``BadKeyBundle`` when the bundle does
    not authenticate (a wrong code ends here) or names other identity keys than these two, and
    ``DecodeError`` for a malformed bundle or key.
    """
    companion = curve.strip_key_type(companion_identity)
    if len(wrapped_key_bundle) != KEY_BUNDLE_LENGTH:
        raise DecodeError(f"a wrapped key bundle is {KEY_BUNDLE_LENGTH} bytes, not {len(wrapped_key_bundle)}")
    bundle = bytes(wrapped_key_bundle)
    salt, nonce, sealed = bundle[:_SALT], bundle[_SALT : _SALT + _NONCE], bundle[_SALT + _NONCE :]
    ephemeral_shared = curve.shared_secret(ephemeral.private, companion_ephemeral)
    try:
        plain = AESGCM(_hkdf(ephemeral_shared, salt, KEY_BUNDLE_INFO)).decrypt(nonce, sealed, None)
    except InvalidTag as exc:
        raise BadKeyBundle("the key bundle does not authenticate (wrong code or tampered)") from exc
    if plain[:32] != companion or plain[32:64] != identity.public:
        raise BadKeyBundle("the key bundle names other identity keys than the companion sent and ours")
    identity_shared = curve.shared_secret(identity.private, companion)
    return derive_adv_secret(ephemeral_shared, identity_shared, plain[64:])
