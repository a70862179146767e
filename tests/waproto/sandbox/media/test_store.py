"""waproto.sandbox.media.store: upload tokens, the memory and directory stores, and their limits."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from waproto.errors import LocalProtocolError
from waproto.sandbox.media.store import BlobStore, StoreRefusal, digest_from_token, token_from_digest

BLOB = b"\x01\x02 encrypted bytes" * 10
DIGEST = hashlib.sha256(BLOB).digest()


@given(st.binary(min_size=32, max_size=32))
def test_tokens_round_trip_padded_or_not(digest: bytes) -> None:
    token = token_from_digest(digest)
    assert len(token) == 43
    assert "=" not in token
    assert digest_from_token(token) == digest
    assert digest_from_token(token + "=") == digest  # whatsmeow keeps the padding


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        base64.b64encode(bytes(range(200, 232))).decode(),  # standard alphabet ('+', '/')
        token_from_digest(bytes(31)),
        token_from_digest(bytes(33)),
        token_from_digest(bytes(32))[:-1] + "B",  # non-canonical: stray low bits
        "é" * 43,
        "A" * 100,
        "=" * 44,
    ],
)
def test_malformed_tokens_are_none(token: str) -> None:
    assert digest_from_token(token) is None


@given(st.text(max_size=80))
def test_no_text_makes_digest_from_token_raise(text: str) -> None:
    digest = digest_from_token(text)
    assert digest is None or len(digest) == 32


def test_memory_store_round_trip_and_dedup() -> None:
    store = BlobStore()
    assert store.directory is None
    assert store.put(BLOB) == DIGEST
    assert store.put(BLOB) == DIGEST
    assert len(store) == 1
    assert store.total_size == len(BLOB)
    assert DIGEST in store
    assert store.get(DIGEST) == BLOB
    assert store.get(bytes(32)) is None


def test_directory_store_survives_a_restart(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    store.put(BLOB)
    assert (tmp_path / "blobs" / DIGEST.hex()).read_bytes() == BLOB
    (tmp_path / "blobs" / "stray.tmp").write_bytes(b"ignored")
    (tmp_path / "blobs" / ("00" * 31)).write_bytes(b"not a digest name")
    again = BlobStore(tmp_path / "blobs")
    assert len(again) == 1
    assert again.total_size == len(BLOB)
    assert again.get(DIGEST) == BLOB


def test_a_damaged_file_is_missing_not_served(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    store.put(BLOB)
    (tmp_path / DIGEST.hex()).write_bytes(b"tampered")
    assert store.get(DIGEST) is None
    assert DIGEST not in store
    assert store.total_size == 0
    other = hashlib.sha256(b"gone").digest()
    store.put(b"gone")
    (tmp_path / other.hex()).unlink()
    assert store.get(other) is None


def test_limits_are_checked_before_writing(tmp_path: Path) -> None:
    store = BlobStore(tmp_path, max_blob_size=100, max_total_size=150)
    assert store.refusal(101) is StoreRefusal.TOO_LARGE
    first = b"a" * 100
    store.put(first)
    assert store.refusal(51) is StoreRefusal.STORE_FULL
    assert store.refusal(50) is None
    assert store.refusal(100, hashlib.sha256(first).digest()) is None  # already held: always fits
    store.put(first)
    with pytest.raises(LocalProtocolError, match="store_full"):
        store.put(b"b" * 60)
    with pytest.raises(LocalProtocolError, match="too_large"):
        store.put(b"c" * 101)
    assert sorted(p.name for p in tmp_path.iterdir()) == [hashlib.sha256(first).hexdigest()]


@pytest.mark.parametrize(("blob", "total"), [(0, 10), (10, 9)])
def test_nonsensical_limits_are_refused(blob: int, total: int) -> None:
    with pytest.raises(LocalProtocolError):
        BlobStore(max_blob_size=blob, max_total_size=total)
