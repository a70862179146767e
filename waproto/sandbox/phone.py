"""A simulated phone: device 0 of a sandbox account, speaking Signal like a real primary device.

:class:`SimPhone` is sans-I/O. It holds its own Signal identity, signed prekey and one-time prekeys (in
``waproto.signal`` memory stores) and publishes them as :meth:`SimPhone.published_keys` for the server's
registry. It reads the network (device lists, other devices' bundles, groups) through a
:class:`~waproto.sandbox.registry.Registry`, and exchanges stanzas with the server as ``Node`` values:

- :meth:`SimPhone.receive` takes a delivered ``<message>``, ``<receipt>`` or ``<ack>``; for a message it
  decrypts every ``<enc>`` (``pkmsg``/``msg`` with the sender device's session, ``skmsg`` with the
  group sender key, processing a distribution message first), unpads, parses ``Message``, unwraps
  ``deviceSentMessage``, logs it, and returns the receipts to send (delivery, plus ``read`` when the phone
  reads automatically), or a decryption failure and a ``retry`` receipt; an echo bot also returns its
  reply. A receipt or ack updates the state of the logged outgoing message.
- :meth:`SimPhone.send_text`, :meth:`SimPhone.send_media`, :meth:`SimPhone.send_message` build the
  outgoing ``<message>`` (PROTOCOL.md §6.2, §6.3): 1:1 to every device of the recipient plus the
  account's own companions (``deviceSentMessage`` for those), a ``pkmsg`` built from a fetched bundle where
  there is no session yet, ``msg`` otherwise, padded plaintexts; to a group, the sender-key distribution
  to member devices that lack it and one ``skmsg`` for all.

- :meth:`SimPhone.export_state` / :meth:`SimPhone.import_state` give and take the whole learnt state
  (sessions, identities, sender keys, log); :meth:`SimPhone.export_changes` gives only what changed since
  it was last asked and :meth:`SimPhone.apply_changes` replays that, so an owner can persist a phone by
  appending small records. These are thin: the work is done by ``waproto.sandbox.phone_store``.

Session addresses are local: every device is named by its account's phone number and device id, whether
the stanza spoke of it by phone number or LID. The phone never sends ``<device-identity>``: a primary device
has none. Message ids are ``3EB0`` and 18 hex digits from the injected ``rng``.

This module is NOT a client (no connection, no login, no iq round trips: the registry stands in for
usync and prekey fetches), does not upload or download media (:meth:`SimPhone.send_media` takes what
the media store returned, :meth:`SimPhone.open_media` decrypts a blob the caller fetched), and does not
define or build the persisted forms (``phone_store``) nor store them anywhere (``journal``).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from waproto.binary import Node
from waproto.errors import DecodeError, LocalProtocolError, RemoteProtocolError
from waproto.jid import DEFAULT_USER_SERVER, GROUP_SERVER, JID, parse_jid
from waproto.media import EncryptedMediaInfo, decrypt_media
from waproto.proto import Message, decode
from waproto.sandbox.phone_log import Direction, LogEntry, ReceiptState, kind_of, media_fields
from waproto.sandbox.phone_store import PhonePersistence, PhoneSenderKeys, PhoneStore
from waproto.sandbox.registry import (
    Account,
    DeviceKeys,
    OneTimePreKey,
    Registry,
    SignedPreKey,
    account_of,
    device_jids,
    take_bundle,
)
from waproto.signal import (
    ProtocolAddress,
    SenderKeyName,
    create_distribution_message,
    decrypt,
    encrypt,
    generate_identity_key_pair,
    generate_pre_keys,
    generate_registration_id,
    generate_signed_pre_key,
    group_decrypt,
    group_encrypt,
    pad,
    process_distribution_message,
    process_pre_key_bundle,
    unpad,
)
from waproto.signal.curve import KeyPair
from waproto.signal.keys import MAX_PRE_KEY_ID, PreKeyRecord, SignedPreKeyRecord

__all__ = ["MEDIA_KINDS", "SEND_CACHE", "DecryptFailure", "PhoneKeys", "Received", "SimPhone"]

#: The media kinds :meth:`SimPhone.send_media` builds, mapped to their ``Message`` field.
MEDIA_KINDS: Final = {
    "image": "image_message",
    "video": "video_message",
    "audio": "audio_message",
    "document": "document_message",
    "sticker": "sticker_message",
}

#: How many sent messages a phone keeps for answering retry receipts (whatsmeow keeps 256).
SEND_CACHE: Final = 256

_RECEIPT_STATES: Final[dict[str, ReceiptState]] = {
    "": "delivered",
    "read": "read",
    "read-self": "read",
    "played": "played",
    "inactive": "delivered",
}


class DecryptFailure:
    """A ``<message>`` the phone could not decrypt: which, from whom, and the error's class and text."""

    __slots__ = ("error", "message_id", "sender")

    def __init__(self, message_id: str, sender: JID | None, error: Exception) -> None:
        self.message_id = message_id
        self.sender = sender
        #: ``"<ErrorClass>: <text>"``.
        self.error = f"{type(error).__name__}: {error}"

    def __repr__(self) -> str:
        return f"DecryptFailure({self.message_id!r} from {self.sender}: {self.error})"


class Received:
    """What :meth:`SimPhone.receive` made of one stanza."""

    __slots__ = ("entry", "failure", "out")

    def __init__(
        self,
        entry: LogEntry | None = None,
        failure: DecryptFailure | None = None,
        out: list[Node] | None = None,
    ) -> None:
        #: The new (or updated) log entry, if any.
        self.entry = entry
        #: Set when a message did not decrypt.
        self.failure = failure
        #: Stanzas for the server: receipts, an echo bot's reply.
        self.out: list[Node] = out if out is not None else []


@dataclass(frozen=True, slots=True)
class PhoneKeys:
    """Key material a phone is built from when its owner (the network state) already holds it.

    ``pre_keys`` is **shared, not copied**: the phone deletes a one-time prekey from this very dict when
    a ``pkmsg`` uses it, so the owner sees the deletion, and then calls ``on_used`` with its id (so the
    owner can persist it).
    """

    identity: KeyPair
    registration_id: int
    signed_pre_key: SignedPreKeyRecord
    pre_keys: dict[int, PreKeyRecord]
    on_used: Callable[[int], None] | None = None


class SimPhone:
    """The simulated primary phone (device 0) of ``account``. See the module docstring.

    With ``keys`` the phone uses that key material (see :class:`PhoneKeys`); without, it generates an
    identity, a signed prekey and ``pre_keys`` one-time prekeys, handed out by :meth:`published_keys`.
    ``device`` other than 0 makes it behave as a companion device of the account instead (for tests of
    fan-out to companions); it then keys nothing differently, it only sits at another device number.
    """

    def __init__(
        self,
        account: Account,
        registry: Registry,
        *,
        rng: Callable[[int], bytes],
        keys: PhoneKeys | None = None,
        pre_keys: int = 50,
        echo: bool = False,
        auto_read: bool = False,
        device: int = 0,
    ) -> None:
        self.account = account
        #: This device's JID (phone-number form): device 0 unless the phone stands in for a companion.
        self.device = account.jid.with_device(device)
        self.registry = registry
        self.rng = rng
        #: Answer every text with ``echo: <text>`` and every media message with the same media.
        self.echo = echo
        #: Send a ``read`` receipt right after the delivery receipt.
        self.auto_read = auto_read
        #: Everything sent and received, oldest first.
        self.log: list[LogEntry] = []
        if keys is None:
            identity = generate_identity_key_pair(rng)
            keys = PhoneKeys(
                identity, generate_registration_id(rng), generate_signed_pre_key(identity, 1, rng), {}
            )
            generate = pre_keys
        else:
            generate = 0
        self.store = PhoneStore(keys.identity, keys.registration_id, keys.pre_keys, keys.on_used)
        self._signed = keys.signed_pre_key
        self.store.signed_pre_keys[keys.signed_pre_key.key_id] = keys.signed_pre_key
        self.sender_keys = PhoneSenderKeys()
        self._next_pre_key = max(keys.pre_keys, default=0) % MAX_PRE_KEY_ID + 1
        self._fresh: list[OneTimePreKey] = self.new_pre_keys(generate)
        self._skdm_sent: dict[JID, set[JID]] = {}
        self._sent: dict[str, tuple[JID, Message]] = {}
        # Exports and replays the state; told which log positions and skdm_sent groups changed.
        self._persistence = PhonePersistence(self.store, self.sender_keys, self._skdm_sent)
        # The newest log position of each (message id, direction), for find().
        self._positions: dict[tuple[str, str], int] = {}

    # ----------------------------------------------------------------- identity and keys

    @property
    def registration_id(self) -> int:
        return self.store.registration_id

    @property
    def identity_public(self) -> bytes:
        """The 32-byte identity public key."""
        return self.store.identity.public

    def new_pre_keys(self, count: int) -> list[OneTimePreKey]:
        """Make ``count`` more one-time prekeys (kept privately) and return their public halves."""
        records = generate_pre_keys(self._next_pre_key, count, self.rng)
        for record in records:
            self.store.pre_keys[record.key_id] = record
        if records:
            self._next_pre_key = records[-1].key_id % MAX_PRE_KEY_ID + 1
        return [OneTimePreKey(r.key_id, r.key_pair.public) for r in records]

    def published_keys(self) -> DeviceKeys:
        """The keys to publish for this device: identity, registration, signed prekey, the first prekeys."""
        signed = SignedPreKey(self._signed.key_id, self._signed.key_pair.public, self._signed.signature)
        fresh, self._fresh = self._fresh, []
        return DeviceKeys(self.registration_id, self.identity_public, signed, fresh)

    def _address(self, device: JID) -> ProtocolAddress:
        account = account_of(self.registry, device)
        return ProtocolAddress(account.phone if account is not None else device.user, device.device)

    def _new_id(self) -> str:
        return "3EB0" + self.rng(9).hex().upper()

    # ----------------------------------------------------------------- sending

    async def send_text(self, to: JID, text: str, *, now: int, message_id: str | None = None) -> Node:
        """The ``<message>`` stanza sending ``text`` to ``to`` (an account's PN/LID JID or a group)."""
        return await self.send_message(to, Message(conversation=text), now=now, message_id=message_id)

    async def send_media(
        self,
        to: JID,
        kind: str,
        *,
        url: str,
        direct_path: str,
        media_key: bytes,
        info: EncryptedMediaInfo,
        mimetype: str,
        now: int,
        caption: str | None = None,
        file_name: str | None = None,
        message_id: str | None = None,
    ) -> Node:
        """The ``<message>`` for media already encrypted and uploaded (``kind`` is a key of :data:`MEDIA_KINDS`)."""
        field = MEDIA_KINDS.get(kind)
        if field is None:
            raise LocalProtocolError(f"unknown media kind {kind!r}; one of {sorted(MEDIA_KINDS)}")
        message = Message()
        media = getattr(message, field)
        media.url = url
        media.direct_path = direct_path
        media.media_key = media_key
        media.file_sha256 = info.file_sha256
        media.file_enc_sha256 = info.file_enc_sha256
        media.file_length = info.file_length
        media.mimetype = mimetype
        if kind != "sticker":
            media.media_key_timestamp = now
        if caption is not None and kind in ("image", "video", "document"):
            media.caption = caption
        if file_name is not None and kind == "document":
            media.file_name = file_name
        return await self.send_message(to, message, now=now, message_id=message_id)

    async def send_message(
        self, to: JID, message: Message, *, now: int, message_id: str | None = None
    ) -> Node:
        """The ``<message>`` stanza sending ``message`` to ``to``; the message is logged as ``pending``."""
        message_id = message_id or self._new_id()
        if to.server == GROUP_SERVER:
            node = await self._group_stanza(to.to_non_ad(), message, message_id)
            chat = to.to_non_ad()
        else:
            peer = account_of(self.registry, to)
            if peer is None:
                raise LocalProtocolError(f"{to} is not an account of the network")
            chat = peer.jid
            node = await self._direct_stanza(peer, message, message_id)
        self._sent[message_id] = (chat, message)
        while len(self._sent) > SEND_CACHE:
            del self._sent[next(iter(self._sent))]
        self._add_to_log(LogEntry.make(message_id, "out", chat, self.device, now, message, "pending"))
        return node

    async def _encrypt_for(self, device: JID, plaintext: bytes) -> Node | None:
        address = self._address(device)
        if await self.store.load_session(address) is None:
            bundle = take_bundle(self.registry, device)
            if bundle is None:
                return None  # the device published no keys: it cannot be written to
            await process_pre_key_bundle(
                address, bundle, identity_store=self.store, session_store=self.store, rng=self.rng
            )
        cipher = await encrypt(
            address, pad(plaintext, self.rng), identity_store=self.store, session_store=self.store
        )
        return Node("enc", {"v": "2", "type": cipher.type}, cipher.body)

    async def _direct_stanza(self, peer: Account, message: Message, message_id: str) -> Node:
        own = [d for d in device_jids(self.registry, self.account) if d != self.device]
        targets = [d for d in device_jids(self.registry, peer) if d != self.device]
        sent = Message()
        sent.device_sent_message.destination_jid = str(peer.jid)
        sent.device_sent_message.message.CopyFrom(message)
        plain, plain_own = message.SerializeToString(), sent.SerializeToString()
        mediatype = _mediatype(message)
        participants: list[Node] = []
        for device in targets + [d for d in own if d not in targets]:
            enc = await self._encrypt_for(device, plain_own if device.user == self.account.phone else plain)
            if enc is not None:
                if mediatype is not None:
                    enc.attrs["mediatype"] = mediatype
                participants.append(Node("to", {"jid": device}, [enc]))
        attrs: dict[str, str | JID] = {"id": message_id, "to": peer.jid, "type": _stanza_type(message)}
        return Node("message", attrs, [Node("participants", {}, participants)])

    async def _group_stanza(self, group_jid: JID, message: Message, message_id: str) -> Node:
        group = self.registry.group(group_jid)
        if group is None or self.account.jid not in group.participants:
            raise LocalProtocolError(f"{self.account.phone} is not in a group {group_jid}")
        name = SenderKeyName(str(group_jid), ProtocolAddress(self.account.phone, self.device.device))
        distribution = await create_distribution_message(self.sender_keys, name, self.rng)
        skdm = Message()
        skdm.sender_key_distribution_message.group_id = str(group_jid)
        skdm.sender_key_distribution_message.axolotl_sender_key_distribution_message = distribution
        have = self._skdm_sent.setdefault(group_jid, set())
        participants: list[Node] = []
        for member in group.participants:
            account = account_of(self.registry, member)
            for device in device_jids(self.registry, account) if account is not None else []:
                if device == self.device or device in have:
                    continue
                enc = await self._encrypt_for(device, skdm.SerializeToString())
                if enc is not None:
                    participants.append(Node("to", {"jid": device}, [enc]))
                    have.add(device)
                    self._persistence.skdm_changed.add(group_jid)
        skmsg = await group_encrypt(self.sender_keys, name, pad(message.SerializeToString(), self.rng))
        enc_attrs: dict[str, str | JID] = {"v": "2", "type": "skmsg"}
        mediatype = _mediatype(message)
        if mediatype is not None:
            enc_attrs["mediatype"] = mediatype
        attrs: dict[str, str | JID] = {"id": message_id, "to": group_jid, "type": _stanza_type(message)}
        return Node("message", attrs, [Node("participants", {}, participants), Node("enc", enc_attrs, skmsg)])

    # ----------------------------------------------------------------- receiving

    async def receive(self, node: Node, *, now: int) -> Received:
        """Handle one stanza the server delivered (see the module docstring). Never raises for bad input."""
        if node.tag == "message":
            return await self._receive_message(node, now)
        if node.tag == "receipt":
            return await self._receive_receipt(node, now)
        if node.tag == "ack" and node.attrs.get("class") == "message":
            position = self._position(str(node.attrs.get("id", "")), "out")
            if position is None:
                return Received()
            entry = self.log[position]
            error = node.attrs.get("error")
            entry.advance("server" if error is None else "failed", detail=str(error or ""))
            self._persistence.log_changed.add(position)
            return Received(entry)
        return Received()

    async def _receive_message(self, node: Node, now: int) -> Received:
        message_id = node.attrs.get("id")
        sender_from = _jid(node, "from")
        if not isinstance(message_id, str) or sender_from is None:
            return Received(
                failure=DecryptFailure(str(message_id), sender_from, DecodeError("no id or from"))
            )
        group = sender_from if sender_from.server == GROUP_SERVER else None
        sender = _jid(node, "participant") if group is not None else sender_from
        sender_account = account_of(self.registry, sender) if sender is not None else None
        if sender is None or sender_account is None:
            failure = DecryptFailure(message_id, sender, DecodeError("unknown sender"))
            return Received(failure=failure)
        sender_pn = JID(sender_account.phone, DEFAULT_USER_SERVER, device=sender.device)
        try:
            content = await self._decrypt_encs(node, group, sender_pn)
        except (RemoteProtocolError, LocalProtocolError) as exc:
            return Received(failure=DecryptFailure(message_id, sender_pn, exc), out=[self._retry(node, now)])
        receipt_attrs: dict[str, str | JID] = {"id": message_id, "to": sender_from}
        if group is not None:
            receipt_attrs["participant"] = sender
        own = sender_account.phone == self.account.phone
        if own:
            receipt_attrs["type"] = "sender"
        out = [Node("receipt", receipt_attrs)]
        if content is None:
            return Received(out=out)
        chat = group or sender_account.jid
        if own and content.HasField("device_sent_message"):
            destination = content.device_sent_message.destination_jid
            content = content.device_sent_message.message
            chat = _parse(destination) or chat
        direction: Direction = "out" if own else "in"
        entry = LogEntry.make(message_id, direction, chat, sender_pn, now, content, "received")
        self._add_to_log(entry)
        if self.auto_read and not own:
            read = {**receipt_attrs, "type": "read", "t": str(now)}
            out.append(Node("receipt", read))
            entry.advance("read")
        if self.echo and not own:
            reply = _echo_of(content)
            if reply is not None:
                out.append(await self.send_message(chat, reply, now=now))
        return Received(entry, out=out)

    async def _decrypt_encs(self, node: Node, group: JID | None, sender: JID) -> Message | None:
        address = self._address(sender)
        content: Message | None = None
        encs = node.children_with("enc")
        if not encs:
            raise DecodeError("a message without <enc>")
        for enc in encs:
            kind = enc.attrs.get("type")
            body = enc.content
            if not isinstance(body, bytes):
                raise DecodeError("an <enc> without binary content")
            if kind == "skmsg":
                if group is None:
                    raise DecodeError("an skmsg outside a group")
                name = SenderKeyName(str(group), address)
                plain = await group_decrypt(self.sender_keys, name, body)
            else:
                result = await decrypt(
                    address,
                    str(kind),
                    body,
                    identity_store=self.store,
                    session_store=self.store,
                    pre_key_store=self.store,
                    signed_pre_key_store=self.store,
                    rng=self.rng,
                )
                plain = result.plaintext
            message = decode(Message, unpad(plain))
            if message.HasField("sender_key_distribution_message"):
                skdm = message.sender_key_distribution_message
                name = SenderKeyName(skdm.group_id or str(group), address)
                await process_distribution_message(
                    self.sender_keys, name, skdm.axolotl_sender_key_distribution_message
                )
                message.ClearField("sender_key_distribution_message")
            if any(field.name != "message_context_info" for field, _ in message.ListFields()):
                content = message
        return content

    def _retry(self, node: Node, now: int) -> Node:
        attrs: dict[str, str | JID] = {"id": str(node.attrs.get("id", "")), "type": "retry"}
        for name in ("from", "participant"):
            value = node.attrs.get(name)
            if value is not None:
                attrs["to" if name == "from" else name] = value
        retry = Node("retry", {"count": "1", "id": attrs["id"], "t": str(node.attrs.get("t", now)), "v": "1"})
        registration = Node("registration", {}, struct.pack(">I", self.registration_id))
        return Node("receipt", attrs, [retry, registration])

    async def _receive_receipt(self, node: Node, now: int) -> Received:
        kind = node.attrs.get("type", "")
        ids = [str(node.attrs.get("id", ""))]
        listed = node.child("list")
        if listed is not None:
            ids += [str(item.attrs.get("id", "")) for item in listed.children_with("item")]
        if kind == "retry":
            return await self._resend(node, ids[0], now)
        state = _RECEIPT_STATES.get(str(kind))
        entry = None
        for message_id in ids:
            position = self._position(message_id, "out")
            if position is not None and state is not None:
                entry = self.log[position]
                entry.advance(state, by=str(node.attrs.get("participant") or node.attrs.get("from", "")))
                self._persistence.log_changed.add(position)
        return Received(entry)

    async def _resend(self, node: Node, message_id: str, now: int) -> Received:
        """Answer a retry receipt: drop the session with the asking device and send the message again."""
        asking = _jid(node, "participant") or _jid(node, "from")
        sent = self._sent.get(message_id)
        if asking is None or sent is None or asking.server == GROUP_SERVER:
            return Received()
        chat, message = sent
        device = JID(asking.user, asking.server, device=asking.device)
        self.store.forget_session(self._address(device))
        if chat.server == GROUP_SERVER:
            self._skdm_sent.get(chat, set()).discard(device)
            self._persistence.skdm_changed.add(chat)
            fresh = Message()
            fresh.CopyFrom(message)
            return Received(out=[await self.send_message(chat, fresh, now=now, message_id=message_id)])
        enc = await self._encrypt_for(device, message.SerializeToString())
        if enc is None:
            return Received()
        attrs: dict[str, str | JID] = {"id": message_id, "to": device, "type": _stanza_type(message)}
        return Received(out=[Node("message", attrs, [enc])])

    # ----------------------------------------------------------------- persistence

    async def export_state(self) -> dict[str, Any]:
        """What the phone learnt, JSON-ready (the state form of ``phone_store``): sessions, peer identities,
        sender keys, which devices hold its sender keys, the log; not its own keys (the owner keeps
        :class:`PhoneKeys`). See :meth:`PhonePersistence.export_state`."""
        return await self._persistence.export_state(self.log)

    async def export_changes(self) -> dict[str, Any] | None:
        """What changed since the last :meth:`export_changes` or :meth:`import_state` (a change record of
        ``phone_store``), or None; it then counts as saved. See :meth:`PhonePersistence.export_changes`."""
        return await self._persistence.export_changes(self.log)

    async def import_state(self, data: Any) -> None:
        """Restore what :meth:`export_state` returned (into a phone built from the same keys); it counts as
        saved. ``DecodeError`` for anything else, the phone then unchanged."""
        self.log = await self._persistence.import_state(data)
        self._reindex()

    async def apply_changes(self, data: Any) -> None:
        """Replay a change record :meth:`export_changes` returned, on top of the state it followed (twice is
        harmless); it counts as saved. ``DecodeError`` for anything else, the phone then unchanged."""
        await self._persistence.apply_changes(data, self.log)
        self._reindex()

    # ----------------------------------------------------------------- the log

    def _add_to_log(self, entry: LogEntry) -> None:
        self._positions[(entry.id, entry.direction)] = len(self.log)
        self.log.append(entry)

    def _reindex(self) -> None:
        self._positions = {(entry.id, entry.direction): i for i, entry in enumerate(self.log)}

    def _position(self, message_id: str, direction: str) -> int | None:
        position = self._positions.get((message_id, direction))
        if position is not None and position < len(self.log) and self.log[position].id == message_id:
            return position
        return None

    def find(self, message_id: str, direction: str | None = None) -> LogEntry | None:
        """The newest log entry with ``message_id`` (and ``direction``, if given)."""
        found = [
            p for p in (self._position(message_id, d) for d in ((direction,) if direction else ("in", "out"))) if p is not None
        ]
        return self.log[max(found)] if found else None

    def log_lines(self) -> list[str]:
        """The log, one readable line per entry."""
        return [entry.line() for entry in self.log]

    def open_media(self, entry: LogEntry, blob: bytes) -> bytes:
        """Verify and decrypt the media ``blob`` (as downloaded) of a logged media message; the entry
        records the plaintext's size. Raises ``LocalProtocolError`` for an entry without media and
        ``MediaIntegrityError`` for a blob that does not match the message."""
        fields = media_fields(entry.message)
        if fields is None:
            raise LocalProtocolError(f"message {entry.id} carries no media")
        kind, media = fields
        plaintext = decrypt_media(
            blob,
            media.media_key,
            kind,
            file_enc_sha256=media.file_enc_sha256 or None,
            file_sha256=media.file_sha256 or None,
            file_length=media.file_length if media.HasField("file_length") else None,
        )
        entry.media_bytes = plaintext
        return plaintext


# --------------------------------------------------------------------- helpers


def _jid(node: Node, name: str) -> JID | None:
    return node.jid_attr_or_none(name)


def _parse(text: str) -> JID | None:
    try:
        return parse_jid(text) if text else None
    except LocalProtocolError:
        return None


def _mediatype(message: Message) -> str | None:
    fields = media_fields(message)
    return fields[0] if fields is not None else None


def _stanza_type(message: Message) -> str:
    return "media" if media_fields(message) is not None else "text"


def _echo_of(message: Message) -> Message | None:
    kind = kind_of(message)
    if kind == "text":
        text = message.conversation or message.extended_text_message.text
        return Message(conversation=f"echo: {text}")
    if kind in MEDIA_KINDS:
        field = MEDIA_KINDS[kind]
        reply = Message()
        getattr(reply, field).CopyFrom(getattr(message, field))
        return reply
    return None
