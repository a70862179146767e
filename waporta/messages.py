"""The hub's inbound message pipeline: what a received message looks like to plugins, and how it gets there.

**The message.** Each message a session decrypts becomes an :class:`InboundMessage`: immutable, typed, and
with :meth:`InboundMessage.as_payload` returning exactly the original gateway's webhook payload::

    {"event": "message.received", "sessionId", "messageId", "sender", "recipient", "timestamp",
     "messageType", "content", "raw"}

``raw`` has the shape of a Baileys ``WAMessage`` (``{key: {remoteJid, fromMe, id, participant?},
message, messageTimestamp, pushName?}``, the protobuf as JSON with camelCase names and bytes in base64),
so users moving from the Node gateway see what they know. Keys named like secrets (``authorization``,
``x-api-key``, ``apikey``, ``token``, ``password``, ``secret``, any case) are replaced by ``"[REDACTED]"``
at any depth of ``content`` and ``raw``, as the original does.

**The pipeline** (DESIGN.md "Data": committed before acknowledged). :class:`InboundQueue` is one session's
pipeline. :meth:`InboundQueue.accept` runs inside the Messenger's callback, in the client's read loop: it
commits the message to ``inbound_messages`` (migration 0003) and returns, and only then does the Messenger
send WhatsApp the delivery receipt. It never waits for a plugin. The committed message is then handed
over in memory to :meth:`InboundQueue.run`, one task per session, which passes it to the
``message_received`` hook in arrival order, one at a time, without reading it back: the table is the
source of truth only for what a restart must replay (on start, ``run`` first hands on the rows earlier
runs left unhandled, up to the newest row committed at that moment, and skips those in memory). A row is
marked handled once the hook has run for it; the marks are written in batches, riding on the next
message's commit or, when messages stop, in one ``UPDATE`` of their own. Consequences:

- a message redelivered with the same key ``(chat, sender, id)`` (WhatsApp resends what was not
  receipted, e.g. after a crash between the commit and the receipt; a resend answering a retry receipt)
  is receipted again but NOT handed to the hooks a second time;
- a message committed but not yet handled when the hub stopped or crashed is handed to the hooks when the
  session starts again (at-least-once: a plugin that must never see a message twice de-duplicates by
  ``messageId``; after a crash, those handed on in the last ``flush_after`` seconds without their marks
  written are handed on again; a stop writes them);
- a slow plugin delays later messages of the same session, never the session's connection or other
  sessions.

This module is NOT the protocol (``waproto.client.messaging`` decrypts and receipts), the supervisor
(``waporta.sessions`` wires a queue to each session) or webhook delivery (a plugin of the hook).
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

import trio
from google.protobuf import json_format

from waporta.storage import Database
from waproto.client.messaging import ReceivedMessage
from waproto.content import classify, describe
from waproto.errors import LocalProtocolError
from waproto.jid import JID, parse_jid
from waproto.proto import Message

__all__ = [
    "EVENT",
    "REDACTED",
    "SECRET_KEY_RE",
    "InboundMessage",
    "InboundQueue",
    "MessageHandler",
    "find_inbound",
    "load_pending",
    "mark_handled",
    "message_to_dict",
    "redact",
    "store_inbound",
]

log = logging.getLogger("waporta.messages")

#: The payload's ``event``.
EVENT: Final = "message.received"
#: What a secret-named value is replaced with.
REDACTED: Final = "[REDACTED]"
#: Keys whose values are redacted at any depth of ``content`` and ``raw`` (the whole key, any case).
SECRET_KEY_RE: Final = re.compile(
    r"\A(?:authorization|x-api-key|apikey|token|password|secret)\Z", re.IGNORECASE
)

#: Receives each committed message, in order: ``(session_id, message)`` (the hub passes the plugins' hook).
MessageHandler = Callable[[str, "InboundMessage"], Awaitable[None]]


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


# ---------------------------------------------------------------------- storage


async def store_inbound(
    db: Database, message: InboundMessage, *, received_at: float, handled: Collection[int] = (), handled_at: float = 0.0
) -> int | None:
    """Commit ``message`` to ``inbound_messages``; its row's ``seq``, or None (nothing written) when its
    key is already there (a redelivery). The rows ``handled`` are marked handled (at ``handled_at``) in
    the same transaction, whether the message was new or not."""
    record = message.to_record_json()
    params = (
        message.session_id,
        str(message.chat),
        str(message.sender),
        message.message_id,
        record,
        received_at,
    )
    marks = _mark_statement(handled, handled_at)

    def insert(conn: sqlite3.Connection) -> int | None:
        cursor = conn.execute(
            "INSERT INTO inbound_messages (session_id, chat, sender, message_id, payload, received_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            params,
        )
        seq = cursor.lastrowid if cursor.rowcount == 1 else None
        if marks is not None:
            conn.execute(*marks)
        return seq

    return await db.write(insert)


def _mark_statement(seqs: Collection[int], handled_at: float) -> tuple[str, tuple[Any, ...]] | None:
    if not seqs:
        return None
    places = ",".join("?" * len(seqs))
    return f"UPDATE inbound_messages SET handled_at = ? WHERE seq IN ({places})", (handled_at, *seqs)


def _decode_rows(rows: list[tuple[int, str]]) -> list[tuple[int, InboundMessage | None]]:
    out: list[tuple[int, InboundMessage | None]] = []
    for seq, payload in rows:
        try:
            out.append((seq, InboundMessage.from_record(json.loads(payload))))
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            log.error("inbound message row %d is unreadable (%s); skipped", seq, exc)
            out.append((seq, None))
    return out


#: Above every ``seq`` (SQLite's largest rowid).
_MAX_SEQ: Final = 2**63 - 1


def _select_pending(
    conn: sqlite3.Connection, session_id: str, after: int, until: int | None, limit: int
) -> list[tuple[int, str]]:
    return list(
        conn.execute(
            "SELECT seq, payload FROM inbound_messages WHERE session_id = ? AND handled_at IS NULL "
            "AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
            (session_id, after, _MAX_SEQ if until is None else until, limit),
        )
    )


async def load_pending(
    db: Database, session_id: str, *, limit: int = 64, after: int = 0, until: int | None = None
) -> list[tuple[int, InboundMessage | None]]:
    """Up to ``limit`` committed messages of ``session_id`` the hooks have not had yet, oldest first, as
    ``(seq, message)``, with ``after < seq <= until`` (no upper bound when ``until`` is None);
    ``message`` is None for a row that no longer reads (it is to be skipped)."""
    rows = await db.read(lambda conn: _select_pending(conn, session_id, after, until, limit))
    return _decode_rows(rows)


async def _load_replay(
    db: Database, session_id: str, *, limit: int
) -> tuple[int, list[tuple[int, InboundMessage | None]]]:
    """In one snapshot: the largest ``seq`` committed so far (0 when none) and the first ``limit`` rows of
    ``session_id`` not handled yet up to it."""

    def select(conn: sqlite3.Connection) -> tuple[int, list[tuple[int, str]]]:
        (until,) = conn.execute("SELECT coalesce(max(seq), 0) FROM inbound_messages").fetchone()
        return int(until), _select_pending(conn, session_id, 0, int(until), limit)

    until, rows = await db.read(select)
    return until, _decode_rows(rows)


async def mark_handled(db: Database, seqs: Collection[int], *, handled_at: float) -> None:
    """Record, in one statement, that the hooks have had the messages of the rows ``seqs``."""
    marks = _mark_statement(seqs, handled_at)
    if marks is not None:
        await db.write(lambda conn: conn.execute(*marks))


async def find_inbound(db: Database, session_id: str, message_id: str) -> InboundMessage | None:
    """The latest message ``session_id`` received with this id, or None."""

    def select(conn: sqlite3.Connection) -> list[tuple[int, str]]:
        return list(
            conn.execute(
                "SELECT seq, payload FROM inbound_messages WHERE session_id = ? AND message_id = ? "
                "ORDER BY seq DESC LIMIT 1",
                (session_id, message_id),
            )
        )

    found = _decode_rows(await db.read(select))
    return found[0][1] if found else None


# ---------------------------------------------------------------------- the per-session queue


class InboundQueue:
    """One session's pipeline (see the module docstring): :meth:`accept` commits and hands the committed
    message over in memory, :meth:`run` replays what earlier runs left unhandled and then passes what
    :meth:`accept` hands over to ``handler``, in order.

    Rows are marked handled without a write of their own while messages keep coming: the next
    :meth:`accept` records the marks in its own transaction. :meth:`run` writes them itself once
    ``batch`` are waiting, after ``flush_after`` seconds without a new message, when :meth:`drained` is
    awaited, and when it is cancelled. A mark lost in a crash only means the message is handed on again
    after the restart (at-least-once, as the module docstring says).
    """

    def __init__(
        self,
        db: Database,
        session_id: str,
        handler: MessageHandler | None,
        *,
        now: Callable[[], float] = time.time,
        batch: int = 64,
        flush_after: float = 1.0,
    ) -> None:
        self.db = db
        self.session_id = session_id
        self.handler = handler
        self._now = now
        self._batch = batch
        self._flush_after = flush_after
        #: Committed by :meth:`accept`, not yet taken by :meth:`run`: ``(seq, message)`` in commit order.
        self._ready: deque[tuple[int, InboundMessage]] = deque()
        #: Rows handed on whose mark is not written yet.
        self._marks: list[int] = []
        #: The largest ``seq`` committed (by anyone) when :meth:`run` started: rows up to it are replayed
        #: from the table, so what ``_ready`` holds up to it is skipped. None until :meth:`run` has looked.
        self._replay_until: int | None = None
        self._wake = trio.Event()
        self._idle = trio.Event()
        self._flush_wanted = False

    async def accept(self, message: InboundMessage) -> bool:
        """Commit ``message``; True when it is new (it will reach the handler), False for a redelivery.

        Returns once the row is committed (with the marks of rows handed on so far); never waits for the
        handler. A storage error propagates: the caller must then not acknowledge the message.
        """
        marks, self._marks = self._marks, []
        try:
            # Shielded: a row committed is always handed over too (a cancellation comes after).
            with trio.CancelScope(shield=True):
                seq = await store_inbound(
                    self.db, message, received_at=self._now(), handled=marks, handled_at=self._now()
                )
        except BaseException:
            self._marks[:0] = marks  # not recorded: still to be written
            raise
        if seq is None:
            log.info(
                "session %s: message %s again (already stored): not handed on twice",
                self.session_id,
                message.message_id,
            )
            return False
        self._ready.append((seq, message))
        if self._idle.is_set():
            self._idle = trio.Event()
        self._wake.set()
        return True

    async def drained(self) -> None:
        """Wait until :meth:`run` has handed on every committed message, recorded that, and waits for more."""
        while True:
            idle = self._idle
            if not idle.is_set():
                self._flush_wanted = True
                self._wake.set()
            await idle.wait()
            if idle is self._idle:
                return

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Hand every committed, unhandled message to the handler, oldest first, until cancelled: first
        those left over from earlier runs (read back from the table), then each one :meth:`accept`
        commits (handed over in memory)."""
        task_status.started()
        try:
            until, pending = await _load_replay(self.db, self.session_id, limit=self._batch)
            self._replay_until = until
            while pending:
                await self._hand_on(pending)
                after = pending[-1][0]
                pending = await load_pending(self.db, self.session_id, limit=self._batch, after=after, until=until)
            while True:
                if self._ready:
                    batch: list[tuple[int, InboundMessage | None]] = []
                    while self._ready and len(batch) < self._batch:
                        seq, message = self._ready.popleft()
                        if seq > until:  # else the replay above had it
                            batch.append((seq, message))
                    await self._hand_on(batch)
                    continue
                self._wake = trio.Event()
                if self._marks:
                    with trio.move_on_after(self._flush_after) as waiting:
                        if not self._flush_wanted:
                            await self._wake.wait()
                    if self._ready and not self._flush_wanted:
                        continue  # the accept that woke us carries the marks
                    if waiting.cancelled_caught or self._flush_wanted or not self._ready:
                        await self._flush()
                    continue
                self._flush_wanted = False
                self._idle.set()
                await self._wake.wait()
        finally:
            if self._marks:
                with trio.CancelScope(shield=True):
                    try:
                        await self._flush()
                    except Exception:
                        log.exception("session %s: marking messages handled failed", self.session_id)

    async def _hand_on(self, batch: list[tuple[int, InboundMessage | None]]) -> None:
        """Pass ``batch`` to the handler in order (None: an unreadable row, skipped), each row then due
        for its mark; write the marks once ``batch`` are due."""
        for seq, message in batch:
            if message is not None and self.handler is not None:
                try:
                    await self.handler(self.session_id, message)
                except Exception:
                    log.exception(
                        "session %s: the handler failed on message %s",
                        self.session_id,
                        message.message_id,
                    )
            self._marks.append(seq)
        if len(self._marks) >= self._batch:
            await self._flush()

    async def _flush(self) -> None:
        """Write the due marks (shielded: what was handed on is recorded as handed on)."""
        marks, self._marks = self._marks, []
        with trio.CancelScope(shield=True):
            try:
                await mark_handled(self.db, marks, handled_at=self._now())
            except BaseException:
                self._marks[:0] = marks
                raise
