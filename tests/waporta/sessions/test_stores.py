"""waporta.sessions.stores: the ClientStore adapter on SQLite, and the signed prekey from the credentials."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.waporta.storage.stores.test_signal import OTHER, PEER, a_session_record
from waporta.sessions import (
    SessionSignalStore,
    SessionStore,
)
from waporta.sessions.stores import deferring_session_writes
from waporta.storage import Database
from waporta.storage.stores import load_all_credentials
from waproto.credentials import Credentials
from waproto.signal.address import ProtocolAddress
from waproto.signal.keys import generate_pre_keys


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


# ------------------------------------------------------------------ deferred session writes


def stored_record(db_file: Path, session_id: str, address: ProtocolAddress) -> bytes | None:
    with sqlite3.connect(db_file) as conn:
        row = conn.execute(
            "SELECT record FROM signal_sessions WHERE session_id = ? AND name = ? AND device_id = ?",
            (session_id, address.name, address.device_id),
        ).fetchone()
    return None if row is None else bytes(row[0])


async def test_deferred_records_are_pending_until_one_flush_commits_them(
    db: Database, tmp_path: Path
) -> None:
    import secrets

    store = SessionSignalStore(db, "s1", Credentials.generate(secrets.token_bytes))
    one, two = await a_session_record(31), await a_session_record(32)
    before = db.transactions
    with deferring_session_writes():
        await store.store_session(PEER, one)
        await store.store_session(OTHER, two)
        await store.store_session(PEER, two)  # a later record replaces the pending one
    assert db.transactions == before  # nothing written yet
    assert store.pending == 2
    assert stored_record(tmp_path / "waporta.db", "s1", PEER) is None
    # Loads answer what is pending (even past the cache).
    store._sessions.clear()
    assert await store.load_session(PEER) == two
    assert await store.load_sessions([PEER, OTHER, ProtocolAddress("x", 1)]) == {PEER: two, OTHER: two}
    await store.flush()
    assert db.transactions == before + 1  # both in one transaction
    assert (store.pending, store.flushes) == (0, 1)
    assert stored_record(tmp_path / "waporta.db", "s1", PEER) == two.serialize()
    assert stored_record(tmp_path / "waporta.db", "s1", OTHER) == two.serialize()
    await store.flush()  # nothing pending: no transaction
    assert db.transactions == before + 1


async def test_a_store_outside_the_context_commits_what_is_pending_first(
    db: Database, tmp_path: Path
) -> None:
    import secrets

    store = SessionSignalStore(db, "s1", Credentials.generate(secrets.token_bytes))
    older, newer = await a_session_record(33), await a_session_record(34)
    with deferring_session_writes():
        await store.store_session(PEER, older)
    # The receive path stores a newer record for the same address: the pending one must not overwrite it.
    await store.store_session(PEER, newer)
    assert store.pending == 0
    await store.flush()
    assert stored_record(tmp_path / "waporta.db", "s1", PEER) == newer.serialize()
    fresh = SessionSignalStore(db, "s1", store_credentials(store))
    assert await fresh.load_session(PEER) == newer


def store_credentials(store: SessionSignalStore) -> Credentials:
    import secrets

    creds = Credentials.generate(secrets.token_bytes)
    return dataclasses.replace(creds, identity_key=store.identity, registration_id=store.registration_id)


async def test_a_failed_flush_keeps_the_records_pending_and_raises(db: Database, tmp_path: Path) -> None:
    import secrets

    store = SessionSignalStore(db, "s1", Credentials.generate(secrets.token_bytes))
    one, two = await a_session_record(35), await a_session_record(36)
    with deferring_session_writes():
        await store.store_session(PEER, one)
    real_write = db.write

    async def refusing(fn: Any, *, inline: bool = False) -> Any:
        def refuse(conn: sqlite3.Connection) -> None:
            raise sqlite3.OperationalError("disk I/O error")

        return await real_write(refuse, inline=inline)

    db.write = refusing  # type: ignore[method-assign]
    with pytest.raises(sqlite3.OperationalError):
        await store.flush()
    db.write = real_write  # type: ignore[method-assign]
    assert store.pending == 1
    assert await store.load_session(PEER) == one
    with deferring_session_writes():
        await store.store_session(OTHER, two)
    await store.flush()
    assert store.pending == 0
    assert stored_record(tmp_path / "waporta.db", "s1", PEER) == one.serialize()
    assert stored_record(tmp_path / "waporta.db", "s1", OTHER) == two.serialize()


async def test_concurrent_flushes_return_after_the_commit(db: Database, tmp_path: Path) -> None:
    import secrets

    store = SessionSignalStore(db, "s1", Credentials.generate(secrets.token_bytes))
    with deferring_session_writes():
        await store.store_session(PEER, await a_session_record(37))
    seen: list[bytes | None] = []

    async def flush_and_look() -> None:
        await store.flush()
        seen.append(stored_record(tmp_path / "waporta.db", "s1", PEER))

    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(flush_and_look)
    assert len(seen) == 3
    assert None not in seen
    assert store.flushes == 1


async def test_clear_cache_drops_pending_records(db: Database) -> None:
    import secrets

    store = SessionSignalStore(db, "s1", Credentials.generate(secrets.token_bytes))
    with deferring_session_writes():
        await store.store_session(PEER, await a_session_record(38))
    store.clear_cache()
    assert store.pending == 0
    assert await store.load_session(PEER) is None


async def test_store_adapter_keeps_a_prekey_batch(db: Database) -> None:
    import secrets

    creds = Credentials.generate(secrets.token_bytes)
    store = SessionStore(db, "s1", creds)
    records = generate_pre_keys(1, 50, secrets.token_bytes)
    await store.store_pre_keys([(r.key_id, r) for r in records])
    for record in records:
        loaded = await store.load_pre_key(record.key_id)
        assert loaded is not None
        assert loaded.serialize() == record.serialize()
