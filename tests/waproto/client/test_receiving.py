"""waproto.client.receiving offline: receipts for what we sent become MessageStatus values, retry
receipts are queued for the Messenger (and dropped, never raised, when too many wait), every receipt
and failed message is acked with the attributes the server expects, and a connection already gone
does not raise. Decryption itself is exercised end to end in test_messaging, test_groups, test_lid."""

from __future__ import annotations

import dataclasses
import random

import pytest
import trio

from tests.interop.harness import Harness as BaileysHarness
from waproto.binary import Node, marshal
from waproto.client import Client, ClientSettings, MemoryClientStore
from waproto.client.addressing import AddressBook
from waproto.client.errors import NotConnected
from waproto.client.groups import GroupKeys
from waproto.client.message_types import (
    CompanionSignalStore,
    MessageStatus,
    ReceivedMessage,
    StatusKind,
    UndecryptableMessage,
    receipt_status,
)
from waproto.client.receiving import MAX_RETRY_RECEIPTS, Receiver, RetryCounts, retry_keys
from waproto.credentials import Credentials
from waproto.jid import DEFAULT_USER_SERVER, GROUP_SERVER, JID
from waproto.proto import ADVSignedDeviceIdentity, Message
from waproto.signal import MemorySenderKeyStore, pad
from waproto.signal.keys import generate_pre_keys

ME = JID("15550002222", DEFAULT_USER_SERVER, device=5)
BOB = JID("15550004444", DEFAULT_USER_SERVER, device=0)
GROUP = JID("120363000000000001", GROUP_SERVER)


class Harness:
    """A Receiver on a paired, never connected client whose sent stanzas are recorded."""

    def __init__(self, *, queue: int = 4, connected: bool = True) -> None:
        creds = dataclasses.replace(Credentials.generate(random.Random(3).randbytes), me=ME)
        client = Client(ClientSettings(), creds, MemoryClientStore(creds))
        self.sent: list[Node] = []
        self.connected = connected
        client.send_node = self._send  # type: ignore[method-assign]
        self.items: list[ReceivedMessage | UndecryptableMessage] = []
        self.statuses: list[MessageStatus] = []
        self.retries_in, self.retries = trio.open_memory_channel[Node](queue)
        self.receiver = Receiver(
            client,
            signal=CompanionSignalStore(client),
            keys=GroupKeys(MemorySenderKeyStore(), random.Random(4).randbytes),
            addresses=AddressBook(client),
            lock=trio.Lock(),
            retries=self.retries_in,
            on_message=self._item,
            on_receipt=self._status,
            directory=None,
            rng=random.Random(5).randbytes,
        )

    async def _send(self, node: Node) -> None:
        if not self.connected:
            raise NotConnected("gone")
        self.sent.append(node)

    async def _item(self, item: ReceivedMessage | UndecryptableMessage) -> None:
        self.items.append(item)

    async def _status(self, status: MessageStatus) -> None:
        self.statuses.append(status)


@pytest.mark.parametrize(
    ("receipt_type", "status"),
    [
        (None, "delivered"),
        ("read", "read"),
        ("read-self", "read"),
        ("played", "played"),
        ("played-self", "played"),
    ],
)
async def test_receipts_become_statuses_and_are_acked(receipt_type: str | None, status: StatusKind) -> None:
    harness = Harness()
    attrs: dict[str, str | JID] = {"id": "3EB0A", "from": GROUP, "participant": BOB}
    if receipt_type is not None:
        attrs["type"] = receipt_type
    listed = Node("list", {}, [Node("item", {"id": "3EB0B"}), Node("item", {}), Node("item", {"id": ""})])
    await harness.receiver.on_receipt_stanza(Node("receipt", attrs, [listed]))
    assert harness.statuses == [MessageStatus(("3EB0A", "3EB0B"), status, BOB, GROUP)]
    [ack] = harness.sent
    expected: dict[str, str | JID] = {"id": "3EB0A", "class": "receipt", "to": GROUP, "participant": BOB}
    if receipt_type is not None:
        expected["type"] = receipt_type
    assert (ack.tag, ack.attrs) == ("ack", expected)


async def test_retry_receipts_are_queued_and_never_block() -> None:
    harness = Harness(queue=1)
    first = Node("receipt", {"id": "3EB0A", "from": BOB, "type": "retry"}, [Node("retry", {"count": "1"})])
    second = Node("receipt", {"id": "3EB0C", "from": BOB, "type": "retry"})
    await harness.receiver.on_receipt_stanza(first)
    await harness.receiver.on_receipt_stanza(second)  # the queue is full: dropped, still acked
    assert harness.retries.receive_nowait() is first
    with pytest.raises(trio.WouldBlock):
        harness.retries.receive_nowait()
    assert harness.statuses == []  # a retry is no status
    assert [ack.attrs["id"] for ack in harness.sent] == ["3EB0A", "3EB0C"]
    assert all(ack.attrs["type"] == "retry" for ack in harness.sent)


async def test_receipt_status_of_other_types_is_none() -> None:
    assert receipt_status(None) == "delivered"
    assert receipt_status("sender") is None
    assert receipt_status("retry") is None
    assert receipt_status(3) == "delivered"  # not a string: as if absent
    harness = Harness()
    await harness.receiver.on_receipt_stanza(
        Node("receipt", {"id": "3EB0A", "from": BOB, "type": "inactive"})
    )
    assert harness.statuses == []
    assert len(harness.sent) == 1


async def test_an_undecryptable_message_gets_a_retry_receipt_and_an_ack() -> None:
    harness = Harness()
    node = Node(
        "message",
        {"id": "3EB0X", "from": GROUP, "participant": BOB, "t": "1700000000"},
        [Node("enc", {"v": "2", "type": "skmsg"}, b"\x33garbage")],
    )
    await harness.receiver.on_message_stanza(node)
    [failed] = harness.items
    assert isinstance(failed, UndecryptableMessage)
    assert (failed.id, failed.sender) == ("3EB0X", BOB)
    receipt, ack = harness.sent
    assert receipt.attrs == {"id": "3EB0X", "type": "retry", "to": GROUP, "participant": BOB}
    retry, registration = receipt.children
    assert retry.attrs == {"count": "1", "id": "3EB0X", "t": "1700000000", "v": "1"}
    assert registration.content == harness.receiver.client.credentials.registration_id.to_bytes(4, "big")
    assert ack.attrs == {"id": "3EB0X", "class": "message", "to": GROUP, "participant": BOB}


async def test_a_connection_gone_before_the_receipt_is_not_an_error() -> None:
    harness = Harness(connected=False)
    await harness.receiver.on_receipt_stanza(Node("receipt", {"id": "3EB0A", "from": BOB}))
    await harness.receiver.on_message_stanza(
        Node("message", {"id": "3EB0X", "from": BOB}, [Node("enc", {"v": "2", "type": "msg"}, b"\x33")])
    )
    assert len(harness.statuses) == 1
    assert len(harness.items) == 1
    assert harness.sent == []


def undecryptable(message_id: str = "3EB0R") -> Node:
    return Node(
        "message",
        {"id": message_id, "from": BOB, "t": "1700000000", "recipient": ME},
        [Node("enc", {"v": "2", "type": "msg"}, b"\x33garbage")],
    )


async def test_retry_receipts_are_counted_carry_keys_from_the_second_and_stop_after_five() -> None:
    harness = Harness()
    client = harness.receiver.client
    store = client.store
    assert isinstance(store, MemoryClientStore)
    first_id = client.credentials.next_pre_key_id
    for _ in range(MAX_RETRY_RECEIPTS + 1):
        await harness.receiver.on_message_stanza(undecryptable())
    receipts = [node for node in harness.sent if node.tag == "receipt"]
    acks = [node for node in harness.sent if node.tag == "ack"]
    assert len(acks) == MAX_RETRY_RECEIPTS + 1  # every delivery is acked, also the one not retried
    assert len(harness.items) == MAX_RETRY_RECEIPTS + 1  # and reported
    assert [r.child("retry").attrs["count"] for r in receipts] == ["1", "2", "3", "4", "5"]  # type: ignore[union-attr]
    assert receipts[0].attrs == {"id": "3EB0R", "type": "retry", "to": BOB, "recipient": ME}
    assert receipts[0].child("keys") is None
    creds = client.credentials
    handed: list[int] = []
    for receipt in receipts[1:]:
        keys = receipt.child("keys")
        assert keys is not None
        assert [c.tag for c in keys.children] == [
            "type",
            "identity",
            "key",
            "skey",
        ]  # no account: unpaired harness
        assert keys.child("type").content == b"\x05"  # type: ignore[union-attr]
        assert keys.child("identity").content == creds.identity_key.public  # type: ignore[union-attr]
        key = keys.child("key")
        assert key is not None
        key_id = int.from_bytes(key.child("id").content, "big")  # type: ignore[arg-type, union-attr]
        record = store.pre_keys[key_id]  # its private half is kept for the session the sender builds
        assert key.child("value").content == record.key_pair.public  # type: ignore[union-attr]
        skey = keys.child("skey")
        assert skey is not None
        assert [c.content for c in skey.children] == [
            creds.signed_pre_key.key_id.to_bytes(3, "big"),
            creds.signed_pre_key.key_pair.public,
            creds.signed_pre_key.signature,
        ]
        handed.append(key_id)
    assert handed == list(range(first_id, first_id + 4))  # a new prekey each time, never one reused
    assert creds.next_pre_key_id == first_id + 4
    assert store.credentials is not None
    assert store.credentials.next_pre_key_id == first_id + 4  # counted durably


async def test_retry_keys_carry_the_device_identity_of_a_paired_device() -> None:
    account = ADVSignedDeviceIdentity(details=b"adv", account_signature_key=bytes(32)).SerializeToString()
    creds = dataclasses.replace(Credentials.generate(random.Random(3).randbytes), me=ME, account=account)
    record = generate_pre_keys(7, 1, random.Random(1).randbytes)[0]
    keys = retry_keys(creds, record)
    assert [c.tag for c in keys.children] == ["type", "identity", "key", "skey", "device-identity"]
    assert keys.children[-1].content == account


def test_retry_counts_are_per_message_and_bounded() -> None:
    counts = RetryCounts(size=2)
    assert counts.bump("A", BOB, None) == 1
    assert counts.bump("A", BOB, None) == 2
    assert counts.bump("A", GROUP, BOB) == 1  # another chat: its own count
    assert counts.bump("B", BOB, None) == 1  # a third message: the oldest ("A" from BOB) is forgotten
    assert counts.bump("A", BOB, None) == 1


async def test_a_paired_client_hands_out_prekey_ids_once_even_while_uploading() -> None:
    creds = dataclasses.replace(Credentials.generate(random.Random(3).randbytes), me=ME)
    client = Client(ClientSettings(), creds, MemoryClientStore(creds))
    start = creds.next_pre_key_id
    async with trio.open_nursery() as nursery:
        got: list[int] = []

        async def one() -> None:
            got.append((await client.unpublished_pre_key()).key_id)

        for _ in range(5):
            nursery.start_soon(one)
    assert sorted(got) == list(range(start, start + 5))
    assert client.credentials.next_pre_key_id == start + 5


@pytest.mark.interop
async def test_baileys_7_starts_a_session_from_our_retry_keys(baileys: BaileysHarness) -> None:
    """Baileys 7 reads the <keys> of our second retry receipt with its own parser; a libsignal session built
    from them sends the message again as a pkmsg on the prekey we handed out, and it decrypts here."""
    harness = Harness()
    for _ in range(2):
        await harness.receiver.on_message_stanza(undecryptable())
    second = [node for node in harness.sent if node.tag == "receipt"][1]
    bundle = baileys.call("retry.bundle", frame=marshal(second))
    assert bundle is not None
    creds = harness.receiver.client.credentials
    assert bundle["registrationId"] == creds.registration_id
    handed = int.from_bytes(second.child("keys").child("key").child("id").content, "big")  # type: ignore[arg-type, union-attr]
    assert bundle["preKey"]["keyId"] == handed
    party = baileys.call("signal.party.create")
    me = {"name": "me", "deviceId": ME.device}
    baileys.call("signal.party.processBundle", handle=party, address=me, bundle=bundle)
    plain = pad(Message(conversation="again").SerializeToString(), random.Random(6).randbytes)
    [sent] = baileys.call("signal.party.encrypt", handle=party, address=me, plaintexts=[plain])
    assert sent["type"] == "pkmsg"
    await harness.receiver.on_message_stanza(
        Node(
            "message",
            {"id": "3EB0R", "from": BOB, "t": "1700000001"},
            [Node("enc", {"v": "2", "type": "pkmsg"}, sent["body"])],
        )
    )
    received = harness.items[-1]
    assert isinstance(received, ReceivedMessage)
    assert received.text == "again"
    store = harness.receiver.client.store
    assert isinstance(store, MemoryClientStore)
    assert handed not in store.pre_keys  # the one-time prekey is used up
    baileys.call("signal.party.drop", handle=party)
