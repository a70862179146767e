"""waproto.pairing.qr: both QR formats, built and parsed."""

from __future__ import annotations

import base64

import pytest

from waproto.binary import Node, marshal, unmarshal
from waproto.errors import DecodeError, LocalProtocolError
from waproto.jid import SERVER_JID
from waproto.pairing.qr import (
    QR_LINK_PREFIX,
    ClientType,
    QRData,
    client_type_for_browser,
    pair_device_node,
    parse_pair_device,
    parse_qr,
)

NOISE = bytes(range(32))
IDENTITY = bytes(range(32, 64))
ADV = bytes(range(64, 96))
REF = "2@Xy9+/AbC=="

B64_NOISE = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
B64_IDENTITY = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="
B64_ADV = "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8="


def test_base64_constants_are_the_keys() -> None:
    assert base64.b64decode(B64_NOISE) == NOISE
    assert base64.b64decode(B64_IDENTITY) == IDENTITY
    assert base64.b64decode(B64_ADV) == ADV


def test_four_part_string() -> None:
    qr = QRData(REF, NOISE, IDENTITY, ADV)
    assert str(qr) == f"{REF},{B64_NOISE},{B64_IDENTITY},{B64_ADV}"


def test_link_form() -> None:
    qr = QRData(REF, NOISE, IDENTITY, ADV, ClientType.CHROME)
    assert str(qr) == f"https://wa.me/settings/linked_devices#{REF},{B64_NOISE},{B64_IDENTITY},{B64_ADV},1"
    assert str(QRData(REF, NOISE, IDENTITY, ADV, ClientType.MACOS)).endswith(",c")
    assert str(QRData(REF, NOISE, IDENTITY, ADV, ClientType.ANDROID)).endswith(",e")


@pytest.mark.parametrize("client_type", [None, *ClientType])
def test_parse_round_trip(client_type: ClientType | None) -> None:
    qr = QRData(REF, NOISE, IDENTITY, ADV, client_type)
    assert parse_qr(str(qr)) == qr


def test_repr_hides_the_adv_secret() -> None:
    qr = QRData(REF, NOISE, IDENTITY, ADV)
    assert B64_ADV not in repr(qr)
    assert repr(ADV) not in repr(qr)
    assert ADV.hex() not in repr(qr)


@pytest.mark.parametrize(
    ("os_name", "browser", "expected"),
    [
        ("Ubuntu", "Chrome", ClientType.CHROME),
        ("Mac OS", "Safari", ClientType.SAFARI),
        ("Windows", "Edge", ClientType.EDGE),
        ("Ubuntu", "Firefox", ClientType.FIREFOX),
        ("Windows", "Opera", ClientType.OPERA),
        ("Windows", "IE", ClientType.IE),
        ("Windows", "Desktop", ClientType.UWP),
        ("Mac OS", "Desktop", ClientType.ELECTRON),
        ("Baileys", "waporta", ClientType.OTHER_WEB_CLIENT),
    ],
)
def test_client_type_for_browser(os_name: str, browser: str, expected: ClientType) -> None:
    assert client_type_for_browser(os_name, browser) is expected


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ref": ""},
        {"ref": "a,b"},
        {"ref": "réf"},
        {"ref": "a\nb"},
        {"noise_public": NOISE[:31]},
        {"identity_public": b"\x05" + IDENTITY},
        {"adv_secret": ADV + b"\x00"},
        {"client_type": "1"},
    ],
)
def test_bad_values_are_refused(kwargs: dict[str, object]) -> None:
    values: dict[str, object] = {"ref": REF, "noise_public": NOISE, "identity_public": IDENTITY, "adv_secret": ADV}
    values.update(kwargs)
    with pytest.raises(LocalProtocolError):
        QRData(**values)  # type: ignore[arg-type]


GOOD = f"{REF},{B64_NOISE},{B64_IDENTITY},{B64_ADV}"


@pytest.mark.parametrize(
    "text",
    [
        "",
        REF,
        f"{REF},{B64_NOISE},{B64_IDENTITY}",
        f"{GOOD},extra",
        f"{QR_LINK_PREFIX}{GOOD}",
        f"{QR_LINK_PREFIX}{GOOD},1,2",
        f"{QR_LINK_PREFIX}{GOOD},z",
        f"{QR_LINK_PREFIX}{GOOD},",
        f",{B64_NOISE},{B64_IDENTITY},{B64_ADV}",
        f"{REF},{B64_NOISE[:-1]},{B64_IDENTITY},{B64_ADV}",
        f"{REF},{B64_NOISE},{B64_IDENTITY[:-4]},{B64_ADV}",
        f"{REF},{B64_NOISE},{B64_IDENTITY},{B64_ADV.replace('Q', '*')}",
        f"{REF},{B64_NOISE},{B64_IDENTITY},é{B64_ADV}",
        f"{REF},{B64_NOISE.rstrip('=')},{B64_IDENTITY},{B64_ADV}",
    ],
)
def test_malformed_strings_are_decode_errors(text: str) -> None:
    with pytest.raises(DecodeError):
        parse_qr(text)


def test_non_text_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        parse_qr(b"2@x,a,b,c")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- <pair-device>


def test_pair_device_round_trip() -> None:
    refs = ["2@first", "2@second+/=", "2@third"]
    node = pair_device_node(iq_id="pd-1", refs=refs)
    assert node.attrs == {"from": SERVER_JID, "type": "set", "id": "pd-1", "xmlns": "md"}
    assert node.children[0].children == [Node("ref", {}, r.encode()) for r in refs]
    assert parse_pair_device(unmarshal(marshal(node))) == ("pd-1", refs)
    as_text = Node("iq", {"id": "x"}, [Node("pair-device", {}, [Node("ref", {}, "2@a"), Node("other")])])
    assert parse_pair_device(as_text) == ("x", ["2@a"])


@pytest.mark.parametrize(
    "node",
    [
        Node("iq", {"id": "x"}),
        Node("iq", {}, [Node("pair-device", {}, [Node("ref", {}, b"2@a")])]),
        Node("message", {"id": "x"}, [Node("pair-device", {}, [Node("ref", {}, b"2@a")])]),
        Node("iq", {"id": "x"}, [Node("pair-device")]),
        Node("iq", {"id": "x"}, [Node("pair-device", {}, [Node("ref")])]),
        Node("iq", {"id": "x"}, [Node("pair-device", {}, [Node("ref", {}, b"")])]),
        Node("iq", {"id": "x"}, [Node("pair-device", {}, [Node("ref", {}, b"2@a,b")])]),
        Node("iq", {"id": "x"}, [Node("pair-device", {}, [Node("ref", {}, b"\xff")])]),
        Node("iq", {"id": "x"}, [Node("pair-device", {}, [Node("ref", {}, b"2@\n")])]),
    ],
)
def test_malformed_pair_device(node: Node) -> None:
    with pytest.raises(DecodeError) as info:
        parse_pair_device(node)
    assert info.value.node is node


@pytest.mark.parametrize("ref", ["", "a,b", "é"])
def test_pair_device_node_refuses_bad_refs(ref: str) -> None:
    with pytest.raises(LocalProtocolError):
        pair_device_node(iq_id="x", refs=["2@ok", ref])
