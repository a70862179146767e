"""waproto.client.messaging end to end against the sandbox served on 127.0.0.1.

Our client is linked by QR (as in ``test_sandbox``), sends texts to an echo account and receives the
echoes; the sandbox's simulated phones log what they decrypted. Real sockets and real time, so every
wait is bounded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.interop.harness import Harness as BaileysHarness
from tests.waproto.client.test_sandbox import PHONE, link_by_qr, next_event, settings_for
from tests.waproto.sandbox.interop_helpers import Served, served_sandbox
from waproto.binary import Node, unmarshal
from waproto.client import Client, ClientSettings, Connected, MemoryClientStore, open_client
from waproto.client.messaging import (
    Addressing,
    MessageStatus,
    Messenger,
    ReceivedMessage,
    UndecryptableMessage,
)
from waproto.credentials import Credentials
from waproto.errors import NotOnWhatsApp
from waproto.jid import DEFAULT_USER_SERVER, JID
from waproto.proto import Message, decode
from waproto.sandbox.phone import Received, SimPhone
from waproto.signal import unpad

ECHO = "15550003333"

Item = ReceivedMessage | UndecryptableMessage


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with served_sandbox(tmp_path / "state") as running:
        await running.create_account(PHONE, name="Alice")
        await running.create_account(ECHO, name="Echo", bot="echo")
        yield running


async def linked(served: Served) -> MemoryClientStore:
    creds = Credentials.generate(secrets.token_bytes, push_name="waporta")
    store = MemoryClientStore(creds)
    await link_by_qr(served, store, creds)
    return store


class Inbox:
    """The messenger's callbacks: records each item, and what the echo phone's log said at that moment;
    and each receipt status."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self.send, self.receive = trio.open_memory_channel[Item](16)
        self.echo_receipts_seen: dict[str, dict[str, str]] = {}
        self.statuses: list[MessageStatus] = []
        self._status_arrived = trio.Event()

    async def status(self, status: MessageStatus) -> None:
        self.statuses.append(status)
        self._status_arrived.set()
        self._status_arrived = trio.Event()

    async def status_for(self, message_id: str) -> MessageStatus:
        with trio.fail_after(15):
            while True:
                for status in self.statuses:
                    if message_id in status.ids:
                        return status
                await self._status_arrived.wait()

    async def __call__(self, item: Item) -> None:
        echo = await self.served.sandbox.messaging.phone(ECHO)
        entry = echo.find(item.id, "out")
        if entry is not None:
            self.echo_receipts_seen[item.id] = dict(entry.receipts)
        await self.send.send(item)

    @staticmethod
    async def discard(item: Item) -> None:
        return None

    async def next(self) -> Item:
        with trio.fail_after(15):
            return await self.receive.receive()


class PhoneSpy:
    """Records the receipts a sandbox phone receives (wrapping its ``receive``)."""

    def __init__(self, phone: SimPhone) -> None:
        self.receipts: list[Node] = []
        self._arrived = trio.Event()
        self._original = phone.receive
        phone.receive = self._receive  # type: ignore[method-assign]

    async def _receive(self, node: Node, *, now: int) -> Received:
        received = await self._original(node, now=now)  # the phone has taken it in when the spy tells
        if node.tag == "receipt":
            self.receipts.append(node)
            self._arrived.set()
            self._arrived = trio.Event()
        return received

    async def receipt(self, message_id: str, kind: str | None = None, *, sender: JID | None = None) -> Node:
        """The first receipt for ``message_id`` (of ``kind``; from ``sender`` when given), waiting for it
        if need be."""
        with trio.fail_after(15):
            while True:
                for node in self.receipts:
                    if (
                        node.attrs.get("id") == message_id
                        and node.attrs.get("type") == kind
                        and (sender is None or node.attrs.get("from") == sender)
                    ):
                        return node
                await self._arrived.wait()


async def connected_messenger(client: Client, inbox: Inbox, addressing: Addressing = "pn") -> Messenger:
    messenger = Messenger(client, inbox, on_receipt=inbox.status, addressing=addressing)
    assert isinstance(await next_event(client, Connected), Connected)
    return messenger


def addressed(served: Served, phone: str, addressing: Addressing) -> JID:
    """The user JID messages to ``phone`` are addressed to: its LID in "lid" mode, else its number."""
    account = served.sandbox.network.accounts[phone].account
    return account.lid_jid if addressing == "lid" else account.jid


@pytest.mark.parametrize("addressing", ["pn", "lid"])
async def test_text_to_echo_and_back(served: Served, addressing: Addressing) -> None:
    store = await linked(served)
    assert store.credentials is not None
    inbox = Inbox(served)
    echo_jid = JID(ECHO, DEFAULT_USER_SERVER)
    echo_wire = addressed(served, ECHO, addressing)
    async with open_client(settings_for(served), store.credentials, store) as client:
        messenger = await connected_messenger(client, inbox, addressing)
        spy = PhoneSpy(await served.sandbox.messaging.phone(ECHO))
        with trio.fail_after(15):
            sent = await messenger.send_text(echo_jid, "hello sandbox")
        assert sent.status == "sent"
        assert sent.to == echo_jid
        assert sent.id.startswith("3EB0")
        assert len(sent.id) == 22
        # The echo's phone and our own phone each got a prekey message (our own one wrapped).
        assert sent.encryptions == {
            echo_wire.with_device(0): "pkmsg",
            addressed(served, PHONE, addressing): "pkmsg",
        }

        echo_phone = await served.sandbox.messaging.phone(ECHO)
        logged = echo_phone.find(sent.id, "in")
        assert logged is not None
        assert (logged.kind, logged.text) == ("text", "hello sandbox")
        assert logged.sender == client.credentials.me
        own_phone = await served.sandbox.messaging.phone(PHONE)
        mirrored = own_phone.find(sent.id, "out")
        assert mirrored is not None  # device-sent copy, unwrapped by our own phone
        assert (mirrored.chat, mirrored.text) == (echo_wire, "hello sandbox")

        echoed = await inbox.next()
        assert isinstance(echoed, ReceivedMessage)
        assert (echoed.kind, echoed.text, echoed.chat, echoed.from_me) == (
            "text",
            "echo: hello sandbox",
            echo_jid,
            False,
        )
        assert echoed.sender == echo_jid.with_device(0)  # the sandbox's phones always answer by number
        assert echoed.sender_alt == served.sandbox.network.accounts[ECHO].account.lid_jid
        assert not echoed.group
        assert echoed.push_name == "Echo"
        # The delivery receipt went out only after the callback had the message.
        me = client.credentials.me
        assert me is not None
        assert str(me) not in inbox.echo_receipts_seen[echoed.id]
        await spy.receipt(echoed.id, sender=me)  # our own phone receipts the echo too
        entry = echo_phone.find(echoed.id, "out")
        assert entry is not None
        assert entry.receipts[str(me)] == "delivered"

        # The echo's phone said "delivered" for our text: a status for it (from the address we wrote to).
        status = await inbox.status_for(sent.id)
        assert (status.status, status.device, status.chat) == (
            "delivered",
            echo_wire.with_device(0),
            echo_wire,
        )

        # The second text reuses the session with the echo (which answered on it): a plain msg, no bundle.
        bundles_left = len(served.sandbox.network.accounts[ECHO].pre_keys)
        with trio.fail_after(15):
            again = await messenger.send_text(echo_jid, "second")
        assert again.encryptions[echo_wire.with_device(0)] == "msg"
        assert len(served.sandbox.network.accounts[ECHO].pre_keys) == bundles_left
        second = echo_phone.find(again.id, "in")
        assert second is not None
        assert second.text == "second"
        reply = await inbox.next()
        assert isinstance(reply, ReceivedMessage)
        assert reply.text == "echo: second"


async def test_text_to_a_number_not_on_whatsapp_fails(served: Served) -> None:
    store = await linked(served)
    assert store.credentials is not None
    inbox = Inbox(served)
    async with open_client(settings_for(served), store.credentials, store) as client:
        messenger = await connected_messenger(client, inbox)
        with trio.fail_after(15), pytest.raises(NotOnWhatsApp, match="15559999999"):
            await messenger.send_text(JID("15559999999", DEFAULT_USER_SERVER), "anyone?")
    own_phone = await served.sandbox.messaging.phone(PHONE)
    assert own_phone.log == []  # nothing was sent, not even the device-sent copy


async def test_undecryptable_message_is_reported_and_retried(served: Served) -> None:
    store = await linked(served)
    assert store.credentials is not None
    me = store.credentials.me
    assert me is not None
    inbox = Inbox(served)
    async with open_client(settings_for(served), store.credentials, store) as client:
        await connected_messenger(client, inbox)
        spy = PhoneSpy(await served.sandbox.messaging.phone(ECHO))
        bogus = Node(
            "message",
            {"id": "3EB0BAD", "to": JID(PHONE, DEFAULT_USER_SERVER), "type": "text"},
            [
                Node(
                    "participants",
                    {},
                    [Node("to", {"jid": me}, [Node("enc", {"v": "2", "type": "msg"}, b"\x33junk")])],
                )
            ],
        )
        await served.sandbox.messaging.submit(JID(ECHO, DEFAULT_USER_SERVER), bogus)
        failed = await inbox.next()
        assert isinstance(failed, UndecryptableMessage)
        assert failed.id == "3EB0BAD"
        assert failed.sender == JID(ECHO, DEFAULT_USER_SERVER)
        receipt = await spy.receipt("3EB0BAD", "retry")
        retry = receipt.child("retry")
        assert retry is not None
        assert retry.attrs["id"] == "3EB0BAD"
        registration = receipt.child("registration")
        assert registration is not None
        assert registration.content == store.credentials.registration_id.to_bytes(4, "big")


async def test_received_first_contact_and_own_phone_messages(served: Served) -> None:
    store = await linked(served)
    assert store.credentials is not None
    me = store.credentials.me
    assert me is not None
    inbox = Inbox(served)
    echo_jid = JID(ECHO, DEFAULT_USER_SERVER)
    own_jid = JID(PHONE, DEFAULT_USER_SERVER)
    async with open_client(settings_for(served), store.credentials, store) as client:
        await connected_messenger(client, inbox)
        own_spy = PhoneSpy(await served.sandbox.messaging.phone(PHONE))
        prekeys = len(store.pre_keys)

        # The echo account writes first: a prekey message using one of our one-time prekeys.
        first_id = await served.sandbox.messaging.send_text(ECHO, own_jid, "hi companion")
        first = await inbox.next()
        assert isinstance(first, ReceivedMessage)
        assert (first.id, first.text, first.chat, first.from_me) == (
            first_id,
            "hi companion",
            echo_jid,
            False,
        )
        assert len(store.pre_keys) == prekeys - 1  # used up

        # Our own phone writes to the echo: we get the device-sent copy, unwrapped, receipted as "sender".
        own_id = await served.sandbox.messaging.send_text(PHONE, echo_jid, "from the phone")
        mine = await inbox.next()
        while isinstance(mine, ReceivedMessage) and mine.id != own_id:  # the echo's reply to the first text
            mine = await inbox.next()
        assert isinstance(mine, ReceivedMessage)
        assert (mine.text, mine.chat, mine.from_me, mine.sender) == (
            "from the phone",
            echo_jid,
            True,
            own_jid,
        )
        receipt = await own_spy.receipt(own_id, "sender")
        assert receipt.attrs["from"] == me


def test_message_ids_are_v2() -> None:
    store = MemoryClientStore(Credentials.generate(secrets.token_bytes))
    me = JID("15550002222", DEFAULT_USER_SERVER, device=1)
    creds = dataclasses.replace(Credentials.generate(secrets.token_bytes), me=me)
    client = Client(ClientSettings(), creds, store)
    messenger = Messenger(client, Inbox.discard, rng=lambda n: bytes(range(n)), now=lambda: 1_700_000_000.5)
    expected = hashlib.sha256(
        (1_700_000_000).to_bytes(8, "big") + b"15550002222@c.us" + bytes(range(16))
    ).hexdigest()
    assert messenger.new_message_id() == "3EB0" + expected[:18].upper()


@pytest.mark.parametrize("addressing", ["pn", "lid"])
async def test_retry_receipt_is_answered_with_a_fresh_session(served: Served, addressing: Addressing) -> None:
    store = await linked(served)
    assert store.credentials is not None
    inbox = Inbox(served)
    echo_jid = JID(ECHO, DEFAULT_USER_SERVER)
    async with (
        open_client(settings_for(served), store.credentials, store) as client,
        trio.open_nursery() as nursery,
    ):
        messenger = await connected_messenger(client, inbox, addressing)
        await nursery.start(messenger.run)
        echo_phone = await served.sandbox.messaging.phone(ECHO)
        spy = PhoneSpy(echo_phone)
        with trio.fail_after(15):
            await messenger.send_text(echo_jid, "one")
        reply = await inbox.next()
        assert isinstance(reply, ReceivedMessage)

        echo_phone.store.sessions.clear()  # the echo's phone lost its session with us
        with trio.fail_after(15):
            lost = await messenger.send_text(echo_jid, "two")
        assert lost.encryptions[addressed(served, ECHO, addressing).with_device(0)] == "msg"
        assert echo_phone.find(lost.id, "in") is None  # it could not decrypt: it asked for a retry
        # Our answer is a new prekey message; the phone decrypts it and the echo comes back.
        again = await inbox.next()
        assert isinstance(again, ReceivedMessage)
        assert again.text == "echo: two"
        logged = echo_phone.find(lost.id, "in")
        assert logged is not None
        assert logged.text == "two"
        assert not [
            r for r in spy.receipts if r.attrs.get("type") == "retry" and r.attrs.get("id") != lost.id
        ]
        nursery.cancel_scope.cancel()


def _offline_messenger(inbox: list[Item]) -> Messenger:
    """A messenger on a paired client that never connected (its receipts go nowhere)."""
    creds = dataclasses.replace(
        Credentials.generate(secrets.token_bytes), me=JID(PHONE, DEFAULT_USER_SERVER, device=1)
    )

    async def collect(item: Item) -> None:
        inbox.append(item)

    return Messenger(Client(ClientSettings(), creds, MemoryClientStore(creds)), collect)


ECHO_DEVICE = JID(ECHO, DEFAULT_USER_SERVER)


@pytest.mark.parametrize(
    "encs",
    [
        [],
        [Node("enc", {"v": "2", "type": "skmsg"}, b"\x33abc")],
        [Node("enc", {"v": "2", "type": "msg"}, "text, not bytes")],
        [Node("enc", {"v": "2", "type": "msg"}, b"")],
        [Node("enc", {"v": "2", "type": "pkmsg"}, b"\x33" + bytes(range(60)))],
        [Node("enc", {"v": "2", "type": "weird"}, b"\x33")],
    ],
)
async def test_malformed_messages_are_reported_never_raised(encs: list[Node]) -> None:
    inbox: list[Item] = []
    messenger = _offline_messenger(inbox)
    node = Node("message", {"id": "3EB0X", "from": ECHO_DEVICE, "t": "5", "type": "text"}, encs or None)
    await messenger.client.stanza_handlers["message"](node)
    assert len(inbox) == 1
    failed = inbox[0]
    assert isinstance(failed, UndecryptableMessage)
    assert (failed.id, failed.sender) == ("3EB0X", ECHO_DEVICE)


@pytest.mark.parametrize(
    "attrs", [{"from": ECHO_DEVICE}, {"id": "3EB0X"}, {"id": "3EB0X", "from": "not a jid@@"}]
)
async def test_messages_without_id_or_sender_are_dropped(attrs: dict[str, str | JID]) -> None:
    inbox: list[Item] = []
    messenger = _offline_messenger(inbox)
    await messenger.client.stanza_handlers["message"](
        Node("message", attrs, [Node("enc", {"type": "msg"}, b"x")])
    )
    assert inbox == []


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(["msg", "pkmsg"]),
    prefix=st.sampled_from([b"", b"\x33", b"\x33\x08\x01\x10\x00\x1a\x10"]),
    data=st.binary(max_size=200),
)
async def test_garbage_encs_are_reported_never_raised(kind: str, prefix: bytes, data: bytes) -> None:
    body = prefix + data
    inbox: list[Item] = []
    messenger = _offline_messenger(inbox)
    node = Node(
        "message", {"id": "3EB0G", "from": ECHO_DEVICE}, [Node("enc", {"v": "2", "type": kind}, body)]
    )
    await messenger.client.stanza_handlers["message"](node)
    assert len(inbox) == 1
    assert isinstance(inbox[0], UndecryptableMessage)


@pytest.mark.interop
async def test_a_retry_receipt_with_baileys_keys_is_answered_from_them(baileys: BaileysHarness) -> None:
    """Baileys 7's retry receipt carrying a libsignal party's keys: the message is re-encrypted on a session
    built from those keys (no prekey fetch: the client is offline) and the party decrypts it."""
    party = baileys.call("signal.party.create", registrationId=4321)
    peer = JID("15550009999", DEFAULT_USER_SERVER)
    frame = baileys.call("retry.receiptFrame", handle=party, id="3EB0R", **{"from": str(peer)}, count=2)
    receipt = unmarshal(frame)
    creds = dataclasses.replace(
        Credentials.generate(secrets.token_bytes), me=JID(PHONE, DEFAULT_USER_SERVER, device=1)
    )
    client = Client(ClientSettings(), creds, MemoryClientStore(creds))
    sent: list[Node] = []
    resent_one = trio.Event()

    async def send_node(node: Node) -> None:
        sent.append(node)
        if node.tag == "message":
            resent_one.set()

    async def query(node: Node, *, patience: float | None = None) -> Node:
        raise AssertionError(f"no query expected, got {node}")

    client.send_node = send_node  # type: ignore[method-assign]
    client.query = query  # type: ignore[method-assign]
    messenger = Messenger(client, Inbox.discard, addressing="pn")
    messenger._sent["3EB0R"] = (peer, Message(conversation="hello again"), None)
    async with trio.open_nursery() as nursery:
        await nursery.start(messenger.run)
        await client.stanza_handlers["receipt"](receipt)
        with trio.fail_after(5):
            await resent_one.wait()
        nursery.cancel_scope.cancel()
    [resent] = [node for node in sent if node.tag == "message"]
    assert resent.attrs["to"] == peer
    [enc] = resent.children_with("enc")
    assert enc.attrs["type"] == "pkmsg"
    assert enc.attrs["count"] == "2"
    [got] = baileys.call(
        "signal.party.decrypt",
        handle=party,
        address={"name": PHONE, "deviceId": 1},
        messages=[{"type": "pkmsg", "body": enc.content}],
    )
    assert "plaintext" in got, got
    assert decode(Message, unpad(got["plaintext"])).conversation == "hello again"
    baileys.call("signal.party.drop", handle=party)
