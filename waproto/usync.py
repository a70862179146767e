"""Client-side builders and parsers for user queries: usync (devices, contact, LID) and prekey bundle fetches.

Sans-I/O, a stanza in or a stanza out (PROTOCOL.md §5.3, §6.1, §6.2.11, §8):

- :func:`devices_query` builds ``<iq xmlns="usync" type="get"><usync sid mode="query" context="message">
  <query><devices version="2"/>[<lid/>]</query><list><user jid/>…</list></usync></iq>``;
  :func:`parse_devices_result` reads the answer into ``{user JID: [device ids]}`` (an unknown number
  answers with an empty list: it is not on WhatsApp).
- :func:`contact_query` builds the "is this number on WhatsApp" query in whatsmeow's form
  (``context="interactive"``, ``<contact addressing_mode="lid"/>``, ``<business><verified_name/></business>``,
  ``<disappearing_mode/>``, ``<username/>``; each user ``<user><contact>+1555…@c.us</contact></user>``);
  :func:`parse_contact_result` reads Baileys' and whatsmeow's answer forms into ``{phone: CheckResult}``.
- :func:`lid_query` asks the LIDs of phone-number users (``context="background"``, ``<lid/>``);
  :func:`parse_lid_result` reads ``{PN user: LID user}``.
- :func:`parse_usync_users` is the general reader the others are built on: one :class:`UsyncUser` per
  ``<user>`` of the answer.
- :func:`device_list_hash` is the ``device_hash`` of a devices notification (whatsmeow's v2 hash).
- :func:`prekey_query` builds ``<iq xmlns="encrypt" type="get"><key><user jid=device/>…</key></iq>``;
  :func:`parse_prekey_result` reads each ``<user>`` into a :class:`~waproto.signal.keys.PreKeyBundle`,
  or None for a device the server has no keys for (``<error>`` in place of the bundle).

The iqs carry no ``id``: :meth:`waproto.client.Client.query` gives them one. Malformed answers raise
``DecodeError``, never ``IndexError``/``ValueError``.

This module is NOT the server's side (``waproto.sandbox.usync``) and does not cache device lists or
store LID mappings (``waproto.client.directory`` does).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

from waproto.binary import Node
from waproto.errors import DecodeError, LocalProtocolError
from waproto.jid import (
    DEFAULT_USER_SERVER,
    HIDDEN_USER_SERVER,
    JID,
    LEGACY_USER_SERVER,
    SERVER_JID,
    parse_jid,
)
from waproto.signal.keys import PreKeyBundle

__all__ = [
    "MAX_DEVICE_ID",
    "CheckResult",
    "UsyncUser",
    "contact_query",
    "device_list_hash",
    "devices_query",
    "lid_query",
    "normalize_phone",
    "parse_contact_result",
    "parse_devices_result",
    "parse_lid_result",
    "parse_prekey_result",
    "parse_retry_keys",
    "parse_usync_users",
    "prekey_query",
    "usync_iq",
]

#: The largest device id a device list may name (device JIDs carry a 16-bit device).
MAX_DEVICE_ID: Final = 0xFFFF


def usync_iq(users: list[Node], protocols: list[Node], *, sid: str, mode: str, context: str) -> Node:
    """A ``usync`` get iq asking ``protocols`` (the ``<query>`` children) about ``users`` (``<user>``s)."""
    usync = Node(
        "usync",
        {"sid": sid, "mode": mode, "last": "true", "index": "0", "context": context},
        [Node("query", {}, protocols), Node("list", {}, users)],
    )
    return Node("iq", {"xmlns": "usync", "type": "get", "to": SERVER_JID}, [usync])


def devices_query(users: list[JID], *, sid: str, lid: bool = False) -> Node:
    """The usync iq asking for the device lists of ``users`` (user JIDs; a device part is dropped),
    and, with ``lid``, their LIDs too (``<lid/>``, as Baileys 7 asks)."""
    listed = [Node("user", {"jid": user.to_non_ad()}) for user in users]
    protocols = [Node("devices", {"version": "2"})]
    if lid:
        protocols.append(Node("lid", {}))
    return usync_iq(listed, protocols, sid=sid, mode="query", context="message")


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
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() or len(value) > 5:
        raise DecodeError(f"<{node.tag} {name}> is not a number: {value!r}")
    number = int(value)
    if number > MAX_DEVICE_ID:
        raise DecodeError(f"<{node.tag} {name}> is out of range: {value!r}")
    return number


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


def normalize_phone(phone: str) -> str:
    """``phone`` as digits only (an optional leading ``+`` dropped); ``LocalProtocolError`` unless it is
    5 to 20 ASCII digits."""
    if not isinstance(phone, str):
        raise LocalProtocolError(f"a phone number is a string of digits, not {type(phone).__name__}")
    digits = phone.removeprefix("+")
    if not (digits.isascii() and digits.isdigit() and 5 <= len(digits) <= 20):
        raise LocalProtocolError(f"a phone number is 5 to 20 digits with the country code, not {phone!r}")
    return digits


def contact_query(phones: list[str], *, sid: str) -> Node:
    """The usync iq asking whether ``phones`` (digits, optionally with ``+``) are on WhatsApp, in
    whatsmeow's form (PROTOCOL.md §8.3): the answer names each account's LID and phone-number JIDs."""
    users = [
        Node("user", {}, [Node("contact", {}, f"+{normalize_phone(phone)}@{LEGACY_USER_SERVER}")])
        for phone in phones
    ]
    protocols = [
        Node("contact", {"addressing_mode": "lid"}),
        Node("business", {}, [Node("verified_name", {})]),
        Node("disappearing_mode", {}),
        Node("username", {}),
    ]
    return usync_iq(users, protocols, sid=sid, mode="query", context="interactive")


def lid_query(users: list[JID], *, sid: str) -> Node:
    """The usync iq asking the LIDs of phone-number ``users`` (a device part is dropped)."""
    listed = [Node("user", {"jid": user.to_non_ad()}) for user in users]
    return usync_iq(listed, [Node("lid", {})], sid=sid, mode="query", context="background")


@dataclass(frozen=True, slots=True)
class UsyncUser:
    """What a usync answer said about one ``<user>``. A protocol that was not answered, or answered with
    an ``<error>``, leaves its field None."""

    #: The ``jid`` attribute without device (a PN or, for whatsmeow's contact form, a LID), if any.
    jid: JID | None
    #: The ``pn_jid`` attribute (whatsmeow's contact form: the phone-number JID next to a LID ``jid``).
    pn_jid: JID | None = None
    #: Device ids of ``<devices><device-list>`` in the order given (hosted devices excluded).
    devices: tuple[int, ...] | None = None
    #: Ids of devices marked ``is_hosted="true"`` (Cloud API devices; not in ``devices``).
    hosted: tuple[int, ...] = ()
    #: The ``<lid val>`` JID without device.
    lid: JID | None = None
    #: ``<contact type>``: "in" (on WhatsApp), "out" (any other type).
    contact: Literal["in", "out"] | None = None
    #: The content of ``<contact>`` (the number as asked, echoed by the server), as text.
    query: str | None = None


def _answered(user: Node, tag: str) -> Node | None:
    node = user.child(tag)
    if node is None or node.child("error") is not None:
        return None
    return node


def _text(node: Node) -> str | None:
    content = node.content
    if isinstance(content, bytes):
        try:
            return content.decode()
        except UnicodeDecodeError as exc:
            raise DecodeError(f"<{node.tag}> content is not UTF-8", node=node) from exc
    return content if isinstance(content, str) else None


def _device_ids(devices: Node) -> tuple[tuple[int, ...], tuple[int, ...]]:
    device_list = devices.child("device-list")
    ids: list[int] = []
    hosted: list[int] = []
    for device in [] if device_list is None else device_list.children_with("device"):
        number = _int(device, "id")
        target = hosted if device.attrs.get("is_hosted") == "true" else ids
        if number not in target:
            target.append(number)
    return tuple(ids), tuple(hosted)


def _user(user: Node) -> UsyncUser:
    jid = user.jid_attr("jid")
    pn_jid = user.jid_attr("pn_jid")
    devices = hosted = None
    answered = _answered(user, "devices")
    if answered is not None:
        devices, hosted = _device_ids(answered)
    lid = None
    answered = _answered(user, "lid")
    if answered is not None and answered.attrs.get("val"):
        lid = answered.jid_attr("val")
    contact: Literal["in", "out"] | None = None
    query = None
    contact_node = user.child("contact")
    if contact_node is not None:
        query = _text(contact_node)
        if contact_node.child("error") is None:
            contact = "in" if contact_node.attrs.get("type") == "in" else "out"
    return UsyncUser(
        jid=None if jid is None else jid.to_non_ad(),
        pn_jid=None if pn_jid is None else pn_jid.to_non_ad(),
        devices=devices,
        hosted=hosted or (),
        lid=None if lid is None else lid.to_non_ad(),
        contact=contact,
        query=query,
    )


def parse_usync_users(answer: Node) -> list[UsyncUser]:
    """Every ``<user>`` of a usync result, in order (``DecodeError`` for a malformed one)."""
    usync = answer.child("usync")
    users = usync.child("list") if usync is not None else None
    if users is None:
        raise DecodeError("a usync result without <usync><list>", node=answer)
    return [_user(user) for user in users.children_with("user")]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """Whether a phone number is on WhatsApp, and its account's JIDs."""

    #: True when the number has a WhatsApp account.
    exists: bool
    #: The account's phone-number JID (``15551234567@s.whatsapp.net``), None when it does not exist.
    jid: JID | None = None
    #: The account's LID (``…@lid``), when the server said it.
    lid: JID | None = None


def _phone_of(user: UsyncUser) -> str | None:
    if user.query is not None:
        text = user.query.strip().removeprefix("+").partition("@")[0]
        if text.isascii() and text.isdigit():
            return text
    for jid in (user.pn_jid, user.jid):
        if jid is not None and jid.server == DEFAULT_USER_SERVER and jid.user.isdigit():
            return jid.user
    return None


def parse_contact_result(answer: Node) -> dict[str, CheckResult]:
    """``{phone digits: CheckResult}`` for each user of a contact query's answer, in Baileys' form
    (``jid`` the PN, ``<lid val>``) or whatsmeow's (``jid`` the LID, ``pn_jid`` the PN, the number echoed
    in ``<contact>``). The key is the number asked (the echo, else the answered PN); ``jid`` is the PN the
    server answered, which may differ from it. A user that names no phone number is skipped."""
    found: dict[str, CheckResult] = {}
    for user in parse_usync_users(answer):
        phone = _phone_of(user)
        if phone is None:
            continue
        lid = next(
            (j for j in (user.jid, user.lid) if j is not None and j.server == HIDDEN_USER_SERVER), None
        )
        if user.contact != "in":
            found[phone] = CheckResult(False, None, None)
            continue
        # The account's number as the server names it (it may differ from the number asked).
        pn = next((j for j in (user.pn_jid, user.jid) if j is not None and j.is_pn), None)
        found[phone] = CheckResult(True, pn or JID(phone, DEFAULT_USER_SERVER), lid)
    return found


def parse_lid_result(answer: Node) -> dict[JID, JID]:
    """``{PN user: LID user}`` for the users of a usync answer that have a phone-number ``jid`` and a
    ``<lid val>`` on the LID server."""
    found: dict[JID, JID] = {}
    for user in parse_usync_users(answer):
        if user.jid is not None and user.jid.is_pn and user.lid is not None and user.lid.is_lid:
            found[user.jid] = user.lid
    return found


def device_list_hash(devices: Iterable[JID]) -> str:
    """whatsmeow's participant-list hash (v2) of device JIDs, as devices notifications carry it in
    ``device_hash``: ``"2:"`` and the unpadded base64 of the first 6 bytes of SHA-256 over the sorted
    ``user.agent:device@server`` strings (PROTOCOL.md §6.4)."""
    joined = "".join(sorted(jid.ad_string() for jid in devices)).encode()
    return "2:" + base64.b64encode(hashlib.sha256(joined).digest()[:6]).decode().rstrip("=")


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


def parse_retry_keys(receipt: Node, device: int) -> PreKeyBundle | None:
    """The prekey bundle a ``retry`` receipt carries in ``<keys>`` (with the receipt's ``<registration>``),
    for ``device``; None when it carries none (PROTOCOL.md §5.7). ``DecodeError`` when it is malformed or
    not of key type 5 (the signature is checked when a session is built from it)."""
    keys = receipt.child("keys")
    if keys is None:
        return None
    kind = keys.child("type")
    if kind is not None and kind.content != b"\x05":
        raise DecodeError("retry keys of an unknown key type", node=receipt)
    registration = receipt.child("registration")
    parts = [registration] if registration is not None else []
    try:
        return _bundle(Node("keys", {}, [*parts, *keys.children]), device)
    except (LocalProtocolError, ValueError) as exc:
        raise DecodeError(f"malformed retry keys: {exc}", node=receipt) from exc
