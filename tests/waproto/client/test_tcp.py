"""waproto.client.tcp over real loopback sockets: data both ways (a large write that must wait for the
reader), end of stream and half-close, closing (also under a parked reader), a reset peer, refused
connections, and the promise that a stream whose calls never wait still lets other tasks run and is
cancellable within YIELD_EVERY calls."""

from __future__ import annotations

import functools
import socket

import pytest
import trio

from waproto.client.tcp import YIELD_EVERY, TcpStream, open_tcp


async def listen(nursery: trio.Nursery) -> tuple[int, trio.MemoryReceiveChannel[trio.SocketStream]]:
    """A listener on 127.0.0.1 handing each accepted stream to the returned channel."""
    send, receive = trio.open_memory_channel[trio.SocketStream](4)

    async def handler(stream: trio.SocketStream) -> None:
        await send.send(stream)
        await trio.sleep_forever()

    listeners = await nursery.start(functools.partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
    return listeners[0].socket.getsockname()[1], receive


async def test_round_trip_large_write_and_end_of_stream(nursery: trio.Nursery) -> None:
    port, accepted = await listen(nursery)
    client = await open_tcp("127.0.0.1", port)
    server = await accepted.receive()
    await client.send_all(b"hello")
    assert await server.receive_some(100) == b"hello"
    await server.send_all(b"world")
    assert await client.receive_some() == b"world"

    big = bytes(range(256)) * (32 * 1024)  # 8 MiB: more than the socket buffers hold

    async def read_all() -> bytes:
        got = bytearray()
        while len(got) < len(big):
            got += await server.receive_some(1 << 16)
            await trio.lowlevel.checkpoint()
        return bytes(got)

    async with trio.open_nursery() as inner:
        results: list[bytes] = []

        async def reader() -> None:
            results.append(await read_all())

        inner.start_soon(reader)
        await client.send_all(big)
    assert results == [big]

    await client.send_eof()  # half-close: the peer sees the end, and can still answer
    assert await server.receive_some(10) == b""
    await server.send_all(b"bye")
    await server.send_eof()
    assert await client.receive_some() == b"bye"
    assert await client.receive_some() == b""
    await client.aclose()
    await client.aclose()  # idempotent
    with pytest.raises(trio.ClosedResourceError):
        await client.receive_some()
    with pytest.raises(trio.ClosedResourceError):
        await client.send_all(b"x")


async def test_closing_wakes_a_parked_reader(nursery: trio.Nursery) -> None:
    port, accepted = await listen(nursery)
    client = await open_tcp("127.0.0.1", port)
    await accepted.receive()
    errors: list[BaseException] = []

    async def parked() -> None:
        try:
            await client.receive_some()
        except trio.ClosedResourceError as exc:
            errors.append(exc)

    with trio.fail_after(5):  # real sockets: bounded, so a reader left parked fails instead of hanging
        async with trio.open_nursery() as inner:
            inner.start_soon(parked)
            await trio.testing.wait_all_tasks_blocked()
            await client.aclose()
    assert len(errors) == 1


async def test_a_reset_peer_is_a_broken_resource(nursery: trio.Nursery) -> None:
    port, accepted = await listen(nursery)
    client = await open_tcp("127.0.0.1", port)
    server = await accepted.receive()
    server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    await server.aclose()  # linger 0: the close is an RST

    async def exchange() -> None:
        for _ in range(100):
            await client.send_all(b"x" * 1000)
            await client.receive_some()

    with pytest.raises(trio.BrokenResourceError):
        await exchange()
    await client.aclose()


async def test_refused_connection_raises_oserror() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    with pytest.raises(OSError):
        await open_tcp("127.0.0.1", port)


def socket_pair() -> tuple[TcpStream, socket.socket]:
    a, b = socket.socketpair()
    return TcpStream(a), b


async def test_calls_that_never_wait_still_let_other_tasks_run() -> None:
    stream, peer = socket_pair()
    peer.sendall(b"x" * 200_000)  # always something to read in the loop below
    ticks = 0

    async def other() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(other)
        await trio.lowlevel.checkpoint()
        before = ticks
        for _ in range(YIELD_EVERY * 8):
            assert await stream.receive_some(1)
        assert ticks - before >= 7  # a checkpoint every YIELD_EVERY calls: the other task runs after each
        nursery.cancel_scope.cancel()
    await stream.aclose()
    peer.close()


async def test_calls_that_never_wait_are_cancellable() -> None:
    stream, peer = socket_pair()
    peer.sendall(b"x" * 10_000)
    calls = 0
    with trio.CancelScope() as scope:
        scope.cancel()
        while True:
            await stream.receive_some(1)
            calls += 1
    assert scope.cancelled_caught
    assert calls < YIELD_EVERY
    await stream.aclose()
    peer.close()


async def test_receive_some_refuses_a_zero_size() -> None:
    stream, peer = socket_pair()
    with pytest.raises(ValueError, match="max_bytes"):
        await stream.receive_some(0)
    await stream.aclose()
    peer.close()


async def test_a_cancellation_loses_no_data() -> None:
    stream, peer = socket_pair()
    sent = bytes(range(200))
    peer.sendall(sent)
    got = bytearray()
    with trio.CancelScope() as scope:
        scope.cancel()
        while True:
            got += await stream.receive_some(1)
    assert scope.cancelled_caught
    with trio.move_on_after(5):  # real sockets: a lost byte would leave this waiting
        while len(got) < len(sent):
            got += await stream.receive_some()
    assert bytes(got) == sent  # nothing read was dropped at the checkpoint
    await stream.aclose()
    peer.close()
