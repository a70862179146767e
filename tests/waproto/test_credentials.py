"""waproto.credentials: generation from an injected rng, pairing, JSON round trip and its checks."""

from __future__ import annotations

import json
import random

import pytest

from tests.waproto.sandbox.memclient import NOW
from waproto.credentials import CREDENTIALS_FORMAT, Credentials
from waproto.errors import LocalProtocolError
from waproto.jid import JID
from waproto.pairing import complete_pairing, issue_device_identity, pair_success_node
from waproto.signal import curve

PHONE_JID = JID("15550001111", "s.whatsapp.net", device=3)
LID = JID("123456789012345", "lid", device=3)


def fresh(seed: int = 1) -> Credentials:
    return Credentials.generate(random.Random(seed).randbytes, push_name="Bot", timestamp=NOW)


def paired(seed: int = 1) -> Credentials:
    creds = fresh(seed)
    account = curve.generate_key_pair(random.Random(99).randbytes)
    identity = issue_device_identity(
        account=account,
        companion_identity=creds.identity_key.public,
        adv_secret=creds.adv_secret,
        raw_id=7,
        key_index=2,
        timestamp=NOW,
    )
    stanza = pair_success_node(iq_id="p1", device_identity=identity, jid=PHONE_JID, lid=LID, platform="android")
    return creds.paired(complete_pairing(stanza, adv_secret=creds.adv_secret, identity=creds.identity_key))


def test_generate_is_deterministic_and_well_formed() -> None:
    a, b = fresh(1), fresh(1)
    assert a == b
    assert a != fresh(2)
    assert 1 <= a.registration_id <= 0x3FFF
    assert len(a.adv_secret) == 32
    assert a.signed_pre_key.key_id == 1
    assert a.signed_pre_key.verify(a.identity_key.public)
    assert a.signed_pre_key.timestamp == NOW
    assert a.next_pre_key_id == 1
    assert not a.is_paired
    assert a.account_identity is None


def test_repr_hides_secrets() -> None:
    creds = fresh()
    text = repr(creds)
    assert creds.adv_secret.hex() not in text
    assert creds.noise_key.private.hex() not in text
    assert repr(creds.noise_key.private) not in text


def test_paired_records_the_device() -> None:
    creds = paired()
    assert creds.is_paired
    assert (creds.me, creds.lid, creds.platform) == (PHONE_JID, LID, "android")
    identity = creds.account_identity
    assert identity is not None
    assert len(identity.device_signature) == 64
    assert len(identity.account_signature_key) == 32


def test_json_round_trip_unpaired_and_paired() -> None:
    for creds in (fresh(), paired(), paired().with_next_pre_key_id(812)):
        data = json.loads(json.dumps(creds.to_dict()))
        assert data["format"] == CREDENTIALS_FORMAT
        assert Credentials.from_dict(data) == creds


def test_next_pre_key_id_wraps() -> None:
    creds = fresh()
    assert creds.with_next_pre_key_id(0xFFFFFF).next_pre_key_id == 0xFFFFFF
    assert creds.with_next_pre_key_id(0xFFFFFF + 1).next_pre_key_id == 1
    assert creds.with_next_pre_key_id(0xFFFFFF + 5).next_pre_key_id == 5


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("format", 2, "format"),
        ("noise_private", "zz", "noise_private"),
        ("identity_private", "00", "identity_private"),
        ("signed_pre_key", 5, "signed_pre_key"),
        ("registration_id", "5", "registration_id"),
        ("registration_id", 0, "registration_id"),
        ("registration_id", True, "registration_id"),
        ("adv_secret", "00" * 31, "adv_secret"),
        ("next_pre_key_id", 0, "next_pre_key_id"),
        ("me", "not a jid@@", "me"),
        ("me", "123@lid", "me"),
        ("lid", "123@s.whatsapp.net", "lid"),
        ("account", "0a", "account"),
        ("platform", 3, "platform"),
        ("push_name", ["x"], "push_name"),
    ],
)
def test_from_dict_names_the_bad_key(key: str, value: object, message: str) -> None:
    data = paired().to_dict()
    data[key] = value
    with pytest.raises(LocalProtocolError, match=message):
        Credentials.from_dict(data)


def test_from_dict_refuses_a_foreign_signed_pre_key() -> None:
    data = fresh(1).to_dict()
    data["signed_pre_key"] = fresh(2).to_dict()["signed_pre_key"]
    with pytest.raises(LocalProtocolError, match="signed by the identity"):
        Credentials.from_dict(data)
    with pytest.raises(LocalProtocolError):
        Credentials.from_dict([])  # type: ignore[arg-type]
