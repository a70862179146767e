"""waproto.sandbox.connection: a connection that breaks the protocol is closed; the sandbox keeps serving.

Driven over in-memory pipes (``memclient``) with the autojump clock: random bytes, a bad intro, truncated
frames, a stalled or failed handshake, an undecryptable frame, a malformed node, an unknown or malformed
iq, a handler bug. After each, a fresh companion still registers (the sandbox is fine).
"""

from __future__ import annotations

import random

import pytest
import trio

from tests.waproto.sandbox.memclient import NOW, Companion, Keys, MemoryPipe
from waproto.binary import Node
from waproto.jid import SERVER_JID
from waproto.noise import INTRO, FrameWriter, NoiseInitiator
from waproto.proto import HandshakeMessage
from waproto.sandbox.connection import CLOSE_INTERNAL_ERROR, CLOSE_NORMAL, CLOSE_PROTOCOL_ERROR, Connection
from waproto.sandbox.server import Sandbox
from waproto.sandbox.state import Network
from waproto.signal import curve


def make_sandbox(seed: int = 1) -> Sandbox:
    rng = random.Random(seed).randbytes
    return Sandbox(Network.open(None, rng=rng), rng=rng, now=lambda: NOW)


async def serve_pipe(nursery: trio.Nursery, sandbox: Sandbox) -> MemoryPipe:
    pipe = MemoryPipe()
    nursery.start_soon(sandbox.handle, pipe.server)
    return pipe


async def still_serves(nursery: trio.Nursery, sandbox: Sandbox) -> None:
    """A new companion registers and gets a QR: the sandbox survived."""
    pipe = await serve_pipe(nursery, sandbox)
    companion = Companion(pipe, Keys.generate(99), root=sandbox.root_public_key)
    qr = await companion.register()
    assert qr.startswith("2@")
    pipe.eof()


async def wait_closed(sandbox: Sandbox) -> None:
    while True:
        if not sandbox.all_connections:
            break
        await trio.sleep(0.01)


async def test_random_bytes_close_the_connection(autojump_clock: trio.abc.Clock, nursery: trio.Nursery) -> None:
    sandbox = make_sandbox()
    pipe = await serve_pipe(nursery, sandbox)
    await pipe.send(random.Random(5).randbytes(300))
    assert await pipe.receive() is None
    assert pipe.close_code == CLOSE_PROTOCOL_ERROR
    assert (pipe.close_reason or "").startswith("protocol error")
    await wait_closed(sandbox)
    await still_serves(nursery, sandbox)


async def test_truncated_frame_then_eof(autojump_clock: trio.abc.Clock, nursery: trio.Nursery) -> None:
    sandbox = make_sandbox()
    pipe = await serve_pipe(nursery, sandbox)
    await pipe.send(INTRO + (100).to_bytes(3, "big") + b"x" * 10)
    pipe.eof()
    assert await pipe.receive() is None
    assert pipe.close_code == CLOSE_NORMAL
    await wait_closed(sandbox)
    await still_serves(nursery, sandbox)


async def test_stalled_handshake_times_out(autojump_clock: trio.abc.Clock, nursery: trio.Nursery) -> None:
    sandbox = make_sandbox()
    pipe = await serve_pipe(nursery, sandbox)
    await pipe.send(INTRO + (100).to_bytes(3, "big") + b"x" * 10)
    start = trio.current_time()
    assert await pipe.receive() is None
    assert trio.current_time() - start == pytest.approx(sandbox.handshake_timeout)
    assert pipe.close_code == CLOSE_PROTOCOL_ERROR
    assert "handshake" in (pipe.close_reason or "")
    await still_serves(nursery, sandbox)


async def test_oversized_frame_header_is_refused(autojump_clock: trio.abc.Clock, nursery: trio.Nursery) -> None:
    sandbox = make_sandbox()
    pipe = await serve_pipe(nursery, sandbox)
    await pipe.send(INTRO + b"\xff\xff\xff")
    await pipe.send(b"\x00" * 1000)
    assert await pipe.receive() is None
    # 2^24-1 is the protocol's own limit, so the reader waits for the body: the handshake timer ends it.
    assert pipe.close_code == CLOSE_PROTOCOL_ERROR
    await still_serves(nursery, sandbox)


@pytest.mark.parametrize(
    "hello",
    [
        b"",
        b"\xff\xfe garbage",
        HandshakeMessage().SerializeToString(),
        HandshakeMessage(client_hello=HandshakeMessage.ClientHello(ephemeral=b"short")).SerializeToString(),
        HandshakeMessage(client_hello=HandshakeMessage.ClientHello(ephemeral=b"\x00" * 32)).SerializeToString(),
    ],
    ids=["empty", "not-protobuf", "no-hello", "short-key", "low-order-key"],
)
async def test_bad_client_hello(autojump_clock: trio.abc.Clock, nursery: trio.Nursery, hello: bytes) -> None:
    sandbox = make_sandbox()
    pipe = await serve_pipe(nursery, sandbox)
    await pipe.send(FrameWriter().frame(hello))
    assert await pipe.receive() is None
    assert pipe.close_code == CLOSE_PROTOCOL_ERROR
    await still_serves(nursery, sandbox)


async def test_failed_handshake_finish(autojump_clock: trio.abc.Clock, nursery: trio.Nursery) -> None:
    sandbox = make_sandbox()
    pipe = await serve_pipe(nursery, sandbox)
    rng = random.Random(3).randbytes
    initiator = NoiseInitiator(
        static=curve.generate_key_pair(rng), ephemeral=curve.generate_key_pair(rng), root_public_key=sandbox.root_public_key
    )
    writer = FrameWriter()
    await pipe.send(writer.frame(initiator.client_hello()))
    server_hello = await pipe.receive()
    assert server_hello is not None
    finish = HandshakeMessage()
    finish.client_finish.static = rng(48)
    finish.client_finish.payload = rng(60)
    await pipe.send(writer.frame(finish.SerializeToString()))
    assert await pipe.receive() is None
    assert pipe.close_code == CLOSE_PROTOCOL_ERROR
    assert "authenticate" in (pipe.close_reason or "")
    await still_serves(nursery, sandbox)


async def test_payload_that_is_neither_login_nor_registration(autojump_clock: trio.abc.Clock, nursery: trio.Nursery) -> None:
    sandbox = make_sandbox()
    pipe = await serve_pipe(nursery, sandbox)
    companion = Companion(pipe, Keys.generate(1), root=sandbox.root_public_key)
    from waproto.proto import ClientPayload

    await companion.handshake(ClientPayload(passive=True))
    assert await companion.receive_node() is None
    assert pipe.close_code == CLOSE_PROTOCOL_ERROR


async def registered(nursery: trio.Nursery, sandbox: Sandbox, seed: int = 1) -> tuple[MemoryPipe, Companion]:
    pipe = await serve_pipe(nursery, sandbox)
    companion = Companion(pipe, Keys.generate(seed), root=sandbox.root_public_key)
    await companion.register()
    return pipe, companion


async def test_undecryptable_frame_after_handshake(autojump_clock: trio.abc.Clock, nursery: trio.Nursery) -> None:
    sandbox = make_sandbox()
    pipe, companion = await registered(nursery, sandbox)
    await pipe.send(companion.writer.frame(b"\x01" * 40))
    assert await companion.receive_node() is None
    assert pipe.close_code == CLOSE_PROTOCOL_ERROR
    assert "authenticate" in (pipe.close_reason or "")
    await still_serves(nursery, sandbox)


async def test_malformed_node_after_handshake(autojump_clock: trio.abc.Clock, nursery: trio.Nursery) -> None:
    sandbox = make_sandbox()
    pipe, companion = await registered(nursery, sandbox)
    assert companion.cipher is not None
    await pipe.send(companion.writer.frame(companion.cipher.encrypt(b"\x00\xf8\x09\x01")))
    assert await companion.receive_node() is None
    assert pipe.close_code == CLOSE_PROTOCOL_ERROR
    await still_serves(nursery, sandbox)


async def test_unknown_iq_gets_an_error_and_the_connection_stays(autojump_clock: trio.abc.Clock, nursery: trio.Nursery) -> None:
    sandbox = make_sandbox()
    pipe, companion = await registered(nursery, sandbox)
    await companion.send_node(Node("iq", {"id": "u1", "to": SERVER_JID, "type": "get", "xmlns": "no:such"}, [Node("thing")]))
    answer = await companion.receive_node()
    assert answer is not None
    assert answer.attrs["type"] == "error"
    assert answer.attrs["id"] == "u1"
    error = answer.child("error")
    assert error is not None
    assert error.attrs["code"] == "501"
    await companion.send_node(Node("iq", {"id": "p1", "to": SERVER_JID, "type": "get", "xmlns": "w:p"}, [Node("ping")]))
    pong = await companion.receive_node()
    assert pong is not None
    assert (pong.attrs["type"], pong.attrs["id"]) == ("result", "p1")
    assert pipe.close_code is None


async def test_iq_of_unknown_type_closes(autojump_clock: trio.abc.Clock, nursery: trio.Nursery) -> None:
    sandbox = make_sandbox()
    pipe, companion = await registered(nursery, sandbox)
    await companion.send_node(Node("iq", {"id": "x", "type": "bogus"}))
    assert await companion.receive_node() is None
    assert pipe.close_code == CLOSE_PROTOCOL_ERROR


async def test_a_handler_bug_closes_only_that_connection(autojump_clock: trio.abc.Clock, nursery: trio.Nursery) -> None:
    sandbox = make_sandbox()

    async def broken(connection: Connection, node: Node) -> None:
        raise RuntimeError("bug")

    sandbox.stanza_handlers["presence"] = broken
    other_pipe, other = await registered(nursery, sandbox, seed=2)
    pipe, companion = await registered(nursery, sandbox)
    await companion.send_node(Node("presence", {"type": "available"}))
    assert await companion.receive_node() is None
    assert pipe.close_code == CLOSE_INTERNAL_ERROR
    await other.send_node(Node("iq", {"id": "p", "type": "get", "xmlns": "w:p"}, [Node("ping")]))
    pong = await other.receive_node()
    assert pong is not None
    assert pong.attrs["type"] == "result"
    assert other_pipe.close_code is None


async def test_unhandled_stanzas_are_ignored(autojump_clock: trio.abc.Clock, nursery: trio.Nursery) -> None:
    sandbox = make_sandbox()
    _pipe, companion = await registered(nursery, sandbox)
    await companion.send_node(Node("presence", {"type": "available"}))
    await companion.send_node(Node("iq", {"id": "r", "type": "result"}))  # answers nothing we asked
    await companion.send_node(Node("iq", {"id": "p", "type": "get", "xmlns": "w:p"}, [Node("ping")]))
    pong = await companion.receive_node()
    assert pong is not None
    assert pong.attrs["id"] == "p"


async def test_first_stanza_waits_for_the_start_up_pause(autojump_clock: trio.abc.Clock, nursery: trio.Nursery) -> None:
    sandbox = make_sandbox()
    pipe = await serve_pipe(nursery, sandbox)
    companion = Companion(pipe, Keys.generate(1), root=sandbox.root_public_key)
    await companion.handshake(companion.registration_payload())
    start = trio.current_time()
    node = await companion.receive_node()
    assert node is not None
    assert node.child("pair-device") is not None
    assert trio.current_time() - start == pytest.approx(sandbox.first_stanza_delay)




async def test_a_peer_that_stops_reading_ends_quietly(
    autojump_clock: trio.abc.Clock, nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox = make_sandbox()
    pipe, companion = await registered(nursery, sandbox)
    pipe.to_client_receive.close()  # the client is gone: the server's next send fails
    await companion.send_node(Node("iq", {"id": "p", "type": "get", "xmlns": "w:p"}, [Node("ping")]))
    await wait_closed(sandbox)
    assert pipe.close_code == CLOSE_NORMAL
    assert pipe.close_reason == "the peer went away"
    assert "internal error" not in caplog.text
