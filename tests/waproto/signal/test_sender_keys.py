"""waproto.signal.sender_keys: chain and message keys, states, records, serialisation, the memory store."""

from __future__ import annotations

import hashlib
import hmac
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from waproto.errors import DecodeError, LocalProtocolError
from waproto.signal import curve
from waproto.signal.address import ProtocolAddress
from waproto.signal.sender_keys import (
    MAX_ITERATION,
    MAX_MESSAGE_KEYS,
    MAX_STATES,
    MemorySenderKeyStore,
    SenderChainKey,
    SenderKeyName,
    SenderKeyRecord,
    SenderKeyState,
    SenderMessageKey,
)

R = random.Random(11)
SIGNING = curve.KeyPair.from_private(R.randbytes(32))
OTHER_SIGNING = curve.KeyPair.from_private(R.randbytes(32))


def _hkdf(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869, written out independently of the code under test."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def _state(key_id: int = 7, iteration: int = 0, *, own: bool = False, seed: bytes | None = None) -> SenderKeyState:
    chain = SenderChainKey(iteration, seed if seed is not None else bytes(range(32)))
    return SenderKeyState(key_id, chain, SIGNING.signal_public, SIGNING.private if own else None)


def test_name_string_is_baileys_store_key() -> None:
    name = SenderKeyName("120363000000000000@g.us", ProtocolAddress("15550001111", 3))
    assert str(name) == "120363000000000000@g.us::15550001111::3"
    assert str(SenderKeyName("g@g.us", ProtocolAddress("123_1"))) == "g@g.us::123_1::0"
    assert name == SenderKeyName("120363000000000000@g.us", ProtocolAddress("15550001111", 3))
    assert len({name, SenderKeyName("120363000000000000@g.us", ProtocolAddress("15550001111", 3))}) == 1
    with pytest.raises(LocalProtocolError):
        SenderKeyName("", ProtocolAddress("1"))
    with pytest.raises(LocalProtocolError):
        SenderKeyName("g@g.us", "1.0")  # type: ignore[arg-type]


def test_chain_key_steps() -> None:
    seed = bytes(range(32))
    chain = SenderChainKey(5, seed)
    key = chain.message_key()
    assert key.iteration == 5
    assert key.seed == hmac.new(seed, b"\x01", hashlib.sha256).digest()
    following = chain.next()
    assert following.iteration == 6
    assert following.seed == hmac.new(seed, b"\x02", hashlib.sha256).digest()
    assert seed.hex() not in repr(chain)
    assert key.seed.hex() not in repr(key)


def test_chain_key_exhaustion() -> None:
    last = SenderChainKey(MAX_ITERATION, bytes(32))
    last.message_key()  # the last position is still usable
    with pytest.raises(LocalProtocolError, match="exhausted"):
        last.next()


def test_message_key_expansion() -> None:
    seed = bytes(range(100, 132))
    okm = _hkdf(seed, bytes(32), b"WhisperGroup", 48)
    iv, key = SenderMessageKey(0, seed).expand()
    assert (iv, key) == (okm[:16], okm[16:48])
    assert len(iv) == 16
    assert len(key) == 32


def test_state_validation() -> None:
    with pytest.raises(LocalProtocolError):
        _state(key_id=-1)
    with pytest.raises(LocalProtocolError):
        _state(key_id=2**32)
    with pytest.raises(LocalProtocolError):
        _state(seed=bytes(31))
    with pytest.raises(LocalProtocolError):
        _state(iteration=2**32)
    with pytest.raises(LocalProtocolError):
        SenderKeyState(1, SenderChainKey(0, bytes(32)), SIGNING.public, b"\x01" * 31)
    with pytest.raises(DecodeError):
        SenderKeyState(1, SenderChainKey(0, bytes(32)), b"\x06" + SIGNING.public)
    # a bare 32-byte public key is accepted and kept in the 33-byte form
    state = SenderKeyState(1, SenderChainKey(0, bytes(32)), SIGNING.public)
    assert state.signing_public == SIGNING.signal_public


def test_state_repr_hides_keys() -> None:
    state = _state(own=True)
    text = repr(state)
    assert "own" in text
    assert SIGNING.private.hex() not in text
    assert bytes(range(32)).hex() not in text
    assert "own" not in repr(_state())


def test_skipped_keys_are_bounded_oldest_first() -> None:
    state = _state()
    chain = state.chain
    for _ in range(MAX_MESSAGE_KEYS + 3):
        state.add_skipped(chain.message_key())
        chain = chain.next()
    assert len(state.skipped) == MAX_MESSAGE_KEYS
    assert min(state.skipped) == 3
    assert max(state.skipped) == MAX_MESSAGE_KEYS + 2
    assert state.pop_skipped(0) is None
    key = state.pop_skipped(3)
    assert key == SenderChainKey(0, bytes(range(32))).next().next().next().message_key()
    assert state.pop_skipped(3) is None
    assert len(state.skipped) == MAX_MESSAGE_KEYS - 1


def test_state_copy_is_independent() -> None:
    state = _state()
    state.add_skipped(state.chain.message_key())
    copy = state.copy()
    copy.add_skipped(state.chain.next().message_key())
    copy.chain = copy.chain.next()
    assert len(state.skipped) == 1
    assert state.chain.iteration == 0


def test_record_lookup_and_own_state() -> None:
    empty = SenderKeyRecord()
    assert empty.is_empty
    assert empty.current is None
    assert empty.state_for(7) is None
    record = SenderKeyRecord()
    record.add_state(_state(1))
    record.add_state(_state(2))
    current = record.current
    assert current is not None
    assert current.key_id == 2
    assert not record.is_empty
    found = record.state_for(1)
    assert found is not None
    assert found.key_id == 1
    own = _state(9, own=True)
    record.set_own_state(own)
    assert record.states == [own]


def test_record_add_state_rules() -> None:
    record = SenderKeyRecord()
    first = _state(1, iteration=10)
    record.add_state(first)
    record.add_state(_state(2))
    # the same key id and signing key again (a re-sent distribution message at an older iteration): kept,
    # not rewound, moved to the front
    record.add_state(_state(1, iteration=0))
    assert [s.key_id for s in record.states] == [1, 2]
    assert record.states[0] is first
    assert record.states[0].chain.iteration == 10
    # the same key id with another signing key: replaced
    replacement = SenderKeyState(1, SenderChainKey(0, bytes(32)), OTHER_SIGNING.signal_public)
    record.add_state(replacement)
    assert record.states[0] is replacement
    assert [s.key_id for s in record.states] == [1, 2]
    # at most MAX_STATES, the oldest dropped
    for key_id in range(10, 10 + MAX_STATES):
        record.add_state(_state(key_id))
    assert [s.key_id for s in record.states] == list(range(10 + MAX_STATES - 1, 9, -1))


def test_record_copy_is_independent() -> None:
    record = SenderKeyRecord([_state(1)])
    copy = record.copy()
    copy.states[0].chain = copy.states[0].chain.next()
    copy.add_state(_state(2))
    assert [s.key_id for s in record.states] == [1]
    assert record.states[0].chain.iteration == 0


def _sample_record() -> SenderKeyRecord:
    own = _state(0x7FFFFFFF, iteration=3, own=True)
    theirs = _state(5, iteration=MAX_ITERATION - 1)
    for iteration in (1, 2, 40):
        theirs.add_skipped(SenderMessageKey(iteration, bytes([iteration]) * 32))
    return SenderKeyRecord([own, theirs])


def _same(a: SenderKeyRecord, b: SenderKeyRecord) -> bool:
    return a.serialize() == b.serialize() and [
        (s.key_id, s.chain, s.signing_public, s.signing_private, s.skipped) for s in a.states
    ] == [(s.key_id, s.chain, s.signing_public, s.signing_private, s.skipped) for s in b.states]


def test_serialize_round_trip() -> None:
    record = _sample_record()
    data = record.serialize()
    again = SenderKeyRecord.deserialize(data)
    assert _same(record, again)
    assert list(again.states[1].skipped) == [1, 2, 40]  # order kept: oldest first
    assert SenderKeyRecord.deserialize(SenderKeyRecord().serialize()).is_empty


def test_deserialize_rejects_every_truncation_and_trailing_bytes() -> None:
    data = _sample_record().serialize()
    for end in range(len(data)):
        with pytest.raises(DecodeError):
            SenderKeyRecord.deserialize(data[:end])
    with pytest.raises(DecodeError, match="trailing"):
        SenderKeyRecord.deserialize(data + b"\x00")


def test_deserialize_rejects_bad_fields() -> None:
    data = bytearray(_sample_record().serialize())
    with pytest.raises(DecodeError, match="format"):
        SenderKeyRecord.deserialize(bytes([2]) + bytes(data[1:]))
    with pytest.raises(DecodeError, match="at most"):
        SenderKeyRecord.deserialize(bytes([1, MAX_STATES + 1]))
    flag_at = 2 + 4 + 4 + 32 + 33
    bad_flag = bytearray(data)
    bad_flag[flag_at] = 2
    with pytest.raises(DecodeError, match="flag"):
        SenderKeyRecord.deserialize(bytes(bad_flag))
    bad_key = bytearray(data)
    bad_key[2 + 4 + 4 + 32] = 0x06  # the signing key's type byte
    with pytest.raises(DecodeError):
        SenderKeyRecord.deserialize(bytes(bad_key))
    too_many = bytes([1, 1]) + bytes(4 + 4 + 32) + SIGNING.signal_public + b"\x00" + (MAX_MESSAGE_KEYS + 1).to_bytes(2, "big")
    with pytest.raises(DecodeError, match="skipped"):
        SenderKeyRecord.deserialize(too_many)


@settings(max_examples=60)
@given(
    states=st.lists(
        st.tuples(
            st.integers(0, MAX_ITERATION),
            st.integers(0, MAX_ITERATION),
            st.binary(min_size=32, max_size=32),
            st.booleans(),
            st.dictionaries(st.integers(0, MAX_ITERATION), st.binary(min_size=32, max_size=32), max_size=20),
        ),
        max_size=MAX_STATES,
    )
)
def test_serialize_round_trips_any_record(states: list[tuple[int, int, bytes, bool, dict[int, bytes]]]) -> None:
    record = SenderKeyRecord(
        [
            SenderKeyState(key_id, SenderChainKey(iteration, seed), SIGNING.public, SIGNING.private if own else None, skipped)
            for key_id, iteration, seed, own, skipped in states
        ]
    )
    assert _same(SenderKeyRecord.deserialize(record.serialize()), record)


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_deserialize_garbage_is_decode_error_or_exact(data: bytes) -> None:
    """Arbitrary bytes either fail with DecodeError (nothing else) or are a record that writes back the same."""
    try:
        record = SenderKeyRecord.deserialize(data)
    except DecodeError:
        return
    assert record.serialize() == data


def test_deserialize_accepts_a_minimal_valid_record() -> None:
    minimal = bytes([1, 1]) + bytes(4 + 4 + 32) + SIGNING.signal_public + b"\x00" + bytes(2)
    record = SenderKeyRecord.deserialize(minimal)
    assert record.serialize() == minimal


async def test_memory_store_copies_both_ways() -> None:
    store = MemorySenderKeyStore()
    name = SenderKeyName("g@g.us", ProtocolAddress("1", 0))
    assert await store.load_sender_key(name) is None
    record = SenderKeyRecord([_state(1)])
    await store.store_sender_key(name, record)
    assert len(store) == 1
    record.add_state(_state(2))  # changing what was stored after the fact does not reach the store
    loaded = await store.load_sender_key(name)
    assert loaded is not None
    assert [s.key_id for s in loaded.states] == [1]
    loaded.states[0].chain = loaded.states[0].chain.next()  # nor does changing what was loaded
    again = await store.load_sender_key(name)
    assert again is not None
    assert again.states[0].chain.iteration == 0
    assert await store.load_sender_key(SenderKeyName("g@g.us", ProtocolAddress("1", 1))) is None
