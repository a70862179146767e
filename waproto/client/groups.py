"""Group messaging pieces for :class:`~waproto.client.messaging.Messenger`: metadata, caches, stanzas.

Helpers, sans-I/O except :func:`fetch_group_info` (PROTOCOL.md §6.3–6.4, §5.6–5.7):

- :func:`metadata_query` builds ``<iq xmlns="w:g2" type="get" to=<group>><query request="interactive"/>``;
  :func:`parse_group_info` reads the answer's ``<group id subject addressing_mode><participant jid
  [lid|phone_number] [type]/>…`` into a :class:`GroupInfo` (``DecodeError`` for anything malformed).
- :class:`GroupCache` keeps the metadata per group until invalidated (a server ack whose ``phash``
  differs from ours, a ``w:gp2`` notification), and says which members left since the last fetch.
- :class:`SenderKeyMemory` remembers, per group, which devices already hold our sender key
  (their distribution message went out and the server acked it); a device is forgotten when it asks for
  a retry or drops out of its user's device list, and a whole group when our sender key is rotated.
- :class:`GroupKeys` works the sender keys in a ``SenderKeyStore``: our own per group (created on first
  use, rotated on demand) as distribution messages and ``skmsg`` encryption, other members' from the
  distribution messages they send and their ``skmsg`` decryption.
- :func:`fetch_group_info` asks the server for a group's metadata (``NotOnWhatsApp`` for an unknown group,
  ``MessageRefused`` for one we are not in).
- :func:`distribution_message` wraps our Signal SKDM bytes in ``Message.senderKeyDistributionMessage``;
  :func:`group_stanza` assembles ``<message id to=<group> type [addressing_mode] phash><participants>…
  </participants>[<device-identity>]<enc v="2" type="skmsg" [mediatype]>…</enc></message>`` (child order as
  whatsmeow sends it). Its ``phash`` is whatsmeow's participant hash over the fan-out devices,
  ``waproto.usync.device_list_hash``.

This module does NOT do 1:1 Signal encryption, device lists or sending: the Messenger does that and uses
these pieces. It has no notion of admin actions (create, add, remove): only what sending and receiving
need.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from waproto.binary import Node
from waproto.client.client import Client
from waproto.client.errors import IqError
from waproto.errors import DecodeError, LocalProtocolError, MessageRefused, NotOnWhatsApp
from waproto.jid import GROUP_SERVER, HIDDEN_USER_SERVER, JID, parse_jid
from waproto.proto import Message
from waproto.signal import (
    ProtocolAddress,
    SenderKeyName,
    SenderKeyRecord,
    SenderKeyStore,
    create_distribution_message,
    group_decrypt,
    group_encrypt,
    process_distribution_message,
)

__all__ = [
    "AddressingMode",
    "GroupCache",
    "GroupInfo",
    "GroupKeys",
    "GroupParticipant",
    "SenderKeyMemory",
    "distribution_message",
    "fetch_group_info",
    "group_stanza",
    "metadata_query",
    "parse_group_info",
]

#: How a group names its members: by phone number or by LID.
AddressingMode = Literal["pn", "lid"]


@dataclass(frozen=True, slots=True)
class GroupParticipant:
    """One member as the group metadata names it."""

    #: The member as the group addresses it (a LID user in a LID-mode group).
    jid: JID
    #: The member's LID, when known (``jid`` itself for a LID, else the ``lid`` attribute).
    lid: JID | None = None
    #: The member's phone-number JID, when known (``jid`` itself for a PN, else ``phone_number``).
    phone_number: JID | None = None
    #: ``type="admin"`` or ``"superadmin"``.
    admin: bool = False


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """A group's metadata: what sending to it needs."""

    jid: JID
    subject: str
    addressing_mode: AddressingMode
    participants: tuple[GroupParticipant, ...]

    @property
    def members(self) -> list[JID]:
        """The member user JIDs, as the group addresses them."""
        return [p.jid for p in self.participants]


def metadata_query(group: JID) -> Node:
    """The ``w:g2`` iq asking for ``group``'s metadata (participants, addressing mode)."""
    return Node(
        "iq",
        {"xmlns": "w:g2", "type": "get", "to": group.to_non_ad()},
        [Node("query", {"request": "interactive"})],
    )


def _user(node: Node, name: str, answer: Node) -> JID | None:
    jid = node.jid_attr(name, stanza=answer)
    return None if jid is None else jid.to_non_ad()


def parse_group_info(answer: Node) -> GroupInfo:
    """The :class:`GroupInfo` in a ``w:g2`` metadata result. Raises ``DecodeError`` when malformed."""
    group = answer.child("group")
    if group is None:
        raise DecodeError("a group metadata result without <group>", node=answer)
    group_id = group.attrs.get("id")
    if not isinstance(group_id, str) or not group_id:
        raise DecodeError("<group> without id", node=answer)
    if "@" in group_id:
        jid = group.jid_attr("id", stanza=answer)
        assert jid is not None
        jid = jid.to_non_ad()
    else:
        jid = JID(group_id, GROUP_SERVER)
    mode = group.attrs.get("addressing_mode", "pn")
    participants = []
    for child in group.children_with("participant"):
        member = _user(child, "jid", answer)
        if member is None:
            raise DecodeError("<participant> without jid", node=answer)
        is_lid = member.server == HIDDEN_USER_SERVER
        participants.append(
            GroupParticipant(
                jid=member,
                lid=member if is_lid else _user(child, "lid", answer),
                phone_number=_user(child, "phone_number", answer) if is_lid else member,
                admin=child.attrs.get("type") in ("admin", "superadmin"),
            )
        )
    subject = group.attrs.get("subject")
    return GroupInfo(
        jid=jid,
        subject=subject if isinstance(subject, str) else "",
        addressing_mode="lid" if mode == "lid" else "pn",
        participants=tuple(participants),
    )


async def fetch_group_info(client: Client, group: JID) -> GroupInfo:
    """``group``'s metadata from the server. ``NotOnWhatsApp`` for an unknown group (404),
    ``MessageRefused`` for one we are not in (401/403), ``DecodeError`` for a malformed answer."""
    group = group.to_non_ad()
    try:
        return parse_group_info(await client.query(metadata_query(group)))
    except IqError as exc:
        if exc.error_code == 404:
            raise NotOnWhatsApp(f"no group {group}") from exc
        if exc.error_code in (401, 403):
            raise MessageRefused(f"not a participant of {group}", code=str(exc.error_code)) from exc
        raise


class GroupKeys:
    """Sender keys in ``store`` (see the module docstring). ``own`` is our Signal address as the
    Messenger keys it. Not locked: the caller runs one Signal operation at a time."""

    def __init__(self, store: SenderKeyStore, rng: Callable[[int], bytes]) -> None:
        self.store = store
        self._rng = rng

    async def distribution(self, group: JID, own: ProtocolAddress) -> Message:
        """``Message.senderKeyDistributionMessage`` with our sender key for ``group`` (made if need be)."""
        name = SenderKeyName(str(group.to_non_ad()), own)
        return distribution_message(group, await create_distribution_message(self.store, name, self._rng))

    async def encrypt(self, group: JID, own: ProtocolAddress, padded: bytes) -> bytes:
        """The ``skmsg`` of ``padded`` (a padded ``Message``) under our sender key for ``group``."""
        return await group_encrypt(self.store, SenderKeyName(str(group.to_non_ad()), own), padded)

    async def rotate(self, group: JID, own: ProtocolAddress) -> None:
        """Drop our sender key for ``group``: the next distribution makes a new one."""
        await self.store.store_sender_key(SenderKeyName(str(group.to_non_ad()), own), SenderKeyRecord())

    async def decrypt(self, group: JID, sender: ProtocolAddress, skmsg: bytes) -> bytes:
        """The padded plaintext of an ``skmsg`` from ``sender`` in ``group``."""
        return await group_decrypt(self.store, SenderKeyName(str(group.to_non_ad()), sender), skmsg)

    async def process(self, message: Message, sender: ProtocolAddress, group: JID | None) -> None:
        """Keep the sender key distributed in ``message`` (from ``sender``; in ``group``, else the group it
        names) and clear it from ``message``. ``DecodeError``/``InvalidMessage`` when malformed."""
        skdm = message.sender_key_distribution_message
        message.ClearField("sender_key_distribution_message")
        if group is None:
            try:
                group = parse_jid(skdm.group_id)
            except LocalProtocolError as exc:
                raise DecodeError(f"a sender-key distribution for {skdm.group_id[:40]!r}") from exc
            if not (group.is_group or group.is_broadcast):
                raise DecodeError(f"a sender-key distribution for {group}, not a group or broadcast")
        name = SenderKeyName(str(group.to_non_ad()), sender)
        await process_distribution_message(self.store, name, skdm.axolotl_sender_key_distribution_message)


class GroupCache:
    """Group metadata by group JID, kept until :meth:`invalidate`; the last fetched member list of each
    group outlives invalidation, so :meth:`put` can tell who left."""

    def __init__(self) -> None:
        self._groups: dict[JID, GroupInfo] = {}
        self._last_members: dict[JID, list[JID]] = {}

    def get(self, group: JID) -> GroupInfo | None:
        """The cached metadata of ``group``, or None."""
        return self._groups.get(group.to_non_ad())

    def put(self, info: GroupInfo) -> list[JID]:
        """Cache ``info``; returns the members of the previous fetch that are gone from it."""
        previous = self._last_members.get(info.jid, [])
        self._groups[info.jid] = info
        self._last_members[info.jid] = info.members
        now = set(info.members)
        return [member for member in previous if member not in now]

    def invalidate(self, group: JID) -> None:
        """Drop ``group``'s metadata: it is fetched again on the next send."""
        self._groups.pop(group.to_non_ad(), None)


class SenderKeyMemory:
    """Which devices hold our current sender key, per group (see the module docstring)."""

    def __init__(self) -> None:
        self._has: dict[JID, set[JID]] = {}

    def has(self, group: JID, device: JID) -> bool:
        """Whether ``device`` got our sender key for ``group``."""
        return device in self._has.get(group, ())

    def add(self, group: JID, devices: Iterable[JID]) -> None:
        """Record that ``devices`` got our sender key for ``group``."""
        self._has.setdefault(group, set()).update(devices)

    def forget_device(self, device: JID) -> None:
        """``device`` no longer holds our sender keys (it asked for a retry): in every group."""
        for devices in self._has.values():
            devices.discard(device)

    def retain(self, group: JID, devices: Iterable[JID]) -> None:
        """Forget, for ``group``, every device not in ``devices`` (the members' current device lists)."""
        kept = self._has.get(group)
        if kept is not None:
            kept.intersection_update(devices)

    def reset(self, group: JID) -> None:
        """Forget everything for ``group`` (our sender key there was rotated)."""
        self._has.pop(group, None)


def distribution_message(group: JID, skdm: bytes) -> Message:
    """``Message{senderKeyDistributionMessage{groupId, axolotlSenderKeyDistributionMessage}}``."""
    message = Message()
    message.sender_key_distribution_message.group_id = str(group.to_non_ad())
    message.sender_key_distribution_message.axolotl_sender_key_distribution_message = skdm
    return message


def group_stanza(
    *,
    message_id: str,
    group: JID,
    participants: list[Node],
    skmsg: bytes,
    phash: str,
    stanza_type: str = "text",
    media_type: str | None = None,
    addressing_mode: AddressingMode = "pn",
    device_identity: bytes | None = None,
) -> Node:
    """The group ``<message>`` (see the module docstring); ``device_identity`` only when a ``pkmsg`` is in
    ``participants``. ``addressing_mode`` is written for LID-mode groups only, as whatsmeow does."""
    attrs: dict[str, str | JID] = {"id": message_id, "to": group.to_non_ad(), "type": stanza_type}
    if addressing_mode == "lid":
        attrs["addressing_mode"] = "lid"
    attrs["phash"] = phash
    enc_attrs: dict[str, str | JID] = {"v": "2", "type": "skmsg"}
    if media_type is not None:
        enc_attrs["mediatype"] = media_type
    children = [Node("participants", {}, participants)]
    if device_identity is not None:
        children.append(Node("device-identity", {}, device_identity))
    children.append(Node("enc", enc_attrs, skmsg))
    return Node("message", attrs, children)
