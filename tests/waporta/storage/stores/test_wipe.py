"""waporta.storage.stores.wipe: delete_session removes every row of one session, and only those."""

from __future__ import annotations

import random
import sqlite3

import pytest

from tests.waporta.storage.stores.backends import dump
from waporta.storage import Database
from waporta.storage.stores import (
    SESSION_TABLES,
    DeviceList,
    SqliteCredentialStore,
    SqliteDeviceListStore,
    SqliteLidMapStore,
    SqliteSenderKeyStore,
    SqliteSignalStore,
    delete_session,
)
from waproto.signal.address import ProtocolAddress
from waproto.signal.keys import generate_identity_key_pair, generate_pre_keys, generate_signed_pre_key
from waproto.signal.sender_keys import SenderChainKey, SenderKeyName, SenderKeyRecord, SenderKeyState
from waproto.signal.session import SessionRecord

PEER = ProtocolAddress("15550002222", 1)
NAME = SenderKeyName("120363000000000001@g.us", PEER)


async def fill(db: Database, session_id: str, seed: int) -> None:
    """One row (at least) in every session table."""
    rng = random.Random(seed).randbytes
    identity = generate_identity_key_pair(rng)
    store = SqliteSignalStore(db, session_id, identity, 1)
    await store.store_pre_keys((r.key_id, r) for r in generate_pre_keys(1, 2, rng))
    await store.store_signed_pre_key(1, generate_signed_pre_key(identity, 1, rng))
    await store.save_identity(PEER, rng(32))
    await store.store_session(PEER, SessionRecord())
    record = SenderKeyRecord([SenderKeyState(1, SenderChainKey(0, rng(32)), b"\x05" + rng(32))])
    await SqliteSenderKeyStore(db, session_id).store_sender_key(NAME, record)
    await SqliteCredentialStore(db, session_id).save_credentials({"seed": seed})
    await SqliteDeviceListStore(db, session_id).put_device_lists([DeviceList("1@lid", (0,), 1)])
    await SqliteLidMapStore(db, session_id).put_lid_mappings([("1", "15550001111")])
    await db.write(
        lambda conn: conn.execute(
            "INSERT INTO inbound_messages (session_id, chat, sender, message_id, payload, received_at) "
            "VALUES (?, '1@lid', '15550001111@s.whatsapp.net', 'ABC', '{}', 1)",
            (session_id,),
        )
    )


def rows_of(conn: sqlite3.Connection, session_id: str) -> dict[str, int]:
    return {
        table: conn.execute(f"SELECT count(*) FROM {table} WHERE session_id = ?", (session_id,)).fetchone()[0]
        for table in SESSION_TABLES
    }


async def test_every_table_with_session_state_is_listed(db: Database) -> None:
    def tables_with_session_id(conn: sqlite3.Connection) -> set[str]:
        names = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {
            n for n in names if any(col[1] == "session_id" for col in conn.execute(f"PRAGMA table_info({n})"))
        }

    # ``webhooks`` (the hub's 0001) holds settings, not WhatsApp state: it survives a logout.
    assert await db.read(tables_with_session_id) == {*SESSION_TABLES, "webhooks"}
    assert len(set(SESSION_TABLES)) == len(SESSION_TABLES)


async def test_delete_session_removes_that_session_only(db: Database) -> None:
    await fill(db, "beta", 2)
    await db.write(
        lambda conn: conn.execute(
            "INSERT INTO webhooks VALUES ('w1', 'alpha', 'https://x.test/', 'https://x.test/', 1, 't', 't')"
        )
    )
    without_alpha = await dump(db)
    await fill(db, "alpha", 1)
    await fill(db, "alphabet", 3)  # a session id that alpha is a prefix of
    with_alphabet = await db.read(lambda conn: rows_of(conn, "alphabet"))
    before = await db.read(lambda conn: rows_of(conn, "alpha"))
    assert all(count >= 1 for count in before.values())
    assert await delete_session(db, "gamma") == (0, 0)  # nothing there: nothing happens

    removed = await delete_session(db, "alpha")
    assert removed == (sum(before.values()), 1)  # its one received message was never handed on
    assert await db.read(lambda conn: rows_of(conn, "alpha")) == dict.fromkeys(SESSION_TABLES, 0)
    assert await db.read(lambda conn: rows_of(conn, "alphabet")) == with_alphabet
    assert await delete_session(db, "alpha") == (0, 0)
    await delete_session(db, "alphabet")
    assert await dump(db) == without_alpha  # beta's rows and alpha's webhook, exactly as they were


async def test_the_session_is_gone_for_its_stores(db: Database) -> None:
    await fill(db, "alpha", 1)
    await delete_session(db, "alpha")
    identity = generate_identity_key_pair(random.Random(1).randbytes)
    store = SqliteSignalStore(db, "alpha", identity, 1)
    assert await store.load_session(PEER) is None
    assert await store.pre_key_ids() == []
    assert await SqliteCredentialStore(db, "alpha").load_credentials() is None


async def test_an_empty_session_id_is_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="session id"):
        await delete_session(db, "")


async def test_a_logout_keeps_the_messages_the_hooks_have_not_had(db: Database) -> None:
    await fill(db, "alpha", 1)
    await db.write(
        lambda conn: conn.execute(
            "INSERT INTO inbound_messages (session_id, chat, sender, message_id, payload, received_at, handled_at) "
            "VALUES ('alpha', '1@lid', '15550001111@s.whatsapp.net', 'DONE', '{}', 1, 2)"
        )
    )
    wiped = await delete_session(db, "alpha", keep_unhandled=True)
    assert wiped.unhandled == 0  # none dropped
    left = await db.read(
        lambda conn: conn.execute(
            "SELECT message_id, handled_at FROM inbound_messages WHERE session_id = 'alpha'"
        ).fetchall()
    )
    assert left == [("ABC", None)]  # the handled one went with the rest of the session
    counts = await db.read(lambda conn: rows_of(conn, "alpha"))
    assert counts == {**dict.fromkeys(SESSION_TABLES, 0), "inbound_messages": 1}
