"""A hub session's transport: waproto's websocket (or a test's transport) that commits first.

:func:`committing_transport` wraps a ``TransportFactory`` so that every transport it opens awaits a
``flush`` (the session's :meth:`~waporta.sessions.stores.SessionSignalStore.flush`) before it sends
anything. That is what lets ``Sessions.send`` keep the Signal session records of a send pending in memory
(``deferring_session_writes``) and still honour the hub's rule that state is committed before it is
relied on: no byte encrypted with a record leaves before the record is in SQLite. When nothing is
pending the flush returns at once, so the other stanzas pay nothing.

A flush that fails (a full disk) closes the underlying transport and raises ``TransportClosed``: the
frame that was to go out is dropped with its connection (its Noise counter is spent), the client
reconnects as after any broken connection, a send in progress fails as ``SessionUnavailable``, and the
records stay pending for the next flush.

This module is NOT the websocket (``waproto.client.websocket``) nor the store (``waporta.sessions.stores``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import trio

from waproto.client import ClientSettings, TransportClosed, TransportFactory
from waproto.client.settings import Transport
from waproto.client.websocket import connect_websocket

__all__ = ["CommittingTransport", "committing_transport", "open_websocket"]

log = logging.getLogger("waporta.sessions")

#: Commits what must be durable before bytes go out.
Flush = Callable[[], Awaitable[None]]


async def open_websocket(settings: ClientSettings) -> Transport:
    """waproto's websocket to ``settings.url`` (the client's default transport)."""
    return await connect_websocket(settings.url, origin=settings.origin, ssl_context=settings.ssl_context)


class CommittingTransport:
    """A transport that awaits ``flush`` before each send (see the module docstring)."""

    def __init__(self, inner: Transport, flush: Flush) -> None:
        #: The transport the bytes go through.
        self.inner = inner
        self._flush = flush

    async def _commit(self) -> None:
        try:
            await self._flush()
        except (Exception, trio.Cancelled) as exc:
            with trio.CancelScope(shield=True):
                await self.inner.aclose()
            if isinstance(exc, trio.Cancelled):
                raise
            log.error("cannot commit the session's Signal state (%s): the connection is dropped", exc)
            raise TransportClosed(f"the session's state could not be committed: {exc}") from exc

    async def send(self, data: bytes) -> None:
        """Commit, then send one message."""
        await self._commit()
        await self.inner.send(data)

    async def send_many(self, messages: list[bytes]) -> None:
        """Commit, then send ``messages`` (in one write when the inner transport can)."""
        await self._commit()
        send_many = getattr(self.inner, "send_many", None)
        if send_many is not None:
            await send_many(messages)
            return
        for message in messages:
            await self.inner.send(message)

    async def receive(self) -> bytes:
        """The next message."""
        return await self.inner.receive()

    async def receive_many(self) -> bytes:
        """Every message already received, joined (one message when the inner transport cannot)."""
        receive_many = getattr(self.inner, "receive_many", None)
        if receive_many is not None:
            data: bytes = await receive_many()
            return data
        return await self.inner.receive()

    async def aclose(self) -> None:
        """Close the inner transport."""
        await self.inner.aclose()


def committing_transport(factory: TransportFactory | None, flush: Flush) -> TransportFactory:
    """``factory`` (waproto's websocket when None) with every transport it opens wrapped in a
    :class:`CommittingTransport` that awaits ``flush``."""
    opener = factory or open_websocket

    async def open_transport(settings: ClientSettings) -> Transport:
        return CommittingTransport(await opener(settings), flush)

    return open_transport
