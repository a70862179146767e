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
is known (``waproto.client.addressing``; with a ``directory``, LIDs stored before a restart count).

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

**Receiving** (§6.5–6.6, ``waproto.client.receiving``): messages are decrypted and handed to
``on_message`` before their delivery receipt goes out; undecryptable ones are reported and answered with a
``retry`` receipt. Receipts for what we sent go to ``on_receipt``. The callbacks run in the client's read
loop: they must not wait for the network.

**Retry receipts** for what we sent are answered by :meth:`Messenger.run` (a fresh session from the
bundle in the receipt's ``<keys>``, else one fetched from the server; the message re-encrypted for the asking device only, for a group message with a fresh
distribution inside, §5.7).

The value types and Protocols (``SentMessage``, ``ReceivedMessage``, ``SignalStore``, …) live in
``waproto.client.message_types`` and are re-exported here.

This module is NOT the receive path (``waproto.client.receiving``), media upload/download
(``waproto.client.media``), content classification (``waproto.content``), device-list caching
(``waproto.client.directory``), sending read receipts, or group administration.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import struct
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

import trio

from waproto.binary import Node
from waproto.client.addressing import AddressBook, jid_attr
from waproto.client.client import Client
from waproto.client.errors import ClientError, IqTimeout
from waproto.client.groups import (
    GroupCache,
    GroupInfo,
    GroupKeys,
    SenderKeyMemory,
    fetch_group_info,
    group_stanza,
)
from waproto.client.locks import QuickLock
from waproto.client.message_types import (
    Addressing,
    CompanionSignalStore,
    DeviceDirectory,
    MessageHandler,
    MessageStatus,
    ReceiptHandler,
    ReceivedMessage,
    SentMessage,
    SignalStore,
    StatusKind,
    UndecryptableMessage,
)
from waproto.client.receiving import Receiver
from waproto.content import media_type_attr
from waproto.errors import LocalProtocolError, MessageRefused, NotOnWhatsApp, WAProtoError
from waproto.jid import DEFAULT_USER_SERVER, JID
from waproto.proto import Message
from waproto.signal import (
    MemorySenderKeyStore,
    SenderKeyStore,
    encrypt,
    pad,
    process_pre_key_bundle,
)
from waproto.usync import (
    device_list_hash,
    devices_query,
    lid_query,
    parse_devices_result,
    parse_lid_result,
    parse_prekey_result,
    parse_retry_keys,
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
        #: Our identities, the LID↔PN pairs seen, the Signal address of each device.
        self.addresses = AddressBook(client)
        self._rng = rng
        self._lock = QuickLock()  # one Signal operation at a time (never held across a network wait)
        self._acks: dict[str, tuple[trio.Event, list[Node]]] = {}
        self._sid = 0
        #: Recently sent messages (id → wire chat, message, media type), for answering retry receipts.
        self._sent: OrderedDict[str, tuple[JID, Message, str | None]] = OrderedDict()
        retries_in, self._retries = trio.open_memory_channel[Node](RETRY_QUEUE)
        #: The receive path (incoming messages and receipts).
        self.receiver = Receiver(
            client,
            signal=self.signal,
            keys=self.keys,
            addresses=self.addresses,
            lock=self._lock,
            retries=retries_in,
            on_message=on_message,
            on_receipt=on_receipt,
            directory=directory,
            rng=rng,
        )
        client.stanza_handlers["message"] = self.receiver.on_message_stanza
        client.stanza_handlers["ack"] = self._on_ack
        client.stanza_handlers["receipt"] = self.receiver.on_receipt_stanza
        client.notification_handlers["w:gp2"] = self._on_group_notification

    @property
    def on_message(self) -> MessageHandler:
        """The application's callback for incoming messages (see :class:`Receiver`)."""
        return self.receiver.on_message

    @on_message.setter
    def on_message(self, handler: MessageHandler) -> None:
        self.receiver.on_message = handler

    @property
    def on_receipt(self) -> ReceiptHandler | None:
        """The application's callback for receipts of messages we sent."""
        return self.receiver.on_receipt

    @on_receipt.setter
    def on_receipt(self, handler: ReceiptHandler | None) -> None:
        self.receiver.on_receipt = handler

    # ----------------------------------------------------------------- LIDs

    def remember_lid(self, pn: JID, lid: JID) -> None:
        """Record that phone-number user ``pn`` is LID user ``lid`` (other servers are ignored)."""
        self.addresses.remember(pn, lid)

    async def lids_for(self, users: list[JID]) -> dict[JID, JID]:
        """The LID user of each phone-number user that has one (known, else the directory or usync)."""
        found: dict[JID, JID] = {}
        missing: list[JID] = []
        for user in (u.to_non_ad() for u in users):
            lid = self.addresses.lid_of(user)
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
                self.addresses.remember(pn, lid)
                found[pn.to_non_ad()] = lid.to_non_ad()
        return found

    async def _recall(self, users: list[JID]) -> None:
        """The directory's stored LIDs of phone-number ``users`` not known in memory (no query), so that
        their sessions are found under the LID after a restart."""
        if self.directory is not None:
            await self.addresses.recall(self.directory, users)

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
            missing = [d for d in devices if (await self.addresses.session(self.signal, d))[1] is None]
        if not missing:
            return
        bundles = parse_prekey_result(await self.client.query(prekey_query(missing)))
        async with self._lock:
            for device, bundle in bundles.items():
                address = self.addresses.address(device)
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
            address = self.addresses.address(device)
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
        me, own_lid = self.addresses.own()
        media_type = media_type or media_type_attr(message)
        message_id = message_id or self.new_message_id()
        if to.is_group:
            return await self._send_group(to.to_non_ad(), message, message_id, media_type)
        chat = wire = to.to_non_ad()
        own_user, peer_pn = me.to_non_ad(), None
        if chat.is_lid:
            own_user, peer_pn = own_lid or own_user, self.addresses.pn_of(chat)
        elif self.addressing == "lid" and own_lid is not None and chat.server == DEFAULT_USER_SERVER:
            lid = (await self.lids_for([chat])).get(chat)
            if lid is not None:
                wire, own_user, peer_pn = lid, own_lid, chat
        await self._recall([wire])
        lists = await self.devices([wire] if wire == own_user else [wire, own_user])
        if not lists.get(wire):
            raise NotOnWhatsApp(f"{chat.user} is not on WhatsApp")
        targets = [d for d in lists[wire] if not self.addresses.is_this_device(d)]
        own = [d for d in lists.get(own_user, []) if not self.addresses.is_this_device(d) and d not in targets]
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
                targets + own, lambda d: plain_own if self.addresses.is_own_user(d) else plain, enc_attrs
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
                self.addresses.remember(participant.phone_number, participant.lid)
        if self.groups.put(info):
            me, _ = self.addresses.own()
            async with self._lock:  # someone left: a new sender key they never see
                await self.keys.rotate(info.jid, self.addresses.address(me))
            self.sender_key_memory.reset(info.jid)
        return info

    async def _send_group(
        self, group: JID, message: Message, message_id: str, media_type: str | None
    ) -> SentMessage:
        me, own_lid = self.addresses.own()
        info = await self.group_info(group)
        own_user = me.to_non_ad()
        if info.addressing_mode == "lid":
            if own_lid is None:
                raise LocalProtocolError(f"{group} addresses members by LID, and our LID is not known")
            own_user = own_lid
        users = info.members + ([] if own_user in info.members else [own_user])
        await self._recall(users)
        lists = await self.devices(users)
        every = [device for user in users for device in lists.get(user.to_non_ad(), [])]
        fanout = [device for device in every if not self.addresses.is_this_device(device)]
        self.sender_key_memory.retain(group, fanout)
        lacking = [device for device in fanout if not self.sender_key_memory.has(group, device)]
        await self._ensure_sessions(lacking)
        own = self.addresses.address(me)
        async with self._lock:
            plain = (await self.keys.distribution(group, own)).SerializeToString()
            participants, encryptions = await self._encrypt_each(lacking, lambda _: plain, {"v": "2"})
            skmsg = await self.keys.encrypt(group, own, pad(message.SerializeToString(), self._rng))
        account = self.client.credentials.account
        phash = device_list_hash(every)
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
        group = jid_attr(node, "from")
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
        device = jid_attr(receipt, "participant") or jid_attr(receipt, "from")
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
        await self._recall([device])
        bundle = parse_retry_keys(receipt, device.device)  # the keys the receipt hands us, else the server's
        if bundle is None:
            bundle = parse_prekey_result(await self.client.query(prekey_query([device]))).get(device)
        if bundle is None:
            raise MessageRefused(f"no prekey bundle for {device} to answer its retry")
        plain = Message()
        async with self._lock:
            if chat.is_group:  # with our sender key as it is now, for what comes next
                plain.CopyFrom(message)
                skdm = await self.keys.distribution(chat, self.addresses.address(me))
                plain.sender_key_distribution_message.CopyFrom(skdm.sender_key_distribution_message)
            elif self.addresses.is_own_user(device):
                plain.device_sent_message.destination_jid = str(chat)
                plain.device_sent_message.message.CopyFrom(message)
            else:
                plain.CopyFrom(message)
            address, _ = await self.addresses.session(self.signal, device)
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
