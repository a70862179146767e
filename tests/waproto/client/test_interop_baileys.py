"""Real Baileys 6 and 7 chatting with our waproto client through the sandbox (issue #6, interop acceptance).

The sandbox runs in this process on 127.0.0.1 (as in ``tests/waproto/sandbox/test_interop_messaging.py``);
a Baileys socket in the Node harness links to one sandbox account by QR, our ``Client`` with a
``Messenger`` links to another (as in ``test_messaging``), and texts go both ways: Baileys decrypts what
our client encrypted (a prekey message with our device identity first, then on the established session)
and our Messenger decrypts what Baileys sent. One Baileys version per test (the harness shares one
protobuf root between versions). Real sockets and real time, so every wait is bounded.

This module is NOT the sandbox's own Baileys tests (``tests/waproto/sandbox/test_interop_*``) nor our
client against the sandbox's simulated phones (``test_messaging``).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.interop.harness import Harness
from tests.waproto.client.test_sandbox import next_event, settings_for
from tests.waproto.sandbox.interop_helpers import Served, Sock, call, served_sandbox
from waproto.client import Connected, MemoryClientStore, Paired, QRCode, open_client
from waproto.client.messaging import Messenger, ReceivedMessage, UndecryptableMessage
from waproto.credentials import Credentials
from waproto.jid import DEFAULT_USER_SERVER, JID

pytestmark = pytest.mark.interop

VERSIONS = ["v6", "v7"]
#: The account Baileys links to, and the one our client links to.
BAILEYS_PHONE = "15550001111"
OUR_PHONE = "15550002222"

Item = ReceivedMessage | UndecryptableMessage


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with served_sandbox(tmp_path / "state") as running:
        await running.create_account(BAILEYS_PHONE, name="Baileys")
        await running.create_account(OUR_PHONE, name="Waporta")
        yield running


# ------------------------------------------------------------------------------------------ helpers


def text_of(message: dict[str, Any] | None) -> str | None:
    """The text of a message as Baileys' events record it (protobuf JSON), or None."""
    if not message:
        return None
    if "conversation" in message:
        return str(message["conversation"])
    extended = message.get("extendedTextMessage")
    return None if extended is None else str(extended.get("text"))


def received_texts(sock: Sock) -> list[str]:
    """Every text Baileys received from others (not its own), in arrival order."""
    found = []
    for event in sock.events:
        if event["type"] == "messages.upsert":
            for m in event["messages"]:
                text = text_of(m.get("message"))
                if text is not None and not m["key"].get("fromMe"):
                    found.append(text)
    return found


async def link_baileys(baileys: Harness, served: Served, version: str, **options: Any) -> Sock:
    """A Baileys socket linked to ``BAILEYS_PHONE`` by QR and logged in again after the 515 restart."""
    sock = await Sock.create(baileys, version, served.ws_url, **options)
    response = await served.post(f"/sandbox/accounts/{BAILEYS_PHONE}/scan", {"qr": await sock.wait_qr()})
    assert response.status_code == 200, response.text
    restart = await sock.wait_close()
    await sock.wait_open(after=restart["n"])
    return sock


async def link_ours(served: Served) -> MemoryClientStore:
    """Credentials of a companion linked to ``OUR_PHONE`` by QR (the client is closed afterwards)."""
    creds = Credentials.generate(secrets.token_bytes, push_name="waporta")
    store = MemoryClientStore(creds)
    async with open_client(settings_for(served), creds, store) as client:
        qr = await next_event(client, QRCode)
        assert isinstance(qr, QRCode)
        response = await served.post(f"/sandbox/accounts/{OUR_PHONE}/scan", {"qr": qr.qr})
        assert response.status_code == 200, response.text
        assert isinstance(await next_event(client, Paired), Paired)
        assert isinstance(await next_event(client, Connected), Connected)
    return store


class Inbox:
    """Our Messenger's callback: every item, in order, readable with a bounded wait."""

    def __init__(self) -> None:
        self._send, self._receive = trio.open_memory_channel[Item](64)

    async def __call__(self, item: Item) -> None:
        await self._send.send(item)

    async def next_text(self, *, seconds: float = 20) -> ReceivedMessage:
        """The next received message that has text (others, such as protocol messages, are skipped)."""
        with trio.fail_after(seconds):
            while True:
                item = await self._receive.receive()
                assert not isinstance(item, UndecryptableMessage), item
                if item.text is not None:
                    return item


@asynccontextmanager
async def our_messenger(served: Served, store: MemoryClientStore) -> AsyncIterator[tuple[Messenger, Inbox]]:
    """Our client logged in again from ``store`` with a running Messenger, for the block."""
    assert store.credentials is not None
    inbox = Inbox()
    async with (
        open_client(settings_for(served), store.credentials, store) as client,
        trio.open_nursery() as nursery,
    ):
        messenger = Messenger(client, inbox)
        await nursery.start(messenger.run)
        assert isinstance(await next_event(client, Connected), Connected)
        yield messenger, inbox
        nursery.cancel_scope.cancel()


# ------------------------------------------------------------------------------------------ texts


@pytest.mark.parametrize("version", VERSIONS)
async def test_texts_both_ways(baileys: Harness, served: Served, version: str) -> None:
    store = await link_ours(served)
    sock = await link_baileys(baileys, served, version)
    baileys_user = JID(BAILEYS_PHONE, DEFAULT_USER_SERVER)
    try:
        async with our_messenger(served, store) as (messenger, inbox):
            # We write first: Baileys decrypts our prekey message (with our device identity).
            with trio.fail_after(20):
                first = await messenger.send_text(baileys_user, f"hello {version} from waporta")
            assert first.status == "sent"
            baileys_device = [d for d in first.encryptions if d.user == BAILEYS_PHONE and d.device != 0]
            assert len(baileys_device) == 1, first.encryptions  # the Baileys companion was a recipient
            await sock.wait_for(lambda e: f"hello {version} from waporta" in received_texts(sock))
            [upsert] = [
                m
                for e in sock.events
                if e["type"] == "messages.upsert"
                for m in e["messages"]
                if text_of(m.get("message")) == f"hello {version} from waporta"
            ]
            assert upsert["key"]["id"] == first.id
            assert not upsert["key"]["fromMe"]
            assert JID.parse(upsert["key"]["remoteJid"]).user == OUR_PHONE

            # Baileys answers on the session our prekey message started.
            sent = await call(
                baileys,
                "sock.sendMessage",
                h=sock.handle,
                jid=f"{OUR_PHONE}@s.whatsapp.net",
                content={"text": f"hi waporta, {version} here"},
            )
            reply = await inbox.next_text()
            assert reply.text == f"hi waporta, {version} here"
            assert reply.id == sent["key"]["id"]
            assert reply.chat.user == BAILEYS_PHONE
            assert reply.sender.user == BAILEYS_PHONE
            assert reply.sender == baileys_device[0]
            assert not reply.from_me

            # And again both ways on the established sessions (plain ``msg`` to the Baileys device).
            with trio.fail_after(20):
                second = await messenger.send_text(baileys_user, "second from waporta")
            assert second.encryptions[baileys_device[0]] == "msg"
            await sock.wait_for(lambda e: "second from waporta" in received_texts(sock))
            await call(
                baileys,
                "sock.sendMessage",
                h=sock.handle,
                jid=f"{OUR_PHONE}@s.whatsapp.net",
                content={"text": "second from Baileys"},
            )
            again = await inbox.next_text()
            assert again.text == "second from Baileys"
            assert received_texts(sock) == [f"hello {version} from waporta", "second from waporta"]
    finally:
        await sock.end()


@pytest.mark.parametrize("version", VERSIONS)
async def test_baileys_writes_first(baileys: Harness, served: Served, version: str) -> None:
    """Baileys starts the conversation: our Messenger decrypts its prekey message (one of our one-time
    prekeys) and our answer reaches Baileys on that session."""
    store = await link_ours(served)
    sock = await link_baileys(baileys, served, version)
    try:
        async with our_messenger(served, store) as (messenger, inbox):
            prekeys = len(store.pre_keys)
            await call(
                baileys,
                "sock.sendMessage",
                h=sock.handle,
                jid=f"{OUR_PHONE}@s.whatsapp.net",
                content={"text": "first contact"},
            )
            first = await inbox.next_text()
            assert first.text == "first contact"
            assert len(store.pre_keys) < prekeys  # Baileys used one of our one-time prekeys
            with trio.fail_after(20):
                answer = await messenger.send_text(first.chat, "got it")
            assert answer.encryptions[first.sender] == "msg"
            await sock.wait_for(lambda e: "got it" in received_texts(sock))
    finally:
        await sock.end()
