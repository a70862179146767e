"""Helpers of the session tests: the sandbox's accounts, linking, waiting for statuses, recording what
the supervisor hands on, spying on receipts."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import trio

from tests.waproto.sandbox.interop_helpers import Served
from waporta import hookimpl
from waporta.hub import Hub
from waporta.messages import InboundMessage
from waporta.sessions import Session, Sessions
from waporta.storage.stores import SESSION_TABLES
from waproto.binary import Node
from waproto.client import ClientSettings
from waproto.client.messaging import SentMessage
from waproto.jid import DEFAULT_USER_SERVER, JID
from waproto.proto import Message
from waproto.sandbox.phone import Received, SimPhone

PHONE = "15550003333"
ECHO = "15550005555"
ECHO_JID = JID(ECHO, DEFAULT_USER_SERVER)


def settings_for(served: Served) -> ClientSettings:
    return ClientSettings(
        url=served.ws_url,
        noise_root_public_key=served.sandbox.root_public_key,
        backoff_initial=0.05,
        backoff_max=0.5,
    )


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def __call__(self, session_id: str, status: str) -> None:
        self.calls.append((session_id, status))


async def wait_for(session: Session, status: str, *, seconds: float = 15) -> None:
    with trio.fail_after(seconds):
        await session.wait_status(status)


async def wait_qr(session: Session) -> str:
    await wait_for(session, "qr")
    assert session.qr is not None
    return session.qr


async def link_by_qr(served: Served, sessions: Sessions, session_id: str) -> Session:
    session = await sessions.create(session_id)
    qr = await wait_qr(session)
    assert session.status == "qr"
    response = await served.post(f"/sandbox/accounts/{PHONE}/scan", {"qr": qr})
    assert response.status_code == 200, response.text
    await wait_for(session, "connected")
    assert session.jid == response.json()["jid"]
    assert session.qr is None
    return session


def rows(db_file: Path, session_id: str) -> int:
    with sqlite3.connect(db_file) as conn:
        return sum(
            conn.execute(f"SELECT count(*) FROM {table} WHERE session_id = ?", (session_id,)).fetchone()[0]
            for table in SESSION_TABLES
        )


class Inbox:
    """``on_message``: records each message handed on."""

    def __init__(self) -> None:
        self.messages: list[InboundMessage] = []
        self._arrived = trio.Event()

    async def __call__(self, session_id: str, message: InboundMessage) -> None:
        assert session_id == message.session_id
        self.messages.append(message)
        self._arrived.set()
        self._arrived = trio.Event()

    async def next(self, *, after: int = 0) -> InboundMessage:
        """The first message with index >= ``after``, waiting for it."""
        with trio.fail_after(15):
            while len(self.messages) <= after:
                await self._arrived.wait()
        return self.messages[after]


def stored(db_file: Path, message_id: str) -> list[tuple[str, str, str]]:
    with sqlite3.connect(db_file) as conn:
        rows = conn.execute(
            "SELECT session_id, chat, sender FROM inbound_messages WHERE message_id = ?", (message_id,)
        )
        return [tuple(row) for row in rows]


class ReceiptSpy:
    """Records the delivery receipts a sandbox phone receives from device ``device`` (of any account)
    and, at that moment, whether the hub had the message committed in ``inbound_messages``."""

    def __init__(self, phone: SimPhone, db_file: Path, device: int) -> None:
        self.db_file = db_file
        self.device = device
        self.receipts: list[tuple[Node, bool]] = []
        self._arrived = trio.Event()
        self._original = phone.receive
        phone.receive = self._receive  # type: ignore[method-assign]

    async def _receive(self, node: Node, *, now: int) -> Received:
        sender = node.attrs.get("from")
        if (
            node.tag == "receipt"
            and node.attrs.get("type") is None
            and isinstance(sender, JID)
            and sender.device == self.device
        ):
            committed = bool(stored(self.db_file, str(node.attrs.get("id"))))
            self.receipts.append((node, committed))
            self._arrived.set()
            self._arrived = trio.Event()
        return await self._original(node, now=now)

    async def receipts_for(self, message_id: str, count: int = 1) -> list[bool]:
        """Whether the message was committed at each of its first ``count`` receipts (waiting for them)."""
        with trio.fail_after(15):
            while True:
                found = [committed for node, committed in self.receipts if node.attrs.get("id") == message_id]
                if len(found) >= count:
                    return found
                await self._arrived.wait()


def echo_kinds(served: Served, sent: SentMessage) -> list[str]:
    """The ``<enc>`` types of a send for the echo's devices (PN or LID addressed)."""
    users = {ECHO, served.sandbox.network.accounts[ECHO].lid}
    kinds = [kind for device, kind in sent.encryptions.items() if device.user in users]
    assert kinds
    return kinds


async def send(sessions: Sessions, session_id: str, text: str, **kwargs: Any) -> SentMessage:
    with trio.fail_after(15):
        return await sessions.send(session_id, ECHO_JID, Message(conversation=text), **kwargs)


class FakeMessenger:
    """Stands in for a session's Messenger: every send raises ``error``."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.ids: list[str | None] = []

    def new_message_id(self) -> str:
        return "3EB0FAKE"

    async def send_message(self, to: JID, message: Message, **kwargs: Any) -> SentMessage:
        self.ids.append(kwargs.get("message_id"))
        raise self.error


class MessagePlugin:
    """A plugin recording ``message_received`` calls (and their payloads)."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []
        self.arrived = trio.Event()

    @hookimpl
    async def message_received(self, hub: Hub, session_id: str, message: InboundMessage) -> None:
        self.payloads.append({"session_id": session_id, **message.as_payload()})
        self.arrived.set()
