"""One client connection to the sandbox: Noise responder, frames, stanza dispatch, stream errors, closing.

:meth:`Connection.run` drives a connection over a :class:`Transport` (the websocket) from the first byte to
the close:

1. the Noise XX handshake as responder (``waproto.noise``) within ``handshake_timeout`` seconds, with the
   client's intro header and 3-byte frames;
2. the ClientPayload decides: a registration (no username) is handed to the linker, which offers QR refs;
   a login (username and device) is checked by the linker, which answers ``<success>`` or ``<failure>``.
   The first stanza waits ``first_stanza_delay`` seconds (PROTOCOL.md §12.10: Baileys 6 drops a stanza
   that arrives before it installed its transport keys), on the trio clock;
3. then every frame is decrypted, decoded and dispatched: ``iq`` get/set to the sandbox's
   :class:`~waproto.sandbox.iqs.IqTable`; ``iq`` result/error to whoever awaits it (:meth:`Connection.request`);
   any other stanza to the handler the sandbox registered for its tag (unhandled ones are logged).

A connection that breaks the protocol (bad intro, bad frame, failed handshake, undecryptable frame,
malformed node, a text websocket message) is closed with a logged reason; nothing it sends can raise out of
:meth:`run`. An unexpected exception in a handler is logged with its traceback and closes this connection
only. :meth:`close` and :meth:`stream_error` may be called from other tasks (the control API).

This module is not the linking protocol (``linking``), the IQ answers (``iqs``) or the websocket server
(``server``): a :class:`Transport` is anything that can receive and send binary messages and close.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from typing import TYPE_CHECKING, Final, Protocol

import trio

from waproto.binary import Node, marshal, unmarshal
from waproto.client.locks import QuickLock
from waproto.errors import DecodeError, RemoteProtocolError, WAProtoError
from waproto.jid import JID
from waproto.noise import FrameReader, FrameWriter, NoiseResponder, TransportCipher
from waproto.proto import ClientPayload, decode
from waproto.signal import curve

if TYPE_CHECKING:
    from waproto.sandbox.server import Sandbox
    from waproto.sandbox.state import AccountState, Companion

__all__ = ["CLOSE_NORMAL", "CLOSE_PROTOCOL_ERROR", "Connection", "ConnectionClosed", "Transport"]

log = logging.getLogger(__name__)

#: Websocket close code after a stream error or a deliberate close.
CLOSE_NORMAL: Final = 1000
#: Websocket close code for a client that broke the protocol.
CLOSE_PROTOCOL_ERROR: Final = 1002
#: Websocket close code for a failure of the sandbox itself (a bug; logged with a traceback).
CLOSE_INTERNAL_ERROR: Final = 1011

_serial = itertools.count(1)


class Transport(Protocol):
    """A websocket as the connection sees it."""

    async def receive(self) -> bytes | None:
        """The next binary message; None when the peer closed. Raises ``DecodeError`` for a text message."""

    async def send(self, data: bytes) -> None:
        """Send one binary message; ``ConnectionClosed`` (or a trio stream error) once the peer is gone."""

    async def close(self, code: int, reason: str) -> None:
        """Close the websocket (idempotent)."""


class ConnectionClosed(Exception):
    """The connection is closed (raised to waiters, e.g. of :meth:`Connection.request`)."""


class Connection:
    """One client's connection; see the module docstring."""

    def __init__(self, sandbox: Sandbox, transport: Transport, *, peer: str = "?") -> None:
        self.sandbox = sandbox
        self.transport = transport
        #: A short name for logs: ``conn#<n> <peer>`` and, once known, the device.
        self.name = f"conn#{next(_serial)} {peer}"
        #: The client's Noise static key, once the handshake is done.
        self.client_static: bytes | None = None
        #: The client's ``ClientPayload``, once the handshake is done.
        self.payload: ClientPayload | None = None
        #: The logged-in device (phone-number device JID), None before login or while registering.
        self.device: JID | None = None
        #: Whether the client sent ``<passive><active/>``.
        self.active = False
        #: Why it was closed, once it is.
        self.close_reason: str | None = None
        self._cipher: TransportCipher | None = None
        self._reader = FrameReader(expect_intro=True)
        self._writer = FrameWriter(intro=b"")
        self._frames: list[bytes] = []
        self._send_lock = QuickLock()
        self._waiters: dict[str, trio.MemorySendChannel[Node]] = {}
        self._scope: trio.CancelScope | None = None
        self._closed = trio.Event()
        self._peer_gone = trio.Event()

    # ----------------------------------------------------------------- views

    @property
    def closed(self) -> bool:
        """Whether the connection is closed (or closing)."""
        return self.close_reason is not None

    @property
    def account(self) -> AccountState | None:
        """The logged-in device's account."""
        return None if self.device is None else self.sandbox.network.account_of(self.device)

    @property
    def companion(self) -> Companion | None:
        """The logged-in companion's record in the network."""
        return None if self.device is None else self.sandbox.network.companion(self.device)

    async def wait_closed(self) -> None:
        """Return once :meth:`run` has finished."""
        await self._closed.wait()

    # ----------------------------------------------------------------- life

    async def run(self) -> None:
        """Serve the connection until it closes; never raises (except cancellation)."""
        try:
            with trio.CancelScope() as self._scope:
                await self._serve()
        except (ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError):
            await self._shut("the peer went away", CLOSE_NORMAL)
        except RemoteProtocolError as exc:
            await self._shut(f"protocol error: {exc}", CLOSE_PROTOCOL_ERROR)
        except WAProtoError as exc:
            await self._shut(f"refused: {exc}", CLOSE_PROTOCOL_ERROR)
        except Exception as exc:
            log.exception("%s: internal error", self.name)
            await self._shut(f"internal error: {type(exc).__name__}", CLOSE_INTERNAL_ERROR)
        finally:
            if self.close_reason is None:
                self.close_reason = "closed"
            for channel in self._waiters.values():
                channel.close()
            self._waiters.clear()
            self.sandbox.forget(self)
            self._peer_gone.set()
            self._closed.set()

    async def _serve(self) -> None:
        sandbox = self.sandbox
        with trio.move_on_after(sandbox.handshake_timeout) as timer:
            payload = await self._handshake()
        if timer.cancelled_caught:
            await self._shut("no complete handshake in time", CLOSE_PROTOCOL_ERROR)
            return
        if payload is None:
            await self._shut("peer closed during the handshake", CLOSE_NORMAL)
            return
        self.payload = payload
        await trio.sleep(sandbox.first_stanza_delay)
        if payload.HasField("username"):
            await sandbox.linker.login(self, payload)
        elif payload.HasField("device_pairing_data"):
            await sandbox.linker.start_registration(self, payload)
        else:
            raise DecodeError("the ClientPayload is neither a login nor a registration")
        while not self.closed:
            frame = await self._next_frame()
            if frame is None:
                await self._shut("peer closed", CLOSE_NORMAL)
                return
            assert self._cipher is not None
            await self._dispatch(unmarshal(self._cipher.decrypt(frame)))

    async def _next_frame(self) -> bytes | None:
        while not self._frames:
            data = await self.transport.receive()
            if data is None:
                self._peer_gone.set()
                return None
            self._frames.extend(self._reader.receive_data(data))
        return self._frames.pop(0)

    async def _handshake(self) -> ClientPayload | None:
        sandbox = self.sandbox
        responder = NoiseResponder(
            static=sandbox.network.server_static,
            ephemeral=curve.generate_key_pair(sandbox.rng),
            cert_chain=sandbox.cert_chain,
        )
        hello = await self._next_frame()
        if hello is None:
            return None
        responder.receive_client_hello(hello)
        await self.transport.send(self._writer.frame(responder.server_hello()))
        finish = await self._next_frame()
        if finish is None:
            return None
        payload = decode(ClientPayload, responder.receive_client_finish(finish))
        self._cipher = responder.transport
        self.client_static = responder.client_static
        return payload

    async def _dispatch(self, node: Node) -> None:
        if node.tag == "iq":
            kind = node.attrs.get("type")
            if kind in ("result", "error"):
                channel = self._waiters.pop(str(node.attrs.get("id", "")), None)
                if channel is not None:
                    channel.send_nowait(node)
                return
            if kind in ("get", "set"):
                answer = await self.sandbox.iqs.answer(self, node)
                if answer is not None and not self.closed:
                    await self.send_node(answer)
                return
            raise DecodeError(f"an iq of type {kind!r}", node=node)
        handler = self.sandbox.stanza_handlers.get(node.tag)
        if handler is None:
            log.debug("%s: unhandled <%s>", self.name, node.tag)
            return
        await handler(self, node)

    # ----------------------------------------------------------------- sending and closing

    async def send_node(self, node: Node) -> None:
        """Encrypt and send one stanza. ``ConnectionClosed`` if the connection is closed."""
        if self._cipher is None or self.closed:
            raise ConnectionClosed(self.name)
        async with self._send_lock:
            await self.transport.send(self._writer.frame(self._cipher.encrypt(marshal(node))))

    async def request(self, node: Node, *, patience: float) -> Node:
        """Send a server iq and wait for the client's result or error (``TooSlowError`` after ``patience`` s)."""
        iq_id = str(node.attrs["id"])
        send, receive = trio.open_memory_channel[Node](1)
        self._waiters[iq_id] = send
        try:
            await self.send_node(node)
            with trio.fail_after(patience):
                try:
                    return await receive.receive()
                except trio.EndOfChannel as exc:
                    raise ConnectionClosed(self.name) from exc
        finally:
            self._waiters.pop(iq_id, None)

    async def stream_error(self, code: str | None, children: list[Node] | None = None, *, reason: str) -> None:
        """Send ``<stream:error code=…>children</stream:error>`` and close (see :meth:`send_last`)."""
        attrs = {} if code is None else {"code": code}
        await self.send_last(Node("stream:error", dict(attrs), children or []), reason=reason)

    async def send_last(self, node: Node, *, reason: str) -> None:
        """Send ``node`` (a stream error, a login failure) and close.

        The client is given ``sandbox.close_grace`` seconds to read it and close first: Baileys reports a
        plain "connection closed" (428) if the socket closes before it has handled the stanza.
        """
        if not self.closed:
            with contextlib.suppress(ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError):
                await self.send_node(node)
            with trio.move_on_after(self.sandbox.close_grace):
                await self._peer_gone.wait()
        await self.close(reason)

    async def close(self, reason: str, code: int = CLOSE_NORMAL) -> None:
        """Close the websocket with ``reason`` logged; :meth:`run` then ends. Idempotent."""
        await self._shut(reason, code)
        if self._scope is not None:
            self._scope.cancel()

    async def _shut(self, reason: str, code: int) -> None:
        if self.close_reason is not None:
            return
        self.close_reason = reason
        self.sandbox.forget(self)
        level = logging.WARNING if code != CLOSE_NORMAL else logging.INFO
        log.log(level, "%s: closing (%s)", self.name, reason)
        with trio.CancelScope(shield=True), trio.move_on_after(2):
            try:
                await self.transport.close(code, reason[:120])
            except Exception as exc:  # the peer may be gone already
                log.debug("%s: close failed: %r", self.name, exc)
