"""What a received message looks like to plugins: :class:`InboundMessage` (immutable, typed) and its webhook
payload (:meth:`InboundMessage.as_payload`), with secret-named keys redacted (:func:`redact`).

::

    {"event": "message.received", "sessionId", "messageId", "sender", "recipient", "timestamp",
     "messageType", "content", "raw"}

``raw`` has the shape of a Baileys ``WAMessage`` (``{key: {remoteJid, fromMe, id, participant?},
message, messageTimestamp, pushName?}``, the protobuf as JSON with camelCase names and bytes in base64),
so users moving from the Node gateway see what they know. Keys named like secrets (``authorization``,
``x-api-key``, ``apikey``, ``token``, ``password``, ``secret``, any case) are replaced by ``"[REDACTED]"``
at any depth of ``content`` and ``raw``, as the original does.

This module is NOT where messages are kept (``waporta.messages.storage``) or how they reach the hooks
(``waporta.messages.queue``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from google.protobuf import json_format

from waproto.client.messaging import ReceivedMessage
from waproto.content import classify, describe
from waproto.errors import LocalProtocolError
from waproto.jid import JID, parse_jid
from waproto.proto import Message

__all__ = ["EVENT", "REDACTED", "SECRET_KEY_RE", "InboundMessage", "message_to_dict", "redact"]

#: The payload's ``event``.
EVENT: Final = "message.received"
#: What a secret-named value is replaced with.
REDACTED: Final = "[REDACTED]"
#: Keys whose values are redacted at any depth of ``content`` and ``raw`` (the whole key, any case).
SECRET_KEY_RE: Final = re.compile(
    r"\A(?:authorization|x-api-key|apikey|token|password|secret)\Z", re.IGNORECASE
)


def redact(value: Any) -> Any:
    """A copy of a JSON-like ``value`` (mappings, lists and tuples are copied as dicts and lists) with the
    value of every secret-named key (:data:`SECRET_KEY_RE`) replaced by :data:`REDACTED`."""
    if isinstance(value, Mapping):
        return {
            key: REDACTED if isinstance(key, str) and SECRET_KEY_RE.match(key) else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value


def message_to_dict(message: Message) -> dict[str, Any]:
    """A protobuf ``Message`` as JSON: camelCase field names, bytes in base64, 64-bit integers as strings
    (protobuf's JSON mapping, as Baileys' ``WAMessage`` JSON has them)."""
    return dict(json_format.MessageToDict(message))


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({key: _freeze(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_freeze(item) for item in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _thaw(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [_thaw(item) for item in value]
    return value


def _same(value: Any) -> Any:
    return value


def _unfreeze(value: Any) -> Any:
    """``json.dumps``' fallback for a frozen mapping (its tuples it writes as lists by itself)."""
    if isinstance(value, MappingProxyType):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _default_content(received: ReceivedMessage) -> tuple[str, dict[str, Any]]:
    """What the message is (``waproto.content.classify``) and its JSON summary (``describe``)."""
    return classify(received.message), describe(received.message)


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One message a session received, as the hooks get it (``message_received``). Immutable.

    JIDs are :class:`waproto.jid.JID` values (``str(jid)`` is the wire form). ``content`` and ``raw`` are
    read-only JSON-like views; :meth:`as_payload` returns fresh, redacted, ``json.dumps``-able copies.
    """

    #: The hub session that received it.
    session_id: str
    #: WhatsApp's message id.
    message_id: str
    #: The chat: the peer's user JID for 1:1 messages (the destination for our own phone's messages),
    #: the group JID for group messages.
    chat: JID
    #: Who sent it: a user JID without device; the phone-number JID when the stanza named both the
    #: phone number and the LID.
    sender: JID
    #: The device that sent it, as the stanza named it (PN or LID, with device).
    sender_device: JID
    #: Who it was sent to: our account's user JID for a 1:1 message from someone else, the chat for a
    #: message our own phone sent, the group JID for a group message.
    recipient: JID
    #: When it was sent (the stanza's ``t``, POSIX seconds; 0 when the server gave none).
    timestamp: int
    #: True when our own account sent it (from another of its devices).
    from_me: bool
    #: True for a group message.
    is_group: bool
    #: The sender's display name, when the server gave one.
    push_name: str | None
    #: What it is: ``text``, ``image``, ``document``, ``video``, ``audio``, ``location``, ``contact``,
    #: ``reaction``, ``sticker`` or ``unknown`` (the payload's ``messageType``).
    kind: str
    #: A JSON summary of the content (the payload's ``content``; ``waproto.content.describe``), e.g.
    #: ``{"text": "hi"}`` or ``{"caption": ..., "mimetype": ..., "fileLength": ..., "mediaType": "image"}``.
    content: Mapping[str, Any] = field(hash=False)
    #: The Baileys-``WAMessage``-shaped record (the payload's ``raw``).
    raw: Mapping[str, Any] = field(hash=False, repr=False)
    #: The sender's other identity (its LID when ``sender`` is the phone number, or the reverse), if known.
    sender_alt: JID | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "content", _freeze(self.content))
        object.__setattr__(self, "raw", _freeze(self.raw))

    # ------------------------------------------------------------------ building

    @classmethod
    def from_received(
        cls,
        session_id: str,
        received: ReceivedMessage,
        *,
        me: JID | None,
        kind: str | None = None,
        content: Mapping[str, Any] | None = None,
    ) -> InboundMessage:
        """The hub's view of a message the Messenger decrypted for ``session_id``; ``me`` is the
        session's own phone-number JID (any device). ``kind`` and ``content`` replace the default
        classification (``waproto.content.classify`` and ``describe`` of the message)."""
        default_kind, default_content = _default_content(received)
        kind = default_kind if kind is None else kind
        content = default_content if content is None else content
        device = received.sender
        alt, is_group = received.sender_alt, received.group
        sender, sender_alt = device.to_non_ad(), None if alt is None else alt.to_non_ad()
        if sender_alt is not None and sender_alt.is_pn and not sender.is_pn:
            sender, sender_alt = sender_alt, sender
        # A group message is addressed to the group; our own phone's message to its chat; others to us.
        recipient = received.chat if is_group or received.from_me or me is None else me.to_non_ad()
        key: dict[str, Any] = {"remoteJid": str(received.chat), "fromMe": received.from_me, "id": received.id}
        if is_group:
            key["participant"] = str(device)
            if alt is not None:
                key["participantAlt"] = str(alt)
        elif alt is not None and not received.from_me:
            key["remoteJidAlt"] = str(alt.to_non_ad())
        raw: dict[str, Any] = {
            "key": key,
            "message": message_to_dict(received.message),
            "messageTimestamp": received.timestamp,
        }
        if received.push_name is not None:
            raw["pushName"] = received.push_name
        return cls(
            session_id=session_id,
            message_id=received.id,
            chat=received.chat,
            sender=sender,
            sender_device=device,
            recipient=recipient,
            timestamp=received.timestamp,
            from_me=received.from_me,
            is_group=is_group,
            push_name=received.push_name,
            kind=kind,
            content=content,
            raw=raw,
            sender_alt=sender_alt,
        )

    # ------------------------------------------------------------------ views

    def as_payload(self) -> dict[str, Any]:
        """The webhook payload: exactly the keys ``event``, ``sessionId``, ``messageId``, ``sender``,
        ``recipient``, ``timestamp``, ``messageType``, ``content``, ``raw`` (a fresh, redacted,
        JSON-serialisable dict)."""
        return {
            "event": EVENT,
            "sessionId": self.session_id,
            "messageId": self.message_id,
            "sender": str(self.sender),
            "recipient": str(self.recipient),
            "timestamp": self.timestamp,
            "messageType": self.kind,
            "content": redact(self.content),
            "raw": redact(self.raw),
        }

    def to_record(self) -> dict[str, Any]:
        """Every field as JSON (not redacted): what ``inbound_messages.payload`` keeps."""
        return self._record(_thaw)

    def to_record_json(self) -> str:
        """:meth:`to_record` as compact JSON text (without copying ``content`` and ``raw`` first)."""
        return json.dumps(self._record(_same), ensure_ascii=False, separators=(",", ":"), default=_unfreeze)

    def _record(self, thaw: Callable[[Any], Any]) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "message_id": self.message_id,
            "chat": str(self.chat),
            "sender": str(self.sender),
            "sender_device": str(self.sender_device),
            "recipient": str(self.recipient),
            "timestamp": self.timestamp,
            "from_me": self.from_me,
            "is_group": self.is_group,
            "push_name": self.push_name,
            "kind": self.kind,
            "content": thaw(self.content),
            "raw": thaw(self.raw),
            "sender_alt": None if self.sender_alt is None else str(self.sender_alt),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> InboundMessage:
        """The message :meth:`to_record` described; ``ValueError`` when ``record`` is not one."""
        try:
            alt = record.get("sender_alt")
            return cls(
                session_id=str(record["session_id"]),
                message_id=str(record["message_id"]),
                chat=parse_jid(record["chat"]),
                sender=parse_jid(record["sender"]),
                sender_device=parse_jid(record["sender_device"]),
                recipient=parse_jid(record["recipient"]),
                timestamp=int(record["timestamp"]),
                from_me=bool(record["from_me"]),
                is_group=bool(record["is_group"]),
                push_name=None if record.get("push_name") is None else str(record["push_name"]),
                kind=str(record["kind"]),
                content=dict(record["content"]),
                raw=dict(record["raw"]),
                sender_alt=None if alt is None else parse_jid(alt),
            )
        except (KeyError, TypeError, ValueError, LocalProtocolError) as exc:
            raise ValueError(f"not an inbound message record: {exc}") from None

    def message(self) -> Message:
        """The protobuf message back from ``raw["message"]`` (for downloads and re-processing)."""
        parsed = Message()
        json_format.ParseDict(_thaw(self.raw.get("message", {})), parsed, ignore_unknown_fields=True)
        return parsed
