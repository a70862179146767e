"""Signal conversations through waproto.signal with the SQLite stores on one side (or both).

A 1:1 conversation (pkmsg, then msg both ways) and a group conversation (sender keys) keep working across
database reopens in the middle; a failed decryption (tampered, replayed, unknown prekey) leaves the
database byte-for-byte as it was (waproto stores only after a whole operation succeeded, and each
store call is committed on its own).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.waporta.storage.stores.backends import Backend, dump
from waproto.errors import DecryptionError, DuplicateMessage, InvalidKeyId, InvalidMessage
from waproto.signal.address import ProtocolAddress
from waproto.signal.cipher import CiphertextMessage, decrypt, encrypt
from waproto.signal.curve import KeyPair
from waproto.signal.group import (
    create_distribution_message,
    group_decrypt,
    group_encrypt,
    process_distribution_message,
)
from waproto.signal.keys import (
    PreKeyBundle,
    generate_identity_key_pair,
    generate_pre_keys,
    generate_registration_id,
    generate_signed_pre_key,
)
from waproto.signal.sender_keys import SenderKeyName
from waproto.signal.session import process_pre_key_bundle

GROUP = "120363000000000009@g.us"


@dataclass
class Device:
    """One party: a hub session on some backend, its keys, a seeded rng."""

    session_id: str
    address: ProtocolAddress
    backend: Backend
    identity: KeyPair
    registration_id: int
    rng: Callable[[int], bytes]

    @property
    def store(self) -> Any:
        # Asked for each time: after a reopen the SQLite backend hands out new objects.
        return self.backend.signal(self.session_id, self.identity, self.registration_id)

    @property
    def sender_keys(self) -> Any:
        return self.backend.sender_keys(self.session_id)

    async def bundle(self, pre_key_id: int | None = 1) -> PreKeyBundle:
        signed = await self.store.load_signed_pre_key(1)
        pre_key = None if pre_key_id is None else await self.store.load_pre_key(pre_key_id)
        return PreKeyBundle(
            registration_id=self.registration_id,
            device_id=self.address.device_id,
            pre_key_id=None if pre_key is None else pre_key.key_id,
            pre_key_public=None if pre_key is None else pre_key.key_pair.signal_public,
            signed_pre_key_id=signed.key_id,
            signed_pre_key_public=signed.key_pair.signal_public,
            signed_pre_key_signature=signed.signature,
            identity_key=self.identity.signal_public,
        )

    async def start_session(self, other: Device, pre_key_id: int | None = 1) -> None:
        await process_pre_key_bundle(
            other.address,
            await other.bundle(pre_key_id),
            identity_store=self.store,
            session_store=self.store,
            rng=self.rng,
        )

    async def encrypt(self, to: Device, text: str) -> CiphertextMessage:
        store = self.store
        return await encrypt(to.address, text.encode(), identity_store=store, session_store=store)

    async def decrypt(self, sender: Device, message: CiphertextMessage) -> str:
        store = self.store
        result = await decrypt(
            sender.address,
            message.type,
            message.body,
            identity_store=store,
            session_store=store,
            pre_key_store=store,
            signed_pre_key_store=store,
            rng=self.rng,
        )
        return result.plaintext.decode()


async def make_device(backend: Backend, session_id: str, user: str, seed: int) -> Device:
    rng = random.Random(seed).randbytes
    identity = generate_identity_key_pair(rng)
    device = Device(
        session_id, ProtocolAddress(user, 0), backend, identity, generate_registration_id(rng), rng
    )
    store = device.store
    await store.store_signed_pre_key(1, generate_signed_pre_key(identity, 1, rng))
    for record in generate_pre_keys(1, 3, rng):
        await store.store_pre_key(record.key_id, record)
    return device


@pytest.fixture
async def other_backend(tmp_path: Path) -> Any:
    made = Backend("memory", tmp_path / "unused.db")
    await made.open()
    return made


# Where the two parties keep their state: SQLite on one side, the other, or both (two hub sessions in
# one database file).
LAYOUTS = ["alice-sqlite", "bob-sqlite", "both-sqlite"]


async def parties(layout: str, sqlite: Backend, memory: Backend) -> tuple[Device, Device]:
    alice_backend = memory if layout == "bob-sqlite" else sqlite
    bob_backend = memory if layout == "alice-sqlite" else sqlite
    alice = await make_device(alice_backend, "alice-session", "15550001111", 1)
    bob = await make_device(bob_backend, "bob-session", "15550002222", 2)
    return alice, bob


@pytest.fixture(params=["sqlite", "sqlite-nocache"])
async def sqlite_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    made = Backend(request.param, tmp_path / "data" / "waporta.db")
    await made.open()
    try:
        yield made
    finally:
        await made.close()


@pytest.mark.parametrize("layout", LAYOUTS)
async def test_a_conversation_survives_reopens(
    layout: str, sqlite_backend: Backend, other_backend: Backend
) -> None:
    alice, bob = await parties(layout, sqlite_backend, other_backend)
    await alice.start_session(bob)
    first = await alice.encrypt(bob, "hello 0")
    assert first.type == "pkmsg"
    assert await bob.decrypt(alice, first) == "hello 0"
    assert await bob.store.load_pre_key(1) is None  # the used one-time prekey is gone
    assert await bob.store.load_pre_key(2) is not None
    await sqlite_backend.reopen()
    for turn in range(1, 6):
        # Bob answers (Alice's pkmsg phase ends), Alice sends two in a row, a reopen between turns.
        reply = await bob.encrypt(alice, f"reply {turn}")
        assert reply.type == "msg"
        assert await alice.decrypt(bob, reply) == f"reply {turn}"
        one, two = await alice.encrypt(bob, f"a{turn}"), await alice.encrypt(bob, f"b{turn}")
        assert one.type == two.type == "msg"
        await sqlite_backend.reopen()
        assert await bob.decrypt(alice, two) == f"b{turn}"  # out of order: a skipped key is kept
        await sqlite_backend.reopen()
        assert await bob.decrypt(alice, one) == f"a{turn}"
    assert await alice.store.get_identity(bob.address) == bob.identity.public
    assert await bob.store.get_identity(alice.address) == alice.identity.public


@pytest.mark.parametrize("layout", ["bob-sqlite", "both-sqlite"])
async def test_failed_decryptions_leave_the_database_unchanged(
    layout: str, sqlite_backend: Backend, other_backend: Backend
) -> None:
    alice, bob = await parties(layout, sqlite_backend, other_backend)
    await alice.start_session(bob)
    pkmsg = await alice.encrypt(bob, "first")

    # A pkmsg naming a prekey Bob does not have.
    stranger = await make_device(other_backend, "stranger", "15550003333", 3)
    await stranger.start_session(bob, pre_key_id=3)
    unknown_pre_key = await stranger.encrypt(bob, "who?")
    await bob.store.remove_pre_key(3)

    before = await dump(sqlite_backend.sqlite)
    with pytest.raises(InvalidKeyId):
        await bob.decrypt(stranger, unknown_pre_key)
    tampered = CiphertextMessage(pkmsg.type, pkmsg.body[:-1] + bytes([pkmsg.body[-1] ^ 1]))
    with pytest.raises(DecryptionError):
        await bob.decrypt(alice, tampered)
    with pytest.raises(InvalidMessage):
        await bob.decrypt(alice, CiphertextMessage("msg", b"\x33garbage"))
    assert await dump(sqlite_backend.sqlite) == before

    assert await bob.decrypt(alice, pkmsg) == "first"
    reply = await bob.encrypt(alice, "ok")
    assert await alice.decrypt(bob, reply) == "ok"
    message = await alice.encrypt(bob, "second")
    assert await bob.decrypt(alice, message) == "second"

    before = await dump(sqlite_backend.sqlite)
    with pytest.raises(DuplicateMessage):
        await bob.decrypt(alice, message)
    with pytest.raises(DecryptionError):
        await bob.decrypt(alice, pkmsg)  # the pkmsg again: its prekey is used up / its counter seen
    assert await dump(sqlite_backend.sqlite) == before
    fresh = await alice.encrypt(bob, "third")
    before = await dump(sqlite_backend.sqlite)  # (Alice's encryption changed it when she is on SQLite)
    bad_mac = CiphertextMessage(fresh.type, fresh.body[:-1] + bytes([fresh.body[-1] ^ 0x80]))
    with pytest.raises(InvalidMessage):
        await bob.decrypt(alice, bad_mac)
    assert await dump(sqlite_backend.sqlite) == before
    # The session still works after all that, and the failed attempt used up nothing.
    assert await bob.decrypt(alice, fresh) == "third"


@pytest.mark.parametrize("layout", LAYOUTS)
async def test_a_group_conversation_survives_reopens(
    layout: str, sqlite_backend: Backend, other_backend: Backend
) -> None:
    alice, bob = await parties(layout, sqlite_backend, other_backend)
    alice_name = SenderKeyName(GROUP, alice.address)
    bob_name = SenderKeyName(GROUP, bob.address)
    distribution = await create_distribution_message(alice.sender_keys, alice_name, alice.rng)
    await process_distribution_message(bob.sender_keys, alice_name, distribution)
    back = await create_distribution_message(bob.sender_keys, bob_name, bob.rng)
    await process_distribution_message(alice.sender_keys, bob_name, back)
    await sqlite_backend.reopen()
    late = []
    for turn in range(4):
        sent = await group_encrypt(alice.sender_keys, alice_name, f"to all {turn}".encode())
        if turn % 2:
            late.append((turn, sent))
            continue
        await sqlite_backend.reopen()
        assert await group_decrypt(bob.sender_keys, alice_name, sent) == f"to all {turn}".encode()
        answer = await group_encrypt(bob.sender_keys, bob_name, f"back {turn}".encode())
        assert await group_decrypt(alice.sender_keys, bob_name, answer) == f"back {turn}".encode()
    for turn, sent in late:
        assert await group_decrypt(bob.sender_keys, alice_name, sent) == f"to all {turn}".encode()
    # The same distribution message again must not rewind anything.
    await process_distribution_message(bob.sender_keys, alice_name, distribution)
    if layout != "alice-sqlite":  # Bob's store is SQLite: a failed group decrypt changes nothing.
        before = await dump(sqlite_backend.sqlite)
        with pytest.raises(DuplicateMessage):
            await group_decrypt(bob.sender_keys, alice_name, late[0][1])
        with pytest.raises(InvalidMessage):
            await group_decrypt(bob.sender_keys, alice_name, late[0][1][:-1] + b"\x00")
        assert await dump(sqlite_backend.sqlite) == before
