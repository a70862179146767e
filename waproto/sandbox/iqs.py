"""The sandbox server's IQ table: which handler answers which ``<iq>`` a client sends, and the basic handlers.

An :class:`IqTable` maps ``(xmlns, type, first child tag)`` to an async handler ``(connection, iq) -> Node |
None``; ``type`` and the child tag may be left open (None), and the most specific registration wins. A
handler returns the answer to send (None when it answered itself or nothing is due). An iq nobody handles
gets ``<iq type="error"><error code="501" text="feature-not-implemented"/>``: a client's unknown query is
answered, never fatal. A handler that raises a ``RemoteProtocolError`` (the client sent a malformed query)
gets a 400 answer; other modules (linking, usync, groups, media) register their own handlers the same way.

:func:`register_basic_iqs` adds what every client sends after login (PROTOCOL.md §4.5–4.7, §11.5):
keepalive ``w:p`` ping, ``encrypt`` prekey count, upload, signed-prekey rotation and ``<digest/>``,
``passive`` active/passive, props (``w`` and ``abt``), ``blocklist``, ``privacy``, and a companion's
``md remove-companion-device`` (logout).

This module is not the connection (which calls :meth:`IqTable.answer`) and keeps no state of its own:
uploaded keys go to the network (``state``).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final

from waproto.binary import Node
from waproto.errors import DecodeError, RemoteProtocolError
from waproto.jid import JID, SERVER_JID
from waproto.sandbox.registry import OneTimePreKey, SignedPreKey

if TYPE_CHECKING:
    from waproto.sandbox.connection import Connection

__all__ = [
    "IqHandler",
    "IqTable",
    "error_iq",
    "register_basic_iqs",
    "result_iq",
]

log = logging.getLogger(__name__)

#: An iq handler: the connection the iq came on and the iq; returns the answer or None.
IqHandler = Callable[["Connection", Node], Awaitable[Node | None]]

#: The props protocol version answered when the query names none.
_PROPS_PROTOCOL: Final = "2"


def result_iq(iq: Node, content: list[Node] | None = None) -> Node:
    """``<iq type="result">`` answering ``iq`` (same id, from the server)."""
    return Node("iq", {"from": SERVER_JID, "id": str(iq.attrs.get("id", "")), "type": "result"}, content)


def error_iq(iq: Node, code: int, text: str) -> Node:
    """``<iq type="error"><error code text/></iq>`` answering ``iq``."""
    return Node(
        "iq",
        {"from": SERVER_JID, "id": str(iq.attrs.get("id", "")), "type": "error"},
        [Node("error", {"code": str(code), "text": text})],
    )


class IqTable:
    """Handlers by ``(xmlns, type, child tag)``; see the module docstring."""

    def __init__(self) -> None:
        self._handlers: dict[tuple[str, str | None, str | None], IqHandler] = {}

    def register(self, xmlns: str, child: str | None, handler: IqHandler, *, type: str | None = None) -> None:
        """Answer iqs in ``xmlns`` whose first child is ``child`` (any child: None), of ``type`` (any: None).

        A later registration of the same key replaces the earlier one (a module may override a basic answer).
        """
        self._handlers[(xmlns, type, child)] = handler

    def lookup(self, iq: Node) -> IqHandler | None:
        """The handler for ``iq``, most specific first, or None."""
        xmlns = str(iq.attrs.get("xmlns", ""))
        kind = str(iq.attrs.get("type", ""))
        children = iq.children
        child = children[0].tag if children else None
        for key in ((xmlns, kind, child), (xmlns, None, child), (xmlns, kind, None), (xmlns, None, None)):
            handler = self._handlers.get(key)
            if handler is not None:
                return handler
        return None

    async def answer(self, connection: Connection, iq: Node) -> Node | None:
        """Run the handler for ``iq``; 501 when there is none, 400 when the iq is malformed."""
        handler = self.lookup(iq)
        if handler is None:
            log.info("%s: no handler for iq xmlns=%s type=%s", connection.name, iq.attrs.get("xmlns"), iq.attrs.get("type"))
            return error_iq(iq, 501, "feature-not-implemented")
        try:
            return await handler(connection, iq)
        except RemoteProtocolError as exc:
            log.info("%s: malformed iq xmlns=%s: %s", connection.name, iq.attrs.get("xmlns"), exc)
            return error_iq(iq, 400, "bad-request")


# --------------------------------------------------------------------- the basic handlers


def _bytes(node: Node | None, what: str) -> bytes:
    content = None if node is None else node.content
    if isinstance(content, str):
        content = content.encode("latin-1", errors="replace")
    if not isinstance(content, bytes):
        raise DecodeError(f"<{what}> has no bytes")
    return content


def _key_id(node: Node | None, what: str) -> int:
    raw = _bytes(node, what)
    if not 1 <= len(raw) <= 4:
        raise DecodeError(f"<{what}> is not a 3-byte id")
    return int.from_bytes(raw, "big")


def _key(node: Node | None, what: str) -> bytes:
    raw = _bytes(node, what)
    if len(raw) == 33 and raw[0] == 5:
        raw = raw[1:]
    if len(raw) != 32:
        raise DecodeError(f"<{what}> is not a 32-byte key")
    return raw


def _signed_pre_key(skey: Node | None) -> SignedPreKey:
    if skey is None:
        raise DecodeError("no <skey>")
    signature = _bytes(skey.child("signature"), "signature")
    if len(signature) != 64:
        raise DecodeError("<skey><signature> is not 64 bytes")
    return SignedPreKey(_key_id(skey.child("id"), "id"), _key(skey.child("value"), "value"), signature)


async def _ping(connection: Connection, iq: Node) -> Node:
    return result_iq(iq)


async def _prekey_count(connection: Connection, iq: Node) -> Node:
    companion = connection.companion
    count = 0 if companion is None else len(companion.pre_keys)
    return result_iq(iq, [Node("count", {"value": str(count)})])


async def _prekey_upload(connection: Connection, iq: Node) -> Node:
    companion = connection.companion
    if companion is None:
        return error_iq(iq, 401, "not-authorized")
    registration = _bytes(iq.child("registration"), "registration")
    identity = _key(iq.child("identity"), "identity")
    if identity != companion.identity:
        return error_iq(iq, 409, "conflict")
    key_list = iq.child("list")
    keys = [
        OneTimePreKey(_key_id(key.child("id"), "id"), _key(key.child("value"), "value"))
        for key in (key_list.children_with("key") if key_list is not None else [])
    ]
    companion.signed_pre_key = _signed_pre_key(iq.child("skey"))
    companion.registration_id = int.from_bytes(registration[-4:], "big")
    known = {key.key_id for key in companion.pre_keys}
    companion.pre_keys.extend(key for key in keys if key.key_id not in known)
    connection.sandbox.network.save()
    log.info("%s: %d prekeys uploaded (%d held)", connection.name, len(keys), len(companion.pre_keys))
    return result_iq(iq)


async def _rotate(connection: Connection, iq: Node) -> Node:
    companion = connection.companion
    rotate = iq.child("rotate")
    if companion is None or rotate is None:
        return error_iq(iq, 401, "not-authorized")
    companion.signed_pre_key = _signed_pre_key(rotate.child("skey"))
    connection.sandbox.network.save()
    return result_iq(iq)


async def _digest(connection: Connection, iq: Node) -> Node:
    companion = connection.companion
    if companion is None:
        return error_iq(iq, 404, "item-not-found")
    spk = companion.signed_pre_key
    ids = [key.key_id for key in companion.pre_keys]
    material = companion.identity + spk.public + spk.signature + b"".join(i.to_bytes(3, "big") for i in ids)
    return result_iq(
        iq,
        [
            Node(
                "digest",
                {},
                [
                    Node("registration", {}, companion.registration_id.to_bytes(4, "big")),
                    Node("type", {}, b"\x05"),
                    Node("identity", {}, companion.identity),
                    Node("skey", {}, [Node("id", {}, spk.key_id.to_bytes(3, "big"))]),
                    Node("list", {}, [Node("id", {}, i.to_bytes(3, "big")) for i in ids]),
                    Node("hash", {}, hashlib.sha1(material).digest()),
                ],
            )
        ],
    )


async def _passive(connection: Connection, iq: Node) -> Node:
    children = iq.children
    connection.active = bool(children) and children[0].tag == "active"
    return result_iq(iq)


async def _props(connection: Connection, iq: Node) -> Node:
    asked = iq.child("props")
    protocol = str(asked.attrs.get("protocol", _PROPS_PROTOCOL)) if asked is not None else _PROPS_PROTOCOL
    return result_iq(iq, [Node("props", {"protocol": protocol, "hash": "sandbox", "refresh": "86400"}, [])])


async def _blocklist(connection: Connection, iq: Node) -> Node:
    return result_iq(iq, [Node("list", {}, [])])


_PRIVACY: Final = (
    ("last", "all"),
    ("online", "all"),
    ("profile", "all"),
    ("status", "all"),
    ("readreceipts", "all"),
    ("groupadd", "all"),
    ("calladd", "all"),
)


async def _privacy(connection: Connection, iq: Node) -> Node:
    if iq.attrs.get("type") != "get":
        return result_iq(iq)
    return result_iq(iq, [Node("privacy", {}, [Node("category", {"name": n, "value": v}) for n, v in _PRIVACY])])


async def _remove_companion(connection: Connection, iq: Node) -> Node | None:
    remove = iq.child("remove-companion-device")
    target = None if remove is None else remove.attrs.get("jid")
    if isinstance(target, str):
        try:
            target = JID.parse(target)
        except Exception as exc:
            raise DecodeError("remove-companion-device jid is not a JID") from exc
    device = connection.device
    if device is None or not isinstance(target, JID):
        return error_iq(iq, 401, "not-authorized")
    state = connection.sandbox.network.account_of(device)
    if state is None or connection.sandbox.network.account_of(target) is not state or target.device == 0:
        return error_iq(iq, 403, "forbidden")
    await connection.send_node(result_iq(iq))
    await connection.sandbox.unlink(state.device_jid(target.device), reason="removed by the companion")
    return None


def register_basic_iqs(table: IqTable) -> None:
    """Register the handlers listed in the module docstring."""
    table.register("w:p", "ping", _ping)
    table.register("encrypt", "count", _prekey_count, type="get")
    table.register("encrypt", "digest", _digest, type="get")
    table.register("encrypt", "registration", _prekey_upload, type="set")
    table.register("encrypt", "rotate", _rotate, type="set")
    table.register("passive", None, _passive)
    table.register("w", "props", _props)
    table.register("abt", "props", _props)
    table.register("blocklist", None, _blocklist)
    table.register("privacy", None, _privacy)
    table.register("md", "remove-companion-device", _remove_companion, type="set")
