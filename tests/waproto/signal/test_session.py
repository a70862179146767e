"""waproto.signal.session: X3DH building, records with previous states, identity changes, serialisation."""

from __future__ import annotations

import pytest

from tests.waproto.signal.session_parties import make_party, seeded_rng
from waproto.errors import DecodeError, InvalidKeySignature, UntrustedIdentity
from waproto.signal.curve import shared_secret
from waproto.signal.keys import PreKeyBundle, generate_identity_key_pair
from waproto.signal.ratchet import ratchet_root
from waproto.signal.session import (
    MAX_PREVIOUS_STATES,
    IdentityChange,
    SessionRecord,
    initialize_alice,
    initialize_bob,
    process_pre_key_bundle,
)


@pytest.mark.parametrize("with_pre_key", [True, False])
def test_alice_and_bob_derive_the_same_chain(with_pre_key: bool) -> None:
    alice, bob = make_party("alice", 1), make_party("bob", 2)
    rng = seeded_rng(3)
    bundle = bob.bundle(with_pre_key=with_pre_key)
    base = generate_identity_key_pair(rng)
    a = initialize_alice(
        our_identity=alice.store.identity, our_base_key=base, our_registration_id=1, bundle=bundle, rng=rng
    )
    b = initialize_bob(
        our_identity=bob.store.identity,
        our_signed_pre_key=bob.store.signed_pre_keys[1].key_pair,
        our_one_time_pre_key=bob.store.pre_keys[1].key_pair if with_pre_key else None,
        our_registration_id=2,
        their_identity=alice.store.identity.public,
        their_base_key=base.public,
        their_registration_id=1,
    )
    assert a.base_key == b.base_key == base.public
    assert a.pending_pre_key is not None
    assert a.pending_pre_key.pre_key_id == (1 if with_pre_key else None)
    assert b.local_ratchet == bob.store.signed_pre_keys[1].key_pair
    # Bob's receiving chain for Alice's first ratchet key is Alice's sending chain.
    _, bob_receive = ratchet_root(b.root_key, shared_secret(b.local_ratchet.private, a.local_ratchet.public))
    assert bob_receive == a.sender_chain_key
    # The one-time prekey changes the secret.
    other = initialize_bob(
        our_identity=bob.store.identity,
        our_signed_pre_key=bob.store.signed_pre_keys[1].key_pair,
        our_one_time_pre_key=None if with_pre_key else bob.store.pre_keys[1].key_pair,
        our_registration_id=2,
        their_identity=alice.store.identity.public,
        their_base_key=base.public,
        their_registration_id=1,
    )
    assert other.root_key != b.root_key


async def test_process_bundle_stores_a_pending_session() -> None:
    alice, bob = make_party("alice", 1), make_party("bob", 2)
    assert await alice.build_session(bob) is None
    record = alice.store.sessions[bob.address]
    assert record.current is not None
    assert record.previous == ()
    assert record.current.remote_identity == bob.store.identity.public
    assert alice.store.identities[bob.address] == bob.store.identity.public
    message = await alice.encrypt(bob, b"x")
    assert message.type == "pkmsg"


async def test_a_new_bundle_archives_the_session_in_use() -> None:
    alice, bob = make_party("alice", 1), make_party("bob", 2)
    await alice.build_session(bob)
    first = alice.store.sessions[bob.address].current
    await alice.build_session(bob, with_pre_key=False)
    record = alice.store.sessions[bob.address]
    assert record.previous == (first,)
    assert record.current is not first


async def test_bad_signed_pre_key_signature_stores_nothing() -> None:
    alice, bob = make_party("alice", 1), make_party("bob", 2)
    good = bob.bundle()
    bad = PreKeyBundle(
        good.registration_id,
        0,
        good.pre_key_id,
        good.pre_key_public,
        good.signed_pre_key_id,
        good.signed_pre_key_public,
        bytes(64),
        good.identity_key,
    )
    before = alice.snapshot()
    with pytest.raises(InvalidKeySignature):
        await process_pre_key_bundle(
            bob.address, bad, identity_store=alice.store, session_store=alice.store, rng=alice.rng
        )
    assert alice.snapshot() == before


async def test_identity_change_is_reported_when_accepted() -> None:
    alice, bob = make_party("alice", 1), make_party("bob", 2)
    await alice.build_session(bob)
    new_bob = make_party("bob", 99)  # same address, new identity (reinstalled)
    change = await alice.build_session(new_bob)
    assert change == IdentityChange(bob.address, bob.store.identity.public, new_bob.store.identity.public)
    assert alice.store.identities[bob.address] == new_bob.store.identity.public


async def test_identity_change_is_refused_when_the_store_says_so() -> None:
    alice = make_party("alice", 1, accept_changed_identities=False)
    bob = make_party("bob", 2)
    await alice.build_session(bob)
    new_bob = make_party("bob", 99)
    before = alice.snapshot()
    with pytest.raises(UntrustedIdentity) as info:
        await alice.build_session(new_bob)
    assert info.value.identity_key == new_bob.store.identity.public
    assert info.value.address == bob.address
    assert alice.snapshot() == before


async def test_record_serialisation_round_trip() -> None:
    alice, bob = make_party("alice", 1), make_party("bob", 2)
    await alice.build_session(bob)
    await bob.decrypt(alice, await alice.encrypt(bob, b"one"))
    for i in range(3):
        await alice.decrypt(bob, await bob.encrypt(alice, b"r%d" % i))
    late = [await bob.encrypt(alice, b"late %d" % i) for i in range(3)]
    await alice.decrypt(bob, late[2])  # leaves two skipped keys
    await alice.build_session(bob, with_pre_key=False)  # and a previous state
    record = alice.store.sessions[bob.address]
    data = record.serialize()
    copy = SessionRecord.deserialize(data)
    assert copy == record
    assert copy.serialize() == data
    assert len(copy.previous) == 1
    assert sorted(copy.previous[0].receiver_chains[0].skipped) == [3, 4]
    # The copy works: the archived state still decrypts the late messages.
    alice.store.sessions[bob.address] = copy
    assert (await alice.decrypt(bob, late[0])).plaintext == b"late 0"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"{",
        b"[]",
        b'{"format": 2, "current": null, "previous": []}',
        b'{"format": 1, "current": {}, "previous": []}',
        b'{"format": 1, "current": null, "previous": [1]}',
        b"\xff\xfe",
    ],
)
def test_record_deserialise_rejects_garbage(data: bytes) -> None:
    with pytest.raises(DecodeError):
        SessionRecord.deserialize(data)


def test_previous_states_are_bounded() -> None:
    alice, bob = make_party("alice", 1), make_party("bob", 2)
    rng = seeded_rng(5)
    record = SessionRecord()
    states = []
    for _ in range(MAX_PREVIOUS_STATES + 3):
        state = initialize_alice(
            our_identity=alice.store.identity,
            our_base_key=generate_identity_key_pair(rng),
            our_registration_id=1,
            bundle=bob.bundle(),
            rng=rng,
        )
        states.append(state)
        record = record.with_new_session(state)
    assert record.current is states[-1]
    assert len(record.previous) == MAX_PREVIOUS_STATES
    assert record.previous[0] is states[-2]
    assert record.find_base_key(states[0].base_key) is None
    assert record.find_base_key(states[-1].base_key) == (-1, states[-1])
    assert record.find_base_key(states[-2].base_key) == (0, states[-2])
