"""waproto.client.receiving offline: receipts for what we sent become MessageStatus values, retry
receipts are queued for the Messenger (and dropped, never raised, when too many wait), every receipt
and failed message is acked with the attributes the server expects, and a connection already gone
does not raise. Decryption itself is exercised end to end in test_messaging, test_groups, test_lid."""

from __future__ import annotations

import dataclasses
import random

import pytest
import trio

from waproto.binary import Node
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
from waproto.client.receiving import Receiver
from waproto.credentials import Credentials
from waproto.jid import DEFAULT_USER_SERVER, GROUP_SERVER, JID
from waproto.signal import MemorySenderKeyStore

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
    [(None, "delivered"), ("read", "read"), ("read-self", "read"), ("played", "played"), ("played-self", "played")],
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
    await harness.receiver.on_receipt_stanza(Node("receipt", {"id": "3EB0A", "from": BOB, "type": "inactive"}))
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
