"""waproto.noise.transport: AES-256-GCM, empty AAD, IV = 8 zero bytes || BE32(counter), one counter each way."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from waproto.errors import DecryptionError, LocalProtocolError
from waproto.noise.transport import MAX_COUNTER, TransportCipher, nonce

K1 = bytes(range(32))
K2 = bytes(range(32, 64))


def test_nonce() -> None:
    assert nonce(0) == bytes(12)
    assert nonce(0x01020304) == bytes(8) + b"\x01\x02\x03\x04"


def test_matches_plain_aesgcm_with_counters() -> None:
    alice, bob = TransportCipher(K1, K2), TransportCipher(K2, K1)
    for i in range(5):
        ct = alice.encrypt(b"frame %d" % i)
        assert ct == AESGCM(K1).encrypt(nonce(i), b"frame %d" % i, b"")
        assert bob.decrypt(ct) == b"frame %d" % i
    # the other direction has its own counter, still at 0
    back = bob.encrypt(b"reply")
    assert back == AESGCM(K2).encrypt(nonce(0), b"reply", None)
    assert alice.decrypt(back) == b"reply"
    assert (alice.send_counter, alice.receive_counter, bob.send_counter, bob.receive_counter) == (5, 1, 1, 5)


def test_bad_frames_rejected_without_advancing() -> None:
    alice, bob = TransportCipher(K1, K2), TransportCipher(K2, K1)
    ct = alice.encrypt(b"x")
    tampered = bytes([ct[0] ^ 1]) + ct[1:]
    with pytest.raises(DecryptionError):
        bob.decrypt(tampered)
    with pytest.raises(DecryptionError):
        bob.decrypt(ct[:15])
    assert bob.receive_counter == 0
    assert bob.decrypt(ct) == b"x"
    with pytest.raises(DecryptionError):
        bob.decrypt(ct)  # replay: wrong counter now


def test_counter_limits() -> None:
    cipher = TransportCipher(K1, K2)
    cipher.send_counter = MAX_COUNTER
    with pytest.raises(LocalProtocolError):
        cipher.encrypt(b"x")
    cipher.receive_counter = MAX_COUNTER
    with pytest.raises(DecryptionError):
        cipher.decrypt(bytes(20))
    with pytest.raises(LocalProtocolError):
        TransportCipher(K1[:16], K2)
