"""The sandbox server's answers to user queries: ``usync`` (devices, contact, LID) and prekey bundles.

Two functions, each a stanza in and a stanza out, reading the network through a
:class:`~waproto.sandbox.registry.Registry`:

- :func:`answer_usync` answers ``<iq xmlns="usync" type="get"><usync><query>…</query><list><user…/>…``
  (PROTOCOL.md §6.1, §8). Per requested protocol and user: ``<devices>`` lists the account's device ids
  (``key-index`` on every non-zero device, which Baileys requires), ``<contact type="in|out"/>`` tells
  whether a number is on WhatsApp (the user named by ``jid`` or by ``<contact>+1555…</contact>`` content,
  Baileys' or whatsmeow's form; the content is echoed back, and with whatsmeow's
  ``<contact addressing_mode="lid"/>`` a known account's ``<user>`` has ``jid=<LID>`` and
  ``pn_jid=<PN>``), ``<lid val="…@lid"/>`` gives the account's LID. Unknown protocols
  (``status``, ``disappearing_mode``, ``business``, …) get an empty element of the same name, which the
  clients read as "nothing to say".
- :func:`answer_prekey_fetch` answers ``<iq xmlns="encrypt" type="get"><key><user jid/>…</key>`` with
  each device's bundle (§5.3). **A one-time prekey is handed out once**: serving it removes it from the
  registry; with none left the bundle simply has no ``<key>``. A user JID without a device means device 0.
  PN and LID JIDs are both understood; every ``<user jid>`` of the answer repeats the JID as asked, since
  clients key the session they build by it.

A request that is not shaped as described gets ``<iq type="error"><error code="400" text="bad-request"/>``
(never an exception): a client's mistake must not bring the connection down here. Whether to log it is
the caller's business.

:func:`devices_notification` builds what the server tells other devices when a companion is linked or
unlinked.

This module is NOT the IQ dispatcher (the server decides which iq goes where), does not store uploaded
prekeys (``encrypt set`` belongs to the server's state) and does no I/O.
"""

from __future__ import annotations

import struct
from typing import Final, Literal

from waproto.binary import Node
from waproto.errors import LocalProtocolError
from waproto.jid import DEFAULT_USER_SERVER, HIDDEN_USER_SERVER, JID, SERVER_JID, parse_jid
from waproto.sandbox.registry import Account, Registry, account_of, take_bundle
from waproto.usync import device_list_hash

__all__ = [
    "DJB_KEY_TYPE",
    "answer_prekey_fetch",
    "answer_usync",
    "bundle_nodes",
    "devices_notification",
    "error_result",
    "iq_result",
]

#: The ``<type>`` content of a bundle: one byte, "DJB" (Curve25519) keys.
DJB_KEY_TYPE: Final = b"\x05"


# --------------------------------------------------------------------- iq helpers


def iq_result(iq: Node, content: list[Node] | None = None) -> Node:
    """The ``type="result"`` answer to ``iq`` (same id, from the server)."""
    return Node("iq", {"from": SERVER_JID, "id": str(iq.attrs.get("id", "")), "type": "result"}, content)


def error_result(iq: Node, code: int = 400, text: str = "bad-request") -> Node:
    """The ``type="error"`` answer to ``iq`` with one ``<error code text/>``."""
    attrs: dict[str, str | JID] = {"from": SERVER_JID, "id": str(iq.attrs.get("id", "")), "type": "error"}
    return Node("iq", attrs, [Node("error", {"code": str(code), "text": text})])


def _jid_attr(node: Node, name: str) -> JID | None:
    value = node.attrs.get(name)
    if isinstance(value, JID):
        return value
    if isinstance(value, str):
        try:
            return parse_jid(value)
        except LocalProtocolError:
            return None
    return None


# --------------------------------------------------------------------- usync


def _contact_number(user: Node) -> str | None:
    """The phone number a ``<user><contact>+1555…</contact></user>`` names (digits), if any."""
    contact = user.child("contact")
    if contact is None:
        return None
    content = contact.content
    if isinstance(content, bytes):
        try:
            content = content.decode()
        except UnicodeDecodeError:
            return None
    if not isinstance(content, str):
        return None
    number = content.strip().removeprefix("+").partition("@")[0]
    return number if number.isascii() and number.isdigit() else None


def _devices_node(registry: Registry, account: Account | None) -> Node:
    devices: list[Node] = []
    if account is not None:
        for device in registry.device_ids(account.phone):
            attrs: dict[str, str | JID] = {"id": str(device)}
            if device:
                attrs["key-index"] = str(device)
            devices.append(Node("device", attrs))
    return Node("devices", {}, [Node("device-list", {}, devices)])


def _user_answer(registry: Registry, user: Node, query: list[Node]) -> Node | None:
    asked = _jid_attr(user, "jid")
    attrs: dict[str, str | JID] = {}
    if asked is not None:
        account = account_of(registry, asked)
        attrs["jid"] = asked.to_non_ad()
    else:
        number = _contact_number(user)
        if number is None:
            return None
        account = registry.account_by_phone(number)
        attrs["jid"] = JID(number, DEFAULT_USER_SERVER)
    children: list[Node] = []
    for protocol_node in query:
        protocol = protocol_node.tag
        if protocol == "devices":
            children.append(_devices_node(registry, account))
        elif protocol == "contact":
            contact = user.child("contact")
            echo = (
                contact.content if contact is not None and isinstance(contact.content, str | bytes) else None
            )
            children.append(Node("contact", {"type": "in" if account is not None else "out"}, echo))
            if protocol_node.attrs.get("addressing_mode") == "lid" and account is not None:
                attrs = {"jid": account.lid_jid, "pn_jid": account.jid}  # whatsmeow's form (§8.3)
        elif protocol == "lid":
            lid: dict[str, str | JID] = {"val": account.lid_jid} if account is not None else {}
            children.append(Node("lid", lid))
        else:
            children.append(Node(protocol, {}))
    return Node("user", attrs, children)


def answer_usync(iq: Node, registry: Registry) -> Node:
    """Answer a ``usync`` get iq (see the module docstring); a malformed one gets a 400 error result."""
    usync = iq.child("usync")
    query = usync.child("query") if usync is not None else None
    users = usync.child("list") if usync is not None else None
    if iq.tag != "iq" or usync is None or query is None or users is None:
        return error_result(iq)
    answers: list[Node] = []
    for user in users.children_with("user"):
        answer = _user_answer(registry, user, query.children)
        if answer is None:
            return error_result(iq)
        answers.append(answer)
    attrs = {key: value for key, value in usync.attrs.items() if key in ("sid", "mode", "context", "index")}
    attrs["last"] = "true"
    return iq_result(iq, [Node("usync", attrs, [Node("list", {}, answers)])])


def devices_notification(
    registry: Registry,
    account: Account,
    device: int,
    change: Literal["add", "remove"],
    *,
    notification_id: str,
    now: int,
) -> Node:
    """The ``<notification type="devices">`` telling that ``device`` of ``account`` was linked (``add``) or
    unlinked (``remove``), sent after the change (PROTOCOL.md §6.6.9, whatsmeow's form):
    ``from`` the account's PN, ``lid`` its LID, and ``device_hash``/``device_lid_hash`` of the new lists."""
    ids = registry.device_ids(account.phone)
    pn_list = [account.jid.with_device(d) for d in ids]
    lid_list = [account.lid_jid.with_device(d) for d in ids]
    changed = Node(
        "device", {"jid": account.jid.with_device(device), "lid": account.lid_jid.with_device(device)}
    )
    attrs: dict[str, str | JID] = {
        "device_hash": device_list_hash(pn_list),
        "device_lid_hash": device_list_hash(lid_list),
    }
    body = Node(change, attrs, [changed, Node("key-index-list", {"ts": str(now)})])
    attrs = {"from": account.jid, "lid": account.lid_jid, "type": "devices", "id": notification_id}
    return Node("notification", {**attrs, "t": str(now)}, [body])


# --------------------------------------------------------------------- prekey bundles


def _id3(key_id: int) -> bytes:
    return key_id.to_bytes(3, "big")


def bundle_nodes(registry: Registry, device: JID) -> list[Node] | None:
    """The children of a bundle ``<user>`` for a phone-number device JID (consuming a one-time prekey),
    or None when the device published no keys."""
    bundle = take_bundle(registry, device)
    if bundle is None:
        return None
    children = [
        Node("registration", {}, struct.pack(">I", bundle.registration_id)),
        Node("type", {}, DJB_KEY_TYPE),
        Node("identity", {}, bundle.identity_key),
        Node(
            "skey",
            {},
            [
                Node("id", {}, _id3(bundle.signed_pre_key_id)),
                Node("value", {}, bundle.signed_pre_key_public),
                Node("signature", {}, bundle.signed_pre_key_signature),
            ],
        ),
    ]
    if bundle.pre_key_id is not None and bundle.pre_key_public is not None:
        children.append(
            Node(
                "key", {}, [Node("id", {}, _id3(bundle.pre_key_id)), Node("value", {}, bundle.pre_key_public)]
            )
        )
    return children


def _canonical_device(registry: Registry, jid: JID) -> JID | None:
    account = account_of(registry, jid)
    if account is None or jid.server not in (DEFAULT_USER_SERVER, HIDDEN_USER_SERVER):
        return None
    return JID(account.phone, DEFAULT_USER_SERVER, device=jid.device)


def answer_prekey_fetch(iq: Node, registry: Registry) -> Node:
    """Answer an ``encrypt`` get iq with a ``<key>`` child: one bundle per asked device, prekeys consumed."""
    key = iq.child("key")
    if iq.tag != "iq" or key is None:
        return error_result(iq)
    answers: list[Node] = []
    for user in key.children_with("user"):
        asked = _jid_attr(user, "jid")
        if asked is None:
            return error_result(iq)
        device = _canonical_device(registry, asked)
        children = bundle_nodes(registry, device) if device is not None else None
        if children is None:
            children = [Node("error", {"code": "404", "text": "item-not-found"})]
        answers.append(Node("user", {"jid": asked}, children))
    return iq_result(iq, [Node("list", {}, answers)])
