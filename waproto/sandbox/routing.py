"""Message routing in the sandbox server: fan-out plans, acks, receipts, offline queues, groups.

Pure functions of (registry, the authenticated sender device, the stanza it sent, the time); each returns
a :class:`Routed` plan: the ``<ack>`` for the sender and the stanzas to deliver, one per recipient device.
The server sends them on the devices' connections (or hands them to a simulated phone), and keeps what
cannot be delivered in :class:`OfflineQueues`, which give them back in order on reconnect.

Facts followed (PROTOCOL.md §6.2–6.6):

- A 1:1 ``<message to=user>`` carries ``<participants><to jid=device><enc…/></to>…</participants>``: each
  listed device (of the recipient, or of the sender's own account) gets its ``<enc>`` in a
  ``<message from=<sender device> id t type notify>``; the sender's own devices see ``recipient=<chat>``.
  ``<enc>`` directly under ``<message>`` (a retry resend) goes to the addressed device, or to every device
  of the addressed user. ``<device-identity>`` travels with every delivery that carries a ``pkmsg``.
- A group ``<message to=<group>@g.us>`` carries the sender-key distribution in ``<participants>`` for the
  devices that lack it and one ``<enc type="skmsg">`` for all: every device of every participant (except
  the sending device) gets ``<message from=<group> participant=<sender device> …>`` with its own ``<enc>``
  (if any) followed by the ``skmsg``. A retry resend ``<message to=<group> participant=<device>>`` with
  an ``<enc>`` directly under it goes to that member device only.
- The sender gets ``<ack class="message" id from=<to> t>``; a message the server refuses gets the same
  ack with ``error`` (400 malformed, 404 unknown recipient or group, 403 not a participant).
- A ``<receipt id to [participant] [type]>`` goes back to every device of the account it names (in a
  group: ``participant``, the original sender), except the device that sent it, as
  ``<receipt from=<device> id t [type]…>`` (``from=<group> participant=<device>`` in groups); the
  receipt's sender gets ``<ack class="receipt">``.
- Addressing follows the stanza: a message sent to a LID is delivered ``from`` the sender's LID device
  with ``sender_pn``; one sent to a phone number comes ``from`` the phone-number device with ``sender_lid``.

Groups: :func:`new_group` validates and builds a :class:`~waproto.sandbox.registry.Group`,
:func:`group_node` renders its ``<group>`` metadata, :func:`answer_group_iq` answers the ``w:g2`` metadata
query and Baileys' ``<create>``.

This module is NOT the server loop: it holds no connections and reads no clock or randomness (times and
new group ids are parameters); the only state it keeps is the offline queues.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Final

from waproto.binary import Node
from waproto.errors import LocalProtocolError
from waproto.jid import DEFAULT_USER_SERVER, GROUP_SERVER, HIDDEN_USER_SERVER, JID
from waproto.sandbox.registry import Account, Group, Registry, account_of, device_jids
from waproto.sandbox.usync import error_result, iq_result

__all__ = [
    "MAX_GROUP_SIZE",
    "Delivery",
    "OfflineQueues",
    "Routed",
    "answer_group_iq",
    "group_node",
    "new_group",
    "route_message",
    "route_receipt",
]

#: The largest group :func:`new_group` creates.
MAX_GROUP_SIZE: Final = 1024


@dataclass(frozen=True, slots=True)
class Delivery:
    """One stanza for one device (a phone-number device JID)."""

    device: JID
    node: Node


@dataclass(slots=True)
class Routed:
    """What to do with one incoming stanza: answer the sender with ``ack``, send each delivery."""

    ack: Node | None
    deliveries: list[Delivery] = field(default_factory=list)
    #: Why the stanza was refused (None when it was routed).
    error: str | None = None


# --------------------------------------------------------------------- small helpers


def _jid(node: Node, name: str) -> JID | None:
    return node.jid_attr_or_none(name)


def _text(node: Node, name: str) -> str | None:
    value = node.attrs.get(name)
    return value if isinstance(value, str) and value else None


def _pn_device(account: Account, device: int) -> JID:
    return JID(account.phone, DEFAULT_USER_SERVER, device=device)


def _addressed(account: Account, device: int, lid: bool) -> JID:
    if lid:
        return JID(account.lid, HIDDEN_USER_SERVER, device=device)
    return _pn_device(account, device)


def _message_ack(message: Node, to: object, now: int, error: str | None = None) -> Node:
    attrs: dict[str, str | JID] = {"class": "message", "id": str(message.attrs.get("id", "")), "t": str(now)}
    if isinstance(to, JID | str) and to:
        attrs["from"] = to
    if error is not None:
        attrs["error"] = error
    return Node("ack", attrs)


def _refuse(message: Node, code: str, reason: str, now: int) -> Routed:
    return Routed(_message_ack(message, message.attrs.get("to"), now, code), [], reason)


# --------------------------------------------------------------------- messages


class _Plan:
    """Per-device ``<enc>`` lists, in the order devices were first named."""

    def __init__(self) -> None:
        self.encs: dict[JID, list[Node]] = {}

    def add(self, device: JID, enc: Node) -> None:
        self.encs.setdefault(device, []).append(enc)


def _collect_participants(registry: Registry, message: Node, plan: _Plan, allowed: set[str]) -> str | None:
    participants = message.child("participants")
    if participants is None:
        return None
    for to in participants.children_with("to"):
        jid = _jid(to, "jid")
        account = account_of(registry, jid) if jid is not None else None
        if jid is None or account is None:
            return f"<to jid> names no known device: {to.attrs.get('jid')!r}"
        if account.phone not in allowed:
            return f"<to jid={jid}> is neither the recipient nor the sender"
        if jid.device not in registry.device_ids(account.phone):
            continue  # an unlinked device: nothing to deliver to
        for enc in to.children_with("enc"):
            plan.add(_pn_device(account, jid.device), enc)
    return None


def route_message(registry: Registry, sender: JID, message: Node, *, now: int) -> Routed:
    """Plan the delivery of a ``<message>`` that ``sender`` (a phone-number device JID) sent.

    Returns the ack (with ``error`` when refused; ``Routed.error`` says why) and the deliveries, never
    raising for malformed input.
    """
    sender_account = account_of(registry, sender)
    message_id = _text(message, "id")
    to = _jid(message, "to")
    if message.tag != "message" or sender_account is None or message_id is None or to is None:
        return _refuse(message, "400", "not a message with id and to from a known device", now)
    sender_pn = _pn_device(sender_account, sender.device)
    if to.server == GROUP_SERVER:
        return _route_group(registry, sender_account, sender_pn, message, to, now)
    recipient = account_of(registry, to)
    if recipient is None:
        return _refuse(message, "404", f"no account {to}", now)
    plan = _Plan()
    problem = _collect_participants(registry, message, plan, {recipient.phone, sender_account.phone})
    if problem is not None:
        return _refuse(message, "400", problem, now)
    registered = registry.device_ids(recipient.phone)
    for enc in message.children_with("enc"):
        for number in [to.device] if to.is_ad else registered:
            if number in registered:
                plan.add(_pn_device(recipient, number), enc)
    plan.encs.pop(sender_pn, None)
    lid = to.server == HIDDEN_USER_SERVER
    identity = message.child("device-identity")
    deliveries: list[Delivery] = []
    for device, encs in plan.encs.items():
        attrs = _delivery_attrs(message, message_id, sender_account, sender.device, lid, now)
        if device.user == sender_account.phone:
            attrs["recipient"] = to.to_non_ad()
        deliveries.append(Delivery(device, Node("message", attrs, _with_identity(encs, identity))))
    return Routed(_message_ack(message, to, now), deliveries)


def _delivery_attrs(
    message: Node, message_id: str, sender: Account, device: int, lid: bool, now: int
) -> dict[str, str | JID]:
    attrs: dict[str, str | JID] = {
        "from": _addressed(sender, device, lid),
        "id": message_id,
        "type": _text(message, "type") or "text",
        "t": str(now),
    }
    if lid:
        attrs["sender_pn"] = sender.jid
    else:
        attrs["sender_lid"] = sender.lid_jid
    if sender.name:
        attrs["notify"] = sender.name
    for name in ("edit", "category"):
        value = _text(message, name)
        if value is not None:
            attrs[name] = value
    return attrs


def _with_identity(encs: list[Node], identity: Node | None) -> list[Node]:
    if identity is not None and any(enc.attrs.get("type") == "pkmsg" for enc in encs):
        return [*encs, identity]
    return list(encs)


def _route_group(
    registry: Registry, sender: Account, sender_pn: JID, message: Node, to: JID, now: int
) -> Routed:
    group = registry.group(to.to_non_ad())
    if group is None:
        return _refuse(message, "404", f"no group {to}", now)
    if sender.jid not in group.participants:
        return _refuse(message, "403", f"{sender.jid} is not a participant of {to}", now)
    members = [account for jid in group.participants if (account := account_of(registry, jid)) is not None]
    plan = _Plan()
    problem = _collect_participants(registry, message, plan, {account.phone for account in members})
    if problem is not None:
        return _refuse(message, "400", problem, now)
    skmsgs = [enc for enc in message.children_with("enc") if enc.attrs.get("type") == "skmsg"]
    direct = [enc for enc in message.children_with("enc") if enc.attrs.get("type") != "skmsg"]
    target = _jid(message, "participant")  # a retry resend: <message to=group participant=device><enc/>
    target_account = account_of(registry, target) if target is not None and direct else None
    if target is not None and target_account is not None and target_account in members:
        for enc in direct:
            plan.add(_pn_device(target_account, target.device), enc)
    if not skmsgs and not plan.encs:
        return _refuse(message, "400", "a group message without any <enc>", now)
    identity = message.child("device-identity")
    message_id = _text(message, "id") or ""
    deliveries: list[Delivery] = []
    for account in members:
        for device in device_jids(registry, account):
            if device == sender_pn:
                continue
            encs = plan.encs.get(device, []) + skmsgs
            if not encs:
                continue
            attrs = _delivery_attrs(message, message_id, sender, sender_pn.device, False, now)
            del attrs["from"]
            attrs = {"from": group.jid, "participant": sender_pn, **attrs, "addressing_mode": "pn"}
            deliveries.append(Delivery(device, Node("message", attrs, _with_identity(encs, identity))))
    return Routed(_message_ack(message, to, now), deliveries)


# --------------------------------------------------------------------- receipts


def route_receipt(registry: Registry, sender: JID, receipt: Node, *, now: int) -> Routed:
    """Plan the delivery of a ``<receipt>`` that ``sender`` (a phone-number device JID) sent.

    The receipt goes to every device of the account it is for, except ``sender`` itself; a malformed
    receipt or one for an unknown account is acked with ``error`` and delivered nowhere.
    """
    receipt_id = _text(receipt, "id")
    to = _jid(receipt, "to")
    sender_account = account_of(registry, sender)
    ack_attrs: dict[str, str | JID] = {"class": "receipt", "id": receipt_id or ""}
    if to is not None:
        ack_attrs["from"] = to
    kind = _text(receipt, "type")
    if kind is not None:
        ack_attrs["type"] = kind
    ack = Node("ack", ack_attrs)
    if receipt.tag != "receipt" or receipt_id is None or to is None or sender_account is None:
        ack.attrs["error"] = "400"
        return Routed(ack, [], "not a receipt with id and to from a known device")
    in_group = to.server == GROUP_SERVER
    target_jid = _jid(receipt, "participant") if in_group else to
    target = account_of(registry, target_jid) if target_jid is not None else None
    if target is None:
        ack.attrs["error"] = "404"
        return Routed(ack, [], f"receipt for an unknown account: {target_jid or to}")
    lid = (target_jid or to).server == HIDDEN_USER_SERVER
    from_device = _addressed(sender_account, sender.device, lid)
    attrs: dict[str, str | JID] = (
        {"from": to.to_non_ad(), "participant": from_device} if in_group else {"from": from_device}
    )
    attrs.update({"id": receipt_id, "t": str(now)})
    if kind is not None:
        attrs["type"] = kind
    recipient = _jid(receipt, "recipient")
    if recipient is not None:
        attrs["recipient"] = recipient
    content = [child for child in receipt.children if child.tag in ("list", "retry", "registration", "keys")]
    sender_pn = _pn_device(sender_account, sender.device)
    deliveries = [
        Delivery(device, Node("receipt", dict(attrs), list(content) or None))
        for device in device_jids(registry, target)
        if device != sender_pn
    ]
    return Routed(ack, deliveries)


# --------------------------------------------------------------------- offline queues


class OfflineQueues:
    """Stanzas waiting for disconnected devices, per device, first in first out."""

    def __init__(self) -> None:
        self._queues: dict[JID, deque[Node]] = {}

    def push(self, device: JID, node: Node) -> None:
        """Keep ``node`` for ``device`` until it reconnects."""
        self._queues.setdefault(device, deque()).append(node)

    def pending(self, device: JID) -> int:
        """How many stanzas wait for ``device``."""
        return len(self._queues.get(device, ()))

    def drain(self, device: JID) -> list[Node]:
        """Everything that waited for ``device``, oldest first, each marked ``offline="1"``; the queue empties."""
        queue = self._queues.pop(device, deque())
        return [Node(node.tag, {**node.attrs, "offline": "1"}, node.content) for node in queue]

    def forget(self, device: JID) -> None:
        """Drop what waited for ``device`` (it was unlinked)."""
        self._queues.pop(device, None)


# --------------------------------------------------------------------- groups


def new_group(
    registry: Registry, *, group_id: str, subject: str, creator: JID, participants: list[JID], now: int
) -> Group:
    """A new group (not yet stored: the caller adds it to its registry).

    ``participants`` may name phone-number or LID users; the creator is added first and made admin;
    duplicates are dropped. Raises ``LocalProtocolError`` for an unknown creator or participant, an
    empty subject, a group id that is not digits and dashes, or more than :data:`MAX_GROUP_SIZE` members.
    """
    creator_account = account_of(registry, creator)
    if creator_account is None:
        raise LocalProtocolError(f"the group creator {creator} is not an account")
    if not subject:
        raise LocalProtocolError("a group needs a subject")
    if not group_id or not all(c.isdigit() or c == "-" for c in group_id) or not group_id.isascii():
        raise LocalProtocolError(f"a group id is digits (and dashes): {group_id!r}")
    members = [creator_account.jid]
    for jid in participants:
        account = account_of(registry, jid)
        if account is None:
            raise LocalProtocolError(f"group participant {jid} is not an account")
        if account.jid not in members:
            members.append(account.jid)
    if len(members) > MAX_GROUP_SIZE:
        raise LocalProtocolError(f"a group has at most {MAX_GROUP_SIZE} members")
    return Group(
        JID(group_id, GROUP_SERVER), subject, creator_account.jid, now, members, {creator_account.jid}
    )


def group_node(group: Group) -> Node:
    """The ``<group>`` metadata element (as the ``w:g2`` query and create results carry it)."""
    participants = [
        Node("participant", {"jid": jid, "type": "admin"} if jid in group.admins else {"jid": jid})
        for jid in group.participants
    ]
    attrs: dict[str, str | JID] = {
        "id": group.jid.user,
        "subject": group.subject,
        "s_t": str(group.created),
        "s_o": group.creator,
        "creator": group.creator,
        "creation": str(group.created),
        "size": str(len(group.participants)),
        "addressing_mode": "pn",
    }
    return Node("group", attrs, participants)


def answer_group_iq(
    iq: Node, registry: Registry, sender: JID, *, now: int, new_group_id: str
) -> tuple[Node, Group | None]:
    """Answer a ``w:g2`` iq from ``sender``: the metadata ``<query>`` of a group it belongs to, or a
    ``<create subject><participant jid/>…</create>``. Returns the answer and, for a create, the new
    group, which the caller must store (``new_group_id`` names it; unused otherwise). Anything else gets a
    400 error result; an unknown group 404, a group the sender is not in 403."""
    sender_account = account_of(registry, sender)
    create = iq.child("create")
    if create is not None and sender_account is not None:
        subject = _text(create, "subject")
        jids = [_jid(p, "jid") for p in create.children_with("participant")]
        if subject is None or any(jid is None for jid in jids):
            return error_result(iq), None
        try:
            group = new_group(
                registry,
                group_id=new_group_id,
                subject=subject,
                creator=sender_account.jid,
                participants=[jid for jid in jids if jid is not None],
                now=now,
            )
        except LocalProtocolError:
            return error_result(iq), None
        return iq_result(iq, [group_node(group)]), group
    if iq.child("query") is not None and sender_account is not None:
        to = _jid(iq, "to")
        found = registry.group(to.to_non_ad()) if to is not None else None
        if found is None:
            return error_result(iq, 404, "item-not-found"), None
        if sender_account.jid not in found.participants:
            return error_result(iq, 403, "forbidden"), None
        return iq_result(iq, [group_node(found)]), None
    return error_result(iq), None
