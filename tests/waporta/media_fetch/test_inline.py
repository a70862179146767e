"""Tests for waporta.media_fetch.inline: data: URLs, base64 and mime type sniffing (no network)."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.waporta.media_fetch.helpers import (
    FUZZ_CONFIG,
    JPEG,
    PDF,
    PNG,
    refused,
)
from waporta.config import MediaConfig
from waporta.media_fetch import (
    FetchedMedia,
    fetch_media,
    sniff_mimetype,
)

# ---------------------------------------------------------------- data: URLs and base64


@pytest.mark.parametrize(
    ("spec", "data", "mimetype"),
    [
        ("data:image/png;base64," + base64.b64encode(PNG).decode(), PNG, "image/png"),
        ("DATA:Image/PNG;name=x.png;BASE64," + base64.b64encode(PNG).decode(), PNG, "image/png"),
        ("data:;base64," + base64.b64encode(JPEG).decode(), JPEG, "image/jpeg"),
        ("data:application/octet-stream;base64," + base64.b64encode(PDF).decode(), PDF, "application/pdf"),
        ("data:text/plain,hello%20world", b"hello world", "text/plain"),
        ("data:,A%20brief%20note", b"A brief note", "application/octet-stream"),
        ("data:base64," + base64.b64encode(PDF).decode(), PDF, "application/pdf"),
        ("data:image/png;base64," + base64.urlsafe_b64encode(b"\xfb\xff\xfe" * 5).decode().rstrip("="), b"\xfb\xff\xfe" * 5, "image/png"),
        ("  data:image/png;base64,\n" + base64.encodebytes(PNG).decode(), PNG, "image/png"),
        ("data:image/png;base64,iVBORw0KGgo%3D", base64.b64decode("iVBORw0KGgo="), "image/png"),
    ],
)
async def test_data_urls(spec: str, data: bytes, mimetype: str) -> None:
    assert await fetch_media(spec, MediaConfig()) == FetchedMedia(data, mimetype, None)


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        ("data:image/png;base64", "invalid_media"),
        ("data:image/png;base64,", "invalid_media"),
        ("data:image/png,", "invalid_media"),
        ("data:image/png;base64,!!!!", "invalid_media"),
        ("data:image/png;base64,abcde", "invalid_media"),
        ("data:not a type;base64,AAAA", "invalid_media"),
        ("data:image/png;base64," + "A" * 1336, "media_too_large"),
        ("data:text/plain," + "a" * 1001, "media_too_large"),
        ("data:text/plain," + "%41" * 1001, "media_too_large"),
        ("data:text/plain,caf\udce9", "invalid_media"),
        ("data:;base64,%FF%FEAAAA", "invalid_media"),
        ("data:;base64,\udce9AAA", "invalid_media"),
    ],
)
async def test_bad_data_urls(spec: str, code: str) -> None:
    error = await refused(spec, MediaConfig(max_bytes=1000))
    assert error.code == code
    assert error.status == (413 if code == "media_too_large" else 400)


@pytest.mark.parametrize(
    ("data", "mimetype"),
    [
        (JPEG, "image/jpeg"),
        (PNG, "image/png"),
        (b"GIF89a" + bytes(10), "image/gif"),
        (b"GIF87a" + bytes(10), "image/gif"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
        (PDF, "application/pdf"),
        (b"PK\x03\x04" + bytes(10), "application/zip"),
        (b"\x00\x00\x00\x18ftypmp42" + bytes(8), "video/mp4"),
        (b"\x00\x00\x00\x18ftypM4A " + bytes(8), "audio/mp4"),
        (b"OggS\x00\x02" + bytes(10), "audio/ogg"),
        (b"plain text", "application/octet-stream"),
        (b"\x00", "application/octet-stream"),
    ],
)
async def test_base64_is_sniffed(data: bytes, mimetype: str) -> None:
    assert sniff_mimetype(data) == mimetype
    media = await fetch_media(base64.b64encode(data).decode(), MediaConfig())
    assert media == FetchedMedia(data, mimetype, None)


@pytest.mark.parametrize(
    "encode",
    [
        lambda b: base64.b64encode(b).decode(),
        lambda b: base64.urlsafe_b64encode(b).decode(),
        lambda b: base64.b64encode(b).decode().rstrip("="),
        lambda b: base64.encodebytes(b).decode(),  # MIME line breaks
        lambda b: " \t" + " ".join(base64.b64encode(b).decode()) + "\r\n",
    ],
)
async def test_base64_alphabets_whitespace_and_padding(encode: Callable[[bytes], str]) -> None:
    data = bytes(range(256)) * 2
    assert (await fetch_media(encode(data), MediaConfig())).data == data


async def test_base64_size_is_checked_before_decoding() -> None:
    config = MediaConfig(max_bytes=30)
    assert len((await fetch_media(base64.b64encode(b"x" * 30).decode(), config)).data) == 30
    error = await refused(base64.b64encode(b"x" * 31).decode(), config)
    assert (error.status, error.code) == (413, "media_too_large")
    assert error.details == {"maxBytes": 30}
    # a huge string of base64 characters is refused by its length alone
    error = await refused("A" * 4_000_000, config)
    assert "decodes to 3000000 bytes" in error.message


# ---------------------------------------------------------------- arbitrary input


@settings(max_examples=200)
@given(data=st.binary(min_size=1, max_size=300), urlsafe=st.booleans(), strip=st.booleans())
async def test_any_bytes_roundtrip_through_base64(data: bytes, urlsafe: bool, strip: bool) -> None:
    text = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(data).decode()
    if strip:
        text = text.rstrip("=")
    media = await fetch_media(text, FUZZ_CONFIG)
    assert media.data == data
    assert media.mimetype == sniff_mimetype(data)
