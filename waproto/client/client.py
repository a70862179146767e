"""The trio driver: a :class:`Client` keeps one linked (or linking) WhatsApp companion device connected.

::

    async with open_client(ClientSettings(url=..., noise_root_public_key=...), credentials, store) as client:
        async for event in client.events:          # QRCode, PairingCode, Paired, Connected, Disconnected, LoggedOut
            ...

or ``nursery.start_soon(client.run)`` for a supervisor's own nursery. Each connection attempt opens a
transport (a websocket, ``waproto.client.websocket``; injectable for tests), drives a sans-I/O
:class:`waproto.connection.Connection` and reacts to its events:

- **registration** (unpaired credentials): the ``<pair-device>`` refs become rotating :class:`QRCode`
  events (60 s, then 20 s each; when they run out the client reconnects for new ones), or
  :meth:`Client.request_pairing_code` runs the pairing-code exchange; a verified pair-success saves the
  new credentials *before* the countersignature is sent, then the server's 515 restarts the connection
  (all of it in ``waproto.client.linking``, a :class:`~waproto.client.linking.Linker` the client holds);
- **login** (paired credentials): after ``<success>`` the client checks the server's prekey count
  (uploading ``initial_pre_keys`` when it has none, ``pre_key_batch`` when below ``min_pre_keys``; the
  private halves and the advanced prekey counter are stored first), sends ``<active/>``, emits
  :class:`Connected` and keeps the link alive with ``w:p`` pings (dead when a ping goes unanswered and
  nothing was received meanwhile);
- **endings**: a 515 reconnects at once; transport loss, a stream end, other stream errors and temporary
  login failures reconnect after an exponential backoff with jitter (reset by a successful login); a
  ``conflict type="replaced"`` (440) stops without reconnecting; 401 / ``device_removed`` and login
  failures 401, 403 and 406 delete the credentials, emit :class:`LoggedOut` and stop.

IQs are matched to their answers by id (:meth:`Client.query`, with a timeout); notifications are
acknowledged (an ``encrypt`` notification with ``<count>`` triggers a prekey check and top-up; a
``notification_handlers`` entry for its ``type`` runs first); other stanzas go to ``stanza_handlers`` by
tag (the messaging layer plugs in there).
Randomness (``rng``), wall-clock time (``now``, for certificate validity) and the transport are
injected; every timer runs on the trio clock, so tests use ``autojump_clock``.

This module is not the protocol (``waproto.connection``) nor a store: the application provides a
``ClientStore`` (credentials and prekeys; waporta's is SQLite, ``MemoryClientStore`` is for tests), both
in ``waproto.client.settings`` with :class:`ClientSettings`.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final, Literal

import trio

from waproto.binary import Node
from waproto.client.errors import IqError, IqTimeout, NotConnected
from waproto.client.events import ClientEvent, Connected, Disconnected, LoggedOut
from waproto.client.linking import Linker
from waproto.client.locks import QuickLock
from waproto.client.settings import ClientSettings, ClientStore, Transport, TransportFactory
from waproto.client.websocket import TransportClosed, connect_websocket
from waproto.connection import Connection
from waproto.credentials import Credentials
from waproto.errors import LocalProtocolError, RemoteProtocolError
from waproto.events import (
    Event,
    IqResponse,
    LoginFailed,
    LoginSucceeded,
    Paired,
    PairingFailed,
    QRRefs,
    StanzaReceived,
    StreamEnded,
    StreamErrored,
)
from waproto.jid import SERVER_JID
from waproto.pairing import LINK_CODE_TAG
from waproto.payload import login_payload, registration_payload
from waproto.signal import curve
from waproto.signal.keys import PreKeyRecord, generate_pre_keys

__all__ = ["Client", "ClientStatus", "StanzaHandler", "open_client"]

log = logging.getLogger(__name__)

#: ``connecting | qr | pairing | connected | disconnected | logged_out`` (the hub's session statuses).
ClientStatus = Literal["connecting", "qr", "pairing", "connected", "disconnected", "logged_out"]
#: Handles one stanza of a tag (``stanza_handlers``); it owes the server whatever ack the stanza needs.
StanzaHandler = Callable[[Node], Awaitable[None]]

_Action = Literal["restart", "reconnect", "stop", "logged_out"]
_LOGGED_OUT_FAILURES: Final = frozenset({401, 403, 406})


async def _open_websocket(settings: ClientSettings) -> Transport:
    return await connect_websocket(settings.url, origin=settings.origin, ssl_context=settings.ssl_context)


async def _send_frames(transport: Transport, frames: list[bytes]) -> None:
    """Send each frame as its own websocket message (as WhatsApp Web, Baileys and whatsmeow do), in one
    socket write when the transport can."""
    send_many = getattr(transport, "send_many", None)
    if send_many is not None:
        await send_many(frames)
        return
    for frame in frames:
        await transport.send(frame)


@dataclass(slots=True)
class _Waiter:
    done: trio.Event = field(default_factory=trio.Event)
    answer: Node | None = None


@dataclass(frozen=True, slots=True)
class _Outcome:
    reason: str
    action: _Action
    code: int | None = None


def _code(value: str | None) -> int | None:
    return int(value) if value is not None and value.isascii() and value.isdigit() else None


class Client:
    """One companion device's connection life; see the module docstring."""

    def __init__(
        self,
        settings: ClientSettings,
        credentials: Credentials,
        store: ClientStore,
        *,
        rng: Callable[[int], bytes] = secrets.token_bytes,
        now: Callable[[], float] = time.time,
        transport: TransportFactory | None = None,
        event_buffer: int = 256,
    ) -> None:
        self.settings = settings
        self.store = store
        self._credentials = credentials
        self._rng = rng
        self._now = now
        self._open = transport or _open_websocket
        self._send_event, self.events = trio.open_memory_channel[ClientEvent](event_buffer)
        #: Handlers of stanzas nobody else handles, by tag (messages, receipts, ... for later layers).
        self.stanza_handlers: dict[str, StanzaHandler] = {}
        #: Handlers of ``<notification>`` stanzas by ``type`` (``devices`` for the directory, ...): each runs
        #: in the read loop (it must not wait for the network) and the client acks the notification after it.
        self.notification_handlers: dict[str, StanzaHandler] = {}
        #: Where the client is (see :data:`ClientStatus`).
        self.status: ClientStatus = "connecting"
        self._conn: Connection | None = None
        self._transport: Transport | None = None
        self._nursery: trio.Nursery | None = None
        self._send_lock = QuickLock()
        self._reader: trio.lowlevel.Task | None = None
        self._waiters: dict[str, _Waiter] = {}
        self._iq_prefix = f"{int.from_bytes(rng(2), 'big')}.{int.from_bytes(rng(2), 'big')}"
        self._iq_counter = itertools.count(1)
        self._outcome: _Outcome | None = None
        self._registering = trio.Event()
        self._linking = Linker(self)
        self._attempt = 0
        self._last_received = 0.0
        self._run_scope: trio.CancelScope | None = None
        self._closing = False
        self._pre_key_lock = trio.Lock()

    @property
    def credentials(self) -> Credentials:
        """The current credentials (as last saved)."""
        return self._credentials

    # ----------------------------------------------------------------- life

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect, and reconnect, until logged out, replaced or closed. Closes ``events`` when it returns."""
        task_status.started()
        try:
            with trio.CancelScope() as self._run_scope:
                while not self._closing:
                    outcome = await self._connect_once()
                    if not await self._after(outcome):
                        return
        finally:
            self._send_event.close()

    async def aclose(self) -> None:
        """Stop: close the connection and end :meth:`run` (no reconnect)."""
        self._closing = True
        self._finish("closed", "stop")
        if self._run_scope is not None and self._conn is None:
            self._run_scope.cancel()

    async def _after(self, outcome: _Outcome) -> bool:
        """React to a connection's end; whether to connect again."""
        log.info("connection ended: %s (%s)", outcome.reason, outcome.action)
        if outcome.action == "logged_out":
            await self.store.delete_credentials()
            self.status = "logged_out"
            await self._emit(LoggedOut(outcome.reason, outcome.code))
            return False
        if outcome.action == "stop" or self._closing:
            self.status = "disconnected"
            await self._emit(Disconnected(outcome.reason, outcome.code, None))
            return False
        delay = 0.0 if outcome.action == "restart" else self._backoff()
        self.status = "connecting" if outcome.action == "restart" else "disconnected"
        await self._emit(Disconnected(outcome.reason, outcome.code, delay))
        await trio.sleep(delay)
        return True

    def _backoff(self) -> float:
        s = self.settings
        base = min(s.backoff_max, s.backoff_initial * s.backoff_factor**self._attempt)
        self._attempt += 1
        return base * (1 + s.backoff_jitter * (2 * self._uniform() - 1))

    def _uniform(self) -> float:
        return int.from_bytes(self._rng(4), "big") / 2**32

    async def _connect_once(self) -> _Outcome:
        creds = self._credentials
        info = self.settings.device
        self.status = "connecting"
        self._outcome = None
        payload = login_payload(creds, info) if creds.is_paired else registration_payload(creds, info)
        try:
            with trio.fail_after(self.settings.connect_timeout):
                transport = await self._open(self.settings)
        except (TransportClosed, trio.TooSlowError) as exc:
            log.info("cannot connect to %s: %s", self.settings.url, exc)
            return _Outcome("connection_lost", "reconnect")
        conn = Connection(
            creds,
            payload,
            ephemeral=curve.generate_key_pair(self._rng),
            root_public_key=self.settings.noise_root_public_key,
        )
        self._conn, self._transport = conn, transport
        self._last_received = trio.current_time()
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._read_loop, conn, transport)
                nursery.start_soon(self._first_stanza_watchdog)
                try:
                    await self._flush()
                except TransportClosed as exc:
                    self._finish("connection_lost", "reconnect", exc.code)
        finally:
            self._conn = self._transport = self._nursery = self._reader = None
            self._linking.reset()
            ended, self._registering = self._registering, trio.Event()
            ended.set()  # wakes request_pairing_code waiters, who then wait for the next connection
            for waiter in self._waiters.values():
                waiter.done.set()
            self._waiters.clear()
            with trio.CancelScope(shield=True):
                await transport.aclose()
        return self._outcome or _Outcome("connection_lost", "reconnect")

    def _finish(self, reason: str, action: _Action, code: int | None = None, *, cancel: bool = True) -> None:
        """End the current connection (the first reason given wins)."""
        if self._outcome is None:
            self._outcome = _Outcome(reason, action, code)
        if cancel and self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    async def _first_stanza_watchdog(self) -> None:
        await trio.sleep(self.settings.connect_timeout)
        if not self._registering.is_set() and self.status == "connecting":
            self._finish("connect_timeout", "reconnect")

    # ----------------------------------------------------------------- reading

    async def _read_loop(self, conn: Connection, transport: Transport) -> None:
        # What the handlers send while this task handles a batch is queued and goes out in one write after
        # it (send_node); a transport with receive_many hands over every message already received at once.
        self._reader = trio.lowlevel.current_task()
        receive = getattr(transport, "receive_many", None) or transport.receive
        while True:
            try:
                data = await receive()
            except TransportClosed as exc:
                self._finish("connection_lost", "reconnect", exc.code)
                return
            self._last_received = trio.current_time()
            try:
                events = conn.receive_data(data, now=int(self._now()))
            except RemoteProtocolError as exc:
                log.warning("the server broke the protocol: %s", exc)
                self._finish("protocol_error", "reconnect")
                return
            for event in events:
                await self._on_event(event)
            try:
                await self._flush()
            except TransportClosed as exc:
                self._finish("connection_lost", "reconnect", exc.code)
                return
            if self._outcome is not None:
                self._finish(self._outcome.reason, self._outcome.action)
                return

    async def _on_event(self, event: Event) -> None:
        if isinstance(event, IqResponse):
            waiter = self._waiters.pop(event.iq_id, None)
            if waiter is not None:
                waiter.answer = event.node
                waiter.done.set()
        elif isinstance(event, StanzaReceived):
            await self._on_stanza(event.node)
        elif isinstance(event, QRRefs):
            self._linking.on_refs(event.refs)
        elif isinstance(event, Paired):
            await self._linking.on_paired(event)
        elif isinstance(event, PairingFailed):
            log.warning("refused a pair-success: %s", event.error)
        elif isinstance(event, LoginSucceeded):
            await self._on_login(event)
        elif isinstance(event, LoginFailed):
            action: _Action = "logged_out" if event.reason in _LOGGED_OUT_FAILURES else "reconnect"
            self._finish("login_failed", action, event.reason, cancel=False)
        elif isinstance(event, StreamErrored):
            self._on_stream_error(event)
        elif isinstance(event, StreamEnded):
            self._finish("stream_end", "reconnect", cancel=False)

    def _on_stream_error(self, event: StreamErrored) -> None:
        code = _code(event.code)
        if event.code == "515":
            self._finish("restart", "restart", 515, cancel=False)
        elif event.code == "401" or event.conflict == "device_removed":
            self._finish("device_removed", "logged_out", 401, cancel=False)
        elif event.conflict == "replaced" or event.code == "440":
            self._finish("replaced", "stop", 440, cancel=False)
        else:
            self._finish("stream_error", "reconnect", code, cancel=False)

    async def _on_stanza(self, node: Node) -> None:
        if node.tag == "notification":
            kind = node.attrs.get("type")
            notification_handler = self.notification_handlers.get(kind) if isinstance(kind, str) else None
            if notification_handler is not None:
                await notification_handler(node)  # handled (and stored) before the ack tells the server
            await self._ack(node)
            if kind == LINK_CODE_TAG and self._nursery is not None:
                self._nursery.start_soon(self._linking.finish_pairing_code, node)
            elif kind == "encrypt" and node.child("count") is not None and self._nursery is not None:
                self._nursery.start_soon(self._top_up_pre_keys)  # the server's prekeys run low
            return
        handler = self.stanza_handlers.get(node.tag)
        if handler is not None:
            await handler(node)
        else:
            log.debug("unhandled <%s>", node.tag)

    async def _ack(self, node: Node) -> None:
        attrs = {
            "id": str(node.attrs.get("id", "")),
            "class": node.tag,
            "to": node.attrs.get("from", SERVER_JID),
        }
        for key in ("participant", "type"):
            value = node.attrs.get(key)
            if value is not None:
                attrs[key] = value
        conn = self._conn
        if conn is not None and not conn.closed:
            conn.send_node(Node("ack", attrs))

    # ----------------------------------------------------------------- linking (waproto.client.linking)

    async def request_pairing_code(self, phone: str, *, code: str | None = None) -> str:
        """Ask to link by pairing code to the account ``phone`` (digits, country code, no ``+``).

        Waits until the connection is registering, then returns the code to type on the phone
        (``XXXX-XXXX``; also emitted as :class:`PairingCode`). QR rotation stops on this connection.
        ``code`` chooses the 8 characters instead of drawing them. ``LocalProtocolError`` for paired
        credentials or a bad phone number; ``IqError`` / ``IqTimeout`` / ``NotConnected`` from the exchange.
        """
        return await self._linking.request_pairing_code(phone, code=code)

    # ----------------------------------------------------------------- login

    async def _on_login(self, event: LoginSucceeded) -> None:
        conn = self._conn
        if conn is not None and conn.credentials != self._credentials:
            await self.store.save_credentials(conn.credentials)
            self._credentials = conn.credentials
        self._registering.set()
        if self._nursery is not None:
            self._nursery.start_soon(self._after_login)
            self._nursery.start_soon(self._keepalive)

    async def _after_login(self) -> None:
        try:
            await self._check_pre_keys()
            await self.query(self._iq("passive", "set", [Node("active")]))
        except NotConnected:
            return
        except (IqError, IqTimeout) as exc:
            log.warning("post-login setup failed: %s", exc)
            self._finish("setup_failed", "reconnect")
            return
        self._attempt = 0
        self.status = "connected"
        me = self._credentials.me
        assert me is not None
        await self._emit(Connected(me, self._credentials.lid))

    async def _check_pre_keys(self) -> None:
        async with self._pre_key_lock:  # one check-and-upload at a time: ids come from one counter
            await self._check_pre_keys_locked()

    async def _check_pre_keys_locked(self) -> None:
        answer = await self.query(self._iq("encrypt", "get", [Node("count")]))
        count_node = answer.child("count")
        count = _code(None if count_node is None else str(count_node.attrs.get("value", "")))
        if count is None:
            raise IqError("the prekey count answer has no <count value>", node=answer)
        if count >= self.settings.min_pre_keys:
            return
        await self.upload_pre_keys(
            self.settings.initial_pre_keys if count == 0 else self.settings.pre_key_batch
        )

    async def _top_up_pre_keys(self) -> None:
        try:
            await self._check_pre_keys()
        except (IqError, IqTimeout, NotConnected) as exc:
            log.warning("prekey top-up failed: %s", exc)

    async def _new_pre_keys(self, count: int) -> list[PreKeyRecord]:
        """``count`` new one-time prekeys, stored with the advanced id counter before they are returned.

        The ids are taken from the counter before the first await, so calls that overlap (an upload and a
        retry receipt's key) never hand out the same id."""
        creds = self._credentials
        records = generate_pre_keys(creds.next_pre_key_id, count, self._rng)
        self._credentials = creds.with_next_pre_key_id(creds.next_pre_key_id + count)
        store_many = getattr(self.store, "store_pre_keys", None)  # optional: all in one write
        if store_many is not None:
            await store_many([(record.key_id, record) for record in records])
        else:
            for record in records:
                await self.store.store_pre_key(record.key_id, record)
        await self.store.save_credentials(self._credentials)
        return records

    async def unpublished_pre_key(self) -> PreKeyRecord:
        """One new one-time prekey, stored (and counted) but not uploaded: for a peer that is handed it
        directly, as in the ``<keys>`` of a retry receipt (PROTOCOL.md §5.7). Never waits on the server."""
        [record] = await self._new_pre_keys(1)
        return record

    async def upload_pre_keys(self, count: int) -> None:
        """Generate ``count`` one-time prekeys, store them (and the advanced counter), then upload them."""
        records = await self._new_pre_keys(count)
        creds = self._credentials
        spk = creds.signed_pre_key
        keys = [
            Node(
                "key", {}, [Node("id", {}, r.key_id.to_bytes(3, "big")), Node("value", {}, r.key_pair.public)]
            )
            for r in records
        ]
        await self.query(
            self._iq(
                "encrypt",
                "set",
                [
                    Node("registration", {}, creds.registration_id.to_bytes(4, "big")),
                    Node("type", {}, b"\x05"),
                    Node("identity", {}, creds.identity_key.public),
                    Node("list", {}, keys),
                    Node(
                        "skey",
                        {},
                        [
                            Node("id", {}, spk.key_id.to_bytes(3, "big")),
                            Node("value", {}, spk.key_pair.public),
                            Node("signature", {}, spk.signature),
                        ],
                    ),
                ],
            )
        )
        log.info("uploaded %d prekeys", count)

    async def logout(self) -> None:
        """Unlink this device (``remove-companion-device``), then end as logged out: the credentials are
        deleted and :class:`LoggedOut` (reason ``logout``) is emitted. ``NotConnected`` when not connected."""
        me = self._credentials.me
        if me is None:
            raise LocalProtocolError("this device is not paired")
        await self.query(
            self._iq("md", "set", [Node("remove-companion-device", {"jid": me, "reason": "user_initiated"})])
        )
        self._finish("logout", "logged_out")

    async def _keepalive(self) -> None:
        low, high = self.settings.keepalive_interval
        while True:
            await trio.sleep(low + (high - low) * self._uniform())
            sent = trio.current_time()
            try:
                await self.query(
                    self._iq("w:p", "get", [Node("ping")]), patience=self.settings.keepalive_timeout
                )
            except IqTimeout:
                if self._last_received <= sent:
                    self._finish("keepalive_timeout", "reconnect")
                    return
            except IqError:
                pass  # an answer is an answer: the link is alive
            except NotConnected:
                return

    # ----------------------------------------------------------------- sending and iqs

    def _new_id(self) -> str:
        return f"{self._iq_prefix}-{next(self._iq_counter)}"

    def _iq(self, xmlns: str, kind: str, children: list[Node] | None = None) -> Node:
        return Node("iq", {"id": self._new_id(), "xmlns": xmlns, "type": kind, "to": SERVER_JID}, children)

    async def send_node(self, node: Node) -> None:
        """Send one stanza. ``NotConnected`` when there is no open connection, or when it broke before the
        stanza was written.

        It is queued on the connection at once (so stanzas go out in the order of the calls), then
        everything queued is written in one socket write, each stanza still its own websocket message (stanzas that other tasks queued meanwhile
        go with it). Called by a stanza handler in the read loop, it only queues: the read loop writes
        once after the batch of stanzas it is handling (a receipt and an ack for the same batch share a
        write)."""
        conn = self._conn
        if conn is None or self._transport is None or self._outcome is not None or conn.closed:
            raise NotConnected("not connected")
        conn.send_node(node)
        if trio.lowlevel.current_task() is self._reader:
            return
        async with self._send_lock:
            transport = self._transport
            if self._conn is not conn or transport is None or self._outcome is not None:
                raise NotConnected("the connection ended before the stanza was written")
            frames = conn.frames_to_send()
            if not frames:
                return  # another task's write took it
            try:
                await _send_frames(transport, frames)
            except TransportClosed as exc:
                self._finish("connection_lost", "reconnect", exc.code)
                raise NotConnected("the connection broke while sending") from exc

    async def query(self, node: Node, *, patience: float | None = None) -> Node:
        """Send an iq and return its ``result``; ``IqError`` for an ``error`` answer, ``IqTimeout`` after
        ``patience`` (default ``settings.iq_timeout``) seconds, ``NotConnected`` if the connection ends first.
        An iq without an ``id`` gets one."""
        if node.tag != "iq":
            raise LocalProtocolError(f"query sends iqs, not <{node.tag}>")
        iq_id = node.attrs.get("id")
        if not isinstance(iq_id, str) or not iq_id:
            iq_id = self._new_id()
            node = Node(node.tag, {**node.attrs, "id": iq_id}, node.content)
        waiter = _Waiter()
        self._waiters[iq_id] = waiter
        try:
            await self.send_node(node)
            with trio.move_on_after(self.settings.iq_timeout if patience is None else patience):
                await waiter.done.wait()
        finally:
            self._waiters.pop(iq_id, None)
        answer = waiter.answer
        if answer is None:
            if waiter.done.is_set():
                raise NotConnected("the connection ended before the answer")
            raise IqTimeout(f"no answer to iq {iq_id} ({node.attrs.get('xmlns')})")
        if answer.attrs.get("type") == "error":
            error = answer.child("error")
            code = _code(None if error is None else str(error.attrs.get("code", "")))
            text = "" if error is None else str(error.attrs.get("text", ""))
            raise IqError(f"iq {iq_id} failed: {code} {text}".strip(), node=answer, code=code, text=text)
        return answer

    async def _flush(self) -> None:
        async with self._send_lock:
            conn, transport = self._conn, self._transport
            if conn is not None and transport is not None:
                frames = conn.frames_to_send()
                if frames:
                    await _send_frames(transport, frames)

    async def _emit(self, event: ClientEvent) -> None:
        with contextlib.suppress(trio.ClosedResourceError, trio.BrokenResourceError):
            await self._send_event.send(event)


@contextlib.asynccontextmanager
async def open_client(
    settings: ClientSettings,
    credentials: Credentials,
    store: ClientStore,
    *,
    rng: Callable[[int], bytes] = secrets.token_bytes,
    now: Callable[[], float] = time.time,
    transport: TransportFactory | None = None,
) -> AsyncIterator[Client]:
    """A running :class:`Client` for the block; it is closed (no reconnect) when the block exits."""
    client = Client(settings, credentials, store, rng=rng, now=now, transport=transport)
    async with trio.open_nursery() as nursery:
        await nursery.start(client.run)
        try:
            yield client
        finally:
            await client.aclose()
            nursery.cancel_scope.cancel()
