"""waproto.signal.group: distribution messages and the sender-key cipher between in-memory members."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from waproto import proto
from waproto.errors import (
    BadSenderKeySignature,
    DecodeError,
    DuplicateMessage,
    InvalidMessage,
    LocalProtocolError,
    NoSenderKey,
    NoSession,
    RemoteProtocolError,
    TooManySkippedMessages,
)
from waproto.signal import curve
from waproto.signal.address import ProtocolAddress
from waproto.signal.group import (
    SIGNATURE_LENGTH,
    VERSION_BYTE,
    SenderKeyDistribution,
    create_distribution_message,
    group_decrypt,
    group_encrypt,
    process_distribution_message,
)
from waproto.signal.sender_keys import (
    MAX_FORWARD_JUMP,
    MAX_ITERATION,
    MAX_STATES,
    MemorySenderKeyStore,
    SenderChainKey,
    SenderKeyName,
    SenderKeyRecord,
    SenderKeyState,
)

GROUP = "120363000000000001@g.us"
ALICE = SenderKeyName(GROUP, ProtocolAddress("15550001111", 0))

# Recorded from Baileys 6.7.24's group code (tests/interop/ops/group.mjs): sender 15550009999:2 made a
# distribution message, then encrypted "one", "two", "three" (at iterations 0, 2 and 4: Baileys skips one
# iteration per message from its second on).
BAILEYS_SENDER = SenderKeyName(GROUP, ProtocolAddress("15550009999", 2))
BAILEYS_SKDM = bytes.fromhex(
    "3308a3dec3cf0410001a203fdfe8fda9243f645ed0a48a4eecb0013b3fc89877abedc208fa7bc6b091f7ae22210518e593"
    "6b27af2b8901420fdb899238941e07a853ca87b598d8a580da5376cd11"
)
BAILEYS_MESSAGES = [
    bytes.fromhex(h)
    for h in (
        "3308a3dec3cf0410001a100a6087dd23e0bce8b7efe1f3163f379383e0e642f59100af9f955c26a3c2a2be3e0f6b2c45"
        "8a93e053f70ffdc25441eabcc897ab40534ff59ff77cc98daf59bff19023dfe660644f843db4aab2217f80",
        "3308a3dec3cf0410021a10571b6cf2562873d9312b6b800039457718bdb43a8259971015436ceda24b97352934822153"
        "56f10e81e67440e2aa7de0225ef4de6c2077164c2aaa37d6f432a32aa4500c21fd10f82ae8141c0f885e87",
        "3308a3dec3cf0410041a104f1391ca87bcd343a9dc7dda7cb7688d89426f8c6cbd4b2495c288cbf0294ace64d1cf207a"
        "516ef40be39ed70dc5969d5caeff28a6739ebcec24452a3b575523adc7678d0289f8fd3e8b6c56a1231b8b",
    )
]


@dataclass
class Pair:
    """Alice (the sender) and Bob (a member who processed her distribution message)."""

    alice: MemorySenderKeyStore
    bob: MemorySenderKeyStore
    skdm: bytes


async def _pair(seed: int = 1) -> Pair:
    alice, bob = MemorySenderKeyStore(), MemorySenderKeyStore()
    skdm = await create_distribution_message(alice, ALICE, random.Random(seed).randbytes)
    await process_distribution_message(bob, ALICE, skdm)
    return Pair(alice, bob, skdm)


async def _snapshot(store: MemorySenderKeyStore, name: SenderKeyName = ALICE) -> bytes | None:
    record = await store.load_sender_key(name)
    return None if record is None else record.serialize()


async def _signing_private(store: MemorySenderKeyStore) -> bytes:
    record = await store.load_sender_key(ALICE)
    assert record is not None
    assert record.current is not None
    assert record.current.signing_private is not None
    return record.current.signing_private


def _signed(private: bytes, body: bytes, version: int = VERSION_BYTE) -> bytes:
    signed = bytes([version]) + body
    return signed + curve.sign(private, signed)


# ---------------------------------------------------------------- distribution messages


def test_distribution_round_trip() -> None:
    pair = curve.KeyPair.from_private(bytes(range(32)))
    message = SenderKeyDistribution(0x7FFFFFFF, 12, bytes(range(32)), pair.signal_public)
    data = message.serialize()
    assert data[0] == VERSION_BYTE
    parsed = proto.decode(proto.SenderKeyDistributionMessage, data[1:])
    assert (parsed.id, parsed.iteration, parsed.chain_key, parsed.signing_key) == (
        0x7FFFFFFF,
        12,
        bytes(range(32)),
        pair.signal_public,
    )
    assert SenderKeyDistribution.parse(data) == message
    assert bytes(range(32)).hex() not in repr(message)


def test_distribution_parse_errors() -> None:
    pair = curve.KeyPair.from_private(bytes(range(32)))
    good = proto.SenderKeyDistributionMessage(id=1, iteration=0, chain_key=bytes(32), signing_key=pair.signal_public)
    with pytest.raises(InvalidMessage, match="empty"):
        SenderKeyDistribution.parse(b"")
    with pytest.raises(InvalidMessage, match="version 2"):
        SenderKeyDistribution.parse(b"\x22" + good.SerializeToString())
    with pytest.raises(DecodeError):
        SenderKeyDistribution.parse(b"\x33\xff\xff\xff")
    for missing in ("id", "iteration", "chain_key", "signing_key"):
        partial = proto.SenderKeyDistributionMessage()
        partial.CopyFrom(good)
        partial.ClearField(missing)
        with pytest.raises(InvalidMessage, match=missing):
            SenderKeyDistribution.parse(b"\x33" + partial.SerializeToString())
    short_chain = proto.SenderKeyDistributionMessage(id=1, iteration=0, chain_key=bytes(31), signing_key=pair.signal_public)
    with pytest.raises(InvalidMessage, match="31 bytes"):
        SenderKeyDistribution.parse(b"\x33" + short_chain.SerializeToString())
    bad_key = proto.SenderKeyDistributionMessage(id=1, iteration=0, chain_key=bytes(32), signing_key=b"\x06" + pair.public)
    with pytest.raises(InvalidMessage, match="signing key"):
        SenderKeyDistribution.parse(b"\x33" + bad_key.SerializeToString())
    # a bare 32-byte signing key is read into the 33-byte form
    bare = proto.SenderKeyDistributionMessage(id=1, iteration=0, chain_key=bytes(32), signing_key=pair.public)
    assert SenderKeyDistribution.parse(b"\x33" + bare.SerializeToString()).signing_key == pair.signal_public


async def test_create_distribution_message_makes_one_key() -> None:
    store = MemorySenderKeyStore()
    first = SenderKeyDistribution.parse(await create_distribution_message(store, ALICE, random.Random(3).randbytes))
    assert 0 <= first.key_id < 2**31
    assert first.iteration == 0
    assert len(first.chain_key) == 32
    # deterministic for a given rng
    again = SenderKeyDistribution.parse(
        await create_distribution_message(MemorySenderKeyStore(), ALICE, random.Random(3).randbytes)
    )
    assert again == first

    def no_randomness(n: int) -> bytes:
        raise AssertionError("a second distribution message must not make a new key")

    await group_encrypt(store, ALICE, b"x")
    second = SenderKeyDistribution.parse(await create_distribution_message(store, ALICE, no_randomness))
    assert (second.key_id, second.signing_key) == (first.key_id, first.signing_key)
    assert second.iteration == 1
    assert second.chain_key == SenderChainKey(0, first.chain_key).next().seed


async def test_create_distribution_message_replaces_a_foreign_state_and_checks_rng() -> None:
    store = MemorySenderKeyStore()
    pair = curve.KeyPair.from_private(bytes(range(32)))
    await store.store_sender_key(ALICE, SenderKeyRecord([SenderKeyState(5, SenderChainKey(0, bytes(32)), pair.public)]))
    created = SenderKeyDistribution.parse(await create_distribution_message(store, ALICE, random.Random(4).randbytes))
    record = await store.load_sender_key(ALICE)
    assert record is not None
    assert [s.key_id for s in record.states] == [created.key_id]
    with pytest.raises(LocalProtocolError, match="rng"):
        await create_distribution_message(MemorySenderKeyStore(), ALICE, lambda n: bytes(n - 1))


async def test_process_rejects_bad_bytes_and_leaves_store_alone() -> None:
    pair = await _pair()
    before = await _snapshot(pair.bob)
    with pytest.raises(InvalidMessage):
        await process_distribution_message(pair.bob, ALICE, b"\x23" + pair.skdm[1:])
    with pytest.raises(DecodeError):
        await process_distribution_message(pair.bob, ALICE, b"\x33\x0a")
    assert await _snapshot(pair.bob) == before


# ---------------------------------------------------------------- encrypt / decrypt


async def test_round_trip_and_wire_format() -> None:
    pair = await _pair()
    distribution = SenderKeyDistribution.parse(pair.skdm)
    for i in range(3):
        data = await group_encrypt(pair.alice, ALICE, b"hello %d" % i)
        assert data[0] == VERSION_BYTE
        signed, signature = data[:-SIGNATURE_LENGTH], data[-SIGNATURE_LENGTH:]
        assert curve.verify(distribution.signing_key, signed, signature)
        body = proto.decode(proto.SenderKeyMessage, signed[1:])
        assert (body.id, body.iteration) == (distribution.key_id, i)
        assert len(body.ciphertext) == 16
        assert await group_decrypt(pair.bob, ALICE, data) == b"hello %d" % i
    empty = await group_encrypt(pair.alice, ALICE, b"")
    assert await group_decrypt(pair.bob, ALICE, empty) == b""


async def test_encrypt_needs_our_own_key() -> None:
    pair = await _pair()
    with pytest.raises(LocalProtocolError, match="no sender key"):
        await group_encrypt(MemorySenderKeyStore(), ALICE, b"x")
    with pytest.raises(LocalProtocolError, match="no sender key"):
        await group_encrypt(pair.bob, ALICE, b"x")  # Bob holds only Alice's public half
    await pair.alice.store_sender_key(ALICE, SenderKeyRecord())
    with pytest.raises(LocalProtocolError, match="no sender key"):
        await group_encrypt(pair.alice, ALICE, b"x")


async def test_out_of_order_and_duplicates() -> None:
    pair = await _pair()
    messages = [await group_encrypt(pair.alice, ALICE, b"m%d" % i) for i in range(6)]
    for i in (3, 0, 5, 1):
        assert await group_decrypt(pair.bob, ALICE, messages[i]) == b"m%d" % i
    for i in (3, 0, 5, 1):
        before = await _snapshot(pair.bob)
        with pytest.raises(DuplicateMessage, match=f"message {i} "):
            await group_decrypt(pair.bob, ALICE, messages[i])
        assert await _snapshot(pair.bob) == before
    for i in (4, 2):
        assert await group_decrypt(pair.bob, ALICE, messages[i]) == b"m%d" % i
    record = await pair.bob.load_sender_key(ALICE)
    assert record is not None
    assert record.states[0].skipped == {}
    assert record.states[0].chain.iteration == 6


async def test_tampered_signature_is_rejected_and_the_chain_goes_on() -> None:
    pair = await _pair()
    data = await group_encrypt(pair.alice, ALICE, b"genuine")
    before = await _snapshot(pair.bob)
    for position in (0, 5, len(data) - SIGNATURE_LENGTH - 1, len(data) - 1, len(data) - 40):
        tampered = bytearray(data)
        tampered[position] ^= 0x01
        with pytest.raises((BadSenderKeySignature, InvalidMessage, DecodeError, NoSenderKey)):
            await group_decrypt(pair.bob, ALICE, bytes(tampered))
    signature_flip = bytearray(data)
    signature_flip[-1] ^= 0x01
    with pytest.raises(BadSenderKeySignature):
        await group_decrypt(pair.bob, ALICE, bytes(signature_flip))
    assert await _snapshot(pair.bob) == before
    assert await group_decrypt(pair.bob, ALICE, data) == b"genuine"
    assert await group_decrypt(pair.bob, ALICE, await group_encrypt(pair.alice, ALICE, b"next")) == b"next"


async def test_a_forged_message_from_another_signing_key_is_rejected() -> None:
    pair = await _pair()
    mallory = MemorySenderKeyStore()
    await create_distribution_message(mallory, ALICE, random.Random(99).randbytes)
    record = await mallory.load_sender_key(ALICE)
    alice_record = await pair.alice.load_sender_key(ALICE)
    assert record is not None
    assert alice_record is not None
    assert alice_record.current is not None
    assert record.current is not None
    record.current.key_id = alice_record.current.key_id  # same key id, Mallory's own signing key
    await mallory.store_sender_key(ALICE, record)
    with pytest.raises(BadSenderKeySignature):
        await group_decrypt(pair.bob, ALICE, await group_encrypt(mallory, ALICE, b"forged"))


async def test_body_that_does_not_decrypt() -> None:
    pair = await _pair()
    private = await _signing_private(pair.alice)
    key_id = SenderKeyDistribution.parse(pair.skdm).key_id
    before = await _snapshot(pair.bob)
    not_blocks = proto.SenderKeyMessage(id=key_id, iteration=0, ciphertext=bytes(15)).SerializeToString()
    with pytest.raises(InvalidMessage, match="whole AES blocks"):
        await group_decrypt(pair.bob, ALICE, _signed(private, not_blocks))
    # a correctly signed block of garbage: bad PKCS#7 padding after decryption (probability of a valid pad
    # for this fixed block is checked by the assertion itself)
    garbage = proto.SenderKeyMessage(id=key_id, iteration=3, ciphertext=bytes(range(16))).SerializeToString()
    with pytest.raises(InvalidMessage, match="padding"):
        await group_decrypt(pair.bob, ALICE, _signed(private, garbage))
    assert await _snapshot(pair.bob) == before  # no keys were skipped for the failed message


async def test_malformed_messages() -> None:
    pair = await _pair()
    private = await _signing_private(pair.alice)
    key_id = SenderKeyDistribution.parse(pair.skdm).key_id
    with pytest.raises(InvalidMessage, match="empty"):
        await group_decrypt(pair.bob, ALICE, b"")
    with pytest.raises(InvalidMessage, match="too short"):
        await group_decrypt(pair.bob, ALICE, b"\x33" + bytes(SIGNATURE_LENGTH - 1))
    good = await group_encrypt(pair.alice, ALICE, b"x")
    with pytest.raises(InvalidMessage, match="version 2"):
        await group_decrypt(pair.bob, ALICE, b"\x22" + good[1:])
    with pytest.raises(DecodeError):
        await group_decrypt(pair.bob, ALICE, _signed(private, b"\xff\xff"))
    for missing in ("id", "iteration", "ciphertext"):
        body = proto.SenderKeyMessage(id=key_id, iteration=0, ciphertext=bytes(16))
        body.ClearField(missing)
        with pytest.raises(InvalidMessage, match=missing):
            await group_decrypt(pair.bob, ALICE, _signed(private, body.SerializeToString()))
    last = proto.SenderKeyMessage(id=key_id, iteration=MAX_ITERATION, ciphertext=bytes(16)).SerializeToString()
    with pytest.raises((InvalidMessage, TooManySkippedMessages)):
        await group_decrypt(pair.bob, ALICE, _signed(private, last))


async def test_iteration_at_the_end_of_the_counter() -> None:
    # a receiving chain just below the end: the last iteration is refused as out of range, cleanly
    pair = curve.KeyPair.from_private(bytes(range(32)))
    store = MemorySenderKeyStore()
    near_end = SenderKeyDistribution(1, MAX_ITERATION - 1, bytes(32), pair.signal_public)
    await process_distribution_message(store, ALICE, near_end.serialize())
    body = proto.SenderKeyMessage(id=1, iteration=MAX_ITERATION, ciphertext=bytes(16)).SerializeToString()
    with pytest.raises(InvalidMessage, match="out of range"):
        await group_decrypt(store, ALICE, _signed(pair.private, body))


async def test_no_sender_key() -> None:
    pair = await _pair()
    data = await group_encrypt(pair.alice, ALICE, b"x")
    with pytest.raises(NoSenderKey):
        await group_decrypt(MemorySenderKeyStore(), ALICE, data)
    with pytest.raises(NoSession):  # NoSenderKey is a NoSession: one retry-receipt path for both
        await group_decrypt(pair.bob, SenderKeyName(GROUP, ProtocolAddress("15550001111", 1)), data)
    other = MemorySenderKeyStore()
    await create_distribution_message(other, ALICE, random.Random(5).randbytes)
    with pytest.raises(NoSenderKey, match="no sender key"):
        await group_decrypt(pair.bob, ALICE, await group_encrypt(other, ALICE, b"x"))


async def test_forward_jump_bound() -> None:
    pair = await _pair()
    messages = [await group_encrypt(pair.alice, ALICE, b"%d" % i) for i in range(MAX_FORWARD_JUMP + 2)]
    before = await _snapshot(pair.bob)
    with pytest.raises(TooManySkippedMessages, match=f"at most {MAX_FORWARD_JUMP}"):
        await group_decrypt(pair.bob, ALICE, messages[MAX_FORWARD_JUMP + 1])
    assert await _snapshot(pair.bob) == before
    assert await group_decrypt(pair.bob, ALICE, messages[MAX_FORWARD_JUMP]) == b"%d" % MAX_FORWARD_JUMP
    assert await group_decrypt(pair.bob, ALICE, messages[MAX_FORWARD_JUMP + 1]) == b"%d" % (MAX_FORWARD_JUMP + 1)
    assert await group_decrypt(pair.bob, ALICE, messages[0]) == b"0"
    assert await group_decrypt(pair.bob, ALICE, messages[1]) == b"1"


async def test_reprocessing_a_distribution_message_does_not_rewind() -> None:
    pair = await _pair()
    first = await group_encrypt(pair.alice, ALICE, b"first")
    assert await group_decrypt(pair.bob, ALICE, first) == b"first"
    await process_distribution_message(pair.bob, ALICE, pair.skdm)  # the same message again (a retry)
    with pytest.raises(DuplicateMessage):
        await group_decrypt(pair.bob, ALICE, first)


async def test_rotation_keeps_previous_keys_for_a_while() -> None:
    pair = await _pair()
    late = [await group_encrypt(pair.alice, ALICE, b"old key")]
    rng = random.Random(7)
    for round_ in range(MAX_STATES):
        await pair.alice.store_sender_key(ALICE, SenderKeyRecord())  # rotate: forget our sending key
        await process_distribution_message(pair.bob, ALICE, await create_distribution_message(pair.alice, ALICE, rng.randbytes))
        late.append(await group_encrypt(pair.alice, ALICE, b"key %d" % round_))
    # Bob keeps MAX_STATES states: the newest MAX_STATES keys still decrypt, the first one is gone
    with pytest.raises(NoSenderKey):
        await group_decrypt(pair.bob, ALICE, late[0])
    for round_, data in enumerate(late[1:]):
        assert await group_decrypt(pair.bob, ALICE, data) == b"key %d" % round_


async def test_decrypts_baileys_recorded_messages() -> None:
    store = MemorySenderKeyStore()
    await process_distribution_message(store, BAILEYS_SENDER, BAILEYS_SKDM)
    assert await group_decrypt(store, BAILEYS_SENDER, BAILEYS_MESSAGES[2]) == b"three"
    assert await group_decrypt(store, BAILEYS_SENDER, BAILEYS_MESSAGES[0]) == b"one"
    assert await group_decrypt(store, BAILEYS_SENDER, BAILEYS_MESSAGES[1]) == b"two"
    record = await store.load_sender_key(BAILEYS_SENDER)
    assert record is not None
    assert sorted(record.states[0].skipped) == [1, 3]  # the iterations Baileys skipped, kept for nothing
    with pytest.raises(DuplicateMessage):
        await group_decrypt(store, BAILEYS_SENDER, BAILEYS_MESSAGES[1])
    with pytest.raises(NoSenderKey):  # the same bytes from another device of the same user
        await group_decrypt(store, SenderKeyName(GROUP, ProtocolAddress("15550009999", 0)), BAILEYS_MESSAGES[0])


# ---------------------------------------------------------------- delivery orders (property)

N_MESSAGES = 12


@settings(max_examples=80)
@given(
    order=st.permutations(range(N_MESSAGES)),
    duplicates=st.lists(st.integers(0, N_MESSAGES - 1), max_size=4),
    where=st.lists(st.integers(0, N_MESSAGES), min_size=4, max_size=4),
    gap=st.integers(0, MAX_FORWARD_JUMP - N_MESSAGES),
)
async def test_any_delivery_order_within_the_bound(
    order: list[int], duplicates: list[int], where: list[int], gap: int
) -> None:
    """Every message decrypts exactly once in any order; a repeat is DuplicateMessage and changes nothing.

    ``gap`` messages are sent (and never delivered) before the batch, so the batch starts anywhere within
    the forward bound.
    """
    pair = await _pair()
    for _ in range(gap):
        await group_encrypt(pair.alice, ALICE, b"unseen")
    sent = [await group_encrypt(pair.alice, ALICE, b"message %d" % i) for i in range(N_MESSAGES)]
    deliveries = list(order)
    for dup, at in zip(duplicates, where, strict=False):
        deliveries.insert(at, dup)  # a repeat may even arrive before the original
    seen: set[int] = set()
    for i in deliveries:
        if i in seen:
            before = await _snapshot(pair.bob)
            with pytest.raises(DuplicateMessage):
                await group_decrypt(pair.bob, ALICE, sent[i])
            assert await _snapshot(pair.bob) == before
        else:
            assert await group_decrypt(pair.bob, ALICE, sent[i]) == b"message %d" % i
            seen.add(i)
    assert seen == set(range(N_MESSAGES))
    record = await pair.bob.load_sender_key(ALICE)
    assert record is not None
    state = record.states[0]
    assert state.chain.iteration == gap + N_MESSAGES
    assert sorted(state.skipped) == list(range(gap))  # only the never-delivered ones are still kept


@settings(max_examples=150)
@given(index=st.integers(0, 2), bit=st.integers(0, 8 * 200))
async def test_any_flipped_bit_is_refused_without_a_trace(index: int, bit: int) -> None:
    """One flipped bit anywhere in a message: refused with a waproto error, store unchanged, original fine."""
    pair = await _pair()
    sent = [await group_encrypt(pair.alice, ALICE, b"payload %d" % i) for i in range(3)]
    data = bytearray(sent[index])
    bit %= 8 * len(data)
    data[bit // 8] ^= 1 << (bit % 8)
    before = await _snapshot(pair.bob)
    with pytest.raises((BadSenderKeySignature, InvalidMessage, DecodeError, NoSenderKey)):
        await group_decrypt(pair.bob, ALICE, bytes(data))
    assert await _snapshot(pair.bob) == before
    assert await group_decrypt(pair.bob, ALICE, sent[index]) == b"payload %d" % index


@settings(max_examples=200)
@given(data=st.binary(max_size=200), prefix=st.sampled_from([b"", b"\x33", b"\x33\x08\x01\x10\x00\x1a\x10"]))
async def test_garbage_gives_only_protocol_errors(data: bytes, prefix: bytes) -> None:
    """Arbitrary bytes as a group message or a distribution message: a RemoteProtocolError, nothing else."""
    pair = await _pair()
    before = await _snapshot(pair.bob)
    with pytest.raises(RemoteProtocolError):
        await group_decrypt(pair.bob, ALICE, prefix + data)
    assert await _snapshot(pair.bob) == before
    fresh = MemorySenderKeyStore()
    try:
        await process_distribution_message(fresh, ALICE, prefix + data)
    except RemoteProtocolError:
        assert await fresh.load_sender_key(ALICE) is None  # nothing stored on failure
    else:
        assert await fresh.load_sender_key(ALICE) is not None
