"""Messaging on a :class:`~waproto.client.Client`: send to users and groups, receive and acknowledge.

::

    async def on_message(item: ReceivedMessage | UndecryptableMessage) -> None: ...
    messenger = Messenger(client, on_message)          # plugs into client.stanza_handlers
    sent = await messenger.send_text(JID("15550001111", "s.whatsapp.net"), "hello")   # sent.status == "sent"

**Addressing** (PROTOCOL.md §6.2.11, §12.3): with ``addressing="lid"`` (the default, as whatsmeow and
Baileys 7) a DM to a phone number goes to the recipient's LID (from the ``directory``, else a usync
``<lid/>`` query; cached) with ``peer_recipient_pn``, fanned out to the LID device lists of the recipient
and of our own LID; ``"pn"`` addresses phone numbers as Baileys 6 does. A recipient without a LID is
addressed by phone number either way. Signal sessions and sender keys are keyed by the LID whenever it
is known (``<lid>_1.<device>``, whatsmeow's form; a PN-keyed session is copied over on first use), else
by the phone number. LID↔PN pairs are learnt from ``sender_lid``/``sender_pn``/``participant_*``/
``peer_recipient_*`` attributes of incoming stanzas (and handed to the directory's ``learn``).

**Sending 1:1** (§5.3–5.5, §6.1–6.2): device lists (usync, or the ``directory``); sessions from fetched
prekey bundles where missing; the ``Message`` padded and encrypted per device (``pkmsg`` until answered,
then ``msg``), our own other devices getting it wrapped in ``deviceSentMessage``; ``<message id to
type><participants><to jid><enc v="2" type [mediatype]/></to>…</participants>`` plus
``<device-identity>`` when a ``pkmsg`` is in it. The server's ``<ack class="message">`` makes it "sent";
an ack with ``error`` raises ``MessageRefused``; a user with no devices raises ``NotOnWhatsApp`` first.

**Sending to a group** (§6.3–6.4, pieces in ``waproto.client.groups``): metadata from a ``w:g2`` query
(cached; dropped, with the members' device lists, when the ack's ``phash`` differs, or when a
``w:gp2`` notification names the group), every member's devices, our sender key (``skmsg``, one for
all) and its distribution message 1:1 to each member device that has not got it yet (ours included,
except this device). LID-mode groups are sent with ``addressing_mode="lid"`` from our LID. When a
member left since the last fetch, our sender key is rotated and distributed afresh.

**Receiving** (§6.5–6.6): each ``<enc>`` is decrypted in order (``pkmsg``/``msg`` with the sender
device's session, ``skmsg`` with the sender key of (group or broadcast such as status updates,
participant)); a sender-key distribution is processed before the ``skmsg`` that follows it. A ``deviceSentMessage`` from our own account is
unwrapped (the chat is its destination). The result goes to the application's async callback, and only
**after** it returned is the delivery receipt sent. A message carrying only a distribution (no content)
is receipted but not reported. A message that does not decrypt is reported as
:class:`UndecryptableMessage` and answered with a ``retry`` receipt and an ``<ack>``. Receipts for
what we sent go to ``on_receipt`` as :class:`MessageStatus`; a ``retry`` receipt is answered by
:meth:`Messenger.run` (a fresh session from a new bundle; the message re-encrypted for the asking device
only, for a group message with a fresh distribution inside, §5.7). The callbacks run in the client's
read loop: they must not wait for the network.

This module is NOT media upload/download (``waproto.client.media``), content classification
(``waproto.content``; ``ReceivedMessage.kind`` comes from there), device-list caching
(``waproto.client.directory``), sending read receipts, ``<keys>`` in retry receipts, or group
administration.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import struct
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol

import trio

from waproto.binary import Node
from waproto.client.client import Client
from waproto.client.errors import ClientError, IqTimeout, NotConnected
from waproto.client.groups import (
    GroupCache,
    GroupInfo,
    GroupKeys,
    SenderKeyMemory,
    fetch_group_info,
    group_stanza,
    participant_hash,
)
from waproto.content import MessageKind, classify, media_type_attr, unwrap
from waproto.errors import (
    DecodeError,
    LocalProtocolError,
    MessageRefused,
    NotOnWhatsApp,
    RemoteProtocolError,
    WAProtoError,
)
from waproto.jid import DEFAULT_USER_SERVER, HIDDEN_USER_SERVER, JID, parse_jid
from waproto.proto import Message, decode
from waproto.signal import (
    IdentityKeyStore,
    MemorySenderKeyStore,
    MemorySignalStore,
    PreKeyStore,
    ProtocolAddress,
    SenderKeyStore,
    SessionRecord,
    SessionStore,
    SignedPreKeyStore,
    decrypt,
    encrypt,
    pad,
    process_pre_key_bundle,
    unpad,
)
from waproto.signal.curve import KeyPair
from waproto.signal.keys import PreKeyRecord, SignedPreKeyRecord
from waproto.usync import (
    devices_query,
    lid_query,
    parse_devices_result,
    parse_lid_result,
    parse_prekey_result,
    prekey_query,
)

__all__ = [
    "MAX_RETRIES",
    "SEND_CACHE",
    "Addressing",
    "CompanionSignalStore",
    "DeviceDirectory",
    "MessageHandler",
    "MessageStatus",
    "Messenger",
    "ReceiptHandler",
    "ReceivedMessage",
    "SentMessage",
    "SignalStore",
    "StatusKind",
    "UndecryptableMessage",
]

log = logging.getLogger(__name__)

#: How many sent messages are kept for answering retry receipts (as whatsmeow).
SEND_CACHE: Final = 256
#: Retry receipts answered per message and device; later ones are ignored.
MAX_RETRIES: Final = 5
#: Retry receipts waiting for :meth:`Messenger.run`; more are dropped (and logged).
RETRY_QUEUE: Final = 64

#: How DMs are addressed: to the recipient's LID (whatsmeow, Baileys 7) or phone number (Baileys 6).
Addressing = Literal["lid", "pn"]


@dataclass(frozen=True, slots=True)
class SentMessage:
    """A message the server accepted: its id, ``to`` (as the caller named it), ``status`` "sent", the
    server's time, and the ``<enc>`` type per device written to 1:1 (for a group: the devices that got
    our sender-key distribution with this message)."""

    id: str
    to: JID
    status: Literal["sent"]
    timestamp: int | None
    encryptions: dict[JID, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """A decrypted incoming message (already unwrapped from ``deviceSentMessage`` when ``from_me``)."""

    id: str
    #: The chat: the group, else the peer's user JID as the stanza addressed it (PN or LID; for our own
    #: devices' messages: the destination).
    chat: JID
    #: The device that sent it.
    sender: JID
    timestamp: int
    from_me: bool
    kind: MessageKind
    #: The text for a text message (inside any ephemeral/view-once wrapper), else None.
    text: str | None
    #: The whole decrypted message.
    message: Message = field(repr=False)
    #: The sender's display name, if the server gave one.
    push_name: str | None = None
    #: Whether it was sent to a group (``chat``; a status update's chat is ``status@broadcast``).
    group: bool = False
    #: The sender's other identity as a user JID (its PN when ``sender`` is a LID, or its LID), when the
    #: stanza said it.
    sender_alt: JID | None = None


@dataclass(frozen=True, slots=True)
class UndecryptableMessage:
    """A message that could not be decrypted; a retry receipt was sent for it."""

    id: str
    sender: JID | None
    error: Exception


#: The application's callback for every incoming message or decryption failure.
MessageHandler = Callable[[ReceivedMessage | UndecryptableMessage], Awaitable[None]]

#: What a receipt says about messages we sent.
StatusKind = Literal["delivered", "read", "played"]
_STATUSES: dict[str, StatusKind] = {
    "": "delivered",
    "read": "read",
    "read-self": "read",
    "played": "played",
    "played-self": "played",
}


@dataclass(frozen=True, slots=True)
class MessageStatus:
    """A receipt for messages we sent: their ids, how far they got, the device that said so, the chat."""

    ids: tuple[str, ...]
    status: StatusKind
    device: JID
    chat: JID


#: The application's callback for receipts of messages we sent.
ReceiptHandler = Callable[[MessageStatus], Awaitable[None]]


class SignalStore(IdentityKeyStore, PreKeyStore, SignedPreKeyStore, SessionStore, Protocol):
    """Everything 1:1 messaging keeps of Signal: the four ``waproto.signal.store`` Protocols in one object
    (the hub implements it on SQLite; :class:`CompanionSignalStore` keeps sessions in memory)."""


class DeviceDirectory(Protocol):
    """What the Messenger uses of ``waproto.client.directory.Directory`` (device lists and LIDs, cached)."""

    async def devices(self, users: list[JID]) -> dict[JID, list[JID]]:
        """The device JIDs of each user (empty: not on WhatsApp)."""
        ...

    async def lid_for(self, pn_users: list[JID]) -> dict[JID, JID]:
        """The LID user of each phone-number user that has one."""
        ...

    async def learn(self, node: Node) -> None:
        """Keep the LID↔PN pairs a stanza's attributes tell."""
        ...

    async def forget(self, users: list[JID]) -> None:
        """Drop the cached device lists of ``users``."""
        ...


class CompanionSignalStore(MemorySignalStore):
    """Signal stores for a companion device: identity, registration id and signed prekey from the client's
    current credentials, one-time prekeys in the client's store, sessions and peer identities in memory."""

    def __init__(self, client: Client) -> None:
        creds = client.credentials
        super().__init__(creds.identity_key, creds.registration_id)
        self._client = client
        self._pre_keys: PreKeyStore = client.store

    async def get_identity_key_pair(self) -> KeyPair:
        return self._client.credentials.identity_key

    async def get_local_registration_id(self) -> int:
        return self._client.credentials.registration_id

    async def load_pre_key(self, pre_key_id: int) -> PreKeyRecord | None:
        return await self._pre_keys.load_pre_key(pre_key_id)

    async def store_pre_key(self, pre_key_id: int, record: PreKeyRecord) -> None:
        await self._pre_keys.store_pre_key(pre_key_id, record)

    async def remove_pre_key(self, pre_key_id: int) -> None:
        await self._pre_keys.remove_pre_key(pre_key_id)

    async def load_signed_pre_key(self, signed_pre_key_id: int) -> SignedPreKeyRecord | None:
        signed = self._client.credentials.signed_pre_key
        return signed if signed.key_id == signed_pre_key_id else None


def _jid(node: Node, name: str) -> JID | None:
    value = node.attrs.get(name)
    if isinstance(value, JID):
        return value
    if isinstance(value, str) and value:
        try:
            return parse_jid(value)
        except LocalProtocolError:
            return None
    return None


def _text_of(message: Message) -> str | None:
    if message.HasField("conversation"):
        return message.conversation
    if message.HasField("extended_text_message") and message.extended_text_message.HasField("text"):
        return message.extended_text_message.text
    return None


def _number(value: object) -> int | None:
    return int(value) if isinstance(value, str) and value.isascii() and value.isdigit() else None


class Messenger:
    """Sends and receives on ``client`` (see the module docstring); ``on_message`` gets every incoming
    message before its receipt goes out. Installs itself in ``client.stanza_handlers``.

    ``sender_key_store`` keeps group sender keys (memory by default); ``directory`` supplies cached
    device lists and LIDs (without one, every send asks usync); ``addressing`` is ``"lid"`` or ``"pn"``.
    """

    def __init__(
        self,
        client: Client,
        on_message: MessageHandler,
        *,
        signal_store: SignalStore | None = None,
        sender_key_store: SenderKeyStore | None = None,
        directory: DeviceDirectory | None = None,
        addressing: Addressing = "lid",
        on_receipt: ReceiptHandler | None = None,
        rng: Callable[[int], bytes] = secrets.token_bytes,
        now: Callable[[], float] = time.time,
    ) -> None:
        if addressing not in ("lid", "pn"):
            raise LocalProtocolError(f"addressing is 'lid' or 'pn', not {addressing!r}")
        self.client = client
        self.on_message = on_message
        self.on_receipt = on_receipt
        self.addressing: Addressing = addressing
        self.directory = directory
        self._now = now
        #: The Signal state (sessions, identities, keys).
        self.signal: SignalStore = CompanionSignalStore(client) if signal_store is None else signal_store
        #: Group sender keys, ours and other members'.
        self.sender_keys: SenderKeyStore = MemorySenderKeyStore() if sender_key_store is None else sender_key_store
        #: Our and other members' sender keys, worked in ``sender_keys``.
        self.keys = GroupKeys(self.sender_keys, rng)
        #: Group metadata.
        self.groups = GroupCache()
        #: Which devices got our sender key, per group.
        self.sender_key_memory = SenderKeyMemory()
        self._rng = rng
        self._lock = trio.Lock()  # one Signal operation at a time (never held across a network wait)
        self._acks: dict[str, tuple[trio.Event, list[Node]]] = {}
        self._sid = 0
        self._lid_of: dict[JID, JID] = {}  # PN user → LID user
        self._pn_of: dict[JID, JID] = {}  # LID user → PN user
        #: Recently sent messages (id → wire chat, message, media type), for answering retry receipts.
        self._sent: OrderedDict[str, tuple[JID, Message, str | None]] = OrderedDict()
        self._retries_in, self._retries = trio.open_memory_channel[Node](RETRY_QUEUE)
        client.stanza_handlers["message"] = self._on_message
        client.stanza_handlers["ack"] = self._on_ack
        client.stanza_handlers["receipt"] = self._on_receipt
        client.notification_handlers["w:gp2"] = self._on_group_notification

    # ----------------------------------------------------------------- identities and addresses

    def _own(self) -> tuple[JID, JID | None]:
        creds = self.client.credentials
        if creds.me is None:
            raise LocalProtocolError("this device is not paired")
        return creds.me, None if creds.lid is None else creds.lid.to_non_ad()

    def _is_own_user(self, jid: JID) -> bool:
        creds = self.client.credentials
        return any(own is not None and jid.user == own.user for own in (creds.me, creds.lid))

    def _is_this_device(self, device: JID) -> bool:
        me = self.client.credentials.me
        return me is not None and device.device == me.device and self._is_own_user(device)

    def remember_lid(self, pn: JID, lid: JID) -> None:
        """Record that phone-number user ``pn`` is LID user ``lid`` (other servers are ignored)."""
        pn, lid = pn.to_non_ad(), lid.to_non_ad()
        if pn.server == DEFAULT_USER_SERVER and lid.server == HIDDEN_USER_SERVER:
            self._lid_of[pn], self._pn_of[lid] = lid, pn

    def _known_lid(self, pn: JID) -> JID | None:
        me, lid = self._own()
        return lid if pn.user == me.user and lid is not None else self._lid_of.get(pn)

    def _known_pn(self, lid: JID) -> JID | None:
        me, own_lid = self._own()
        return me.to_non_ad() if own_lid is not None and lid.user == own_lid.user else self._pn_of.get(lid)

    def _address(self, device: JID) -> ProtocolAddress:
        """The Signal address of ``device``: by LID (``<lid>_1``) when known, else by phone number."""
        user = device.to_non_ad()
        if user.server == DEFAULT_USER_SERVER:
            user = self._known_lid(user) or user
        name = f"{user.user}_1" if user.server == HIDDEN_USER_SERVER else user.user
        return ProtocolAddress(name, device.device)

    async def _session(self, device: JID) -> tuple[ProtocolAddress, SessionRecord | None]:
        """:meth:`_address` and the session there, copying one kept under the phone number over when
        there is none yet (call with the lock held)."""
        address = self._address(device)
        record = await self.signal.load_session(address)
        user = device.to_non_ad()
        pn = user if user.server == DEFAULT_USER_SERVER else self._known_pn(user)
        if record is None and pn is not None and address.name != pn.user:
            record = await self.signal.load_session(ProtocolAddress(pn.user, device.device))
            if record is not None:
                await self.signal.store_session(address, record)
        return address, record

    def _learn(self, node: Node) -> None:
        sender = _jid(node, "participant") or _jid(node, "from")
        for subject, names in (
            (sender, ("participant_lid", "participant_pn", "sender_lid", "sender_pn")),
            (_jid(node, "recipient"), ("peer_recipient_lid", "peer_recipient_pn")),
        ):
            for name in names:
                alt = _jid(node, name)
                if subject is not None and alt is not None:
                    self.remember_lid(subject, alt) if alt.is_lid else self.remember_lid(alt, subject)

    async def lids_for(self, users: list[JID]) -> dict[JID, JID]:
        """The LID user of each phone-number user that has one (known, else the directory or usync)."""
        found: dict[JID, JID] = {}
        missing: list[JID] = []
        for user in (u.to_non_ad() for u in users):
            lid = self._known_lid(user)
            if lid is not None:
                found[user] = lid
            elif user not in missing:
                missing.append(user)
        if missing:
            if self.directory is not None:
                fetched = await self.directory.lid_for(missing)
            else:
                fetched = parse_lid_result(await self.client.query(lid_query(missing, sid=self._new_sid())))
            for pn, lid in fetched.items():
                self.remember_lid(pn, lid)
                found[pn.to_non_ad()] = lid.to_non_ad()
        return found

    # ----------------------------------------------------------------- sending

    def new_message_id(self) -> str:
        """A fresh message id, WA Web's "V2" form: ``3EB0`` and the first 18 upper-case hex digits of
        SHA-256(BE64(unix seconds) || ``<own user>@c.us`` || 16 random bytes)."""
        me = self.client.credentials.me
        user = f"{me.user}@c.us".encode() if me is not None else b""
        digest = hashlib.sha256(struct.pack(">Q", int(self._now())) + user + self._rng(16)).hexdigest()
        return "3EB0" + digest[:18].upper()

    def _new_sid(self) -> str:
        self._sid += 1
        return f"{self._rng(4).hex()}.{self._sid}"

    async def devices(self, users: list[JID]) -> dict[JID, list[JID]]:
        """The device JIDs of each user (the directory's, else a usync query; empty: not on WhatsApp)."""
        if self.directory is not None:
            return await self.directory.devices(users)
        found = parse_devices_result(await self.client.query(devices_query(users, sid=self._new_sid())))
        return {
            user.to_non_ad(): [user.to_non_ad().with_device(d) for d in found.get(user.to_non_ad(), [])]
            for user in users
        }

    async def _ensure_sessions(self, devices: list[JID]) -> None:
        async with self._lock:
            missing = [d for d in devices if (await self._session(d))[1] is None]
        if not missing:
            return
        bundles = parse_prekey_result(await self.client.query(prekey_query(missing)))
        async with self._lock:
            for device, bundle in bundles.items():
                address = self._address(device)
                if bundle is None or await self.signal.load_session(address) is not None:
                    continue
                await process_pre_key_bundle(
                    address, bundle, identity_store=self.signal, session_store=self.signal, rng=self._rng
                )

    async def _encrypt_each(
        self, devices: list[JID], plain: Callable[[JID], bytes], enc_attrs: dict[str, str | JID]
    ) -> tuple[list[Node], dict[JID, str]]:
        """``<to jid><enc/></to>`` for each device we have a session with (call with the lock held)."""
        participants: list[Node] = []
        encryptions: dict[JID, str] = {}
        for device in devices:
            address = self._address(device)
            if await self.signal.load_session(address) is None:
                log.info("no session with %s (it published no keys): skipped", device)
                continue
            cipher = await encrypt(
                address, pad(plain(device), self._rng), identity_store=self.signal, session_store=self.signal
            )
            encryptions[device] = cipher.type
            enc = Node("enc", {**enc_attrs, "type": cipher.type}, cipher.body)
            participants.append(Node("to", {"jid": device}, [enc]))
        return participants, encryptions

    async def send_text(self, to: JID, text: str, *, message_id: str | None = None) -> SentMessage:
        """Send ``text`` to ``to`` (a user, PN or LID, or a group); returns once the server acked it.

        ``NotOnWhatsApp`` when ``to`` has no devices (or is an unknown group), ``MessageRefused`` for an
        ack with an error, ``IqTimeout`` when no ack comes within the client's ``iq_timeout``,
        ``NotConnected`` offline.
        """
        return await self.send_message(to, Message(conversation=text), message_id=message_id)

    async def send_message(
        self, to: JID, message: Message, *, message_id: str | None = None, media_type: str | None = None
    ) -> SentMessage:
        """Send any ``Message`` (see :meth:`send_text`). ``media_type`` (image, document, …; by default
        ``waproto.content.media_type_attr`` of the message) is written as ``mediatype`` on the ``<enc>``s
        (in a group: on the ``skmsg``) and makes the stanza ``type="media"``."""
        me, own_lid = self._own()
        media_type = media_type or media_type_attr(message)
        message_id = message_id or self.new_message_id()
        if to.is_group:
            return await self._send_group(to.to_non_ad(), message, message_id, media_type)
        chat = wire = to.to_non_ad()
        own_user, peer_pn = me.to_non_ad(), None
        if chat.is_lid:
            own_user, peer_pn = own_lid or own_user, self._known_pn(chat)
        elif self.addressing == "lid" and own_lid is not None and chat.server == DEFAULT_USER_SERVER:
            lid = (await self.lids_for([chat])).get(chat)
            if lid is not None:
                wire, own_user, peer_pn = lid, own_lid, chat
        lists = await self.devices([wire] if wire == own_user else [wire, own_user])
        if not lists.get(wire):
            raise NotOnWhatsApp(f"{chat.user} is not on WhatsApp")
        targets = [d for d in lists[wire] if not self._is_this_device(d)]
        own = [d for d in lists.get(own_user, []) if not self._is_this_device(d) and d not in targets]
        await self._ensure_sessions(targets + own)
        wrapped = Message()
        wrapped.device_sent_message.destination_jid = str(wire)
        wrapped.device_sent_message.message.CopyFrom(message)
        if message.HasField("message_context_info"):
            wrapped.message_context_info.CopyFrom(message.message_context_info)
        plain, plain_own = message.SerializeToString(), wrapped.SerializeToString()
        enc_attrs: dict[str, str | JID] = {"v": "2"}
        if media_type is not None:
            enc_attrs["mediatype"] = media_type
        async with self._lock:
            participants, encryptions = await self._encrypt_each(
                targets + own, lambda d: plain_own if self._is_own_user(d) else plain, enc_attrs
            )
        if not any(d.user == wire.user for d in encryptions):
            raise NotOnWhatsApp(f"no device of {chat.user} can be written to")
        attrs: dict[str, str | JID] = {"id": message_id, "to": wire, "type": "text" if media_type is None else "media"}
        if peer_pn is not None:
            attrs["peer_recipient_pn"] = peer_pn
        children = [Node("participants", {}, participants)]
        account = self.client.credentials.account
        if account is not None and "pkmsg" in encryptions.values():
            children.append(Node("device-identity", {}, account))
        ack = await self._send_and_wait_ack(Node("message", attrs, children), message_id, wire, message, media_type)
        return SentMessage(message_id, chat, "sent", _number(ack.attrs.get("t")), encryptions)

    async def group_info(self, group: JID) -> GroupInfo:
        """``group``'s metadata (cached; see :func:`~waproto.client.groups.fetch_group_info` for errors).
        A member that left since the last fetch rotates our sender key there."""
        cached = self.groups.get(group)
        if cached is not None:
            return cached
        info = await fetch_group_info(self.client, group)
        for participant in info.participants:
            if participant.lid is not None and participant.phone_number is not None:
                self.remember_lid(participant.phone_number, participant.lid)
        if self.groups.put(info):
            me, _ = self._own()
            async with self._lock:  # someone left: a new sender key they never see
                await self.keys.rotate(info.jid, self._address(me))
            self.sender_key_memory.reset(info.jid)
        return info

    async def _send_group(
        self, group: JID, message: Message, message_id: str, media_type: str | None
    ) -> SentMessage:
        me, own_lid = self._own()
        info = await self.group_info(group)
        own_user = me.to_non_ad()
        if info.addressing_mode == "lid":
            if own_lid is None:
                raise LocalProtocolError(f"{group} addresses members by LID, and our LID is not known")
            own_user = own_lid
        users = info.members + ([] if own_user in info.members else [own_user])
        lists = await self.devices(users)
        every = [device for user in users for device in lists.get(user.to_non_ad(), [])]
        fanout = [device for device in every if not self._is_this_device(device)]
        self.sender_key_memory.retain(group, fanout)
        lacking = [device for device in fanout if not self.sender_key_memory.has(group, device)]
        await self._ensure_sessions(lacking)
        own = self._address(me)
        async with self._lock:
            plain = (await self.keys.distribution(group, own)).SerializeToString()
            participants, encryptions = await self._encrypt_each(lacking, lambda _: plain, {"v": "2"})
            skmsg = await self.keys.encrypt(group, own, pad(message.SerializeToString(), self._rng))
        account = self.client.credentials.account
        phash = participant_hash(every)
        stanza = group_stanza(
            message_id=message_id,
            group=group,
            participants=participants,
            skmsg=skmsg,
            phash=phash,
            stanza_type="text" if media_type is None else "media",
            media_type=media_type,
            addressing_mode=info.addressing_mode,
            device_identity=account if account is not None and "pkmsg" in encryptions.values() else None,
        )
        ack = await self._send_and_wait_ack(stanza, message_id, group, message, media_type)
        self.sender_key_memory.add(group, encryptions)
        server_phash = ack.attrs.get("phash")
        if isinstance(server_phash, str) and server_phash and server_phash != phash:
            log.info("the server's participant hash for %s differs: its metadata is fetched again", group)
            self.groups.invalidate(group)
            if self.directory is not None:
                await self.directory.forget(users)
        return SentMessage(message_id, group, "sent", _number(ack.attrs.get("t")), encryptions)

    async def _send_and_wait_ack(
        self, stanza: Node, message_id: str, chat: JID, message: Message, media_type: str | None
    ) -> Node:
        """Send ``stanza`` (kept for retries first: one may come before the ack) and return its ack."""
        self._sent[message_id] = (chat, message, media_type)
        while len(self._sent) > SEND_CACHE:
            self._sent.popitem(last=False)
        done, box = trio.Event(), list[Node]()
        self._acks[message_id] = (done, box)
        try:
            await self.client.send_node(stanza)
            with trio.move_on_after(self.client.settings.iq_timeout):
                await done.wait()
        finally:
            self._acks.pop(message_id, None)
        if not box:
            raise IqTimeout(f"no server ack for message {message_id}")
        ack = box[0]
        error = ack.attrs.get("error")
        if error is not None:
            self._sent.pop(message_id, None)
            raise MessageRefused(f"the server refused message {message_id}: {error}", node=ack, code=str(error))
        return ack

    async def _on_ack(self, node: Node) -> None:
        if node.attrs.get("class") != "message":
            return
        waiting = self._acks.get(str(node.attrs.get("id", "")))
        if waiting is not None:
            waiting[1].append(node)
            waiting[0].set()

    async def _on_group_notification(self, node: Node) -> None:
        group = _jid(node, "from")
        if group is not None and group.is_group:
            self.groups.invalidate(group)

    # ----------------------------------------------------------------- retry receipts

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Answer retry receipts (re-encrypt and resend) until cancelled; run it in the application's
        nursery. Without it, retry receipts are acked but not answered."""
        task_status.started()
        async for receipt in self._retries:
            try:
                await self._answer_retry(receipt)
            except (WAProtoError, ClientError) as exc:
                log.warning("cannot answer the retry receipt for %s: %s", receipt.attrs.get("id"), exc)

    async def _answer_retry(self, receipt: Node) -> None:
        message_id = str(receipt.attrs.get("id", ""))
        device = _jid(receipt, "participant") or _jid(receipt, "from")
        retry = receipt.child("retry")
        number = _number(retry.attrs.get("count") if retry is not None else None) or 1
        sent = self._sent.get(message_id)
        me = self.client.credentials.me
        if device is None or device.is_group or sent is None or me is None:
            log.info("retry receipt for %s from %s: nothing to resend", message_id, device)
            return
        self.sender_key_memory.forget_device(device)
        if number > MAX_RETRIES:
            log.info("retry %d for %s from %s: giving up", number, message_id, device)
            return
        chat, message, media_type = sent
        bundle = parse_prekey_result(await self.client.query(prekey_query([device]))).get(device)
        if bundle is None:
            raise MessageRefused(f"no prekey bundle for {device} to answer its retry")
        plain = Message()
        async with self._lock:
            if chat.is_group:  # with our sender key as it is now, for what comes next
                plain.CopyFrom(message)
                skdm = await self.keys.distribution(chat, self._address(me))
                plain.sender_key_distribution_message.CopyFrom(skdm.sender_key_distribution_message)
            elif self._is_own_user(device):
                plain.device_sent_message.destination_jid = str(chat)
                plain.device_sent_message.message.CopyFrom(message)
            else:
                plain.CopyFrom(message)
            address, _ = await self._session(device)
            await process_pre_key_bundle(
                address, bundle, identity_store=self.signal, session_store=self.signal, rng=self._rng
            )
            cipher = await encrypt(
                address, pad(plain.SerializeToString(), self._rng), identity_store=self.signal, session_store=self.signal
            )
        enc_attrs: dict[str, str | JID] = {"v": "2", "type": cipher.type, "count": str(number)}
        if media_type is not None:
            enc_attrs["mediatype"] = media_type
        children = [Node("enc", enc_attrs, cipher.body)]
        account = self.client.credentials.account
        if account is not None and cipher.type == "pkmsg":
            children.append(Node("device-identity", {}, account))
        attrs: dict[str, str | JID] = {"id": message_id, "type": "text" if media_type is None else "media"}
        if chat.is_group:
            attrs.update({"to": chat, "participant": device})
        else:
            attrs.update({"to": device, "device_fanout": "false"})
        await self.client.send_node(Node("message", attrs, children))
        if chat.is_group:
            self.sender_key_memory.add(chat, [device])
        log.info("resent %s to %s (retry %d)", message_id, device, number)

    # ----------------------------------------------------------------- receiving

    async def _on_message(self, node: Node) -> None:
        message_id = node.attrs.get("id")
        sender_from = _jid(node, "from")
        if not isinstance(message_id, str) or not message_id or sender_from is None:
            log.warning("a <message> without id or from: dropped")
            return
        # Groups and broadcasts (status updates) both come with a participant and sender keys.
        group = sender_from.to_non_ad() if sender_from.is_group or sender_from.is_broadcast else None
        sender = _jid(node, "participant") if group is not None else sender_from
        if sender is None:
            await self._fail(node, message_id, None, DecodeError("a group message without participant"))
            return
        self._learn(node)
        if self.directory is not None:
            try:
                await self.directory.learn(node)
            except WAProtoError as exc:
                log.warning("the directory could not learn from message %s: %s", message_id, exc)
        try:
            content = await self._decrypt(node, sender, group)
        except (RemoteProtocolError, LocalProtocolError) as exc:
            await self._fail(node, message_id, sender, exc)
            return
        from_me = self._is_own_user(sender)
        receipt: dict[str, str | JID] = {"id": message_id, "to": sender_from}
        if group is not None:
            receipt["participant"] = sender
        if from_me:
            receipt["type"] = "sender"
        if content is not None:
            chat = group or sender_from.to_non_ad()
            if from_me and content.HasField("device_sent_message"):
                destination = content.device_sent_message.destination_jid
                content = content.device_sent_message.message
                recipient = _jid(node, "recipient")
                try:
                    chat = parse_jid(destination) if destination else (recipient or chat)
                except LocalProtocolError:
                    chat = recipient or chat
            text = _text_of(unwrap(content))
            notify = node.attrs.get("notify")
            await self.on_message(
                ReceivedMessage(
                    id=message_id,
                    chat=chat,
                    sender=sender,
                    timestamp=_number(node.attrs.get("t")) or 0,
                    from_me=from_me,
                    kind=classify(unwrap(content)),
                    text=text,
                    message=content,
                    push_name=notify if isinstance(notify, str) else None,
                    group=sender_from.is_group,
                    sender_alt=self._sender_alt(node, sender, group is not None),
                )
            )
        await self._send_receipt(Node("receipt", receipt))

    @staticmethod
    def _sender_alt(node: Node, sender: JID, in_group: bool) -> JID | None:
        names = ("participant_lid", "participant_pn") if in_group else ()
        for name in (*names, "sender_lid", "sender_pn"):
            alt = _jid(node, name)
            if alt is not None and alt.server != sender.server:
                return alt.to_non_ad()
        return None

    async def _decrypt(self, node: Node, sender: JID, group: JID | None) -> Message | None:
        """The message's content, or None when it only carried a sender-key distribution."""
        encs = node.children_with("enc")
        if not encs:
            raise DecodeError("a message without <enc>")
        content: Message | None = None
        async with self._lock:
            address, _ = await self._session(sender)
            for enc in encs:
                kind, body = enc.attrs.get("type"), enc.content
                if not isinstance(body, bytes):
                    raise DecodeError("an <enc> without binary content")
                if kind == "skmsg":
                    if group is None:
                        raise DecodeError("an skmsg outside a group")
                    plaintext = await self.keys.decrypt(group, address, body)
                elif kind in ("pkmsg", "msg"):
                    result = await decrypt(
                        address,
                        str(kind),
                        body,
                        identity_store=self.signal,
                        session_store=self.signal,
                        pre_key_store=self.signal,
                        signed_pre_key_store=self.signal,
                        rng=self._rng,
                    )
                    plaintext = result.plaintext
                else:
                    raise DecodeError(f"unsupported <enc type={kind!r}>")
                message = decode(Message, unpad(plaintext))
                if message.HasField("sender_key_distribution_message"):
                    await self.keys.process(message, address, group)
                if any(f.name != "message_context_info" for f, _ in message.ListFields()):
                    content = message
        return content

    async def _fail(self, node: Node, message_id: str, sender: JID | None, error: Exception) -> None:
        log.info("message %s from %s does not decrypt: %s", message_id, sender, error)
        await self.on_message(UndecryptableMessage(message_id, sender, error))
        attrs: dict[str, str | JID] = {"id": message_id, "type": "retry"}
        for name, as_name in (("from", "to"), ("participant", "participant")):
            value = node.attrs.get(name)
            if isinstance(value, JID | str):
                attrs[as_name] = value
        t = node.attrs.get("t")
        retry = Node(
            "retry", {"count": "1", "id": message_id, "t": t if isinstance(t, str) else "0", "v": "1"}
        )
        registration = Node("registration", {}, struct.pack(">I", self.client.credentials.registration_id))
        await self._send_receipt(Node("receipt", attrs, [retry, registration]))
        ack: dict[str, str | JID] = {"id": message_id, "class": "message"}
        for name, as_name in (("from", "to"), ("participant", "participant")):
            value = node.attrs.get(name)
            if isinstance(value, JID | str):
                ack[as_name] = value
        await self._send_receipt(Node("ack", ack))

    # ----------------------------------------------------------------- receipts for what we sent

    async def _on_receipt(self, node: Node) -> None:
        ids = [node.attrs.get("id")]
        listed = node.child("list")
        if listed is not None:
            ids += [item.attrs.get("id") for item in listed.children_with("item")]
        sender = _jid(node, "participant") or _jid(node, "from")
        kind = node.attrs.get("type")
        if kind == "retry":
            try:
                self._retries_in.send_nowait(node)
            except trio.WouldBlock:
                log.warning("too many retry receipts waiting: one for %s dropped", node.attrs.get("id"))
        if self.on_receipt is not None and sender is not None:
            found = tuple(i for i in ids if isinstance(i, str) and i)
            status = _STATUSES.get(kind if isinstance(kind, str) else "")
            if found and status is not None:
                await self.on_receipt(MessageStatus(found, status, sender, _jid(node, "from") or sender))
        ack: dict[str, str | JID] = {"id": str(node.attrs.get("id", "")), "class": "receipt"}
        for name, as_name in (("from", "to"), ("participant", "participant"), ("type", "type")):
            value = node.attrs.get(name)
            if isinstance(value, JID | str):
                ack[as_name] = value
        await self._send_receipt(Node("ack", ack))

    async def _send_receipt(self, receipt: Node) -> None:
        try:
            await self.client.send_node(receipt)
        except NotConnected:  # the connection is ending; the server redelivers what was not receipted
            log.info("connection gone before the receipt for %s", receipt.attrs.get("id"))
