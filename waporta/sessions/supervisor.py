"""The session supervisor: one :class:`waproto.client.Client` per hub session, in one trio nursery.

::

    async with open_sessions(db, settings, on_status=..., on_message=...) as sessions:
        session = await sessions.create("sales-bot")      # status "connecting", then "qr"
        session.qr                                       # the latest QR string (rotates)
        await sessions.request_pairing_code("sales-bot", "15550002222")   # or link by code
        sent = await sessions.send("sales-bot", JID("15550002222", "s.whatsapp.net"), Message(conversation="hi"))
        found = await sessions.check("sales-bot", "15550002222")        # CheckResult(exists, jid, lid)
        await sessions.delete("sales-bot")               # logout, then every WhatsApp row wiped

On entry every linked session (credentials in ``wa_credentials``) is restored and reconnects by itself,
without a new QR. A session's status is one of :data:`STATUSES`; each change is recorded on the
:class:`Session` and then reported through ``on_status(session_id, status)`` (the hub passes
``Plugins.session_status_changed``). A session that is logged out (unlinked from the phone, or
``delete``) has its WhatsApp state wiped with :func:`waporta.storage.stores.delete_session`. Received
messages are not lost to a logout: a session whose client stops for good first lets its hooks take what
was committed (for up to :attr:`Sessions.hand_over_timeout` seconds, as ``delete`` does before it logs
out); when the phone unlinks the device, rows the hooks have not had yet are kept and handed on when a
session of that id starts again. Only ``delete`` drops them, once that wait is over.

**Messaging.** Each session has a :class:`waproto.client.messaging.Messenger` on its client, with its
Signal state in the session's SQLite stores (``waporta.sessions.stores``). :meth:`Sessions.send` sends a
``Message`` once the session is usable (its Signal session records pending in memory until the
session's transport, ``waporta.sessions.transport``, commits them before the stanza goes out); :meth:`Sessions.ready` says why not with the errors of
``waporta.sessions.errors`` (checked before any network use), and transport failures during a request
become :class:`~waporta.sessions.errors.SessionUnavailable` (retryable). waproto's ``NotOnWhatsApp`` and
``MessageRefused`` pass through. :meth:`Sessions.check` asks whether a number is on WhatsApp (the
session's :class:`~waproto.client.directory.Directory`, device lists and LID map in SQLite);
:meth:`Sessions.upload` and :meth:`Sessions.download` move media through the session's
:class:`~waproto.client.media.MediaClient` (one shared HTTP client). Each received message is committed
to ``inbound_messages`` before its receipt goes out and then handed, in order, to
``on_message(session_id, message)`` (the hub passes ``Plugins.message_received``) by the session's
:class:`waporta.messages.InboundQueue`. A message that cannot be committed (a full disk) is never
receipted: the session's client stops (status ``disconnected``, reason ``internal_error``) and WhatsApp
keeps the message for the next connection (:meth:`Sessions.create` starts the session again).

This module is NOT the hub's wiring of the supervisor (config, plugins, sandbox mode:
``waporta.sessions.hub``), the REST API (``waporta_plugins.rest_sessions``, ``rest_messages``), the
protocol client (``waproto.client``) or the inbound message's shape and queue (``waporta.messages``).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final, Literal

import httpx
import trio

from waporta.messages import InboundMessage, InboundQueue, MessageHandler, find_inbound
from waporta.sessions.errors import (
    SessionLoggedOut,
    SessionNotLinked,
    SessionUnavailable,
    UnknownMessage,
    UnknownSession,
    guarded,
)
from waporta.sessions.stores import SessionStore, deferring_session_writes
from waporta.sessions.transport import committing_transport
from waporta.storage import Database
from waporta.storage.stores import (
    SqliteDeviceListStore,
    SqliteLidMapStore,
    SqliteSenderKeyStore,
    delete_session,
    load_all_credentials,
)
from waproto.client import (
    Client,
    ClientEvent,
    ClientSettings,
    Connected,
    Disconnected,
    LoggedOut,
    NotConnected,
    Paired,
    PairingCode,
    QRCode,
    TransportFactory,
)
from waproto.client.directory import Directory
from waproto.client.media import MediaClient
from waproto.client.messaging import Messenger, ReceivedMessage, SentMessage, UndecryptableMessage
from waproto.content import UploadedMedia
from waproto.credentials import Credentials
from waproto.errors import WAProtoError
from waproto.jid import JID
from waproto.media import MediaType
from waproto.proto import Message
from waproto.usync import CheckResult

__all__ = [
    "MEDIA_TIMEOUT",
    "STATUSES",
    "Session",
    "Sessions",
    "StatusCallback",
    "open_sessions",
]

log = logging.getLogger("waporta.sessions")

#: Every status a session can have.
STATUSES: Final = ("connecting", "qr", "pairing", "connected", "disconnected", "logged_out")

#: Seconds each media HTTP operation (connect, read, write) may take.
MEDIA_TIMEOUT: Final = 20.0

#: Seconds a stopping session waits for its hooks to take the messages already committed.
HAND_OVER_TIMEOUT: Final = 10.0

#: Called after a session's status changed: ``(session_id, status)``.
StatusCallback = Callable[[str, str], Awaitable[None]]


@dataclass(eq=False)
class Session:
    """One hub session as the supervisor sees it (read it; the supervisor writes it)."""

    id: str
    client: Client
    #: Sends and receives on ``client`` (Signal state in the session's SQLite stores).
    messenger: Messenger = field(repr=False)
    #: Commits what ``messenger`` receives and hands it to the hooks in order.
    inbox: InboundQueue = field(repr=False)
    #: Device lists, LID mappings (in the session's SQLite stores) and number checks.
    directory: Directory = field(repr=False)
    #: Media upload and download for ``client`` (on the supervisor's shared HTTP client).
    media: MediaClient = field(repr=False)
    #: One of :data:`STATUSES`.
    status: str = "connecting"
    #: The latest QR string while linking by QR (None otherwise).
    qr: str | None = None
    #: The pairing code while linking by code.
    pairing_code: str | None = None
    #: The linked account's phone-number JID and LID (strings), once known.
    jid: str | None = None
    lid: str | None = None
    #: The last disconnection reason (``connection_lost``, ``device_removed``, ...).
    reason: str | None = None
    _scope: trio.CancelScope = field(default_factory=trio.CancelScope, repr=False)
    _done: trio.Event = field(default_factory=trio.Event, repr=False)
    _changed: trio.Event = field(default_factory=trio.Event, repr=False)

    async def wait_status(self, *statuses: str) -> str:
        """Wait until the status is one of ``statuses`` (at once if it is); return it."""
        while self.status not in statuses:
            await self._changed.wait()
        return self.status

    async def changed(self) -> None:
        """Wait for the next change of the status or of the QR."""
        await self._changed.wait()

    def _touch(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def to_json(self) -> dict[str, object]:
        """The API's view: ``{id, status, jid, lid, reason}`` (no secrets)."""
        return {"id": self.id, "status": self.status, "jid": self.jid, "lid": self.lid, "reason": self.reason}


class Sessions:
    """The supervisor; use :func:`open_sessions`."""

    def __init__(
        self,
        db: Database,
        settings: ClientSettings,
        nursery: trio.Nursery,
        *,
        on_status: StatusCallback | None = None,
        on_message: MessageHandler | None = None,
        addressing: Literal["lid", "pn"] = "lid",
        media_ssl_context: ssl.SSLContext | None = None,
        rng: Callable[[int], bytes] = secrets.token_bytes,
        now: Callable[[], float] = time.time,
        transport: TransportFactory | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        #: One HTTP client for every session's media transfers (trusting ``media_ssl_context``).
        self.media_http = httpx.AsyncClient(
            verify=media_ssl_context if media_ssl_context is not None else True,
            timeout=httpx.Timeout(MEDIA_TIMEOUT),
            follow_redirects=False,
        )
        #: How 1:1 chats are addressed (``[whatsapp] addressing``).
        self.addressing: Literal["lid", "pn"] = addressing
        self._nursery = nursery
        self._on_status = on_status
        self._on_message = on_message
        self._rng = rng
        self._now = now
        self._transport = transport
        #: Seconds a stopping session waits for its hooks to take the messages already committed.
        self.hand_over_timeout = HAND_OVER_TIMEOUT
        self._sessions: dict[str, Session] = {}
        self._lock = trio.Lock()

    # ---------------------------------------------------------------- queries

    def get(self, session_id: str) -> Session:
        """The session, or :class:`UnknownSession`."""
        try:
            return self._sessions[session_id]
        except KeyError:
            raise UnknownSession(session_id) from None

    def all(self) -> list[Session]:
        """Every known session, by id."""
        return [self._sessions[key] for key in sorted(self._sessions)]

    # ---------------------------------------------------------------- life

    async def restore(self) -> int:
        """Start a client for every session with saved credentials; how many were restored."""
        saved = await load_all_credentials(self.db)
        restored = 0
        for session_id, data in saved.items():
            if session_id in self._sessions:
                continue
            try:
                credentials = Credentials.from_dict(data)
            except (WAProtoError, ValueError, TypeError, KeyError) as exc:
                log.error("session %s: saved credentials are unreadable (%s); not restored", session_id, exc)
                continue
            self._start(session_id, credentials)
            restored += 1
        return restored

    async def create(self, session_id: str) -> Session:
        """Start linking a new session (idempotent: a running one is returned as it is; one whose client
        stopped, e.g. replaced by another connection, is started again with its credentials; a
        logged-out one starts linking again with fresh credentials)."""
        async with self._lock:
            existing = self._sessions.get(session_id)
            if existing is not None and existing.status != "logged_out":
                if not existing._done.is_set():
                    return existing
                # Its client stopped for good (replaced by another connection): start it again.
                return self._start(session_id, existing.client.credentials)
            if existing is not None:
                await self._stop(existing)
            credentials = Credentials.generate(self._rng, push_name="waporta")
            return self._start(session_id, credentials)

    async def request_pairing_code(self, session_id: str, phone: str) -> str:
        """Link ``session_id`` by pairing code to ``phone`` (digits); the code to type on the phone.

        :class:`UnknownSession` when there is no such session; ``NotConnected`` when it is not connected
        to the server (retry later); ``LocalProtocolError`` when it is already linked.
        """
        session = self.get(session_id)
        code = await session.client.request_pairing_code(phone)
        session.pairing_code = code
        await self._set(session, "pairing")
        return code

    async def delete(self, session_id: str) -> Session:
        """Log the session out (unlinking the device when connected), stop it and wipe its WhatsApp state."""
        await self._hand_over(self.get(session_id))  # outside the lock: other sessions are not held up
        async with self._lock:
            session = self.get(session_id)
            if session.status == "connected":
                try:
                    with trio.move_on_after(10):
                        await session.client.logout()
                except (NotConnected, WAProtoError) as exc:
                    log.warning("session %s: logout request failed (%s); wiping anyway", session_id, exc)
            await self._stop(session)
            dropped = await delete_session(self.db, session_id)
            if dropped.unhandled:
                log.warning(
                    "session %s: deleted with %d received messages the hooks never had",
                    session_id,
                    dropped.unhandled,
                )
            del self._sessions[session_id]
            session.qr = session.pairing_code = None
            if session.status != "logged_out":
                session.reason = "deleted"
                await self._set(session, "logged_out")
            return session

    # ---------------------------------------------------------------- messaging

    def ready(self, session_id: str) -> Session:
        """The session if it can send now, else the error that says why (no network use):
        :class:`UnknownSession`, :class:`SessionLoggedOut`, :class:`SessionNotLinked` (never linked: it
        shows a QR, waits for a pairing code, or is still connecting to register),
        :class:`SessionUnavailable` (linked, but connecting or disconnected)."""
        session = self.get(session_id)
        if session.status == "logged_out":
            raise SessionLoggedOut(session_id, f"session {session_id} is logged out: link it again")
        if session.status in ("qr", "pairing") or session.client.credentials.me is None:
            raise SessionNotLinked(session_id, f"session {session_id} is not linked to a phone yet")
        if session.status != "connected" or session._done.is_set():
            raise SessionUnavailable(session_id, f"session {session_id} is {session.status}")
        return session

    async def send(
        self,
        session_id: str,
        to: JID,
        message: Message,
        *,
        media_type: str | None = None,
        message_id: str | None = None,
    ) -> SentMessage:
        """Send ``message`` to ``to`` (a user, by phone number or LID, or a group ``…@g.us``); returns once
        the server acked it (status "sent").

        ``media_type`` is the ``<enc mediatype>`` of a media message (``waproto.content.media_type_attr``);
        ``message_id`` reuses an id (a retry of a send that failed with :class:`SessionUnavailable`,
        whose ``message_id`` it is). Errors: see :meth:`ready`; :class:`SessionUnavailable` also when the
        connection drops during the send or the server does not ack in time; waproto's
        ``NotOnWhatsApp`` (no such account) and ``MessageRefused`` (the server refused it) pass through.
        """
        session = self.ready(session_id)
        messenger = session.messenger
        message_id = message_id or messenger.new_message_id()
        sending = messenger.send_message(to, message, message_id=message_id, media_type=media_type)
        # The send's session records are committed together on the stanza's way out (the transport).
        with deferring_session_writes():
            return await guarded(session_id, message_id, sending)

    async def check(self, session_id: str, phone: str) -> CheckResult:
        """Whether ``phone`` (digits with country code) is on WhatsApp: ``CheckResult(exists, jid, lid)``
        (one usync contact query; the LID↔PN pair it tells is kept in the session's LID map).

        Errors: see :meth:`ready`; :class:`SessionUnavailable` when the connection drops or the server
        does not answer in time; waproto's ``LocalProtocolError`` for a malformed number (nothing sent).
        """
        session = self.ready(session_id)
        found = await guarded(session_id, None, session.directory.check([phone]))
        return found[phone]

    async def upload(self, session_id: str, data: bytes, media_type: MediaType | str) -> UploadedMedia:
        """Encrypt ``data`` and upload it to WhatsApp's media servers as ``media_type`` (image, video,
        audio, document, sticker, ...); build the message with ``waproto.content.image_message`` /
        ``document_message`` and :meth:`send` it with ``media_type=waproto.content.media_type_attr(...)``.

        Errors: see :meth:`ready`; :class:`SessionUnavailable` when ``media_conn`` cannot be fetched (the
        connection dropped, no answer in time); waproto's ``MediaUploadError`` (every media host failed or
        refused it) and ``LocalProtocolError`` (a type that cannot be uploaded) pass through.
        """
        session = self.ready(session_id)
        return await guarded(session_id, None, session.media.upload(data, media_type))

    async def download(self, session_id: str, message_id: str) -> bytes:
        """The decrypted, verified media of the message ``session_id`` received with id ``message_id``.

        Errors: see :meth:`ready`; :class:`UnknownMessage` when no such message was received;
        :class:`SessionUnavailable` as for :meth:`upload`; waproto's ``LocalProtocolError`` (the message
        holds no media), ``MediaDownloadError`` (gone, expired, unreachable) and ``MediaIntegrityError``
        (a file that failed verification) pass through.
        """
        session = self.ready(session_id)
        received = await find_inbound(self.db, session_id, message_id)
        if received is None:
            raise UnknownMessage(session_id, f"session {session_id} received no message {message_id}")
        return await guarded(session_id, None, session.media.download(received.message()))

    async def aclose(self) -> None:
        """Stop every client (their state stays saved) and close the media HTTP client."""
        for session in list(self._sessions.values()):
            await self._stop(session)
        await self.media_http.aclose()

    # ---------------------------------------------------------------- internals

    def _start(self, session_id: str, credentials: Credentials) -> Session:
        store = SessionStore(self.db, session_id, credentials)
        client = Client(
            self.settings,
            credentials,
            store,
            rng=self._rng,
            now=self._now,
            transport=committing_transport(self._transport, store.signal.flush),
        )
        inbox = InboundQueue(self.db, session_id, self._on_message, now=self._now)
        directory = Directory(
            client,
            device_store=SqliteDeviceListStore(self.db, session_id),
            lid_store=SqliteLidMapStore(self.db, session_id),
            now=self._now,
            rng=self._rng,
        )

        async def on_item(item: ReceivedMessage | UndecryptableMessage) -> None:
            await self._received(session, item)

        messenger = Messenger(
            client,
            on_item,
            signal_store=store.signal,
            sender_key_store=SqliteSenderKeyStore(self.db, session_id),
            directory=directory,
            addressing=self.addressing,
            rng=self._rng,
            now=self._now,
        )
        media = MediaClient(client, http=self.media_http, rng=self._rng, now=self._now)
        session = Session(session_id, client, messenger, inbox, directory, media)
        if credentials.me is not None:
            session.jid = str(credentials.me)
            session.lid = None if credentials.lid is None else str(credentials.lid)
        self._sessions[session_id] = session
        self._nursery.start_soon(self._supervise, session)
        return session

    async def _hand_over(self, session: Session) -> None:
        """Wait (at most :attr:`hand_over_timeout` seconds) until the hooks had every committed message."""
        if session._done.is_set():
            return  # its queue no longer runs: what is left stays committed for the next start
        with trio.move_on_after(self.hand_over_timeout) as waiting:
            await session.inbox.drained()
        if waiting.cancelled_caught:
            log.warning("session %s: the hooks did not take every received message in time", session.id)

    async def _stop(self, session: Session) -> None:
        session._scope.cancel()
        with trio.CancelScope(shield=True):
            await session._done.wait()

    async def _supervise(self, session: Session) -> None:
        try:
            with session._scope:
                await self._report(session)
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(session.client.run)
                    nursery.start_soon(session.messenger.run)
                    nursery.start_soon(session.inbox.run)
                    async for event in session.client.events:
                        await self._on_event(session, event)
                    # The client stopped for good: so do its helpers, once the hooks had what was
                    # committed (what they have not had in time stays committed and is handed on when
                    # the session starts again).
                    await self._hand_over(session)
                    nursery.cancel_scope.cancel()
        except Exception:
            log.exception("session %s: the client failed", session.id)
            session.reason = "internal_error"
            with trio.CancelScope(shield=True):
                await self._set(session, "disconnected")
        finally:
            session._done.set()

    async def _received(self, session: Session, item: ReceivedMessage | UndecryptableMessage) -> None:
        """The Messenger's callback (in the client's read loop): commit, return; the receipt follows."""
        if isinstance(item, UndecryptableMessage):
            log.warning(
                "session %s: message %s from %s does not decrypt: %s",
                session.id,
                item.id,
                item.sender,
                item.error,
            )
            return
        message = InboundMessage.from_received(session.id, item, me=session.client.credentials.me)
        await session.inbox.accept(message)

    async def _on_event(self, session: Session, event: ClientEvent) -> None:
        if isinstance(event, QRCode):
            session.qr = event.qr
            if session.status == "qr":
                session._touch()  # a rotation: same status, new QR
            await self._set(session, "qr")
        elif isinstance(event, PairingCode):
            session.pairing_code = event.code
            await self._set(session, "pairing")
        elif isinstance(event, Paired):
            session.qr = session.pairing_code = None
            session.jid = str(event.jid)
            session.lid = None if event.lid is None else str(event.lid)
            await self._set(session, "connecting")
        elif isinstance(event, Connected):
            session.qr = session.pairing_code = None
            session.jid = str(event.jid)
            session.lid = None if event.lid is None else str(event.lid)
            session.reason = None
            await self._set(session, "connected")
        elif isinstance(event, Disconnected):
            session.reason = event.reason
            await self._set(session, "disconnected")
        elif isinstance(event, LoggedOut):
            session.qr = session.pairing_code = None
            session.reason = event.reason
            with trio.CancelScope(shield=True):  # received messages the hooks have not had are kept
                await delete_session(self.db, session.id, keep_unhandled=True)
            await self._set(session, "logged_out")

    async def _set(self, session: Session, status: str) -> None:
        if session.status == status:
            return
        session.status = status
        session._touch()
        await self._report(session)

    async def _report(self, session: Session) -> None:
        log.info("session %s: %s", session.id, session.status)
        if self._on_status is not None:
            await self._on_status(session.id, session.status)


@contextlib.asynccontextmanager
async def open_sessions(
    db: Database,
    settings: ClientSettings,
    *,
    on_status: StatusCallback | None = None,
    on_message: MessageHandler | None = None,
    addressing: Literal["lid", "pn"] = "lid",
    media_ssl_context: ssl.SSLContext | None = None,
    rng: Callable[[int], bytes] = secrets.token_bytes,
    now: Callable[[], float] = time.time,
    transport: TransportFactory | None = None,
) -> AsyncIterator[Sessions]:
    """A running supervisor, with every linked session restored, for the block; its clients are
    stopped (state kept) when the block exits."""
    async with trio.open_nursery() as nursery:
        sessions = Sessions(
            db,
            settings,
            nursery,
            on_status=on_status,
            on_message=on_message,
            addressing=addressing,
            media_ssl_context=media_ssl_context,
            rng=rng,
            now=now,
            transport=transport,
        )
        await sessions.restore()
        try:
            yield sessions
        finally:
            with trio.CancelScope(shield=True):
                await sessions.aclose()
            nursery.cancel_scope.cancel()
