"""A TCP stream for the client's websocket that yields to trio's scheduler only when it has to.

:class:`TcpStream` is a ``trio.abc.HalfCloseableStream`` over a non-blocking socket. trio's own
``SocketStream`` makes every ``receive_some`` and ``send_all`` a full scheduling point: even when the data is
already there (or the kernel takes the write at once) the calling task goes back through the run loop (an
``epoll_wait`` and a task switch), which is a large part of what a small stanza costs. Here a call that
completes at once returns at once; a call that must wait parks in ``trio.lowlevel.wait_readable`` /
``wait_writable`` as trio's does. So that one busy connection cannot starve other tasks, or miss a
cancellation, every :data:`YIELD_EVERY`-th call is a checkpoint *before* it touches the socket, so a
cancellation there loses no data (bytes already read are always returned).

:func:`open_tcp` connects with trio's ``open_tcp_stream`` (happy eyeballs, its errors) and takes the
connected socket over. TLS goes on top as before (``trio.SSLStream`` over this stream).

This module is not the websocket layer (``waproto.client.websocket``) and knows nothing of WhatsApp.
"""

from __future__ import annotations

import contextlib
import errno
import socket
from collections.abc import Awaitable, Callable
from typing import Final

import trio

__all__ = ["YIELD_EVERY", "TcpStream", "open_tcp"]

#: A call that completed without waiting is a checkpoint once in this many.
YIELD_EVERY: Final = 16
_RECEIVE_SIZE: Final = 1 << 16
_GONE: Final = frozenset({errno.EBADF, errno.ENOTSOCK})


class TcpStream(trio.abc.HalfCloseableStream):
    """A connected TCP socket as a trio stream (see the module docstring). One task at a time may receive
    and one may send (callers serialise: the websocket holds a lock for writing)."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        with contextlib.suppress(OSError):  # not TCP (a socketpair in tests): nothing to turn off
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._closed = False
        self._unyielded = 0

    async def _maybe_yield(self) -> None:
        """Every YIELD_EVERY-th call: a checkpoint, before the call does any I/O."""
        self._unyielded += 1
        if self._unyielded >= YIELD_EVERY:
            self._unyielded = 0
            await trio.lowlevel.checkpoint()

    def _check_open(self) -> None:
        if self._closed:
            raise trio.ClosedResourceError("the stream is closed")

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """Up to ``max_bytes`` bytes (64 KiB by default), ``b""`` at the end of the stream."""
        size = _RECEIVE_SIZE if max_bytes is None else max_bytes
        if size < 1:
            raise ValueError("max_bytes must be >= 1")
        await self._maybe_yield()
        while True:
            self._check_open()
            try:
                return self._sock.recv(size)
            except BlockingIOError:
                await self._wait(trio.lowlevel.wait_readable)
            except OSError as exc:
                raise self._broken(exc) from exc

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Write all of ``data``, waiting while the kernel's buffer is full."""
        await self._maybe_yield()
        with memoryview(data) as view:
            sent = 0
            total = len(view)
            while sent < total:
                self._check_open()
                try:
                    sent += self._sock.send(view[sent:])
                except BlockingIOError:
                    await self._wait(trio.lowlevel.wait_writable)
                except OSError as exc:
                    raise self._broken(exc) from exc

    async def wait_send_all_might_not_block(self) -> None:
        self._check_open()
        await self._wait(trio.lowlevel.wait_writable)

    async def send_eof(self) -> None:
        self._check_open()
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            raise self._broken(exc) from exc
        await trio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            trio.lowlevel.notify_closing(self._sock)  # wakes a task parked on it with ClosedResourceError
            self._sock.close()
        await trio.lowlevel.checkpoint()

    async def _wait(self, wait: Callable[[socket.socket], Awaitable[None]]) -> None:
        self._unyielded = 0
        try:
            await wait(self._sock)
        except trio.ClosedResourceError:
            raise
        except OSError as exc:
            raise self._broken(exc) from exc

    def _broken(self, exc: OSError) -> Exception:
        if self._closed or exc.errno in _GONE:
            return trio.ClosedResourceError("the stream is closed")
        return trio.BrokenResourceError(f"the connection broke: {exc!r}")


async def open_tcp(host: str | bytes, port: int) -> TcpStream:
    """Connect to ``host:port`` (trio's ``open_tcp_stream``: happy eyeballs, ``OSError`` when it cannot)."""
    stream = await trio.open_tcp_stream(host, port)
    tsock = stream.socket
    sock = socket.socket(tsock.family, tsock.type, tsock.proto, fileno=tsock.detach())
    return TcpStream(sock)
