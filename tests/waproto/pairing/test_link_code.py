"""waproto.pairing.link_code: the pairing-code exchange, both sides, and what a wrong code does."""

from __future__ import annotations

import random

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from waproto.errors import BadKeyBundle, DecodeError, LocalProtocolError
from waproto.jid import JID
from waproto.pairing.device_identity import complete_pairing, issue_device_identity, pair_success_node
from waproto.pairing.link_code import (
    KEY_BUNDLE_LENGTH,
    PAIRING_CODE_ALPHABET,
    WRAPPED_KEY_LENGTH,
    companion_finish,
    format_pairing_code,
    generate_pairing_code,
    normalize_pairing_code,
    pairing_code_key,
    primary_finish,
    unwrap_ephemeral_key,
    wrap_ephemeral_key,
)
from waproto.signal import curve


def rng(seed: int) -> random.Random:
    return random.Random(seed)


R = rng(8)
COMPANION_EPHEMERAL = curve.generate_key_pair(R.randbytes)
COMPANION_IDENTITY = curve.generate_key_pair(R.randbytes)
PRIMARY_EPHEMERAL = curve.generate_key_pair(R.randbytes)
PRIMARY_IDENTITY = curve.generate_key_pair(R.randbytes)
CODE = "R2D2C3PO"  # 'O' is outside the generated alphabet: Baileys lets users choose such codes


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"\x00" * 5, "11111111"),
        (b"\xff" * 5, "ZZZZZZZZ"),
        (b"\x00\x00\x00\x00\x01", "11111112"),
        (bytes([0b00001_000]) + b"\x00" * 4, "21111111"),
        (bytes([0x08, 0x86, 0x42, 0x98, 0xE8]), "23456789"),
    ],
)
def test_code_vectors(data: bytes, code: str) -> None:
    assert generate_pairing_code(lambda n: data[:n]) == code


def test_generated_codes_use_the_alphabet() -> None:
    r = rng(1)
    codes = {generate_pairing_code(r.randbytes) for _ in range(200)}
    assert len(codes) == 200
    assert all(len(c) == 8 and set(c) <= set(PAIRING_CODE_ALPHABET) for c in codes)
    assert set(PAIRING_CODE_ALPHABET) == set("123456789ABCDEFGHJKLMNPQRSTVWXYZ")


def test_rng_must_give_what_was_asked() -> None:
    with pytest.raises(LocalProtocolError):
        generate_pairing_code(lambda n: b"\x00" * (n - 1))


def test_code_forms() -> None:
    assert normalize_pairing_code("ABCD-EFGH") == "ABCDEFGH"
    assert normalize_pairing_code("abcdefgh") == "abcdefgh"
    assert format_pairing_code("ABCDEFGH") == "ABCD-EFGH"
    assert format_pairing_code("ABCD-EFGH") == "ABCD-EFGH"
    for bad in ("ABCDEFG", "ABCDEFGHJ", "ABC-DEFGH", "ABCD EFG", "ABCDÉFGH", "ABCD--EFGH", "ABCDEFG!"):
        with pytest.raises(LocalProtocolError):
            normalize_pairing_code(bad)
    with pytest.raises(LocalProtocolError):
        normalize_pairing_code(12345678)  # type: ignore[arg-type]


def test_the_dash_is_not_part_of_the_key() -> None:
    salt = bytes(32)
    assert pairing_code_key("ABCD-EFGH", salt) == pairing_code_key("ABCDEFGH", salt)
    assert pairing_code_key("ABCDEFGH", salt) != pairing_code_key("ABCDEFGJ", salt)
    assert pairing_code_key("ABCDEFGH", salt) != pairing_code_key("ABCDEFGH", b"\x01" + bytes(31))
    assert len(pairing_code_key("ABCDEFGH", salt)) == 32


def test_wrap_layout_and_round_trip() -> None:
    r = rng(2)
    wrapped = wrap_ephemeral_key(CODE, COMPANION_EPHEMERAL.public, r.randbytes)
    assert len(wrapped) == WRAPPED_KEY_LENGTH
    again = rng(2)
    assert wrapped[:32] == again.randbytes(32)  # salt first
    assert wrapped[32:48] == again.randbytes(16)  # then the iv
    assert wrapped[48:] != COMPANION_EPHEMERAL.public
    assert unwrap_ephemeral_key(CODE, wrapped) == COMPANION_EPHEMERAL.public
    assert unwrap_ephemeral_key(format_pairing_code(CODE), wrapped) == COMPANION_EPHEMERAL.public
    assert wrap_ephemeral_key(CODE, COMPANION_EPHEMERAL.signal_public, rng(2).randbytes) == wrapped


def test_wrong_code_unwraps_to_another_key() -> None:
    wrapped = wrap_ephemeral_key(CODE, COMPANION_EPHEMERAL.public, rng(3).randbytes)
    assert unwrap_ephemeral_key("R2D2C3P1", wrapped) != COMPANION_EPHEMERAL.public


@pytest.mark.parametrize("length", [0, 79, 81])
def test_unwrap_refuses_other_lengths(length: int) -> None:
    with pytest.raises(DecodeError):
        unwrap_ephemeral_key(CODE, bytes(length))


def test_wrap_refuses_bad_keys() -> None:
    with pytest.raises(LocalProtocolError):
        wrap_ephemeral_key(CODE, bytes(31), rng(1).randbytes)
    with pytest.raises(LocalProtocolError):
        wrap_ephemeral_key("short", COMPANION_EPHEMERAL.public, rng(1).randbytes)


def exchange(code_typed: str = CODE) -> tuple[bytes, bytes, bytes]:
    """The whole exchange; returns (companion adv secret, the key bundle, the companion's ephemeral as the
    phone unwrapped it). The phone's own adv secret is checked by the callers."""
    r = rng(5)
    hello = wrap_ephemeral_key(CODE, COMPANION_EPHEMERAL.public, r.randbytes)
    seen_by_phone = unwrap_ephemeral_key(code_typed, hello)
    primary_hello = wrap_ephemeral_key(code_typed, PRIMARY_EPHEMERAL.public, r.randbytes)
    finish = companion_finish(
        code=CODE,
        ephemeral=COMPANION_EPHEMERAL,
        identity=COMPANION_IDENTITY,
        wrapped_primary_ephemeral=primary_hello,
        primary_identity=PRIMARY_IDENTITY.public,
        rng=r.randbytes,
    )
    return finish.adv_secret, finish.wrapped_key_bundle, seen_by_phone


def phone_finish(bundle: bytes, seen: bytes, companion_identity: bytes = COMPANION_IDENTITY.public) -> bytes:
    return primary_finish(
        ephemeral=PRIMARY_EPHEMERAL,
        identity=PRIMARY_IDENTITY,
        companion_ephemeral=seen,
        companion_identity=companion_identity,
        wrapped_key_bundle=bundle,
    )


def test_both_sides_derive_the_same_adv_secret() -> None:
    adv, bundle, seen = exchange()
    assert len(bundle) == KEY_BUNDLE_LENGTH
    assert len(adv) == 32
    assert phone_finish(bundle, seen) == adv


def test_the_bundle_has_the_documented_layout() -> None:
    adv, bundle, seen = exchange()
    shared = curve.shared_secret(PRIMARY_EPHEMERAL.private, seen)
    key = HKDF(hashes.SHA256(), 32, bundle[:32], b"link_code_pairing_key_bundle_encryption_key").derive(shared)
    plain = AESGCM(key).decrypt(bundle[32:44], bundle[44:], b"")
    assert plain[:32] == COMPANION_IDENTITY.public
    assert plain[32:64] == PRIMARY_IDENTITY.public
    ikm = shared + curve.shared_secret(COMPANION_IDENTITY.private, PRIMARY_IDENTITY.public) + plain[64:]
    assert HKDF(hashes.SHA256(), 32, None, b"adv_secret").derive(ikm) == adv


def test_the_derived_adv_secret_authenticates_pair_success() -> None:
    adv, bundle, seen = exchange()
    phone_adv = phone_finish(bundle, seen)
    issued = issue_device_identity(
        account=PRIMARY_IDENTITY,
        companion_identity=COMPANION_IDENTITY.public,
        adv_secret=phone_adv,
        raw_id=1,
        key_index=2,
        timestamp=3,
    )
    node = pair_success_node(iq_id="1", device_identity=issued, jid=JID.parse("1:2@s.whatsapp.net"))
    assert complete_pairing(node, adv_secret=adv, identity=COMPANION_IDENTITY).key_index == 2


def test_a_mistyped_code_ends_in_a_bad_key_bundle() -> None:
    _, bundle, seen = exchange(code_typed="R2D2C3P1")
    with pytest.raises(BadKeyBundle) as info:
        phone_finish(bundle, seen)
    assert info.value.reason == "key_bundle"


def test_a_tampered_bundle_is_refused() -> None:
    _, bundle, seen = exchange()
    for i in (0, 33, 50, len(bundle) - 1):
        tampered = bytearray(bundle)
        tampered[i] ^= 0x40
        with pytest.raises(BadKeyBundle):
            phone_finish(bytes(tampered), seen)


def test_a_bundle_naming_other_identities_is_refused() -> None:
    _, bundle, seen = exchange()
    with pytest.raises(BadKeyBundle):
        phone_finish(bundle, seen, companion_identity=PRIMARY_EPHEMERAL.public)


@pytest.mark.parametrize("length", [0, KEY_BUNDLE_LENGTH - 1, KEY_BUNDLE_LENGTH + 1])
def test_a_bundle_of_another_length_is_a_decode_error(length: int) -> None:
    with pytest.raises(DecodeError):
        phone_finish(bytes(length), COMPANION_EPHEMERAL.public)


def test_low_order_and_malformed_keys_are_decode_errors() -> None:
    _, bundle, _ = exchange()
    with pytest.raises(DecodeError):
        phone_finish(bundle, bytes(32))  # the all-zero point: low order
    with pytest.raises(DecodeError):
        phone_finish(bundle, COMPANION_EPHEMERAL.public, companion_identity=bytes(5))
    with pytest.raises(DecodeError):
        companion_finish(
            code=CODE,
            ephemeral=COMPANION_EPHEMERAL,
            identity=COMPANION_IDENTITY,
            wrapped_primary_ephemeral=bytes(80),
            primary_identity=bytes(31),
            rng=rng(1).randbytes,
        )


def test_companion_finish_repr_hides_secrets() -> None:
    r = rng(6)
    finish = companion_finish(
        code=CODE,
        ephemeral=COMPANION_EPHEMERAL,
        identity=COMPANION_IDENTITY,
        wrapped_primary_ephemeral=wrap_ephemeral_key(CODE, PRIMARY_EPHEMERAL.public, r.randbytes),
        primary_identity=PRIMARY_IDENTITY.public,
        rng=r.randbytes,
    )
    assert finish.adv_secret.hex() not in repr(finish)
    assert repr(finish.adv_secret) not in repr(finish)
