"""waproto.signal.keys: identity keys, registration ids, prekeys, signed prekeys, bundles."""

from __future__ import annotations

import pytest

from tests.waproto.signal.session_parties import seeded_rng
from waproto.errors import DecodeError, InvalidKeySignature, LocalProtocolError
from waproto.signal.curve import KeyPair, verify
from waproto.signal.keys import (
    MAX_PRE_KEY_ID,
    PreKeyBundle,
    PreKeyRecord,
    SignedPreKeyRecord,
    deserialize_identity_key_pair,
    generate_identity_key_pair,
    generate_pre_keys,
    generate_registration_id,
    generate_signed_pre_key,
    serialize_identity_key_pair,
    signal_public_key,
)


def test_signal_public_key_forms() -> None:
    key = bytes(range(32))
    assert signal_public_key(key) == b"\x05" + key
    assert signal_public_key(b"\x05" + key) == b"\x05" + key
    with pytest.raises(DecodeError):
        signal_public_key(b"\x06" + key)


def test_registration_id_is_14_bits_and_never_zero() -> None:
    draws = iter([b"\x00\x00", b"\xc0\x00", b"\xff\xff"])
    assert generate_registration_id(lambda n: next(draws)) == 0x3FFF  # two zero draws are redrawn
    rng = seeded_rng(1)
    assert all(1 <= generate_registration_id(rng) <= 0x3FFF for _ in range(200))


def test_identity_key_pair_round_trip() -> None:
    pair = generate_identity_key_pair(seeded_rng(2))
    data = serialize_identity_key_pair(pair)
    assert len(data) == 65
    assert deserialize_identity_key_pair(data) == pair
    with pytest.raises(DecodeError):
        deserialize_identity_key_pair(data[:-1])
    with pytest.raises(DecodeError):
        deserialize_identity_key_pair(data[:33] + bytes(32))  # public does not match private
    with pytest.raises(DecodeError):
        deserialize_identity_key_pair(b"\x02" + data[1:])


def test_signed_pre_key_signature_covers_the_prefixed_public_key() -> None:
    rng = seeded_rng(3)
    identity = generate_identity_key_pair(rng)
    spk = generate_signed_pre_key(identity, 7, rng, timestamp=1_700_000_000)
    assert verify(identity.public, b"\x05" + spk.key_pair.public, spk.signature)
    assert not verify(identity.public, spk.key_pair.public, spk.signature)
    assert spk.verify(identity.public)
    other = generate_identity_key_pair(rng)
    assert not spk.verify(other.public)


def test_signed_pre_key_round_trip_and_rejections() -> None:
    rng = seeded_rng(4)
    spk = generate_signed_pre_key(generate_identity_key_pair(rng), 0xABCDEF, rng, timestamp=12345)
    data = spk.serialize()
    assert len(data) == 141
    assert SignedPreKeyRecord.deserialize(data) == spk
    for bad in (data[:-1], b"\x00" + data[1:], data[:45] + bytes(32) + data[77:]):
        with pytest.raises(DecodeError):
            SignedPreKeyRecord.deserialize(bad)
    with pytest.raises(LocalProtocolError):
        SignedPreKeyRecord(1, spk.key_pair, b"short")


def test_pre_keys_ids_wrap_and_round_trip() -> None:
    keys = generate_pre_keys(MAX_PRE_KEY_ID - 1, 4, seeded_rng(5))
    assert [k.key_id for k in keys] == [MAX_PRE_KEY_ID - 1, MAX_PRE_KEY_ID, 1, 2]
    assert len({k.key_pair.public for k in keys}) == 4
    for key in keys:
        assert PreKeyRecord.deserialize(key.serialize()) == key
    with pytest.raises(DecodeError):
        PreKeyRecord.deserialize(keys[0].serialize()[:-1])
    with pytest.raises(LocalProtocolError):
        generate_pre_keys(0, 1, seeded_rng(5))
    with pytest.raises(LocalProtocolError):
        PreKeyRecord(MAX_PRE_KEY_ID + 1, keys[0].key_pair)


def test_private_keys_are_not_in_repr() -> None:
    rng = seeded_rng(6)
    pair = generate_identity_key_pair(rng)
    record = PreKeyRecord(1, pair)
    assert pair.private.hex() not in repr(record)
    assert isinstance(record.key_pair, KeyPair)


def _bundle(**changes: object) -> PreKeyBundle:
    rng = seeded_rng(7)
    identity = generate_identity_key_pair(rng)
    spk = generate_signed_pre_key(identity, 1, rng)
    pk = generate_pre_keys(1, 1, rng)[0]
    fields: dict[str, object] = {
        "registration_id": 42,
        "device_id": 0,
        "pre_key_id": 1,
        "pre_key_public": pk.key_pair.signal_public,
        "signed_pre_key_id": 1,
        "signed_pre_key_public": spk.key_pair.signal_public,
        "signed_pre_key_signature": spk.signature,
        "identity_key": identity.signal_public,
    }
    fields.update(changes)
    return PreKeyBundle(**fields)  # type: ignore[arg-type]


def test_bundle_normalises_keys_and_checks_shapes() -> None:
    bundle = _bundle()
    assert len(bundle.identity_key) == len(bundle.signed_pre_key_public) == 32
    bundle.verify_signature()
    with pytest.raises(DecodeError):
        _bundle(pre_key_public=None)
    with pytest.raises(DecodeError):
        _bundle(signed_pre_key_signature=bytes(63))
    with pytest.raises(DecodeError):
        _bundle(identity_key=bytes(31))


def test_bundle_with_a_bad_signature_is_refused() -> None:
    bundle = _bundle()
    forged = _bundle(
        signed_pre_key_signature=bytes([bundle.signed_pre_key_signature[0] ^ 1])
        + bundle.signed_pre_key_signature[1:]
    )
    with pytest.raises(InvalidKeySignature):
        forged.verify_signature()


def test_bundle_ids_are_32_bit() -> None:
    with pytest.raises(DecodeError, match="registration_id"):
        _bundle(registration_id=-1)
    with pytest.raises(DecodeError, match="signed_pre_key_id"):
        _bundle(signed_pre_key_id=2**32)
