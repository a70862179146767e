"""LID addressing of DMs in waproto.client.messaging, against the served sandbox, in both settings.

``addressing="lid"``: a text to a phone number goes ``to=<its LID>`` with ``peer_recipient_pn``, to the LID
device lists of the recipient and of our own LID, on Signal sessions keyed by LID; ``"pn"`` addresses
phone numbers. Either way the phone's log shows the text, its answer (the sandbox's phones answer by
phone number, with ``sender_lid``) decrypts on the same session, and a message addressed to our LID
(``from=<LID device>`` with ``sender_pn``) decrypts too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.waproto.client.test_groups import Inbox, _offline_messenger, link
from tests.waproto.client.test_sandbox import PHONE, next_event, settings_for
from tests.waproto.sandbox.interop_helpers import Served, served_sandbox
from waproto.binary import Node
from waproto.client import Client, Connected, open_client
from waproto.client.directory import Directory, MemoryLidMapStore
from waproto.client.messaging import (
    Addressing,
    CompanionSignalStore,
    Messenger,
    ReceivedMessage,
    UndecryptableMessage,
)
from waproto.errors import LocalProtocolError
from waproto.jid import DEFAULT_USER_SERVER, HIDDEN_USER_SERVER, JID
from waproto.proto import Message
from waproto.sandbox.registry import Account
from waproto.signal import ProtocolAddress

ECHO = "15550003333"
BOB = "15550004444"


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with served_sandbox(tmp_path / "state") as running:
        await running.create_account(PHONE, name="Alice")
        await running.create_account(ECHO, name="Echo", bot="echo")
        await running.create_account(BOB, name="Bob")
        yield running


def account(served: Served, phone: str) -> Account:
    return served.sandbox.network.accounts[phone].account


class Sent:
    """Records every stanza the client sends (wrapping ``send_node``)."""

    def __init__(self, client: Client) -> None:
        self.nodes: list[Node] = []
        self._original: Callable[[Node], Awaitable[None]] = client.send_node
        self._sent = trio.Event()
        client.send_node = self._send  # type: ignore[method-assign]

    async def _send(self, node: Node) -> None:
        self.nodes.append(node)
        self._sent.set()
        self._sent = trio.Event()
        await self._original(node)

    async def wait_for(self, match: Callable[[Node], bool]) -> Node:
        """The first stanza sent that ``match``es, waiting (bounded) for it."""
        with trio.fail_after(15):
            while True:
                for node in self.nodes:
                    if match(node):
                        return node
                await self._sent.wait()

    def message(self, message_id: str) -> Node:
        return next(n for n in self.nodes if n.tag == "message" and n.attrs.get("id") == message_id)

    def usync_queries(self) -> int:
        return sum(1 for n in self.nodes if n.tag == "iq" and n.attrs.get("xmlns") == "usync")


async def phone_log(served: Served, phone: str) -> list[dict[str, Any]]:
    response = await served.http.get(f"/sandbox/accounts/{phone}/messages")
    assert response.status_code == 200, response.text
    return list(response.json()["messages"])


def sessions(messenger: Messenger) -> set[ProtocolAddress]:
    assert isinstance(messenger.signal, CompanionSignalStore)
    return set(messenger.signal.sessions)


@pytest.mark.parametrize("addressing", ["lid", "pn"])
async def test_text_to_a_phone_number_and_the_reply(served: Served, addressing: Addressing) -> None:
    store = await link(served, PHONE)
    assert store.credentials is not None
    me, own_lid = store.credentials.me, store.credentials.lid
    assert me is not None
    assert own_lid is not None
    echo, alice = account(served, ECHO), account(served, PHONE)
    inbox = Inbox()
    async with open_client(settings_for(served), store.credentials, store) as client:
        messenger = Messenger(client, inbox, addressing=addressing)
        sent_nodes = Sent(client)
        assert isinstance(await next_event(client, Connected), Connected)
        with trio.fail_after(15):
            sent = await messenger.send_text(echo.jid, "hello by number")
        assert sent.to == echo.jid
        stanza = sent_nodes.message(sent.id)
        participants = stanza.child("participants")
        assert participants is not None
        written = {to.attrs["jid"] for to in participants.children}
        if addressing == "lid":
            assert stanza.attrs["to"] == echo.lid_jid
            assert stanza.attrs["peer_recipient_pn"] == echo.jid
            assert written == {echo.lid_jid, alice.lid_jid}  # the echo's phone and our own phone, by LID
            assert ProtocolAddress(f"{echo.lid}_1", 0) in sessions(messenger)
        else:
            assert stanza.attrs["to"] == echo.jid
            assert "peer_recipient_pn" not in stanza.attrs
            assert written == {echo.jid, alice.jid}
        assert set(sent.encryptions) == written
        [logged] = [m for m in await phone_log(served, ECHO) if m["id"] == sent.id]
        assert (logged["direction"], logged["text"], logged["chat"]) == ("in", "hello by number", str(alice.jid))

        # The echo answers by phone number (with sender_lid): it decrypts on the session we started.
        reply = await inbox.next()
        assert isinstance(reply, ReceivedMessage)
        assert (reply.text, reply.chat, reply.sender, reply.sender_alt) == (
            "echo: hello by number",
            echo.jid,
            echo.jid.with_device(0),
            echo.lid_jid,
        )
        # The session is keyed by the LID either way (in "pn" mode it was copied over from the number
        # once the reply told the LID).
        assert ProtocolAddress(f"{echo.lid}_1", 0) in sessions(messenger)
        if addressing == "pn":
            assert ProtocolAddress(ECHO, 0) in sessions(messenger)

        # Replies on the established session: a plain msg; the LID was resolved once.
        usyncs = sent_nodes.usync_queries()
        with trio.fail_after(15):
            again = await messenger.send_text(echo.jid, "second")
        wire = echo.lid_jid if addressing == "lid" else echo.jid
        assert again.encryptions[wire.with_device(0)] == "msg"
        assert sent_nodes.usync_queries() == usyncs + 1  # device lists only, no LID query
        second = await inbox.next()
        assert isinstance(second, ReceivedMessage)
        assert second.text == "echo: second"


@pytest.mark.parametrize("addressing", ["lid", "pn"])
async def test_messages_addressed_to_our_lid_decrypt(served: Served, addressing: Addressing) -> None:
    store = await link(served, PHONE)
    assert store.credentials is not None
    own_lid = store.credentials.lid
    assert own_lid is not None
    bob, alice = account(served, BOB), account(served, PHONE)
    inbox = Inbox()
    async with open_client(settings_for(served), store.credentials, store) as client:
        messenger = Messenger(client, inbox, addressing=addressing)
        assert isinstance(await next_event(client, Connected), Connected)
        # Bob's phone writes to our LID (the sandbox delivers it from Bob's LID device with sender_pn).
        messaging = served.sandbox.messaging
        bob_phone = await messaging.phone(BOB)
        async with messaging._lock:
            node = await bob_phone.send_message(alice.jid, Message(conversation="to your lid"), now=served.sandbox.now())
        node.attrs["to"] = alice.lid_jid
        await messaging.submit(bob_phone.device, node)
        first = await inbox.next()
        assert isinstance(first, ReceivedMessage)
        assert (first.text, first.chat, first.sender, first.sender_alt, first.from_me) == (
            "to your lid",
            bob.lid_jid,
            bob.lid_jid.with_device(0),
            bob.jid,
            False,
        )
        assert ProtocolAddress(f"{bob.lid}_1", 0) in sessions(messenger)

        # We answer to the chat as reported (Bob's LID), and by his number: both on the same session.
        with trio.fail_after(15):
            by_lid = await messenger.send_text(first.chat, "answer to the lid")
            by_number = await messenger.send_text(bob.jid, "answer to the number")
        assert by_lid.encryptions[bob.lid_jid.with_device(0)] == "msg"
        number_wire = bob.lid_jid if addressing == "lid" else bob.jid
        assert by_number.encryptions[number_wire.with_device(0)] == "msg"
        texts = {m["id"]: m["text"] for m in await phone_log(served, BOB) if m["direction"] == "in"}
        assert texts[by_lid.id] == "answer to the lid"
        assert texts[by_number.id] == "answer to the number"


async def test_a_number_without_lid_is_addressed_by_number(served: Served) -> None:
    store = await link(served, PHONE)
    assert store.credentials is not None
    async with open_client(settings_for(served), store.credentials, store) as client:
        messenger = Messenger(client, Inbox())
        assert isinstance(await next_event(client, Connected), Connected)
        assert await messenger.lids_for([JID("15559999999", DEFAULT_USER_SERVER)]) == {}
        echo = account(served, ECHO)
        assert await messenger.lids_for([echo.jid.with_device(3)]) == {echo.jid: JID(echo.lid, HIDDEN_USER_SERVER)}


def test_addressing_is_checked() -> None:
    messenger = _offline_messenger([])
    with pytest.raises(LocalProtocolError, match="addressing"):
        Messenger(messenger.client, Inbox(), addressing="phone")  # type: ignore[arg-type]


async def test_with_a_directory_lids_and_device_lists_are_cached(served: Served) -> None:
    """Given L's Directory, the Messenger takes device lists and LIDs from it: the second text to the
    same number asks the server nothing; LID pairs of incoming messages end up in its store."""
    store = await link(served, PHONE)
    assert store.credentials is not None
    echo, bob = account(served, ECHO), account(served, BOB)
    lids = MemoryLidMapStore()
    inbox = Inbox()
    async with open_client(settings_for(served), store.credentials, store) as client:
        directory = Directory(client, lid_store=lids)
        messenger = Messenger(client, inbox, directory=directory)
        sent_nodes = Sent(client)
        assert isinstance(await next_event(client, Connected), Connected)
        with trio.fail_after(15):
            first = await messenger.send_text(echo.jid, "one")
        assert sent_nodes.message(first.id).attrs["to"] == echo.lid_jid
        assert await lids.get_lids([ECHO]) == {ECHO: echo.lid}
        assert isinstance(await inbox.next(), ReceivedMessage)
        usyncs = sent_nodes.usync_queries()
        with trio.fail_after(15):
            second = await messenger.send_text(echo.jid, "two")
        assert sent_nodes.usync_queries() == usyncs  # everything came from the directory
        assert second.encryptions[echo.lid_jid.with_device(0)] == "msg"
        reply = await inbox.next()
        assert isinstance(reply, ReceivedMessage)
        assert reply.text == "echo: two"

        # Bob writes first: the directory learns his LID from the message's attributes.
        await served.sandbox.messaging.send_text(BOB, account(served, PHONE).jid, "hello")
        hello = await inbox.next()
        assert isinstance(hello, ReceivedMessage)
        assert hello.sender_alt == bob.lid_jid
        assert await lids.get_lids([BOB]) == {BOB: bob.lid}


async def test_after_a_restart_a_number_addressed_message_decrypts_on_the_stored_lid(served: Served) -> None:
    """The LID↔PN pairs a Messenger learnt are in memory only; after a restart (a new Messenger on the
    same Signal and LID stores) a message from a phone number without ``sender_lid`` finds the session kept
    under the LID through the directory's store (a store read, no query) and decrypts the first time."""
    store = await link(served, PHONE)
    assert store.credentials is not None
    bob, alice = account(served, BOB), account(served, PHONE)
    lids = MemoryLidMapStore()
    inbox = Inbox()
    async with open_client(settings_for(served), store.credentials, store) as client:
        before = Messenger(client, inbox, directory=Directory(client, lid_store=lids))
        assert isinstance(await next_event(client, Connected), Connected)
        with trio.fail_after(15):
            await before.send_text(bob.jid, "before the restart")
        assert await lids.get_lids([BOB]) == {BOB: bob.lid}
        assert ProtocolAddress(f"{bob.lid}_1", 0) in sessions(before)
        assert ProtocolAddress(BOB, 0) not in sessions(before)

        # The restart: a new Messenger (and Directory) on the same stores; nothing in memory.
        after = Messenger(client, inbox, signal_store=before.signal, directory=Directory(client, lid_store=lids))
        seen: list[Node] = []
        deliver = client.stanza_handlers["message"]

        async def without_sender_lid(node: Node) -> None:
            node.attrs.pop("sender_lid", None)
            seen.append(node)
            await deliver(node)

        client.stanza_handlers["message"] = without_sender_lid
        usyncs = Sent(client)
        await served.sandbox.messaging.send_text(BOB, alice.jid, "after the restart")
        item = await inbox.next()
        assert isinstance(item, ReceivedMessage), item
        assert (item.text, item.chat, item.sender, item.sender_alt) == (
            "after the restart",
            bob.jid,
            bob.jid.with_device(0),
            None,
        )
        [node] = seen
        assert "sender_lid" not in node.attrs
        assert usyncs.usync_queries() == 0  # the LID came from the store, not the server
        assert ProtocolAddress(BOB, 0) not in sessions(after)
        assert after.addresses.lid_of(bob.jid) == bob.lid_jid


async def test_without_a_directory_the_same_message_needs_a_retry(served: Served) -> None:
    """The control for the test above: with no directory to recall the LID from, the number-addressed
    message is looked up under the phone number, does not decrypt, and is answered with a retry receipt."""
    store = await link(served, PHONE)
    assert store.credentials is not None
    bob, alice = account(served, BOB), account(served, PHONE)
    inbox = Inbox()
    async with open_client(settings_for(served), store.credentials, store) as client:
        before = Messenger(client, inbox)
        assert isinstance(await next_event(client, Connected), Connected)
        with trio.fail_after(15):
            await before.send_text(bob.jid, "before the restart")
        after = Messenger(client, inbox, signal_store=before.signal)
        deliver = client.stanza_handlers["message"]

        async def without_sender_lid(node: Node) -> None:
            node.attrs.pop("sender_lid", None)
            await deliver(node)

        client.stanza_handlers["message"] = without_sender_lid
        sent_nodes = Sent(client)
        await served.sandbox.messaging.send_text(BOB, alice.jid, "after the restart")
        item = await inbox.next()
        assert isinstance(item, UndecryptableMessage)
        # the retry receipt goes out once the callback returned
        await sent_nodes.wait_for(lambda n: n.tag == "receipt" and n.attrs.get("type") == "retry")
        assert after.addresses.lid_of(bob.jid) is None
