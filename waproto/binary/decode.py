"""The binary-XML decoder: ``unmarshal(data) -> Node`` for the plaintext of one WhatsApp frame.

``data`` starts with the flag byte; when its bit ``0x02`` is set the rest is a zlib stream, inflated up
to ``MAX_INFLATED`` bytes. What decodes to what (PROTOCOL.md §2):

- attribute values: ``JID`` for JID_PAIR, AD_JID, FB_JID and INTEROP_JID; ``str`` for everything else
  (tokens, packed NIBBLE_8/HEX_8, raw BINARY_* as UTF-8 with invalid sequences replaced, as Baileys
  and whatsmeow do, and ``00`` as ``""``);
- tags and attribute keys: ``str`` (a JID encoding there is rendered with ``str(jid)``);
- content: ``list[Node]`` for LIST_EMPTY/8/16 (so ``00`` is ``[]``), ``bytes`` for BINARY_* (raw
  content has no type flag: a string the sender wrote raw arrives as bytes), ``str`` for tokens, packed
  strings and JIDs.

AD_JID domain types map to servers as in whatsmeow and Baileys 7: 0 ``s.whatsapp.net``, 1 ``lid``,
128 ``hosted``, 129 ``hosted.lid``; any other value is the agent of an ``s.whatsapp.net`` JID.

Network input is untrusted. The only exception that leaves ``unmarshal`` is ``DecodeError``; every
declared length is checked against the bytes actually present before anything is sliced, nesting is
bounded by ``MAX_DEPTH``, inflation by ``MAX_INFLATED``, and bytes left over after the root node are an
error (as in whatsmeow). Stricter than Baileys only on input no encoder produces: a nibble value 12..15
before the end of a NIBBLE_8 string, a JID nested inside a JID (whatsmeow refuses it too), and an
FB_JID/INTEROP_JID whose server is not ``msgr``/``interop`` (as whatsmeow) are errors.

Speed: the hot paths (tokens, packed strings, JIDs with a packed user, short binaries) are inline in
``_read_node``/``_read_attrs``, everything else goes through a 256-entry table of readers, and decoded
JIDs of the common forms are memoised by their encoded bytes (immutable values, so sharing is safe).

This module is NOT the encoder and knows nothing of frames or encryption.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Final

from waproto.binary import tokens as t
from waproto.binary.encode import MAX_DEPTH
from waproto.binary.node import AttrValue, Content, Node
from waproto.errors import DecodeError
from waproto.jid import (
    DEFAULT_USER_SERVER,
    HIDDEN_USER_SERVER,
    HOSTED_LID_SERVER,
    HOSTED_SERVER,
    INTEROP_SERVER,
    JID,
    MESSENGER_SERVER,
)

__all__ = ["MAX_INFLATED", "clear_caches", "unmarshal"]

#: The largest node a compressed frame may inflate to (16 MiB; frames are at most 16 MiB anyway).
MAX_INFLATED: Final = 16 << 20

_Reader = Callable[[bytes, int], "tuple[AttrValue, int]"]

_SINGLE: Final = t.SINGLE_BYTE_TOKENS
_DOUBLE: Final = t.DOUBLE_BYTE_TOKENS
#: The hex digits a NIBBLE_8 byte may show ('a' is '-', 'b' is '.'; c, d, e and f are invalid).
_NIBBLE_HEX_DIGITS: Final = "0123456789ab"
_AD_DOMAIN_SERVERS: Final = {0: DEFAULT_USER_SERVER, 1: HIDDEN_USER_SERVER, 128: HOSTED_SERVER, 129: HOSTED_LID_SERVER}
_LIST_8: Final = t.LIST_8
_NIBBLE_8: Final = t.NIBBLE_8
_HEX_8: Final = t.HEX_8
_JID_PAIR: Final = t.JID_PAIR
_AD_JID: Final = t.AD_JID
_LIST_16: Final = t.LIST_16
_BINARY_8: Final = t.BINARY_8
_BINARY_20: Final = t.BINARY_20
_BINARY_32: Final = t.BINARY_32
_TOKEN_LIMIT: Final = len(t.SINGLE_BYTE_TOKENS)
#: byte -> its single-byte token, or None for every byte that is not one (0 and 236..255).
_TOKEN_AT: Final[list[str | None]] = [None, *t.SINGLE_BYTE_TOKENS[1:]] + [None] * (256 - _TOKEN_LIMIT)
# A memo table, cleared when it reaches _CACHE_SIZE entries. Decoded JIDs recur (the account's own
# JID, contacts, the server): the common forms (a packed or empty user and a token server, or an AD_JID
# with a packed user) are found by their encoded bytes and share one immutable JID.
_CACHE_SIZE: Final = 4096
_JIDS: dict[bytes, JID] = {}


def clear_caches() -> None:
    """Empty the decoder's JID memo table (benchmarks use it to measure a cold decoder)."""
    _JIDS.clear()


def unmarshal(data: bytes | bytearray | memoryview) -> Node:
    """Decode frame plaintext (flag byte first) into a ``Node``.

    Raises ``DecodeError`` for anything malformed: truncation, an unknown tag byte, a list where a string
    belongs, an empty tag, a bad packed nibble, a JID with an empty or wrong server, nesting deeper than
    ``MAX_DEPTH``, a zlib stream that is corrupt, truncated or inflates past ``MAX_INFLATED``, or bytes
    left over after the node.
    """
    if type(data) is not bytes:
        data = bytes(data)
    if not data:
        raise DecodeError("empty frame: no flag byte")
    if data[0] & 0x02:
        data = _inflate(data)
        pos = 0
    else:
        pos = 1
    try:
        node, pos = _read_node(data, pos, 0)
    except IndexError:
        raise DecodeError(f"truncated node: the frame ends early ({len(data)} bytes)") from None
    except RecursionError:  # pragma: no cover - MAX_DEPTH keeps the stack far from the limit
        raise DecodeError("nodes nest too deeply") from None
    if pos != len(data):
        raise DecodeError(f"{len(data) - pos} bytes left over after the node", node=node)
    return node


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        body = inflater.decompress(data[1:], MAX_INFLATED)
    except zlib.error as exc:
        raise DecodeError(f"corrupt zlib stream: {exc}") from None
    if inflater.unconsumed_tail or (not inflater.eof and len(body) >= MAX_INFLATED):
        raise DecodeError(f"compressed node inflates past {MAX_INFLATED} bytes")
    if not inflater.eof:
        raise DecodeError("truncated zlib stream")
    if inflater.unused_data:
        raise DecodeError(f"{len(inflater.unused_data)} bytes after the zlib stream")
    return body


def _read_node(data: bytes, pos: int, depth: int) -> tuple[Node, int]:
    # The hot path. The common encodings (tokens, packed strings, JIDs with a packed user, short
    # binaries) are handled inline, the rest through _READERS; an IndexError from reading past the end
    # becomes a DecodeError in unmarshal.
    head = data[pos]
    if head == _LIST_8:
        size = data[pos + 1]
        pos += 2
    elif head == _LIST_16:
        size = (data[pos + 1] << 8) | data[pos + 2]
        pos += 3
    else:
        raise DecodeError(f"a node must start with a list header, not byte {head} at offset {pos}")
    if not size:
        raise DecodeError(f"a node with list size 0 at offset {pos}")
    tag = _TOKEN_AT[data[pos]]
    if tag is not None:
        pos += 1
    else:
        tag, pos = _read_text(data, pos)
        if not tag:
            raise DecodeError(f"a node with an empty tag at offset {pos}")
    attrs: dict[str, AttrValue] = {}
    if size > 2:
        pos = _read_attrs(data, pos, (size - 1) >> 1, attrs)
    if size & 1:
        return Node(tag, attrs, None), pos
    byte = data[pos]
    if byte == _LIST_8:
        count = data[pos + 1]
        pos += 2
    elif byte == _BINARY_8:
        end = pos + 2 + data[pos + 1]
        if end > len(data):
            raise DecodeError(f"binary of {end - pos - 2} bytes declared, only {len(data) - pos - 2} left")
        return Node(tag, attrs, data[pos + 2 : end]), end
    elif byte == _BINARY_20:
        end = pos + 4 + (((data[pos + 1] & 0x0F) << 16) | (data[pos + 2] << 8) | data[pos + 3])
        if end > len(data):
            raise DecodeError(f"binary of {end - pos - 4} bytes declared, only {len(data) - pos - 4} left")
        return Node(tag, attrs, data[pos + 4 : end]), end
    elif byte == _LIST_16:
        count = (data[pos + 1] << 8) | data[pos + 2]
        pos += 3
    elif byte == 0:
        return Node(tag, attrs, []), pos + 1
    else:
        content: Content
        token = _TOKEN_AT[byte]
        if token is not None:
            content = token
            pos += 1
        elif byte == _BINARY_32:
            content, pos = _read_binary(data, pos)
        else:
            content, pos = _read_text(data, pos)
        return Node(tag, attrs, content), pos
    if depth >= MAX_DEPTH:
        raise DecodeError(f"nodes nest deeper than {MAX_DEPTH} levels")
    depth += 1
    children: list[Node] = []
    append = children.append
    for _ in range(count):
        child, pos = _read_node(data, pos, depth)
        append(child)
    return Node(tag, attrs, children), pos


def _read_attrs(data: bytes, pos: int, count: int, attrs: dict[str, AttrValue]) -> int:
    """Read ``count`` key/value pairs at ``pos`` into ``attrs``; return the offset after them."""
    for _ in range(count):
        key = _TOKEN_AT[data[pos]]
        if key is not None:
            pos += 1
        else:
            key, pos = _read_text(data, pos)
        byte = data[pos]
        value = _TOKEN_AT[byte]
        if value is not None:
            attrs[key] = value
            pos += 1
        elif byte == _NIBBLE_8:
            head = data[pos + 1]
            end = pos + 2 + (head & 0x7F)
            if end > len(data):
                raise IndexError
            digits = data[pos + 2 : end].hex()
            if head & 0x80:
                digits = digits[:-1]
            if digits.strip(_NIBBLE_HEX_DIGITS):
                raise DecodeError(f"invalid nibble in packed string {data[pos + 2 : end].hex()!r}")
            attrs[key] = digits.replace("a", "-").replace("b", ".")
            pos = end
        elif byte == _HEX_8:
            head = data[pos + 1]
            end = pos + 2 + (head & 0x7F)
            if end > len(data):
                raise IndexError
            digits = data[pos + 2 : end].hex().upper()
            attrs[key] = digits[:-1] if head & 0x80 else digits
            pos = end
        elif byte in (_JID_PAIR, _AD_JID):
            # Most JIDs are a packed (or empty) user and a token server: look them up by their bytes.
            end = 0
            if byte == _JID_PAIR:
                user = data[pos + 1]
                if user == _NIBBLE_8:
                    end = pos + 3 + (data[pos + 2] & 0x7F)
                elif _TOKEN_AT[user] is not None or user == 0:
                    end = pos + 2
                if end and _TOKEN_AT[data[end]] is not None:
                    end += 1
                else:
                    end = 0
            elif data[pos + 3] == _NIBBLE_8:
                end = pos + 5 + (data[pos + 4] & 0x7F)
            if end:
                raw = data[pos:end]
                jid = _JIDS.get(raw)
                if jid is None:
                    jid, after = _read_jid(data, pos)
                    if after != end:  # pragma: no cover - the peeked length is the parsed one
                        raise DecodeError("inconsistent JID encoding")
                    if len(_JIDS) >= _CACHE_SIZE:
                        _JIDS.clear()
                    _JIDS[raw] = jid
                attrs[key] = jid
                pos = end
            else:
                attrs[key], pos = _READERS[byte](data, pos + 1)
        else:
            attrs[key], pos = _READERS[byte](data, pos + 1)
    return pos


def _read_text(data: bytes, pos: int) -> tuple[str, int]:
    """Any string encoding at ``pos`` (the tag byte) as text: a JID is rendered with ``str``."""
    value, pos = _READERS[data[pos]](data, pos + 1)
    return (value if type(value) is str else str(value)), pos


def _read_binary(data: bytes, pos: int) -> tuple[bytes, int]:
    """BINARY_20/BINARY_32 at ``pos`` (the tag byte): checked length, then the bytes."""
    if data[pos] == _BINARY_20:
        size = ((data[pos + 1] & 0x0F) << 16) | (data[pos + 2] << 8) | data[pos + 3]
        start = pos + 4
    else:
        size = int.from_bytes(data[pos + 1 : pos + 5], "big")
        start = pos + 5
        if start > len(data):
            raise IndexError
    end = start + size
    if end > len(data):
        raise DecodeError(f"binary of {size} bytes declared, only {len(data) - start} left")
    return data[start:end], end


# ------------------------------------------------------------------ string readers, by tag byte
# Each takes the data and the offset just past the tag byte and returns (value, new offset).


def _read_empty(data: bytes, pos: int) -> tuple[AttrValue, int]:
    return "", pos


def _read_token(data: bytes, pos: int) -> tuple[AttrValue, int]:
    return _SINGLE[data[pos - 1]], pos


def _read_double(data: bytes, pos: int) -> tuple[AttrValue, int]:
    return _DOUBLE[data[pos - 1] - t.DICTIONARY_0][data[pos]], pos + 1


def _read_raw8(data: bytes, pos: int) -> tuple[AttrValue, int]:
    end = pos + 1 + data[pos]
    if end > len(data):
        raise DecodeError(f"string of {end - pos - 1} bytes declared, only {len(data) - pos - 1} left")
    return data[pos + 1 : end].decode("utf-8", "replace"), end


def _read_raw_long(data: bytes, pos: int) -> tuple[AttrValue, int]:
    raw, end = _read_binary(data, pos - 1)
    return raw.decode("utf-8", "replace"), end


def _read_nibble(data: bytes, pos: int) -> tuple[AttrValue, int]:
    head = data[pos]
    end = pos + 1 + (head & 0x7F)
    if end > len(data):
        raise IndexError
    digits = data[pos + 1 : end].hex()
    if head & 0x80:
        digits = digits[:-1]
    if digits.strip(_NIBBLE_HEX_DIGITS):
        raise DecodeError(f"invalid nibble in packed string {data[pos + 1 : end].hex()!r}")
    return digits.replace("a", "-").replace("b", "."), end


def _read_hex(data: bytes, pos: int) -> tuple[AttrValue, int]:
    head = data[pos]
    end = pos + 1 + (head & 0x7F)
    if end > len(data):
        raise IndexError
    digits = data[pos + 1 : end].hex().upper()
    if head & 0x80:
        digits = digits[:-1]
    return digits, end


def _read_part(data: bytes, pos: int, what: str) -> tuple[str, int]:
    """A JID's user or server: any string encoding, but not a JID and not a list."""
    byte = data[pos]
    token = _TOKEN_AT[byte]
    if token is not None:
        return token, pos + 1
    value, pos = _READERS[byte](data, pos + 1)
    if type(value) is not str:
        raise DecodeError(f"a JID nested in the {what} of a JID: {value!r}")
    return value, pos


def _read_jid(data: bytes, pos: int) -> tuple[JID, int]:
    """A JID_PAIR or AD_JID at ``pos`` (the tag byte), typed as a JID."""
    if data[pos] == _JID_PAIR:
        return _jid_pair(data, pos + 1)
    return _ad_jid(data, pos + 1)


def _jid_pair(data: bytes, pos: int) -> tuple[JID, int]:
    user, pos = _read_part(data, pos, "user")
    server, pos = _read_part(data, pos, "server")
    if not server:
        raise DecodeError(f"JID_PAIR with an empty server (user {user!r})")
    return JID(user, server), pos


def _ad_jid(data: bytes, pos: int) -> tuple[JID, int]:
    domain = data[pos]
    device = data[pos + 1]
    user, pos = _read_part(data, pos + 2, "user")
    server = _AD_DOMAIN_SERVERS.get(domain)
    if server is None:
        return JID(user, DEFAULT_USER_SERVER, device=device, agent=domain), pos
    return JID(user, server, device=device), pos


def _read_jid_pair(data: bytes, pos: int) -> tuple[AttrValue, int]:
    return _jid_pair(data, pos)


def _read_ad_jid(data: bytes, pos: int) -> tuple[AttrValue, int]:
    return _ad_jid(data, pos)


def _read_fb_jid(data: bytes, pos: int) -> tuple[AttrValue, int]:
    user, pos = _read_part(data, pos, "user")
    device = (data[pos] << 8) | data[pos + 1]
    server, pos = _read_part(data, pos + 2, "server")
    if server != MESSENGER_SERVER:
        raise DecodeError(f"FB_JID with server {server!r}, expected {MESSENGER_SERVER!r}")
    return JID(user, server, device=device), pos


def _read_interop_jid(data: bytes, pos: int) -> tuple[AttrValue, int]:
    user, pos = _read_part(data, pos, "user")
    device = (data[pos] << 8) | data[pos + 1]
    integrator = (data[pos + 2] << 8) | data[pos + 3]
    server, pos = _read_part(data, pos + 4, "server")
    if server != INTEROP_SERVER:
        raise DecodeError(f"INTEROP_JID with server {server!r}, expected {INTEROP_SERVER!r}")
    return JID(user, server, device=device, integrator=integrator), pos


def _invalid(data: bytes, pos: int) -> tuple[AttrValue, int]:
    byte = data[pos - 1]
    if byte in (_LIST_8, _LIST_16):
        raise DecodeError(f"a list where a string belongs, at offset {pos - 1}")
    raise DecodeError(f"invalid tag byte {byte} at offset {pos - 1}")


def _reader_table() -> tuple[_Reader, ...]:
    table: list[_Reader] = [_invalid] * 256
    table[t.LIST_EMPTY] = _read_empty
    for byte in range(1, _TOKEN_LIMIT):
        table[byte] = _read_token
    for byte in range(t.DICTIONARY_0, t.DICTIONARY_3 + 1):
        table[byte] = _read_double
    table[t.BINARY_8] = _read_raw8
    table[t.BINARY_20] = _read_raw_long
    table[t.BINARY_32] = _read_raw_long
    table[t.NIBBLE_8] = _read_nibble
    table[t.HEX_8] = _read_hex
    table[t.JID_PAIR] = _read_jid_pair
    table[t.AD_JID] = _read_ad_jid
    table[t.FB_JID] = _read_fb_jid
    table[t.INTEROP_JID] = _read_interop_jid
    return tuple(table)


_READERS: Final = _reader_table()
