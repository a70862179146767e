"""What the :class:`~waproto.client.messaging.Messenger` hands to and takes from the application: the
values it reports (:class:`SentMessage`, :class:`ReceivedMessage`, :class:`UndecryptableMessage`,
:class:`MessageStatus`), the callback types, and the Protocols of what can be plugged into it
(:class:`SignalStore`, :class:`DeviceDirectory`), with :class:`CompanionSignalStore`, the default Signal
store of a companion device.

``waproto.client.messaging`` re-exports every name here; import them from either.

This module is NOT the sending or receiving itself (``waproto.client.messaging``,
``waproto.client.receiving``), LID↔PN bookkeeping (``waproto.client.addressing``) or a persistent store
(the hub's SQLite stores satisfy these Protocols).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from waproto.binary import Node
from waproto.client.client import Client
from waproto.content import MessageKind
from waproto.jid import JID
from waproto.proto import Message
from waproto.signal import (
    IdentityKeyStore,
    MemorySignalStore,
    PreKeyStore,
    SessionStore,
    SignedPreKeyStore,
)
from waproto.signal.curve import KeyPair
from waproto.signal.keys import PreKeyRecord, SignedPreKeyRecord

__all__ = [
    "Addressing",
    "CompanionSignalStore",
    "DeviceDirectory",
    "MessageHandler",
    "MessageStatus",
    "ReceiptHandler",
    "ReceivedMessage",
    "SentMessage",
    "SignalStore",
    "StatusKind",
    "UndecryptableMessage",
    "receipt_status",
]

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


def receipt_status(receipt_type: object) -> StatusKind | None:
    """What a ``<receipt type>`` (absent: delivered) says about our messages; None for other types
    (``retry``, ``sender``, …)."""
    return _STATUSES.get(receipt_type if isinstance(receipt_type, str) else "")


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

    async def known_lids(self, pn_users: list[JID]) -> dict[JID, JID]:
        """The LID user of each phone-number user whose mapping is stored; never asks the server (the
        receive path calls it in the client's read loop)."""
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
