"""A binary websocket client over trio streams, on websockets' Sans-I/O ``ClientProtocol`` (STACK.md §3).

:func:`connect_websocket` opens a TCP stream (``waproto.client.tcp``: no scheduling point for a read or
write that completes at once; TLS for ``wss://`` on top, with the given or the default SSL context), performs the opening handshake with an ``Origin`` header (and any extra headers), and returns a
:class:`WebSocket`: ``await ws.send(data)`` sends one binary message, ``await ws.receive()`` returns the
next message (fragmented messages reassembled), ``await ws.receive_many()`` every message already
received, joined (for a reader whose framing re-splits them, as WhatsApp's does), ``await ws.aclose()`` closes cleanly (close frame, then
reading until the server's close or EOF, bounded in time). A closed or broken socket raises
:class:`TransportClosed` (with the close code when there was one). Pings from the server are answered by
the protocol object; this layer sends none (WhatsApp's keepalive is an iq, ``waproto.client.client``).

Exactly one task may call :meth:`WebSocket.receive` (or ``receive_many``) at a time; any task may call
:meth:`WebSocket.send` (a lock keeps writes whole and in order; one message is one socket write). This module is not WhatsApp's framing or encryption: messages
are opaque bytes here.
"""

from __future__ import annotations

import collections
import ssl
from collections.abc import Mapping
from typing import Final

import trio
from websockets.client import ClientProtocol
from websockets.exceptions import InvalidHandshake, InvalidURI
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.typing import Origin
from websockets.uri import parse_uri

from waproto.client.locks import QuickLock
from waproto.client.tcp import open_tcp

__all__ = ["MAX_MESSAGE_SIZE", "TransportClosed", "WebSocket", "connect_websocket"]

#: The largest message accepted: a WhatsApp frame is at most 16 MiB, and a message may hold several.
MAX_MESSAGE_SIZE: Final = 32 << 20
#: Seconds :meth:`WebSocket.aclose` waits for the server's side of the close.
CLOSE_TIMEOUT: Final = 2.0

_READ_SIZE: Final = 1 << 16


class TransportClosed(Exception):
    """The websocket is closed or broken: ``code`` is the close code when the server sent one."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        #: The websocket close code, when a close frame was received.
        self.code = code


class WebSocket:
    """An open client websocket; see the module docstring. Made by :func:`connect_websocket`."""

    def __init__(self, stream: trio.abc.Stream, protocol: ClientProtocol, *, close_timeout: float = CLOSE_TIMEOUT) -> None:
        self._stream = stream
        self._close_timeout = close_timeout
        self._protocol = protocol
        self._send_lock = QuickLock()
        self._messages: collections.deque[bytes] = collections.deque()
        self._fragments: list[bytes] = []
        #: No more reading: the stream ended, broke, or the closing handshake is over.
        self._closed = False
        #: aclose() ran (the stream is closed).
        self._released = False

    async def send(self, data: bytes) -> None:
        """Send one binary message. ``TransportClosed`` if the socket is closed or the write fails."""
        async with self._send_lock:
            if self._protocol.state is not State.OPEN:
                raise TransportClosed("the websocket is not open", code=self._close_code())
            self._protocol.send_binary(data)
            await self._flush()

    async def send_many(self, messages: list[bytes]) -> None:
        """Send each of ``messages`` as one binary message, all in one socket write. ``TransportClosed`` as
        :meth:`send`."""
        async with self._send_lock:
            if self._protocol.state is not State.OPEN:
                raise TransportClosed("the websocket is not open", code=self._close_code())
            for data in messages:
                self._protocol.send_binary(data)
            await self._flush()

    async def receive(self) -> bytes:
        """The next message (binary or text as bytes). ``TransportClosed`` once the socket is closed."""
        while not self._messages:
            protocol = self._protocol
            if protocol.state is State.CLOSED or self._closed:
                raise TransportClosed("the websocket is closed", code=self._close_code())
            if protocol.state is State.CLOSING:
                # The closing handshake is under way: wait (bounded) for the server to end the stream.
                with trio.move_on_after(self._close_timeout):
                    while not self._closed and self._state() is not State.CLOSED:
                        await self._read_some()
                self._closed = True
                raise TransportClosed("the websocket is closed", code=self._close_code())
            await self._read_some()
        return self._messages.popleft()

    async def receive_many(self) -> bytes:
        """Every message received but not yet returned, joined (waiting for one as :meth:`receive` does).
        ``TransportClosed`` once the socket is closed and nothing is left."""
        first = await self.receive()
        messages = self._messages
        if not messages:
            return first
        data = b"".join((first, *messages))
        messages.clear()
        return data

    def _state(self) -> State:
        return self._protocol.state

    def _close_code(self) -> int | None:
        received = self._protocol.close_rcvd
        return None if received is None else int(received.code)

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Close: send a close frame, wait (bounded) for the server's, close the stream. Idempotent."""
        if self._released:
            return
        self._released = True
        with trio.CancelScope(shield=True):
            try:
                async with self._send_lock:
                    if self._protocol.state is State.OPEN:
                        self._protocol.send_close(code, reason)
                        await self._flush()
                with trio.move_on_after(self._close_timeout):
                    while self._protocol.state is not State.CLOSED and not self._closed:
                        await self._read_some()
            except TransportClosed:
                pass
            finally:
                self._closed = True
                await self._stream.aclose()

    async def _read_some(self) -> None:
        try:
            data = await self._stream.receive_some(_READ_SIZE)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            self._closed = True
            raise TransportClosed(f"the connection broke: {exc!r}") from exc
        if data:
            self._protocol.receive_data(data)
        else:
            self._protocol.receive_eof()
        for event in self._protocol.events_received():
            if isinstance(event, Frame):
                self._on_frame(event)
        pending = self._protocol.data_to_send()  # pongs and close replies the protocol queued
        if pending:
            async with self._send_lock:
                await self._write(pending)
        if not data and self._protocol.state is not State.CLOSED:
            self._closed = True

    def _on_frame(self, frame: Frame) -> None:
        if frame.opcode in (Opcode.BINARY, Opcode.TEXT, Opcode.CONT):
            self._fragments.append(bytes(frame.data))
            if frame.fin:
                self._messages.append(b"".join(self._fragments))
                self._fragments.clear()

    async def _flush(self) -> None:
        await self._write(self._protocol.data_to_send())

    async def _write(self, chunks: list[bytes]) -> None:
        """Write the protocol's output: the bytes before an end-of-stream marker (``b""``) in one write."""
        try:
            while chunks:
                end = chunks.index(b"") if b"" in chunks else len(chunks)
                data = chunks[0] if end == 1 else b"".join(chunks[:end])
                if data:
                    await self._stream.send_all(data)
                if end < len(chunks) and isinstance(self._stream, trio.abc.HalfCloseableStream):
                    await self._stream.send_eof()
                chunks = chunks[end + 1 :]
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            self._closed = True
            raise TransportClosed(f"the connection broke: {exc!r}") from exc


async def connect_websocket(
    url: str,
    *,
    origin: str | None = None,
    headers: Mapping[str, str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
    max_size: int = MAX_MESSAGE_SIZE,
    close_timeout: float = CLOSE_TIMEOUT,
) -> WebSocket:
    """Open a websocket to ``url`` (``ws://`` or ``wss://``). ``TransportClosed`` when it cannot be opened
    (connection refused, TLS failure, a rejected handshake: the message says which). ``close_timeout``
    bounds the wait for the server's side of a closing handshake."""
    try:
        uri = parse_uri(url)
    except InvalidURI as exc:
        raise TransportClosed(f"not a websocket URL: {url!r}") from exc
    try:
        tcp = await open_tcp(uri.host, uri.port)
    except OSError as exc:
        raise TransportClosed(f"cannot connect to {uri.host}:{uri.port}: {exc}") from exc
    stream: trio.abc.Stream = tcp
    try:
        if uri.secure:
            context = ssl_context if ssl_context is not None else ssl.create_default_context()
            tls = trio.SSLStream(tcp, context, server_hostname=uri.host, https_compatible=True)
            await tls.do_handshake()
            stream = tls
        protocol = ClientProtocol(uri, origin=None if origin is None else Origin(origin), max_size=max_size)
        socket = WebSocket(stream, protocol, close_timeout=close_timeout)
        request = protocol.connect()
        for key, value in (headers or {}).items():
            request.headers[key] = value
        protocol.send_request(request)
        await socket._flush()
        await _await_response(socket, protocol)
    except BaseException as exc:
        await trio.aclose_forcefully(stream)
        if isinstance(exc, trio.BrokenResourceError | OSError):
            raise TransportClosed(f"the websocket handshake with {uri.host} failed: {exc!r}") from exc
        raise
    return socket


async def _await_response(socket: WebSocket, protocol: ClientProtocol) -> None:
    while True:
        try:
            data = await socket._stream.receive_some(_READ_SIZE)
        except (trio.BrokenResourceError, OSError) as exc:
            raise TransportClosed(f"the connection broke during the websocket handshake: {exc!r}") from exc
        if data:
            protocol.receive_data(data)
        else:
            protocol.receive_eof()
        answered = False
        for event in protocol.events_received():
            if isinstance(event, Response):
                answered = True
            elif isinstance(event, Frame):  # messages that came in the same read as the response
                socket._on_frame(event)
        if protocol.handshake_exc is not None:
            raise _rejected(protocol.handshake_exc) from protocol.handshake_exc
        if answered:
            return
        if not data:
            raise TransportClosed("the server closed during the websocket handshake")


def _rejected(exc: Exception) -> TransportClosed:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    what = f"HTTP {status}" if status is not None else type(exc).__name__
    kind = "rejected" if isinstance(exc, InvalidHandshake) else "failed"
    return TransportClosed(f"the websocket handshake was {kind} ({what})")
