"""waporta.sessions.transport: every send waits for the flush; a flush that fails closes the connection."""

from __future__ import annotations

import sqlite3

import pytest
import trio

from waporta.sessions.transport import CommittingTransport, committing_transport
from waproto.client import ClientSettings, TransportClosed


class FakeTransport:
    """Records what is sent and whether it is closed; ``receive`` hands out ``inbox``."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.inbox = [b"one", b"two"]
        self.closed = False

    async def send(self, data: bytes) -> None:
        self.log.append(f"send {data.decode()}")

    async def receive(self) -> bytes:
        return self.inbox.pop(0)

    async def aclose(self) -> None:
        self.closed = True


class BatchingTransport(FakeTransport):
    async def send_many(self, messages: list[bytes]) -> None:
        self.log.append("send_many " + ",".join(m.decode() for m in messages))

    async def receive_many(self) -> bytes:
        joined = b"".join(self.inbox)
        self.inbox.clear()
        return joined


def settings() -> ClientSettings:
    return ClientSettings(url="ws://127.0.0.1:1/ws/chat", noise_root_public_key=bytes(32))


async def test_each_send_waits_for_the_flush_first() -> None:
    log: list[str] = []

    async def flush() -> None:
        await trio.lowlevel.checkpoint()
        log.append("flush")

    inner = FakeTransport(log)

    async def factory(_: ClientSettings) -> FakeTransport:
        return inner

    transport = await committing_transport(factory, flush)(settings())
    assert isinstance(transport, CommittingTransport)
    await transport.send(b"a")
    await transport.send_many([b"b", b"c"])  # type: ignore[attr-defined]
    assert log == ["flush", "send a", "flush", "send b", "send c"]
    # Without receive_many on the inner transport, one message at a time.
    assert await transport.receive_many() == b"one"  # type: ignore[attr-defined]
    assert await transport.receive() == b"two"
    await transport.aclose()
    assert inner.closed


async def test_send_many_and_receive_many_pass_through() -> None:
    log: list[str] = []

    async def flush() -> None:
        log.append("flush")

    transport = CommittingTransport(BatchingTransport(log), flush)
    await transport.send_many([b"x", b"y"])
    assert log == ["flush", "send_many x,y"]
    assert await transport.receive_many() == b"onetwo"


async def test_a_failing_flush_sends_nothing_and_closes_the_connection() -> None:
    log: list[str] = []

    async def flush() -> None:
        raise sqlite3.OperationalError("disk I/O error")

    inner = FakeTransport(log)
    transport = CommittingTransport(inner, flush)
    with pytest.raises(TransportClosed, match="could not be committed") as caught:
        await transport.send(b"a")
    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
    assert log == []
    assert inner.closed


async def test_a_cancelled_flush_closes_the_connection_and_stays_cancelled(autojump_clock: trio.abc.Clock) -> None:
    log: list[str] = []

    async def flush() -> None:
        await trio.sleep_forever()

    inner = FakeTransport(log)
    transport = CommittingTransport(inner, flush)
    with trio.move_on_after(1) as scope:
        await transport.send(b"a")
    assert scope.cancelled_caught
    assert log == []
    assert inner.closed
