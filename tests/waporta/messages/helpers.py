"""Helpers of the message tests: received messages to build from, a recording handler, the rows' state."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import trio
import trio.lowlevel
import trio.testing

from waporta.messages import (
    InboundMessage,
    InboundQueue,
)
from waproto.client.messaging import ReceivedMessage
from waproto.jid import JID
from waproto.proto import Message

PAYLOAD_KEYS = {
    "event",
    "sessionId",
    "messageId",
    "sender",
    "recipient",
    "timestamp",
    "messageType",
    "content",
    "raw",
}

ME = JID("15550001111", "s.whatsapp.net", device=7)
PEER = JID("15550002222", "s.whatsapp.net")
PEER_LID = JID("123456789012345", "lid")
GROUP = JID("120363000000000001", "g.us")


def received(**fields: Any) -> ReceivedMessage:
    text = fields.pop("text", "hello")
    base: dict[str, Any] = {
        "id": "3EB0AAAAAAAAAAAAAAAAAA",
        "chat": PEER,
        "sender": PEER.with_device(0),
        "timestamp": 1_760_000_000,
        "from_me": False,
        "kind": "text",
        "text": text,
        "message": Message(conversation=text),
        "push_name": "Bob",
    }
    base.update(fields)
    return ReceivedMessage(**base)


def inbound(**fields: Any) -> InboundMessage:
    return InboundMessage.from_received("sales", received(**fields), me=ME)



class Recorder:
    """A handler that records calls; with ``gate``, each call waits for it first (a slow plugin)."""

    def __init__(self, *, fail_on: str | None = None, gate: trio.Event | None = None) -> None:
        self.calls: list[tuple[str, InboundMessage]] = []
        self.fail_on = fail_on
        self.gate = gate
        #: Set when the first call has started.
        self.entered = trio.Event()
        #: Set (and replaced) at the end of each call.
        self.called = trio.Event()

    async def __call__(self, session_id: str, message: InboundMessage) -> None:
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        self.calls.append((session_id, message))
        self.called.set()
        self.called = trio.Event()
        if message.message_id == self.fail_on:
            raise RuntimeError("a plugin broke")

    @property
    def ids(self) -> list[str]:
        return [m.message_id for _, m in self.calls]


def handled(db_file: Path) -> list[tuple[str, bool]]:
    with sqlite3.connect(db_file) as conn:
        rows = conn.execute("SELECT message_id, handled_at IS NOT NULL FROM inbound_messages ORDER BY seq")
        return [(m, bool(h)) for m, h in rows]


async def drained(queue: InboundQueue) -> None:
    with trio.fail_after(30):
        await queue.drained()


async def handed_on(recorder: Recorder, count: int) -> None:
    with trio.fail_after(30):
        while len(recorder.calls) < count:
            await recorder.called.wait()
