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

Speed (the decoder runs once per received frame, so it is written for CPython's interpreter loop):

- one loop, ``_read_tree``, reads every node with an explicit stack of (sibling list, nodes left)
  instead of recursing, so a node costs no Python call and no returned tuple;
- the common header (LIST_8, a size, a token tag) is one test; other headers go to ``_read_header``;
- attributes are read inline in that loop: token values, JID_PAIR, NIBBLE_8, HEX_8 and AD_JID in order
  of frequency, anything else through a 256-entry table of readers; a NIBBLE_8 string of digits only
  (numbers, timestamps) skips the nibble check and the ``-``/``.`` mapping;
- content is tested for a list, BINARY_8 and BINARY_20 inline; the rest goes to ``_read_content``;
- nodes are made with ``object.__new__`` and three slot stores, about half the cost of ``Node(...)``
  (the dataclass ``__init__`` is a Python call); ``Node`` has no ``__post_init__``, so this is the same;
- JIDs of the common forms are memoised by their encoded bytes (immutable values, so sharing is safe):
  the key is the span such a JID would have, and a JID is stored only when it spans exactly its key.

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
# JID, contacts, the server): the common forms (a packed or one-byte user and a token server, or an
# AD_JID with a packed or one-byte user) are found by their encoded bytes and share one immutable JID.
_CACHE_SIZE: Final = 4096
_JIDS: dict[bytes, JID] = {}
_new: Final = object.__new__


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
        node, pos = _read_tree(data, pos)
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


def _read_tree(data: bytes, pos: int) -> tuple[Node, int]:
    """The node at ``pos`` with everything under it, and the offset after it (the hot path).

    ``siblings`` is the list the next node joins and ``left`` how many nodes that list still expects;
    a node with children pushes both and continues with its own list, a finished list pops them. The
    stack depth is the nesting depth. An IndexError from reading past the end becomes a DecodeError in
    ``unmarshal``; every declared length is checked before a slice.
    """
    token_at = _TOKEN_AT
    jids = _JIDS
    new = _new
    stack: list[tuple[list[Node], int]] = []
    siblings: list[Node] = []
    top = siblings
    left = 1
    while True:
        # The usual header, LIST_8 with a non-zero size and a token tag, in one test.
        if data[pos] == _LIST_8 and (size := data[pos + 1]) and (tag := token_at[data[pos + 2]]) is not None:
            pos += 3
        else:
            size, tag, pos = _read_header(data, pos)
        node = new(Node)
        node.tag = tag
        siblings.append(node)
        node.attrs = attrs = {}
        if size > 2:
            n = (size - 1) >> 1  # attribute pairs (a while loop: cheaper than making a range per node)
            while n:
                n -= 1
                key = token_at[data[pos]]
                if key is None:
                    key, pos = _read_text(data, pos)
                else:
                    pos += 1
                byte = data[pos]
                value: AttrValue | None = token_at[byte]
                if value is not None:
                    pos += 1
                elif byte == _JID_PAIR:
                    end = pos + 4 + (data[pos + 2] & 0x7F) if data[pos + 1] == _NIBBLE_8 else pos + 3
                    raw = data[pos:end]
                    value = jids.get(raw)
                    if value is None:
                        value, pos = _jid_pair(data, pos + 1)
                        _remember(raw, value, pos == end)
                    else:
                        pos = end
                elif byte == _NIBBLE_8:
                    head = data[pos + 1]
                    end = pos + 2 + (head & 0x7F)
                    if end > len(data):
                        raise IndexError
                    value = data[pos + 2 : end].hex()
                    if head & 0x80:
                        value = value[:-1]
                    if not value.isdigit():
                        value = _unpack_nibbles(value, data[pos + 2 : end])
                    pos = end
                elif byte == _HEX_8:
                    head = data[pos + 1]
                    end = pos + 2 + (head & 0x7F)
                    if end > len(data):
                        raise IndexError
                    value = data[pos + 2 : end].hex().upper()
                    if head & 0x80:
                        value = value[:-1]
                    pos = end
                elif byte == _AD_JID:
                    end = pos + 5 + (data[pos + 4] & 0x7F) if data[pos + 3] == _NIBBLE_8 else pos + 4
                    raw = data[pos:end]
                    value = jids.get(raw)
                    if value is None:
                        value, pos = _ad_jid(data, pos + 1)
                        _remember(raw, value, pos == end)
                    else:
                        pos = end
                else:
                    value, pos = _READERS[byte](data, pos + 1)
                attrs[key] = value
        if size & 1:
            node.content = None
        elif (byte := data[pos]) == _LIST_8 or byte == _LIST_16:
            if byte == _LIST_8:
                count = data[pos + 1]
                pos += 2
            else:
                count = (data[pos + 1] << 8) | data[pos + 2]
                pos += 3
            if len(stack) >= MAX_DEPTH:
                raise DecodeError(f"nodes nest deeper than {MAX_DEPTH} levels")
            children: list[Node] = []
            node.content = children
            if count:
                stack.append((siblings, left - 1))
                siblings = children
                left = count
                continue
        elif byte == _BINARY_8:
            end = pos + 2 + data[pos + 1]
            if end > len(data):
                raise DecodeError(f"binary of {end - pos - 2} bytes declared, only {len(data) - pos - 2} left")
            node.content = data[pos + 2 : end]
            pos = end
        elif byte == _BINARY_20:
            end = pos + 4 + (((data[pos + 1] & 0x0F) << 16) | (data[pos + 2] << 8) | data[pos + 3])
            if end > len(data):
                raise DecodeError(f"binary of {end - pos - 4} bytes declared, only {len(data) - pos - 4} left")
            node.content = data[pos + 4 : end]
            pos = end
        else:
            node.content, pos = _read_content(data, pos)
        left -= 1
        while not left:
            if not stack:
                return top[0], pos
            siblings, left = stack.pop()


def _read_header(data: bytes, pos: int) -> tuple[int, str, int]:
    """A node's list header and tag at ``pos``, in any encoding: (list size, tag, offset after the tag)."""
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
        return size, tag, pos + 1
    tag, pos = _read_text(data, pos)
    if not tag:
        raise DecodeError(f"a node with an empty tag at offset {pos}")
    return size, tag, pos


def _read_content(data: bytes, pos: int) -> tuple[Content, int]:
    """Content other than a list or a BINARY_8/BINARY_20 at ``pos``: LIST_EMPTY, a token, BINARY_32, a string."""
    byte = data[pos]
    if byte == 0:
        return [], pos + 1
    token = _TOKEN_AT[byte]
    if token is not None:
        return token, pos + 1
    if byte == _BINARY_32:
        return _read_binary(data, pos)
    return _read_text(data, pos)


def _unpack_nibbles(digits: str, raw: bytes) -> str:
    """A NIBBLE_8 string that is not all digits: check the nibbles, map ``a``/``b`` to ``-``/``.``."""
    if digits.strip(_NIBBLE_HEX_DIGITS):
        raise DecodeError(f"invalid nibble in packed string {raw.hex()!r}")
    return digits.replace("a", "-").replace("b", ".")


def _remember(raw: bytes, jid: JID, exact: bool) -> None:
    """Memoise ``jid`` under ``raw`` when the JID spanned exactly those bytes (``exact``)."""
    if exact:
        if len(_JIDS) >= _CACHE_SIZE:
            _JIDS.clear()
        _JIDS[raw] = jid


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
