"""unmarshal: every encoding decodes to the documented type, round trips, zlib, and malformed input."""

from __future__ import annotations

import tracemalloc
import zlib

import pytest
from hypothesis import given

from tests.waproto.binary.nodejson import expected_json, to_json
from tests.waproto.binary.strategies import trees
from waproto.binary import MAX_DEPTH, MAX_INFLATED, Node, decode, marshal, unmarshal
from waproto.binary.tokens import DOUBLE_BYTE_TOKENS, SINGLE_BYTE_TOKENS
from waproto.errors import DecodeError
from waproto.jid import JID

TAG_A = "fc 01 61"
KEY_X = "fc 01 78"
MSGR = SINGLE_BYTE_TOKENS.index("msgr")


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def value(encoded: str) -> str | JID:
    """Decode ``encoded`` as the value of attribute "x" of a node "a"."""
    node = unmarshal(h(f"00 f8 03 {TAG_A} {KEY_X} {encoded}"))
    assert node.tag == "a"
    return node.attrs["x"]


def content(encoded: str) -> object:
    return unmarshal(h(f"00 f8 02 {TAG_A} {encoded}")).content


# ------------------------------------------------------------------ PROTOCOL.md §2 examples


def test_protocol_examples() -> None:
    assert value("ff 04 12 3b 45 a1") == "123.45-1"
    assert value("fa ff 05 12 34 56 78 90 03") == JID("1234567890", "s.whatsapp.net")
    assert value("f7 01 03 ff 04 99 88 77 66") == JID("99887766", "lid", device=3)


def test_string_encodings_decode_to_str() -> None:
    assert value("03") == "s.whatsapp.net"
    for dictionary, table in enumerate(DOUBLE_BYTE_TOKENS):
        assert value(f"{0xEC + dictionary:02x} 07") == table[7]
    assert value("ff 82 55 bf") == "55."
    assert value("fb 82 ab cf") == "ABC"
    assert value("fb 81 ab") == "A"  # the pad nibble is dropped whatever it is
    assert value("fc 02 68 69") == "hi"
    assert value("fd 00 00 02 68 69") == "hi"
    assert value("fe 00 00 00 02 68 69") == "hi"
    assert value("fc 01 ff") == "\ufffd"  # invalid UTF-8 is replaced, as Baileys and whatsmeow do
    assert value("ff 00") == ""
    assert value("ff 80") == ""


def test_both_empty_string_forms() -> None:
    assert value("00") == ""
    assert value("fc 00") == ""
    assert content("00") == []  # LIST_EMPTY content is an empty child list
    assert content("fc 00") == b""  # BINARY_8 content is bytes


def test_content_types() -> None:
    assert content("fc 03 61 62 63") == b"abc"  # raw content is bytes, even if it was text
    assert content("fd 00 00 01 7a") == b"z"
    assert content("fe 00 00 00 01 7a") == b"z"
    assert content("03") == "s.whatsapp.net"  # token content is text
    assert content("ec 00") == DOUBLE_BYTE_TOKENS[0][0]
    assert content("ff 01 12") == "12"
    assert content("fb 01 ab") == "AB"
    assert content("fa ff 01 12 03") == "12@s.whatsapp.net"  # JID content is text
    assert content(f"f8 01 f8 01 {TAG_A}") == [Node("a")]
    assert content(f"f9 00 02 f8 01 {TAG_A} f8 01 {TAG_A}") == [Node("a"), Node("a")]
    assert unmarshal(h(f"00 f8 01 {TAG_A}")).content is None


@pytest.mark.parametrize(
    ("encoded", "jid"),
    [
        ("fa 00 03", JID("", "s.whatsapp.net")),
        ("f7 00 00 ff 01 12", JID("12", "s.whatsapp.net")),  # AD with device 0 (Baileys writes these)
        ("f7 00 05 ff 01 12", JID("12", "s.whatsapp.net", device=5)),
        ("f7 01 05 ff 01 12", JID("12", "lid", device=5)),
        ("f7 80 63 ff 01 12", JID("12", "hosted", device=99)),
        ("f7 81 63 ff 01 12", JID("12", "hosted.lid", device=99)),
        ("f7 05 02 ff 01 12", JID("12", "s.whatsapp.net", device=2, agent=5)),
        ("f7 00 02 fc 01 78", JID("x", "s.whatsapp.net", device=2)),
        (f"f6 ff 01 12 01 2c {MSGR:02x}", JID("12", "msgr", device=300)),
        ("f5 ff 01 12 00 07 00 05 fc 07 " + b"interop".hex(), JID("12", "interop", device=7, integrator=5)),
        ("fa fc 01 78 fc 03 61 62 63", JID("x", "abc")),
    ],
)
def test_jid_encodings_decode_to_jid(encoded: str, jid: JID) -> None:
    assert value(encoded) == jid


@pytest.mark.parametrize(
    "jid",
    [
        JID("status", "s.whatsapp.net", device=1),  # AD_JID with a one-byte (token) user
        JID("123", "lid", device=2),
        JID("", "s.whatsapp.net"),
        JID("status", "broadcast"),
        JID("123", "g.us"),
        JID("x", "abc"),
    ],
)
def test_jids_ending_the_frame_decode_cold_and_from_the_memo(jid: JID) -> None:
    # The JID memo looks ahead to find its key: it must not read past the last byte of the frame, and a
    # remembered JID must come back equal.
    frame = marshal(Node("iq", {"to": jid}))
    decode.clear_caches()
    assert unmarshal(frame).attrs["to"] == jid
    assert unmarshal(frame).attrs["to"] == jid


def test_jids_in_tags_and_keys_are_text() -> None:
    node = unmarshal(h(f"00 f8 03 fa ff 01 12 03 fa 00 03 {KEY_X}"))
    assert node == Node("12@s.whatsapp.net", {"@s.whatsapp.net": "x"})


def test_bytes_like_input() -> None:
    frame = marshal(Node("a", {"x": "1"}))
    assert unmarshal(bytearray(frame)) == unmarshal(memoryview(frame)) == unmarshal(frame)


@given(trees(agreeing=False, v6=False))
def test_round_trip(node: Node) -> None:
    assert to_json(unmarshal(marshal(node))) == expected_json(node)


def test_decoded_jid_values_are_typed() -> None:
    node = unmarshal(marshal(Node("a", {"to": "1234@s.whatsapp.net", "id": "3EB0"})))
    assert node.attrs == {"to": JID("1234", "s.whatsapp.net"), "id": "3EB0"}


# ------------------------------------------------------------------ compression


def test_compressed_frame() -> None:
    node = Node("iq", {"id": "1"}, [Node("item", {"n": str(i)}) for i in range(100)])
    plain = marshal(node)
    assert unmarshal(b"\x02" + zlib.compress(plain[1:])) == node
    assert unmarshal(b"\x06" + zlib.compress(plain[1:])) == node  # other flag bits are ignored
    assert unmarshal(b"\x04" + plain[1:]) == node


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (b"\x02garbage", "corrupt zlib stream"),
        (b"\x02" + zlib.compress(b"\xf8\x01\x19")[:-3], "truncated zlib stream"),
        (b"\x02" + zlib.compress(b"\xf8\x01\x19") + b"\x00", "1 bytes after the zlib stream"),
        (b"\x02", "truncated zlib stream"),
    ],
)
def test_bad_compression(frame: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        unmarshal(frame)


def test_inflation_is_bounded() -> None:
    bomb = b"\x02" + zlib.compress(b"\x00" * (MAX_INFLATED + 1), 9)
    assert len(bomb) < 100_000
    with pytest.raises(DecodeError, match="inflates past"):
        unmarshal(bomb)


# ------------------------------------------------------------------ malformed input


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ("", "empty frame"),
        ("00", "truncated"),
        ("00 f8", "truncated"),
        ("00 f8 03 19", "truncated"),
        ("00 00", "must start with a list header"),
        ("00 fc 01 19", "must start with a list header"),
        ("00 f8 00", "list size 0"),
        ("00 f8 01 00", "empty tag"),
        ("00 f8 01 fc 00", "empty tag"),
        (f"00 f8 01 {TAG_A} 00", "left over"),
        (f"00 f8 03 {TAG_A} {KEY_X} f8 01 {TAG_A}", "a list where a string belongs"),
        (f"00 f8 03 {TAG_A} {KEY_X} f0", "invalid tag byte 240"),
        (f"00 f8 03 {TAG_A} {KEY_X} ff 01 c1", "invalid nibble"),
        (f"00 f8 03 {TAG_A} {KEY_X} ff 01 1f", "invalid nibble"),  # 0xF before the end
        (f"00 f8 03 {TAG_A} {KEY_X} ff 02 12", "truncated"),
        (f"00 f8 03 {TAG_A} {KEY_X} fb 02 12", "truncated"),
        (f"00 f8 03 {TAG_A} {KEY_X} fc 05 61", "declared"),
        (f"00 f8 02 {TAG_A} fc 05 61", "declared"),
        (f"00 f8 02 {TAG_A} fd 00 01 00 61", "declared"),
        (f"00 f8 02 {TAG_A} fe 00 00 01 00 61", "declared"),
        (f"00 f8 02 {TAG_A} fe 00 00", "truncated"),
        (f"00 f8 03 {TAG_A} {KEY_X} fa ff 01 12 00", "empty server"),
        (f"00 f8 03 {TAG_A} {KEY_X} fa fa 00 03 03", "nested in the user"),
        (f"00 f8 03 {TAG_A} {KEY_X} fa 00 fa 00 03", "nested in the server"),
        (f"00 f8 03 {TAG_A} {KEY_X} f7 00 00 fa 00 03", "nested in the user"),
        (f"00 f8 03 {TAG_A} {KEY_X} f6 ff 01 12 00 01 03", "FB_JID with server"),
        (f"00 f8 03 {TAG_A} {KEY_X} f5 ff 01 12 00 01 00 02 03", "INTEROP_JID with server"),
        (f"00 f8 03 {TAG_A} {KEY_X} fa ff 01 12", "truncated"),
        (f"00 f8 02 {TAG_A} f8 02 f8 01 {TAG_A}", "truncated"),
    ],
)
def test_malformed_input_is_a_decode_error(frame: str, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        unmarshal(h(frame))


def test_declared_binary_32_of_4_gib_fails_fast_without_allocating() -> None:
    frame = h(f"00 f8 02 {TAG_A} fe ff ff ff ff")
    tracemalloc.start()
    try:
        with pytest.raises(DecodeError, match="4294967295 bytes declared"):
            unmarshal(frame)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024


def test_declared_huge_lists_fail_on_the_data_present() -> None:
    with pytest.raises(DecodeError, match="truncated"):
        unmarshal(h(f"00 f9 ff ff {TAG_A}"))  # 65535 fields declared, none present
    with pytest.raises(DecodeError, match="truncated"):
        unmarshal(h(f"00 f8 02 {TAG_A} f9 ff ff f8 01 {TAG_A}"))  # 65535 children declared, one present


def test_nesting_is_bounded() -> None:
    def nested(levels: int) -> bytes:
        return b"\x00" + h(f"f8 02 {TAG_A}") * levels + h(f"f8 01 {TAG_A}")

    def frame(levels: int) -> bytes:
        body = h(f"f8 01 {TAG_A}")
        for _ in range(levels):
            body = h(f"f8 02 {TAG_A} f8 01") + body
        return b"\x00" + body

    assert unmarshal(frame(MAX_DEPTH)).tag == "a"
    with pytest.raises(DecodeError, match="deeper than"):
        unmarshal(frame(MAX_DEPTH + 1))
    with pytest.raises(DecodeError):
        unmarshal(nested(100_000))  # list headers without counts: malformed, not a RecursionError


def test_decode_error_carries_the_node_for_leftovers() -> None:
    with pytest.raises(DecodeError) as info:
        unmarshal(h(f"00 f8 01 {TAG_A} 00"))
    assert info.value.node == Node("a")
