"""Media given inline: a ``data:`` URL or plain base64 → bytes, and the mime type sniffed from bytes.

Sizes are checked before decoding (the base64 text's length says what it decodes to), so a huge input
is refused without allocating its decoded form. Every problem is a :class:`MediaInputError`.

This module is NOT the dispatch between URL, ``data:`` URL and base64 (that is
:func:`waporta.media_fetch.fetch.fetch_media`) and touches no network.
"""

from __future__ import annotations

import base64
import binascii
import re
import urllib.parse

from waporta.media_fetch.results import FetchedMedia, _invalid, _too_large

__all__ = ["OCTET_STREAM", "sniff_mimetype"]

OCTET_STREAM = "application/octet-stream"
_ASCII_SPACE = re.compile(r"[ \t\r\n\f\v]+")
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]*")
_MIMETYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")
_URLSAFE = str.maketrans("-_", "+/")


# ---------------------------------------------------------------- base64 and data: URLs


def _base64(text: str, max_bytes: int, field: str, *, what: str) -> bytes:
    compact = _ASCII_SPACE.sub("", text)
    body = compact.rstrip("=")
    padding = len(compact) - len(body)
    if not _BASE64.fullmatch(body):
        raise _invalid(field, f"is not an http(s) URL, a data: URL or valid {what} (unexpected characters)")
    if not body:
        raise _invalid(field, "is empty")
    if len(body) % 4 == 1 or padding > 2 or (padding and (len(body) + padding) % 4):
        raise _invalid(field, f"is not valid {what} (wrong length or padding)")
    size = len(body) * 3 // 4  # what it decodes to, known before decoding
    if size > max_bytes:
        raise _too_large(field, f"the {what} data decodes to {size} bytes", max_bytes)
    try:
        return base64.b64decode(body.translate(_URLSAFE) + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise _invalid(field, f"is not valid {what}") from None


def _data_url(text: str, max_bytes: int, field: str) -> FetchedMedia:
    meta, comma, payload = text[5:].partition(",")
    if not comma:
        raise _invalid(field, "is a data: URL without a comma before its data")
    params = [part.strip() for part in meta.split(";")]
    encoded = params[-1].lower() == "base64"
    declared = params[0].lower() if len(params) > 1 or not encoded else ""
    if declared and not _MIMETYPE.fullmatch(declared):
        raise _invalid(field, "is a data: URL whose media type is not type/subtype")
    if encoded:
        if "%" in payload:  # %2B, %2F, %3D; anything else fails the alphabet check below
            payload = urllib.parse.unquote(payload, errors="replace")
        data = _base64(payload, max_bytes, field, what="base64 in the data: URL")
    else:
        if len(payload) > max_bytes * 3 + 3:  # every byte takes at most 3 characters (%XX)
            raise _too_large(field, "the data: URL is too long", max_bytes)
        try:
            data = urllib.parse.unquote_to_bytes(payload)
        except UnicodeEncodeError:
            raise _invalid(field, "is a data: URL with characters that are not text") from None
        if len(data) > max_bytes:
            raise _too_large(field, f"the data: URL holds {len(data)} bytes", max_bytes)
        if not data:
            raise _invalid(field, "is empty")
    mimetype = declared if declared and declared != OCTET_STREAM else sniff_mimetype(data)
    return FetchedMedia(data, mimetype, None)


# ---------------------------------------------------------------- content sniffing


def sniff_mimetype(data: bytes) -> str:
    """The mime type recognised from the first bytes, else ``application/octet-stream``.

    Known: JPEG, PNG, GIF, WebP, PDF, ZIP, MP4 (``audio/mp4`` for an M4A brand), OGG.
    """
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return "application/zip"
    if data[4:8] == b"ftyp":
        return "audio/mp4" if data[8:11] == b"M4A" else "video/mp4"
    if data.startswith(b"OggS"):
        return "audio/ogg"
    return OCTET_STREAM

