"""waproto.signal.cipher: pkmsg/msg encryption and decryption between two in-memory parties."""

from __future__ import annotations

import contextlib
import random

import pytest

from tests.waproto.signal.session_parties import Party, make_party
from waproto.errors import (
    DecryptionError,
    DuplicateMessage,
    InvalidKeyId,
    InvalidMac,
    InvalidMessage,
    LocalProtocolError,
    NoSession,
    TooManySkippedMessages,
    UntrustedIdentity,
)
from waproto.proto import PreKeySignalMessage, SignalMessage, decode
from waproto.signal.cipher import CiphertextMessage, decrypt
from waproto.signal.session import MAX_RECEIVER_CHAINS, MAX_SKIPPED_KEYS


async def _established(seed: int = 0, *, with_pre_key: bool = True) -> tuple[Party, Party]:
    alice, bob = make_party("alice", seed + 1), make_party("bob", seed + 2)
    await alice.build_session(bob, with_pre_key=with_pre_key)
    assert (await bob.decrypt(alice, await alice.encrypt(bob, b"hello"))).plaintext == b"hello"
    assert (await alice.decrypt(bob, await bob.encrypt(alice, b"hi"))).plaintext == b"hi"
    return alice, bob


@pytest.mark.parametrize("with_pre_key", [True, False])
async def test_first_message_is_a_pkmsg_with_the_bundle_ids(with_pre_key: bool) -> None:
    alice, bob = make_party("alice", 1), make_party("bob", 2)
    await alice.build_session(bob, with_pre_key=with_pre_key)
    message = await alice.encrypt(bob, b"hello")
    assert message.type == "pkmsg"
    assert message.body[0] == 0x33
    proto = decode(PreKeySignalMessage, message.body[1:])
    assert proto.HasField("pre_key_id") == with_pre_key
    assert proto.signed_pre_key_id == 1
    assert proto.registration_id == alice.store.registration_id
    assert proto.identity_key == alice.store.identity.signal_public
    assert len(proto.base_key) == 33
    inner = decode(SignalMessage, proto.message[1:-8])
    assert (inner.counter, inner.previous_counter, len(inner.ratchet_key)) == (0, 0, 33)
    result = await bob.decrypt(alice, message)
    assert result.plaintext == b"hello"
    assert result.used_pre_key_id == (1 if with_pre_key else None)
    assert (1 in bob.store.pre_keys) == (not with_pre_key)
    assert bob.store.identities[alice.address] == alice.store.identity.public


async def test_pkmsg_until_answered_then_msg() -> None:
    alice, bob = make_party("alice", 1), make_party("bob", 2)
    await alice.build_session(bob)
    first = [await alice.encrypt(bob, b"m%d" % i) for i in range(3)]
    assert [m.type for m in first] == ["pkmsg"] * 3
    for i in (2, 0, 1):  # all carry the same base key; only the first builds the session
        assert (await bob.decrypt(alice, first[i])).plaintext == b"m%d" % i
    assert len(bob.store.sessions[alice.address].previous) == 0
    reply = await bob.encrypt(alice, b"reply")
    assert reply.type == "msg"
    await alice.decrypt(bob, reply)
    assert (await alice.encrypt(bob, b"after")).type == "msg"


async def test_ping_pong_and_long_chains() -> None:
    alice, bob = await _established()
    for round_ in range(5):
        for i in range(round_ + 1):
            m = await alice.encrypt(bob, b"a%d.%d" % (round_, i))
            assert (await bob.decrypt(alice, m)).plaintext == b"a%d.%d" % (round_, i)
        m = await bob.encrypt(alice, b"b%d" % round_)
        assert (await alice.decrypt(bob, m)).plaintext == b"b%d" % round_


async def test_out_of_order_across_ratchet_steps() -> None:
    alice, bob = await _established()
    held = [await alice.encrypt(bob, b"old %d" % i) for i in range(4)]
    await bob.decrypt(alice, held[3])
    await alice.decrypt(bob, await bob.encrypt(alice, b"turn"))  # alice ratchets
    new = [await alice.encrypt(bob, b"new %d" % i) for i in range(2)]
    order = [new[1], held[1], new[0], held[0], held[2]]
    texts = [(await bob.decrypt(alice, m)).plaintext for m in order]
    assert texts == [b"new 1", b"old 1", b"new 0", b"old 0", b"old 2"]


async def test_duplicate_is_reported_and_harmless() -> None:
    alice, bob = await _established()
    m = await alice.encrypt(bob, b"once")
    await bob.decrypt(alice, m)
    before = bob.snapshot()
    with pytest.raises(DuplicateMessage):
        await bob.decrypt(alice, m)
    assert bob.snapshot() == before
    assert (await bob.decrypt(alice, await alice.encrypt(bob, b"next"))).plaintext == b"next"


async def test_duplicate_pkmsg_is_reported_as_duplicate() -> None:
    alice, bob = make_party("alice", 1), make_party("bob", 2)
    await alice.build_session(bob)
    m = await alice.encrypt(bob, b"once")
    await bob.decrypt(alice, m)
    with pytest.raises(DuplicateMessage):
        await bob.decrypt(alice, m)


@pytest.mark.parametrize("where", ["mac", "ciphertext", "counter"])
async def test_tampered_message_fails_with_mac_error_and_session_survives(where: str) -> None:
    alice, bob = await _established()
    m = await alice.encrypt(bob, b"genuine 0")
    body = bytearray(m.body)
    index = {"mac": -1, "ciphertext": -12, "counter": 1 + 2 + 33 + 1}[where]
    body[index] ^= 0x01
    before = bob.snapshot()
    with pytest.raises(InvalidMac):
        await bob.decrypt(alice, CiphertextMessage("msg", bytes(body)))
    assert bob.snapshot() == before
    assert (await bob.decrypt(alice, m)).plaintext == b"genuine 0"
    assert (await bob.decrypt(alice, await alice.encrypt(bob, b"genuine 1"))).plaintext == b"genuine 1"


async def test_forged_ratchet_key_fails_and_changes_nothing() -> None:
    alice, bob = await _established()
    m = await alice.encrypt(bob, b"x")
    body = bytearray(m.body)
    body[4] ^= 0x40  # inside the 33-byte ratchet key: an unknown chain, a ratchet step on a copy
    before = bob.snapshot()
    with pytest.raises(DecryptionError):
        await bob.decrypt(alice, CiphertextMessage("msg", bytes(body)))
    assert bob.snapshot() == before
    assert (await bob.decrypt(alice, m)).plaintext == b"x"


async def test_skipping_is_bounded_with_a_clear_error() -> None:
    alice, bob = await _established()
    messages = [await alice.encrypt(bob, b"%d" % i) for i in range(MAX_SKIPPED_KEYS + 2)]
    before = bob.snapshot()
    with pytest.raises(TooManySkippedMessages):
        await bob.decrypt(alice, messages[MAX_SKIPPED_KEYS + 1])
    assert bob.snapshot() == before
    assert (await bob.decrypt(alice, messages[MAX_SKIPPED_KEYS])).plaintext == b"%d" % MAX_SKIPPED_KEYS
    assert (await bob.decrypt(alice, messages[0])).plaintext == b"0"
    chain = bob.store.sessions[alice.address].current.receiver_chains[0]  # type: ignore[union-attr]
    assert len(chain.skipped) == MAX_SKIPPED_KEYS - 1


async def test_unknown_prekey_is_invalid_key_id_and_stores_nothing() -> None:
    alice, bob = make_party("alice", 1), make_party("bob", 2)
    await alice.build_session(bob)
    m = await alice.encrypt(bob, b"x")
    del bob.store.pre_keys[1]
    before = bob.snapshot()
    with pytest.raises(InvalidKeyId) as info:
        await bob.decrypt(alice, m)
    assert info.value.key_id == 1
    assert bob.snapshot() == before
    bob.store.signed_pre_keys.clear()
    with pytest.raises(InvalidKeyId):
        await bob.decrypt(alice, m)


async def test_a_failed_pkmsg_keeps_the_prekey() -> None:
    alice, bob = make_party("alice", 1), make_party("bob", 2)
    await alice.build_session(bob)
    m = await alice.encrypt(bob, b"x")
    proto = decode(PreKeySignalMessage, m.body[1:])
    inner = bytearray(proto.message)
    inner[-1] ^= 1
    proto.message = bytes(inner)
    before = bob.snapshot()
    with pytest.raises(InvalidMac):
        await bob.decrypt(alice, CiphertextMessage("pkmsg", b"\x33" + proto.SerializeToString()))
    assert bob.snapshot() == before
    assert (await bob.decrypt(alice, m)).used_pre_key_id == 1


async def test_no_session() -> None:
    alice, bob = make_party("alice", 1), make_party("bob", 2)
    with pytest.raises(LocalProtocolError):
        await alice.encrypt(bob, b"x")
    other, _ = await _established(10)
    m = await other.encrypt(_, b"x")
    with pytest.raises(NoSession):
        await bob.decrypt(alice, m)


async def test_peer_reinstall_keeps_in_flight_messages_decryptable() -> None:
    alice, bob = await _established()
    in_flight = [await alice.encrypt(bob, b"flight %d" % i) for i in range(3)]
    # Alice re-establishes (for example after a retry receipt) and sends on the new session.
    await alice.build_session(bob, with_pre_key=False)
    fresh = await alice.encrypt(bob, b"fresh")
    assert fresh.type == "pkmsg"
    assert (await bob.decrypt(alice, fresh)).plaintext == b"fresh"
    assert len(bob.store.sessions[alice.address].previous) == 1
    new_session = bob.store.sessions[alice.address].current
    for i in (2, 0, 1):  # the old session, now a previous state, still decrypts
        assert (await bob.decrypt(alice, in_flight[i])).plaintext == b"flight %d" % i
    with pytest.raises(DuplicateMessage):
        await bob.decrypt(alice, in_flight[0])
    record = bob.store.sessions[alice.address]
    assert record.current is new_session  # replies still go out on the session Alice made last
    assert len(record.previous) == 1
    reply = await bob.encrypt(alice, b"reply")
    assert (await alice.decrypt(bob, reply)).plaintext == b"reply"
    assert (await alice.encrypt(bob, b"answered")).type == "msg"


async def test_identity_change_on_pkmsg_is_reported() -> None:
    alice, bob = await _established()
    new_alice = make_party("alice", 77)
    await new_alice.build_session(bob)
    result = await bob.decrypt(new_alice, await new_alice.encrypt(bob, b"I reinstalled"))
    assert result.plaintext == b"I reinstalled"
    assert result.identity_change is not None
    assert result.identity_change.previous == alice.store.identity.public
    assert result.identity_change.current == new_alice.store.identity.public


async def test_identity_change_on_pkmsg_refused_by_policy() -> None:
    alice, bob = make_party("alice", 1), make_party("bob", 2, accept_changed_identities=False)
    await alice.build_session(bob)
    await bob.decrypt(alice, await alice.encrypt(bob, b"hello"))
    new_alice = make_party("alice", 77)
    await new_alice.build_session(bob)
    m = await new_alice.encrypt(bob, b"I reinstalled")
    before = bob.snapshot()
    with pytest.raises(UntrustedIdentity):
        await bob.decrypt(new_alice, m)
    assert bob.snapshot() == before
    await bob.store.save_identity(alice.address, new_alice.store.identity.public)  # the user accepts
    assert (await bob.decrypt(new_alice, m)).plaintext == b"I reinstalled"


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("msg", b""),
        ("msg", b"\x33"),
        ("msg", b"\x23" + bytes(40)),
        ("msg", b"\x33" + b"\xff" * 40),
        ("msg", b"\x33" + SignalMessage(counter=1).SerializeToString() + bytes(8)),
        (
            "msg",
            b"\x33"
            + SignalMessage(ratchet_key=b"\x05" + bytes(31), counter=1, ciphertext=b"x").SerializeToString()
            + bytes(8),
        ),
        ("pkmsg", b""),
        ("pkmsg", b"\x33\xff\xff"),
        ("pkmsg", b"\x33" + PreKeySignalMessage(signed_pre_key_id=1).SerializeToString()),
        (
            "pkmsg",
            b"\x33"
            + PreKeySignalMessage(
                signed_pre_key_id=1, base_key=bytes(33), identity_key=bytes(33), message=b"\x33"
            ).SerializeToString(),
        ),
        ("skmsg", b"\x33"),
    ],
)
async def test_malformed_input_is_invalid_message(kind: str, body: bytes) -> None:
    alice, bob = await _established()
    before = bob.snapshot()
    with pytest.raises(InvalidMessage):
        await decrypt(
            alice.address,
            kind,
            body,
            identity_store=bob.store,
            session_store=bob.store,
            pre_key_store=bob.store,
            signed_pre_key_store=bob.store,
            rng=bob.rng,
        )
    assert bob.snapshot() == before


async def test_random_garbage_only_raises_decryption_errors() -> None:
    alice, bob = await _established()
    rnd = random.Random(4)
    genuine = (await alice.encrypt(bob, b"x")).body
    for _ in range(300):
        body = bytearray(genuine)
        for _ in range(rnd.randint(1, 4)):
            body[rnd.randrange(len(body))] = rnd.randrange(256)
        if rnd.random() < 0.2:
            del body[rnd.randrange(len(body)) :]
        for kind in ("msg", "pkmsg"):
            with contextlib.suppress(DecryptionError):
                await bob.decrypt(alice, CiphertextMessage(kind, bytes(body)))
    assert (await bob.decrypt(alice, CiphertextMessage("msg", genuine))).plaintext == b"x"


async def test_mutated_pkmsg_only_raises_protocol_errors_and_stores_nothing_on_failure() -> None:
    rnd = random.Random(5)
    for round_ in range(40):
        alice, bob = make_party("alice", 100 + round_), make_party("bob", 200 + round_)
        await alice.build_session(bob, with_pre_key=round_ % 2 == 0)
        genuine = (await alice.encrypt(bob, b"x")).body
        body = bytearray(genuine)
        for _ in range(rnd.randint(1, 3)):
            body[rnd.randrange(len(body))] ^= 1 << rnd.randrange(8)
        before = bob.snapshot()
        try:
            result = await bob.decrypt(alice, CiphertextMessage("pkmsg", bytes(body)))
        except DecryptionError:
            assert bob.snapshot() == before
        else:  # only the wrapper's unauthenticated fields (registration id, prekey id) were hit
            assert result.plaintext == b"x"


async def test_a_message_of_a_dropped_receiving_chain_fails_cleanly() -> None:
    alice, bob = await _established()
    held = await alice.encrypt(bob, b"held")
    for turn in range(MAX_RECEIVER_CHAINS + 1):  # the first turn is on held's chain, then 5 newer ones
        await bob.decrypt(alice, await alice.encrypt(bob, b"turn %d" % turn))
        await alice.decrypt(bob, await bob.encrypt(alice, b"answer %d" % turn))
    assert len(bob.store.sessions[alice.address].current.receiver_chains) == MAX_RECEIVER_CHAINS  # type: ignore[union-attr]
    before = bob.snapshot()
    with pytest.raises(InvalidMac):  # its chain is gone: taken for a new chain, which does not authenticate
        await bob.decrypt(alice, held)
    assert bob.snapshot() == before
    assert (await bob.decrypt(alice, await alice.encrypt(bob, b"still fine"))).plaintext == b"still fine"


async def test_a_pkmsg_for_a_known_session_cannot_swap_the_identity_key() -> None:
    alice, bob = make_party("alice", 1), make_party("bob", 2)
    await alice.build_session(bob)
    first, second = await alice.encrypt(bob, b"one"), await alice.encrypt(bob, b"two")
    await bob.decrypt(alice, first)
    proto = decode(PreKeySignalMessage, second.body[1:])
    proto.identity_key = make_party("mallory", 3).store.identity.signal_public
    before = bob.snapshot()
    with pytest.raises(InvalidMessage):
        await bob.decrypt(alice, CiphertextMessage("pkmsg", b"\x33" + proto.SerializeToString()))
    assert bob.snapshot() == before
    assert (await bob.decrypt(alice, second)).plaintext == b"two"
