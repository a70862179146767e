"""The sandbox media server's blob store: encrypted media files, keyed by their SHA-256.

Clients upload ``ct || mac`` (PROTOCOL.md §7) under the token ``base64url(SHA-256(file))``; the store keeps
each file once under that digest, whoever uploads it. A store is either in memory (``directory=None``) or a
directory of files named by the digest in hex, written atomically (temporary file, then rename) and indexed
again on a restart; a file whose content no longer matches its name is treated as missing.

Two limits, both checked before anything is written: ``max_blob_size`` per file and ``max_total_size`` for
the whole store. :meth:`BlobStore.refusal` says why a file of a given size would not fit, so the HTTP layer
can answer 413 or 507 before reading a body.

This module is NOT the HTTP server (see ``waproto.sandbox.media.server``) and never decrypts anything: the
sandbox only ever holds ciphertext. Disk I/O is blocking; files are media-sized, the sandbox is a test tool.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from enum import StrEnum
from pathlib import Path

from waproto.errors import LocalProtocolError

__all__ = [
    "DEFAULT_MAX_BLOB_SIZE",
    "DEFAULT_MAX_TOTAL_SIZE",
    "BlobStore",
    "StoreRefusal",
    "digest_from_token",
    "token_from_digest",
]

#: Default largest accepted file: 64 MiB (WhatsApp's own limits are per type and larger).
DEFAULT_MAX_BLOB_SIZE = 64 << 20
#: Default capacity of a store: 1 GiB.
DEFAULT_MAX_TOTAL_SIZE = 1 << 30
_DIGEST_LENGTH = 32


class StoreRefusal(StrEnum):
    """Why a file would not be stored (the value is the HTTP error code the server answers with)."""

    TOO_LARGE = "too_large"
    STORE_FULL = "store_full"


def digest_from_token(token: str) -> bytes | None:
    """The 32-byte SHA-256 an upload token names, or None when ``token`` is not one.

    Tokens are URL-safe base64, with (whatsmeow) or without (Baileys) ``=`` padding.
    """
    if not token or len(token) > 64 or not token.isascii():
        return None
    stripped = token.rstrip("=")
    if any(c in stripped for c in "+/="):
        return None
    try:
        digest = base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(digest) != _DIGEST_LENGTH or token_from_digest(digest) != stripped:
        return None  # non-canonical encodings (stray low bits) are refused too
    return digest


def token_from_digest(digest: bytes) -> str:
    """The canonical (unpadded, URL-safe base64) token of a 32-byte digest."""
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class BlobStore:
    """Encrypted media files by SHA-256, in memory or in ``directory``, within size limits."""

    def __init__(
        self,
        directory: Path | str | None = None,
        *,
        max_blob_size: int = DEFAULT_MAX_BLOB_SIZE,
        max_total_size: int = DEFAULT_MAX_TOTAL_SIZE,
    ) -> None:
        if max_blob_size < 1 or max_total_size < max_blob_size:
            raise LocalProtocolError("need 1 <= max_blob_size <= max_total_size")
        #: Largest file accepted, in bytes.
        self.max_blob_size = max_blob_size
        #: Capacity of the whole store, in bytes.
        self.max_total_size = max_total_size
        self._directory = None if directory is None else Path(directory)
        self._memory: dict[bytes, bytes] = {}
        self._sizes: dict[bytes, int] = {}
        self._total = 0
        if self._directory is not None:
            self._directory.mkdir(parents=True, exist_ok=True)
            self._index()

    def _index(self) -> None:
        assert self._directory is not None
        for entry in self._directory.iterdir():
            try:
                digest = bytes.fromhex(entry.name)
            except ValueError:
                continue  # temporary files and strangers
            if len(digest) == _DIGEST_LENGTH and entry.name == digest.hex() and entry.is_file():
                self._sizes[digest] = entry.stat().st_size
                self._total += self._sizes[digest]

    @property
    def directory(self) -> Path | None:
        """Where files are kept, or None for a memory store."""
        return self._directory

    @property
    def total_size(self) -> int:
        """Bytes held."""
        return self._total

    def __len__(self) -> int:
        return len(self._sizes)

    def __contains__(self, digest: object) -> bool:
        return digest in self._sizes

    def refusal(self, size: int, digest: bytes | None = None) -> StoreRefusal | None:
        """Why a file of ``size`` bytes would be refused, or None if it fits (a file already held always fits)."""
        if size > self.max_blob_size:
            return StoreRefusal.TOO_LARGE
        if digest is not None and digest in self._sizes:
            return None
        if self.total_size + size > self.max_total_size:
            return StoreRefusal.STORE_FULL
        return None

    def put(self, data: bytes) -> bytes:
        """Store ``data`` and return its SHA-256 (the key). Storing the same bytes twice keeps one copy.

        Raises :class:`~waproto.errors.LocalProtocolError` if :meth:`refusal` would refuse it.
        """
        digest = hashlib.sha256(data).digest()
        refused = self.refusal(len(data), digest)
        if refused is not None:
            raise LocalProtocolError(f"blob refused: {refused.value}")
        if digest in self._sizes:
            return digest
        if self._directory is None:
            self._memory[digest] = bytes(data)
        else:
            path = self._directory / digest.hex()
            tmp = self._directory / (digest.hex() + ".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        self._sizes[digest] = len(data)
        self._total += len(data)
        return digest

    def get(self, digest: bytes) -> bytes | None:
        """The file stored under ``digest``, or None (also when a file on disk no longer matches its name)."""
        if digest not in self._sizes:
            return None
        if self._directory is None:
            return self._memory[digest]
        try:
            data = (self._directory / digest.hex()).read_bytes()
        except OSError:
            data = b""
        if hashlib.sha256(data).digest() != digest:
            self._total -= self._sizes.pop(digest)  # gone or damaged behind our back
            return None
        return data
