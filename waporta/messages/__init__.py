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

The package, by concept (every name re-exported here): ``waporta.messages.inbound`` (the message and
its payload), ``waporta.messages.storage`` (the ``inbound_messages`` table), ``waporta.messages.queue``
(:class:`InboundQueue`).

This package is NOT the protocol (``waproto.client.messaging`` decrypts and receipts), the supervisor
(``waporta.sessions`` wires a queue to each session) or webhook delivery (a plugin of the hook).
"""

from __future__ import annotations

from waporta.messages.inbound import EVENT, REDACTED, SECRET_KEY_RE, InboundMessage, message_to_dict, redact
from waporta.messages.queue import InboundQueue, MessageHandler
from waporta.messages.storage import find_inbound, load_pending, mark_handled, store_inbound

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
