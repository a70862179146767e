"""waproto.pairing against Baileys 6 and 7 (``tests/interop/ops/pairing.mjs``).

- QR strings: Baileys' own socket handlers, fed a ``<pair-device>`` stanza, show exactly our strings;
- pair-success: Baileys' ``configureSuccessfulPairing`` accepts what our phone side issues (after our
  binary encoder and its decoder), and its reply (after its encoder and our decoder) passes our phone-side
  check; our companion gives the same answer, byte for byte where the protocol leaves no choice;
- pairing code: code, key, wrapping and key bundle interoperate with Baileys' companion functions both
  ways, and both sides derive the same adv secret;
- end to end: a real (stubbed-transport) Baileys socket links to our phone side by QR and by pairing code.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from typing import Any

import pytest

from tests.interop.harness import Harness
from waproto import proto
from waproto.binary import Node, marshal, unmarshal
from waproto.errors import BadAccountSignature, BadDeviceIdentityHMAC
from waproto.jid import JID, SERVER_JID
from waproto.pairing import (
    E2EE,
    HOSTED,
    PAIRING_CODE_ALPHABET,
    ClientType,
    QRData,
    client_type_for_browser,
    companion_finish,
    complete_pairing,
    generate_pairing_code,
    issue_device_identity,
    pair_device_node,
    pair_success_node,
    pairing_code_key,
    parse_companion_finish,
    parse_companion_hello,
    parse_qr,
    primary_finish,
    primary_hello_node,
    unwrap_ephemeral_key,
    verify_device_identity,
    verify_pair_device_sign,
    wrap_ephemeral_key,
)
from waproto.proto import ADVDeviceIdentity, ADVSignedDeviceIdentity, ADVSignedDeviceIdentityHMAC
from waproto.signal import curve
from waproto.signal.curve import KeyPair

pytestmark = pytest.mark.interop

VERSIONS = ["v6", "v7"]
TYPES = [(E2EE, E2EE), (HOSTED, HOSTED), (HOSTED, E2EE), (E2EE, HOSTED)]
JID_PN = JID.parse("15550001111:7@s.whatsapp.net")
JID_LID = JID.parse("99887766:7@lid")


def keys(seed: int) -> tuple[KeyPair, KeyPair, bytes]:
    r = random.Random(seed)
    return curve.generate_key_pair(r.randbytes), curve.generate_key_pair(r.randbytes), r.randbytes(32)


def pair(kp: KeyPair) -> dict[str, bytes]:
    return {"private": kp.private, "public": kp.public}


class Drawn:
    """An rng that replays given chunks and remembers nothing else (to hand Baileys the same randomness)."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = list(chunks)

    def __call__(self, n: int) -> bytes:
        chunk = self.chunks.pop(0)
        assert len(chunk) == n
        return chunk


# --------------------------------------------------------------------------- QR strings


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("seed", range(3))
def test_qr_equals_baileys_socket(baileys: Harness, version: str, seed: int) -> None:
    noise, identity, adv = keys(seed)
    ref = f"2@{random.Random(seed).randbytes(60).hex()}+/=="
    shown = baileys.call(f"pairing.{version}.qr.socket", ref=ref, noise=pair(noise), identity=pair(identity), adv=adv)
    client_type = None if version == "v6" else ClientType.CHROME  # the op's browser: Ubuntu / Chrome
    ours = QRData(ref, noise.public, identity.public, adv, client_type)
    assert shown == str(ours)
    assert parse_qr(shown) == ours


@pytest.mark.parametrize(
    "browser",
    [
        ["Ubuntu", "Chrome", "22.04.4"],
        ["Mac OS", "Safari", "14.4.1"],
        ["Windows", "Edge", "10"],
        ["Ubuntu", "Firefox", "1"],
        ["Windows", "Opera", "1"],
        ["Windows", "IE", "1"],
        ["Windows", "Desktop", "10"],
        ["Mac OS", "Desktop", "14"],
        ["Baileys", "waporta", "6.5.0"],
    ],
)
def test_qr_link_equals_baileys_7_builder(baileys: Harness, browser: list[str]) -> None:
    noise, identity, adv = keys(9)
    shown = baileys.call(
        "pairing.v7.qr.build", ref="2@ref", noise=noise.public, identity=identity.public, adv=adv, browser=browser
    )
    ours = QRData("2@ref", noise.public, identity.public, adv, client_type_for_browser(browser[0], browser[1]))
    assert shown == str(ours)


# --------------------------------------------------------------------------- pair-success


def configure(baileys: Harness, version: str, node_frame: bytes, adv: bytes, identity: KeyPair) -> dict[str, Any]:
    result: dict[str, Any] = baileys.call(f"pairing.{version}.configure", frame=node_frame, adv=adv, identity=pair(identity))
    return result


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("account_type", "device_type"), TYPES)
def test_baileys_companion_accepts_our_phone(baileys: Harness, version: str, account_type: int, device_type: int) -> None:
    account, companion, adv = keys(20 + account_type * 2 + device_type)
    issued = issue_device_identity(
        account=account,
        companion_identity=companion.public,
        adv_secret=adv,
        raw_id=31337,
        key_index=5,
        timestamp=1_764_590_000,
        account_type=account_type,
        device_type=device_type,
    )
    node = pair_success_node(
        iq_id="ps-9", device_identity=issued, jid=JID_PN, lid=JID_LID, platform="android", business_name="Shop"
    )
    result = configure(baileys, version, marshal(node), adv, companion)
    assert result["ok"], result
    assert result["me"]["id"] == str(JID_PN)
    assert result["me"]["name"] == "Shop"
    assert result["platform"] == "android"
    assert result["primaryIdentity"] == account.signal_public
    if version == "v7":
        assert result["me"]["lid"] == str(JID_LID)

    # Its reply, through its encoder and our decoder, passes our phone-side check...
    reply = unmarshal(result["replyFrame"])
    full = verify_pair_device_sign(reply, device_identity=issued, companion_identity=companion.public)
    assert full.SerializeToString() == result["account"]
    sent = proto.decode(ADVSignedDeviceIdentity, reply.children[0].children[0].content)  # type: ignore[arg-type]
    assert not sent.HasField("account_signature_key")

    # ...and our companion answers the same stanza the same way (signatures are deterministic), except
    # that Baileys 6 signs hosted accounts with 06 06 where whatsmeow and Baileys 7 use 06 01.
    ours = complete_pairing(unmarshal(marshal(node)), adv_secret=adv, identity=companion)
    if version == "v7" or account_type == E2EE:
        assert ours.reply == reply
        assert ours.account.SerializeToString() == result["account"]
    else:
        assert ours.account.device_signature != full.device_signature
        assert ours.account.details == full.details


@pytest.mark.parametrize("version", VERSIONS)
def test_wrong_hmac_is_refused_by_both(baileys: Harness, version: str) -> None:
    account, companion, adv = keys(30)
    issued = issue_device_identity(
        account=account, companion_identity=companion.public, adv_secret=bytes(32), raw_id=1, key_index=1, timestamp=1
    )
    node = pair_success_node(iq_id="1", device_identity=issued, jid=JID_PN, lid=JID_LID)
    result = configure(baileys, version, marshal(node), adv, companion)
    assert not result["ok"]
    assert "Invalid account signature" in result["error"]  # Baileys' text for a bad HMAC
    with pytest.raises(BadDeviceIdentityHMAC):
        complete_pairing(node, adv_secret=adv, identity=companion)


@pytest.mark.parametrize("version", VERSIONS)
def test_wrong_account_signature_is_refused_by_us_only(baileys: Harness, version: str) -> None:
    """PROTOCOL.md §12.1: Baileys' check is a no-op, ours is not."""
    account, companion, adv = keys(31)
    impostor, _, _ = keys(32)
    details = ADVDeviceIdentity(raw_id=1, timestamp=2, key_index=3).SerializeToString()
    signed = ADVSignedDeviceIdentity(
        details=details,
        account_signature_key=account.public,
        account_signature=curve.sign(impostor.private, b"\x06\x00" + details + companion.public),
    ).SerializeToString()
    container = ADVSignedDeviceIdentityHMAC(
        details=signed, hmac=hmac.new(adv, signed, hashlib.sha256).digest()
    ).SerializeToString()
    node = pair_success_node(iq_id="1", device_identity=container, jid=JID_PN, lid=JID_LID)
    assert configure(baileys, version, marshal(node), adv, companion)["ok"]
    with pytest.raises(BadAccountSignature):
        verify_device_identity(container, adv_secret=adv, identity=companion)


# --------------------------------------------------------------------------- pairing code


@pytest.mark.parametrize("version", VERSIONS)
def test_code_alphabet_equals_baileys(baileys: Harness, version: str) -> None:
    r = random.Random(40)
    inputs = [bytes(5), b"\xff" * 5] + [r.randbytes(5) for _ in range(50)]
    theirs = [baileys.call(f"pairing.{version}.crockford", bytes=data) for data in inputs]
    assert theirs == [generate_pairing_code(Drawn(data)) for data in inputs]


@pytest.mark.parametrize("version", VERSIONS)
def test_code_key_equals_baileys(baileys: Harness, version: str) -> None:
    r = random.Random(41)
    for code in ("11111111", "ZZZZZZZZ", generate_pairing_code(r.randbytes), "waporta1"):
        salt = r.randbytes(32)
        assert baileys.call(f"pairing.{version}.codeKey", code=code, salt=salt) == pairing_code_key(code, salt)


@pytest.mark.parametrize("version", VERSIONS)
def test_wrapping_interoperates_both_ways(baileys: Harness, version: str) -> None:
    r = random.Random(42)
    code = generate_pairing_code(r.randbytes)
    ephemeral = curve.generate_key_pair(r.randbytes)
    salt, iv = r.randbytes(32), r.randbytes(16)
    theirs = baileys.call(f"pairing.{version}.wrap", code=code, public=ephemeral.public, salt=salt, iv=iv)
    ours = wrap_ephemeral_key(code, ephemeral.public, Drawn(salt, iv))
    assert theirs == ours
    assert unwrap_ephemeral_key(code, theirs) == ephemeral.public
    other = wrap_ephemeral_key(code, ephemeral.public, r.randbytes)
    assert baileys.call(f"pairing.{version}.unwrap", code=code, wrapped=other) == ephemeral.public


@pytest.mark.parametrize("version", VERSIONS)
def test_baileys_companion_with_our_phone(baileys: Harness, version: str) -> None:
    r = random.Random(43)
    code = generate_pairing_code(r.randbytes)
    companion_ephemeral, companion_identity = curve.generate_key_pair(r.randbytes), curve.generate_key_pair(r.randbytes)
    primary_ephemeral, primary_identity = curve.generate_key_pair(r.randbytes), curve.generate_key_pair(r.randbytes)

    # companion_hello from Baileys; our phone unwraps it and answers with primary_hello.
    hello = baileys.call(
        f"pairing.{version}.wrap", code=code, public=companion_ephemeral.public, salt=r.randbytes(32), iv=r.randbytes(16)
    )
    seen = unwrap_ephemeral_key(code, hello)
    assert seen == companion_ephemeral.public
    primary_hello = wrap_ephemeral_key(code, primary_ephemeral.public, r.randbytes)

    # Baileys' notification handler steps; our companion, given the same random bytes, says the same.
    random32, salt, nonce = r.randbytes(32), r.randbytes(32), r.randbytes(12)
    theirs = baileys.call(
        f"pairing.{version}.companionFinish",
        code=code,
        ephemeral=pair(companion_ephemeral),
        identity=pair(companion_identity),
        wrappedPrimary=primary_hello,
        primaryIdentity=primary_identity.public,
        random=random32,
        salt=salt,
        iv=nonce,
    )
    ours = companion_finish(
        code=code,
        ephemeral=companion_ephemeral,
        identity=companion_identity,
        wrapped_primary_ephemeral=primary_hello,
        primary_identity=primary_identity.public,
        rng=Drawn(random32, salt, nonce),
    )
    assert (ours.wrapped_key_bundle, ours.adv_secret) == (theirs["wrappedKeyBundle"], theirs["advSecret"])

    # Our phone opens Baileys' bundle and derives Baileys' adv secret...
    adv = primary_finish(
        ephemeral=primary_ephemeral,
        identity=primary_identity,
        companion_ephemeral=seen,
        companion_identity=companion_identity.public,
        wrapped_key_bundle=theirs["wrappedKeyBundle"],
    )
    assert adv == theirs["advSecret"]

    # ...which then authenticates our pair-success to Baileys' companion.
    issued = issue_device_identity(
        account=primary_identity, companion_identity=companion_identity.public, adv_secret=adv,
        raw_id=7, key_index=1, timestamp=1_764_590_000,
    )
    node = pair_success_node(iq_id="lc", device_identity=issued, jid=JID_PN, lid=JID_LID)
    assert configure(baileys, version, marshal(node), theirs["advSecret"], companion_identity)["ok"]


@pytest.mark.parametrize("version", VERSIONS)
def test_our_companion_with_a_phone_made_of_baileys_primitives(baileys: Harness, version: str) -> None:
    r = random.Random(44)
    code = generate_pairing_code(r.randbytes)
    companion_ephemeral, companion_identity = curve.generate_key_pair(r.randbytes), curve.generate_key_pair(r.randbytes)
    primary_ephemeral, primary_identity = curve.generate_key_pair(r.randbytes), curve.generate_key_pair(r.randbytes)

    hello = wrap_ephemeral_key(code, companion_ephemeral.public, r.randbytes)
    seen = baileys.call(f"pairing.{version}.unwrap", code=code, wrapped=hello)
    assert seen == companion_ephemeral.public
    primary_hello = baileys.call(
        f"pairing.{version}.wrap", code=code, public=primary_ephemeral.public, salt=r.randbytes(32), iv=r.randbytes(16)
    )
    finish = companion_finish(
        code=code,
        ephemeral=companion_ephemeral,
        identity=companion_identity,
        wrapped_primary_ephemeral=primary_hello,
        primary_identity=primary_identity.public,
        rng=r.randbytes,
    )
    opened = baileys.call(
        f"pairing.{version}.openBundle",
        ephemeral=pair(primary_ephemeral),
        identity=pair(primary_identity),
        companionEphemeral=seen,
        companionIdentity=companion_identity.public,
        bundle=finish.wrapped_key_bundle,
    )
    assert opened["plain"][:64] == companion_identity.public + primary_identity.public
    assert opened["advSecret"] == finish.adv_secret


# --------------------------------------------------------------------------- Baileys' real companion, end to end


@pytest.mark.parametrize("version", VERSIONS)
def test_baileys_socket_links_by_pairing_code_to_our_phone(baileys: Harness, version: str) -> None:
    """requestPairingCode, the primary_hello notification handler and the pair-success handler of a real
    Baileys socket, against our phone side and our stanza codecs, all the way to a verified device."""
    r = random.Random(45)
    noise, identity, ephemeral = (curve.generate_key_pair(r.randbytes) for _ in range(3))
    primary_ephemeral, primary_identity = curve.generate_key_pair(r.randbytes), curve.generate_key_pair(r.randbytes)
    h = baileys.call(
        f"pairing.{version}.socket.open",
        noise=pair(noise),
        identity=pair(identity),
        adv=r.randbytes(32),
        pairingEphemeral=pair(ephemeral),
    )
    try:
        asked = baileys.call(f"pairing.{version}.socket.requestCode", h=h, phone="15550001111")
        code = asked["code"]
        assert len(code) == 8
        assert set(code) <= set(PAIRING_CODE_ALPHABET)
        hello = parse_companion_hello(unmarshal(asked["frames"][-1]))
        assert hello.phone == JID.parse("15550001111@s.whatsapp.net")
        assert hello.noise_public == noise.public
        assert (hello.platform_id, hello.platform_display) == ("1", "Chrome (Ubuntu)")
        seen = unwrap_ephemeral_key(code, hello.wrapped_ephemeral)
        assert seen == ephemeral.public

        note = primary_hello_node(
            notification_id="n-1",
            ref=b"2@pairing-ref",
            wrapped_ephemeral=wrap_ephemeral_key(code, primary_ephemeral.public, r.randbytes),
            primary_identity=primary_identity.public,
            server_time=1_764_590_000,
        )
        frames = baileys.call(f"pairing.{version}.socket.deliver", h=h, frame=marshal(note), until={"tag": "iq", "type": "set"})
        finish = parse_companion_finish(unmarshal(frames[-1]))
        assert (finish.phone, finish.ref, finish.companion_identity) == (hello.phone, b"2@pairing-ref", identity.public)
        adv = primary_finish(
            ephemeral=primary_ephemeral,
            identity=primary_identity,
            companion_ephemeral=seen,
            companion_identity=finish.companion_identity,
            wrapped_key_bundle=finish.wrapped_key_bundle,
        )
        result = Node("iq", {"from": SERVER_JID, "type": "result", "id": finish.iq_id})
        frames = baileys.call(f"pairing.{version}.socket.deliver", h=h, frame=marshal(result), until={"tag": "ack"})
        ack = unmarshal(frames[-1])
        assert (ack.attrs["id"], ack.attrs["class"]) == ("n-1", "notification")
        creds = baileys.call(f"pairing.{version}.socket.creds", h=h)
        assert creds["advSecret"] == adv
        assert creds["registered"]

        issued = issue_device_identity(
            account=primary_identity, companion_identity=identity.public, adv_secret=adv,
            raw_id=99, key_index=4, timestamp=1_764_590_060,
        )
        success = pair_success_node(iq_id="ps-lc", device_identity=issued, jid=JID_PN, lid=JID_LID, platform="android")
        frames = baileys.call(f"pairing.{version}.socket.deliver", h=h, frame=marshal(success), until={"tag": "iq", "type": "result"})
        reply = unmarshal(frames[-1])
        full = verify_pair_device_sign(reply, device_identity=issued, companion_identity=identity.public)
        assert baileys.call(f"pairing.{version}.socket.creds", h=h)["account"] == full.SerializeToString()
    finally:
        baileys.call(f"pairing.{version}.socket.close", h=h)


@pytest.mark.parametrize("version", VERSIONS)
def test_baileys_socket_links_by_qr_to_our_phone(baileys: Harness, version: str) -> None:
    """Our <pair-device> to a real Baileys socket; our phone reads its QR and links it with pair-success."""
    r = random.Random(46)
    noise, identity, account = (curve.generate_key_pair(r.randbytes) for _ in range(3))
    adv = r.randbytes(32)
    h = baileys.call(f"pairing.{version}.socket.open", noise=pair(noise), identity=pair(identity), adv=adv)
    try:
        offer = pair_device_node(iq_id="pd-1", refs=["2@first-ref", "2@second-ref"])
        frames = baileys.call(f"pairing.{version}.socket.deliver", h=h, frame=marshal(offer), until={"tag": "iq"})
        ack = unmarshal(frames[-1])
        assert (ack.attrs["type"], ack.attrs["id"], ack.content) == ("result", "pd-1", None)
        (shown,) = baileys.call(f"pairing.{version}.socket.creds", h=h)["qrs"]
        qr = parse_qr(shown)
        assert (qr.ref, qr.noise_public, qr.identity_public, qr.adv_secret) == (
            "2@first-ref",
            noise.public,
            identity.public,
            adv,
        )
        assert qr.client_type == (None if version == "v6" else ClientType.CHROME)

        issued = issue_device_identity(
            account=account, companion_identity=qr.identity_public, adv_secret=qr.adv_secret,
            raw_id=12, key_index=1, timestamp=1_764_590_000,
        )
        success = pair_success_node(iq_id="ps-qr", device_identity=issued, jid=JID_PN, lid=JID_LID, platform="iphone")
        frames = baileys.call(f"pairing.{version}.socket.deliver", h=h, frame=marshal(success), until={"tag": "iq", "type": "result"})
        full = verify_pair_device_sign(unmarshal(frames[-1]), device_identity=issued, companion_identity=qr.identity_public)
        creds = baileys.call(f"pairing.{version}.socket.creds", h=h)
        assert creds["account"] == full.SerializeToString()
        assert creds["me"]["id"] == str(JID_PN)
    finally:
        baileys.call(f"pairing.{version}.socket.close", h=h)
