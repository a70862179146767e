"""waproto.client: the trio driver that keeps a WhatsApp companion device connected.

- ``client``: :class:`Client` and :func:`open_client`;
- ``linking``: QR rotation and the pairing-code exchange, on behalf of a :class:`Client`;
- ``directory``: :class:`Directory`, device lists, LID↔phone-number mapping and "is this number on WhatsApp";
- ``media``: :class:`MediaClient`, ``media_conn``, encrypted upload and verified download (over httpx);
- ``settings``: :class:`ClientSettings`, the :class:`Transport` and :class:`ClientStore` Protocols and
  :class:`MemoryClientStore`;
- ``events``: what the client tells the application (QR codes, pairing code, paired, connected,
  disconnected, logged out);
- ``errors``: iq failures and timeouts, no connection;
- ``websocket``: a binary websocket over trio streams on websockets' Sans-I/O protocol.

With ``waproto.sandbox`` this is the only part of waproto that does I/O (trio, sockets, TLS).
"""

from __future__ import annotations

from waproto.client.client import Client, ClientStatus, StanzaHandler, open_client
from waproto.client.directory import Directory
from waproto.client.errors import ClientError, IqError, IqTimeout, NotConnected
from waproto.client.events import (
    ClientEvent,
    Connected,
    Disconnected,
    LoggedOut,
    Paired,
    PairingCode,
    QRCode,
)
from waproto.client.media import MediaClient
from waproto.client.settings import (
    DEFAULT_ORIGIN,
    DEFAULT_URL,
    ClientSettings,
    ClientStore,
    MemoryClientStore,
    Transport,
    TransportFactory,
)
from waproto.client.websocket import TransportClosed, WebSocket, connect_websocket

__all__ = [
    "DEFAULT_ORIGIN",
    "DEFAULT_URL",
    "Client",
    "ClientError",
    "ClientEvent",
    "ClientSettings",
    "ClientStatus",
    "ClientStore",
    "Connected",
    "Directory",
    "Disconnected",
    "IqError",
    "IqTimeout",
    "LoggedOut",
    "MediaClient",
    "MemoryClientStore",
    "NotConnected",
    "Paired",
    "PairingCode",
    "QRCode",
    "StanzaHandler",
    "Transport",
    "TransportClosed",
    "TransportFactory",
    "WebSocket",
    "connect_websocket",
    "open_client",
]
