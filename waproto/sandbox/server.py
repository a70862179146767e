"""The sandbox server: the :class:`Sandbox` object, its ASGI app and :func:`serve`.

A :class:`Sandbox` ties the network state (``state``), the live connections by device, the linker
(``linking``), the IQ table (``iqs``) and the handlers of other stanzas together; :func:`create_asgi` serves
it as an ASGI app: the websocket endpoint ``/ws/chat`` straight on the ASGI server's events (no web
framework between the socket and a connection: it carries every stanza), and the control API under
``/sandbox`` (``control``) as the quart-trio app of :func:`create_app`; :func:`serve` runs it on hypercorn
in the caller's nursery::

    sandbox = Sandbox(Network.open(state_dir, rng=secrets.token_bytes))
    url = await nursery.start(serve, sandbox, "127.0.0.1", 0)     # -> "http://127.0.0.1:41879"

Every sandbox has its messaging installed (``messaging``: phones, routing, usync, groups, offline queues);
:func:`start_media` adds the HTTPS media server; :func:`run_standalone` is what ``waporta sandbox`` runs.
Other modules extend a sandbox through ``sandbox.iqs.register(...)``, ``sandbox.stanza_handlers[tag]`` and
``sandbox.login_hooks`` (awaited after ``<success>``; each returns how many offline stanzas it delivered).

This module is not the protocol of one connection (``connection``) and holds no protocol logic itself.
"""

from __future__ import annotations

import functools
import json
import logging
import secrets
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import trio
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve
from hypercorn.typing import ASGIFramework, ASGIReceiveCallable, ASGISendCallable, Scope
from quart_trio import QuartTrio

from waproto.binary import Node
from waproto.errors import DecodeError
from waproto.jid import JID
from waproto.sandbox.connection import Connection, ConnectionClosed, Transport
from waproto.sandbox.iqs import IqTable, register_basic_iqs
from waproto.sandbox.linking import Linker
from waproto.sandbox.messaging import Messaging
from waproto.sandbox.state import Network
from waproto.sandbox.usync import devices_notification

if TYPE_CHECKING:
    from waproto.sandbox.media import MediaServer

__all__ = [
    "CHAT_PATH",
    "LoginHook",
    "Sandbox",
    "StanzaHandler",
    "create_app",
    "create_asgi",
    "run_standalone",
    "serve",
    "start_media",
]

log = logging.getLogger(__name__)

#: The path of the chat websocket.
CHAT_PATH: Final = "/ws/chat"
#: Handles a non-iq stanza a client sent.
StanzaHandler = Callable[[Connection, Node], Awaitable[None]]
#: Runs after a login's ``<success>``; returns how many offline stanzas it delivered.
LoginHook = Callable[[Connection], Awaitable[int]]


class Sandbox:
    """The running network: state, connections, linking, handlers. See the module docstring.

    ``rng`` draws all randomness (keys, refs, ids); ``now`` gives unix seconds for timestamps. Timers
    (handshake timeout, first-stanza delay) run on the trio clock.
    """

    def __init__(
        self,
        network: Network,
        *,
        rng: Callable[[int], bytes] = secrets.token_bytes,
        now: Callable[[], float] = time.time,
        handshake_timeout: float = 20.0,
        first_stanza_delay: float = 0.05,
        close_grace: float = 1.0,
    ) -> None:
        self.network = network
        self.rng = rng
        self._now = now
        self.handshake_timeout = handshake_timeout
        self.first_stanza_delay = first_stanza_delay
        #: Seconds a client gets to close by itself after a stream error.
        self.close_grace = close_grace
        #: The serialised certificate chain every ServerHello carries.
        self.cert_chain = network.cert_chain(self.now())
        #: Logged-in connections by phone-number device JID.
        self.connections: dict[JID, Connection] = {}
        #: Every open connection (registering, logging in or logged in).
        self.all_connections: set[Connection] = set()
        self.iqs = IqTable()
        register_basic_iqs(self.iqs)
        self.linker = Linker(self)
        self.linker.register_iqs(self.iqs)
        #: Handlers of non-iq stanzas by tag.
        self.stanza_handlers: dict[str, StanzaHandler] = {}
        #: Awaited after each login's ``<success>``.
        self.login_hooks: list[LoginHook] = []
        #: The media server (``waproto.sandbox.media.MediaServer``) once :func:`start_media` ran.
        self.media: MediaServer | None = None
        #: Phones, routing, usync, groups and offline queues.
        self.messaging = Messaging(self)
        self.messaging.install()

    def now(self) -> int:
        """Unix seconds."""
        return int(self._now())

    @property
    def root_public_key(self) -> bytes:
        """The root key clients must trust (32 bytes)."""
        return self.network.root.public

    async def handle(self, transport: Transport, *, peer: str = "?") -> None:
        """Serve one client connection over ``transport``."""
        connection = Connection(self, transport, peer=peer)
        self.all_connections.add(connection)
        await connection.run()

    def forget(self, connection: Connection) -> None:
        """Called by a connection when it has closed."""
        self.all_connections.discard(connection)
        if connection.device is not None and self.connections.get(connection.device) is connection:
            del self.connections[connection.device]
        self.linker.forget(connection)

    async def disconnect(self, device: JID, *, reason: str = "disconnected by the control API") -> bool:
        """Drop a device's connection (it may log in again); False if it was not connected."""
        connection = self.connections.get(device)
        if connection is None:
            return False
        await connection.close(reason)
        return True

    async def unlink(self, device: JID, *, reason: str = "logged out by the control API") -> bool:
        """Unlink a companion: forget it and, if connected, send ``<stream:error code="401">`` (logged out);
        the other logged-in devices get a devices notification (:meth:`announce_devices`)."""
        state = self.network.account_of(device)
        if state is None or self.network.remove_companion(state.phone, device.device) is None:
            return False
        connection = self.connections.get(state.device_jid(device.device))
        self.messaging.queues.forget(state.device_jid(device.device))
        if connection is not None:
            await connection.stream_error("401", [Node("conflict", {"type": "device_removed"})], reason=reason)
        log.info("unlinked %s (%s)", state.device_jid(device.device), reason)
        await self.announce_devices(state.phone, device.device, "remove")
        return True

    async def announce_devices(self, phone: str, device: int, change: Literal["add", "remove"]) -> int:
        """Tell every logged-in device but ``device`` itself that ``device`` of account ``phone`` was linked
        (``add``) or unlinked (``remove``): ``<notification type="devices">``. Devices that are offline miss
        it (their device-list caches age out). Returns how many devices were told."""
        state = self.network.accounts.get(phone)
        if state is None:
            return 0
        changed = state.device_jid(device)
        told = 0
        for target, connection in list(self.connections.items()):
            if target == changed or connection.closed:
                continue
            node_id = f"dev-{self.rng(6).hex()}"
            node = devices_notification(
                self.network, state.account, device, change, notification_id=node_id, now=self.now()
            )
            try:
                await connection.send_node(node)
            except (ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError):
                continue
            told += 1
        return told


class _AsgiTransport:
    """A websocket of the ASGI server (hypercorn) as a connection :class:`~waproto.sandbox.connection.Transport`,
    with no web framework in between.

    Each message the client sends reaches the connection's task straight from the server's queue (quart
    passes each one through a task and a channel of its own: a task switch more per message), and each
    message the connection writes goes to the server's send at once. A text message is refused; the
    server's ``websocket.disconnect`` reads as the end.
    """

    def __init__(self, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        self._receive = receive
        self._send = send
        self._closed = False

    async def accept(self) -> bool:
        """Wait for the client's connect and accept it; False if it went away first."""
        event = await self._receive()
        if event["type"] != "websocket.connect":
            self._closed = True
            return False
        await self._send({"type": "websocket.accept", "subprotocol": None, "headers": []})
        return True

    async def receive(self) -> bytes | None:
        if self._closed:
            return None
        event = await self._receive()
        if event["type"] != "websocket.receive":
            self._closed = True  # websocket.disconnect
            return None
        data = event.get("bytes")
        if data is None:
            if event.get("text") is not None:
                raise DecodeError("a text websocket message (WhatsApp frames are binary)")
            return b""
        return data

    async def send(self, data: bytes) -> None:
        if self._closed:
            raise ConnectionClosed("the websocket is closed")
        try:
            await self._send({"type": "websocket.send", "bytes": data, "text": None})
        except Exception as exc:  # the server refuses a send once the client has gone
            raise ConnectionClosed(f"the websocket is gone: {exc!r}") from exc

    async def close(self, code: int, reason: str) -> None:
        if not self._closed:
            self._closed = True
            await self._send({"type": "websocket.close", "code": code, "reason": reason})


def create_app(sandbox: Sandbox) -> QuartTrio:
    """The quart-trio app of the control API under ``/sandbox`` (:func:`create_asgi` adds ``/ws/chat``)."""
    from waproto.sandbox.control import register_control_routes

    app = QuartTrio(__name__)
    register_control_routes(app, sandbox)
    return app


def create_asgi(sandbox: Sandbox) -> ASGIFramework:
    """The ASGI app :func:`serve` runs: the websocket ``/ws/chat`` served directly, everything else by
    :func:`create_app`."""
    app = create_app(sandbox)

    async def asgi(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        if scope["type"] == "websocket" and scope["path"] == CHAT_PATH:
            transport = _AsgiTransport(receive, send)
            if await transport.accept():
                client = scope.get("client")
                peer = f"{client[0]}:{client[1]}" if client else "?"
                await sandbox.handle(transport, peer=peer)
            return
        await app(scope, receive, send)

    return asgi


async def serve(
    sandbox: Sandbox,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``sandbox`` on ``host:port`` until cancelled (or ``shutdown_trigger`` returns).

    ``task_status.started`` gets the base URL with the real port (``http://127.0.0.1:41879``); the
    websocket is at ``ws://…/ws/chat`` and the control API at ``…/sandbox``.
    """
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("waproto.sandbox.http")
    config.graceful_timeout = 2
    config.websocket_ping_interval = None
    app = create_asgi(sandbox)
    trigger = shutdown_trigger if shutdown_trigger is not None else trio.sleep_forever

    async def run(task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED) -> None:
        await hypercorn_serve(app, config, shutdown_trigger=trigger, task_status=task_status, mode="asgi")

    async with trio.open_nursery() as nursery:
        binds = await nursery.start(run)
        task_status.started(str(binds[0]))


async def start_media(
    nursery: trio.Nursery, sandbox: Sandbox, state_dir: Path, *, host: str = "127.0.0.1", port: int = 0
) -> Any:
    """Start the media server (``waproto.sandbox.media``) in ``nursery`` and answer ``media_conn`` with it.

    Its CA, certificate and blobs live under ``state_dir`` (``media-tls/``, ``media/``). Returns the
    ``MediaEndpoint`` (``ca_file``, ``base_url``).
    """
    from waproto.sandbox.media import BlobStore, MediaServer, ensure_tls_files, serve_media

    tls = ensure_tls_files(state_dir / "media-tls", [host])
    media = MediaServer(BlobStore(state_dir / "media"), token_bytes=sandbox.rng)
    endpoint = await nursery.start(functools.partial(serve_media, media, tls, host=host, port=port))
    sandbox.iqs.register("w:m", "media_conn", media.handle_media_conn)
    sandbox.media = media
    return endpoint


async def run_standalone(
    *,
    host: str,
    port: int,
    state_dir: Path,
    root_private: bytes | None = None,
    announce: Callable[[str], None] = print,
    stop_on_signals: bool = False,
) -> None:
    """What ``waporta sandbox`` runs: the sandbox and its media server until cancelled (or, with
    ``stop_on_signals``, until SIGINT or SIGTERM: then it returns; main thread only).

    Once both listen, ``announce`` gets one JSON line: ``{"url": "ws://…/ws/chat", "control":
    "http://…/sandbox", "root_public_key": "<hex>", "ca_file": "<path>", "media": "https://…"}``.
    """
    network = Network.open(state_dir, rng=secrets.token_bytes, root_private=root_private)
    sandbox = Sandbox(network)
    async with trio.open_nursery() as nursery:
        endpoint = await start_media(nursery, sandbox, state_dir, host=host)
        base = await nursery.start(serve, sandbox, host, port)
        announce(
            json.dumps(
                {
                    "url": base.replace("http://", "ws://", 1) + "/ws/chat",
                    "control": base + "/sandbox",
                    "root_public_key": sandbox.root_public_key.hex(),
                    "ca_file": str(endpoint.ca_file),
                    "media": endpoint.base_url,
                }
            )
        )
        log.info("sandbox running: %d accounts in %s", len(network.accounts), state_dir)
        if stop_on_signals:
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for signum in signals:
                    log.info("stopping (%s)", signal.Signals(signum).name)
                    nursery.cancel_scope.cancel()
                    break
