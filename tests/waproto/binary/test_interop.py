"""Our codec against Baileys 6.7.24 and 7.0.0-rc14, both directions (issue #3 acceptance).

- our ``marshal`` output decodes in Baileys 6 and 7 to the tree we encoded (JIDs rendered the way each
  version renders them, see ``nodejson.render_jid``);
- Baileys' encodings ``unmarshal`` in ours to the tree Baileys itself decodes from them;
- on trees where the two encoders' rules agree (``strategies.trees(agreeing=True)``) our bytes equal
  Baileys 6's exactly. Where they do not, by design: a string with ``@`` that Baileys would write as a
  JID decoding to a different string we write raw; a typed JID follows whatsmeow's form (hosted servers
  always AD_JID, msgr FB_JID, interop INTEROP_JID) where Baileys 6 has only strings. Baileys 7 further
  writes ``""`` as ``FC 00`` where Baileys 6 and we write ``00``; apart from that it matches too;
- the token tables equal both versions'.

Many trees travel per harness call, so the whole file takes seconds.
"""

from __future__ import annotations

import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.interop.harness import Harness
from tests.waproto.binary.nodejson import expected_json, to_json, written_as_jid_string
from tests.waproto.binary.strategies import baileys_trees, trees
from waproto.binary import Node, marshal, tokens, unmarshal
from waproto.jid import JID

pytestmark = pytest.mark.interop

BATCH = settings(max_examples=40)


def _empty_for_v7(text: str | JID) -> bool:
    """Whether Baileys 7 writes an empty string in ``text``: "" itself, or the empty user of an AD_JID
    (a JID_PAIR's empty user is written as 00 explicitly by both versions)."""
    if isinstance(text, JID):
        return not text.user and text.is_ad
    return text == "" or (text.startswith(":") and written_as_jid_string(text))


def _contains_empty_string(node: Node) -> bool:
    if _empty_for_v7(node.tag) or (isinstance(node.content, str) and _empty_for_v7(node.content)):
        return True
    if any(_empty_for_v7(key) or _empty_for_v7(value) for key, value in node.attrs.items()):
        return True
    return any(_contains_empty_string(child) for child in node.children)


def test_token_tables_equal_baileys(baileys: Harness) -> None:
    tables = baileys.call("binary.tokens")
    for version in ("v6", "v7"):
        assert tuple(tables[version]["single"]) == tokens.SINGLE_BYTE_TOKENS
        assert tuple(tuple(d) for d in tables[version]["double"]) == tokens.DOUBLE_BYTE_TOKENS
        for name, value in tables[version]["tags"].items():
            assert getattr(tokens, name) == value, name


@BATCH
@given(st.lists(trees(agreeing=True), min_size=1, max_size=4))
def test_byte_identical_to_baileys6(baileys: Harness, nodes: list[Node]) -> None:
    theirs = baileys.call("binary.v6.encode", nodes=[to_json(n) for n in nodes])
    for node, frame in zip(nodes, theirs, strict=True):
        assert marshal(node) == frame, node


@BATCH
@given(st.lists(trees(agreeing=True), min_size=1, max_size=4))
def test_baileys7_matches_but_for_empty_strings(baileys: Harness, nodes: list[Node]) -> None:
    theirs = baileys.call("binary.v7.encode", nodes=[to_json(n) for n in nodes])
    for node, frame in zip(nodes, theirs, strict=True):
        if not _contains_empty_string(node):
            assert marshal(node) == frame, node


def test_baileys7_writes_the_empty_string_as_binary8() -> None:
    # Recorded so the difference above is stated precisely; the harness check is below.
    assert marshal(Node("a", {"x": ""}, "")) == bytes.fromhex("00 f8 04 fc 01 61 fc 01 78 00 00")


def test_empty_string_forms_in_both_versions(baileys: Harness) -> None:
    node = to_json(Node("a", {"x": ""}, ""))
    v6, v7 = baileys.call("binary.v6.encode", nodes=[node])[0], baileys.call("binary.v7.encode", nodes=[node])[0]
    assert v6 == bytes.fromhex("00 f8 04 fc 01 61 fc 01 78 00 00")
    assert v7 == bytes.fromhex("00 f8 04 fc 01 61 fc 01 78 fc 00 fc 00")
    assert unmarshal(v6) == Node("a", {"x": ""}, [])
    assert unmarshal(v7) == Node("a", {"x": ""}, b"")


@pytest.mark.parametrize("version", ["v6", "v7"])
@BATCH
@given(data=st.data())
def test_baileys_decodes_ours(baileys: Harness, version: str, data: st.DataObject) -> None:
    nodes = data.draw(st.lists(trees(agreeing=False, v6=version == "v6"), min_size=1, max_size=4))
    frames = [marshal(n) for n in nodes]
    decoded = baileys.call(f"binary.{version}.decode", frames=frames)
    for node, frame, result in zip(nodes, frames, decoded, strict=True):
        assert "error" not in result, (node, result)
        assert result["node"] == expected_json(node, version)
        assert to_json(unmarshal(frame)) == expected_json(node)


@pytest.mark.parametrize("version", ["v6", "v7"])
@BATCH
@given(data=st.data())
def test_ours_decodes_baileys(baileys: Harness, version: str, data: st.DataObject) -> None:
    nodes = data.draw(st.lists(baileys_trees(), min_size=1, max_size=4))
    frames = baileys.call(f"binary.{version}.encode", nodes=nodes)
    theirs = baileys.call(f"binary.{version}.decode", frames=frames)
    for frame, result in zip(frames, theirs, strict=True):
        assert "error" not in result, result
        assert to_json(unmarshal(frame), _rendering(version)) == result["node"]


def _rendering(version: str) -> str:
    # ``to_json(node, version)`` renders JIDs as Baileys ``version`` reads the bytes OUR encoder writes
    # (FB_JID for msgr, INTEROP_JID, hosted AD_JIDs). Baileys' own encoders write only JID_PAIR and AD_JID
    # (domain 0 or 1 in v6), which Baileys reads back as written, as ``str(jid)`` renders our decoding of
    # them: so frames Baileys wrote are compared in plain rendering, whatever the version.
    del version
    return "ours"


@pytest.mark.parametrize("version", ["v6", "v7"])
def test_baileys_written_hosted_msgr_interop_jids_decode_as_written(baileys: Harness, version: str) -> None:
    nodes = [
        {"tag": "n", "attrs": {"a": "@hosted", "b": "123@hosted.lid", "c": "5:2@hosted", "d": ":0@msgr"}},
        {"tag": "m", "attrs": {"e": "7@msgr", "f": "1:3@interop", "g": "9@interop"}},
    ]
    frames = baileys.call(f"binary.{version}.encode", nodes=nodes)
    results = baileys.call(f"binary.{version}.decode", frames=frames)
    for frame, result in zip(frames, results, strict=True):
        assert to_json(unmarshal(frame), _rendering(version)) == result["node"]


def _deep(depth: int) -> Node:
    node = Node("leaf", {"id": "1"}, b"\x01\x02")
    for level in range(depth):
        node = Node("n", {"level": str(level)}, [node])
    return node


LARGE = [
    Node("enc", {"type": "pkmsg", "v": "2"}, bytes(range(256)) * 4096),  # 1 MiB: BINARY_32
    Node("enc", {"type": "msg"}, b"\xab" * ((1 << 20) - 1)),  # the largest BINARY_20
    Node("message", {"id": "X"}, [Node("media", {}, b"\x00" * (1 << 20)), Node("thumb", {}, b"\x07" * 70000)]),
]
WIDE = [
    Node("list", {}, [Node("item", {"id": str(i)}) for i in range(300)]),  # LIST_16 children
    Node("many", {f"k{i}": f"v{i}" for i in range(200)}),  # LIST_16 node header
    Node("s", {"text": "é" * 40000}),  # BINARY_20 attribute value
]


@pytest.mark.parametrize("node", [_deep(100), *WIDE, *LARGE], ids=["deep", "children", "attrs", "longattr", "1MiB", "1MiB-1", "nested-1MiB"])
def test_deep_wide_and_large_both_ways(baileys: Harness, node: Node) -> None:
    ours = marshal(node)
    assert baileys.call("binary.v6.encode", nodes=[to_json(node)]) == [ours]
    assert baileys.call("binary.v7.encode", nodes=[to_json(node)]) == [ours]
    for version in ("v6", "v7"):
        [result] = baileys.call(f"binary.{version}.decode", frames=[ours])
        assert result["node"] == expected_json(node, version)
    assert unmarshal(ours) == node


def test_compressed_frames_both_ways(baileys: Harness) -> None:
    node = Node("iq", {"id": "1", "type": "result"}, [Node("item", {"n": str(i)}, b"abc" * i) for i in range(50)])
    plain = marshal(node)
    compressed = b"\x02" + zlib.compress(plain[1:])
    for version in ("v6", "v7"):
        [result] = baileys.call(f"binary.{version}.decode", frames=[compressed])
        assert result["node"] == to_json(unmarshal(compressed), version) == expected_json(node, version)


def test_every_jid_form_against_both_versions(baileys: Harness) -> None:
    cases: list[tuple[JID, str, str | None]] = [
        # (value, how Baileys 7 renders our encoding, how Baileys 6 does or None if it cannot read it)
        (JID("1234567890", "s.whatsapp.net"), "1234567890@s.whatsapp.net", "1234567890@s.whatsapp.net"),
        (JID("", "s.whatsapp.net"), "@s.whatsapp.net", "@s.whatsapp.net"),
        (JID("99887766", "lid", device=3), "99887766:3@lid", "99887766:3@lid"),
        (JID("1", "s.whatsapp.net", device=2, agent=5), "1:2@s.whatsapp.net", "1:2@lid"),
        (JID("123", "hosted", device=99), "123:99@hosted", "123:99@s.whatsapp.net"),
        (JID("123", "hosted"), "123@hosted", "123@s.whatsapp.net"),
        (JID("456", "hosted.lid", device=99), "456:99@hosted.lid", "456:99@lid"),
        (JID("100012345", "msgr", device=300), "100012345:300@msgr", None),
        (JID("100012345", "interop", device=7, integrator=5), "5-100012345:7@interop", None),
        (JID("120363012345678901", "g.us"), "120363012345678901@g.us", "120363012345678901@g.us"),
    ]
    frames = [marshal(Node("a", {"jid": jid})) for jid, _, _ in cases]
    v6 = baileys.call("binary.v6.decode", frames=frames)
    v7 = baileys.call("binary.v7.decode", frames=frames)
    for (jid, in_v7, in_v6), r6, r7 in zip(cases, v6, v7, strict=True):
        assert r7["node"]["attrs"]["jid"] == in_v7
        if in_v6 is None:
            assert "invalid string with tag" in r6["error"]
        else:
            assert r6["node"]["attrs"]["jid"] == in_v6
        assert unmarshal(marshal(Node("a", {"jid": jid}))).attrs["jid"] == jid


def test_agents_written_by_baileys7(baileys: Harness) -> None:
    # Baileys 7 turns "user_agent:device@s.whatsapp.net" into AD_JID with the agent as domain type.
    strings = ["1_5:2@s.whatsapp.net", "1_1:2@s.whatsapp.net", "1_128:3@s.whatsapp.net", "1_129:4@s.whatsapp.net"]
    frames = baileys.call("binary.v7.encode", nodes=[to_json(Node("a", {"jid": s})) for s in strings])
    ours: list[Any] = [unmarshal(f).attrs["jid"] for f in frames]
    assert ours == [
        JID("1", "s.whatsapp.net", device=2, agent=5),
        JID("1", "lid", device=2),
        JID("1", "hosted", device=3),
        JID("1", "hosted.lid", device=4),
    ]
    theirs = baileys.call("binary.v7.decode", frames=frames)
    assert [r["node"]["attrs"]["jid"] for r in theirs] == [
        "1:2@s.whatsapp.net", "1:2@lid", "1:3@hosted", "1:4@hosted.lid"
    ]  # fmt: skip


def test_baileys_lossy_jid_strings_are_raw_in_ours(baileys: Harness) -> None:
    # Strings Baileys 6 writes as a JID that decodes to another string: we write them raw, so they survive.
    lossy = ["a_b@g.us", "123:0@s.whatsapp.net", "1:2@g.us", "1:300@lid", "1:x@lid", "1:2:3@lid", "123@hosted:1"]
    nodes = [Node("a", {"v": s}) for s in lossy]
    theirs = baileys.call("binary.v6.decode", frames=baileys.call("binary.v6.encode", nodes=[to_json(n) for n in nodes]))
    assert [r["node"]["attrs"]["v"] for r in theirs] != lossy
    ours = baileys.call("binary.v6.decode", frames=[marshal(n) for n in nodes])
    assert [r["node"]["attrs"]["v"] for r in ours] == lossy
