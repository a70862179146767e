"""The receive path of the :class:`~waproto.client.messaging.Messenger`: incoming ``<message>`` and
``<receipt>`` stanzas, decrypted, reported and acknowledged (PROTOCOL.md §6.5–6.6).

Each ``<enc>`` of a message is decrypted in order (``pkmsg``/``msg`` with the sender device's session,
``skmsg`` with the sender key of (group or broadcast such as status updates, participant)); a sender-key
distribution is processed before the ``skmsg`` that follows it. A ``deviceSentMessage`` from our own
account is unwrapped (the chat is its destination). The result goes to the application's async callback,
and only **after** it returned is the delivery receipt sent. A message carrying only a distribution (no
content) is receipted but not reported. A message that does not decrypt is reported as
:class:`~waproto.client.message_types.UndecryptableMessage` and answered with a ``retry`` receipt and an
``<ack>``; the retry receipts of one message are counted (at most :data:`MAX_RETRY_RECEIPTS`), and from
the second on they carry our keys with a new one-time prekey, so the sender can start a fresh session
(PROTOCOL.md §5.7). Receipts for what we sent go to ``on_receipt`` as
:class:`~waproto.client.message_types.MessageStatus` and are acked; ``retry`` receipts are queued for the
Messenger to answer. A phone-number sender whose LID is not known in memory is looked up in the
``directory``'s store first (its session may be kept under the LID). Everything here runs in the client's read loop: it never waits on the server.

This module is NOT sending or answering retry receipts (``waproto.client.messaging``), the LID↔PN map
(``waproto.client.addressing``), content classification (``waproto.content``) or sending read receipts.
"""

from __future__ import annotations

import logging
import struct
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

import trio

from waproto.binary import Node
from waproto.client.addressing import AddressBook, jid_attr, sender_alt
from waproto.client.client import Client
from waproto.client.errors import NotConnected
from waproto.client.groups import GroupKeys
from waproto.client.locks import QuickLock
from waproto.client.message_types import (
    DeviceDirectory,
    MessageHandler,
    MessageStatus,
    ReceiptHandler,
    ReceivedMessage,
    SignalStore,
    UndecryptableMessage,
    receipt_status,
)
from waproto.content import classify, unwrap
from waproto.credentials import Credentials
from waproto.errors import DecodeError, LocalProtocolError, RemoteProtocolError, WAProtoError
from waproto.jid import JID, parse_jid
from waproto.proto import Message, decode
from waproto.signal import decrypt, unpad
from waproto.signal.keys import PreKeyRecord

__all__ = ["KEYS_FROM_RETRY", "MAX_RETRY_RECEIPTS", "Receiver", "RetryCounts", "retry_keys"]

log = logging.getLogger(__name__)


def _text_of(message: Message) -> str | None:
    if message.HasField("conversation"):
        return message.conversation
    if message.HasField("extended_text_message") and message.extended_text_message.HasField("text"):
        return message.extended_text_message.text
    return None


def _number(value: object) -> int | None:
    return int(value) if isinstance(value, str) and value.isascii() and value.isdigit() else None


#: Retry receipts sent for one message at most (counts 1 to 5, as Baileys; PROTOCOL.md §5.7).
MAX_RETRY_RECEIPTS: Final = 5
#: From this retry on, the receipt carries our keys (``<keys>``).
KEYS_FROM_RETRY: Final = 2
#: Messages whose retry count is remembered (the oldest are forgotten first).
RETRY_MEMORY: Final = 1024


def _answering(node: Node, attrs: dict[str, str | JID], copied: tuple[str, ...]) -> dict[str, str | JID]:
    """``attrs`` for a stanza answering ``node``: ``to`` its ``from``, and the ``copied`` attributes it has."""
    for name, as_name in (("from", "to"), *((name, name) for name in copied)):
        value = node.attrs.get(name)
        if isinstance(value, JID | str):
            attrs[as_name] = value
    return attrs


class RetryCounts:
    """How many retry receipts went out per failed message (by id, sender and participant), in memory,
    the :data:`RETRY_MEMORY` most recent messages."""

    def __init__(self, size: int = RETRY_MEMORY) -> None:
        self._size = size
        self._counts: OrderedDict[tuple[str, str, str], int] = OrderedDict()

    def bump(self, message_id: str, sender: object, participant: object) -> int:
        """Count one more failure of this message; returns its count (1 the first time)."""
        key = (message_id, str(sender), str(participant))
        count = self._counts.pop(key, 0) + 1
        self._counts[key] = count
        while len(self._counts) > self._size:
            self._counts.popitem(last=False)
        return count


def retry_keys(credentials: Credentials, pre_key: PreKeyRecord) -> Node:
    """``<keys>`` for a retry receipt: key type, identity, the one-time ``pre_key``, the signed prekey and
    our ``ADVSignedDeviceIdentity`` (PROTOCOL.md §5.7; the layout of a prekey fetch's ``<user>``)."""
    signed = credentials.signed_pre_key
    children = [
        Node("type", {}, b"\x05"),
        Node("identity", {}, credentials.identity_key.public),
        Node(
            "key",
            {},
            [Node("id", {}, pre_key.key_id.to_bytes(3, "big")), Node("value", {}, pre_key.key_pair.public)],
        ),
        Node(
            "skey",
            {},
            [
                Node("id", {}, signed.key_id.to_bytes(3, "big")),
                Node("value", {}, signed.key_pair.public),
                Node("signature", {}, signed.signature),
            ],
        ),
    ]
    if credentials.account is not None:
        children.append(Node("device-identity", {}, credentials.account))
    return Node("keys", {}, children)


class Receiver:
    """Handles incoming ``<message>`` (:meth:`on_message_stanza`) and ``<receipt>``
    (:meth:`on_receipt_stanza`) stanzas for a Messenger, sharing its Signal store, sender keys, address
    book and ``lock`` (one Signal operation at a time). ``retries`` gets each ``retry`` receipt."""

    def __init__(
        self,
        client: Client,
        *,
        signal: SignalStore,
        keys: GroupKeys,
        addresses: AddressBook,
        lock: QuickLock | trio.Lock,
        retries: trio.MemorySendChannel[Node],
        on_message: MessageHandler,
        on_receipt: ReceiptHandler | None,
        directory: DeviceDirectory | None,
        rng: Callable[[int], bytes],
    ) -> None:
        self.client = client
        self.signal = signal
        self.keys = keys
        self.addresses = addresses
        self.on_message = on_message
        self.on_receipt = on_receipt
        self.directory = directory
        self._lock = lock
        self._retries = retries
        self._rng = rng
        self._retry_counts = RetryCounts()

    # ----------------------------------------------------------------- messages

    async def on_message_stanza(self, node: Node) -> None:
        """Decrypt, report and receipt one ``<message>`` (never raises for malformed input)."""
        message_id = node.attrs.get("id")
        sender_from = jid_attr(node, "from")
        if not isinstance(message_id, str) or not message_id or sender_from is None:
            log.warning("a <message> without id or from: dropped")
            return
        # Groups and broadcasts (status updates) both come with a participant and sender keys.
        group = sender_from.to_non_ad() if sender_from.is_group or sender_from.is_broadcast else None
        sender = jid_attr(node, "participant") if group is not None else sender_from
        if sender is None:
            await self._fail(node, message_id, None, DecodeError("a group message without participant"))
            return
        self.addresses.learn(node)
        if self.directory is not None:
            try:
                await self.directory.learn(node)
            except WAProtoError as exc:
                log.warning("the directory could not learn from message %s: %s", message_id, exc)
            try:  # a phone-number sender whose session is kept under its LID (as after a restart)
                await self.addresses.recall(self.directory, [sender])
            except WAProtoError as exc:
                log.warning("no stored LID for the sender of message %s: %s", message_id, exc)
        try:
            content = await self._decrypt(node, sender, group)
        except (RemoteProtocolError, LocalProtocolError) as exc:
            await self._fail(node, message_id, sender, exc)
            return
        from_me = self.addresses.is_own_user(sender)
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
                recipient = jid_attr(node, "recipient")
                try:
                    chat = parse_jid(destination) if destination else (recipient or chat)
                except LocalProtocolError:
                    chat = recipient or chat
            inner = unwrap(content)
            text = _text_of(inner)
            notify = node.attrs.get("notify")
            await self.on_message(
                ReceivedMessage(
                    id=message_id,
                    chat=chat,
                    sender=sender,
                    timestamp=_number(node.attrs.get("t")) or 0,
                    from_me=from_me,
                    kind=classify(inner),
                    text=text,
                    message=content,
                    push_name=notify if isinstance(notify, str) else None,
                    group=sender_from.is_group,
                    sender_alt=sender_alt(node, sender, group is not None),
                )
            )
        await self.send_receipt(Node("receipt", receipt))

    async def _decrypt(self, node: Node, sender: JID, group: JID | None) -> Message | None:
        """The message's content, or None when it only carried a sender-key distribution."""
        encs = node.children_with("enc")
        if not encs:
            raise DecodeError("a message without <enc>")
        content: Message | None = None
        async with self._lock:
            address, _ = await self.addresses.session(self.signal, sender)
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
        count = self._retry_counts.bump(message_id, node.attrs.get("from"), node.attrs.get("participant"))
        if count <= MAX_RETRY_RECEIPTS:
            await self.send_receipt(await self._retry_receipt(node, message_id, count))
        else:
            log.warning(
                "message %s from %s: no more retry receipts after %d", message_id, sender, MAX_RETRY_RECEIPTS
            )
        ack = _answering(node, {"id": message_id, "class": "message"}, ("participant",))
        await self.send_receipt(Node("ack", ack))

    async def _retry_receipt(self, node: Node, message_id: str, count: int) -> Node:
        """The ``retry`` receipt asking the sender to send ``message_id`` again (the ``count``-th time);
        from the second on it carries our keys, so the sender can start a new session with this device."""
        attrs = _answering(node, {"id": message_id, "type": "retry"}, ("participant", "recipient"))
        t = node.attrs.get("t")
        credentials = self.client.credentials
        children = [
            Node(
                "retry",
                {"count": str(count), "id": message_id, "t": t if isinstance(t, str) else "0", "v": "1"},
            ),
            Node("registration", {}, struct.pack(">I", credentials.registration_id)),
        ]
        if count >= KEYS_FROM_RETRY:
            children.append(retry_keys(credentials, await self.client.unpublished_pre_key()))
        return Node("receipt", attrs, children)

    # ----------------------------------------------------------------- receipts for what we sent

    async def on_receipt_stanza(self, node: Node) -> None:
        """Report a ``<receipt>`` for messages we sent, queue a ``retry`` one, and ack it."""
        ids = [node.attrs.get("id")]
        listed = node.child("list")
        if listed is not None:
            ids += [item.attrs.get("id") for item in listed.children_with("item")]
        sender = jid_attr(node, "participant") or jid_attr(node, "from")
        kind = node.attrs.get("type")
        if kind == "retry":
            try:
                self._retries.send_nowait(node)
            except trio.WouldBlock:
                log.warning("too many retry receipts waiting: one for %s dropped", node.attrs.get("id"))
        if self.on_receipt is not None and sender is not None:
            found = tuple(i for i in ids if isinstance(i, str) and i)
            status = receipt_status(kind)
            if found and status is not None:
                await self.on_receipt(MessageStatus(found, status, sender, jid_attr(node, "from") or sender))
        ack = _answering(
            node, {"id": str(node.attrs.get("id", "")), "class": "receipt"}, ("participant", "type")
        )
        await self.send_receipt(Node("ack", ack))

    async def send_receipt(self, receipt: Node) -> None:
        """Send a receipt or ack; a connection already gone is logged, not raised (the server redelivers
        what was not receipted)."""
        try:
            await self.client.send_node(receipt)
        except NotConnected:
            log.info("connection gone before the receipt for %s", receipt.attrs.get("id"))
