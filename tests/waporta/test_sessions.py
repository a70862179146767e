"""waporta.sessions: the supervisor against an in-process sandbox on 127.0.0.1 (real sockets, bounded waits).

Link by QR and by pairing code, restore after a restart without re-linking, get logged out (and wiped)
when the phone unlinks the device, and delete (logout + wipe).
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from tests.waproto.sandbox.interop_helpers import Served, served_sandbox
from waporta.sessions import Session, Sessions, SessionStore, UnknownSession, open_sessions
from waporta.storage import Database
from waporta.storage.stores import SESSION_TABLES, load_all_credentials
from waproto.client import ClientSettings
from waproto.credentials import Credentials
from waproto.signal.keys import generate_pre_keys

PHONE = "15550003333"


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with served_sandbox(tmp_path / "sandbox") as running:
        await running.create_account(PHONE, name="Alice")
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
