"""The post-handshake Noise transport cipher: AES-256-GCM with a counter per direction.

After the handshake every frame body is ``AES-256-GCM(key, IV(counter), plaintext, aad=b"")`` with the
16-byte tag appended, where ``IV(n) = 8 zero bytes || BE32(n)``. Each direction has its own key and its
own counter, starting at 0 and incremented once per frame.

This module is not the frame layer (``framing``) and not the binary node layer: the plaintext of a
frame (a flag byte and node bytes, possibly zlib-compressed) is ``waproto.binary``'s business. Here
plaintext is opaque bytes.
"""

from __future__ import annotations

import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from waproto.errors import DecryptionError, LocalProtocolError

__all__ = ["MAX_COUNTER", "TAG_SIZE", "TransportCipher", "nonce"]

#: Bytes of GCM tag appended to every ciphertext.
TAG_SIZE = 16
#: Counters are 32-bit: after this many frames in one direction, the connection must be replaced.
MAX_COUNTER = 1 << 32

_NONCE = struct.Struct(">8xI")


def nonce(counter: int) -> bytes:
    """The 12-byte GCM nonce for ``counter``: 8 zero bytes and the counter as a big-endian uint32."""
    return _NONCE.pack(counter)


class TransportCipher:
    """Encrypts outgoing and decrypts incoming frame bodies once the handshake is done.

    Made by the handshake (``NoiseInitiator.transport`` / ``NoiseResponder.transport``) with the keys of
    its split; each side's ``encrypt_key`` is the other side's ``decrypt_key``.
    """

    __slots__ = ("_decryptor", "_encryptor", "receive_counter", "send_counter")

    def __init__(self, encrypt_key: bytes, decrypt_key: bytes) -> None:
        if len(encrypt_key) != 32 or len(decrypt_key) != 32:
            raise LocalProtocolError("transport keys are 32 bytes")
        self._encryptor = AESGCM(encrypt_key)
        self._decryptor = AESGCM(decrypt_key)
        #: How many frames have been encrypted (the counter of the next one).
        self.send_counter = 0
        #: How many frames have been decrypted (the counter of the next one).
        self.receive_counter = 0

    def encrypt(self, plaintext: bytes) -> bytes:
        """The ciphertext (with tag) of the next outgoing frame body."""
        if self.send_counter >= MAX_COUNTER:
            raise LocalProtocolError("the send counter is exhausted; open a new connection")
        ciphertext = self._encryptor.encrypt(nonce(self.send_counter), plaintext, None)
        self.send_counter += 1
        return ciphertext

    def decrypt(self, ciphertext: bytes) -> bytes:
        """The plaintext of the next incoming frame body; ``DecryptionError`` if it does not authenticate.

        A frame that fails leaves the counter where it was; the connection should be dropped.
        """
        if self.receive_counter >= MAX_COUNTER:
            raise DecryptionError("the peer sent more frames than the 32-bit counter allows")
        if len(ciphertext) < TAG_SIZE:
            raise DecryptionError(f"a transport frame of {len(ciphertext)} bytes is shorter than its tag")
        try:
            plaintext = self._decryptor.decrypt(nonce(self.receive_counter), ciphertext, None)
        except InvalidTag as exc:
            raise DecryptionError(f"transport frame {self.receive_counter} did not authenticate") from exc
        self.receive_counter += 1
        return plaintext
