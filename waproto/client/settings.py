"""What a :class:`waproto.client.Client` is given: :class:`ClientSettings`, a transport, a store.

- :class:`ClientSettings`: the server (URL, ``Origin``, the Noise root key, TLS), how the device presents
  itself (``waproto.payload.DeviceInfo``) and every timing and count of the client (keepalive, QR rotation,
  backoff, prekeys); defaults are WhatsApp's production server and whatsmeow's values;
- :class:`Transport` / :data:`TransportFactory`: how bytes reach the server (a websocket by default;
  tests inject memory channels);
- :class:`ClientStore`: what the client persists (credentials and one-time prekeys), and
  :class:`MemoryClientStore`, an in-memory one for tests and tools.

This module holds no behaviour of the client (``waproto.client.client``).
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final, Protocol

from waproto.credentials import Credentials, CredentialStore
from waproto.errors import LocalProtocolError
from waproto.noise import WA_ROOT_PUBLIC_KEY
from waproto.payload import DeviceInfo
from waproto.signal.memory import MemoryPreKeyStore
from waproto.signal.store import PreKeyStore

__all__ = [
    "DEFAULT_ORIGIN",
    "DEFAULT_URL",
    "ClientSettings",
    "ClientStore",
    "MemoryClientStore",
    "Transport",
    "TransportFactory",
]

#: WhatsApp's production websocket.
DEFAULT_URL: Final = "wss://web.whatsapp.com/ws/chat"
#: The ``Origin`` header WhatsApp Web sends.
DEFAULT_ORIGIN: Final = "https://web.whatsapp.com"


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """Where and how a client connects. Defaults: WhatsApp's production server and whatsmeow's timings."""

    url: str = DEFAULT_URL
    origin: str = DEFAULT_ORIGIN
    #: The root key the server's Noise certificate chain must lead to (the sandbox's in tests).
    noise_root_public_key: bytes = WA_ROOT_PUBLIC_KEY
    #: TLS settings for ``wss://`` (None: the system's default context).
    ssl_context: ssl.SSLContext | None = field(default=None, compare=False)
    device: DeviceInfo = field(default_factory=DeviceInfo)
    #: Seconds to open the transport and receive the first stanza.
    connect_timeout: float = 20.0
    #: Seconds an iq waits for its answer unless told otherwise.
    iq_timeout: float = 60.0
    #: Seconds between keepalive pings, drawn uniformly from this range.
    keepalive_interval: tuple[float, float] = (20.0, 30.0)
    #: Seconds a ping may go unanswered (with nothing else received) before the link counts as dead.
    keepalive_timeout: float = 10.0
    #: Seconds the first QR of a connection is shown, then each later one.
    qr_first_valid: float = 60.0
    qr_valid: float = 20.0
    #: Reconnect delays: ``min(backoff_max, backoff_initial * backoff_factor**n)``, times 1 ± jitter.
    backoff_initial: float = 1.0
    backoff_factor: float = 2.0
    backoff_max: float = 120.0
    backoff_jitter: float = 0.25
    #: Prekeys: upload when the server holds fewer than ``min_pre_keys``.
    min_pre_keys: int = 5
    initial_pre_keys: int = 812
    pre_key_batch: int = 50

    def __post_init__(self) -> None:
        low, high = self.keepalive_interval
        if not 0 < low <= high:
            raise LocalProtocolError("keepalive_interval is (low, high) with 0 < low <= high")
        if self.backoff_initial <= 0 or self.backoff_factor < 1 or not 0 <= self.backoff_jitter < 1:
            raise LocalProtocolError("backoff needs initial > 0, factor >= 1 and 0 <= jitter < 1")
        if len(self.noise_root_public_key) != 32:
            raise LocalProtocolError("noise_root_public_key is 32 bytes")


class Transport(Protocol):
    """A message transport to the server (a websocket). ``receive`` raises ``TransportClosed`` at the end.

    A transport may also have ``async receive_many() -> bytes``: every message already received, joined
    (WhatsApp's frame layer re-splits them), and ``async send_many(messages: list[bytes])``: several
    messages, each still its own websocket message, in one socket write. The client then reads with the
    first and answers a whole batch of stanzas with the second (``waproto.client.websocket.WebSocket`` has
    both); without them it calls ``receive`` and ``send`` once per message."""

    async def send(self, data: bytes) -> None: ...

    async def receive(self) -> bytes: ...

    async def aclose(self) -> None: ...


#: Opens a transport for the settings' URL (``TransportClosed`` when it cannot).
TransportFactory = Callable[[ClientSettings], Awaitable[Transport]]


class ClientStore(CredentialStore, PreKeyStore, Protocol):
    """What a client persists: its credentials and its one-time prekeys' private halves.

    A store may also have ``async store_pre_keys(records: list[tuple[int, PreKeyRecord]])``: the client
    then keeps a batch of new prekeys (812 when it first logs in) with one call instead of one each."""


class MemoryClientStore(MemoryPreKeyStore):
    """A :class:`ClientStore` in memory (tests, tools): ``credentials`` is the last saved, or None."""

    def __init__(self, credentials: Credentials | None = None) -> None:
        super().__init__()
        self.credentials = credentials
        #: How many times credentials were saved.
        self.saves = 0

    async def save_credentials(self, credentials: Credentials) -> None:
        self.credentials = credentials
        self.saves += 1

    async def delete_credentials(self) -> None:
        self.credentials = None
