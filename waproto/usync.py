"""Client-side builders and parsers for user queries: usync device lists and prekey bundle fetches.

Sans-I/O, a stanza in or a stanza out (PROTOCOL.md §5.3, §6.1):

- :func:`devices_query` builds ``<iq xmlns="usync" type="get"><usync sid mode="query" context="message">
  <query><devices version="2"/></query><list><user jid/>…</list></usync></iq>``;
  :func:`parse_devices_result` reads the answer into ``{user JID: [device ids]}`` (an unknown number
  answers with an empty list: it is not on WhatsApp).
- :func:`prekey_query` builds ``<iq xmlns="encrypt" type="get"><key><user jid=device/>…</key></iq>``;
  :func:`parse_prekey_result` reads each ``<user>`` into a :class:`~waproto.signal.keys.PreKeyBundle`,
  or None for a device the server has no keys for (``<error>`` in place of the bundle).

The iqs carry no ``id``: :meth:`waproto.client.Client.query` gives them one. Malformed answers raise
``DecodeError``, never ``IndexError``/``ValueError``.

This module is NOT the server's side (``waproto.sandbox.usync``) and does not cache device lists.
"""

from __future__ import annotations

from waproto.binary import Node
from waproto.errors import DecodeError, LocalProtocolError
from waproto.jid import JID, SERVER_JID, parse_jid
from waproto.signal.keys import PreKeyBundle

__all__ = ["devices_query", "parse_devices_result", "parse_prekey_result", "prekey_query"]


def devices_query(users: list[JID], *, sid: str) -> Node:
    """The usync iq asking for the device lists of ``users`` (user JIDs; a device part is dropped)."""
    listed = [Node("user", {"jid": user.to_non_ad()}) for user in users]
    usync = Node(
        "usync",
        {"sid": sid, "mode": "query", "last": "true", "index": "0", "context": "message"},
        [Node("query", {}, [Node("devices", {"version": "2"})]), Node("list", {}, listed)],
    )
    return Node("iq", {"xmlns": "usync", "type": "get", "to": SERVER_JID}, [usync])


def _jid(node: Node, name: str = "jid") -> JID:
    value = node.attrs.get(name)
    if isinstance(value, JID):
        return value
    if isinstance(value, str):
        try:
            return parse_jid(value)
        except LocalProtocolError as exc:
            raise DecodeError(f"<{node.tag} {name}> is not a JID: {value!r}") from exc
    raise DecodeError(f"<{node.tag}> has no {name}")


def _int(node: Node, name: str) -> int:
    value = node.attrs.get(name)
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() or len(value) > 10:
        raise DecodeError(f"<{node.tag} {name}> is not a number: {value!r}")
    return int(value)


def parse_devices_result(answer: Node) -> dict[JID, list[int]]:
    """The device ids per user (user JIDs as answered, without device) of a usync devices result."""
    usync = answer.child("usync")
    users = usync.child("list") if usync is not None else None
    if users is None:
        raise DecodeError("a usync result without <usync><list>", node=answer)
    found: dict[JID, list[int]] = {}
    for user in users.children_with("user"):
        jid = _jid(user).to_non_ad()
        devices = user.child("devices")
        device_list = devices.child("device-list") if devices is not None else None
        ids = [] if device_list is None else [_int(d, "id") for d in device_list.children_with("device")]
        found[jid] = sorted(set(ids))
    return found


def prekey_query(devices: list[JID]) -> Node:
    """The ``encrypt`` iq asking for the prekey bundles of ``devices`` (device JIDs)."""
    users = [Node("user", {"jid": device}) for device in devices]
    return Node("iq", {"xmlns": "encrypt", "type": "get", "to": SERVER_JID}, [Node("key", {}, users)])


def _bytes(node: Node | None, what: str) -> bytes:
    if node is None or not isinstance(node.content, bytes):
        raise DecodeError(f"a prekey bundle without binary <{what}>")
    return node.content


def _key_id(node: Node, what: str) -> int:
    raw = _bytes(node.child("id"), f"{what}><id")
    if not 1 <= len(raw) <= 4:
        raise DecodeError(f"a {what} id of {len(raw)} bytes")
    return int.from_bytes(raw, "big")


def _bundle(user: Node, device: int) -> PreKeyBundle:
    registration = _bytes(user.child("registration"), "registration")
    if len(registration) != 4:
        raise DecodeError("a registration id is 4 bytes")
    skey = user.child("skey")
    if skey is None:
        raise DecodeError("a prekey bundle without <skey>")
    key = user.child("key")
    return PreKeyBundle(
        registration_id=int.from_bytes(registration, "big"),
        device_id=device,
        pre_key_id=_key_id(key, "key") if key is not None else None,
        pre_key_public=_bytes(key.child("value"), "key><value") if key is not None else None,
        signed_pre_key_id=_key_id(skey, "skey"),
        signed_pre_key_public=_bytes(skey.child("value"), "skey><value"),
        signed_pre_key_signature=_bytes(skey.child("signature"), "skey><signature"),
        identity_key=_bytes(user.child("identity"), "identity"),
    )


def parse_prekey_result(answer: Node) -> dict[JID, PreKeyBundle | None]:
    """Each asked device's bundle (None when the server had no keys for it), keyed by the JID answered."""
    listed = answer.child("list")
    if listed is None:
        raise DecodeError("a prekey result without <list>", node=answer)
    found: dict[JID, PreKeyBundle | None] = {}
    for user in listed.children_with("user"):
        jid = _jid(user)
        if user.child("error") is not None:
            found[jid] = None
            continue
        try:
            found[jid] = _bundle(user, jid.device)
        except (LocalProtocolError, ValueError) as exc:
            raise DecodeError(f"a malformed prekey bundle for {jid}: {exc}", node=user) from exc
    return found
