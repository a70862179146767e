"""The waproto error family: every error waproto raises on purpose is one of these.

::

    WAProtoError                      base; never raised itself
    ├── LocalProtocolError            you misused the API (bad argument, wrong state, value out of range)
    │   ├── NotOnWhatsApp             a message was addressed to a number with no WhatsApp account
    │   └── InvalidValue              a value object got a value outside its domain (also a ValueError)
    └── RemoteProtocolError           the peer or the bytes from the network broke the protocol
        ├── DecodeError               malformed binary node, frame or protobuf
        ├── HandshakeError            the Noise handshake failed
        │   └── CertificateError      the server's certificate chain was rejected
        │       ├── BadCertificateSignature
        │       ├── WrongIssuerSerial
        │       ├── CertificateExpired
        │       └── CertificateKeyMismatch
        ├── DecryptionError           an AEAD / Signal / media payload did not authenticate
        │   ├── MediaIntegrityError   a media file failed a length, hash, MAC or padding check
        │   ├── InvalidMessage        a Signal message is malformed (version, fields, keys, padding)
        │   │   ├── InvalidMac        a Signal message's MAC did not verify
        │   │   ├── InvalidPadding    WhatsApp's plaintext padding is wrong
        │   │   └── BadSenderKeySignature  a group message's XEdDSA signature did not verify
        │   ├── DuplicateMessage      a Signal message was already decrypted (its key is used up)
        │   ├── NoSession             a Signal message arrived from a peer we have no session with
        │   │   └── NoSenderKey       a group message from a sender whose sender key we do not hold
        │   ├── InvalidKeyId          a prekey message names a prekey / signed prekey we do not hold
        │   └── TooManySkippedMessages  a Signal message is too far ahead in its chain
        ├── UntrustedIdentity         the identity store does not trust a peer's identity key
        ├── MessageRefused            the server acked a sent message with an error code
        ├── MediaError                media could not be uploaded or downloaded (``status``: last HTTP status)
        │   ├── MediaUploadError      every media host refused or failed the upload
        │   └── MediaDownloadError    no source served the file (gone, refused, unreachable, too large)
        ├── InvalidKeySignature       a prekey bundle's signed prekey signature is not valid
        └── PairingError              a device-linking check failed (``reason`` names which)
            ├── BadDeviceIdentityHMAC     pair-success HMAC under the adv secret does not match
            ├── BadAccountSignature       the primary's account signature does not verify
            ├── BadDeviceSignature        the companion's device signature does not verify
            └── BadKeyBundle              the pairing-code key bundle did not decrypt or names other keys

The rule (after h11): malformed input from the network is always a ``RemoteProtocolError`` subclass,
never an ``IndexError``, ``KeyError``, ``struct.error`` or ``UnicodeDecodeError``. Code that parses
network bytes converts those at one boundary. Errors carry data (``node``, ``code``) where there is some.

This module is not an exception hierarchy for the hub (``waporta``) or for transport failures of the
trio driver; those live with their owners.
"""

from __future__ import annotations

from typing import ClassVar, Literal

__all__ = [
    "BadAccountSignature",
    "BadCertificateSignature",
    "BadDeviceIdentityHMAC",
    "BadDeviceSignature",
    "BadKeyBundle",
    "BadSenderKeySignature",
    "CertificateError",
    "CertificateExpired",
    "CertificateKeyMismatch",
    "DecodeError",
    "DecryptionError",
    "DuplicateMessage",
    "HandshakeError",
    "InvalidKeyId",
    "InvalidKeySignature",
    "InvalidMac",
    "InvalidMessage",
    "InvalidPadding",
    "InvalidValue",
    "LocalProtocolError",
    "MediaDownloadError",
    "MediaError",
    "MediaIntegrityError",
    "MediaIntegrityReason",
    "MediaUploadError",
    "MessageRefused",
    "NoSenderKey",
    "NoSession",
    "NotOnWhatsApp",
    "PairingError",
    "PairingFailure",
    "RemoteProtocolError",
    "TooManySkippedMessages",
    "UntrustedIdentity",
    "WAProtoError",
    "WrongIssuerSerial",
]


class WAProtoError(Exception):
    """Base of every error waproto raises deliberately."""


class LocalProtocolError(WAProtoError):
    """The caller misused the API: a bad argument, or an operation in the wrong state."""


class RemoteProtocolError(WAProtoError):
    """The peer (or bytes from the network) violated the protocol.

    ``node`` is the offending stanza when there is one (a ``waproto.binary.Node``), ``code`` an
    error code the peer sent, if any.
    """

    def __init__(self, message: str, *, node: object | None = None, code: str | None = None) -> None:
        super().__init__(message)
        #: The offending node, if the error concerns one.
        self.node = node
        #: The error code the peer sent, if any (for example a stream error code).
        self.code = code


class DecodeError(RemoteProtocolError):
    """Bytes could not be decoded: a malformed binary node, frame, packed string or protobuf."""


class HandshakeError(RemoteProtocolError):
    """The Noise handshake could not be completed (bad message, failed AEAD, wrong state from the peer)."""


class CertificateError(HandshakeError):
    """The server's Noise certificate chain was rejected."""


class BadCertificateSignature(CertificateError):
    """A certificate in the chain is not signed by its issuer (or a signature is not 64 bytes)."""


class WrongIssuerSerial(CertificateError):
    """A certificate names an issuer serial that does not match its issuer."""


class CertificateExpired(CertificateError):
    """The clock is outside a certificate's notBefore..notAfter window."""


class CertificateKeyMismatch(CertificateError):
    """The leaf certificate's key is not the server's Noise static key (or a key has a wrong length)."""


class DecryptionError(RemoteProtocolError):
    """A ciphertext did not authenticate or decrypt (Noise transport, Signal, media)."""


#: Which check a media file failed, in the order they are made (see ``waproto.media``).
MediaIntegrityReason = Literal["length", "enc_hash", "mac", "padding", "plain_hash"]


class MediaIntegrityError(DecryptionError):
    """A downloaded media file failed verification; ``reason`` names the check.

    ``"length"``: too short, not a whole number of AES blocks, or not the size the message announced;
    ``"enc_hash"``: SHA-256 of the encrypted file is not ``fileEncSha256``; ``"mac"``: the 10-byte
    HMAC does not match; ``"padding"``: bad PKCS#7 padding after decryption; ``"plain_hash"``: SHA-256
    of the plaintext is not ``fileSha256``.
    """

    def __init__(self, message: str, *, reason: MediaIntegrityReason) -> None:
        super().__init__(message)
        #: The check that failed.
        self.reason: MediaIntegrityReason = reason


#: Which pairing check failed (see ``waproto.pairing``).
PairingFailure = Literal["hmac", "account_signature", "device_signature", "key_bundle"]


class PairingError(RemoteProtocolError):
    """Linking a companion device failed a cryptographic check; ``reason`` names it.

    Never raised itself: one of its subclasses is. ``reply_code`` and ``reply_text`` are what a companion
    answers the server with in its error iq (whatsmeow's values).
    """

    #: The check that failed.
    reason: ClassVar[PairingFailure]
    #: The error code a companion puts in its ``<error>`` reply.
    reply_code: ClassVar[int] = 401
    #: The error text a companion puts in its ``<error>`` reply.
    reply_text: ClassVar[str] = "not-authorized"


class BadDeviceIdentityHMAC(PairingError):
    """The pair-success ``ADVSignedDeviceIdentityHMAC`` does not authenticate under our adv secret."""

    reason = "hmac"
    reply_text = "hmac-mismatch"


class BadAccountSignature(PairingError):
    """The primary's account signature over the device identity does not verify (or is malformed)."""

    reason = "account_signature"
    reply_text = "signature-mismatch"


class BadDeviceSignature(PairingError):
    """The companion's device signature does not verify, or it signed something other than we issued."""

    reason = "device_signature"
    reply_text = "signature-mismatch"


class BadKeyBundle(PairingError):
    """The pairing-code key bundle did not decrypt, or the identity keys inside are not the expected ones."""

    reason = "key_bundle"


# --- Signal sessions (waproto.signal.session, waproto.signal.cipher, waproto.signal.padding)


class InvalidMessage(DecryptionError):
    """A Signal message is malformed: unknown version byte, missing field, bad key, bad CBC padding."""


class InvalidMac(InvalidMessage):
    """A Signal message's 8-byte MAC did not verify with any session held for its sender."""


class InvalidPadding(InvalidMessage):
    """WhatsApp's random plaintext padding is wrong (empty input, zero or oversized pad, unequal bytes)."""


class DuplicateMessage(DecryptionError):
    """A Signal message whose key was already used: it was decrypted before (the session is fine)."""


class NoSession(DecryptionError):
    """A Signal ``msg`` arrived from a peer we have no session with (answer with a retry receipt)."""


class InvalidKeyId(DecryptionError):
    """A prekey message names a one-time prekey or signed prekey id that the stores do not hold."""

    def __init__(self, message: str, *, key_id: int) -> None:
        super().__init__(message)
        #: The unknown key id.
        self.key_id = key_id


class TooManySkippedMessages(DecryptionError):
    """A Signal message is further ahead in its chain than the skipped-message-key bound allows."""


class UntrustedIdentity(RemoteProtocolError):
    """The identity store does not trust the identity key a peer presented (for example a changed key).

    ``address`` is the peer (a ``waproto.signal.ProtocolAddress``), ``identity_key`` the 32-byte key
    it presented. Accepting the key in the identity store and retrying is the caller's decision.
    """

    def __init__(self, message: str, *, address: object, identity_key: bytes) -> None:
        super().__init__(message)
        #: The peer whose identity key is not trusted.
        self.address = address
        #: The 32-byte identity key the peer presented.
        self.identity_key = identity_key


class InvalidKeySignature(RemoteProtocolError):
    """A prekey bundle's signed prekey is not signed by the bundle's identity key."""


# --- Signal groups (waproto.signal.group)


class BadSenderKeySignature(InvalidMessage):
    """A group (sender-key) message's XEdDSA signature does not verify with the sender's signing key."""


class NoSenderKey(NoSession):
    """A group message names a sender key (sender, key id) we hold no distribution message for."""


# --- messaging (waproto.client.messaging)


class NotOnWhatsApp(LocalProtocolError):
    """A message was addressed to a number that has no WhatsApp account (no devices)."""


class InvalidValue(LocalProtocolError, ValueError):
    """A value object (such as ``waproto.client.directory.DeviceList``) was given a value outside its
    domain. Also a ``ValueError``, so code that checks values the usual Python way catches it."""


class MessageRefused(RemoteProtocolError):
    """The server answered a sent message with an ``<ack error=…>`` (``code`` is the error code)."""


# --- media transfer (waproto.client.media)


class MediaError(RemoteProtocolError):
    """Media could not be moved to or from the media servers; ``status`` is the last HTTP status seen
    (None when no host answered at all: connection refused, TLS failure, timeout). A file that arrived but
    failed verification is a :class:`MediaIntegrityError` instead."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message, code=None if status is None else str(status))
        #: The last HTTP status a media host answered with, if any.
        self.status = status


class MediaUploadError(MediaError):
    """Every media host refused or failed an upload (also: no host accepts a file that large, 413)."""


class MediaDownloadError(MediaError):
    """No source served a media file: 404/410 (gone or expired), other statuses, unreachable hosts, or a
    file larger than the download limit."""
