"""waproto.client.addressing: our identities, the in-memory LID↔PN map, Signal address naming, the
copy of a phone-number session to the LID address, learning from stanza attributes, and recalling
stored LIDs from a directory (store only)."""

from __future__ import annotations

import dataclasses
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from waproto.binary import Node
from waproto.client import Client, ClientSettings, MemoryClientStore
from waproto.client.addressing import AddressBook, jid_attr, sender_alt
from waproto.credentials import Credentials
from waproto.errors import LocalProtocolError
from waproto.jid import DEFAULT_USER_SERVER, GROUP_SERVER, HIDDEN_USER_SERVER, JID
from waproto.signal import ProtocolAddress, SessionRecord
from waproto.signal.memory import MemorySessionStore

ME = JID("15550002222", DEFAULT_USER_SERVER, device=5)
MY_LID = JID("200000000000002", HIDDEN_USER_SERVER, device=5)
BOB = JID("15550004444", DEFAULT_USER_SERVER)
BOB_LID = JID("100000000000004", HIDDEN_USER_SERVER)
CAROL = JID("15550005555", DEFAULT_USER_SERVER)


def book(*, paired: bool = True, lid: bool = True) -> AddressBook:
    creds = Credentials.generate(random.Random(1).randbytes)
    if paired:
        creds = dataclasses.replace(creds, me=ME, lid=MY_LID if lid else None)
    return AddressBook(Client(ClientSettings(), creds, MemoryClientStore(creds)))


class FakeDirectory:
    """known_lids over a dict; records what it was asked (it must never query a server)."""

    def __init__(self, stored: dict[JID, JID]) -> None:
        self.stored = stored
        self.asked: list[list[JID]] = []

    async def known_lids(self, pn_users: list[JID]) -> dict[JID, JID]:
        self.asked.append(list(pn_users))
        return {user: self.stored[user] for user in pn_users if user in self.stored}

    async def devices(self, users: list[JID]) -> dict[JID, list[JID]]:
        raise AssertionError("no device lists here")

    async def lid_for(self, pn_users: list[JID]) -> dict[JID, JID]:
        raise AssertionError("recall never queries")

    async def learn(self, node: Node) -> None:
        raise AssertionError("not used")

    async def forget(self, users: list[JID]) -> None:
        raise AssertionError("not used")


def test_own_identities() -> None:
    addresses = book()
    assert addresses.own() == (ME, MY_LID.to_non_ad())
    assert addresses.is_own_user(ME.with_device(0))
    assert addresses.is_own_user(MY_LID.with_device(9))
    assert addresses.is_this_device(ME)
    assert addresses.is_this_device(MY_LID)
    assert not addresses.is_this_device(ME.with_device(0))
    assert not addresses.is_own_user(BOB)
    assert book(lid=False).own() == (ME, None)
    with pytest.raises(LocalProtocolError, match="not paired"):
        book(paired=False).own()


def test_addresses_are_keyed_by_lid_when_known() -> None:
    addresses = book()
    assert addresses.address(BOB.with_device(3)) == ProtocolAddress(BOB.user, 3)
    assert addresses.address(BOB_LID.with_device(3)) == ProtocolAddress(f"{BOB_LID.user}_1", 3)
    addresses.remember(BOB.with_device(7), BOB_LID.with_device(2))  # devices are dropped
    assert addresses.lid_of(BOB) == BOB_LID
    assert addresses.pn_of(BOB_LID) == BOB
    assert addresses.address(BOB.with_device(3)) == ProtocolAddress(f"{BOB_LID.user}_1", 3)
    # Our own pair comes from the credentials.
    assert addresses.lid_of(ME.to_non_ad()) == MY_LID.to_non_ad()
    assert addresses.pn_of(MY_LID.to_non_ad()) == ME.to_non_ad()
    assert addresses.address(ME.with_device(0)) == ProtocolAddress(f"{MY_LID.user}_1", 0)


def test_only_pn_lid_pairs_are_remembered() -> None:
    addresses = book()
    addresses.remember(BOB_LID, BOB)  # the wrong way round
    addresses.remember(BOB, JID("1234", GROUP_SERVER))
    assert addresses.lid_of(BOB) is None
    assert addresses.pn_of(BOB_LID) is None


async def test_a_phone_number_session_is_copied_to_the_lid_address() -> None:
    addresses, store = book(), MemorySessionStore()
    record = SessionRecord()
    store.sessions[ProtocolAddress(BOB.user, 0)] = record
    # Without the LID, the session is where it is.
    assert await addresses.session(store, BOB) == (ProtocolAddress(BOB.user, 0), record)
    addresses.remember(BOB, BOB_LID)
    lid_address = ProtocolAddress(f"{BOB_LID.user}_1", 0)
    for device in (BOB, BOB_LID):  # by number or by LID: the same session, copied over once
        assert await addresses.session(store, device) == (lid_address, record)
    assert store.sessions[lid_address] is record
    newer = SessionRecord()
    store.sessions[lid_address] = newer
    assert await addresses.session(store, BOB) == (lid_address, newer)
    assert await addresses.session(store, CAROL.with_device(1)) == (ProtocolAddress(CAROL.user, 1), None)


def test_learning_from_stanza_attributes() -> None:
    addresses = book()
    addresses.learn(
        Node(
            "message",
            {
                "from": JID("1203630001", GROUP_SERVER),
                "participant": BOB.with_device(2),
                "participant_lid": BOB_LID,
                "recipient": CAROL,
                "peer_recipient_lid": "100000000000005@lid",
            },
        )
    )
    assert addresses.lid_of(BOB) == BOB_LID
    assert addresses.lid_of(CAROL) == JID("100000000000005", HIDDEN_USER_SERVER)
    other = book()
    other.learn(Node("message", {"from": BOB_LID.with_device(1), "sender_pn": BOB}))
    assert other.pn_of(BOB_LID) == BOB


@settings(max_examples=100, deadline=None)
@given(
    values=st.dictionaries(
        st.sampled_from(
            ["from", "participant", "recipient", "sender_lid", "sender_pn", "participant_lid", "participant_pn",
             "peer_recipient_lid", "peer_recipient_pn"]
        ),
        st.one_of(st.text(max_size=30), st.sampled_from(["@lid", "x@", "1:2@lid", ".0:1@s.whatsapp.net", "a@b@c"])),
    )
)
def test_garbage_attributes_never_raise(values: dict[str, str]) -> None:
    addresses = book()
    node = Node("message", dict(values))
    addresses.learn(node)
    for name in values:
        jid_attr(node, name)
    sender = jid_attr(node, "from") or BOB
    alt = sender_alt(node, sender, True)
    assert alt is None or (alt.server != sender.server and alt.device == 0)


def test_sender_alt_names_the_other_identity() -> None:
    node = Node("message", {"from": BOB.with_device(1), "sender_lid": BOB_LID.with_device(1)})
    assert sender_alt(node, BOB.with_device(1), False) == BOB_LID
    assert sender_alt(Node("message", {"sender_pn": BOB}), BOB.with_device(1), False) is None  # same server
    group = Node("message", {"participant_pn": BOB, "sender_lid": "9@lid"})
    assert sender_alt(group, BOB_LID, True) == BOB
    assert sender_alt(group, BOB_LID, False) is None
    assert jid_attr(Node("message", {"from": "not a jid@@"}), "from") is None
    assert jid_attr(Node("message", {}), "from") is None


async def test_recall_asks_the_directory_store_for_unknown_numbers_only() -> None:
    addresses = book()
    addresses.remember(CAROL, JID("100000000000005", HIDDEN_USER_SERVER))
    directory = FakeDirectory({BOB: BOB_LID})
    await addresses.recall(
        directory, [BOB.with_device(2), BOB, CAROL, BOB_LID, ME, JID("1203630001", GROUP_SERVER)]
    )
    assert directory.asked == [[BOB]]  # known numbers, LIDs, our own and groups are not asked
    assert addresses.lid_of(BOB) == BOB_LID
    assert addresses.address(BOB.with_device(2)) == ProtocolAddress(f"{BOB_LID.user}_1", 2)
    await addresses.recall(directory, [BOB, BOB_LID])
    assert directory.asked == [[BOB]]  # nothing left to ask
    nobody = JID("15559999999", DEFAULT_USER_SERVER)
    await addresses.recall(directory, [nobody])
    assert addresses.lid_of(nobody) is None
