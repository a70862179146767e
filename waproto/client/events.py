"""What a :class:`waproto.client.Client` tells its application, through its ``events`` channel.

Frozen dataclasses, in the order things happen:

- :class:`QRCode`: show this QR string (it rotates: a new one replaces the previous);
- :class:`PairingCode`: type this code on the phone (after ``request_pairing_code``);
- :class:`Paired`: the phone linked us; the client reconnects and logs in by itself;
- :class:`Connected`: logged in, prekeys checked, the session is active;
- :class:`Disconnected`: the connection ended; ``reconnect_in`` says when the client tries again (None: it
  will not, e.g. another connection replaced this one);
- :class:`LoggedOut`: the device was unlinked (or the login refused for good); credentials were deleted
  and the client stopped.

This module is not the connection's protocol events (``waproto.events``).
"""

from __future__ import annotations

from dataclasses import dataclass

from waproto.jid import JID

__all__ = ["ClientEvent", "Connected", "Disconnected", "LoggedOut", "Paired", "PairingCode", "QRCode"]


@dataclass(frozen=True, slots=True)
class ClientEvent:
    """Base of every client event."""


@dataclass(frozen=True, slots=True)
class QRCode(ClientEvent):
    """A QR string to show (either format, as ``DeviceInfo.client_type`` chose)."""

    #: The QR string.
    qr: str
    #: 0 for the first QR of a connection, then 1, 2, ...
    index: int
    #: Seconds until it is replaced.
    valid_for: float


@dataclass(frozen=True, slots=True)
class PairingCode(ClientEvent):
    """A pairing code to type on the phone, ``XXXX-XXXX``."""

    code: str
    #: The phone number (digits) it links to.
    phone: str


@dataclass(frozen=True, slots=True)
class Paired(ClientEvent):
    """The phone linked this device (the new credentials were saved)."""

    jid: JID
    lid: JID | None
    #: The primary's platform (``android``, ``iphone``, ...), when sent.
    platform: str | None


@dataclass(frozen=True, slots=True)
class Connected(ClientEvent):
    """Logged in and active."""

    jid: JID
    lid: JID | None


@dataclass(frozen=True, slots=True)
class Disconnected(ClientEvent):
    """The connection ended.

    ``reason`` is a short code: ``connection_lost``, ``keepalive_timeout``, ``stream_end``,
    ``stream_error``, ``login_failed``, ``qr_timeout``, ``replaced``, ``protocol_error``, ``restart``
    (the 515 after pairing) or ``closed`` (by the application). ``code`` is the stream error or
    failure code when there was one.
    """

    reason: str
    code: int | None = None
    #: Seconds until the next attempt; None when the client will not reconnect.
    reconnect_in: float | None = None


@dataclass(frozen=True, slots=True)
class LoggedOut(ClientEvent):
    """The device is no longer linked; its credentials were deleted from the store."""

    #: ``device_removed`` (stream error 401) or ``login_failed`` (failure 401/403/406).
    reason: str
    code: int | None = None
