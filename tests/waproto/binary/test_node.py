"""Node: value semantics, navigation helpers and the log-safe XML-like rendering."""

from __future__ import annotations

import pytest

from waproto.binary import Node
from waproto.errors import DecodeError
from waproto.jid import JID


def test_defaults_and_equality() -> None:
    assert Node("iq") == Node("iq", {}, None)
    assert Node("iq").attrs is not Node("iq").attrs
    assert Node("a", {"x": "1"}) != Node("a", {"x": "2"})
    assert Node("a", {"x": "1", "y": "2"}) == Node("a", {"y": "2", "x": "1"})
    assert Node("a", {}, []) != Node("a", {}, None)


def test_children_helpers() -> None:
    items = [Node("item", {"id": "1"}), Node("other"), Node("item", {"id": "2"})]
    node = Node("list", {}, items)
    assert node.children == items
    assert node.child("item") is items[0]
    assert node.child("missing") is None
    assert node.children_with("item") == [items[0], items[2]]
    assert Node("enc", {}, b"x").children == []
    assert Node("enc", {}, b"x").child("item") is None


def test_repr_is_one_line_xml() -> None:
    node = Node(
        "message",
        {"to": JID("123", "s.whatsapp.net", device=2), "type": "text"},
        [Node("body", {}, "hi & <bye>"), Node("empty", {}, []), Node("none")],
    )
    assert repr(node) == (
        '<message to="123:2@s.whatsapp.net" type="text"><body>hi &amp; &lt;bye&gt;</body>'
        "<empty></empty><none/></message>"
    )


def test_pretty_indents() -> None:
    node = Node("iq", {"id": "1"}, [Node("ping"), Node("list", {}, [Node("item", {"a": '"q"'})])])
    assert node.pretty() == (
        '<iq id="1">\n'
        "  <ping/>\n"
        "  <list>\n"
        '    <item a="&quot;q&quot;"/>\n'
        "  </list>\n"
        "</iq>"
    )
    assert str(node) == node.pretty()
    assert node.pretty(indent="\t").splitlines()[1] == "\t<ping/>"


def test_binary_content_is_summarised_never_dumped() -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB
    node = Node("enc", {"type": "pkmsg"}, payload)
    assert repr(node) == '<enc type="pkmsg"><!-- 1048576 bytes: 00 01 02 03 04 05 06 07 … --></enc>'
    assert len(node.pretty()) < 100
    assert repr(Node("enc", {}, b"\xab\xcd")) == "<enc><!-- 2 bytes: ab cd --></enc>"
    assert repr(Node("enc", {}, b"")) == "<enc><!-- 0 bytes --></enc>"


def test_long_text_is_cut() -> None:
    text = "x" * 10_000
    rendered = repr(Node("body", {}, text))
    assert rendered.endswith("<!-- … 10000 chars --></body>")
    assert len(rendered) < 300


def test_jid_attr_parses_strings_passes_jids_and_names_bad_values() -> None:
    jid = JID("123", "s.whatsapp.net")
    node = Node("device", {"jid": "123@s.whatsapp.net", "lid": jid, "bad": "a@b@c"})
    assert node.jid_attr("jid") == jid
    assert node.jid_attr("lid") is jid
    assert node.jid_attr("missing") is None
    stanza = Node("iq", {}, [node])
    with pytest.raises(DecodeError, match="<device bad> is not a JID") as caught:
        node.jid_attr("bad", stanza=stanza)
    assert caught.value.node is stanza


def test_jid_attr_or_none_skips_what_is_not_a_jid() -> None:
    jid = JID("123", "s.whatsapp.net")
    node = Node("message", {"from": "123@s.whatsapp.net", "to": jid, "bad": "a@b@c", "empty": ""})
    assert node.jid_attr_or_none("from") == jid
    assert node.jid_attr_or_none("to") is jid
    assert node.jid_attr_or_none("bad") is None
    assert node.jid_attr_or_none("empty") is None
    assert node.jid_attr_or_none("missing") is None
