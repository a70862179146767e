"""waporta.sessions: the supervisor against an in-process sandbox on 127.0.0.1 (real sockets, bounded waits).

Link by QR and by pairing code, restore after a restart without re-linking, get logged out (and wiped)
when the phone unlinks the device, and delete (logout + wipe). Messaging: send a text to an echo account,
its answer committed to ``inbound_messages`` before the receipt and handed to ``on_message`` (and through
the hub to a ``message_received`` plugin); a redelivery is receipted but not handed on twice; Signal state
survives a restart; each error of ``Sessions.send`` from each status.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.waproto.sandbox.interop_helpers import Served, served_sandbox
from waporta import hookimpl
from waporta.config import Config, StorageConfig, WhatsAppConfig, default_config
from waporta.hub import Hub, open_hub
from waporta.messages import InboundMessage
from waporta.plugins import Plugins
from waporta.sessions import (
    Session,
    SessionError,
    SessionLoggedOut,
    SessionNotLinked,
    Sessions,
    SessionStore,
    SessionUnavailable,
    UnknownMessage,
    UnknownSession,
    client_settings,
    open_sessions,
)
from waporta.storage import Database
from waporta.storage.stores import SESSION_TABLES, load_all_credentials
from waproto.binary import Node
from waproto.client import ClientSettings, IqError, IqTimeout, NotConnected, TransportClosed
from waproto.client.messaging import SentMessage
from waproto.credentials import Credentials
from waproto.errors import MessageRefused, NotOnWhatsApp
from waproto.jid import DEFAULT_USER_SERVER, JID
from waproto.proto import Message
from waproto.sandbox.phone import Received, SimPhone
from waproto.signal.keys import generate_pre_keys
from waproto.usync import CheckResult

PHONE = "15550003333"
ECHO = "15550005555"
ECHO_JID = JID(ECHO, DEFAULT_USER_SERVER)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with served_sandbox(tmp_path / "sandbox") as running:
        await running.create_account(PHONE, name="Alice")
        await running.create_account(ECHO, name="Echo", bot="echo")
        yield running


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    opened = await Database.open(tmp_path / "waporta.db")
    try:
        yield opened
    finally:
        await opened.aclose()


def settings_for(served: Served) -> ClientSettings:
    return ClientSettings(
        url=served.ws_url,
        noise_root_public_key=served.sandbox.root_public_key,
        backoff_initial=0.05,
        backoff_max=0.5,
    )


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def __call__(self, session_id: str, status: str) -> None:
        self.calls.append((session_id, status))


async def wait_for(session: Session, status: str, *, seconds: float = 15) -> None:
    with trio.fail_after(seconds):
        await session.wait_status(status)


async def wait_qr(session: Session) -> str:
    await wait_for(session, "qr")
    assert session.qr is not None
    return session.qr


async def link_by_qr(served: Served, sessions: Sessions, session_id: str) -> Session:
    session = await sessions.create(session_id)
    qr = await wait_qr(session)
    assert session.status == "qr"
    response = await served.post(f"/sandbox/accounts/{PHONE}/scan", {"qr": qr})
    assert response.status_code == 200, response.text
    await wait_for(session, "connected")
    assert session.jid == response.json()["jid"]
    assert session.qr is None
    return session


def rows(db_file: Path, session_id: str) -> int:
    with sqlite3.connect(db_file) as conn:
        return sum(
            conn.execute(f"SELECT count(*) FROM {table} WHERE session_id = ?", (session_id,)).fetchone()[0]
            for table in SESSION_TABLES
        )


async def test_link_by_qr_and_restore_without_relinking(served: Served, db: Database) -> None:
    recorder = Recorder()
    async with open_sessions(db, settings_for(served), on_status=recorder) as sessions:
        session = await link_by_qr(served, sessions, "sales")
        jid = session.jid
        assert (await sessions.create("sales")) is session  # idempotent while running
    statuses = [status for sid, status in recorder.calls if sid == "sales"]
    assert statuses[:2] == ["connecting", "qr"]
    assert statuses[-1] == "connected"
    saved = await load_all_credentials(db)
    assert list(saved) == ["sales"]
    assert str(Credentials.from_dict(saved["sales"]).me) == jid
    account = served.sandbox.network.accounts[PHONE]
    assert sorted(account.companions) == [1]

    # A restart: the session is restored and logs in again, no QR, no new device.
    async with open_sessions(db, settings_for(served)) as sessions:
        restored = sessions.get("sales")
        assert restored.jid == jid
        await wait_for(restored, "connected")
        assert restored.qr is None
    assert sorted(account.companions) == [1]


async def test_link_by_pairing_code(served: Served, db: Database) -> None:
    async with open_sessions(db, settings_for(served)) as sessions:
        session = await sessions.create("support")
        await wait_qr(session)  # registered with the server
        with trio.fail_after(15):
            code = await sessions.request_pairing_code("support", PHONE)
        assert session.status == "pairing"
        assert session.pairing_code == code
        response = await served.post(f"/sandbox/accounts/{PHONE}/link-code", {"code": code})
        assert response.status_code == 200, response.text
        await wait_for(session, "connected")
        assert session.jid is not None
        assert session.jid.startswith(PHONE)


async def test_unlinked_from_the_phone_is_logged_out_and_wiped(
    served: Served, db: Database, tmp_path: Path
) -> None:
    recorder = Recorder()
    async with open_sessions(db, settings_for(served), on_status=recorder) as sessions:
        session = await link_by_qr(served, sessions, "ops")
        assert rows(tmp_path / "waporta.db", "ops") > 0
        response = await served.post(f"/sandbox/devices/{session.jid}/logout")
        assert response.status_code == 200, response.text
        await wait_for(session, "logged_out")
        assert session.reason == "device_removed"
        assert recorder.calls[-1] == ("ops", "logged_out")
        assert rows(tmp_path / "waporta.db", "ops") == 0  # wiped before the status changed
        # Creating it again starts a fresh link.
        again = await sessions.create("ops")
        assert again is not session
        await wait_qr(again)
    assert await load_all_credentials(db) == {}


async def test_delete_logs_out_and_wipes(served: Served, db: Database, tmp_path: Path) -> None:
    recorder = Recorder()
    async with open_sessions(db, settings_for(served), on_status=recorder) as sessions:
        await link_by_qr(served, sessions, "gone")
        with trio.fail_after(15):
            deleted = await sessions.delete("gone")
        assert deleted.status == "logged_out"
        assert recorder.calls[-1] == ("gone", "logged_out")
        with pytest.raises(UnknownSession):
            sessions.get("gone")
        assert sessions.all() == []
    assert rows(tmp_path / "waporta.db", "gone") == 0
    assert served.sandbox.network.accounts[PHONE].companions == {}


async def test_delete_of_an_unlinked_session(served: Served, db: Database) -> None:
    async with open_sessions(db, settings_for(served)) as sessions:
        session = await sessions.create("fresh")
        await wait_qr(session)
        deleted = await sessions.delete("fresh")
        assert deleted.status == "logged_out"
        assert deleted.reason == "deleted"
        with pytest.raises(UnknownSession):
            await sessions.delete("fresh")


async def test_store_adapter_round_trips(db: Database) -> None:
    import secrets

    creds = Credentials.generate(secrets.token_bytes)
    store = SessionStore(db, "s1", creds)
    await store.save_credentials(creds)
    assert Credentials.from_dict((await load_all_credentials(db))["s1"]) == creds
    record = generate_pre_keys(7, 1, secrets.token_bytes)[0]
    await store.store_pre_key(7, record)
    loaded = await store.load_pre_key(7)
    assert loaded is not None
    assert loaded.serialize() == record.serialize()
    await store.remove_pre_key(7)
    assert await store.load_pre_key(7) is None
    # The signed prekey the client publishes is the credentials' one (a peer's pkmsg names it).
    signed = await store.signal.load_signed_pre_key(creds.signed_pre_key.key_id)
    assert signed is not None
    assert signed.serialize() == creds.signed_pre_key.serialize()
    assert await store.signal.load_signed_pre_key(creds.signed_pre_key.key_id + 1) is None
    assert (await store.signal.get_identity_key_pair()) == creds.identity_key
    await store.delete_credentials()
    assert await load_all_credentials(db) == {}


async def test_unreadable_saved_credentials_are_skipped(db: Database, served: Served) -> None:
    await db.write(
        lambda conn: conn.execute("INSERT INTO wa_credentials (session_id, data) VALUES ('bad', '{}')")
    )
    async with open_sessions(db, settings_for(served)) as sessions:
        assert sessions.all() == []


async def test_dropped_connection_shows_disconnected_then_reconnects(served: Served, db: Database) -> None:
    recorder = Recorder()
    async with open_sessions(db, settings_for(served), on_status=recorder) as sessions:
        session = await link_by_qr(served, sessions, "flaky")
        response = await served.post(f"/sandbox/devices/{session.jid}/disconnect")
        assert response.status_code == 200, response.text
        await wait_for(session, "disconnected")
        assert session.reason is not None
        await wait_for(session, "connected")
        assert session.reason is None
    statuses = [status for sid, status in recorder.calls if sid == "flaky"]
    assert statuses[-3:] == ["connected", "disconnected", "connected"]


async def test_the_latest_qr_is_kept(served: Served, db: Database) -> None:
    settings = dataclasses.replace(settings_for(served), qr_first_valid=0.2, qr_valid=0.2)
    async with open_sessions(db, settings) as sessions:
        session = await sessions.create("rotating")
        first = await wait_qr(session)
        with trio.fail_after(10):
            while session.qr == first:
                await session.changed()
        assert session.qr is not None
        assert session.qr != first
        assert session.qr.split(",")[0] != first.split(",")[0]  # a new ref


async def test_create_restarts_a_stopped_client_with_its_credentials(served: Served, db: Database) -> None:
    async with open_sessions(db, settings_for(served)) as sessions:
        session = await link_by_qr(served, sessions, "stopped")
        await session.client.aclose()  # as after a 440 "replaced": the client does not reconnect
        with trio.fail_after(10):
            await session._done.wait()
        assert session.status == "disconnected"
        again = await sessions.create("stopped")
        assert again is not session
        await wait_for(again, "connected")
        assert again.jid == session.jid
        assert sorted(served.sandbox.network.accounts[PHONE].companions) == [1]  # no new device


# ---------------------------------------------------------------------- messaging


class Inbox:
    """``on_message``: records each message handed on."""

    def __init__(self) -> None:
        self.messages: list[InboundMessage] = []
        self._arrived = trio.Event()

    async def __call__(self, session_id: str, message: InboundMessage) -> None:
        assert session_id == message.session_id
        self.messages.append(message)
        self._arrived.set()
        self._arrived = trio.Event()

    async def next(self, *, after: int = 0) -> InboundMessage:
        """The first message with index >= ``after``, waiting for it."""
        with trio.fail_after(15):
            while len(self.messages) <= after:
                await self._arrived.wait()
        return self.messages[after]


def stored(db_file: Path, message_id: str) -> list[tuple[str, str, str]]:
    with sqlite3.connect(db_file) as conn:
        rows = conn.execute(
            "SELECT session_id, chat, sender FROM inbound_messages WHERE message_id = ?", (message_id,)
        )
        return [tuple(row) for row in rows]


class ReceiptSpy:
    """Records the delivery receipts a sandbox phone receives from device ``device`` (of any account)
    and, at that moment, whether the hub had the message committed in ``inbound_messages``."""

    def __init__(self, phone: SimPhone, db_file: Path, device: int) -> None:
        self.db_file = db_file
        self.device = device
        self.receipts: list[tuple[Node, bool]] = []
        self._arrived = trio.Event()
        self._original = phone.receive
        phone.receive = self._receive  # type: ignore[method-assign]

    async def _receive(self, node: Node, *, now: int) -> Received:
        sender = node.attrs.get("from")
        if (
            node.tag == "receipt"
            and node.attrs.get("type") is None
            and isinstance(sender, JID)
            and sender.device == self.device
        ):
            committed = bool(stored(self.db_file, str(node.attrs.get("id"))))
            self.receipts.append((node, committed))
            self._arrived.set()
            self._arrived = trio.Event()
        return await self._original(node, now=now)

    async def receipts_for(self, message_id: str, count: int = 1) -> list[bool]:
        """Whether the message was committed at each of its first ``count`` receipts (waiting for them)."""
        with trio.fail_after(15):
            while True:
                found = [committed for node, committed in self.receipts if node.attrs.get("id") == message_id]
                if len(found) >= count:
                    return found
                await self._arrived.wait()


def echo_kinds(served: Served, sent: SentMessage) -> list[str]:
    """The ``<enc>`` types of a send for the echo's devices (PN or LID addressed)."""
    users = {ECHO, served.sandbox.network.accounts[ECHO].lid}
    kinds = [kind for device, kind in sent.encryptions.items() if device.user in users]
    assert kinds
    return kinds


async def send(sessions: Sessions, session_id: str, text: str, **kwargs: Any) -> SentMessage:
    with trio.fail_after(15):
        return await sessions.send(session_id, ECHO_JID, Message(conversation=text), **kwargs)


async def test_send_to_the_echo_and_receive_its_answer_committed_before_the_receipt(
    served: Served, db: Database, tmp_path: Path
) -> None:
    inbox = Inbox()
    db_file = tmp_path / "waporta.db"
    async with open_sessions(db, settings_for(served), on_message=inbox) as sessions:
        session = await link_by_qr(served, sessions, "sales")
        echo_phone = await served.sandbox.messaging.phone(ECHO)
        me = session.client.credentials.me
        assert me is not None
        spy = ReceiptSpy(echo_phone, db_file, me.device)
        sent = await send(sessions, "sales", "hello hub")
        assert (sent.status, sent.to.user) == ("sent", ECHO)
        logged = echo_phone.find(sent.id, "in")
        assert logged is not None
        assert (logged.kind, logged.text) == ("text", "hello hub")

        echo = await inbox.next()
        assert echo.from_me is False
        assert echo.sender == ECHO_JID
        assert echo.recipient == JID(PHONE, DEFAULT_USER_SERVER)
        payload = echo.as_payload()
        assert payload == {
            "event": "message.received",
            "sessionId": "sales",
            "messageId": echo.message_id,
            "sender": f"{ECHO}@s.whatsapp.net",
            "recipient": f"{PHONE}@s.whatsapp.net",
            "timestamp": echo.timestamp,
            "messageType": "text",
            "content": {"text": "echo: hello hub"},
            "raw": {
                "key": payload["raw"]["key"],
                "message": {"conversation": "echo: hello hub"},
                "messageTimestamp": echo.timestamp,
                "pushName": "Echo",
            },
        }
        assert payload["raw"]["key"]["id"] == echo.message_id
        assert payload["raw"]["key"]["fromMe"] is False
        assert echo.timestamp > 1_700_000_000
        # Committed before the receipt told the echo's phone it was delivered.
        assert await spy.receipts_for(echo.message_id) == [True]
        assert len(stored(db_file, echo.message_id)) == 1

        # WhatsApp delivers the same message again (a new ciphertext, the same key): receipted again,
        # stored once, not handed on twice.
        async def redeliver() -> None:
            node = await echo_phone.send_text(
                JID(PHONE, DEFAULT_USER_SERVER), "echo: hello hub", now=served.sandbox.now(), message_id=echo.message_id
            )
            await served.sandbox.messaging.submit(echo_phone.device, node)

        await redeliver()
        assert await spy.receipts_for(echo.message_id, 2) == [True, True]
        with trio.fail_after(15):
            await session.inbox.drained()
        assert [m.message_id for m in inbox.messages] == [echo.message_id]
        assert len(stored(db_file, echo.message_id)) == 1


async def test_restart_keeps_the_signal_state(served: Served, db: Database) -> None:
    inbox = Inbox()
    async with open_sessions(db, settings_for(served), on_message=inbox) as sessions:
        await link_by_qr(served, sessions, "sales")
        first = await send(sessions, "sales", "before")
        assert set(echo_kinds(served, first)) == {"pkmsg"}  # a new Signal session with the echo
        await inbox.next()
    # A new supervisor on the same database: no QR, the Signal sessions come from SQLite.
    async with open_sessions(db, settings_for(served), on_message=inbox) as sessions:
        restored = sessions.get("sales")
        await wait_for(restored, "connected")
        assert restored.qr is None
        again = await send(sessions, "sales", "after")
        assert set(echo_kinds(served, again)) == {"msg"}  # the Signal session with the echo, kept
        answer = await inbox.next(after=1)
        assert dict(answer.content) == {"text": "echo: after"}
    assert sorted(served.sandbox.network.accounts[PHONE].companions) == [1]


class FakeMessenger:
    """Stands in for a session's Messenger: every send raises ``error``."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.ids: list[str | None] = []

    def new_message_id(self) -> str:
        return "3EB0FAKE"

    async def send_message(self, to: JID, message: Message, **kwargs: Any) -> SentMessage:
        self.ids.append(kwargs.get("message_id"))
        raise self.error


async def test_errors_from_each_status(served: Served, db: Database) -> None:
    async with open_sessions(db, settings_for(served)) as sessions:
        with pytest.raises(UnknownSession) as unknown:
            await sessions.send("nobody", ECHO_JID, Message(conversation="x"))
        with pytest.raises(UnknownSession):
            await sessions.check("nobody", ECHO)
        assert (unknown.value.status, unknown.value.code, unknown.value.session_id) == (404, "session_not_found", "nobody")
        assert isinstance(unknown.value, LookupError)

        fresh = await sessions.create("fresh")
        await wait_qr(fresh)
        with pytest.raises(SessionNotLinked) as not_linked:
            await sessions.send("fresh", ECHO_JID, Message(conversation="x"))
        with pytest.raises(SessionNotLinked):
            await sessions.check("fresh", ECHO)
        assert (not_linked.value.status, not_linked.value.code, not_linked.value.retryable) == (
            409,
            "session_not_linked",
            False,
        )
        fresh.status = "connecting"  # still registering: not linked either
        with pytest.raises(SessionNotLinked):
            await sessions.send("fresh", ECHO_JID, Message(conversation="x"))

        session = await link_by_qr(served, sessions, "sales")
        with trio.fail_after(15), pytest.raises(NotOnWhatsApp):
            await sessions.send("sales", JID("15559999999", DEFAULT_USER_SERVER), Message(conversation="x"))
        for status in ("connecting", "disconnected"):
            session.status = status  # as the supervisor sets it while the connection is down
            with pytest.raises(SessionUnavailable) as unavailable:
                await sessions.send("sales", ECHO_JID, Message(conversation="not sent"))
            assert unavailable.value.retryable
            assert unavailable.value.message_id is None  # nothing went out
            with pytest.raises(SessionUnavailable):
                await sessions.check("sales", ECHO)
        session.status = "connected"
        echo_phone = await served.sandbox.messaging.phone(ECHO)
        assert echo_phone.log == []  # the status checks came before any network use

        response = await served.post(f"/sandbox/devices/{session.jid}/logout")
        assert response.status_code == 200, response.text
        await wait_for(session, "logged_out")
        with pytest.raises(SessionLoggedOut) as logged_out:
            await sessions.send("sales", ECHO_JID, Message(conversation="x"))
        with pytest.raises(SessionLoggedOut):
            await sessions.check("sales", ECHO)
        assert (logged_out.value.status, logged_out.value.code) == (409, "session_logged_out")
        assert all(isinstance(e.value, SessionError) for e in (unknown, not_linked, logged_out))


async def test_failures_during_the_send(served: Served, db: Database) -> None:
    async with open_sessions(db, settings_for(served)) as sessions:
        session = await link_by_qr(served, sessions, "sales")
        real = session.messenger
        cases: list[tuple[BaseException, type[BaseException]]] = [
            (NotConnected("gone"), SessionUnavailable),
            (TransportClosed("closed"), SessionUnavailable),
            (IqTimeout("slow"), SessionUnavailable),
            (IqError("iq failed: 500", code=500), SessionUnavailable),
            (IqError("iq failed: 503", code=None), SessionUnavailable),
            (IqError("iq failed: 406", code=406), MessageRefused),
            (MessageRefused("refused", code="479"), MessageRefused),
            (NotOnWhatsApp("nobody"), NotOnWhatsApp),
        ]
        for error, expected in cases:
            fake = FakeMessenger(error)
            session.messenger = fake  # type: ignore[assignment]
            with pytest.raises(expected) as caught:
                await sessions.send("sales", ECHO_JID, Message(conversation="x"), message_id="3EB0GIVEN")
            assert fake.ids == ["3EB0GIVEN"]
            if isinstance(caught.value, SessionUnavailable):
                assert caught.value.message_id == "3EB0GIVEN"
                assert caught.value.__cause__ is error
        session.messenger = real

        class SlowDirectory:
            async def check(self, phones: list[str]) -> dict[str, CheckResult]:
                raise IqTimeout("no answer")

        real_directory = session.directory
        session.directory = SlowDirectory()  # type: ignore[assignment]
        with pytest.raises(SessionUnavailable) as caught_check:
            await sessions.check("sales", ECHO)
        assert caught_check.value.message_id is None
        session.directory = real_directory


async def test_check_numbers(served: Served, db: Database, tmp_path: Path) -> None:
    async with open_sessions(db, settings_for(served)) as sessions:
        await link_by_qr(served, sessions, "sales")
        with trio.fail_after(15):
            found = await sessions.check("sales", ECHO)
            missing = await sessions.check("sales", "15559999999")
    lid = served.sandbox.network.accounts[ECHO].lid
    assert found == CheckResult(True, ECHO_JID, JID(lid, "lid"))
    assert missing.exists is False
    assert missing.jid is None
    # The pair was kept in the session's LID map.
    with sqlite3.connect(tmp_path / "waporta.db") as conn:
        rows = conn.execute("SELECT lid_user, pn_user FROM wa_lid_mappings WHERE session_id = 'sales'").fetchall()
    assert (lid, ECHO) in rows


async def test_no_server_ack_is_retryable_with_the_same_id(served: Served, db: Database) -> None:
    settings = dataclasses.replace(settings_for(served), iq_timeout=1.0)
    async with open_sessions(db, settings) as sessions:
        await link_by_qr(served, sessions, "sales")
        handler = served.sandbox.stanza_handlers["message"]

        async def swallow(connection: Any, node: Node) -> None:
            return None  # the server takes the message and never acks it

        served.sandbox.stanza_handlers["message"] = swallow
        with pytest.raises(SessionUnavailable) as caught:
            await send(sessions, "sales", "lost")
        message_id = caught.value.message_id
        assert message_id is not None
        served.sandbox.stanza_handlers["message"] = handler
        sent = await send(sessions, "sales", "lost", message_id=message_id)
        assert sent.id == message_id
        echo_phone = await served.sandbox.messaging.phone(ECHO)
        assert [e.id for e in echo_phone.log if e.direction == "in"] == [message_id]


class MessagePlugin:
    """A plugin recording ``message_received`` calls (and their payloads)."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []
        self.arrived = trio.Event()

    @hookimpl
    async def message_received(self, hub: Hub, session_id: str, message: InboundMessage) -> None:
        self.payloads.append({"session_id": session_id, **message.as_payload()})
        self.arrived.set()


async def test_the_hub_hands_received_messages_to_the_plugins(served: Served, tmp_path: Path) -> None:
    config: Config = dataclasses.replace(
        default_config(),
        storage=StorageConfig(data_dir=tmp_path / "data"),
        whatsapp=WhatsAppConfig(
            websocket_url=served.ws_url, noise_root_public_key=served.sandbox.root_public_key.hex(), addressing="pn"
        ),
    )
    plugin = MessagePlugin()
    plugins = Plugins()
    plugins.register(plugin, "recorder")
    async with open_hub(config, plugins) as hub:
        sessions = hub.sessions
        assert sessions is not None
        assert sessions.addressing == "pn"  # [whatsapp] addressing
        session = await link_by_qr(served, sessions, "hubbed")
        assert session.messenger.addressing == "pn"
        await send(sessions, "hubbed", "through the hub")
        with trio.fail_after(15):
            await plugin.arrived.wait()
    [payload] = plugin.payloads
    assert payload["session_id"] == payload["sessionId"] == "hubbed"
    assert payload["content"] == {"text": "echo: through the hub"}
    assert payload["sender"] == f"{ECHO}@s.whatsapp.net"


def test_client_settings_of_the_config(tmp_path: Path) -> None:
    from waproto.sandbox.media import ensure_tls_files

    plain = client_settings(WhatsAppConfig(websocket_url="wss://example.test/ws/chat"))
    assert plain.url == "wss://example.test/ws/chat"
    assert plain.ssl_context is None
    assert plain.noise_root_public_key == ClientSettings(url="x").noise_root_public_key  # WhatsApp's root
    ca_file = ensure_tls_files(tmp_path / "tls").ca_file
    custom = client_settings(
        WhatsAppConfig(websocket_url="wss://example.test/ws/chat", noise_root_public_key="ab" * 32, ca_file=ca_file)
    )
    assert custom.noise_root_public_key == bytes.fromhex("ab" * 32)
    assert custom.ssl_context is not None
    names = {dict(item[0] for item in cert["subject"]).get("commonName") for cert in custom.ssl_context.get_ca_certs()}
    assert "waproto sandbox media CA" in names


async def test_image_and_document_to_the_echo_and_back_with_download(tmp_path: Path, db: Database) -> None:
    import ssl

    from waproto.content import document_message, image_message, media_type_attr

    picture = bytes(range(256)) * 40
    report = b"%PDF-1.4 a small report\n" * 100
    inbox = Inbox()
    async with served_sandbox(tmp_path / "media-sandbox", media=True) as served:
        await served.create_account(PHONE, name="Alice")
        await served.create_account(ECHO, name="Echo", bot="echo")
        assert served.ca_file is not None
        trust = ssl.create_default_context(cafile=served.ca_file)
        async with open_sessions(db, settings_for(served), on_message=inbox, media_ssl_context=trust) as sessions:
            await link_by_qr(served, sessions, "sales")
            echo_phone = await served.sandbox.messaging.phone(ECHO)
            with trio.fail_after(30):
                uploaded = await sessions.upload("sales", picture, "image")
                image = image_message(uploaded, mimetype="image/png", caption="a picture", width=16, height=10)
                sent = await sessions.send("sales", ECHO_JID, image, media_type=media_type_attr(image))
            logged = echo_phone.find(sent.id, "in")
            assert logged is not None
            assert (logged.kind, logged.text, logged.media_bytes) == ("image", "a picture", picture)

            echoed = await inbox.next()
            assert echoed.kind == "image"
            assert dict(echoed.content) == {
                "caption": "a picture",
                "mimetype": "image/png",
                "fileLength": len(picture),
                "fileSha256": uploaded.file_sha256.hex(),
                "width": 16,
                "height": 10,
                "mediaType": "image",
            }
            assert echoed.as_payload()["messageType"] == "image"
            with trio.fail_after(30):
                assert await sessions.download("sales", echoed.message_id) == picture

            with trio.fail_after(30):
                uploaded_doc = await sessions.upload("sales", report, "document")
                document = document_message(uploaded_doc, mimetype="application/pdf", file_name="report.pdf")
                sent_doc = await sessions.send("sales", ECHO_JID, document, media_type=media_type_attr(document))
            logged_doc = echo_phone.find(sent_doc.id, "in")
            assert logged_doc is not None
            assert (logged_doc.kind, logged_doc.media_bytes) == ("document", report)
            echoed_doc = await inbox.next(after=1)
            assert echoed_doc.kind == "document"
            assert echoed_doc.content["fileName"] == "report.pdf"
            with trio.fail_after(30):
                assert await sessions.download("sales", echoed_doc.message_id) == report

            with pytest.raises(UnknownMessage) as unknown:
                await sessions.download("sales", "3EB0NOSUCHMESSAGE")
            assert (unknown.value.status, unknown.value.code) == (404, "message_not_found")
            with pytest.raises(UnknownSession):
                await sessions.upload("nobody", picture, "image")


async def test_sandbox_mode_hub_moves_media_with_the_sandbox_ca(tmp_path: Path) -> None:
    from waproto.content import image_message

    config: Config = dataclasses.replace(
        default_config(), storage=StorageConfig(data_dir=tmp_path / "data"), whatsapp=WhatsAppConfig(sandbox=True)
    )
    plugin = MessagePlugin()
    plugins = Plugins()
    plugins.register(plugin, "recorder")
    picture = b"\xff\xd8\xff" + bytes(range(200)) * 20
    async with open_hub(config, plugins) as hub:
        sessions = hub.sessions
        assert sessions is not None
        assert hub.sandbox is not None
        assert hub.sandbox.media is not None  # the media server runs in sandbox mode
        sandbox = hub.sandbox
        for phone, name, bot in ((PHONE, "Alice", None), (ECHO, "Echo", "echo")):
            sandbox.network.create_account(phone, rng=sandbox.rng, now=sandbox.now(), name=name, bot=bot)
        session = await sessions.create("boxed")
        await sandbox.linker.scan(PHONE, await wait_qr(session))
        await wait_for(session, "connected")
        with trio.fail_after(30):
            uploaded = await sessions.upload("boxed", picture, "image")
            await sessions.send("boxed", ECHO_JID, image_message(uploaded, mimetype="image/jpeg"), media_type="image")
            await plugin.arrived.wait()
            [payload] = plugin.payloads
            assert payload["messageType"] == "image"
            assert await sessions.download("boxed", payload["messageId"]) == picture


async def test_what_arrived_while_disconnected_is_handed_on_in_order(served: Served, db: Database) -> None:
    # The echo writes first: its first message is a pkmsg on our signed prekey (kept in the credentials).
    inbox = Inbox()
    settings = dataclasses.replace(settings_for(served), backoff_initial=1.0, backoff_max=1.0, backoff_jitter=0)
    async with open_sessions(db, settings, on_message=inbox) as sessions:
        session = await link_by_qr(served, sessions, "sales")
        response = await served.post(f"/sandbox/devices/{session.jid}/disconnect")
        assert response.status_code == 200, response.text
        await wait_for(session, "disconnected")
        texts = [f"while away {i}" for i in range(5)]
        ids = [await served.sandbox.messaging.send_text(ECHO, JID(PHONE, DEFAULT_USER_SERVER), t) for t in texts]
        await wait_for(session, "connected")
        await inbox.next(after=len(texts) - 1)
        with trio.fail_after(15):
            await session.inbox.drained()
    assert [m.message_id for m in inbox.messages] == ids
    assert [dict(m.content) for m in inbox.messages] == [{"text": t} for t in texts]


async def test_group_messages_both_ways(served: Served, db: Database) -> None:
    inbox = Inbox()
    group = served.sandbox.messaging.create_group("team", [ECHO, PHONE])
    async with open_sessions(db, settings_for(served), on_message=inbox) as sessions:
        await link_by_qr(served, sessions, "sales")
        # A member writes to the group: the session receives it as a group message.
        message_id = await served.sandbox.messaging.send_text(ECHO, group, "hello team")
        received = await inbox.next()
        assert received.message_id == message_id
        assert (received.is_group, received.chat, received.recipient, received.sender) == (True, group, group, ECHO_JID)
        payload = received.as_payload()
        assert (payload["sender"], payload["recipient"]) == (f"{ECHO}@s.whatsapp.net", str(group))
        assert payload["raw"]["key"]["remoteJid"] == str(group)
        assert "participant" in payload["raw"]["key"]
        assert payload["content"] == {"text": "hello team"}
        # The session writes to the group: the member's phone decrypts it.
        with trio.fail_after(15):
            sent = await sessions.send("sales", group, Message(conversation="hi from the hub"))
        echo_phone = await served.sandbox.messaging.phone(ECHO)
        logged = echo_phone.find(sent.id, "in")
        assert logged is not None
        assert (logged.chat, logged.text) == (group, "hi from the hub")


async def test_no_receipt_when_the_commit_fails(served: Served, db: Database, tmp_path: Path) -> None:
    async with open_sessions(db, settings_for(served)) as sessions:
        session = await link_by_qr(served, sessions, "sales")
        me = session.client.credentials.me
        assert me is not None
        echo_phone = await served.sandbox.messaging.phone(ECHO)
        spy = ReceiptSpy(echo_phone, tmp_path / "waporta.db", me.device)

        async def broken_disk(message: InboundMessage) -> bool:
            raise sqlite3.OperationalError("database or disk is full")

        session.inbox.accept = broken_disk  # type: ignore[method-assign]
        message_id = await served.sandbox.messaging.send_text(ECHO, JID(PHONE, DEFAULT_USER_SERVER), "lost?")
        with trio.fail_after(15):
            await session._done.wait()  # the session stops rather than acknowledge what it could not keep
        assert (session.status, session.reason) == ("disconnected", "internal_error")
    assert [node for node, _ in spy.receipts if node.attrs.get("id") == message_id] == []
    assert stored(tmp_path / "waporta.db", message_id) == []


async def test_a_message_not_yet_handed_on_is_handed_on_after_a_restart(served: Served, db: Database) -> None:
    entered = trio.Event()

    async def stuck_plugin(session_id: str, message: InboundMessage) -> None:
        entered.set()
        await trio.sleep_forever()  # the hub stops (or crashes) while a plugin holds the message

    async with open_sessions(db, settings_for(served), on_message=stuck_plugin) as sessions:
        await link_by_qr(served, sessions, "sales")
        await send(sessions, "sales", "before the stop")
        with trio.fail_after(15):
            await entered.wait()
    inbox = Inbox()
    async with open_sessions(db, settings_for(served), on_message=inbox) as sessions:
        replayed = await inbox.next()
        assert dict(replayed.content) == {"text": "echo: before the stop"}
        with trio.fail_after(15):
            await sessions.get("sales").inbox.drained()
    assert len(inbox.messages) == 1
