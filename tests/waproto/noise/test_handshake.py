"""waproto.noise.handshake: both roles, against each other and against Baileys' own client noise handler."""

from __future__ import annotations

import random
import zlib
from typing import Any

import pytest

from tests.interop.harness import Harness
from tests.waproto.noise.helpers import (
    NOT_AFTER,
    NOT_BEFORE,
    NOW,
    Keys,
    chain,
    connect,
    initiator,
    keys,
    responder,
)
from waproto.errors import (
    BadCertificateSignature,
    CertificateExpired,
    CertificateKeyMismatch,
    HandshakeError,
    LocalProtocolError,
    WrongIssuerSerial,
)
from waproto.noise import FrameReader, FrameWriter, HandshakeState, NoiseInitiator, NoiseResponder
from waproto.noise.certs import CertificateDetails, encode_cert_chain, issue_certificate
from waproto.noise.handshake import PROTOCOL_NAME, SymmetricState
from waproto.proto import HandshakeMessage
from waproto.signal import curve

# --------------------------------------------------------------------------- ours against ours


def test_symmetric_state_start() -> None:
    import hashlib

    assert len(PROTOCOL_NAME) == 32
    state = SymmetricState()
    assert state.ck == PROTOCOL_NAME
    assert state.h == hashlib.sha256(PROTOCOL_NAME + b"WA\x06\x03").digest()
    with pytest.raises(LocalProtocolError):
        state.encrypt_and_hash(b"x")
    with pytest.raises(LocalProtocolError):
        state.decrypt_and_hash(b"x" * 16)


def test_initiator_and_responder_complete_and_exchange_frames() -> None:
    k = keys(10)
    pair = connect(k, payload=b"\x08\x01payload")
    client, server = pair.client, pair.server
    assert client.state is HandshakeState.DONE
    assert server.state is HandshakeState.DONE
    assert client.server_static == k.server_static.public
    assert client.server_certificate is not None
    assert client.server_certificate.key == k.server_static.public
    assert server.client_static == k.client_static.public
    assert server.client_payload == b"\x08\x01payload"
    assert client.handshake_hash == server.handshake_hash
    for i in range(10):
        up = b"\x00client %d" % i
        [frame] = pair.server_reader.receive_data(pair.client_writer.frame(client.transport.encrypt(up)))
        assert server.transport.decrypt(frame) == up
        down = b"\x02" + zlib.compress(b"server %d" % i)
        [frame] = pair.client_reader.receive_data(pair.server_writer.frame(server.transport.encrypt(down)))
        assert client.transport.decrypt(frame) == down


def test_first_client_message_layout() -> None:
    k = keys(11)
    wire = FrameWriter().frame(initiator(k).client_hello())
    assert wire == bytes.fromhex("57410603" "000024" "12220a20") + k.client_ephemeral.public


def test_wrong_state_is_a_local_error() -> None:
    k = keys(12)
    client, server = initiator(k), responder(k)
    with pytest.raises(LocalProtocolError):
        client.receive_server_hello(b"", now=NOW)
    with pytest.raises(LocalProtocolError):
        client.client_finish(b"")
    with pytest.raises(LocalProtocolError):
        _ = client.transport
    with pytest.raises(LocalProtocolError):
        server.server_hello()
    with pytest.raises(LocalProtocolError):
        server.receive_client_finish(b"")
    hello = client.client_hello()
    with pytest.raises(LocalProtocolError):
        client.client_hello()
    server.receive_client_hello(hello)
    with pytest.raises(LocalProtocolError):
        server.receive_client_hello(hello)
    with pytest.raises(LocalProtocolError):
        _ = server.transport
    with pytest.raises(LocalProtocolError):
        NoiseInitiator(static=curve.KeyPair(b"x", b"y"), ephemeral=k.client_ephemeral)


def _server_hello_with_chain(k: Keys, cert_chain: bytes) -> tuple[NoiseInitiator, bytes]:
    client, server = initiator(k), responder(k, cert_chain)
    server.receive_client_hello(client.client_hello())
    return client, server.server_hello()


@pytest.mark.parametrize(
    ("error", "inter", "leaf", "inter_signer"),
    [
        (BadCertificateSignature, (1, 0, "intermediate", NOT_BEFORE, NOT_AFTER), None, "client_static"),
        (WrongIssuerSerial, (1, 3, "intermediate", NOT_BEFORE, NOT_AFTER), None, None),
        (CertificateExpired, (1, 0, "intermediate", NOT_BEFORE, NOW - 1), None, None),
        (CertificateKeyMismatch, None, (2, 1, "client_static", NOT_BEFORE, NOT_AFTER), None),
    ],
)
def test_initiator_rejects_bad_chains(
    error: type[Exception],
    inter: tuple[Any, ...] | None,
    leaf: tuple[Any, ...] | None,
    inter_signer: str | None,
) -> None:
    k = keys(13)

    def details(spec: tuple[Any, ...] | None, default: tuple[Any, ...]) -> CertificateDetails:
        serial, issuer, key_name, nb, na = spec or default
        return CertificateDetails(serial, issuer, getattr(k, key_name).public, nb, na)

    inter_details = details(inter, (1, 0, "intermediate", NOT_BEFORE, NOT_AFTER))
    leaf_details = details(leaf, (2, 1, "server_static", NOT_BEFORE, NOT_AFTER))
    signer = getattr(k, inter_signer).private if inter_signer else k.root.private
    data = encode_cert_chain(
        issue_certificate(k.intermediate.private, leaf_details), issue_certificate(signer, inter_details)
    )
    client, server_hello = _server_hello_with_chain(k, data)
    with pytest.raises(error):
        client.receive_server_hello(server_hello, now=NOW)
    assert client.state is HandshakeState.FAILED
    with pytest.raises(LocalProtocolError):
        client.client_finish(b"")


def test_initiator_rejects_expired_chain_via_clock() -> None:
    k = keys(14)
    client, server_hello = _server_hello_with_chain(k, chain(k))
    with pytest.raises(CertificateExpired):
        client.receive_server_hello(server_hello, now=NOT_AFTER + 1)


def test_initiator_default_root_is_production() -> None:
    k = keys(15)
    client = NoiseInitiator(static=k.client_static, ephemeral=k.client_ephemeral)
    server = responder(k)
    server.receive_client_hello(client.client_hello())
    with pytest.raises(BadCertificateSignature):
        client.receive_server_hello(server.server_hello(), now=NOW)


def test_tampered_server_hello_fails_aead() -> None:
    k = keys(16)
    client, server_hello = _server_hello_with_chain(k, chain(k))
    message = HandshakeMessage.FromString(server_hello)
    message.server_hello.payload = message.server_hello.payload[:-1] + b"\x00"
    with pytest.raises(HandshakeError, match="authenticate"):
        client.receive_server_hello(message.SerializeToString(), now=NOW)


@pytest.mark.parametrize(
    "message",
    [
        HandshakeMessage(),
        HandshakeMessage(client_hello=HandshakeMessage.ClientHello(ephemeral=bytes(32))),
        HandshakeMessage(server_hello=HandshakeMessage.ServerHello(ephemeral=bytes(31), static=b"", payload=b"")),
        HandshakeMessage(server_hello=HandshakeMessage.ServerHello(ephemeral=bytes(32))),
        HandshakeMessage(server_hello=HandshakeMessage.ServerHello(ephemeral=bytes(32), static=b"", payload=b"")),
    ],
)
def test_initiator_rejects_bad_server_hellos(message: HandshakeMessage) -> None:
    k = keys(17)
    client = initiator(k)
    client.client_hello()
    with pytest.raises(HandshakeError):
        client.receive_server_hello(message.SerializeToString(), now=NOW)
    assert client.state is HandshakeState.FAILED


@pytest.mark.parametrize(
    "message",
    [
        HandshakeMessage(),
        HandshakeMessage(client_hello=HandshakeMessage.ClientHello(ephemeral=bytes(33))),
        HandshakeMessage(client_hello=HandshakeMessage.ClientHello(ephemeral=bytes(32))),  # low order
        HandshakeMessage(client_finish=HandshakeMessage.ClientFinish(static=b"x", payload=b"y")),
    ],
)
def test_responder_rejects_bad_client_hellos(message: HandshakeMessage) -> None:
    server = responder(keys(18))
    with pytest.raises(HandshakeError):
        server.receive_client_hello(message.SerializeToString())
    assert server.state is HandshakeState.FAILED
    with pytest.raises(LocalProtocolError):
        server.server_hello()


def test_responder_rejects_bad_client_finish() -> None:
    k = keys(19)
    client, server = initiator(k), responder(k)
    server.receive_client_hello(client.client_hello())
    client.receive_server_hello(server.server_hello(), now=NOW)
    finish = HandshakeMessage.FromString(client.client_finish(b"payload"))
    finish.client_finish.static = bytes(48)
    with pytest.raises(HandshakeError, match="authenticate"):
        server.receive_client_finish(finish.SerializeToString())
    assert server.state is HandshakeState.FAILED


# --------------------------------------------------------------------------- our responder, Baileys' client


def _baileys_node(i: int) -> dict[str, Any]:
    return {
        "tag": "iq",
        "attrs": {"id": f"{i}.{i * 7}-1", "type": "result", "from": "s.whatsapp.net"},
        "content": [{"tag": "pair-device", "attrs": {}, "content": [{"tag": "ref", "attrs": {}, "content": b"r" * (i * 50)}]}],
    }


def _chunked(data: bytes, r: random.Random) -> list[bytes]:
    out, i = [], 0
    while i < len(data):
        n = r.choice([1, 2, 7, 40, len(data)])
        out.append(data[i : i + n])
        i += n
    return out


@pytest.mark.interop
@pytest.mark.parametrize("version", [6, 7])
def test_baileys_client_against_our_responder(baileys: Harness, version: int) -> None:
    k = keys(20 + version)
    r = random.Random(version)
    handle = baileys.call(
        "noise.client.create",
        version=version,
        ephemeral={"private": k.client_ephemeral.private, "public": k.client_ephemeral.public},
    )
    try:
        server = responder(k)
        reader, writer = FrameReader(expect_intro=True), FrameWriter(intro=b"")

        hello_ws = baileys.call("noise.client.hello", handle=handle)
        [hello] = [f for chunk in _chunked(hello_ws, r) for f in reader.receive_data(chunk)]
        server.receive_client_hello(hello)
        server_hello = server.server_hello()
        # Baileys' decodeFrame re-splits our frame, fed to it in pieces
        got = [f for chunk in _chunked(writer.frame(server_hello), r) for f in baileys.call("noise.client.receive", handle=handle, data=chunk)]
        assert got == [server_hello]

        payload = b"\x08\x01\x12\x05login"
        finish_ws = baileys.call(
            "noise.client.finish",
            handle=handle,
            serverHello=server_hello,
            noiseKey={"private": k.client_static.private, "public": k.client_static.public},
            payload=payload,
        )
        [finish] = reader.receive_data(finish_ws)
        assert server.receive_client_finish(finish) == payload
        assert server.client_static == k.client_static.public

        # server → Baileys: plain and compressed nodes, several packed into one websocket message
        plaintexts = [
            baileys.call("noise.node.encode", node=_baileys_node(i), compress=i % 2 == 1) for i in range(1, 5)
        ]
        assert [p[0] for p in plaintexts] == [2, 0, 2, 0]  # compressed and plain frames
        packed = b"".join(writer.frame(server.transport.encrypt(p)) for p in plaintexts)
        nodes = baileys.call("noise.client.receive", handle=handle, data=packed)
        assert nodes == [_baileys_node(i) for i in range(1, 5)]

        # Baileys → server
        for i in range(5):
            body = b"\x00" + bytes([i]) * (i * 1000)
            [frame] = reader.receive_data(baileys.call("noise.client.send", handle=handle, data=body))
            assert server.transport.decrypt(frame) == body
        assert server.transport.receive_counter == 5
        assert server.transport.send_counter == 4
    finally:
        baileys.call("noise.client.drop", handle=handle)


@pytest.mark.interop
@pytest.mark.parametrize("version", [6, 7])
def test_baileys_client_checks_issuer_serial(baileys: Harness, version: int) -> None:
    """Sanity of the harness: Baileys rejects a chain whose intermediate issuer serial is not 0."""
    k = keys(30)
    inter = CertificateDetails(1, 5, k.intermediate.public, NOT_BEFORE, NOT_AFTER)
    leaf = CertificateDetails(2, 1, k.server_static.public, NOT_BEFORE, NOT_AFTER)
    bad = encode_cert_chain(issue_certificate(k.intermediate.private, leaf), issue_certificate(k.root.private, inter))
    server = NoiseResponder(static=k.server_static, ephemeral=k.server_ephemeral, cert_chain=bad)
    handle = baileys.call(
        "noise.client.create",
        version=version,
        ephemeral={"private": k.client_ephemeral.private, "public": k.client_ephemeral.public},
    )
    try:
        [hello] = FrameReader(expect_intro=True).receive_data(baileys.call("noise.client.hello", handle=handle))
        server.receive_client_hello(hello)
        with pytest.raises(Exception, match="certification match failed"):
            baileys.call(
                "noise.client.finish",
                handle=handle,
                serverHello=server.server_hello(),
                noiseKey={"private": k.client_static.private, "public": k.client_static.public},
                payload=b"",
            )
    finally:
        baileys.call("noise.client.drop", handle=handle)


def _initiator_calls(server_hello: bytes) -> dict[str, Any]:
    return {
        "client_hello": lambda m: m.client_hello(),
        "receive_server_hello": lambda m: m.receive_server_hello(server_hello, now=NOW),
        "client_finish": lambda m: m.client_finish(b"p"),
        "transport": lambda m: m.transport,
    }


def _responder_calls(hello: bytes, finish: bytes) -> dict[str, Any]:
    return {
        "receive_client_hello": lambda m: m.receive_client_hello(hello),
        "server_hello": lambda m: m.server_hello(),
        "receive_client_finish": lambda m: m.receive_client_finish(finish),
        "transport": lambda m: m.transport,
    }


def test_every_call_in_every_state() -> None:
    """In each state exactly one call is legal (the next step, or ``transport`` when DONE); the rest are
    LocalProtocolErrors that leave the state unchanged."""
    k = keys(50)
    server_hello, hello, finish = _transcript(k)
    path_i = ["client_hello", "receive_server_hello", "client_finish", "transport"]
    path_r = ["receive_client_hello", "server_hello", "receive_client_finish", "transport"]
    for make, calls, path in (
        (lambda: initiator(k), _initiator_calls(server_hello), path_i),
        (lambda: responder(k), _responder_calls(hello, finish), path_r),
    ):
        for steps in range(len(path)):
            machine = make()
            for name in path[:steps]:
                calls[name](machine)
            state = machine.state
            for name, call in calls.items():
                if name == path[steps]:
                    continue
                with pytest.raises(LocalProtocolError):
                    call(machine)
                assert machine.state is state
            calls[path[steps]](machine)


def _transcript(k: Keys) -> tuple[bytes, bytes, bytes]:
    client, server = initiator(k), responder(k)
    hello = client.client_hello()
    server.receive_client_hello(hello)
    server_hello = server.server_hello()
    client.receive_server_hello(server_hello, now=NOW)
    return server_hello, hello, client.client_finish(b"p")
