"""Benchmark of waproto.media: streaming encrypt and decrypt throughput, and peak memory, on a 100 MB file.

Run: ``.venv/bin/python bench/media.py [--mb 100] [--chunk-kib 1024]``.

The "file" is generated chunk by chunk and never exists as a whole; the encrypted stream is fed straight
into a decryptor (with every check on: length, both hashes, MAC, padding), so what is measured is the
crypto plus the per-chunk bookkeeping. Peak memory is measured in a separate pass under ``tracemalloc``
(Python-level allocations, which include the bytes objects ``cryptography`` returns), so the timing
passes run without its overhead. The one-shot functions are timed too, for comparison, on a smaller file.

This is a measuring script, not a test: it asserts only that what it decrypted is what it encrypted.
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import time
import tracemalloc
from collections.abc import Iterator

from waproto.media import MediaDecryptor, MediaEncryptor, decrypt_media, encrypt_media

KEY = bytes(range(32))


def source(total: int, chunk_size: int) -> Iterator[bytes]:
    """``total`` bytes in ``chunk_size`` pieces; the content varies per chunk, cheaply."""
    base = hashlib.shake_256(b"waporta bench").digest(chunk_size)
    sent = 0
    n = 0
    while sent < total:
        size = min(chunk_size, total - sent)
        yield (n.to_bytes(8, "big") + base[8:size]) if size > 8 else base[:size]
        sent += size
        n += 1


def encrypt_pass(total: int, chunk_size: int) -> tuple[float, bytes, bytes]:
    """Encrypt; returns (seconds spent in the encryptor only, fileEncSha256, fileSha256)."""
    enc = MediaEncryptor(KEY, "video")
    spent = 0.0
    for chunk in source(total, chunk_size):
        t0 = time.perf_counter()
        enc.update(chunk)
        spent += time.perf_counter() - t0
    t0 = time.perf_counter()
    _, info = enc.finalize()
    return spent + time.perf_counter() - t0, info.file_enc_sha256, info.file_sha256


def encrypted_chunks(total: int, chunk_size: int) -> Iterator[bytes]:
    enc = MediaEncryptor(KEY, "video")
    for chunk in source(total, chunk_size):
        yield enc.update(chunk)
    tail, _ = enc.finalize()
    yield tail


def decrypt_pass(total: int, chunk_size: int, enc_sha: bytes, sha: bytes) -> float:
    """Decrypt a pre-encrypted stream; returns seconds spent in the decryptor only."""
    dec = MediaDecryptor(KEY, "video", file_enc_sha256=enc_sha, file_sha256=sha, file_length=total)
    spent = 0.0
    for chunk in encrypted_chunks(total, chunk_size):
        t0 = time.perf_counter()
        dec.update(chunk)
        spent += time.perf_counter() - t0
    t0 = time.perf_counter()
    dec.finalize()
    return spent + time.perf_counter() - t0


def memory_pass(total: int, chunk_size: int, enc_sha: bytes, sha: bytes) -> int:
    """Peak traced bytes while encrypting and decrypting the whole stream, chunk by chunk."""
    tracemalloc.start()
    try:
        dec = MediaDecryptor(KEY, "video", file_enc_sha256=enc_sha, file_sha256=sha, file_length=total)
        for chunk in encrypted_chunks(total, chunk_size):
            dec.update(chunk)
        dec.finalize()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def one_shot(total: int) -> tuple[float, float]:
    plaintext = b"".join(source(total, 1 << 20))
    t0 = time.perf_counter()
    enc = encrypt_media(plaintext, KEY, "video")
    t1 = time.perf_counter()
    out = decrypt_media(
        enc.data, KEY, "video", file_enc_sha256=enc.info.file_enc_sha256, file_sha256=enc.info.file_sha256
    )
    t2 = time.perf_counter()
    assert out == plaintext
    return t1 - t0, t2 - t1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100, help="file size in MB (10^6 bytes); default 100")
    parser.add_argument("--chunk-kib", type=int, default=1024, help="chunk size in KiB; default 1024")
    args = parser.parse_args()
    total, chunk_size = args.mb * 1_000_000, args.chunk_kib * 1024
    mb = total / 1e6

    enc_s, enc_sha, sha = encrypt_pass(total, chunk_size)
    dec_s = decrypt_pass(total, chunk_size, enc_sha, sha)
    peak = memory_pass(total, chunk_size, enc_sha, sha)
    small = min(total, 20_000_000)
    one_enc, one_dec = one_shot(small)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux

    print(f"waproto.media, {mb:.0f} MB stream in {args.chunk_kib} KiB chunks")
    print(f"  streaming encrypt : {mb / enc_s:8.1f} MB/s  ({enc_s:.2f} s)")
    print(f"  streaming decrypt : {mb / dec_s:8.1f} MB/s  ({dec_s:.2f} s, all checks on)")
    print(f"  peak traced memory, encrypt+decrypt stream: {peak / 2**20:.2f} MiB")
    print(
        f"  one-shot on {small / 1e6:.0f} MB: encrypt {small / 1e6 / one_enc:.1f} MB/s, decrypt {small / 1e6 / one_dec:.1f} MB/s"
    )
    print(f"  process max RSS (includes the one-shot pass): {rss / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
