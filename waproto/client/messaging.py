"""1:1 text messaging on a :class:`~waproto.client.Client`: send texts, receive and acknowledge them.

::

    async def on_message(item: ReceivedMessage | UndecryptableMessage) -> None: ...
    messenger = Messenger(client, on_message)          # plugs into client.stanza_handlers
    sent = await messenger.send_text(JID("15550001111", "s.whatsapp.net"), "hello")   # sent.status == "sent"

**Sending** (PROTOCOL.md §5.3–5.5, §6.1–6.2): the device lists of the recipient and of our own account
come from a usync query; devices we have no Signal session with get one from a fetched prekey bundle;
the ``Message`` is padded and encrypted per device (``pkmsg`` until the peer answered on the session,
then ``msg``), our own other devices getting it wrapped in ``deviceSentMessage``; the stanza is
``<message id to type="text"><participants><to jid><enc v="2" type/></to>…</participants>`` plus
``<device-identity>`` (our signed device identity) when any ``pkmsg`` is in it. The server's
``<ack class="message">`` makes it "sent"; an ack with ``error`` raises ``MessageRefused``; a number with
no devices raises ``NotOnWhatsApp`` before anything is sent.

**Receiving** (§6.5–6.6): each ``<enc>`` of a ``<message>`` is decrypted (``pkmsg``/``msg``), unpadded and
parsed; a ``deviceSentMessage`` from our own account is unwrapped (the chat is its destination). The
result is handed to the application's async callback, and only **after** the callback returned is the
delivery receipt sent, so an application that commits the message in the callback never loses one. A
message that does not decrypt is reported to the same callback as :class:`UndecryptableMessage` and
answered with a ``retry`` receipt (and an ``<ack class="message">``). Receipts for messages we sent
(delivered, read, played) go to the optional ``on_receipt`` callback as :class:`MessageStatus`, then are
acked; a ``retry`` receipt for a message in the send cache is answered by :meth:`Messenger.run` (a new
session from a fresh bundle, the message re-encrypted for the asking device only, with ``count``);
other receipt types are only acked. The callbacks run in
the client's read loop: they must not wait for the network (no ``send_text`` inside them; hand the
message to another task instead).

Signal state: :class:`CompanionSignalStore` combines the client's credentials (identity, signed prekey),
its ``ClientStore`` (one-time prekeys) and in-memory sessions and peer identities.

This module is NOT group messaging (``skmsg`` is reported undecryptable), media, sending read receipts,
``<keys>`` in retry receipts, LID addressing or device-list caching; those are later slices.
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
from waproto.errors import (
    DecodeError,
    LocalProtocolError,
    MessageRefused,
    NotOnWhatsApp,
    RemoteProtocolError,
    WAProtoError,
)
from waproto.jid import JID, parse_jid
from waproto.proto import Message, decode
from waproto.signal import (
    IdentityKeyStore,
    MemorySignalStore,
    PreKeyStore,
    ProtocolAddress,
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
from waproto.usync import devices_query, parse_devices_result, parse_prekey_result, prekey_query

__all__ = [
    "MAX_RETRIES",
    "SEND_CACHE",
    "CompanionSignalStore",
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

#: What a received message is, as far as this slice classifies.
MessageKind = Literal["text", "unknown"]


@dataclass(frozen=True, slots=True)
class SentMessage:
    """A message the server accepted: its id, ``status`` "sent", and the ``<enc>`` type per device."""

    id: str
    to: JID
    status: Literal["sent"]
    timestamp: int | None
    encryptions: dict[JID, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """A decrypted incoming message (already unwrapped from ``deviceSentMessage`` when ``from_me``)."""

    id: str
    #: The chat: the peer's user JID (for our own devices' messages: the destination).
    chat: JID
    #: The device that sent it.
    sender: JID
    timestamp: int
    from_me: bool
    kind: MessageKind
    #: The text for a text message, else None.
    text: str | None
    #: The whole decrypted message.
    message: Message = field(repr=False)
    #: The sender's display name, if the server gave one.
    push_name: str | None = None


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


def _address(device: JID) -> ProtocolAddress:
    return ProtocolAddress(device.user, device.device)


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


class Messenger:
    """Sends and receives 1:1 texts on ``client`` (see the module docstring); ``on_message`` gets every
    incoming message before its receipt goes out. Installs itself in ``client.stanza_handlers``."""

    def __init__(
        self,
        client: Client,
        on_message: MessageHandler,
        *,
        signal_store: SignalStore | None = None,
        on_receipt: ReceiptHandler | None = None,
        rng: Callable[[int], bytes] = secrets.token_bytes,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.on_message = on_message
        self.on_receipt = on_receipt
        self._now = now
        #: The Signal state (sessions, identities, keys).
        self.signal: SignalStore = signal_store or CompanionSignalStore(client)
        self._rng = rng
        self._lock = trio.Lock()  # one Signal operation at a time (never held across a network wait)
        self._acks: dict[str, tuple[trio.Event, list[Node]]] = {}
        self._sid = 0
        #: Recently sent messages (id → chat, message), for answering retry receipts.
        self._sent: OrderedDict[str, tuple[JID, Message]] = OrderedDict()
        self._retries_in, self._retries = trio.open_memory_channel[Node](RETRY_QUEUE)
        client.stanza_handlers["message"] = self._on_message
        client.stanza_handlers["ack"] = self._on_ack
        client.stanza_handlers["receipt"] = self._on_receipt

    # ----------------------------------------------------------------- sending

    def new_message_id(self) -> str:
        """A fresh message id, WA Web's "V2" form: ``3EB0`` and the first 18 upper-case hex digits of
        SHA-256(BE64(unix seconds) || ``<own user>@c.us`` || 16 random bytes)."""
        me = self.client.credentials.me
        user = f"{me.user}@c.us".encode() if me is not None else b""
        digest = hashlib.sha256(struct.pack(">Q", int(self._now())) + user + self._rng(16)).hexdigest()
        return "3EB0" + digest[:18].upper()

    async def devices(self, users: list[JID]) -> dict[JID, list[JID]]:
        """The device JIDs of each user (a usync query; an empty list: not on WhatsApp)."""
        self._sid += 1
        answer = await self.client.query(devices_query(users, sid=f"{self._rng(4).hex()}.{self._sid}"))
        found = parse_devices_result(answer)
        return {
            user.to_non_ad(): [JID(user.user, user.server, device=d) for d in found.get(user.to_non_ad(), [])]
            for user in users
        }

    async def _ensure_sessions(self, devices: list[JID]) -> None:
        async with self._lock:
            missing = [d for d in devices if await self.signal.load_session(_address(d)) is None]
        if not missing:
            return
        bundles = parse_prekey_result(await self.client.query(prekey_query(missing)))
        async with self._lock:
            for device, bundle in bundles.items():
                if bundle is None or await self.signal.load_session(_address(device)) is not None:
                    continue
                await process_pre_key_bundle(
                    _address(device),
                    bundle,
                    identity_store=self.signal,
                    session_store=self.signal,
                    rng=self._rng,
                )

    async def send_text(self, to: JID, text: str, *, message_id: str | None = None) -> SentMessage:
        """Send ``text`` to the user ``to``; returns once the server acked it ("sent").

        ``NotOnWhatsApp`` when ``to`` has no devices, ``MessageRefused`` for an ack with an error,
        ``IqTimeout`` when no ack comes within the client's ``iq_timeout``, ``NotConnected`` offline.
        """
        return await self.send_message(to, Message(conversation=text), message_id=message_id)

    async def send_message(self, to: JID, message: Message, *, message_id: str | None = None) -> SentMessage:
        """Send any ``Message`` 1:1 (see :meth:`send_text`)."""
        me = self.client.credentials.me
        if me is None:
            raise LocalProtocolError("this device is not paired")
        if to.is_group:
            raise LocalProtocolError("group messages are not supported yet")
        chat = to.to_non_ad()
        lid = self.client.credentials.lid
        own_user = lid.to_non_ad() if chat.is_lid and lid is not None else me.to_non_ad()
        lists = await self.devices([chat] if chat == own_user else [chat, own_user])
        if not lists.get(chat):
            raise NotOnWhatsApp(f"{chat.user} is not on WhatsApp")
        targets = [d for d in lists[chat] if d.device != me.device or d.user != me.user]
        own = [d for d in lists.get(own_user, []) if d.device != me.device and d not in targets]
        await self._ensure_sessions(targets + own)
        wrapped = Message()
        wrapped.device_sent_message.destination_jid = str(chat)
        wrapped.device_sent_message.message.CopyFrom(message)
        if message.HasField("message_context_info"):
            wrapped.message_context_info.CopyFrom(message.message_context_info)
        plain, plain_own = message.SerializeToString(), wrapped.SerializeToString()
        participants: list[Node] = []
        encryptions: dict[JID, str] = {}
        async with self._lock:
            for device in targets + own:
                address = _address(device)
                if await self.signal.load_session(address) is None:
                    log.info("no session with %s (it published no keys): skipped", device)
                    continue
                body = plain_own if device.user == me.user else plain
                cipher = await encrypt(
                    address, pad(body, self._rng), identity_store=self.signal, session_store=self.signal
                )
                encryptions[device] = cipher.type
                participants.append(
                    Node("to", {"jid": device}, [Node("enc", {"v": "2", "type": cipher.type}, cipher.body)])
                )
        if not any(d.user == chat.user for d in encryptions):
            raise NotOnWhatsApp(f"no device of {chat.user} can be written to")
        message_id = message_id or self.new_message_id()
        children = [Node("participants", {}, participants)]
        account = self.client.credentials.account
        if account is not None and "pkmsg" in encryptions.values():
            children.append(Node("device-identity", {}, account))
        stanza = Node("message", {"id": message_id, "to": chat, "type": "text"}, children)
        self._sent[message_id] = (chat, message)  # before sending: a retry may come before the ack
        while len(self._sent) > SEND_CACHE:
            self._sent.popitem(last=False)
        ack = await self._send_and_wait_ack(stanza, message_id)
        error = ack.attrs.get("error")
        if error is not None:
            self._sent.pop(message_id, None)
            raise MessageRefused(
                f"the server refused message {message_id}: {error}", node=ack, code=str(error)
            )
        t = ack.attrs.get("t")
        timestamp = int(t) if isinstance(t, str) and t.isascii() and t.isdigit() else None
        return SentMessage(message_id, chat, "sent", timestamp, encryptions)

    async def _send_and_wait_ack(self, stanza: Node, message_id: str) -> Node:
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
        return box[0]

    async def _on_ack(self, node: Node) -> None:
        if node.attrs.get("class") != "message":
            return
        waiting = self._acks.get(str(node.attrs.get("id", "")))
        if waiting is not None:
            waiting[1].append(node)
            waiting[0].set()

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
        count = retry.attrs.get("count") if retry is not None else None
        number = int(count) if isinstance(count, str) and count.isascii() and count.isdigit() else 1
        sent = self._sent.get(message_id)
        me = self.client.credentials.me
        if device is None or device.is_group or sent is None or me is None:
            log.info("retry receipt for %s from %s: nothing to resend", message_id, device)
            return
        if number > MAX_RETRIES:
            log.info("retry %d for %s from %s: giving up", number, message_id, device)
            return
        chat, message = sent
        bundles = parse_prekey_result(await self.client.query(prekey_query([device])))
        bundle = bundles.get(device)
        if bundle is None:
            raise MessageRefused(f"no prekey bundle for {device} to answer its retry")
        plain = message
        if device.user == me.user:
            plain = Message()
            plain.device_sent_message.destination_jid = str(chat)
            plain.device_sent_message.message.CopyFrom(message)
        async with self._lock:
            await process_pre_key_bundle(
                _address(device), bundle, identity_store=self.signal, session_store=self.signal, rng=self._rng
            )
            cipher = await encrypt(
                _address(device),
                pad(plain.SerializeToString(), self._rng),
                identity_store=self.signal,
                session_store=self.signal,
            )
        enc = Node("enc", {"v": "2", "type": cipher.type, "count": str(number)}, cipher.body)
        children = [enc]
        account = self.client.credentials.account
        if account is not None and cipher.type == "pkmsg":
            children.append(Node("device-identity", {}, account))
        attrs: dict[str, str | JID] = {
            "id": message_id,
            "to": device,
            "type": "text",
            "device_fanout": "false",
        }
        await self.client.send_node(Node("message", attrs, children))
        log.info("resent %s to %s (retry %d)", message_id, device, number)

    # ----------------------------------------------------------------- receiving

    async def _on_message(self, node: Node) -> None:
        message_id = node.attrs.get("id")
        sender_from = _jid(node, "from")
        if not isinstance(message_id, str) or not message_id or sender_from is None:
            log.warning("a <message> without id or from: dropped")
            return
        sender = _jid(node, "participant") if sender_from.is_group else sender_from
        if sender is None:
            await self._fail(node, message_id, None, DecodeError("a group message without participant"))
            return
        try:
            content = await self._decrypt(node, sender)
        except (RemoteProtocolError, LocalProtocolError) as exc:
            await self._fail(node, message_id, sender, exc)
            return
        me = self.client.credentials.me
        from_me = me is not None and sender.user == me.user
        receipt: dict[str, str | JID] = {"id": message_id, "to": sender_from}
        if sender_from.is_group:
            receipt["participant"] = sender
        if from_me:
            receipt["type"] = "sender"
        if content is not None:
            chat = sender_from.to_non_ad()
            if from_me and content.HasField("device_sent_message"):
                destination = content.device_sent_message.destination_jid
                content = content.device_sent_message.message
                recipient = _jid(node, "recipient")
                try:
                    chat = parse_jid(destination) if destination else (recipient or chat)
                except LocalProtocolError:
                    chat = recipient or chat
            text = _text_of(content)
            t = node.attrs.get("t")
            notify = node.attrs.get("notify")
            await self.on_message(
                ReceivedMessage(
                    id=message_id,
                    chat=chat,
                    sender=sender,
                    timestamp=int(t) if isinstance(t, str) and t.isascii() and t.isdigit() else 0,
                    from_me=from_me,
                    kind="text" if text is not None else "unknown",
                    text=text,
                    message=content,
                    push_name=notify if isinstance(notify, str) else None,
                )
            )
        await self._send_receipt(Node("receipt", receipt))

    async def _decrypt(self, node: Node, sender: JID) -> Message | None:
        encs = node.children_with("enc")
        if not encs:
            raise DecodeError("a message without <enc>")
        content: Message | None = None
        async with self._lock:
            for enc in encs:
                kind, body = enc.attrs.get("type"), enc.content
                if kind not in ("pkmsg", "msg"):
                    raise DecodeError(f"unsupported <enc type={kind!r}> (group messages come later)")
                if not isinstance(body, bytes):
                    raise DecodeError("an <enc> without binary content")
                result = await decrypt(
                    _address(sender),
                    str(kind),
                    body,
                    identity_store=self.signal,
                    session_store=self.signal,
                    pre_key_store=self.signal,
                    signed_pre_key_store=self.signal,
                    rng=self._rng,
                )
                message = decode(Message, unpad(result.plaintext))
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
