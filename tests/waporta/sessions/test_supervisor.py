"""waporta.sessions.supervisor: the supervisor against an in-process sandbox on 127.0.0.1 (real sockets,
bounded waits).

Link by QR and by pairing code, restore after a restart without re-linking, get logged out (and wiped)
when the phone unlinks the device, and delete (logout + wipe). Each error of ``Sessions.send`` and
``check`` from each status and from failures during the request; number checks; a send the server never
acks is retryable with the same id.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.waporta.sessions.helpers import (
    ECHO,
    ECHO_JID,
    PHONE,
    FakeMessenger,
    Recorder,
    link_by_qr,
    rows,
    send,
    settings_for,
    wait_for,
    wait_qr,
)
from tests.waproto.sandbox.interop_helpers import Served
from waporta.sessions import (
    SessionError,
    SessionLoggedOut,
    SessionNotLinked,
    SessionUnavailable,
    UnknownSession,
    open_sessions,
)
from waporta.storage import Database
from waporta.storage.stores import load_all_credentials
from waproto.binary import Node
from waproto.client import IqError, IqTimeout, NotConnected, TransportClosed
from waproto.credentials import Credentials
from waproto.errors import MessageRefused, NotOnWhatsApp
from waproto.jid import DEFAULT_USER_SERVER, JID
from waproto.proto import Message
from waproto.usync import CheckResult


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
