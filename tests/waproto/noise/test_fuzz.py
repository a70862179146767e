"""Fuzzing the frame reader and both handshake roles: only waproto protocol errors, bounded memory.

Random and mutated byte strings must produce either a result or a ``RemoteProtocolError`` subclass
(``DecodeError`` from the frame layer, ``HandshakeError`` and its certificate errors from the
handshake), never another exception; a declared length never reserves memory by itself.
"""

from __future__ import annotations

import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.waproto.noise.helpers import NOW, chain, initiator, keys, responder
from waproto.errors import DecodeError, HandshakeError, LocalProtocolError
from waproto.noise import FrameReader, FrameWriter, HandshakeState
from waproto.proto import HandshakeMessage

KEYS = keys(40)
CHAIN = chain(KEYS)


def _transcript() -> tuple[bytes, bytes, bytes]:
    client, server = initiator(KEYS), responder(KEYS, CHAIN)
    hello = client.client_hello()
    server.receive_client_hello(hello)
    server_hello = server.server_hello()
    client.receive_server_hello(server_hello, now=NOW)
    return hello, server_hello, client.client_finish(b"\x08\x01fuzz payload")


HELLO, SERVER_HELLO, FINISH = _transcript()
STREAM = FrameWriter().frame(HELLO) + FrameWriter(intro=b"").frame(FINISH) * 3


@st.composite
def mutated(draw: st.DrawFn, original: bytes) -> bytes:
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[pos] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete" and data:
            del data[pos : pos + draw(st.integers(1, 8))]
        elif kind == "truncate":
            del data[pos:]
    return bytes(data)


def _bytes_like(original: bytes) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=300), mutated(original))


@settings(max_examples=400)
@given(
    chunks=st.lists(st.one_of(st.binary(max_size=64), mutated(STREAM)), max_size=6),
    expect_intro=st.booleans(),
    limit=st.sampled_from([0, 5, 1000, (1 << 24) - 1]),
)
def test_frame_reader_only_decode_errors(chunks: list[bytes], expect_intro: bool, limit: int) -> None:
    reader = FrameReader(expect_intro=expect_intro, max_frame_size=limit)
    received = 0
    for chunk in chunks:
        received += len(chunk)
        try:
            frames = reader.receive_data(chunk)
        except DecodeError:
            return
        assert all(len(f) <= limit for f in frames)
        assert reader.buffered <= received


@settings(max_examples=300)
@given(data=_bytes_like(HELLO))
def test_responder_client_hello_only_handshake_errors(data: bytes) -> None:
    server = responder(KEYS, CHAIN)
    try:
        server.receive_client_hello(data)
    except HandshakeError:
        assert server.state is HandshakeState.FAILED
        return
    assert server.state is HandshakeState.SEND_SERVER_HELLO
    HandshakeMessage.FromString(server.server_hello())


@settings(max_examples=300)
@given(data=_bytes_like(SERVER_HELLO))
def test_initiator_server_hello_only_handshake_errors(data: bytes) -> None:
    client = initiator(KEYS)
    client.client_hello()
    try:
        client.receive_server_hello(data, now=NOW)
    except HandshakeError:
        assert client.state is HandshakeState.FAILED
        return
    assert client.server_static == KEYS.server_static.public


@settings(max_examples=300)
@given(data=_bytes_like(FINISH))
def test_responder_client_finish_only_handshake_errors(data: bytes) -> None:
    server = responder(KEYS, CHAIN)
    server.receive_client_hello(HELLO)
    server.server_hello()
    try:
        server.receive_client_finish(data)
    except HandshakeError:
        assert server.state is HandshakeState.FAILED
        return
    assert server.client_static == KEYS.client_static.public


def test_failed_machines_refuse_further_input() -> None:
    server = responder(KEYS, CHAIN)
    with pytest.raises(HandshakeError):
        server.receive_client_hello(b"\xff")
    with pytest.raises(LocalProtocolError):
        server.receive_client_hello(HELLO)
    with pytest.raises(LocalProtocolError):
        server.server_hello()


def test_declared_lengths_reserve_no_memory() -> None:
    """Huge declared lengths (a frame of 16 MiB, a protobuf field of 2 GiB) cost nothing until bytes arrive."""
    tracemalloc.start()
    try:
        reader = FrameReader()
        assert reader.receive_data(b"\xff\xff\xff" + b"x" * 10) == []
        # a HandshakeMessage whose server_hello claims 2 GiB, and a length varint that never ends
        for bogus in (b"\x1a\xff\xff\xff\xff\x07" + bytes(20), b"\x1a" + b"\xff" * 20):
            client = initiator(KEYS)
            client.client_hello()
            with pytest.raises(HandshakeError):
                client.receive_server_hello(bogus, now=NOW)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reader.buffered == 13
    assert peak < 1 << 20
