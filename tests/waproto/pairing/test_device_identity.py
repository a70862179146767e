"""waproto.pairing.device_identity: pair-success, both sides, and every check that can fail."""

from __future__ import annotations

import hashlib
import hmac
import random

import pytest

from waproto import proto
from waproto.binary import Node, marshal, unmarshal
from waproto.errors import (
    BadAccountSignature,
    BadDeviceIdentityHMAC,
    BadDeviceSignature,
    DecodeError,
    LocalProtocolError,
    PairingError,
)
from waproto.jid import JID, SERVER_JID
from waproto.pairing.device_identity import (
    E2EE,
    HOSTED,
    complete_pairing,
    issue_device_identity,
    pair_device_sign_reply,
    pair_error_reply,
    pair_success_node,
    parse_pair_success,
    verify_device_identity,
    verify_pair_device_sign,
)
from waproto.proto import ADVDeviceIdentity, ADVSignedDeviceIdentity, ADVSignedDeviceIdentityHMAC
from waproto.signal import curve
from waproto.signal.curve import KeyPair

_rng = random.Random(4).randbytes
ACCOUNT = curve.generate_key_pair(_rng)
COMPANION = curve.generate_key_pair(_rng)
OTHER = curve.generate_key_pair(_rng)
ADV = _rng(32)
JID_PN = JID.parse("15550001111:7@s.whatsapp.net")
JID_LID = JID.parse("99887766:7@lid")
TYPES = [(E2EE, E2EE), (HOSTED, HOSTED), (HOSTED, E2EE), (E2EE, HOSTED)]


def issue(account_type: int = E2EE, device_type: int = E2EE, **overrides: object) -> bytes:
    args: dict[str, object] = {
        "account": ACCOUNT,
        "companion_identity": COMPANION.public,
        "adv_secret": ADV,
        "raw_id": 4242,
        "key_index": 7,
        "timestamp": 1_764_590_000,
        "account_type": account_type,
        "device_type": device_type,
    }
    args.update(overrides)
    return issue_device_identity(**args)  # type: ignore[arg-type]


def stanza(device_identity: bytes, **kwargs: object) -> Node:
    return pair_success_node(iq_id="ps-1", device_identity=device_identity, jid=JID_PN, lid=JID_LID, **kwargs)  # type: ignore[arg-type]


def container_from(signed: ADVSignedDeviceIdentity, account_type: int = E2EE, *, hmac_prefix: bytes | None = None) -> bytes:
    """A container built here, by the formulas of PROTOCOL.md §4.3, not by the module under test."""
    details = signed.SerializeToString()
    prefix = (b"\x06\x05" if account_type == HOSTED else b"") if hmac_prefix is None else hmac_prefix
    mac = hmac.new(ADV, prefix + details, hashlib.sha256).digest()
    container = ADVSignedDeviceIdentityHMAC(details=details, hmac=mac, account_type=account_type)  # type: ignore[arg-type]
    return bytes(container.SerializeToString())


def signed_by(signer: KeyPair, prefix: bytes, companion: bytes = COMPANION.public, device_type: int = E2EE) -> ADVSignedDeviceIdentity:
    details = ADVDeviceIdentity(raw_id=1, timestamp=2, key_index=3, account_type=E2EE, device_type=device_type).SerializeToString()  # type: ignore[arg-type]
    return ADVSignedDeviceIdentity(
        details=details,
        account_signature_key=signer.public,
        account_signature=curve.sign(signer.private, prefix + details + companion),
    )


# --------------------------------------------------------------------------- what the phone issues


@pytest.mark.parametrize(("account_type", "device_type"), TYPES)
def test_issued_identity_has_the_documented_layout(account_type: int, device_type: int) -> None:
    container = proto.decode(ADVSignedDeviceIdentityHMAC, issue(account_type, device_type))
    assert container.account_type == account_type
    hmac_prefix = b"\x06\x05" if account_type == HOSTED else b""
    assert container.hmac == hmac.new(ADV, hmac_prefix + container.details, hashlib.sha256).digest()
    signed = proto.decode(ADVSignedDeviceIdentity, container.details)
    assert signed.account_signature_key == ACCOUNT.public
    assert not signed.HasField("device_signature")
    details = proto.decode(ADVDeviceIdentity, signed.details)
    assert (details.raw_id, details.timestamp, details.key_index) == (4242, 1_764_590_000, 7)
    assert (details.account_type, details.device_type) == (account_type, device_type)
    sig_prefix = b"\x06\x05" if device_type == HOSTED else b"\x06\x00"
    assert curve.verify(ACCOUNT.public, sig_prefix + signed.details + COMPANION.public, signed.account_signature)


def test_issue_accepts_a_05_prefixed_companion_key() -> None:
    assert issue(companion_identity=COMPANION.signal_public) == issue()


@pytest.mark.parametrize(
    "overrides",
    [
        {"adv_secret": ADV[:31]},
        {"raw_id": -1},
        {"raw_id": 2**32},
        {"key_index": 2**32},
        {"timestamp": -5},
        {"account_type": 2},
        {"device_type": 7},
        {"companion_identity": COMPANION.public[:31]},
    ],
)
def test_issue_refuses_bad_arguments(overrides: dict[str, object]) -> None:
    with pytest.raises(LocalProtocolError):
        issue(**overrides)  # type: ignore[arg-type]


def test_pair_success_node_shape() -> None:
    node = stanza(b"DI", platform="iphone", business_name="Shop", server_time=1700000000)
    assert node.tag == "iq"
    assert node.attrs == {"from": SERVER_JID, "type": "set", "id": "ps-1", "xmlns": "md"}
    (success,) = node.children
    assert success.tag == "pair-success"
    assert success.attrs == {"t": "1700000000"}
    assert [c.tag for c in success.children] == ["device-identity", "platform", "device", "biz"]
    assert success.child("device-identity") == Node("device-identity", {}, b"DI")
    assert success.child("platform") == Node("platform", {"name": "iphone"})
    assert success.child("device") == Node("device", {"jid": JID_PN, "lid": JID_LID})
    assert success.child("biz") == Node("biz", {"name": "Shop"})
    bare = pair_success_node(iq_id="x", device_identity=b"DI", jid=JID_PN)
    assert bare.children[0].attrs == {}
    assert bare.children[0].child("device") == Node("device", {"jid": JID_PN})
    assert bare.children[0].child("biz") is None


# --------------------------------------------------------------------------- the companion accepts


@pytest.mark.parametrize(("account_type", "device_type"), TYPES)
def test_companion_accepts_and_countersigns(account_type: int, device_type: int) -> None:
    issued = issue(account_type, device_type)
    paired = complete_pairing(stanza(issued, business_name="Shop"), adv_secret=ADV, identity=COMPANION)
    assert (paired.jid, paired.lid, paired.platform, paired.business_name) == (JID_PN, JID_LID, "android", "Shop")
    assert paired.key_index == 7
    assert paired.primary_identity == ACCOUNT.public
    signed = proto.decode(ADVSignedDeviceIdentity, proto.decode(ADVSignedDeviceIdentityHMAC, issued).details)
    assert paired.account.details == signed.details
    assert paired.account.account_signature_key == ACCOUNT.public
    message = b"\x06\x01" + signed.details + COMPANION.public + ACCOUNT.public
    assert curve.verify(COMPANION.public, message, paired.account.device_signature)

    reply = paired.reply
    assert reply.tag == "iq"
    assert reply.attrs == {"to": SERVER_JID, "type": "result", "id": "ps-1"}
    sign = reply.child("pair-device-sign")
    assert sign is not None
    node = sign.child("device-identity")
    assert node is not None
    assert node.attrs == {"key-index": "7"}
    assert isinstance(node.content, bytes)
    sent = proto.decode(ADVSignedDeviceIdentity, node.content)
    assert not sent.HasField("account_signature_key")
    assert (sent.details, sent.account_signature, sent.device_signature) == (
        signed.details,
        signed.account_signature,
        paired.account.device_signature,
    )


def test_companion_accepts_a_stanza_after_the_wire() -> None:
    node = unmarshal(marshal(stanza(issue(), server_time=17)))
    paired = complete_pairing(node, adv_secret=ADV, identity=COMPANION)
    assert (paired.jid, paired.lid) == (JID_PN, JID_LID)
    assert parse_pair_success(node).server_time == 17


def test_the_phone_accepts_the_countersignature() -> None:
    issued = issue()
    paired = complete_pairing(stanza(issued), adv_secret=ADV, identity=COMPANION)
    full = verify_pair_device_sign(paired.reply, device_identity=issued, companion_identity=COMPANION.public)
    assert full == paired.account


def test_repr_shows_no_key_material() -> None:
    paired = complete_pairing(stanza(issue()), adv_secret=ADV, identity=COMPANION)
    text = repr(paired)
    assert paired.account.device_signature.hex() not in text
    assert "15550001111:7@s.whatsapp.net" in text


# --------------------------------------------------------------------------- the companion refuses


def test_wrong_adv_secret_is_a_bad_hmac() -> None:
    with pytest.raises(BadDeviceIdentityHMAC) as info:
        verify_device_identity(issue(), adv_secret=bytes(32), identity=COMPANION)
    assert info.value.reason == "hmac"


def test_flipped_hmac_bit_is_a_bad_hmac() -> None:
    container = proto.decode(ADVSignedDeviceIdentityHMAC, issue())
    container.hmac = bytes([container.hmac[0] ^ 1]) + container.hmac[1:]
    with pytest.raises(BadDeviceIdentityHMAC):
        verify_device_identity(container.SerializeToString(), adv_secret=ADV, identity=COMPANION)


def test_changed_details_are_a_bad_hmac() -> None:
    container = proto.decode(ADVSignedDeviceIdentityHMAC, issue())
    signed = proto.decode(ADVSignedDeviceIdentity, container.details)
    signed.details = ADVDeviceIdentity(raw_id=1, key_index=99).SerializeToString()
    container.details = signed.SerializeToString()
    with pytest.raises(BadDeviceIdentityHMAC):
        verify_device_identity(container.SerializeToString(), adv_secret=ADV, identity=COMPANION)


def test_hosted_account_needs_the_hosted_hmac_prefix() -> None:
    signed = signed_by(ACCOUNT, b"\x06\x00")
    assert verify_device_identity(container_from(signed, E2EE), adv_secret=ADV, identity=COMPANION)
    assert verify_device_identity(container_from(signed, HOSTED), adv_secret=ADV, identity=COMPANION)
    with pytest.raises(BadDeviceIdentityHMAC):
        verify_device_identity(container_from(signed, HOSTED, hmac_prefix=b""), adv_secret=ADV, identity=COMPANION)
    with pytest.raises(BadDeviceIdentityHMAC):
        verify_device_identity(container_from(signed, E2EE, hmac_prefix=b"\x06\x05"), adv_secret=ADV, identity=COMPANION)


def test_account_signature_by_another_key_is_refused() -> None:
    signed = signed_by(OTHER, b"\x06\x00")
    signed.account_signature_key = ACCOUNT.public  # claims the account key, signed by another
    with pytest.raises(BadAccountSignature) as info:
        verify_device_identity(container_from(signed), adv_secret=ADV, identity=COMPANION)
    assert info.value.reason == "account_signature"


def test_account_signature_over_another_companion_is_refused() -> None:
    signed = signed_by(ACCOUNT, b"\x06\x00", companion=OTHER.public)
    with pytest.raises(BadAccountSignature):
        verify_device_identity(container_from(signed), adv_secret=ADV, identity=COMPANION)


@pytest.mark.parametrize(("prefix", "device_type", "ok"), [
    (b"\x06\x00", E2EE, True),
    (b"\x06\x05", HOSTED, True),
    (b"\x06\x05", E2EE, False),
    (b"\x06\x00", HOSTED, False),
    (b"\x06\x01", E2EE, False),
    (b"", E2EE, False),
])
def test_account_signature_prefix_follows_the_device_type(prefix: bytes, device_type: int, ok: bool) -> None:
    container = container_from(signed_by(ACCOUNT, prefix, device_type=device_type))
    if ok:
        verify_device_identity(container, adv_secret=ADV, identity=COMPANION)
    else:
        with pytest.raises(BadAccountSignature):
            verify_device_identity(container, adv_secret=ADV, identity=COMPANION)


@pytest.mark.parametrize("field", ["account_signature_key", "account_signature"])
def test_malformed_signature_fields_are_bad_account_signatures(field: str) -> None:
    signed = signed_by(ACCOUNT, b"\x06\x00")
    setattr(signed, field, getattr(signed, field) + b"\x00")
    with pytest.raises(BadAccountSignature):
        verify_device_identity(container_from(signed), adv_secret=ADV, identity=COMPANION)
    signed.ClearField(field)
    with pytest.raises(BadAccountSignature):
        verify_device_identity(container_from(signed), adv_secret=ADV, identity=COMPANION)


def test_the_two_refusals_are_distinct() -> None:
    assert not issubclass(BadDeviceIdentityHMAC, BadAccountSignature)
    assert not issubclass(BadAccountSignature, BadDeviceIdentityHMAC)
    assert {BadDeviceIdentityHMAC.reason, BadAccountSignature.reason, BadDeviceSignature.reason} == {
        "hmac",
        "account_signature",
        "device_signature",
    }


@pytest.mark.parametrize("data", [b"\xff", b"\x0a\x05ab", b"\x12\x01"])
def test_malformed_container_is_a_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        verify_device_identity(data, adv_secret=ADV, identity=COMPANION)


def test_malformed_inner_protobufs_are_decode_errors() -> None:
    # An HMAC-valid container whose details are not an ADVSignedDeviceIdentity...
    details = b"\xff\xff"
    mac = hmac.new(ADV, details, hashlib.sha256).digest()
    container = ADVSignedDeviceIdentityHMAC(details=details, hmac=mac).SerializeToString()
    with pytest.raises(DecodeError):
        verify_device_identity(container, adv_secret=ADV, identity=COMPANION)
    # ...and one whose identity details are not an ADVDeviceIdentity.
    bad_inner = ADVSignedDeviceIdentity(details=b"\x08")
    with pytest.raises(DecodeError):
        verify_device_identity(container_from(bad_inner), adv_secret=ADV, identity=COMPANION)


# --------------------------------------------------------------------------- parsing the stanza


def _without(child: str) -> Node:
    node = stanza(issue(), business_name="B")
    success = node.children[0]
    success.content = [c for c in success.children if c.tag != child]
    return node


@pytest.mark.parametrize(
    "node",
    [
        Node("iq", {"id": "1"}),
        Node("message", {"id": "1"}, [Node("pair-success")]),
        Node("iq", {}, [Node("pair-success", {}, [Node("device-identity", {}, b"x"), Node("device", {"jid": JID_PN})])]),
        _without("device-identity"),
        _without("device"),
        Node("iq", {"id": "1"}, [Node("pair-success", {}, [Node("device-identity", {}, "text"), Node("device", {"jid": JID_PN})])]),
        Node("iq", {"id": "1"}, [Node("pair-success", {}, [Node("device-identity", {}, b"x"), Node("device", {})])]),
        Node("iq", {"id": "1"}, [Node("pair-success", {}, [Node("device-identity", {}, b"x"), Node("device", {"jid": "nope"})])]),
        Node("iq", {"id": "1"}, [Node("pair-success", {"t": "12a"}, [Node("device-identity", {}, b"x"), Node("device", {"jid": JID_PN})])]),
        Node("iq", {"id": "1"}, [Node("pair-success", {}, [Node("device-identity", {}, b"x"), Node("device", {"jid": JID_PN, "lid": "a@b@c"})])]),
    ],
)
def test_malformed_stanzas_are_decode_errors_with_the_node(node: Node) -> None:
    with pytest.raises(DecodeError) as info:
        parse_pair_success(node)
    assert info.value.node is node


def test_parse_reads_string_jids_and_optional_children() -> None:
    node = Node(
        "iq",
        {"id": "7"},
        [Node("pair-success", {}, [Node("device-identity", {}, b"x"), Node("device", {"jid": "1:2@s.whatsapp.net"})])],
    )
    success = parse_pair_success(node)
    assert (success.iq_id, success.device_identity, success.jid) == ("7", b"x", JID("1", "s.whatsapp.net", device=2))
    assert (success.lid, success.platform, success.business_name, success.server_time) == (None, None, None, None)


def test_missing_biz_and_platform_are_none_after_pairing() -> None:
    paired = complete_pairing(_without("platform"), adv_secret=ADV, identity=COMPANION)
    assert paired.platform is None
    paired = complete_pairing(_without("biz"), adv_secret=ADV, identity=COMPANION)
    assert paired.business_name is None


# --------------------------------------------------------------------------- replies


def test_error_replies() -> None:
    hmac_error = pair_error_reply("ps-1", BadDeviceIdentityHMAC("x"))
    assert hmac_error == Node(
        "iq",
        {"to": SERVER_JID, "type": "error", "id": "ps-1"},
        [Node("error", {"code": "401", "text": "hmac-mismatch"})],
    )
    sig_error = pair_error_reply("ps-1", BadAccountSignature("x"))
    assert sig_error.children[0].attrs == {"code": "401", "text": "signature-mismatch"}
    other = pair_error_reply("ps-1", DecodeError("x"))
    assert other.children[0].attrs == {"code": "500", "text": "internal-error"}


def test_reply_does_not_alter_the_stored_account() -> None:
    paired = complete_pairing(stanza(issue()), adv_secret=ADV, identity=COMPANION)
    pair_device_sign_reply("again", paired.account)
    assert paired.account.account_signature_key == ACCOUNT.public


# --------------------------------------------------------------------------- the phone checks the reply


def _reply_with(issued: bytes, mutate: object) -> Node:
    paired = complete_pairing(stanza(issued), adv_secret=ADV, identity=COMPANION)
    node = paired.reply.children[0].children[0]
    assert isinstance(node.content, bytes)
    sent = proto.decode(ADVSignedDeviceIdentity, node.content)
    mutate(sent)  # type: ignore[operator]
    node.content = sent.SerializeToString()
    return paired.reply


def _flip_device_signature(sent: ADVSignedDeviceIdentity) -> None:
    sent.device_signature = bytes([sent.device_signature[0] ^ 1]) + sent.device_signature[1:]


def _other_details(sent: ADVSignedDeviceIdentity) -> None:
    sent.details = ADVDeviceIdentity(raw_id=1, key_index=7).SerializeToString()


def _other_account_signature(sent: ADVSignedDeviceIdentity) -> None:
    sent.account_signature = bytes(64)


def _other_account_key(sent: ADVSignedDeviceIdentity) -> None:
    sent.account_signature_key = OTHER.public


@pytest.mark.parametrize("mutate", [_flip_device_signature, _other_details, _other_account_signature, _other_account_key])
def test_phone_refuses_a_bad_countersignature(mutate: object) -> None:
    issued = issue()
    with pytest.raises(BadDeviceSignature) as info:
        verify_pair_device_sign(_reply_with(issued, mutate), device_identity=issued, companion_identity=COMPANION.public)
    assert info.value.reason == "device_signature"
    assert isinstance(info.value, PairingError)


def test_phone_accepts_the_account_key_when_it_is_ours() -> None:
    issued = issue()

    def restore(sent: ADVSignedDeviceIdentity) -> None:
        sent.account_signature_key = ACCOUNT.public

    verify_pair_device_sign(_reply_with(issued, restore), device_identity=issued, companion_identity=COMPANION.public)


def test_phone_refuses_a_signature_by_another_companion() -> None:
    issued = issue()
    paired = complete_pairing(stanza(issued), adv_secret=ADV, identity=COMPANION)
    with pytest.raises(BadDeviceSignature):
        verify_pair_device_sign(paired.reply, device_identity=issued, companion_identity=OTHER.public)


def _sign_with_prefix(issued: bytes, prefix: bytes) -> Node:
    signed = proto.decode(ADVSignedDeviceIdentity, proto.decode(ADVSignedDeviceIdentityHMAC, issued).details)
    signed.device_signature = curve.sign(COMPANION.private, prefix + signed.details + COMPANION.public + ACCOUNT.public)
    return pair_device_sign_reply("ps-1", signed)


@pytest.mark.parametrize(("account_type", "prefix", "ok"), [
    (E2EE, b"\x06\x01", True),
    (HOSTED, b"\x06\x01", True),
    (HOSTED, b"\x06\x06", True),  # Baileys 6 signs hosted accounts so
    (E2EE, b"\x06\x06", False),
    (E2EE, b"\x06\x00", False),
])
def test_device_signature_prefixes_the_phone_accepts(account_type: int, prefix: bytes, ok: bool) -> None:
    issued = issue(account_type)
    reply = _sign_with_prefix(issued, prefix)
    if ok:
        verify_pair_device_sign(reply, device_identity=issued, companion_identity=COMPANION.public)
    else:
        with pytest.raises(BadDeviceSignature):
            verify_pair_device_sign(reply, device_identity=issued, companion_identity=COMPANION.public)


def test_phone_refuses_malformed_replies() -> None:
    issued = issue()
    good = complete_pairing(stanza(issued), adv_secret=ADV, identity=COMPANION).reply
    wrong_index = unmarshal(marshal(good))
    wrong_index.children[0].children[0].attrs["key-index"] = "8"
    error_type = unmarshal(marshal(good))
    error_type.attrs["type"] = "error"
    no_bytes = Node("iq", {"type": "result"}, [Node("pair-device-sign", {}, [Node("device-identity", {"key-index": "7"})])])
    garbage = Node("iq", {"type": "result"}, [Node("pair-device-sign", {}, [Node("device-identity", {"key-index": "7"}, b"\xff")])])
    for reply in (wrong_index, error_type, no_bytes, Node("iq", {"type": "result"}), garbage):
        with pytest.raises(DecodeError):
            verify_pair_device_sign(reply, device_identity=issued, companion_identity=COMPANION.public)
