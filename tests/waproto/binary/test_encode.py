"""marshal: known byte vectors for every encoding (PROTOCOL.md §2), the string rules, and misuse."""

from __future__ import annotations

import pytest

from waproto.binary import MAX_DEPTH, Node, marshal
from waproto.binary.tokens import DOUBLE_BYTE_TOKENS, SINGLE_BYTE_TOKENS
from waproto.errors import LocalProtocolError
from waproto.jid import JID

TAG_A = "fc 01 61"  # the tag "a" is no token: BINARY_8 "a"
KEY_X = "fc 01 78"  # the key "x" likewise
S_WHATSAPP_NET = SINGLE_BYTE_TOKENS.index("s.whatsapp.net")
LID = SINGLE_BYTE_TOKENS.index("lid")
MSGR = SINGLE_BYTE_TOKENS.index("msgr")


def value_bytes(value: str | JID) -> bytes:
    """The bytes marshal writes for one attribute value (the frame minus flag, header, tag and key)."""
    frame = marshal(Node("a", {"x": value}))
    assert frame[:2] == b"\x00\xf8"
    assert frame[2] == 3
    prefix = bytes.fromhex(f"00 f8 03 {TAG_A} {KEY_X}")
    assert frame.startswith(prefix)
    return frame[len(prefix) :]


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# ------------------------------------------------------------------ PROTOCOL.md §2 examples


def test_protocol_examples() -> None:
    assert value_bytes("123.45-1") == h("ff 04 12 3b 45 a1")
    assert value_bytes("1234567890@s.whatsapp.net") == h("fa ff 05 12 34 56 78 90 03")
    assert value_bytes("99887766:3@lid") == h("f7 01 03 ff 04 99 88 77 66")
    assert S_WHATSAPP_NET == 3


def test_frame_starts_with_the_flag_byte_and_a_list_header() -> None:
    iq = SINGLE_BYTE_TOKENS.index("iq")
    assert marshal(Node("iq")) == bytes((0, 0xF8, 1, iq))
    # 1 (tag) + 2 x 1 attribute + 1 (content) = 4
    assert marshal(Node("iq", {"id": "555"}, [])) == bytes((0, 0xF8, 4, iq, 8, 0xFF, 0x82, 0x55, 0x5F, 0))


# ------------------------------------------------------------------ tokens and packed strings


def test_single_and_double_byte_tokens() -> None:
    assert value_bytes("s.whatsapp.net") == bytes((3,))
    for dictionary, table in enumerate(DOUBLE_BYTE_TOKENS):
        assert value_bytes(table[0]) == bytes((0xEC + dictionary, 0))
        assert value_bytes(table[255]) == bytes((0xEC + dictionary, 255))


def test_tokens_win_over_packing() -> None:
    # "540" is a double-byte token although it could be a nibble string.
    dictionary = next(i for i, d in enumerate(DOUBLE_BYTE_TOKENS) if "540" in d)
    assert value_bytes("540") == bytes((0xEC + dictionary, DOUBLE_BYTE_TOKENS[dictionary].index("540")))


def test_empty_string_is_token_zero() -> None:
    assert value_bytes("") == h("00")
    assert marshal(Node("a", {}, "")) == h(f"00 f8 02 {TAG_A} 00")


@pytest.mark.parametrize(
    ("text", "encoded"),
    [
        ("55.", "ff 82 55 bf"),
        ("77", "ff 01 77"),
        ("-.", "ff 01 ab"),
        ("0123456789-.", "ff 06 01 23 45 67 89 ab"),
        ("999", "ff 82 99 9f"),
    ],
)
def test_nibble_8(text: str, encoded: str) -> None:
    assert value_bytes(text) == h(encoded)


@pytest.mark.parametrize(
    ("text", "encoded"),
    [
        ("A", "fb 81 af"),
        ("3EB0", "fb 02 3e b0"),
        ("0123456789ABCDEF", "fb 08 01 23 45 67 89 ab cd ef"),
        ("ABC", "fb 82 ab cf"),
    ],
)
def test_hex_8(text: str, encoded: str) -> None:
    assert value_bytes(text) == h(encoded)


def test_lowercase_hex_is_raw() -> None:
    assert value_bytes("3eb0") == h("fc 04") + b"3eb0"


def test_packing_stops_at_127_characters() -> None:
    assert value_bytes("1" * 127)[:2] == h("ff c0")  # 64 bytes, odd
    assert value_bytes("1" * 127)[-1] == 0x1F
    assert value_bytes("A" * 126)[:2] == h("fb 3f")
    assert value_bytes("1" * 128) == h("fc 80") + b"1" * 128


# ------------------------------------------------------------------ raw strings and binaries


def test_raw_strings_by_length() -> None:
    assert value_bytes("hé") == h("fc 03") + "hé".encode()
    assert value_bytes("x" * 255) == h("fc ff") + b"x" * 255
    assert value_bytes("x" * 256) == h("fd 00 01 00") + b"x" * 256


def test_binary_content_thresholds() -> None:
    def content(data: bytes) -> bytes:
        return marshal(Node("a", {}, data))[len(h(f"00 f8 02 {TAG_A}")) :]

    assert content(b"") == h("fc 00")
    assert content(b"\x01" * 255) == h("fc ff") + b"\x01" * 255
    assert content(b"\x01" * 256) == h("fd 00 01 00") + b"\x01" * 256
    assert content(b"\x02" * ((1 << 20) - 1)) == h("fd 0f ff ff") + b"\x02" * ((1 << 20) - 1)
    assert content(b"\x03" * (1 << 20)) == h("fe 00 10 00 00") + b"\x03" * (1 << 20)
    assert content(bytearray(b"ab")) == h("fc 02 61 62")
    assert content(memoryview(b"ab")) == h("fc 02 61 62")


# ------------------------------------------------------------------ lists


def test_list_headers() -> None:
    assert marshal(Node("a", {}, [])) == h(f"00 f8 02 {TAG_A} 00")
    two = marshal(Node("a", {}, [Node("a"), Node("a")]))
    assert two == h(f"00 f8 02 {TAG_A} f8 02 f8 01 {TAG_A} f8 01 {TAG_A}")
    wide = marshal(Node("a", {}, [Node("a")] * 300))
    assert wide.startswith(h(f"00 f8 02 {TAG_A} f9 01 2c"))
    many_attrs = marshal(Node("a", {f"k{i}": "1" for i in range(200)}))
    assert many_attrs.startswith(h("00 f9 01 91"))  # 1 + 2 * 200


def test_attribute_order_is_kept() -> None:
    assert marshal(Node("a", {"to": "1", "id": "2"})) != marshal(Node("a", {"id": "2", "to": "1"}))


# ------------------------------------------------------------------ JIDs


@pytest.mark.parametrize(
    ("jid", "encoded"),
    [
        (JID("1234567890", "s.whatsapp.net"), "fa ff 05 12 34 56 78 90 03"),
        (JID("", "s.whatsapp.net"), "fa 00 03"),
        (JID("99887766", "lid", device=3), "f7 01 03 ff 04 99 88 77 66"),
        (JID("77", "s.whatsapp.net", device=7), "f7 00 07 ff 01 77"),
        (JID("77", "s.whatsapp.net", device=7, agent=5), "f7 05 07 ff 01 77"),
        (JID("77", "hosted"), "f7 80 00 ff 01 77"),
        (JID("77", "hosted", device=99), "f7 80 63 ff 01 77"),
        (JID("77", "hosted.lid", device=99), "f7 81 63 ff 01 77"),
        (JID("77", "lid"), f"fa ff 01 77 {LID:02x}"),
        (JID("77", "msgr", device=300), f"f6 ff 01 77 01 2c {MSGR:02x}"),
        (JID("77", "interop", device=7, integrator=5), "f5 ff 01 77 00 07 00 05 fc 07 " + b"interop".hex()),
    ],
)
def test_typed_jid_forms(jid: JID, encoded: str) -> None:
    assert value_bytes(jid) == h(encoded)


@pytest.mark.parametrize(
    "text",
    [
        "a_b@g.us",  # Baileys would drop "_b"
        "123:0@s.whatsapp.net",  # Baileys reads it back without ":0"
        "1:2@g.us",  # Baileys reads it back on s.whatsapp.net
        "1:300@lid",  # device > 255
        "1:07@lid",  # not canonical
        "1:x@lid",
        "1:2:3@lid",
        "a@b@c",
        "abc@",
        "@",
        "1:2@hosted",  # Baileys 6 reads it back on s.whatsapp.net
    ],
)
def test_strings_that_do_not_round_trip_as_jids_are_raw(text: str) -> None:
    encoded = text.encode()
    assert value_bytes(text) == bytes((0xFC, len(encoded))) + encoded


def test_strings_that_round_trip_are_jids() -> None:
    assert value_bytes("@s.whatsapp.net") == h("fa 00 03")
    assert value_bytes("x:255@lid") == h("f7 01 ff fc 01 78")
    assert value_bytes("a b@weird server") == h("fa fc 03 61 20 62 fc 0c") + b"weird server"
    assert value_bytes("x@interop") == h("fa fc 01 78 fc 07") + b"interop"  # a string stays a JID_PAIR


@pytest.mark.parametrize(
    ("jid", "message"),
    [
        (JID("1", "s.whatsapp.net", device=256), "out of range 0..255"),
        (JID("1", "s.whatsapp.net", agent=256), "out of range 0..255"),
        (JID("1", "s.whatsapp.net", device=-1), "out of range"),
        (JID("1", "s.whatsapp.net", agent=1), "agent 1"),
        (JID("1", "s.whatsapp.net", agent=128), "agent 128"),
        (JID("1", "lid", agent=3), "only encodable on s.whatsapp.net"),
        (JID("1", "msgr", device=0x10000), "out of range 0..65535"),
        (JID("1", "interop", integrator=0x10000), "out of range 0..65535"),
        (JID("1", "g.us", integrator=2), "only encodable on interop"),
        (JID("1", "g.us", device=2), "no device form"),
        (JID("1", ""), "empty server"),
    ],
)
def test_unencodable_jids(jid: JID, message: str) -> None:
    with pytest.raises(LocalProtocolError, match=message):
        marshal(Node("a", {"x": jid}))


# ------------------------------------------------------------------ misuse


@pytest.mark.parametrize(
    ("node", "message"),
    [
        (Node(""), "tag must be a non-empty string"),
        (Node(5), "tag must be a non-empty string"),  # type: ignore[arg-type]
        (Node("a", {"x": 5}), "neither str nor JID"),  # type: ignore[dict-item]
        (Node("a", {"x": None}), "neither str nor JID"),  # type: ignore[dict-item]
        (Node("a", {5: "x"}), "key 5 is not a string"),  # type: ignore[dict-item]
        (Node("a", {}, 5), "not a list, bytes, str or None"),  # type: ignore[arg-type]
        (Node("a", {}, ["child"]), "not a Node"),  # type: ignore[list-item]
        (Node("a", {"x": "\ud800"}), "UTF-8"),
        (Node("a", {}, [Node("b")] * 0x10000), "too many children"),
        (Node("a", {str(i): "1" for i in range(0x8000)}), "too many attributes"),
    ],
)
def test_misuse_is_a_local_protocol_error(node: Node, message: str) -> None:
    with pytest.raises(LocalProtocolError, match=message):
        marshal(node)


def test_nesting_limit() -> None:
    node = Node("leaf")
    for _ in range(MAX_DEPTH):
        node = Node("n", {}, [node])
    assert marshal(node)  # MAX_DEPTH levels below the root are fine
    with pytest.raises(LocalProtocolError, match="deeper than"):
        marshal(Node("n", {}, [node]))


def test_marshal_is_pure() -> None:
    node = Node("a", {"to": JID("1", "lid", device=2), "id": "3EB0"}, [Node("b", {}, b"x")])
    assert marshal(node) == marshal(node)
    assert node == Node("a", {"to": JID("1", "lid", device=2), "id": "3EB0"}, [Node("b", {}, b"x")])


def test_jid_encodings_are_remembered_but_bounded_and_never_errors() -> None:
    from waproto.binary import encode

    encode._JID_BYTES.clear()
    jid = JID("15550001111", "s.whatsapp.net", device=3)
    first = marshal(Node("a", {"to": jid}))
    assert list(encode._JID_BYTES) == [jid]
    assert first.endswith(encode._JID_BYTES[jid])
    assert marshal(Node("a", {"to": JID("15550001111", "s.whatsapp.net", device=3)})) == first
    assert marshal(Node("a", {"to": JID("15550001111", "s.whatsapp.net", device=4)})) != first
    with pytest.raises(LocalProtocolError):
        marshal(Node("a", {"x": JID("1", "g.us", device=2)}))
    with pytest.raises(LocalProtocolError):
        marshal(Node("a", {"x": JID("1", "g.us", device=2)}))  # refused again: no error was kept
    assert JID("1", "g.us", device=2) not in encode._JID_BYTES
    for n in range(encode._JID_CACHE_SIZE + 10):
        marshal(Node("a", {"to": JID(str(n), "lid")}))
    assert len(encode._JID_BYTES) <= encode._JID_CACHE_SIZE
