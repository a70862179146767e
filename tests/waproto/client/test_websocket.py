"""waproto.client.websocket against a scripted websocket server on 127.0.0.1 (websockets' ServerProtocol).

The server side is a small trio handler over a real TCP socket: it checks the Origin header, then plays a
script (echo, fragmented messages, a ping, a close, an HTTP rejection). Real sockets, bounded waits.
"""

from __future__ import annotations

import contextlib
import functools
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import trio
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol

from waproto.client import TransportClosed, connect_websocket

Script = Callable[[trio.SocketStream, ServerProtocol], Awaitable[None]]


async def flush(stream: trio.SocketStream, proto: ServerProtocol) -> None:
    for chunk in proto.data_to_send():
        if chunk:
            await stream.send_all(chunk)
        elif isinstance(stream, trio.SocketStream):  # the server closes TCP after the closing handshake
            await stream.send_eof()
        else:
            await stream.aclose()


async def frames(stream: trio.SocketStream, proto: ServerProtocol) -> list[Frame]:
    """Read until the protocol yields at least one frame (or EOF)."""
    while True:
        data = await stream.receive_some(65536)
        if data:
            proto.receive_data(data)
        else:
            proto.receive_eof()
        got = [e for e in proto.events_received() if isinstance(e, Frame)]
        await flush(stream, proto)
        if got or not data:
            return got


async def serve(script: Script, headers_seen: list[str], stream: trio.SocketStream) -> None:
    proto = ServerProtocol()
    request: Request | None = None
    while request is None:
        proto.receive_data(await stream.receive_some(65536))
        request = next((e for e in proto.events_received() if isinstance(e, Request)), None)
    headers_seen.append(request.headers.get("Origin", ""))
    if request.path == "/reject":
        proto.send_response(proto.reject(403, "no"))
        await flush(stream, proto)
        await stream.aclose()
        return
    proto.send_response(proto.accept(request))
    await flush(stream, proto)
    await script(stream, proto)
    with trio.move_on_after(2), contextlib.suppress(trio.ClosedResourceError, trio.BrokenResourceError):
        while await frames(stream, proto):
            pass
    await stream.aclose()


async def start(nursery: trio.Nursery, script: Script) -> tuple[int, list[str]]:
    seen: list[str] = []
    listeners = await nursery.start(functools.partial(trio.serve_tcp, functools.partial(serve, script, seen), 0, host="127.0.0.1"))
    return listeners[0].socket.getsockname()[1], seen


async def echo(stream: trio.SocketStream, proto: ServerProtocol) -> None:
    for frame in await frames(stream, proto):
        if frame.opcode == Opcode.BINARY:
            proto.send_binary(frame.data)
    await flush(stream, proto)


async def test_binary_round_trip_with_origin(nursery: trio.Nursery) -> None:
    port, seen = await start(nursery, echo)
    with trio.fail_after(10):
        ws = await connect_websocket(f"ws://127.0.0.1:{port}/ws/chat", origin="https://web.whatsapp.com")
        await ws.send(b"\x00\x01hello")
        assert await ws.receive() == b"\x00\x01hello"
        await ws.aclose()
        await ws.aclose()  # idempotent
    assert seen == ["https://web.whatsapp.com"]
    with pytest.raises(TransportClosed):
        await ws.send(b"x")


async def fragments_then_ping_then_close(stream: trio.SocketStream, proto: ServerProtocol) -> None:
    proto.send_binary(b"ab", fin=False)
    proto.send_continuation(b"cd", fin=False)
    proto.send_continuation(b"ef", fin=True)
    proto.send_binary(b"second")
    proto.send_ping(b"p")
    await flush(stream, proto)
    pong = await frames(stream, proto)
    assert [f.opcode for f in pong] == [Opcode.PONG]
    proto.send_close(4000, "bye")
    await flush(stream, proto)


async def test_fragments_ping_and_server_close(nursery: trio.Nursery) -> None:
    port, _ = await start(nursery, fragments_then_ping_then_close)
    with trio.fail_after(10):
        ws = await connect_websocket(f"ws://127.0.0.1:{port}/ws/chat")
        assert await ws.receive() == b"abcdef"
        assert await ws.receive() == b"second"
        with pytest.raises(TransportClosed) as closed:
            await ws.receive()
        assert closed.value.code == 4000
        await ws.aclose()


async def three_messages_in_one_write(stream: trio.SocketStream, proto: ServerProtocol) -> None:
    await frames(stream, proto)  # the client's go-ahead
    proto.send_binary(b"one")
    proto.send_ping(b"p")
    proto.send_binary(b"two", fin=False)
    proto.send_continuation(b"+", fin=True)
    proto.send_binary(b"three")
    await stream.send_all(b"".join(proto.data_to_send()))
    pong = await frames(stream, proto)
    assert [f.opcode for f in pong] == [Opcode.PONG]
    proto.send_binary(b"four")
    await flush(stream, proto)


async def test_receive_many_joins_every_message_already_received(nursery: trio.Nursery) -> None:
    port, _ = await start(nursery, three_messages_in_one_write)
    with trio.fail_after(10):
        ws = await connect_websocket(f"ws://127.0.0.1:{port}/ws/chat")
        await ws.send(b"go")
        assert await ws.receive_many() == b"onetwo+three"  # one read brought all three (and the ping)
        assert await ws.receive_many() == b"four"  # sent after the pong arrived
        await ws.aclose()


async def test_send_many_writes_each_message_as_its_own_websocket_message_in_one_write(
    nursery: trio.Nursery,
) -> None:
    seen: list[list[bytes]] = []

    async def record(stream: trio.SocketStream, proto: ServerProtocol) -> None:
        got = await frames(stream, proto)  # one TCP read: what one socket write carried
        seen.append([bytes(f.data) for f in got if f.opcode == Opcode.BINARY])
        proto.send_binary(b"done")
        await flush(stream, proto)

    port, _ = await start(nursery, record)
    with trio.fail_after(10):
        ws = await connect_websocket(f"ws://127.0.0.1:{port}/ws/chat")
        await ws.send_many([b"frame one", b"frame two", b"three"])
        assert await ws.receive() == b"done"
        await ws.aclose()
    assert seen == [[b"frame one", b"frame two", b"three"]]


async def test_rejected_refused_and_bad_urls(nursery: trio.Nursery) -> None:
    port, _ = await start(nursery, echo)
    with trio.fail_after(10):
        with pytest.raises(TransportClosed, match="403"):
            await connect_websocket(f"ws://127.0.0.1:{port}/reject")
        with pytest.raises(TransportClosed, match="not a websocket URL"):
            await connect_websocket("http://127.0.0.1/")
        listener = trio.socket.socket()
        await listener.bind(("127.0.0.1", 0))
        free = listener.getsockname()[1]
        listener.close()
        with pytest.raises(TransportClosed, match="cannot connect"):
            await connect_websocket(f"ws://127.0.0.1:{free}/")


async def test_abrupt_eof(nursery: trio.Nursery) -> None:
    async def hang_up(stream: trio.SocketStream, proto: ServerProtocol) -> None:
        await stream.aclose()

    port, _ = await start(nursery, hang_up)
    with trio.fail_after(10):
        ws = await connect_websocket(f"ws://127.0.0.1:{port}/ws/chat")
        with pytest.raises(TransportClosed):
            await ws.receive()
        await ws.aclose()


async def test_wss_with_a_given_ca(nursery: trio.Nursery, tmp_path: Path) -> None:
    from waproto.sandbox.media.certs import ensure_tls_files

    tls = ensure_tls_files(tmp_path / "tls", ["localhost"])
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(tls.cert_file, tls.key_file)
    seen: list[str] = []

    async def handler(stream: trio.SocketStream) -> None:
        tls_stream = trio.SSLStream(stream, server_context, server_side=True, https_compatible=True)
        with contextlib.suppress(trio.BrokenResourceError):  # the client that does not trust us hangs up
            await serve(echo, seen, tls_stream)  # type: ignore[arg-type]

    listeners = await nursery.start(functools.partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
    port = listeners[0].socket.getsockname()[1]
    client_context = ssl.create_default_context(cafile=str(tls.ca_file))
    with trio.fail_after(10):
        ws = await connect_websocket(f"wss://localhost:{port}/ws/chat", origin="https://o", ssl_context=client_context)
        await ws.send(b"over tls")
        assert await ws.receive() == b"over tls"
        await ws.aclose()
        # Without the CA the certificate is refused.
        with pytest.raises(TransportClosed, match="handshake"):
            await connect_websocket(f"wss://localhost:{port}/ws/chat", ssl_context=ssl.create_default_context())
    assert seen == ["https://o"]


async def test_server_that_closes_but_keeps_the_socket(nursery: trio.Nursery) -> None:
    async def close_and_linger(stream: trio.SocketStream, proto: ServerProtocol) -> None:
        proto.send_close(1001, "going away")
        for chunk in proto.data_to_send():
            if chunk:
                await stream.send_all(chunk)
        await trio.sleep(30)  # never ends the TCP stream

    port, _ = await start(nursery, close_and_linger)
    with trio.fail_after(10):
        ws = await connect_websocket(f"ws://127.0.0.1:{port}/ws/chat", close_timeout=0.2)
        with pytest.raises(TransportClosed) as closed:
            await ws.receive()
        assert closed.value.code == 1001
        await ws.aclose()
    nursery.cancel_scope.cancel()
