"""Group messaging with sender keys: waproto.client.messaging (and .groups) against the served sandbox.

A group of our linked account (Alice) and two phone accounts is created through the control API; our
client sends to it (every member phone decrypts), members send to it (our Messenger reports the messages
as group messages), sender keys are reused, a device linked later gets our sender key, a member that
lost our sender key asks for a retry and gets it again. Plus the sans-I/O pieces of
``waproto.client.groups`` and malformed group stanzas.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.waproto.client.test_sandbox import PHONE, next_event, settings_for
from tests.waproto.sandbox.interop_helpers import Served, served_sandbox
from waproto.binary import Node
from waproto.client import Client, ClientSettings, Connected, MemoryClientStore, Paired, QRCode, open_client
from waproto.client.directory import Directory
from waproto.client.groups import (
    GroupCache,
    GroupInfo,
    GroupKeys,
    GroupParticipant,
    SenderKeyMemory,
    group_stanza,
    metadata_query,
    parse_group_info,
)
from waproto.client.messaging import MessageStatus, Messenger, ReceivedMessage, UndecryptableMessage
from waproto.credentials import Credentials
from waproto.errors import DecodeError, MessageRefused, NoSenderKey, NotOnWhatsApp
from waproto.jid import DEFAULT_USER_SERVER, GROUP_SERVER, JID
from waproto.proto import Message
from waproto.sandbox.phone import Received, SimPhone
from waproto.signal import MemorySenderKeyStore, ProtocolAddress
from waproto.usync import device_list_hash

BOB = "15550004444"
CAROL = "15550005555"

Item = ReceivedMessage | UndecryptableMessage


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with served_sandbox(tmp_path / "state") as running:
        await running.create_account(PHONE, name="Alice")
        await running.create_account(BOB, name="Bob")
        await running.create_account(CAROL, name="Carol")
        yield running


async def link(served: Served, phone: str) -> MemoryClientStore:
    """A new companion of ``phone``, linked by QR; returns its store (credentials inside)."""
    creds = Credentials.generate(secrets.token_bytes, push_name="waporta")
    store = MemoryClientStore(creds)
    async with open_client(settings_for(served), creds, store) as client:
        qr = await next_event(client, QRCode)
        assert isinstance(qr, QRCode)
        response = await served.post(f"/sandbox/accounts/{phone}/scan", {"qr": qr.qr})
        assert response.status_code == 200, response.text
        assert isinstance(await next_event(client, Paired), Paired)
        assert isinstance(await next_event(client, Connected), Connected)
    return store


async def create_group(served: Served, *phones: str) -> JID:
    response = await served.post("/sandbox/groups", {"subject": "Team", "participants": list(phones)})
    assert response.status_code == 201, response.text
    return JID.parse(response.json()["jid"])


async def phone_log(served: Served, phone: str) -> list[dict[str, Any]]:
    response = await served.http.get(f"/sandbox/accounts/{phone}/messages")
    assert response.status_code == 200, response.text
    return list(response.json()["messages"])


async def logged(served: Served, phone: str, message_id: str) -> dict[str, Any]:
    [entry] = [m for m in await phone_log(served, phone) if m["id"] == message_id]
    return entry


class PhoneWatch:
    """Wakes the test after every stanza a sandbox phone handled (wrapping its ``receive``)."""

    def __init__(self, phone: SimPhone) -> None:
        self._changed = trio.Event()
        self._original = phone.receive
        phone.receive = self._receive  # type: ignore[method-assign]

    async def _receive(self, node: Node, *, now: int) -> Received:
        try:
            return await self._original(node, now=now)
        finally:
            self._changed.set()
            self._changed = trio.Event()

    async def until(self, condition: Callable[[], bool]) -> None:
        with trio.fail_after(15):
            while not condition():
                await self._changed.wait()


class Inbox:
    def __init__(self) -> None:
        self.send, self.receive = trio.open_memory_channel[Item](32)

    async def __call__(self, item: Item) -> None:
        await self.send.send(item)

    async def next(self) -> Item:
        with trio.fail_after(15):
            return await self.receive.receive()


def pn(phone: str, device: int = 0) -> JID:
    return JID(phone, DEFAULT_USER_SERVER, device=device)


async def test_group_text_reaches_every_member_and_reuses_the_sender_key(served: Served) -> None:
    store = await link(served, PHONE)
    assert store.credentials is not None
    me = store.credentials.me
    assert me is not None
    group = await create_group(served, PHONE, BOB, CAROL)
    inbox = Inbox()
    sender_keys = MemorySenderKeyStore()
    statuses: list[MessageStatus] = []
    delivered = trio.Event()

    async def on_receipt(status: MessageStatus) -> None:
        statuses.append(status)
        if {s.device for s in statuses if s.status == "delivered"} >= {pn(BOB), pn(CAROL)}:
            delivered.set()

    async with open_client(settings_for(served), store.credentials, store) as client:
        messenger = Messenger(client, inbox, sender_key_store=sender_keys, on_receipt=on_receipt)
        assert isinstance(await next_event(client, Connected), Connected)
        with trio.fail_after(15):
            sent = await messenger.send_text(group, "hello team")
        # The members' phones said "delivered", each as a participant of the group.
        with trio.fail_after(15):
            await delivered.wait()
        assert all((s.ids, s.chat) == ((sent.id,), group) for s in statuses)
        assert len(sender_keys) == 1  # our own sender key for the group, in the store we gave
        assert (sent.to, sent.status) == (group, "sent")
        # Our sender key went 1:1 to every member device but this one (our own phone included).
        assert sent.encryptions == {pn(BOB): "pkmsg", pn(CAROL): "pkmsg", pn(PHONE): "pkmsg"}
        for phone in (BOB, CAROL):
            entry = await logged(served, phone, sent.id)
            assert (entry["direction"], entry["chat"], entry["sender"]) == ("in", str(group), str(me))
            assert (entry["kind"], entry["text"]) == ("text", "hello team")
        own = await logged(served, PHONE, sent.id)
        assert (own["direction"], own["chat"], own["text"]) == ("out", str(group), "hello team")

        # The second message reuses the sender key: no distribution, the skmsg alone.
        bundles = {phone: len(served.sandbox.network.accounts[phone].pre_keys) for phone in (BOB, CAROL)}
        with trio.fail_after(15):
            again = await messenger.send_text(group, "second")
        assert again.encryptions == {}
        for phone in (BOB, CAROL):
            assert (await logged(served, phone, again.id))["text"] == "second"
            assert len(served.sandbox.network.accounts[phone].pre_keys) == bundles[phone]
        assert messenger.groups.get(group) is not None  # the metadata was cached

        # Media type: mediatype on the skmsg, the stanza typed "media" (an image message needs no upload here).
        image = Message()
        image.image_message.caption = "a caption"
        image.image_message.mimetype = "image/jpeg"
        with trio.fail_after(15):
            pic = await messenger.send_message(group, image, media_type="image")
        entry = await logged(served, BOB, pic.id)
        assert entry["kind"] == "image"


async def test_member_messages_are_reported_as_group_messages(served: Served) -> None:
    store = await link(served, PHONE)
    assert store.credentials is not None
    me = store.credentials.me
    assert me is not None
    group = await create_group(served, BOB, PHONE, CAROL)
    inbox = Inbox()
    async with open_client(settings_for(served), store.credentials, store) as client:
        Messenger(client, inbox)
        assert isinstance(await next_event(client, Connected), Connected)
        # A message carrying only Bob's sender key (empty content) is receipted but not reported.
        messaging = served.sandbox.messaging
        bob_phone = await messaging.phone(BOB)
        watch = PhoneWatch(bob_phone)
        async with messaging._lock:
            empty = await bob_phone.send_message(group, Message(), now=served.sandbox.now())
        await messaging.submit(bob_phone.device, empty)

        response = await served.post(f"/sandbox/accounts/{BOB}/send", {"to": str(group), "text": "hi all"})
        assert response.status_code == 200, response.text
        message_id = response.json()["id"]
        received = await inbox.next()
        assert isinstance(received, ReceivedMessage)
        assert received.id == message_id  # the distribution-only message before it was not reported
        assert (received.chat, received.sender, received.group, received.from_me) == (group, pn(BOB), True, False)
        assert (received.kind, received.text, received.push_name) == ("text", "hi all", "Bob")
        assert received.sender_alt == served.sandbox.network.accounts[BOB].account.lid_jid

        # Both were receipted (after the callback) by our device.
        entry = bob_phone.find(message_id, "out")
        assert entry is not None
        await watch.until(lambda: str(me) in entry.receipts)
        empty_entry = bob_phone.find(str(empty.attrs["id"]), "out")
        assert empty_entry is not None
        assert str(me) in empty_entry.receipts

        # A second message comes with the skmsg alone; Carol writes too.
        await served.post(f"/sandbox/accounts/{BOB}/send", {"to": str(group), "text": "again"})
        await served.post(f"/sandbox/accounts/{CAROL}/send", {"to": str(group), "text": "me too"})
        second, third = await inbox.next(), await inbox.next()
        assert isinstance(second, ReceivedMessage)
        assert isinstance(third, ReceivedMessage)
        assert (second.text, second.sender) == ("again", pn(BOB))
        assert (third.text, third.sender, third.chat) == ("me too", pn(CAROL), group)

        # Our own phone writes to the group: from_me, receipted as "sender".
        await served.post(f"/sandbox/accounts/{PHONE}/send", {"to": str(group), "text": "from my phone"})
        mine = await inbox.next()
        assert isinstance(mine, ReceivedMessage)
        assert (mine.text, mine.chat, mine.from_me, mine.group) == ("from my phone", group, True, True)


async def test_status_updates_decrypt_with_the_posters_sender_key(served: Served) -> None:
    """A status update (``from=status@broadcast participant=<device>``, a distribution and an skmsg) is
    decrypted like a group message and reported with chat status@broadcast, not as a group message."""
    store = await link(served, PHONE)
    assert store.credentials is not None
    me = store.credentials.me
    assert me is not None
    group = await create_group(served, BOB, PHONE)  # only to have Bob's phone make sender-key stanzas
    inbox = Inbox()
    async with open_client(settings_for(served), store.credentials, store) as client:
        Messenger(client, inbox)
        assert isinstance(await next_event(client, Connected), Connected)
        messaging = served.sandbox.messaging
        bob_phone = await messaging.phone(BOB)
        async with messaging._lock:
            made = await bob_phone.send_message(group, Message(conversation="my status"), now=served.sandbox.now())
        participants = made.child("participants")
        assert participants is not None
        [ours] = [to for to in participants.children if to.attrs["jid"] == me]
        status = JID("status", "broadcast")
        attrs: dict[str, str | JID] = {"from": status, "participant": pn(BOB), "id": "3EB0STATUS", "t": "7"}
        await client.stanza_handlers["message"](Node("message", attrs, ours.children + made.children_with("enc")))
        got = await inbox.next()
        assert isinstance(got, ReceivedMessage)
        assert (got.chat, got.sender, got.group, got.text, got.from_me) == (status, pn(BOB), False, "my status", False)


async def test_a_device_linked_later_gets_the_sender_key(served: Served) -> None:
    store = await link(served, PHONE)
    assert store.credentials is not None
    group = await create_group(served, PHONE, BOB, CAROL)
    ours, carols = Inbox(), Inbox()
    async with open_client(settings_for(served), store.credentials, store) as client:
        messenger = Messenger(client, ours)
        assert isinstance(await next_event(client, Connected), Connected)
        with trio.fail_after(15):
            first = await messenger.send_text(group, "before")
        assert set(first.encryptions) == {pn(BOB), pn(CAROL), pn(PHONE)}

        carol_store = await link(served, CAROL)  # Carol links a companion: a new member device
        assert carol_store.credentials is not None
        carol_device = carol_store.credentials.me
        assert carol_device is not None
        async with open_client(settings_for(served), carol_store.credentials, carol_store) as carol_client:
            Messenger(carol_client, carols)
            assert isinstance(await next_event(carol_client, Connected), Connected)
            with trio.fail_after(15):
                second = await messenger.send_text(group, "after")
            assert second.encryptions == {carol_device: "pkmsg"}  # only the new device
            got = await carols.next()
            assert isinstance(got, ReceivedMessage)
            assert (got.text, got.chat, got.group, got.from_me) == ("after", group, True, False)
            assert got.sender == client.credentials.me
            # Media are classified (the sandbox needs no upload for this: the fields travel as they are).
            image = Message()
            image.ephemeral_message.message.image_message.caption = "look"
            with trio.fail_after(15):
                await messenger.send_message(group, image)
            pic = await carols.next()
            assert isinstance(pic, ReceivedMessage)
            assert (pic.kind, pic.text, pic.group) == ("image", None, True)
            # Carol's companion writes back to the group: we decrypt its sender key.
            carol_messenger = Messenger(carol_client, carols)
            with trio.fail_after(15):
                reply = await carol_messenger.send_text(group, "hello from a companion")
            assert pn(PHONE) in reply.encryptions
            echo = await ours.next()
            assert isinstance(echo, ReceivedMessage)
            assert (echo.id, echo.text, echo.sender, echo.group) == (reply.id, "hello from a companion", carol_device, True)
            for phone in (BOB, CAROL):
                assert (await logged(served, phone, reply.id))["text"] == "hello from a companion"


async def test_a_member_that_lost_our_sender_key_gets_it_again_on_retry(served: Served) -> None:
    store = await link(served, PHONE)
    assert store.credentials is not None
    group = await create_group(served, PHONE, BOB, CAROL)
    async with (
        open_client(settings_for(served), store.credentials, store) as client,
        trio.open_nursery() as nursery,
    ):
        messenger = Messenger(client, Inbox())
        await nursery.start(messenger.run)
        assert isinstance(await next_event(client, Connected), Connected)
        with trio.fail_after(15):
            await messenger.send_text(group, "one")
        bob_phone = await served.sandbox.messaging.phone(BOB)
        watch = PhoneWatch(bob_phone)
        bob_phone.sender_keys = type(bob_phone.sender_keys)()  # Bob's phone forgot every sender key

        with trio.fail_after(15):
            lost = await messenger.send_text(group, "two")
        assert lost.encryptions == {}  # as far as we knew, Bob had our key
        # Bob could not decrypt, asked for a retry; our answer carries the key and the message 1:1.
        await watch.until(lambda: bob_phone.find(lost.id, "in") is not None)
        entry = bob_phone.find(lost.id, "in")
        assert entry is not None
        assert (entry.text, entry.chat) == ("two", group)
        assert (await logged(served, CAROL, lost.id))["text"] == "two"
        # And the skmsg of the next message decrypts with the key from the retry.
        with trio.fail_after(15):
            three = await messenger.send_text(group, "three")
        assert three.encryptions == {}
        assert (await logged(served, BOB, three.id))["text"] == "three"
        nursery.cancel_scope.cancel()


async def test_unknown_groups_and_groups_we_are_not_in_are_refused(served: Served) -> None:
    store = await link(served, PHONE)
    assert store.credentials is not None
    others = await create_group(served, BOB, CAROL)
    async with open_client(settings_for(served), store.credentials, store) as client:
        messenger = Messenger(client, Inbox())
        assert isinstance(await next_event(client, Connected), Connected)
        with trio.fail_after(15), pytest.raises(NotOnWhatsApp):
            await messenger.send_text(JID("1234-5678", GROUP_SERVER), "anyone?")
        with trio.fail_after(15), pytest.raises(MessageRefused) as refused:
            await messenger.send_text(others, "let me in")
        assert refused.value.code == "403"
    assert all(entry["direction"] == "out" for entry in await phone_log(served, BOB))  # nothing reached Bob


# ------------------------------------------------------------------------------------ malformed input


def _offline_messenger(inbox: list[Item]) -> Messenger:
    creds = dataclasses.replace(Credentials.generate(secrets.token_bytes), me=pn(PHONE, 1))

    async def collect(item: Item) -> None:
        inbox.append(item)

    return Messenger(Client(ClientSettings(), creds, MemoryClientStore(creds)), collect)


GROUP = JID("120363000000000001", GROUP_SERVER)


@pytest.mark.parametrize(
    ("attrs", "encs"),
    [
        ({"participant": pn(BOB)}, [Node("enc", {"v": "2", "type": "skmsg"}, b"\x33" + bytes(80))]),
        ({"participant": pn(BOB)}, [Node("enc", {"v": "2", "type": "skmsg"}, b"\x33")]),
        ({}, [Node("enc", {"v": "2", "type": "skmsg"}, b"\x33abc")]),
        ({"participant": "not a jid@@"}, [Node("enc", {"v": "2", "type": "skmsg"}, b"\x33abc")]),
    ],
)
async def test_group_messages_without_a_sender_key_are_reported(attrs: dict[str, str | JID], encs: list[Node]) -> None:
    inbox: list[Item] = []
    messenger = _offline_messenger(inbox)
    node = Node("message", {"id": "3EB0G", "from": GROUP, "t": "5", **attrs}, encs)
    await messenger.client.stanza_handlers["message"](node)
    assert len(inbox) == 1
    assert isinstance(inbox[0], UndecryptableMessage)
    assert inbox[0].id == "3EB0G"


@settings(max_examples=60, deadline=None)
@given(
    prefix=st.sampled_from([b"", b"\x33", b"\x33\x08\x01\x10\x00\x1a\x10", b"\x23"]),
    data=st.binary(max_size=200),
    participant=st.sampled_from([pn(BOB), JID("77", "lid", device=2), "x@@y"]),
)
async def test_garbage_skmsgs_are_reported_never_raised(prefix: bytes, data: bytes, participant: JID | str) -> None:
    inbox: list[Item] = []
    messenger = _offline_messenger(inbox)
    node = Node(
        "message",
        {"id": "3EB0G", "from": GROUP, "participant": participant},
        [Node("enc", {"v": "2", "type": "skmsg"}, prefix + data)],
    )
    await messenger.client.stanza_handlers["message"](node)
    assert len(inbox) == 1
    assert isinstance(inbox[0], UndecryptableMessage)


async def test_a_group_notification_drops_the_cached_metadata() -> None:
    messenger = _offline_messenger([])
    info = GroupInfo(GROUP, "Team", "pn", (GroupParticipant(pn(BOB)),))
    other = dataclasses.replace(info, jid=JID("999", GROUP_SERVER))
    messenger.groups.put(info)
    messenger.groups.put(other)
    handler = messenger.client.notification_handlers["w:gp2"]
    await handler(Node("notification", {"from": GROUP, "type": "w:gp2", "id": "1"}, [Node("add", {})]))
    await handler(Node("notification", {"from": "garbage@@", "type": "w:gp2", "id": "2"}))
    assert messenger.groups.get(GROUP) is None
    assert messenger.groups.get(other.jid) is other


# ------------------------------------------------------------------------------------ sans-I/O pieces


def test_metadata_query() -> None:
    query = metadata_query(JID("123-456", GROUP_SERVER, device=2))
    assert (query.tag, query.attrs) == ("iq", {"xmlns": "w:g2", "type": "get", "to": JID("123-456", GROUP_SERVER)})
    assert [(c.tag, c.attrs) for c in query.children] == [("query", {"request": "interactive"})]


def _answer(group: Node) -> Node:
    return Node("iq", {"type": "result"}, [group])


def test_parse_group_info_pn_and_lid_modes() -> None:
    pn_group = parse_group_info(
        _answer(
            Node(
                "group",
                {"id": "123-456", "subject": "Team", "addressing_mode": "pn"},
                [
                    Node("participant", {"jid": "15550001111@s.whatsapp.net", "type": "superadmin", "lid": "77@lid"}),
                    Node("participant", {"jid": pn(BOB)}),
                ],
            )
        )
    )
    assert (pn_group.jid, pn_group.subject, pn_group.addressing_mode) == (JID("123-456", GROUP_SERVER), "Team", "pn")
    assert pn_group.participants == (
        GroupParticipant(pn("15550001111"), JID("77", "lid"), pn("15550001111"), True),
        GroupParticipant(pn(BOB), None, pn(BOB), False),
    )
    lid_group = parse_group_info(
        _answer(
            Node(
                "group",
                {"id": "120363@g.us", "addressing_mode": "lid"},
                [Node("participant", {"jid": "88:3@lid", "phone_number": "15550002222@s.whatsapp.net"})],
            )
        )
    )
    assert (lid_group.jid, lid_group.addressing_mode, lid_group.subject) == (JID("120363", GROUP_SERVER), "lid", "")
    assert lid_group.members == [JID("88", "lid")]
    assert lid_group.participants[0].phone_number == pn("15550002222")


@pytest.mark.parametrize(
    "answer",
    [
        Node("iq", {"type": "result"}),
        _answer(Node("group", {"subject": "no id"})),
        _answer(Node("group", {"id": "1-2"}, [Node("participant", {})])),
        _answer(Node("group", {"id": "1-2"}, [Node("participant", {"jid": "a@@b"})])),
        _answer(Node("group", {"id": "1@@g.us"})),
    ],
)
def test_parse_group_info_rejects_malformed_answers(answer: Node) -> None:
    with pytest.raises(DecodeError):
        parse_group_info(answer)


def test_the_group_phash_is_whatsmeows_v2() -> None:
    """Group stanzas carry waproto.usync.device_list_hash of the fan-out as phash: whatsmeow's v2."""
    devices = [pn(BOB), JID("88", "lid", device=3), pn("15550001111", 7)]
    joined = "15550001111.0:7@s.whatsapp.net" + "15550004444.0:0@s.whatsapp.net" + "88.0:3@lid"
    expected = "2:" + base64.b64encode(hashlib.sha256(joined.encode()).digest()[:6]).decode()
    assert device_list_hash(devices) == expected
    assert len(expected) == 10  # 6 bytes: 8 base64 characters, no padding
    assert device_list_hash(reversed(devices)) == expected


def test_group_stanza_layout() -> None:
    to = Node("to", {"jid": pn(BOB)}, [Node("enc", {"v": "2", "type": "pkmsg"}, b"x")])
    plain = group_stanza(message_id="3EB0A", group=GROUP, participants=[to], skmsg=b"sk", phash="2:abc")
    assert plain.attrs == {"id": "3EB0A", "to": GROUP, "type": "text", "phash": "2:abc"}
    assert [c.tag for c in plain.children] == ["participants", "enc"]
    assert plain.children[1].attrs == {"v": "2", "type": "skmsg"}
    lid = group_stanza(
        message_id="3EB0B",
        group=GROUP,
        participants=[],
        skmsg=b"sk",
        phash="2:abc",
        stanza_type="media",
        media_type="image",
        addressing_mode="lid",
        device_identity=b"identity",
    )
    assert lid.attrs["addressing_mode"] == "lid"
    assert lid.attrs["type"] == "media"
    assert [c.tag for c in lid.children] == ["participants", "device-identity", "enc"]
    assert lid.children[2].attrs == {"v": "2", "type": "skmsg", "mediatype": "image"}


def test_group_cache_and_sender_key_memory() -> None:
    cache = GroupCache()
    info = GroupInfo(GROUP, "Team", "pn", (GroupParticipant(pn(BOB)), GroupParticipant(pn(CAROL))))
    assert cache.put(info) == []
    assert cache.get(GROUP.with_device(0)) is info
    cache.invalidate(GROUP)
    assert cache.get(GROUP) is None
    assert cache.put(dataclasses.replace(info, participants=info.participants[:1])) == [pn(CAROL)]

    memory = SenderKeyMemory()
    memory.add(GROUP, [pn(BOB), pn(CAROL)])
    other = JID("999", GROUP_SERVER)
    memory.add(other, [pn(BOB)])
    assert memory.has(GROUP, pn(BOB))
    assert memory.has(other, pn(BOB))
    memory.forget_device(pn(BOB))
    assert not memory.has(GROUP, pn(BOB))
    assert not memory.has(other, pn(BOB))
    memory.retain(GROUP, [pn(BOB)])
    assert not memory.has(GROUP, pn(CAROL))
    memory.add(GROUP, [pn(CAROL)])
    memory.reset(GROUP)
    assert not memory.has(GROUP, pn(CAROL))


async def test_lid_addressed_group_and_a_stale_participant_hash(served: Served) -> None:
    """A group in LID mode (its metadata seeded: the sandbox answers groups in PN mode) is sent from our
    LID to the members' LID devices with addressing_mode="lid"; an ack whose phash differs from ours
    drops the cached metadata."""
    store = await link(served, PHONE)
    assert store.credentials is not None
    own_lid = store.credentials.lid
    assert own_lid is not None
    group = await create_group(served, PHONE, BOB, CAROL)
    accounts = {phone: served.sandbox.network.accounts[phone].account for phone in (PHONE, BOB, CAROL)}
    async with open_client(settings_for(served), store.credentials, store) as client:
        directory = Directory(client)
        messenger = Messenger(client, Inbox(), directory=directory)
        stanzas: list[Node] = []
        original_send, original_ack = client.send_node, client.stanza_handlers["ack"]

        async def record(node: Node) -> None:
            stanzas.append(node)
            await original_send(node)

        async def stale_hash(node: Node) -> None:
            node.attrs["phash"] = "2:AAAAAAAA"
            await original_ack(node)

        client.send_node = record  # type: ignore[method-assign]
        client.stanza_handlers["ack"] = stale_hash
        assert isinstance(await next_event(client, Connected), Connected)
        members = tuple(
            GroupParticipant(a.lid_jid, a.lid_jid, a.jid, phone == PHONE) for phone, a in accounts.items()
        )
        messenger.groups.put(GroupInfo(group, "Team", "lid", members))
        with trio.fail_after(15):
            sent = await messenger.send_text(group, "by lid")
        stanza = next(n for n in stanzas if n.tag == "message" and n.attrs.get("id") == sent.id)
        assert stanza.attrs["addressing_mode"] == "lid"
        lid_devices = {accounts[BOB].lid_jid, accounts[CAROL].lid_jid, accounts[PHONE].lid_jid}
        assert set(sent.encryptions) == lid_devices
        me = store.credentials.me
        assert me is not None
        every = [*lid_devices, own_lid.with_device(me.device)]
        assert stanza.attrs["phash"] == device_list_hash(every)
        for phone in (BOB, CAROL):
            assert (await logged(served, phone, sent.id))["text"] == "by lid"
        assert messenger.groups.get(group) is None  # the server's phash differed: fetched again next time
        members_lists = [str(a.lid_jid) for a in accounts.values()]
        assert await directory.device_store.get_device_lists(members_lists) == {}  # and the device lists
        client.stanza_handlers["ack"] = original_ack
        with trio.fail_after(15):
            again = await messenger.send_text(group, "by number again")
        assert messenger.groups.get(group) is not None  # the sandbox's metadata: PN mode
        stanza = next(n for n in stanzas if n.tag == "message" and n.attrs.get("id") == again.id)
        assert "addressing_mode" not in stanza.attrs
        assert set(again.encryptions) == {pn(BOB), pn(CAROL), pn(PHONE)}  # our key, to the PN devices now
        for phone in (BOB, CAROL):
            assert (await logged(served, phone, again.id))["text"] == "by number again"


async def test_group_keys_distribute_encrypt_decrypt_and_rotate() -> None:
    rng = secrets.token_bytes
    ours, theirs = GroupKeys(MemorySenderKeyStore(), rng), GroupKeys(MemorySenderKeyStore(), rng)
    me, status = ProtocolAddress("77_1", 4), JID("status", "broadcast")
    for chat, context in ((GROUP, None), (status, None), (GROUP, GROUP)):
        message = await ours.distribution(chat, me)
        message.conversation = "with content"
        await theirs.process(message, me, context)  # a DM carrying it names its group itself
        assert not message.HasField("sender_key_distribution_message")
        assert message.conversation == "with content"
        skmsg = await ours.encrypt(chat, me, b"padded plaintext")
        assert await theirs.decrypt(chat, me, skmsg) == b"padded plaintext"
    # Rotated: a new key, which the old distribution does not open.
    await ours.rotate(GROUP, me)
    fresh = await ours.distribution(GROUP, me)
    with pytest.raises(NoSenderKey):
        await theirs.decrypt(GROUP, me, await ours.encrypt(GROUP, me, b"after rotation"))
    await theirs.process(fresh, me, GROUP)
    assert await theirs.decrypt(GROUP, me, await ours.encrypt(GROUP, me, b"again")) == b"again"


@pytest.mark.parametrize("group_id", ["", "15550001111@s.whatsapp.net", "not a jid@@"])
async def test_a_distribution_outside_a_group_must_name_one(group_id: str) -> None:
    keys = GroupKeys(MemorySenderKeyStore(), secrets.token_bytes)
    message = Message()
    message.sender_key_distribution_message.group_id = group_id
    message.sender_key_distribution_message.axolotl_sender_key_distribution_message = b"\x33"
    with pytest.raises(DecodeError):
        await keys.process(message, ProtocolAddress("1", 0), None)
