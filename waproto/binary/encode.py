"""The binary-XML encoder: ``marshal(node) -> bytes``, the plaintext of one WhatsApp frame.

Output is the flag byte ``0x00`` (uncompressed) followed by the node (PROTOCOL.md §2). We never
compress what we send; the decoder handles compressed input.

How a string is written (tags, attribute keys, string attribute values and string content), first
rule that applies wins, exactly as Baileys 6 orders them so the bytes are the same:

1. a single-byte token (``""`` is token 0, byte ``00``), then a double-byte token;
2. NIBBLE_8 if it is 1..127 characters of ``0-9 - .``; then HEX_8 if 1..127 characters of ``0-9 A-F``;
3. a JID, if it contains ``@`` **and** the JID encoding decodes back to the very same string:
   ``user@server`` (no ``_`` in the user, no ``:``, one ``@``, non-empty server) as JID_PAIR, and
   ``user:device@s.whatsapp.net`` / ``user:device@lid`` with device 1..255 written canonically as
   AD_JID. This is Baileys 6's rule restricted to the strings it round-trips; for the others (an agent,
   ``:0``, a device on another server, several ``@``) Baileys writes a JID that decodes to a different
   string, and we write the string raw instead;
4. raw UTF-8 with BINARY_8/20/32.

A ``JID`` attribute value is always written as a JID, in the form whatsmeow uses: FB_JID for ``msgr``,
INTEROP_JID for ``interop``, AD_JID on ``s.whatsapp.net``/``lid``/``hosted``/``hosted.lid`` when it has a
device or agent (always for the hosted servers), JID_PAIR otherwise. An agent travels as the AD_JID
domain type byte (as whatsmeow reads it), so agents 1, 128 and 129, which name the ``lid``/hosted
servers there, are refused. Baileys 6 differs on typed values
only because it has none: the string of an AD JID with device 0, for instance, it would write as AD_JID.

Attribute order is the dict's order. Content ``None`` writes no content; ``""`` and ``[]`` both write
``00`` (which decodes as an empty child list), ``bytes`` write BINARY_*.

This module is NOT the decoder and does not frame or encrypt anything (that is ``waproto.noise``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

from waproto.binary import tokens as t
from waproto.binary.node import Node
from waproto.errors import LocalProtocolError
from waproto.jid import (
    AD_SERVERS,
    DEFAULT_USER_SERVER,
    HIDDEN_USER_SERVER,
    INTEROP_SERVER,
    JID,
    MESSENGER_SERVER,
)

__all__ = ["MAX_DEPTH", "marshal"]

#: The deepest node nesting ``marshal`` writes (and ``unmarshal`` reads); WhatsApp stanzas nest < 10.
MAX_DEPTH: Final = 256

_MAX_LIST: Final = 0xFFFF
_MAX_BINARY: Final = 0xFFFFFFFF


def _token_table() -> dict[str, bytes]:
    table: dict[str, bytes] = {}
    for index, token in enumerate(t.SINGLE_BYTE_TOKENS):
        table[token] = bytes((index,))
    for dictionary, tokens in enumerate(t.DOUBLE_BYTE_TOKENS):
        for index, token in enumerate(tokens):
            table.setdefault(token, bytes((t.DICTIONARY_0 + dictionary, index)))
    return table


#: Every token string -> its encoding (1 or 2 bytes). ``""`` -> ``00``.
_TOKENS: Final = _token_table()
#: Precomputed headers: LIST_8 n and BINARY_8 n.
_LIST8: Final = tuple(bytes((t.LIST_8, n)) for n in range(256))
_BIN8: Final = tuple(bytes((t.BINARY_8, n)) for n in range(256))
#: NIBBLE_8 / HEX_8 header for a string of length n (1..PACKED_MAX): tag, ceil(n/2) | 0x80 if odd.
_NIBBLE_HEAD: Final = tuple(bytes((t.NIBBLE_8, ((n + 1) >> 1) | ((n & 1) << 7))) for n in range(128))
_HEX_HEAD: Final = tuple(bytes((t.HEX_8, ((n + 1) >> 1) | ((n & 1) << 7))) for n in range(128))
_NIBBLE_CHARS: Final = "0123456789-."
_HEX_CHARS: Final = "0123456789ABCDEF"
_AD_DOMAINS_FOR_STRINGS: Final = {DEFAULT_USER_SERVER: 0, HIDDEN_USER_SERVER: 1}
#: Encoded JID attribute values (errors are never kept); emptied when it reaches _JID_CACHE_SIZE entries.
_JID_BYTES: Final[dict[JID, bytes]] = {}
_JID_CACHE_SIZE: Final = 4096
#: AD_JID domain types that name a server; an agent byte must not take these values.
_DOMAIN_TYPES: Final = frozenset(AD_SERVERS.values())


def marshal(node: Node) -> bytes:
    """Encode ``node`` as frame plaintext: flag byte ``0x00``, then the node.

    Raises ``LocalProtocolError`` for a node that cannot be encoded: an empty or non-string tag, an
    attribute value that is neither ``str`` nor ``JID``, content of another type, a JID whose device,
    agent or integrator does not fit its wire form, more than 65535 children or attributes, a string
    that is not valid Unicode (lone surrogates), or nesting deeper than ``MAX_DEPTH``.
    """
    out = bytearray(b"\x00")
    try:
        _write_node(out, node, 0)
    except UnicodeEncodeError as exc:
        raise LocalProtocolError(f"cannot encode a string as UTF-8: {exc}") from None
    return bytes(out)


def _write_node(out: bytearray, node: Node, depth: int) -> None:
    if type(node) is not Node and not isinstance(node, Node):
        raise LocalProtocolError(f"not a Node: {node!r:.80}")
    tag = node.tag
    attrs = node.attrs
    content = node.content
    if not tag or type(tag) is not str:
        raise LocalProtocolError(f"a node tag must be a non-empty string, not {tag!r}")
    size = 2 * len(attrs) + (1 if content is None else 2)
    if size < 256:
        out += _LIST8[size]
    elif size <= _MAX_LIST:
        out.append(t.LIST_16)
        out += size.to_bytes(2, "big")
    else:
        raise LocalProtocolError(f"<{tag}> has too many attributes ({len(attrs)})")
    tokens_get = _TOKENS.get
    encoded = tokens_get(tag)
    if encoded is not None:
        out += encoded
    else:
        _write_string(out, tag)
    for key, value in attrs.items():
        encoded = tokens_get(key)
        if encoded is not None:
            out += encoded
        elif type(key) is str:
            _write_string(out, key)
        else:
            raise LocalProtocolError(f"<{tag}> attribute key {key!r} is not a string")
        if type(value) is str:
            encoded = tokens_get(value)
            if encoded is not None:
                out += encoded
            else:
                _write_string(out, value)
        elif type(value) is JID:
            encoded = _JID_BYTES.get(value)
            if encoded is None:
                encoded = _jid_bytes(value)
            out += encoded
        else:
            raise LocalProtocolError(f"<{tag} {key}=…> value {value!r:.80} is neither str nor JID")
    if content is None:
        return
    kind = type(content)
    if kind is list:
        assert isinstance(content, list)
        count = len(content)
        if count == 0:
            out.append(t.LIST_EMPTY)
            return
        if count < 256:
            out += _LIST8[count]
        elif count <= _MAX_LIST:
            out.append(t.LIST_16)
            out += count.to_bytes(2, "big")
        else:
            raise LocalProtocolError(f"<{tag}> has too many children ({count})")
        if depth >= MAX_DEPTH:
            raise LocalProtocolError(f"nodes nest deeper than {MAX_DEPTH} levels")
        depth += 1
        for child in content:
            _write_node(out, child, depth)
    elif kind is bytes:
        assert isinstance(content, bytes)
        _write_binary(out, content)
    elif kind is str:
        assert isinstance(content, str)
        encoded = tokens_get(content)
        if encoded is not None:
            out += encoded
        else:
            _write_string(out, content)
    elif isinstance(content, bytes | bytearray | memoryview):
        _write_binary(out, content)
    elif isinstance(content, str):
        _write_string(out, content)
    else:
        raise LocalProtocolError(f"<{tag}> content {content!r:.80} is not a list, bytes, str or None")


def _write_binary(out: bytearray, data: bytes | bytearray | memoryview) -> None:
    size = len(data)
    if size < 256:
        out += _BIN8[size]
    elif size < 1 << 20:
        out.append(t.BINARY_20)
        out += size.to_bytes(3, "big")
    elif size <= _MAX_BINARY:
        out.append(t.BINARY_32)
        out += size.to_bytes(4, "big")
    else:
        raise LocalProtocolError(f"binary content too large to encode: {size} bytes")
    out += data


def _write_string(out: bytearray, text: str) -> None:
    """Write a string that is not a token (callers check ``_TOKENS`` first, the hot path)."""
    encoded = _TOKENS.get(text)
    if encoded is not None:
        out += encoded
        return
    size = len(text)
    if size <= t.PACKED_MAX:
        if not text.strip(_NIBBLE_CHARS):
            out += _NIBBLE_HEAD[size]
            digits = text.replace("-", "A").replace(".", "B")
            out += bytes.fromhex(digits + "F" if size & 1 else digits)
            return
        if not text.strip(_HEX_CHARS):
            out += _HEX_HEAD[size]
            out += bytes.fromhex(text + "F" if size & 1 else text)
            return
    if "@" in text:
        jid = _jid_string(text)
        if jid is not None:
            out += jid
            return
    _write_binary(out, text.encode())


@lru_cache(maxsize=4096)
def _jid_string(text: str) -> bytes | None:
    """The JID encoding of ``text`` if it decodes back to ``text`` (module docstring, rule 3), else None."""
    user, _, server = text.partition("@")
    if not server or "@" in server or "_" in user:
        return None
    out = bytearray()
    if ":" in user:
        user, _, device = user.partition(":")
        domain = _AD_DOMAINS_FOR_STRINGS.get(server)
        if (
            domain is None
            or not device.isascii()
            or not device.isdigit()
            or device[0] == "0"
            or len(device) > 3
            or int(device) > 0xFF
        ):
            return None
        out += bytes((t.AD_JID, domain, int(device)))
        _write_string(out, user)
    else:
        out.append(t.JID_PAIR)
        _write_string(out, user)
        _write_string(out, server)
    return bytes(out)


def _jid_bytes(jid: JID) -> bytes:
    """The encoding of ``jid`` (kept in ``_JID_BYTES``: a client writes the same few JIDs again and again)."""
    out = bytearray()
    _write_jid(out, jid)
    encoded = bytes(out)
    if len(_JID_BYTES) >= _JID_CACHE_SIZE:
        _JID_BYTES.clear()
    _JID_BYTES[jid] = encoded
    return encoded


def _write_jid(out: bytearray, jid: JID) -> None:
    """Write a typed JID in the form its server calls for (module docstring)."""
    server = jid.server
    device = jid.device
    agent = jid.agent
    if agent and server != DEFAULT_USER_SERVER:
        raise LocalProtocolError(f"JID {jid}: an agent is only encodable on {DEFAULT_USER_SERVER}")
    if server == MESSENGER_SERVER:
        if not 0 <= device <= 0xFFFF:
            raise LocalProtocolError(f"JID {jid}: device {device} out of range 0..65535")
        out.append(t.FB_JID)
        _write_string(out, jid.user)
        out += device.to_bytes(2, "big")
        _write_string(out, server)
        return
    if server == INTEROP_SERVER:
        integrator = jid.integrator
        if not 0 <= device <= 0xFFFF or not 0 <= integrator <= 0xFFFF:
            raise LocalProtocolError(f"JID {jid}: device or integrator out of range 0..65535")
        out.append(t.INTEROP_JID)
        _write_string(out, jid.user)
        out += device.to_bytes(2, "big")
        out += integrator.to_bytes(2, "big")
        _write_string(out, server)
        return
    if jid.integrator:
        raise LocalProtocolError(f"JID {jid!r}: an integrator is only encodable on {INTEROP_SERVER}")
    domain = AD_SERVERS.get(server)
    if domain is not None and (device or agent or domain >= 0x80):
        if not 0 <= device <= 0xFF or not 0 <= agent <= 0xFF:
            raise LocalProtocolError(f"JID {jid}: device or agent out of range 0..255")
        if agent and agent in _DOMAIN_TYPES:
            raise LocalProtocolError(f"JID {jid}: agent {agent} would read back as another server's domain type")
        out.append(t.AD_JID)
        out.append(agent or domain)
        out.append(device)
        _write_string(out, jid.user)
        return
    if device:
        raise LocalProtocolError(f"JID {jid}: server {server!r} has no device form")
    out.append(t.JID_PAIR)
    _write_string(out, jid.user)
    if not server:
        raise LocalProtocolError(f"JID {jid!r}: empty server")
    _write_string(out, server)
