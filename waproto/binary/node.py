"""The binary-XML node (``Node``) and its readable, log-safe XML-like rendering.

A WhatsApp stanza is a tree of nodes: a tag, string attributes (JID-valued where the wire carried a JID)
and content that is nothing, a list of child nodes, raw bytes or a string. ``repr(node)`` is a one-line
XML-like form, ``node.pretty()`` (and ``str(node)``) an indented one; both summarise binary content as its
length and a short hex prefix and cut long text, so a stanza can be logged without dumping a media
payload or a ciphertext.

This module is NOT the codec (``encode.marshal`` / ``decode.unmarshal``) and does not interpret stanzas.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, TypeAlias

from waproto.errors import DecodeError, LocalProtocolError
from waproto.jid import JID

__all__ = ["AttrValue", "Content", "Node"]

#: An attribute value: a plain string, or a JID.
AttrValue: TypeAlias = str | JID
#: Node content: none, child nodes, raw bytes or a string.
Content: TypeAlias = "list[Node] | bytes | str | None"

#: How many leading bytes of binary content a rendering shows.
_HEX_PREFIX: Final = 8
#: Text content longer than this is cut in renderings.
_TEXT_LIMIT: Final = 200

_ESCAPES: Final = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})


@dataclass(slots=True)
class Node:
    """One stanza or child element.

    ``attrs`` values are ``str`` or ``JID``; ``content`` is ``None``, ``list[Node]``, ``bytes`` or
    ``str``. Decoded nodes have JID-valued attributes wherever the wire carried a JID encoding, raw
    binary content as ``bytes`` and token, packed and JID content as ``str`` (PROTOCOL.md §2.3).
    """

    # waproto.binary.decode makes nodes with object.__new__ and sets these three slots directly (half
    # the cost of this dataclass's __init__): a new field or a __post_init__ must be added there too.
    tag: str
    attrs: dict[str, AttrValue] = field(default_factory=dict)
    content: Content = None

    # ----------------------------------------------------------------- navigation helpers

    @property
    def children(self) -> list[Node]:
        """The child nodes (an empty list when the content is not a list)."""
        content = self.content
        return content if isinstance(content, list) else []

    def child(self, tag: str) -> Node | None:
        """The first child with ``tag``, or None."""
        for node in self.children:
            if node.tag == tag:
                return node
        return None

    def jid_attr(self, key: str, *, stanza: Node | None = None) -> JID | None:
        """Attribute ``key`` as a JID (parsed when it came as a string), or None when absent.

        A value that is not a JID raises ``DecodeError`` naming this node's tag and ``key``; the error
        carries ``stanza`` (the whole stanza being read) when given, else this node.
        """
        value = self.attrs.get(key)
        if value is None or isinstance(value, JID):
            return value
        try:
            return JID.parse(value)
        except LocalProtocolError as exc:
            raise DecodeError(f"<{self.tag} {key}> is not a JID", node=stanza or self) from exc

    def jid_attr_or_none(self, key: str) -> JID | None:
        """Attribute ``key`` as a JID, or None when it is absent, empty or not a JID (for readers that
        skip what they cannot use instead of refusing the stanza)."""
        value = self.attrs.get(key)
        if value is None or isinstance(value, JID):
            return value
        try:
            return JID.parse(value) if value else None
        except LocalProtocolError:
            return None

    def children_with(self, tag: str) -> list[Node]:
        """Every child with ``tag``, in order."""
        return [node for node in self.children if node.tag == tag]

    # ----------------------------------------------------------------- rendering

    def __repr__(self) -> str:
        parts: list[str] = []
        _render(self, parts, None, 0)
        return "".join(parts)

    def pretty(self, indent: str = "  ") -> str:
        """An indented XML-like rendering for logs (binary content summarised, never dumped whole)."""
        parts: list[str] = []
        _render(self, parts, indent, 0)
        return "".join(parts)

    def __str__(self) -> str:
        return self.pretty()


def _escape(text: str) -> str:
    return text.translate(_ESCAPES)


def _summary(content: bytes | str) -> str:
    if isinstance(content, bytes):
        prefix = content[:_HEX_PREFIX].hex(" ")
        more = " …" if len(content) > _HEX_PREFIX else ""
        return f"<!-- {len(content)} bytes: {prefix}{more} -->" if content else "<!-- 0 bytes -->"
    if len(content) > _TEXT_LIMIT:
        return f"{_escape(content[:_TEXT_LIMIT])}<!-- … {len(content)} chars -->"
    return _escape(content)


def _render(node: Node, parts: list[str], indent: str | None, level: int) -> None:
    pad = indent * level if indent is not None else ""
    attrs = "".join(f' {key}="{_escape(str(value))}"' for key, value in node.attrs.items())
    content = node.content
    if content is None:
        parts.append(f"{pad}<{node.tag}{attrs}/>")
    elif not content and isinstance(content, list):
        parts.append(f"{pad}<{node.tag}{attrs}></{node.tag}>")
    elif isinstance(content, list):
        parts.append(f"{pad}<{node.tag}{attrs}>")
        for child in content:
            if indent is not None:
                parts.append("\n")
            _render(child, parts, indent, level + 1)
        if indent is not None:
            parts.append(f"\n{pad}")
        parts.append(f"</{node.tag}>")
    else:
        parts.append(f"{pad}<{node.tag}{attrs}>{_summary(content)}</{node.tag}>")
