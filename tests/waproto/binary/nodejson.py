"""The JSON form of nodes shared with the Baileys harness (``tests/interop/ops/binary.mjs``), and the
expectations that say what each decoder should make of an encoded tree.

JSON node: ``{"tag": str, "attrs": {str: str}, "content": None | [node, ...] | bytes | str}``; JIDs
appear as strings, bytes as ``bytes`` (the harness bridge turns them into ``{"$b": base64}``).

``render_jid(jid, version)`` is the string Baileys ``version`` ("v6", "v7", or "ours") gives a JID that
our encoder wrote; the differences are the documented ones (PROTOCOL.md §2.8): Baileys 6 maps AD_JID
domain types other than 0 and 128 to ``lid`` and cannot read FB_JID/INTEROP_JID at all; Baileys 7 drops
the agent, writes ``:device`` on FB JIDs always and ``integrator-user:device`` on interop JIDs always.

``expected_content(text)`` is what string content becomes after a round trip through any of the three
encoders and decoders, written independently of ``waproto.binary.encode``: a string the encoder writes
raw comes back as bytes, ``""`` comes back as ``[]``.

Test infrastructure, not part of waproto.
"""

from __future__ import annotations

import re
from typing import Any

from waproto.binary import Node
from waproto.binary.tokens import DOUBLE_BYTE_TOKENS, SINGLE_BYTE_TOKENS
from waproto.jid import AD_SERVERS, JID

JSONNode = dict[str, Any]

TOKENS = frozenset(SINGLE_BYTE_TOKENS) | frozenset(tok for d in DOUBLE_BYTE_TOKENS for tok in d)
_PACKABLE = re.compile(r"[0-9.\-]{1,127}|[0-9A-F]{1,127}")
_JID_PAIR_STRING = re.compile(r"[^@_:]*@[^@]+")
_AD_STRING = re.compile(r"[^@_:]*:([1-9][0-9]{0,2})@(s\.whatsapp\.net|lid)")


def to_json(node: Node, version: str = "ours") -> JSONNode:
    """``node`` as JSON, JID attributes rendered as Baileys ``version`` would read them back."""
    content = node.content
    if isinstance(content, list):
        content = [to_json(child, version) for child in content]
    attrs = {key: value if isinstance(value, str) else render_jid(value, version) for key, value in node.attrs.items()}
    return {"tag": node.tag, "attrs": attrs, "content": content}


def from_json(obj: JSONNode) -> Node:
    """A node from its JSON form (attributes stay strings)."""
    content = obj.get("content")
    if isinstance(content, list):
        content = [from_json(child) for child in content]
    return Node(obj["tag"], dict(obj.get("attrs") or {}), content)


def written_as_jid_string(text: str) -> bool:
    """Whether our encoder writes this string as a JID (encode.py docstring, rule 3), restated here."""
    if text in TOKENS or _PACKABLE.fullmatch(text):
        return False
    if _JID_PAIR_STRING.fullmatch(text):
        return True
    match = _AD_STRING.fullmatch(text)
    return match is not None and int(match.group(1)) <= 255


def expected_content(text: str) -> Any:
    """What string content decodes to after our encoder (and Baileys 6's, where rules agree) wrote it."""
    if text == "":
        return []
    if text in TOKENS or _PACKABLE.fullmatch(text) or written_as_jid_string(text):
        return text
    return text.encode()


def expected_json(node: Node, version: str = "ours") -> JSONNode:
    """The JSON a decoder of ``version`` should produce for ``marshal(node)``."""
    obj = to_json(node, version)
    return _normalise(obj)


def _normalise(obj: JSONNode) -> JSONNode:
    content = obj["content"]
    if isinstance(content, list):
        content = [_normalise(child) for child in content]
    elif isinstance(content, str):
        content = expected_content(content)
    elif isinstance(content, bytearray | memoryview):
        content = bytes(content)
    return {"tag": obj["tag"], "attrs": obj["attrs"], "content": content}


def _ad_domain(jid: JID) -> int | None:
    """The AD_JID domain type our encoder uses for ``jid``, or None when it writes another form."""
    domain = AD_SERVERS.get(jid.server)
    if domain is None or not (jid.device or jid.agent or domain >= 0x80):
        return None
    return jid.agent or domain


def render_jid(jid: JID, version: str = "ours") -> str:
    """How Baileys ``version`` renders the JID our encoder wrote for ``jid`` ("ours": ``str(jid)``)."""
    if version == "ours":
        return str(jid)
    device = f":{jid.device}" if jid.device else ""
    if jid.server == "msgr" and version == "v7":
        return f"{jid.user}:{jid.device}@msgr"
    if jid.server == "interop" and version == "v7":
        return f"{jid.integrator}-{jid.user}:{jid.device}@interop"
    domain = _ad_domain(jid)
    if domain is None:
        return f"{jid.user}@{jid.server}"
    if version == "v6":
        server = "s.whatsapp.net" if domain in (0, 128) else "lid"
    else:
        server = {1: "lid", 128: "hosted", 129: "hosted.lid"}.get(domain, "s.whatsapp.net")
    return f"{jid.user}{device}@{server}"


def decoded_as(node: Node, version: str) -> JSONNode:
    """Our decoded node, in the JSON form Baileys ``version`` gives the same bytes (JIDs rendered its way)."""
    return to_json(node, version)
