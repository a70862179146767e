"""WhatsApp media crypto: key expansion, encryption and verified decryption of media files.

A media file (image, video, audio, document, sticker, history-sync blob, app-state blob, thumbnail …)
travels encrypted under a 32-byte ``mediaKey`` carried in the message. The facts (PROTOCOL.md §7)::

    okm        = HKDF-SHA256(ikm=mediaKey, salt=none, info="WhatsApp <X> Keys", length=112)
    iv         = okm[0:16]    cipher_key = okm[16:48]    mac_key = okm[48:80]    ref_key = okm[80:112]
    ct         = AES-256-CBC(cipher_key, iv, PKCS7(plaintext))
    mac        = HMAC-SHA256(mac_key, iv || ct)[:10]
    file       = ct || mac                      (what is uploaded and downloaded)
    fileSha256 = SHA-256(plaintext)    fileEncSha256 = SHA-256(file)    fileLength = len(plaintext)

Downloads are verified in whatsmeow's order (Baileys checks none of these): the file's length, SHA-256 of
the encrypted file against ``fileEncSha256``, the 10-byte MAC (constant-time), decryption and PKCS#7
padding, SHA-256 of the plaintext against ``fileSha256``. Each failure is a
:class:`~waproto.errors.MediaIntegrityError` whose ``reason`` names the check.

Both directions come one-shot (:func:`encrypt_media`, :func:`decrypt_media`) and incremental
(:class:`MediaEncryptor`, :class:`MediaDecryptor`: ``update(chunk) -> bytes`` then ``finalize()``), so a
100 MB file can be pushed through in chunks without ever being held in memory, let alone twice. The
incremental decryptor's contract is deliberate: since the MAC is the file's last 10 bytes, it can only be
checked at the end, so ``update`` returns plaintext that is **not yet authenticated**. The caller must
write it somewhere provisional and use it only after ``finalize()`` returns; if ``finalize()`` raises, the
caller must discard everything ``update`` returned. A caller that must never hold unauthenticated
plaintext keeps the encrypted download, runs a decryptor over it discarding the output, and decrypts
again only after that one's ``finalize()`` has returned. The one-shot functions hold the whole file and its
plaintext at once; they are for small media (thumbnails, stickers, app-state blobs).

Ranged downloads (:func:`media_range`, :func:`decrypt_media_range`) decrypt a slice of the plaintext from
a byte range of the encrypted file, the preceding cipher block serving as IV. Nothing in a range can be
authenticated: no MAC, no hash.

This module is NOT the media transport: it does no HTTP, picks no hosts, builds no upload URLs and draws
no random media keys (the caller passes 32 bytes from its own CSPRNG). It is pure and sans-I/O.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from waproto.errors import LocalProtocolError, MediaIntegrityError, MediaIntegrityReason

__all__ = [
    "MAC_LENGTH",
    "MEDIA_KEY_LENGTH",
    "BytesLike",
    "EncryptedMedia",
    "EncryptedMediaInfo",
    "MediaDecryptor",
    "MediaEncryptor",
    "MediaKeys",
    "MediaRange",
    "MediaType",
    "decrypt_media",
    "decrypt_media_range",
    "encrypt_media",
    "encrypted_size",
    "expand_media_key",
    "media_range",
]

#: Length of a media key, in bytes.
MEDIA_KEY_LENGTH = 32
#: Length of the truncated HMAC-SHA256 appended to the ciphertext, in bytes.
MAC_LENGTH = 10
_BLOCK = 16
_OKM_LENGTH = 112

#: What ``update`` accepts: any contiguous bytes-like object.
BytesLike = bytes | bytearray | memoryview


class MediaType(StrEnum):
    """The media types, valued by the names Baileys and the media servers use.

    Each expands its key with its own HKDF info string (:attr:`hkdf_info`); several share one.
    """

    IMAGE = "image"
    STICKER = "sticker"
    PRODUCT = "product"
    BIZ_COVER_PHOTO = "biz-cover-photo"
    VIDEO = "video"
    GIF = "gif"
    PTV = "ptv"
    AUDIO = "audio"
    PTT = "ptt"
    DOCUMENT = "document"
    HISTORY = "md-msg-hist"
    APP_STATE = "md-app-state"
    THUMBNAIL_IMAGE = "thumbnail-image"
    THUMBNAIL_VIDEO = "thumbnail-video"
    THUMBNAIL_DOCUMENT = "thumbnail-document"
    THUMBNAIL_LINK = "thumbnail-link"
    PAYMENT_BACKGROUND = "payment-bg-image"
    STICKER_PACK = "sticker-pack"

    @property
    def hkdf_info(self) -> bytes:
        """The HKDF ``info`` for this type, e.g. ``b"WhatsApp Image Keys"``."""
        return b"WhatsApp " + _INFO_LABELS[self].encode("ascii") + b" Keys"

    @classmethod
    def parse(cls, value: MediaType | str) -> MediaType:
        """``value`` as a :class:`MediaType`; an unknown name is a :class:`LocalProtocolError`."""
        if isinstance(value, MediaType):
            return value
        try:
            return cls(value)
        except ValueError:
            raise LocalProtocolError(f"unknown media type {value!r}") from None


_INFO_LABELS: dict[MediaType, str] = {
    MediaType.IMAGE: "Image",
    MediaType.STICKER: "Image",
    MediaType.PRODUCT: "Image",
    MediaType.BIZ_COVER_PHOTO: "Image",
    MediaType.VIDEO: "Video",
    MediaType.GIF: "Video",
    MediaType.PTV: "Video",
    MediaType.AUDIO: "Audio",
    MediaType.PTT: "Audio",
    MediaType.DOCUMENT: "Document",
    MediaType.HISTORY: "History",
    MediaType.APP_STATE: "App State",
    MediaType.THUMBNAIL_IMAGE: "Image Thumbnail",
    MediaType.THUMBNAIL_VIDEO: "Video Thumbnail",
    MediaType.THUMBNAIL_DOCUMENT: "Document Thumbnail",
    MediaType.THUMBNAIL_LINK: "Link Thumbnail",
    MediaType.PAYMENT_BACKGROUND: "Payment Background",
    MediaType.STICKER_PACK: "Sticker Pack",
}


@dataclass(frozen=True, slots=True)
class MediaKeys:
    """The four keys expanded from a media key."""

    #: AES-CBC initialisation vector (16 bytes).
    iv: bytes
    #: AES-256 key (32 bytes).
    cipher_key: bytes
    #: HMAC-SHA256 key (32 bytes).
    mac_key: bytes
    #: The remaining 32 bytes of the expansion; WhatsApp clients do not use them for media.
    ref_key: bytes

    def __repr__(self) -> str:
        return "MediaKeys(<secret>)"


def expand_media_key(media_key: bytes, media_type: MediaType | str) -> MediaKeys:
    """Expand a 32-byte media key for ``media_type`` (HKDF-SHA256, 112 bytes, no salt).

    A key of another length, or an unknown media type, is a :class:`LocalProtocolError`.
    """
    kind = MediaType.parse(media_type)
    if len(media_key) != MEDIA_KEY_LENGTH:
        raise LocalProtocolError(f"a media key is {MEDIA_KEY_LENGTH} bytes, got {len(media_key)}")
    okm = HKDF(hashes.SHA256(), _OKM_LENGTH, salt=None, info=kind.hkdf_info).derive(bytes(media_key))
    return MediaKeys(iv=okm[0:16], cipher_key=okm[16:48], mac_key=okm[48:80], ref_key=okm[80:112])


def encrypted_size(file_length: int) -> int:
    """Size of the encrypted file (``ct || mac``) for a plaintext of ``file_length`` bytes."""
    if file_length < 0:
        raise LocalProtocolError(f"file_length must be >= 0, got {file_length}")
    return (file_length // _BLOCK + 1) * _BLOCK + MAC_LENGTH


def _aes_cbc(keys: MediaKeys, iv: bytes | None = None) -> Cipher[modes.CBC]:
    return Cipher(algorithms.AES(keys.cipher_key), modes.CBC(keys.iv if iv is None else iv))


# ---------------------------------------------------------------------------------------------- encrypt


@dataclass(frozen=True, slots=True)
class EncryptedMediaInfo:
    """What a message needs to describe an encrypted upload (besides the media key and URL)."""

    #: SHA-256 of the plaintext (``fileSha256``).
    file_sha256: bytes
    #: SHA-256 of the uploaded file, ``ct || mac`` (``fileEncSha256``; also the upload token).
    file_enc_sha256: bytes
    #: Length of the plaintext (``fileLength``).
    file_length: int
    #: The 10-byte MAC that ends the uploaded file.
    mac: bytes


@dataclass(frozen=True, slots=True)
class EncryptedMedia:
    """A whole encrypted file and its description, from :func:`encrypt_media`."""

    #: The bytes to upload: ``ct || mac``.
    data: bytes
    info: EncryptedMediaInfo


class MediaEncryptor:
    """Incremental media encryption.

    ``update(chunk)`` returns the next ciphertext bytes (possibly empty: AES works in 16-byte blocks);
    ``finalize()`` returns the last bytes of the file (the final, padded block and the MAC) together with
    the :class:`EncryptedMediaInfo`. The concatenation of everything returned is the file to upload.
    Chunks may have any sizes; the output does not depend on them.
    """

    def __init__(self, media_key: bytes, media_type: MediaType | str) -> None:
        keys = expand_media_key(media_key, media_type)
        self._cipher: CipherContext | None = _aes_cbc(keys).encryptor()
        self._mac = hmac.new(keys.mac_key, keys.iv, hashlib.sha256)
        self._plain_hash = hashlib.sha256()
        self._enc_hash = hashlib.sha256()
        self._length = 0

    def update(self, chunk: BytesLike) -> bytes:
        """Encrypt the next plaintext chunk; returns the ciphertext available so far."""
        if self._cipher is None:
            raise LocalProtocolError("update() after finalize()")
        self._length += len(chunk)
        self._plain_hash.update(chunk)
        out = self._cipher.update(chunk)
        self._mac.update(out)
        self._enc_hash.update(out)
        return out

    def finalize(self) -> tuple[bytes, EncryptedMediaInfo]:
        """Pad and finish; returns ``(last ciphertext || mac, info)``. The encryptor is then spent."""
        if self._cipher is None:
            raise LocalProtocolError("finalize() called twice")
        pad = _BLOCK - self._length % _BLOCK
        last = self._cipher.update(bytes([pad]) * pad) + self._cipher.finalize()
        self._cipher = None
        self._mac.update(last)
        mac = self._mac.digest()[:MAC_LENGTH]
        tail = last + mac
        self._enc_hash.update(tail)
        info = EncryptedMediaInfo(
            file_sha256=self._plain_hash.digest(),
            file_enc_sha256=self._enc_hash.digest(),
            file_length=self._length,
            mac=mac,
        )
        return tail, info


def encrypt_media(plaintext: BytesLike, media_key: bytes, media_type: MediaType | str) -> EncryptedMedia:
    """Encrypt a whole file in one call (see :class:`MediaEncryptor` for the streaming form)."""
    encryptor = MediaEncryptor(media_key, media_type)
    body = encryptor.update(plaintext)
    tail, info = encryptor.finalize()
    return EncryptedMedia(data=body + tail, info=info)


# ---------------------------------------------------------------------------------------------- decrypt


def _fail(reason: MediaIntegrityReason, message: str) -> MediaIntegrityError:
    return MediaIntegrityError(message, reason=reason)


def _check_length(total: int, file_length: int | None) -> None:
    if file_length is not None and total != encrypted_size(file_length):
        raise _fail(
            "length",
            f"media file is {total} bytes; fileLength {file_length} means {encrypted_size(file_length)}",
        )
    ct_length = total - MAC_LENGTH
    if ct_length < _BLOCK or ct_length % _BLOCK:
        raise _fail(
            "length", f"media file of {total} bytes is not whole AES blocks plus a {MAC_LENGTH}-byte MAC"
        )


def _check_digest(actual: bytes, expected: bytes | None, reason: MediaIntegrityReason, what: str) -> None:
    if expected is not None and not hmac.compare_digest(actual, expected):
        raise _fail(reason, f"{what} does not match")


def _check_options(file_enc_sha256: bytes | None, file_sha256: bytes | None, file_length: int | None) -> None:
    if file_length is not None and file_length < 0:
        raise LocalProtocolError(f"file_length must be a non-negative int or None, got {file_length!r}")


def decrypt_media(
    data: BytesLike,
    media_key: bytes,
    media_type: MediaType | str,
    *,
    file_enc_sha256: bytes | None,
    file_sha256: bytes | None,
    file_length: int | None = None,
) -> bytes:
    """Verify and decrypt a whole downloaded file (``ct || mac``); returns the plaintext.

    Checks, in order: the size (and, when ``file_length`` is given, that it is the size that length
    implies), ``file_enc_sha256``, the MAC, the padding, ``file_sha256``. Pass ``None`` for a hash the
    message did not carry (the check is then skipped; the MAC is always checked). A failure raises
    :class:`MediaIntegrityError` before any plaintext is returned.
    """
    _check_options(file_enc_sha256, file_sha256, file_length)
    keys = expand_media_key(media_key, media_type)
    view = memoryview(data)
    _check_length(len(view), file_length)
    _check_digest(hashlib.sha256(view).digest(), file_enc_sha256, "enc_hash", "SHA-256 of the encrypted file")
    ct, mac = view[:-MAC_LENGTH], view[-MAC_LENGTH:]
    expected_mac = hmac.new(keys.mac_key, keys.iv, hashlib.sha256)
    expected_mac.update(ct)
    _check_digest(expected_mac.digest()[:MAC_LENGTH], bytes(mac), "mac", "media MAC")
    decryptor = _aes_cbc(keys).decryptor()
    padded = decryptor.update(ct)
    decryptor.finalize()  # nothing left over: the length is whole blocks
    plaintext = _unpad_whole(padded)
    _check_digest(hashlib.sha256(plaintext).digest(), file_sha256, "plain_hash", "SHA-256 of the plaintext")
    return plaintext


def _unpad_whole(padded: bytes) -> bytes:
    # Only reached once the MAC has authenticated the ciphertext, so timing here reveals nothing.
    pad = padded[-1]
    if not 1 <= pad <= _BLOCK or padded[-pad:] != bytes([pad]) * pad:
        raise _fail("padding", "bad PKCS#7 padding in decrypted media")
    return padded[:-pad]


class MediaDecryptor:
    """Incremental media decryption with verification at :meth:`finalize`.

    Feed the downloaded file in chunks of any size. ``update`` returns plaintext **that is not yet
    authenticated** (the MAC is the file's last 10 bytes, so it is held back and checked only at the end).
    ``finalize()`` makes every check, in the order of :func:`decrypt_media`, and returns the last
    plaintext bytes; if it raises :class:`MediaIntegrityError`, the caller must discard all the output
    ``update`` produced. With ``file_length`` given, a file that grows past the announced size is rejected
    by ``update`` as soon as it does (reason ``"length"``).
    """

    def __init__(
        self,
        media_key: bytes,
        media_type: MediaType | str,
        *,
        file_enc_sha256: bytes | None,
        file_sha256: bytes | None,
        file_length: int | None = None,
    ) -> None:
        _check_options(file_enc_sha256, file_sha256, file_length)
        keys = expand_media_key(media_key, media_type)
        self._expected_enc = file_enc_sha256
        self._expected_plain = file_sha256
        self._file_length = file_length
        self._limit = None if file_length is None else encrypted_size(file_length)
        self._cipher: CipherContext | None = _aes_cbc(keys).decryptor()
        self._unpadder = padding.PKCS7(128).unpadder()
        self._mac = hmac.new(keys.mac_key, keys.iv, hashlib.sha256)
        self._plain_hash = hashlib.sha256()
        self._enc_hash = hashlib.sha256()
        self._held = b""  # the last MAC_LENGTH bytes seen so far: possibly the MAC
        self._total = 0

    def update(self, chunk: BytesLike) -> bytes:
        """Take the next bytes of the file; returns UNAUTHENTICATED plaintext (see the class docs)."""
        if self._cipher is None:
            raise LocalProtocolError("update() after finalize() or after a failure")
        size = len(chunk)
        if size == 0:
            return b""
        self._total += size
        if self._limit is not None and self._total > self._limit:
            self._cipher = None
            raise _fail(
                "length", f"media file exceeds the {self._limit} bytes fileLength {self._file_length} implies"
            )
        self._enc_hash.update(chunk)
        if size >= MAC_LENGTH:
            view = memoryview(chunk)
            out = self._decrypt(self._held) + self._decrypt(view[:-MAC_LENGTH])
            self._held = bytes(view[-MAC_LENGTH:])
        else:
            joined = self._held + bytes(chunk)
            cut = max(len(joined) - MAC_LENGTH, 0)
            out = self._decrypt(joined[:cut])
            self._held = joined[cut:]
        return out

    def _decrypt(self, ct: BytesLike) -> bytes:
        if not ct:
            return b""
        assert self._cipher is not None
        self._mac.update(ct)
        plain = self._unpadder.update(self._cipher.update(ct))
        self._plain_hash.update(plain)
        return plain

    def finalize(self) -> bytes:
        """Verify everything; returns the last plaintext bytes, or raises :class:`MediaIntegrityError`."""
        cipher = self._cipher
        if cipher is None:
            raise LocalProtocolError("finalize() called twice or after a failure")
        self._cipher = None
        _check_length(self._total, self._file_length)
        _check_digest(
            self._enc_hash.digest(), self._expected_enc, "enc_hash", "SHA-256 of the encrypted file"
        )
        _check_digest(self._mac.digest()[:MAC_LENGTH], self._held, "mac", "media MAC")
        try:
            last = self._unpadder.update(cipher.finalize()) + self._unpadder.finalize()
        except ValueError:
            raise _fail("padding", "bad PKCS#7 padding in decrypted media") from None
        self._plain_hash.update(last)
        _check_digest(
            self._plain_hash.digest(), self._expected_plain, "plain_hash", "SHA-256 of the plaintext"
        )
        return last


# ---------------------------------------------------------------------------------------------- ranges


@dataclass(frozen=True, slots=True)
class MediaRange:
    """Which bytes of the encrypted file to fetch to decrypt plaintext ``start:end``.

    Fetch ``fetch_start:fetch_end`` (an HTTP ``Range: bytes=fetch_start-(fetch_end - 1)``) and hand the
    body to :func:`decrypt_media_range`.
    """

    #: First plaintext byte wanted.
    start: int
    #: One past the last plaintext byte wanted.
    end: int
    #: First byte of the encrypted file to fetch (a block boundary; one block early when it serves as IV).
    fetch_start: int
    #: One past the last byte of the encrypted file to fetch (a block boundary).
    fetch_end: int


def media_range(start: int, end: int, *, file_length: int) -> MediaRange:
    """The encrypted byte range that covers plaintext ``start:end`` of a ``file_length``-byte file."""
    if not 0 <= start < end <= file_length:
        raise LocalProtocolError(f"need 0 <= start < end <= file_length, got {start}, {end}, {file_length}")
    first_block = start // _BLOCK
    fetch_start = max(first_block - 1, 0) * _BLOCK
    fetch_end = ((end - 1) // _BLOCK + 1) * _BLOCK
    return MediaRange(start=start, end=end, fetch_start=fetch_start, fetch_end=fetch_end)


def decrypt_media_range(
    fetched: BytesLike, media_key: bytes, media_type: MediaType | str, wanted: MediaRange
) -> bytes:
    """Decrypt plaintext ``wanted.start:wanted.end`` from the bytes fetched for ``wanted``.

    UNAUTHENTICATED: a range carries neither the MAC nor anything the hashes cover. A body of the wrong
    size is a :class:`MediaIntegrityError` (reason ``"length"``).
    """
    keys = expand_media_key(media_key, media_type)
    view = memoryview(fetched)
    if len(view) != wanted.fetch_end - wanted.fetch_start:
        raise _fail(
            "length", f"ranged body is {len(view)} bytes, expected {wanted.fetch_end - wanted.fetch_start}"
        )
    if wanted.fetch_start == 0:
        iv, ct, offset = keys.iv, view, 0
    else:
        iv, ct, offset = bytes(view[:_BLOCK]), view[_BLOCK:], wanted.fetch_start + _BLOCK
    decryptor = _aes_cbc(keys, iv).decryptor()
    plain = decryptor.update(ct) + decryptor.finalize()
    return plain[wanted.start - offset : wanted.end - offset]
