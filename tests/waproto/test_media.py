"""waproto.media: key expansion, encryption and verified decryption of media, against Baileys too.

The frozen vectors at the top were produced by Baileys 6.7.24's own ``encryptedStream`` (through the
``media.v6.encryptedStream`` harness op), so they check us against Baileys even where Node is absent; the
``interop`` tests below redo that live, in both directions, for Baileys 6 and 7.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import tracemalloc
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import example, given
from hypothesis import strategies as st

from tests.interop.harness import Harness
from waproto.errors import DecryptionError, LocalProtocolError, MediaIntegrityError, RemoteProtocolError
from waproto.media import (
    MAC_LENGTH,
    MediaDecryptor,
    MediaEncryptor,
    MediaKeys,
    MediaType,
    decrypt_media,
    decrypt_media_range,
    encrypt_media,
    encrypted_size,
    expand_media_key,
    media_range,
)

KEY = bytes(range(32))

# (media type, mediaKey, plaintext, ct || mac, fileSha256, fileEncSha256) from Baileys 6.7.24 encryptedStream.
BAILEYS_VECTORS = [
    (
        "image",
        "3640070a637fd24d7f2af1d374766dd5be46c8e7a6fc7e2b49a8be8dc14ec8dc",
        b"waporta media vector: image",
        "9cd877f2e7492d88f23ff7a01f02fbb32c9aab0ea3905da6360527e05239b4619e27b2bff0b9573ec667",
        "df2a9f8357b28a56921e17fa08028be097230d8f9c511477a1f7938bc3f35bd1",
        "e171d60d6d75e41c18770ed234d396e48dd436903033d8c43f8956083738d764",
    ),
    (
        "video",
        "45521712521ca0a20238fa9e361fd20f9ff8cddf1f3f4e429a9b4ea2d35a2804",
        b"waporta media vector: video",
        "c4184c49d3399595649cb1b0aa1fc36bb52112df3103f96b98081701a3732f551a127b1ca320979dc3af",
        "1bb28d7349baf62070859f5fc75bd79142c15f74e9d602f98896b97030d96376",
        "ee5542296a65bcb2e2ed03fc7f5290153b5e1fa329a305a0a026cc02989e8004",
    ),
    (
        "audio",
        "adf30d3ffd90ce3dab0bbf0c5edebd217817f6a8817127505cb2c760f0f77f30",
        b"waporta media vector: audio",
        "b4fb924f3a4b8d2524f7ac99378481b7f047b9b3ab970f59763b191432ae53f1dcf2a03a1ec52b50d798",
        "49d7beaf3d0660a115d73ec6e233746b26fab40afe7d88c04d56205daf9ab412",
        "0e34bee266285e8fd7d7a3e541d6f16f698070b418f44797769004d2866ddf21",
    ),
    (
        "document",
        "4ce5303cfd1634b5e40615d0e1d74086ae38dcddd17bac64801dc8fe6b064d62",
        b"waporta media vector: document",
        "1b085861bda72d84973367f6c537b9f9fedc817ca968f3a54c530002edaa9e727adb619189088d0a90c4",
        "982f9eebd4092edbcb3bff0701dc044d4a1f50315c7900afe70bf1b561977daf",
        "abf75e99887b7157c2ca13f8609d17109e67af5a79e0a96ad9598900cd924387",
    ),
]


# ------------------------------------------------------------------------------ an independent reference


def reference_hkdf(ikm: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 with an all-zero salt, written out with stdlib hmac (not the code under test)."""
    prk = hmac.digest(b"\0" * 32, ikm, "sha256")
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.digest(prk, block + info + bytes([counter]), "sha256")
        out += block
        counter += 1
    return out[:length]


def reference_encrypt(plaintext: bytes, keys: MediaKeys) -> bytes:
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    enc = Cipher(algorithms.AES(keys.cipher_key), modes.CBC(keys.iv)).encryptor()
    ct = enc.update(padded) + enc.finalize()
    return ct + hmac.digest(keys.mac_key, keys.iv + ct, "sha256")[:10]


def sealed(plaintext: bytes, media_type: str = "image") -> tuple[bytes, bytes, bytes]:
    """(file, fileSha256, fileEncSha256) for ``plaintext`` under KEY."""
    enc = encrypt_media(plaintext, KEY, media_type)
    return enc.data, enc.info.file_sha256, enc.info.file_enc_sha256


# ------------------------------------------------------------------------------ media types and keys


@pytest.mark.parametrize(
    ("media_type", "info"),
    [
        ("image", b"WhatsApp Image Keys"),
        ("sticker", b"WhatsApp Image Keys"),
        ("product", b"WhatsApp Image Keys"),
        ("video", b"WhatsApp Video Keys"),
        ("gif", b"WhatsApp Video Keys"),
        ("ptv", b"WhatsApp Video Keys"),
        ("audio", b"WhatsApp Audio Keys"),
        ("ptt", b"WhatsApp Audio Keys"),
        ("document", b"WhatsApp Document Keys"),
        ("md-msg-hist", b"WhatsApp History Keys"),
        ("md-app-state", b"WhatsApp App State Keys"),
        ("thumbnail-image", b"WhatsApp Image Thumbnail Keys"),
        ("thumbnail-video", b"WhatsApp Video Thumbnail Keys"),
        ("thumbnail-document", b"WhatsApp Document Thumbnail Keys"),
        ("thumbnail-link", b"WhatsApp Link Thumbnail Keys"),
        ("payment-bg-image", b"WhatsApp Payment Background Keys"),
        ("sticker-pack", b"WhatsApp Sticker Pack Keys"),
    ],
)
def test_hkdf_info_per_media_type(media_type: str, info: bytes) -> None:
    assert MediaType(media_type).hkdf_info == info
    okm = reference_hkdf(KEY, info, 112)
    keys = expand_media_key(KEY, media_type)
    assert (keys.iv, keys.cipher_key, keys.mac_key, keys.ref_key) == (
        okm[:16],
        okm[16:48],
        okm[48:80],
        okm[80:],
    )
    assert expand_media_key(KEY, MediaType(media_type)) == keys


def test_every_media_type_has_an_info_string() -> None:
    assert all(m.hkdf_info.startswith(b"WhatsApp ") for m in MediaType)


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_media_key_must_be_32_bytes(length: int) -> None:
    with pytest.raises(LocalProtocolError, match="32 bytes"):
        expand_media_key(bytes(length), "image")
    with pytest.raises(LocalProtocolError):
        MediaEncryptor(bytes(length), "image")
    with pytest.raises(LocalProtocolError):
        decrypt_media(b"", bytes(length), "image", file_enc_sha256=None, file_sha256=None)


@pytest.mark.parametrize("name", ["", "Image", "ppic", "picture", "thumbnail-sticker"])
def test_unknown_media_type(name: str) -> None:
    with pytest.raises(LocalProtocolError, match="unknown media type"):
        expand_media_key(KEY, name)
    with pytest.raises(LocalProtocolError):
        MediaDecryptor(KEY, name, file_enc_sha256=None, file_sha256=None)


def test_keys_do_not_print_their_secrets() -> None:
    keys = expand_media_key(KEY, "image")
    assert keys.cipher_key.hex() not in repr(keys)
    assert "secret" in repr(keys)


def test_error_family() -> None:
    assert issubclass(MediaIntegrityError, DecryptionError)
    assert issubclass(MediaIntegrityError, RemoteProtocolError)


# ------------------------------------------------------------------------------ Baileys' frozen vectors


@pytest.mark.parametrize("vector", BAILEYS_VECTORS, ids=[v[0] for v in BAILEYS_VECTORS])
def test_baileys_vectors(vector: tuple[str, str, bytes, str, str, str]) -> None:
    media_type, key_hex, plaintext, file_hex, sha_hex, enc_sha_hex = vector
    key, file = bytes.fromhex(key_hex), bytes.fromhex(file_hex)
    enc = encrypt_media(plaintext, key, media_type)
    assert enc.data == file
    assert enc.info.file_sha256.hex() == sha_hex
    assert enc.info.file_enc_sha256.hex() == enc_sha_hex
    assert enc.info.file_length == len(plaintext)
    assert enc.info.mac == file[-10:]
    got = decrypt_media(
        file, key, media_type, file_enc_sha256=bytes.fromhex(enc_sha_hex), file_sha256=bytes.fromhex(sha_hex)
    )
    assert got == plaintext


# ------------------------------------------------------------------------------ encryption


@pytest.mark.parametrize("length", [0, 1, 15, 16, 17, 31, 32, 33, 1000])
def test_encrypt_matches_reference(length: int) -> None:
    plaintext = bytes(i % 251 for i in range(length))
    enc = encrypt_media(plaintext, KEY, "document")
    keys = expand_media_key(KEY, "document")
    assert enc.data == reference_encrypt(plaintext, keys)
    assert len(enc.data) == encrypted_size(length)
    assert enc.info.file_sha256 == hashlib.sha256(plaintext).digest()
    assert enc.info.file_enc_sha256 == hashlib.sha256(enc.data).digest()
    assert enc.info.file_length == length
    assert enc.info.mac == enc.data[-MAC_LENGTH:]


def test_encrypted_size() -> None:
    assert [encrypted_size(n) for n in (0, 1, 15, 16, 17)] == [26, 26, 26, 42, 42]
    with pytest.raises(LocalProtocolError):
        encrypted_size(-1)


def test_encryptor_is_spent_after_finalize() -> None:
    enc = MediaEncryptor(KEY, "image")
    enc.update(b"abc")
    enc.finalize()
    with pytest.raises(LocalProtocolError):
        enc.update(b"more")
    with pytest.raises(LocalProtocolError):
        enc.finalize()


def chunked(data: bytes, cuts: list[int]) -> Iterator[bytes]:
    """``data`` split at the (sorted, deduplicated, clipped) cut points, empty pieces included."""
    points = [0, *sorted(min(c, len(data)) for c in cuts), len(data)]
    for a, b in itertools.pairwise(points):
        yield data[a:b]


lengths = st.one_of(st.sampled_from([0, 1, 15, 16, 17, 31, 32, 33, 47, 48, 49]), st.integers(0, 600))


@given(length=lengths, cuts=st.lists(st.integers(0, 600), max_size=12), seed=st.integers(0, 255))
@example(length=0, cuts=[], seed=0)
@example(length=16, cuts=[0, 0, 16], seed=1)
def test_streaming_encrypt_equals_one_shot(length: int, cuts: list[int], seed: int) -> None:
    plaintext = bytes((seed + 7 * i) % 256 for i in range(length))
    enc = MediaEncryptor(KEY, "video")
    body = b"".join(enc.update(piece) for piece in chunked(plaintext, cuts))
    tail, info = enc.finalize()
    whole = encrypt_media(plaintext, KEY, "video")
    assert body + tail == whole.data
    assert info == whole.info


@given(length=lengths, cuts=st.lists(st.integers(0, 700), max_size=12), seed=st.integers(0, 255))
@example(length=0, cuts=[], seed=0)
@example(length=17, cuts=[1, 9, 10, 11, 26, 27], seed=3)
def test_streaming_decrypt_round_trip(length: int, cuts: list[int], seed: int) -> None:
    plaintext = bytes((seed + 13 * i) % 256 for i in range(length))
    file, sha, enc_sha = sealed(plaintext)
    assert decrypt_media(file, KEY, "image", file_enc_sha256=enc_sha, file_sha256=sha) == plaintext
    dec = MediaDecryptor(KEY, "image", file_enc_sha256=enc_sha, file_sha256=sha, file_length=length)
    parts = [dec.update(piece) for piece in chunked(file, cuts)]
    parts.append(dec.finalize())
    assert b"".join(parts) == plaintext


def test_update_accepts_bytearray_and_memoryview() -> None:
    plaintext = bytes(range(100))
    enc = MediaEncryptor(KEY, "image")
    body = enc.update(bytearray(plaintext[:50])) + enc.update(memoryview(plaintext)[50:])
    tail, _ = enc.finalize()
    file = body + tail
    assert file == encrypt_media(plaintext, KEY, "image").data
    dec = MediaDecryptor(KEY, "image", file_enc_sha256=None, file_sha256=None)
    out = dec.update(bytearray(file[:40])) + dec.update(memoryview(file)[40:])
    assert out + dec.finalize() == plaintext


# ------------------------------------------------------------------------------ verification failures


def reason_of(
    data: bytes,
    *,
    one_shot: bool,
    file_enc_sha256: bytes | None,
    file_sha256: bytes | None,
    file_length: int | None = None,
) -> str:
    """The reason decrypting ``data`` (under KEY, as an image) fails, one-shot or 7 bytes at a time."""
    checks = {"file_enc_sha256": file_enc_sha256, "file_sha256": file_sha256, "file_length": file_length}

    def run() -> None:
        if one_shot:
            decrypt_media(data, KEY, "image", **checks)  # type: ignore[arg-type]
            return
        dec = MediaDecryptor(KEY, "image", **checks)  # type: ignore[arg-type]
        for i in range(0, len(data), 7):
            dec.update(data[i : i + 7])
        dec.finalize()

    with pytest.raises(MediaIntegrityError) as info:
        run()
    return info.value.reason


PLAIN = b"a picture is worth a thousand words" * 3
FILE, SHA, ENC_SHA = sealed(PLAIN)
BOTH = [pytest.param(True, id="one-shot"), pytest.param(False, id="streaming")]


def flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


@pytest.mark.parametrize("one_shot", BOTH)
def test_corrupted_mac(one_shot: bool) -> None:
    bad = flip(FILE, len(FILE) - 1)
    # With the encrypted-file hash, corruption anywhere is caught first by that hash…
    assert reason_of(bad, one_shot=one_shot, file_enc_sha256=ENC_SHA, file_sha256=SHA) == "enc_hash"
    # …and the MAC catches it on its own, when the message carried no hash or the hash was recomputed.
    assert reason_of(bad, one_shot=one_shot, file_enc_sha256=None, file_sha256=SHA) == "mac"
    recomputed = hashlib.sha256(bad).digest()
    assert reason_of(bad, one_shot=one_shot, file_enc_sha256=recomputed, file_sha256=SHA) == "mac"


@pytest.mark.parametrize("one_shot", BOTH)
@pytest.mark.parametrize("index", [0, 15, 16, 40])
def test_corrupted_ciphertext_fails_the_mac(one_shot: bool, index: int) -> None:
    assert reason_of(flip(FILE, index), one_shot=one_shot, file_enc_sha256=None, file_sha256=None) == "mac"


@pytest.mark.parametrize("one_shot", BOTH)
def test_wrong_enc_hash(one_shot: bool) -> None:
    assert reason_of(FILE, one_shot=one_shot, file_enc_sha256=flip(ENC_SHA, 3), file_sha256=SHA) == "enc_hash"
    assert reason_of(FILE, one_shot=one_shot, file_enc_sha256=ENC_SHA[:31], file_sha256=SHA) == "enc_hash"


@pytest.mark.parametrize("one_shot", BOTH)
def test_wrong_plain_hash(one_shot: bool) -> None:
    assert (
        reason_of(FILE, one_shot=one_shot, file_enc_sha256=ENC_SHA, file_sha256=flip(SHA, 0)) == "plain_hash"
    )
    assert reason_of(FILE, one_shot=one_shot, file_enc_sha256=None, file_sha256=b"") == "plain_hash"


@pytest.mark.parametrize("one_shot", BOTH)
def test_truncated_file(one_shot: bool) -> None:
    cut_block = FILE[:-26] + FILE[-10:]  # a whole block missing, the MAC kept
    # Told the length, the size check fires first; otherwise the hash, or (without a hash) the MAC.
    for short in (FILE[:-1], FILE[:-16], cut_block):
        assert (
            reason_of(
                short, one_shot=one_shot, file_enc_sha256=ENC_SHA, file_sha256=SHA, file_length=len(PLAIN)
            )
            == "length"
        )
    assert reason_of(cut_block, one_shot=one_shot, file_enc_sha256=ENC_SHA, file_sha256=SHA) == "enc_hash"
    assert reason_of(cut_block, one_shot=one_shot, file_enc_sha256=None, file_sha256=None) == "mac"
    # Not whole blocks plus a MAC: a length failure whatever else is known.
    for short in (FILE[:-1], b"", FILE[:10], FILE[:25]):
        assert reason_of(short, one_shot=one_shot, file_enc_sha256=None, file_sha256=None) == "length"


@pytest.mark.parametrize("one_shot", BOTH)
def test_longer_than_announced(one_shot: bool) -> None:
    longer, _, enc_sha = sealed(PLAIN + b"!" * 16)
    assert (
        reason_of(
            longer, one_shot=one_shot, file_enc_sha256=enc_sha, file_sha256=None, file_length=len(PLAIN)
        )
        == "length"
    )


def test_streaming_rejects_overflow_during_update() -> None:
    dec = MediaDecryptor(KEY, "image", file_enc_sha256=None, file_sha256=None, file_length=len(PLAIN))
    dec.update(FILE)
    with pytest.raises(MediaIntegrityError) as info:
        dec.update(b"x")
    assert info.value.reason == "length"
    with pytest.raises(LocalProtocolError):
        dec.finalize()


@pytest.mark.parametrize("one_shot", BOTH)
@pytest.mark.parametrize("last_byte", [0, 17, 255, 2])
def test_bad_padding_behind_a_valid_mac(one_shot: bool, last_byte: int) -> None:
    # A sender that authenticates a ciphertext whose padding is wrong: only the padding check can tell.
    keys = expand_media_key(KEY, "image")
    block = bytes(15) + bytes([last_byte])  # last_byte 2 with a preceding 0 is also invalid PKCS#7
    enc = Cipher(algorithms.AES(keys.cipher_key), modes.CBC(keys.iv)).encryptor()
    ct = enc.update(b"sixteen byte msg" + block) + enc.finalize()
    file = ct + hmac.digest(keys.mac_key, keys.iv + ct, "sha256")[:10]
    enc_sha = hashlib.sha256(file).digest()
    assert reason_of(file, one_shot=one_shot, file_enc_sha256=enc_sha, file_sha256=None) == "padding"


@pytest.mark.parametrize("one_shot", BOTH)
def test_checks_run_in_whatsmeows_order(one_shot: bool) -> None:
    bad_mac = flip(FILE, len(FILE) - 1)
    # enc-hash before MAC before plain hash
    assert (
        reason_of(bad_mac, one_shot=one_shot, file_enc_sha256=ENC_SHA, file_sha256=flip(SHA, 0)) == "enc_hash"
    )
    assert reason_of(bad_mac, one_shot=one_shot, file_enc_sha256=None, file_sha256=flip(SHA, 0)) == "mac"


def test_streaming_output_before_finalize_is_unverified() -> None:
    # The documented contract: update() hands out plaintext; only finalize() judges the file.
    bad = flip(FILE, len(FILE) - 1)
    dec = MediaDecryptor(KEY, "image", file_enc_sha256=None, file_sha256=None)
    early = dec.update(bad)
    assert early
    assert PLAIN.startswith(early)
    with pytest.raises(MediaIntegrityError):
        dec.finalize()
    with pytest.raises(LocalProtocolError):
        dec.update(b"more")
    with pytest.raises(LocalProtocolError):
        dec.finalize()


def test_streaming_holds_back_the_mac() -> None:
    dec = MediaDecryptor(KEY, "image", file_enc_sha256=ENC_SHA, file_sha256=SHA)
    out = dec.update(FILE)
    # Everything but the last block (kept for the padding) came out; the MAC never reached the cipher.
    assert out == PLAIN[: len(out)]
    assert len(out) >= len(PLAIN) - 16
    assert out + dec.finalize() == PLAIN


def test_negative_file_length_is_local_misuse() -> None:
    with pytest.raises(LocalProtocolError):
        decrypt_media(FILE, KEY, "image", file_enc_sha256=None, file_sha256=None, file_length=-1)
    with pytest.raises(LocalProtocolError):
        MediaDecryptor(KEY, "image", file_enc_sha256=None, file_sha256=None, file_length=-1)


# ------------------------------------------------------------------------------ ranges


@given(length=st.integers(1, 300), data=st.data())
@example(length=16, data=None)
def test_range_decrypts_any_slice(length: int, data: st.DataObject | None) -> None:
    plaintext = bytes((3 * i + 1) % 256 for i in range(length))
    file = encrypt_media(plaintext, KEY, "audio").data
    if data is None:
        spans = [(0, length), (length - 1, length)]
    else:
        start = data.draw(st.integers(0, length - 1))
        spans = [(start, data.draw(st.integers(start + 1, length)))]
    for start, end in spans:
        wanted = media_range(start, end, file_length=length)
        assert wanted.fetch_start % 16 == 0
        assert wanted.fetch_end % 16 == 0
        assert wanted.fetch_end <= len(file) - MAC_LENGTH
        body = file[wanted.fetch_start : wanted.fetch_end]
        assert decrypt_media_range(body, KEY, "audio", wanted) == plaintext[start:end]


def test_range_fetch_bounds() -> None:
    r = media_range(0, 1, file_length=100)
    assert (r.fetch_start, r.fetch_end) == (0, 16)  # the first block uses the expanded IV
    r = media_range(40, 70, file_length=100)
    assert (r.fetch_start, r.fetch_end) == (16, 80)  # block 1 is the IV for blocks 2..4
    r = media_range(16, 17, file_length=100)
    assert (r.fetch_start, r.fetch_end) == (0, 32)


@pytest.mark.parametrize(("start", "end"), [(-1, 5), (5, 5), (6, 5), (0, 101)])
def test_bad_range(start: int, end: int) -> None:
    with pytest.raises(LocalProtocolError):
        media_range(start, end, file_length=100)


def test_range_body_of_the_wrong_size() -> None:
    file = encrypt_media(bytes(100), KEY, "audio").data
    wanted = media_range(40, 70, file_length=100)
    with pytest.raises(MediaIntegrityError) as info:
        decrypt_media_range(file[wanted.fetch_start : wanted.fetch_end - 1], KEY, "audio", wanted)
    assert info.value.reason == "length"


# ------------------------------------------------------------------------------ memory


def test_streaming_keeps_memory_flat() -> None:
    # 16 MiB through the encryptor and the decryptor, 64 KiB at a time: peak Python allocation stays
    # near a few chunks, far from the file size.
    chunk = bytes(range(256)) * 256
    count = 256
    tracemalloc.start()
    try:
        enc = MediaEncryptor(KEY, "video")
        dec = MediaDecryptor(
            KEY, "video", file_enc_sha256=None, file_sha256=None, file_length=len(chunk) * count
        )
        plain_hash = hashlib.sha256()
        for _ in range(count):
            plain_hash.update(dec.update(enc.update(chunk)))
        tail, info = enc.finalize()
        plain_hash.update(dec.update(tail))
        plain_hash.update(dec.finalize())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert plain_hash.digest() == info.file_sha256
    assert peak < 1 << 20, f"peak {peak} bytes"


# ------------------------------------------------------------------------------ live against Baileys

VERSIONS = ["v6", "v7"]
MAIN_TYPES = ["image", "video", "audio", "document"]
LENGTHS = [0, 1, 15, 16, 17, 1000, 65_537]


def sample(length: int, seed: int = 0) -> bytes:
    return hashlib.shake_256(f"{seed}:{length}".encode()).digest(length) if length else b""


# Types Baileys does not know: 'sticker-pack' (whatsmeow's) in both, 'biz-cover-photo' in 6.
NOT_IN_BAILEYS = {"v6": {"sticker-pack", "biz-cover-photo"}, "v7": {"sticker-pack"}}


@pytest.mark.interop
@pytest.mark.parametrize(
    ("version", "media_type"),
    [(v, m.value) for v in VERSIONS for m in MediaType if m.value not in NOT_IN_BAILEYS[v]],
)
def test_key_expansion_matches_baileys(baileys: Harness, version: str, media_type: str) -> None:
    got = baileys.call(f"media.{version}.keys", mediaKey=KEY, mediaType=media_type)
    keys = expand_media_key(KEY, media_type)
    assert got["info"].encode() == MediaType(media_type).hkdf_info
    assert (got["iv"], got["cipherKey"], got["macKey"]) == (keys.iv, keys.cipher_key, keys.mac_key)


@pytest.mark.interop
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("media_type", MAIN_TYPES)
@pytest.mark.parametrize("length", LENGTHS)
def test_baileys_encryption_decrypts_with_ours(
    baileys: Harness, version: str, media_type: str, length: int
) -> None:
    plaintext = sample(length)
    r = baileys.call(f"media.{version}.encryptedStream", plaintext=plaintext, mediaType=media_type)
    file, key = r["enc"], r["mediaKey"]
    assert r["fileLength"] == length
    kwargs = {"file_enc_sha256": r["fileEncSha256"], "file_sha256": r["fileSha256"], "file_length": length}
    assert decrypt_media(file, key, media_type, **kwargs) == plaintext
    dec = MediaDecryptor(key, media_type, **kwargs)
    assert (
        b"".join(dec.update(file[i : i + 4099]) for i in range(0, len(file), 4099)) + dec.finalize()
        == plaintext
    )
    # Encryption is deterministic given the key: ours is byte-identical to Baileys'.
    ours = encrypt_media(plaintext, key, media_type)
    assert ours.data == file
    assert (ours.info.file_sha256, ours.info.file_enc_sha256, ours.info.mac) == (
        r["fileSha256"],
        r["fileEncSha256"],
        r["mac"],
    )
    # A corrupted MAC or a wrong hash from Baileys' file is rejected.
    bad_mac = flip(file, len(file) - 1)
    with pytest.raises(MediaIntegrityError) as info:
        decrypt_media(
            bad_mac, key, media_type, **{**kwargs, "file_enc_sha256": hashlib.sha256(bad_mac).digest()}
        )
    assert info.value.reason == "mac"
    with pytest.raises(MediaIntegrityError) as info:
        decrypt_media(file, key, media_type, **{**kwargs, "file_sha256": flip(r["fileSha256"], 5)})
    assert info.value.reason == "plain_hash"
    with pytest.raises(MediaIntegrityError) as info:
        decrypt_media(file, key, media_type, **{**kwargs, "file_enc_sha256": flip(r["fileEncSha256"], 5)})
    assert info.value.reason == "enc_hash"


@pytest.mark.interop
@pytest.mark.parametrize("version", VERSIONS)
def test_baileys_chunked_encryption_decrypts_with_ours(baileys: Harness, version: str) -> None:
    plaintext = sample(5000, seed=9)
    pieces = [plaintext[:1], plaintext[1:17], plaintext[17:4000], plaintext[4000:]]
    r = baileys.call(f"media.{version}.encryptedStream", chunks=pieces, mediaType="document")
    got = decrypt_media(
        r["enc"], r["mediaKey"], "document", file_enc_sha256=r["fileEncSha256"], file_sha256=r["fileSha256"]
    )
    assert got == plaintext


@pytest.mark.interop
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("media_type", MAIN_TYPES)
@pytest.mark.parametrize("length", LENGTHS)
def test_our_encryption_decrypts_with_baileys(
    baileys: Harness, version: str, media_type: str, length: int
) -> None:
    plaintext = sample(length, seed=1)
    key = hashlib.sha256(f"{media_type}{length}".encode()).digest()
    enc = MediaEncryptor(key, media_type)
    body = b"".join(enc.update(plaintext[i : i + 1000]) for i in range(0, length, 1000))
    tail, _ = enc.finalize()
    got = baileys.call(f"media.{version}.download", enc=body + tail, mediaKey=key, mediaType=media_type)
    assert got["plaintext"] == plaintext


@pytest.mark.interop
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("start", "end"), [(0, 1), (1, 15), (15, 17), (16, 32), (40, 70), (100, 4000), (4000, 5000)]
)
def test_ranged_download_matches_baileys(baileys: Harness, version: str, start: int, end: int) -> None:
    plaintext = sample(5000, seed=2)
    file = encrypt_media(plaintext, KEY, "video").data
    got = baileys.call(
        f"media.{version}.download", enc=file, mediaKey=KEY, mediaType="video", startByte=start, endByte=end
    )
    wanted = media_range(start, end, file_length=len(plaintext))
    ours = decrypt_media_range(file[wanted.fetch_start : wanted.fetch_end], KEY, "video", wanted)
    assert ours == got["plaintext"] == plaintext[start:end]
