"""waproto.signal.ratchet: HKDF (RFC 5869 vectors) and the libsignal v3 derivations built on it."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from waproto.signal.ratchet import chain_step, hkdf, hmac_sha256, initial_root, message_keys, ratchet_root


def test_hkdf_rfc5869_case_1() -> None:
    ikm = bytes.fromhex("0b" * 22)
    salt = bytes.fromhex("000102030405060708090a0b0c")
    info = bytes.fromhex("f0f1f2f3f4f5f6f7f8f9")
    okm = hkdf(ikm, salt, info, 42)
    assert okm.hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )


def test_hkdf_rfc5869_case_3_zero_salt_no_info() -> None:
    okm = hkdf(bytes.fromhex("0b" * 22), bytes(32), b"", 42)  # an empty salt means HashLen zeros
    assert okm.hex() == (
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
    )


def test_derivations_are_the_documented_hkdf_and_hmac_calls() -> None:
    seed = bytes(range(32))
    okm = hkdf(seed, bytes(32), b"WhisperMessageKeys", 80)
    keys = message_keys(seed)
    assert (keys.cipher_key, keys.mac_key, keys.iv) == (okm[:32], okm[32:64], okm[64:80])
    root = bytes([7]) * 32
    okm = hkdf(seed, root, b"WhisperRatchet", 64)
    assert ratchet_root(root, seed) == (okm[:32], okm[32:])
    okm = hkdf(b"\xff" * 32 + seed, bytes(32), b"WhisperText", 64)
    assert initial_root(b"\xff" * 32 + seed) == (okm[:32], okm[32:])
    assert chain_step(seed) == (
        hmac.new(seed, b"\x01", hashlib.sha256).digest(),
        hmac.new(seed, b"\x02", hashlib.sha256).digest(),
    )


@given(key=st.binary(max_size=200), message=st.binary(max_size=300))
def test_hmac_sha256_is_rfc2104(key: bytes, message: bytes) -> None:
    assert hmac_sha256(key, message) == hmac.digest(key, message, "sha256")  # keys longer than a block too


def test_hmac_sha256_rfc4231_case_6_long_key() -> None:
    key = b"\xaa" * 131
    message = b"Test Using Larger Than Block-Size Key - Hash Key First"
    assert hmac_sha256(key, message).hex() == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"


@given(seed=st.binary(min_size=32, max_size=32))
def test_message_keys_and_chain_step_match_their_definitions(seed: bytes) -> None:
    okm = hkdf(seed, bytes(32), b"WhisperMessageKeys", 80)
    assert tuple(message_keys(seed)) == (okm[:32], okm[32:64], okm[64:80])
    assert chain_step(seed) == (hmac.digest(seed, b"\x01", "sha256"), hmac.digest(seed, b"\x02", "sha256"))
