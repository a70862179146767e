"""A fake WhatsApp network for client tests: transports made of memory channels, a scripted server per
connection (``tests.waproto.fake_wa.FakeServer`` does the Noise and framing). Test infrastructure only.

``FakeNetwork.open`` is a ``TransportFactory``: each call is one connection; the test gets its server side
with ``await network.accept()`` and drives it (``send``, ``expect``, ``answer``, ``close``).
"""

from __future__ import annotations

import trio

from tests.waproto.fake_wa import FakeServer
from waproto.binary import Node
from waproto.client import ClientSettings, Transport, TransportClosed
from waproto.jid import SERVER_JID
from waproto.proto import ClientPayload


class ServerSide:
    """The server's end of one fake connection."""

    def __init__(self, seed: int) -> None:
        self.fake = FakeServer(seed)
        self.to_client_send, self.to_client = trio.open_memory_channel[bytes](1000)
        self.stanza_send, self.stanzas = trio.open_memory_channel[Node](1000)
        self.client_closed = False
        self.handshake_done = trio.Event()
        #: How many stanzas each socket write (``send_many``) of the client carried, in order.
        self.writes: list[int] = []
        #: While set, the client's next transport ``send`` waits until the event is set.
        self.hold: trio.Event | None = None
        #: Raise ``TransportClosed`` from the next ``send`` (after ``hold``).
        self.fail_next_send = False

    @property
    def payload(self) -> ClientPayload:
        assert self.fake.payload is not None
        return self.fake.payload

    async def send(self, *nodes: Node) -> None:
        await self.to_client_send.send(b"".join(self.fake.send(node) for node in nodes))

    async def expect(self, tag: str | None = None) -> Node:
        """The next stanza the client sent (skipping acks unless asked for)."""
        while True:
            node = await self.stanzas.receive()
            if tag is None or node.tag == tag:
                return node

    async def expect_iq(self, xmlns: str) -> Node:
        while True:
            node = await self.expect("iq")
            if node.attrs.get("xmlns") == xmlns:
                return node

    async def answer(self, iq: Node, children: list[Node] | None = None, *, error: int | None = None) -> None:
        attrs = {"from": SERVER_JID, "id": str(iq.attrs["id"]), "type": "result" if error is None else "error"}
        content = children if error is None else [Node("error", {"code": str(error), "text": "x"})]
        await self.send(Node("iq", attrs, content))

    def close(self) -> None:
        self.to_client_send.close()


class FakeTransport:
    def __init__(self, side: ServerSide) -> None:
        self.side = side

    async def send(self, data: bytes) -> None:
        await self.send_many([data])

    async def send_many(self, messages: list[bytes]) -> None:
        """One socket write of websocket messages; each must hold at most one WhatsApp frame."""
        side = self.side
        if side.hold is not None:
            await side.hold.wait()
        if side.client_closed:
            raise TransportClosed("closed")
        if side.fail_next_send:
            side.fail_next_send = False
            raise TransportClosed("broke while writing")
        before = len(side.fake.received)
        for data in messages:
            start = len(side.fake.received)
            reply = side.fake.receive(data)
            if len(side.fake.received) - start > 1:
                raise AssertionError("one websocket message carried several WhatsApp frames")
            if reply:
                side.to_client_send.send_nowait(reply)
        if side.fake.payload is not None:
            side.handshake_done.set()
        if len(side.fake.received) > before:
            side.writes.append(len(side.fake.received) - before)
        for node in side.fake.received[before:]:
            side.stanza_send.send_nowait(node)

    async def receive(self) -> bytes:
        try:
            return await self.side.to_client.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError) as exc:
            raise TransportClosed("closed by the server", code=1000) from exc

    async def aclose(self) -> None:
        self.side.client_closed = True
        self.side.to_client.close()


class FakeNetwork:
    """Connections the client opens; ``refuse`` makes the next N attempts fail."""

    def __init__(self) -> None:
        self.accept_send, self.accepted = trio.open_memory_channel[ServerSide](100)
        self.refuse = 0
        self.attempts = 0

    async def open(self, settings: ClientSettings) -> Transport:
        self.attempts += 1
        if self.refuse:
            self.refuse -= 1
            raise TransportClosed("connection refused")
        side = ServerSide(self.attempts)
        await self.accept_send.send(side)
        return FakeTransport(side)

    async def accept(self) -> ServerSide:
        side = await self.accepted.receive()
        await side.handshake_done.wait()
        return side
