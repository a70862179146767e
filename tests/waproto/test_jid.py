"""JID parsing, formatting and helpers (PROTOCOL.md §2.8)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from waproto.errors import LocalProtocolError
from waproto.jid import (
    JID,
    KNOWN_SERVERS,
    SERVER_JID,
    STATUS_BROADCAST_JID,
    parse_jid,
)

# (string, parsed) for every form of PROTOCOL.md §2.8.
FORMS = [
    ("1234567890@s.whatsapp.net", JID("1234567890", "s.whatsapp.net")),
    ("1234567890:3@s.whatsapp.net", JID("1234567890", "s.whatsapp.net", device=3)),
    ("1234567890_1:3@s.whatsapp.net", JID("1234567890", "s.whatsapp.net", device=3, agent=1)),
    ("1234567890_2@s.whatsapp.net", JID("1234567890", "s.whatsapp.net", agent=2)),
    ("99887766@lid", JID("99887766", "lid")),
    ("99887766:3@lid", JID("99887766", "lid", device=3)),
    ("120363012345678901@g.us", JID("120363012345678901", "g.us")),
    ("1234567890-1596000000@g.us", JID("1234567890-1596000000", "g.us")),
    ("status@broadcast", JID("status", "broadcast")),
    ("1600000000@broadcast", JID("1600000000", "broadcast")),
    ("120363098765432109@newsletter", JID("120363098765432109", "newsletter")),
    ("16505361212@c.us", JID("16505361212", "c.us")),
    ("867051314767696@bot", JID("867051314767696", "bot")),
    ("123@hosted", JID("123", "hosted")),
    ("123:99@hosted", JID("123", "hosted", device=99)),
    ("456:99@hosted.lid", JID("456", "hosted.lid", device=99)),
    ("100012345@msgr", JID("100012345", "msgr")),
    ("100012345:7@msgr", JID("100012345", "msgr", device=7)),
    ("100012345:300@msgr", JID("100012345", "msgr", device=300)),
    ("5-100012345:7@interop", JID("100012345", "interop", device=7, integrator=5)),
    ("5-100012345:0@interop", JID("100012345", "interop", integrator=5)),
    ("100012345@interop", JID("100012345", "interop")),
    ("@s.whatsapp.net", JID("", "s.whatsapp.net")),
    ("@g.us", JID("", "g.us")),
]


@pytest.mark.parametrize(("text", "jid"), FORMS)
def test_parse_every_form(text: str, jid: JID) -> None:
    assert JID.parse(text) == jid
    assert parse_jid(text) == jid


@pytest.mark.parametrize(("text", "jid"), FORMS)
def test_format_round_trips(text: str, jid: JID) -> None:
    assert str(jid) == text
    assert JID.parse(str(jid)) == jid


def test_whatsmeow_ad_string_form() -> None:
    jid = JID("1234567890", "s.whatsapp.net", device=3, agent=1)
    assert jid.ad_string() == "1234567890.1:3@s.whatsapp.net"
    assert JID.parse("1234567890.1:3@s.whatsapp.net") == jid
    assert JID("1", "s.whatsapp.net").ad_string() == "1.0:0@s.whatsapp.net"


def test_device_zero_is_the_user() -> None:
    # As in Baileys and whatsmeow: ":0" names the primary device, which is the user JID.
    assert JID.parse("123:0@s.whatsapp.net") == JID("123", "s.whatsapp.net")
    assert str(JID.parse("123:0@s.whatsapp.net")) == "123@s.whatsapp.net"


def test_underscore_and_dot_are_user_characters_off_the_pn_server() -> None:
    assert JID.parse("a_b@g.us") == JID("a_b", "g.us")
    assert JID.parse("a.b@newsletter") == JID("a.b", "newsletter")
    assert JID.parse("1-2@g.us") == JID("1-2", "g.us")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "no '@'"),
        ("1234567890", "no '@'"),
        ("1234567890@", "empty server"),
        ("a@b@c", "more than one '@'"),
        ("1:2@a:b", "':' in the server"),
        ("123:x@s.whatsapp.net", "device 'x'"),
        ("123:@s.whatsapp.net", "device ''"),
        ("123:1:2@s.whatsapp.net", "more than one ':'"),
        ("123:256@s.whatsapp.net", "device 256 is out of range 0..255"),
        ("123:256@lid", "out of range 0..255"),
        ("123:70000@msgr", "out of range 0..65535"),
        ("123:-1@s.whatsapp.net", "device '-1'"),
        ("123:١@s.whatsapp.net", "not a decimal number"),
        ("123_x:1@s.whatsapp.net", "agent 'x'"),
        ("123_300:1@s.whatsapp.net", "agent 300"),
        ("x-123:1@interop", "integrator 'x'"),
        ("70000-123:1@interop", "integrator 70000"),
    ],
)
def test_bad_input_names_itself(text: str, reason: str) -> None:
    with pytest.raises(LocalProtocolError) as info:
        JID.parse(text)
    assert repr(text) in str(info.value)
    assert reason in str(info.value)


def test_non_string_is_refused() -> None:
    with pytest.raises(LocalProtocolError, match="must be a string"):
        JID.parse(1234)  # type: ignore[arg-type]


def test_value_semantics() -> None:
    a = JID.parse("123:4@s.whatsapp.net")
    b = JID("123", "s.whatsapp.net", device=4)
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b}) == 1
    assert repr(a) == "JID('123:4@s.whatsapp.net')"
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.device = 5  # type: ignore[misc]
    assert not hasattr(a, "__dict__")
    assert sorted([JID("2", "lid"), JID("1", "lid")]) == [JID("1", "lid"), JID("2", "lid")]


def test_to_non_ad_and_device_jids() -> None:
    device = JID.parse("123_1:4@s.whatsapp.net")
    user = device.to_non_ad()
    assert user == JID("123", "s.whatsapp.net")
    assert not user.is_ad
    assert device.is_ad
    assert user.to_non_ad() is user
    assert user.with_device(7) == JID("123", "s.whatsapp.net", device=7)
    assert device.with_device(2) == JID("123", "s.whatsapp.net", device=2, agent=1)
    interop = JID.parse("5-100:7@interop")
    assert interop.to_non_ad() == JID("100", "interop", integrator=5)
    with pytest.raises(LocalProtocolError, match="device 70000"):
        user.with_device(70000)
    with pytest.raises(LocalProtocolError, match="device -1"):
        user.with_device(-1)


def test_classification() -> None:
    assert JID.parse("1@s.whatsapp.net").is_pn
    assert not SERVER_JID.is_pn
    assert SERVER_JID.is_server
    assert str(SERVER_JID) == "@s.whatsapp.net"
    assert JID.parse("1:2@lid").is_lid
    assert JID.parse("1@g.us").is_group
    assert STATUS_BROADCAST_JID.is_status_broadcast
    assert STATUS_BROADCAST_JID.is_broadcast
    assert str(STATUS_BROADCAST_JID) == "status@broadcast"
    assert JID.parse("9@broadcast").is_broadcast
    assert not JID.parse("9@broadcast").is_status_broadcast
    assert JID.parse("1@newsletter").is_newsletter
    assert JID.parse("1@hosted").is_hosted
    assert JID.parse("1:99@hosted.lid").is_hosted
    assert not JID.parse("1@lid").is_hosted
    assert {"s.whatsapp.net", "lid", "g.us", "hosted.lid", "msgr", "interop"} <= KNOWN_SERVERS


_users = st.text(alphabet="0123456789", min_size=1, max_size=20)


@st.composite
def jids(draw: st.DrawFn) -> JID:
    server = draw(st.sampled_from(sorted(KNOWN_SERVERS)))
    user = draw(_users)
    if server in ("s.whatsapp.net", "lid", "hosted", "hosted.lid"):
        device = draw(st.integers(0, 255))
        agent = draw(st.integers(0, 255)) if server == "s.whatsapp.net" else 0
        return JID(user, server, device=device, agent=agent)
    if server == "msgr":
        return JID(user, server, device=draw(st.integers(0, 0xFFFF)))
    if server == "interop":
        return JID(user, server, device=draw(st.integers(0, 0xFFFF)), integrator=draw(st.integers(0, 0xFFFF)))
    return JID(user, server)


@given(jids())
def test_parse_inverts_format(jid: JID) -> None:
    assert JID.parse(str(jid)) == jid
