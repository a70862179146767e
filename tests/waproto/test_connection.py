"""waproto.connection: the client's sans-I/O connection against a scripted fake server (tests/waproto/fake_wa)."""

from __future__ import annotations

import random

import pytest

from tests.waproto.fake_wa import NOW, ROOT, FakeServer
from tests.waproto.test_credentials import fresh, paired
from waproto.binary import Node
from waproto.connection import Connection, ConnectionState
from waproto.credentials import Credentials
from waproto.errors import CertificateError, DecodeError, DecryptionError, LocalProtocolError
from waproto.events import (
    HandshakeCompleted,
    IqResponse,
    LoginFailed,
    LoginSucceeded,
    Paired,
    PairingFailed,
    QRRefs,
    StanzaReceived,
    StreamEnded,
    StreamErrored,
)
from waproto.jid import JID, SERVER_JID
from waproto.noise import INTRO
from waproto.pairing import issue_device_identity, pair_device_node, pair_success_node
from waproto.payload import login_payload, registration_payload
from waproto.signal import curve

ME = JID("15550001111", "s.whatsapp.net", device=4)
LID = JID("99887766554433", "lid", device=4)


def connect(creds: Credentials, *, root: bytes = ROOT.public) -> tuple[Connection, FakeServer, list[object]]:
    payload = login_payload(creds) if creds.is_paired else registration_payload(creds)
    conn = Connection(creds, payload, ephemeral=curve.generate_key_pair(random.Random(5).randbytes), root_public_key=root)
    server = FakeServer()
    hello = conn.data_to_send()
    assert hello.startswith(INTRO)
    events = conn.receive_data(server.receive(hello), now=NOW)
    assert server.receive(conn.data_to_send()) == b""
    assert server.payload is not None
    return conn, server, list(events)


def deliver(conn: Connection, server: FakeServer, *nodes: Node) -> list[object]:
    events = conn.receive_data(b"".join(server.send(n) for n in nodes), now=NOW)
    server.receive(conn.data_to_send())
    return list(events)


def test_handshake_sends_the_payload() -> None:
    creds = fresh()
    conn, server, events = connect(creds)
    assert [type(e) for e in events] == [HandshakeCompleted]
    assert conn.state is ConnectionState.OPEN
    assert server.payload == registration_payload(creds)
    assert server.responder.client_static == creds.noise_key.public


def test_frames_to_send_gives_one_item_per_frame() -> None:
    conn, server, _ = connect(fresh())
    for n in range(3):
        conn.send_node(Node("iq", {"id": str(n), "type": "get", "to": SERVER_JID}))
    frames = conn.frames_to_send()
    assert len(frames) == 3
    assert conn.frames_to_send() == []
    assert conn.data_to_send() == b""
    for n, frame in enumerate(frames):  # each item decodes on its own, as one websocket message would
        server.receive(frame)
        assert server.received[-1].attrs["id"] == str(n)


def test_a_chain_from_another_root_is_refused() -> None:
    creds = fresh()
    conn = Connection(creds, registration_payload(creds), ephemeral=curve.generate_key_pair(random.Random(5).randbytes))
    server = FakeServer()
    with pytest.raises(CertificateError):
        conn.receive_data(server.receive(conn.data_to_send()), now=NOW)
    assert conn.state is ConnectionState.CLOSED
    with pytest.raises(LocalProtocolError):
        conn.receive_data(b"", now=NOW)


def test_frames_split_and_joined_arbitrarily() -> None:
    conn, server, _ = connect(fresh())
    data = server.send(Node("ib", {}, [Node("offline", {"count": "0"})])) + server.send(Node("ib", {}))
    events: list[object] = []
    for i in range(len(data)):
        events += conn.receive_data(data[i : i + 1], now=NOW)
    assert [type(e) for e in events] == [StanzaReceived, StanzaReceived]


def test_qr_refs_are_acknowledged() -> None:
    conn, server, _ = connect(fresh())
    events = deliver(conn, server, pair_device_node(iq_id="pd1", refs=["2@a", "2@b"]))
    assert events == [QRRefs(("2@a", "2@b"))]
    assert server.received == [Node("iq", {"to": SERVER_JID, "type": "result", "id": "pd1"})]


def pair_success(creds: Credentials, *, adv_secret: bytes | None = None) -> Node:
    identity = issue_device_identity(
        account=curve.generate_key_pair(random.Random(8).randbytes),
        companion_identity=creds.identity_key.public,
        adv_secret=adv_secret or creds.adv_secret,
        raw_id=1,
        key_index=3,
        timestamp=NOW,
    )
    return pair_success_node(iq_id="ps1", device_identity=identity, jid=ME, lid=LID, platform="iphone")


def test_pair_success_is_verified_answered_and_updates_credentials() -> None:
    creds = fresh()
    conn, server, _ = connect(creds)
    [event] = deliver(conn, server, pair_success(creds))
    assert isinstance(event, Paired)
    assert (event.jid, event.lid) == (ME, LID)
    assert event.credentials.me == ME
    assert event.credentials.platform == "iphone"
    assert conn.credentials == event.credentials
    [reply] = server.received
    sign = reply.child("pair-device-sign")
    assert reply.attrs["type"] == "result"
    assert sign is not None
    identity = sign.child("device-identity")
    assert identity is not None
    assert identity.attrs["key-index"] == "3"
    # Then the 515 restart.
    [end] = deliver(conn, server, Node("stream:error", {"code": "515"}))
    assert end == StreamErrored("515", None, Node("stream:error", {"code": "515"}))
    assert conn.state is ConnectionState.CLOSED


def test_pair_success_with_a_bad_hmac_is_refused() -> None:
    creds = fresh()
    conn, server, _ = connect(creds)
    [event] = deliver(conn, server, pair_success(creds, adv_secret=bytes(32)))
    assert isinstance(event, PairingFailed)
    assert conn.credentials == creds
    [reply] = server.received
    error = reply.child("error")
    assert reply.attrs["type"] == "error"
    assert error is not None
    assert (error.attrs["code"], error.attrs["text"]) == ("401", "hmac-mismatch")


def test_login_success_records_the_lid() -> None:
    creds = paired()
    conn, server, _ = connect(creds)
    assert server.payload is not None
    assert server.payload.username == 15550001111
    new_lid = JID("555", "lid", device=3)
    [event] = deliver(conn, server, Node("success", {"t": "1", "lid": new_lid}))
    assert isinstance(event, LoginSucceeded)
    assert event.lid == new_lid
    assert conn.credentials.lid == new_lid
    conn.send_node(Node("iq", {"id": "x", "type": "get", "xmlns": "w:p", "to": SERVER_JID}, [Node("ping")]))
    server.receive(conn.data_to_send())
    assert server.received[-1].attrs["id"] == "x"


def test_iq_responses_server_pings_and_other_stanzas() -> None:
    conn, server, _ = connect(paired())
    result = Node("iq", {"from": SERVER_JID, "type": "result", "id": "a1"})
    error = Node("iq", {"from": SERVER_JID, "type": "error", "id": "a2"}, [Node("error", {"code": "404"})])
    ping = Node("iq", {"from": SERVER_JID, "type": "get", "id": "p9", "xmlns": "urn:xmpp:ping"})
    other = Node("iq", {"from": SERVER_JID, "type": "set", "id": "n1", "xmlns": "w:x"})
    events = deliver(conn, server, result, error, ping, other, Node("notification", {"id": "z"}))
    assert events == [IqResponse("a1", result), IqResponse("a2", error), StanzaReceived(other), StanzaReceived(Node("notification", {"id": "z"}))]
    first, second = events[0], events[1]
    assert isinstance(first, IqResponse)
    assert isinstance(second, IqResponse)
    assert (first.is_error, first.error_code, second.is_error, second.error_code) == (False, None, True, 404)
    assert server.received == [Node("iq", {"to": SERVER_JID, "type": "result", "id": "p9"})]


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        (Node("failure", {"reason": "401"}), LoginFailed(401, Node("failure", {"reason": "401"}))),
        (Node("failure", {}), LoginFailed(0, Node("failure", {}))),
        (
            Node("stream:error", {}, [Node("conflict", {"type": "replaced"})]),
            StreamErrored(None, "replaced", Node("stream:error", {}, [Node("conflict", {"type": "replaced"})])),
        ),
        (Node("xmlstreamend"), StreamEnded()),
    ],
)
def test_the_end_of_a_stream(node: Node, expected: object) -> None:
    conn, server, _ = connect(paired())
    # Whatever follows the last word in the same data is ignored.
    assert deliver(conn, server, node, Node("ib")) == [expected]
    assert conn.state is ConnectionState.CLOSED
    with pytest.raises(LocalProtocolError):
        conn.send_node(Node("ib"))


def test_garbage_after_the_handshake_closes_the_connection() -> None:
    conn, server, _ = connect(paired())
    with pytest.raises(DecryptionError):
        conn.receive_data(b"\x00\x00\x20" + bytes(32), now=NOW)
    assert conn.state is ConnectionState.CLOSED
    conn, server, _ = connect(paired())
    with pytest.raises(DecodeError):
        deliver(conn, server, Node("iq", {"type": "result"}))
    conn, server, _ = connect(paired())
    with pytest.raises(DecodeError):
        deliver(conn, server, Node("success", {"lid": "not a jid"}))


def test_send_before_the_handshake_is_refused() -> None:
    creds = fresh()
    conn = Connection(creds, registration_payload(creds).SerializeToString(), ephemeral=creds.noise_key)
    with pytest.raises(LocalProtocolError):
        conn.send_node(Node("ib"))
    assert conn.state is ConnectionState.HANDSHAKING


def test_replace_credentials_keeps_the_keys() -> None:
    creds = fresh()
    conn, server, _ = connect(creds)
    derived = creds.with_adv_secret(bytes(range(32)))
    conn.replace_credentials(derived)
    [event] = deliver(conn, server, pair_success(derived))
    assert isinstance(event, Paired)
    with pytest.raises(LocalProtocolError):
        conn.replace_credentials(fresh(9))
