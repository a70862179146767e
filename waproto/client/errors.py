"""Errors of the trio driver (``waproto.client``): an iq that failed, timed out, or found no connection.

``IqError`` is a :class:`waproto.errors.RemoteProtocolError` (the server answered ``type="error"``; it
carries the node, ``code`` and ``text``). ``IqTimeout`` and ``NotConnected`` are transport conditions, not
protocol errors, so they derive from :class:`ClientError` only (``waproto.errors`` leaves transport
failures of the driver to their owner, this module). A closed websocket is
``waproto.client.websocket.TransportClosed``.
"""

from __future__ import annotations

from waproto.errors import RemoteProtocolError

__all__ = ["ClientError", "IqError", "IqTimeout", "NotConnected"]


class ClientError(Exception):
    """Base of the driver's transport conditions."""


class NotConnected(ClientError):
    """There is no open, logged-in-or-registering connection (or it ended before the answer came)."""


class IqTimeout(ClientError):
    """An iq got no answer in time."""


class IqError(RemoteProtocolError):
    """The server answered an iq with ``type="error"`` (or with a result missing what it must hold)."""

    def __init__(self, message: str, *, node: object | None = None, code: int | None = None, text: str = "") -> None:
        super().__init__(message, node=node, code=None if code is None else str(code))
        #: The ``<error code>`` as a number, if any.
        self.error_code = code
        #: The ``<error text>``.
        self.text = text
