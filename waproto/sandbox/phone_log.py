"""The readable log of a simulated phone: one :class:`LogEntry` per message sent or received.

An entry keeps the decrypted ``Message``, a short summary (kind, text or caption, file name), who sent it
and when, and a receipt state that only moves forward::

    outgoing:  pending → server (acked) → delivered → read → played        (or failed: acked with an error)
    incoming:  received → read

``LogEntry.line()`` is one human-readable line; ``LogEntry.to_json()`` a JSON-ready dict (what the
control API's ``GET /sandbox/accounts/{phone}/messages`` can return). ``media_fields`` finds the media
part of a message, ``kind_of`` names a message's kind.

This module is NOT the phone (``waproto.sandbox.phone``) and keeps no media blobs beyond a decrypted
plaintext the phone attaches on request.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from waproto.errors import DecodeError, LocalProtocolError
from waproto.jid import JID, parse_jid
from waproto.proto import Message, decode

__all__ = ["Direction", "LogEntry", "ReceiptState", "kind_of", "media_fields"]

#: ``in`` for received messages, ``out`` for sent ones (also those sent by the account's companions).
Direction = Literal["in", "out"]
#: The receipt states of :class:`LogEntry` (see the module docstring for the order).
ReceiptState = Literal["pending", "failed", "server", "received", "delivered", "read", "played"]

_ORDER: Final[dict[str, int]] = {
    "pending": 0,
    "failed": 1,
    "server": 1,
    "received": 2,
    "delivered": 2,
    "read": 3,
    "played": 4,
}

#: Media kinds and their ``Message`` fields, in the order they are looked for.
_MEDIA: Final = (
    ("image", "image_message"),
    ("video", "video_message"),
    ("audio", "audio_message"),
    ("document", "document_message"),
    ("sticker", "sticker_message"),
)


def media_fields(message: Message) -> tuple[str, Any] | None:
    """``(kind, submessage)`` for a media message (image, video, audio, document, sticker), else None."""
    for kind, name in _MEDIA:
        if message.HasField(name):
            return kind, getattr(message, name)
    return None


def kind_of(message: Message) -> str:
    """``text``, a media kind, ``reaction``, ``location``, ``contact``, ``protocol`` or ``other``."""
    if message.HasField("conversation") or message.HasField("extended_text_message"):
        return "text"
    media = media_fields(message)
    if media is not None:
        return media[0]
    for kind, name in (
        ("reaction", "reaction_message"),
        ("location", "location_message"),
        ("contact", "contact_message"),
        ("protocol", "protocol_message"),
    ):
        if message.HasField(name):
            return kind
    return "other"


def _summary(message: Message) -> tuple[str | None, str | None]:
    """(text or caption, file name)."""
    if message.HasField("conversation"):
        return message.conversation, None
    if message.HasField("extended_text_message"):
        return message.extended_text_message.text, None
    if message.HasField("reaction_message"):
        return message.reaction_message.text, None
    media = media_fields(message)
    if media is None:
        return None, None
    _, part = media
    caption = part.caption if hasattr(part, "caption") and part.HasField("caption") else None
    name = part.file_name if hasattr(part, "file_name") and part.HasField("file_name") else None
    return caption, name


@dataclass(slots=True)
class LogEntry:
    """One message in a phone's log."""

    id: str
    direction: Direction
    #: The chat: the peer account's phone-number JID, or the group.
    chat: JID
    #: The device that sent it.
    sender: JID
    #: Unix seconds (when sent, or when received).
    timestamp: int
    kind: str
    #: The text, or a media caption, or a reaction's emoji.
    text: str | None
    file_name: str | None
    state: ReceiptState
    #: The whole decrypted message.
    message: Message = field(repr=False)
    #: Per device that answered: the furthest receipt state it reported.
    receipts: dict[str, ReceiptState] = field(default_factory=dict)
    #: Why the server refused it (the ack's error code), when ``state`` is ``failed``.
    detail: str = ""
    #: The decrypted media, once the phone opened it.
    media_bytes: bytes | None = field(default=None, repr=False)

    @classmethod
    def make(
        cls,
        message_id: str,
        direction: Direction,
        chat: JID,
        sender: JID,
        timestamp: int,
        message: Message,
        state: ReceiptState,
    ) -> LogEntry:
        """An entry for ``message``, its kind and summary filled in."""
        text, file_name = _summary(message)
        return cls(
            message_id, direction, chat, sender, timestamp, kind_of(message), text, file_name, state, message
        )

    def advance(self, state: ReceiptState, *, by: str = "", detail: str = "") -> None:
        """Move to ``state`` if it is further than the current one (``by`` names the reporting device)."""
        if by:
            previous = self.receipts.get(by)
            if previous is None or _ORDER[state] > _ORDER[previous]:
                self.receipts[by] = state
        if state == "failed" and self.state == "pending":
            self.state, self.detail = state, detail
        elif _ORDER[state] > _ORDER[self.state]:
            self.state = state

    def line(self) -> str:
        """One readable line: time, arrow, chat, sender, kind, text, state."""
        arrow = "→" if self.direction == "out" else "←"
        what = self.kind if self.text is None else f"{self.kind}: {self.text}"
        if self.file_name:
            what += f" [{self.file_name}]"
        if self.media_bytes is not None:
            what += f" ({len(self.media_bytes)} bytes decrypted)"
        return f"{self.timestamp} {arrow} {self.chat} ({self.sender}) {what} [{self.state}]"

    def to_state(self) -> dict[str, Any]:
        """Everything in the entry, JSON-ready (the message as base64 protobuf), for :meth:`from_state`."""
        return {
            "id": self.id,
            "direction": self.direction,
            "chat": str(self.chat),
            "sender": str(self.sender),
            "timestamp": self.timestamp,
            "state": self.state,
            "message": base64.b64encode(self.message.SerializeToString()).decode("ascii"),
            "receipts": dict(self.receipts),
            "detail": self.detail,
        }

    @classmethod
    def from_state(cls, data: Any) -> LogEntry:
        """The entry :meth:`to_state` described. Raises ``DecodeError`` for anything else."""
        try:
            direction, state = data["direction"], data["state"]
            if direction not in ("in", "out") or state not in _ORDER:
                raise ValueError(f"direction {direction!r} / state {state!r}")
            message = decode(Message, base64.b64decode(data["message"], validate=True))
            entry = cls.make(
                str(data["id"]),
                direction,
                parse_jid(data["chat"]),
                parse_jid(data["sender"]),
                int(data["timestamp"]),
                message,
                state,
            )
            receipts = data["receipts"]
            if not all(isinstance(k, str) and v in _ORDER for k, v in receipts.items()):
                raise ValueError("receipts")
            entry.receipts = dict(receipts)
            entry.detail = str(data["detail"])
        except (KeyError, TypeError, ValueError, AttributeError, binascii.Error, LocalProtocolError) as exc:
            raise DecodeError(f"not a phone log entry: {exc!r}") from exc
        return entry

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary (no key material; media as its kind, name and decrypted size)."""
        out: dict[str, Any] = {
            "id": self.id,
            "direction": self.direction,
            "chat": str(self.chat),
            "sender": str(self.sender),
            "timestamp": self.timestamp,
            "kind": self.kind,
            "text": self.text,
            "state": self.state,
            "receipts": dict(self.receipts),
        }
        if self.file_name is not None:
            out["file_name"] = self.file_name
        media = media_fields(self.message)
        if media is not None:
            out["mimetype"] = media[1].mimetype
            out["file_length"] = media[1].file_length
            out["file_sha256"] = base64.b64encode(media[1].file_sha256).decode()
            out["decrypted"] = self.media_bytes is not None
        if self.detail:
            out["error"] = self.detail
        return out
