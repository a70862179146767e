"""waporta.storage.stores.signal: the SQLite Signal stores behave exactly like waproto's memory stores.

Every behavioural test runs on both backends (``backend`` fixture); SQLite-only tests cover what memory
cannot show: reopening, isolation of hub sessions inside one file, one transaction per call.
"""

from __future__ import annotations

import random
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.waporta.storage.stores.backends import Backend
from waporta.storage import Database
from waporta.storage.stores import (
    DEFAULT_CACHE_SIZE,
    SqliteCredentialStore,
    SqliteSenderKeyStore,
    SqliteSignalStore,
)
from waproto.errors import DecodeError, LocalProtocolError
from waproto.signal.address import ProtocolAddress
from waproto.signal.keys import (
    PreKeyBundle,
    generate_identity_key_pair,
    generate_pre_keys,
    generate_signed_pre_key,
    serialize_identity_key_pair,
)
from waproto.signal.memory import MemorySignalStore
from waproto.signal.sender_keys import SenderChainKey, SenderKeyName, SenderKeyRecord, SenderKeyState
from waproto.signal.session import SessionRecord, process_pre_key_bundle

PEER = ProtocolAddress("15550002222", 3)
OTHER = ProtocolAddress("15550002222", 4)
GROUP = "120363000000000001@g.us"
BAD_KEYS = (b"", b"\x05" * 10, b"\x07" + bytes(32))


def rng_of(seed: int) -> Callable[[int], bytes]:
    return random.Random(seed).randbytes


async def a_session_record(seed: int) -> SessionRecord:
    """A real record: ``seed``'s party built a session from a fresh peer's bundle."""
    rng = rng_of(seed)
    peer_identity = generate_identity_key_pair(rng)
    signed = generate_signed_pre_key(peer_identity, 1, rng)
    [pre_key] = generate_pre_keys(7, 1, rng)
    bundle = PreKeyBundle(
        registration_id=77,
        device_id=PEER.device_id,
        pre_key_id=pre_key.key_id,
        pre_key_public=pre_key.key_pair.signal_public,
        signed_pre_key_id=1,
        signed_pre_key_public=signed.key_pair.signal_public,
        signed_pre_key_signature=signed.signature,
        identity_key=peer_identity.signal_public,
    )
    store = MemorySignalStore(generate_identity_key_pair(rng), 5)
    await process_pre_key_bundle(PEER, bundle, identity_store=store, session_store=store, rng=rng)
    record = await store.load_session(PEER)
    assert record is not None
    assert record.current is not None
    return record


def own_sender_key(seed: int) -> SenderKeyRecord:
    rng = rng_of(seed)
    record = SenderKeyRecord()
    record.set_own_state(
        SenderKeyState(seed, SenderChainKey(3, rng(32)), b"\x05" + rng(32), rng(32), {1: rng(32)})
    )
    return record


# ---------------------------------------------------------------------------------------------- identity


@pytest.mark.parametrize("accept", [True, False])
async def test_trust_on_first_use_and_the_change_policy(backend: Backend, accept: bool) -> None:
    rng = rng_of(1)
    store = backend.signal("s1", generate_identity_key_pair(rng), 5, accept_changed_identities=accept)
    first, second = rng(32), rng(32)
    assert await store.is_trusted_identity(PEER, first, "receiving")
    assert await store.get_identity(PEER) is None
    assert await store.save_identity(PEER, first) is None
    assert await store.save_identity(PEER, b"\x05" + first) is None  # same key, 33-byte form
    assert await store.is_trusted_identity(PEER, first, "sending")
    assert await store.is_trusted_identity(PEER, b"\x05" + first, "sending")
    assert await store.is_trusted_identity(PEER, second, "sending") is accept
    assert await store.is_trusted_identity(OTHER, second, "sending")  # another device: first use
    assert await store.save_identity(PEER, second) == first
    assert await store.get_identity(PEER) == second
    assert await store.get_identity(OTHER) is None
    assert await store.save_identity(PEER, second) is None


async def test_our_identity_and_registration_id(backend: Backend) -> None:
    identity = generate_identity_key_pair(rng_of(2))
    store = backend.signal("s1", identity, 16383)
    assert await store.get_identity_key_pair() == identity
    assert await store.get_local_registration_id() == 16383


async def test_bad_input_is_refused_like_memory(backend: Backend) -> None:
    identity = generate_identity_key_pair(rng_of(3))
    with pytest.raises(LocalProtocolError):
        backend.signal("bad", identity, 2**32)
    store = backend.signal("s1", identity, 1)
    for bad in BAD_KEYS:
        with pytest.raises(DecodeError):
            await store.save_identity(PEER, bad)
    assert await store.get_identity(PEER) is None
    await store.save_identity(PEER, bytes(32))
    for bad in BAD_KEYS:
        with pytest.raises(DecodeError):
            await store.is_trusted_identity(PEER, bad, "sending")
    assert await store.get_identity(PEER) == bytes(32)


async def test_a_malformed_key_is_refused_even_for_a_new_peer(db: Database) -> None:
    # Stricter than the memory store, which trusts any bytes for a peer it has no key for.
    store = SqliteSignalStore(db, "s1", generate_identity_key_pair(rng_of(3)), 1)
    for accept in (True, False):
        store.accept_changed_identities = accept
        for bad in BAD_KEYS:
            with pytest.raises(DecodeError):
                await store.is_trusted_identity(PEER, bad, "receiving")


# ----------------------------------------------------------------------------------------------- prekeys


async def test_pre_keys(backend: Backend) -> None:
    rng = rng_of(4)
    store = backend.signal("s1", generate_identity_key_pair(rng), 9)
    [four, five] = generate_pre_keys(4, 2, rng)
    assert await store.load_pre_key(4) is None
    await store.store_pre_key(4, four)
    await store.store_pre_key(5, five)
    assert await store.load_pre_key(4) == four
    await store.store_pre_key(4, five)  # replaced (the id given wins, as in memory)
    assert await store.load_pre_key(4) == five
    await store.remove_pre_key(4)
    await store.remove_pre_key(4)  # removing twice is fine
    await store.remove_pre_key(99)
    assert await store.load_pre_key(4) is None
    assert await store.load_pre_key(5) == five


async def test_signed_pre_keys(backend: Backend) -> None:
    rng = rng_of(5)
    identity = generate_identity_key_pair(rng)
    store = backend.signal("s1", identity, 9)
    one = generate_signed_pre_key(identity, 1, rng, timestamp=1_700_000_000)
    two = generate_signed_pre_key(identity, 2, rng)
    assert await store.load_signed_pre_key(1) is None
    await store.store_signed_pre_key(1, one)
    await store.store_signed_pre_key(2, two)
    loaded = await store.load_signed_pre_key(1)
    assert loaded == one
    assert loaded.timestamp == 1_700_000_000
    assert loaded.verify(identity.public)
    await store.store_signed_pre_key(1, two)
    assert await store.load_signed_pre_key(1) == two


# ---------------------------------------------------------------------------------------------- sessions


async def test_sessions(backend: Backend) -> None:
    store = backend.signal("s1", generate_identity_key_pair(rng_of(6)), 9)
    first, second = await a_session_record(60), await a_session_record(61)
    assert await store.load_session(PEER) is None
    await store.store_session(PEER, first)
    assert await store.load_session(PEER) == first
    assert await store.load_session(OTHER) is None
    await store.store_session(PEER, second)
    assert await store.load_session(PEER) == second
    empty = SessionRecord()
    await store.store_session(OTHER, empty)
    assert await store.load_session(OTHER) == empty


# ------------------------------------------------------------------------------------------- sender keys


async def test_sender_keys_copy_both_ways(backend: Backend) -> None:
    store = backend.sender_keys("s1")
    name = SenderKeyName(GROUP, PEER)
    record = own_sender_key(7)
    assert await store.load_sender_key(name) is None
    await store.store_sender_key(name, record)
    kept = record.serialize()
    record.states.clear()  # changing the caller's record afterwards changes nothing stored
    loaded = await store.load_sender_key(name)
    assert loaded is not None
    assert loaded.serialize() == kept
    loaded.states[0].skipped.clear()  # nor does changing what was loaded
    again = await store.load_sender_key(name)
    assert again is not None
    assert again.serialize() == kept
    assert await store.load_sender_key(SenderKeyName(GROUP, OTHER)) is None
    assert await store.load_sender_key(SenderKeyName("120363000000000002@g.us", PEER)) is None
    await store.store_sender_key(name, own_sender_key(8))
    replaced = await store.load_sender_key(name)
    assert replaced is not None
    assert replaced.serialize() == own_sender_key(8).serialize()


# -------------------------------------------------------------------------------- reopen and isolation


async def fill(backend: Backend, session_id: str, seed: int) -> dict[str, Any]:
    """Give one hub session something in every Signal store; returns what was stored."""
    rng = rng_of(seed)
    identity = generate_identity_key_pair(rng)
    store = backend.signal(session_id, identity, seed)
    pre_keys = generate_pre_keys(1, 3, rng)
    for record in pre_keys:
        await store.store_pre_key(record.key_id, record)
    signed = generate_signed_pre_key(identity, 1, rng)
    await store.store_signed_pre_key(1, signed)
    peer_key = rng(32)
    await store.save_identity(PEER, peer_key)
    session = await a_session_record(seed)
    await store.store_session(PEER, session)
    sender_key = own_sender_key(seed)
    await backend.sender_keys(session_id).store_sender_key(SenderKeyName(GROUP, PEER), sender_key)
    return {
        "identity": identity,
        "pre_keys": pre_keys,
        "signed": signed,
        "peer_key": peer_key,
        "session": session,
        "sender_key": sender_key.serialize(),
    }


async def check(backend: Backend, session_id: str, kept: dict[str, Any]) -> None:
    store = backend.signal(session_id, kept["identity"], 1)
    for record in kept["pre_keys"]:
        assert await store.load_pre_key(record.key_id) == record
    assert await store.load_signed_pre_key(1) == kept["signed"]
    assert await store.get_identity(PEER) == kept["peer_key"]
    assert await store.load_session(PEER) == kept["session"]
    loaded = await backend.sender_keys(session_id).load_sender_key(SenderKeyName(GROUP, PEER))
    assert loaded is not None
    assert loaded.serialize() == kept["sender_key"]


async def test_everything_survives_a_reopen(backend: Backend) -> None:
    kept = await fill(backend, "s1", 10)
    await backend.reopen()
    await check(backend, "s1", kept)


async def test_hub_sessions_never_see_each_other(backend: Backend) -> None:
    a = await fill(backend, "alpha", 11)
    b = await fill(backend, "beta", 12)
    await check(backend, "alpha", a)
    await check(backend, "beta", b)
    # A session that stored nothing sees nothing.
    empty = backend.signal("gamma", generate_identity_key_pair(rng_of(13)), 1)
    assert await empty.load_pre_key(1) is None
    assert await empty.load_signed_pre_key(1) is None
    assert await empty.get_identity(PEER) is None
    assert await empty.load_session(PEER) is None
    assert await backend.sender_keys("gamma").load_sender_key(SenderKeyName(GROUP, PEER)) is None
    # Removing a prekey in one session leaves the other's.
    await backend.signal("alpha", a["identity"], 1).remove_pre_key(1)
    assert await backend.signal("beta", b["identity"], 1).load_pre_key(1) == b["pre_keys"][0]


# --------------------------------------------------------------------------------------- SQLite only


class CountingDatabase:
    """Wraps a Database and counts read/write calls (each is one transaction and one thread hop)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.reads = 0
        self.writes = 0
        self.inline = 0  # writes asked to run inline

    async def read(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        self.reads += 1
        return await self.db.read(fn)

    async def write(self, fn: Callable[[sqlite3.Connection], Any], *, inline: bool = False) -> Any:
        self.writes += 1
        self.inline += inline
        return await self.db.write(fn, inline=inline)

    def take(self) -> tuple[int, int]:
        counts = (self.reads, self.writes)
        self.reads = self.writes = 0
        return counts


async def test_each_call_is_one_transaction(db: Database) -> None:
    counting = CountingDatabase(db)
    rng = rng_of(14)
    identity = generate_identity_key_pair(rng)
    store = SqliteSignalStore(counting, "s1", identity, 1, cache_size=0)  # type: ignore[arg-type]
    senders = SqliteSenderKeyStore(counting, "s1")  # type: ignore[arg-type]
    record = await a_session_record(14)
    many = generate_pre_keys(1, 200, rng)

    await store.store_pre_keys((r.key_id, r) for r in many)
    assert counting.take() == (0, 1)
    assert await store.pre_key_ids() == list(range(1, 201))
    assert counting.take() == (1, 0)
    await store.save_identity(PEER, rng(32))
    assert counting.take() == (0, 1)
    assert await store.is_trusted_identity(PEER, rng(32), "sending")
    assert counting.take() == (0, 0)  # accepting every key needs no look-up
    await store.store_session(PEER, record)
    assert counting.take() == (0, 1)
    addresses = [ProtocolAddress(f"1555000{i:04d}", d) for i in range(300) for d in (0, 1)]
    assert await store.load_sessions([*addresses, PEER]) == {PEER: record}
    assert counting.take() == (1, 0)
    assert await store.load_session(PEER) == record
    assert await store.get_identity(PEER) is not None
    assert counting.take() == (2, 0)
    await store.remove_pre_key(1)
    assert counting.take() == (0, 1)
    await senders.store_sender_key(SenderKeyName(GROUP, PEER), own_sender_key(3))
    assert await senders.load_sender_key(SenderKeyName(GROUP, PEER)) is not None
    assert counting.take() == (1, 1)
    # The single-row writes (identity, session, removed prekey, sender key) may run inline; the prekey
    # upload's many rows may not.
    assert counting.inline == 4


async def test_load_sessions(db: Database) -> None:
    store = SqliteSignalStore(db, "s1", generate_identity_key_pair(rng_of(15)), 1)
    other = SqliteSignalStore(db, "s2", generate_identity_key_pair(rng_of(16)), 1)
    one, two = await a_session_record(150), await a_session_record(151)
    await store.store_session(PEER, one)
    await store.store_session(OTHER, two)
    await other.store_session(ProtocolAddress("x", 1), two)
    assert await store.load_sessions([]) == {}
    assert await store.load_sessions([PEER, PEER, ProtocolAddress("x", 1)]) == {PEER: one}
    assert await store.load_sessions(iter([OTHER, PEER])) == {PEER: one, OTHER: two}


async def test_pre_key_ids_are_per_session(db: Database) -> None:
    rng = rng_of(17)
    store = SqliteSignalStore(db, "s1", generate_identity_key_pair(rng), 1)
    other = SqliteSignalStore(db, "s2", generate_identity_key_pair(rng), 1)
    await store.store_pre_keys((r.key_id, r) for r in generate_pre_keys(10, 3, rng))
    await other.store_pre_keys((r.key_id, r) for r in generate_pre_keys(1, 1, rng))
    await store.store_pre_keys([])
    await store.remove_pre_key(11)
    assert await store.pre_key_ids() == [10, 12]
    assert await other.pre_key_ids() == [1]


async def test_a_corrupt_row_is_a_decode_error(db: Database) -> None:
    store = SqliteSignalStore(db, "s1", generate_identity_key_pair(rng_of(18)), 1)
    senders = SqliteSenderKeyStore(db, "s1")

    def corrupt(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO signal_sessions VALUES ('s1', 'p', 0, x'00')")
        conn.execute("INSERT INTO signal_pre_keys VALUES ('s1', 1, x'00')")
        conn.execute("INSERT INTO signal_signed_pre_keys VALUES ('s1', 1, x'00')")
        conn.execute("INSERT INTO signal_sender_keys VALUES ('s1', 'g@g.us', 'p', 0, x'00')")

    await db.write(corrupt)
    with pytest.raises(DecodeError):
        await store.load_session(ProtocolAddress("p", 0))
    with pytest.raises(DecodeError):
        await store.load_pre_key(1)
    with pytest.raises(DecodeError):
        await store.load_signed_pre_key(1)
    with pytest.raises(DecodeError):
        await senders.load_sender_key(SenderKeyName("g@g.us", ProtocolAddress("p", 0)))


async def test_an_empty_session_id_is_refused(db: Database) -> None:
    identity = generate_identity_key_pair(rng_of(19))
    with pytest.raises(ValueError, match="session id"):
        SqliteSignalStore(db, "", identity, 1)
    with pytest.raises(ValueError, match="session id"):
        SqliteSenderKeyStore(db, "")


# ------------------------------------------------------------------------------------------------- cache


class FailingAfterCommit(CountingDatabase):
    """Writes commit, then the caller sees an exception anyway (as a cancellation delivered late would)."""

    fail = False

    async def write(self, fn: Callable[[sqlite3.Connection], Any], *, inline: bool = False) -> Any:
        result = await super().write(fn, inline=inline)
        if self.fail:
            raise RuntimeError("delivered after the commit")
        return result


async def test_the_cache_saves_queries(db: Database) -> None:
    counting = CountingDatabase(db)
    rng = rng_of(20)
    store = SqliteSignalStore(counting, "s1", generate_identity_key_pair(rng), 1)  # type: ignore[arg-type]
    record, newer = await a_session_record(20), await a_session_record(21)
    assert await store.load_session(PEER) is None
    assert await store.load_session(PEER) is None  # "no session" is remembered too
    assert counting.take() == (1, 0)
    await store.store_session(PEER, record)
    assert await store.load_session(PEER) is record  # records are values: the same object is fine
    assert counting.take() == (0, 1)
    key, other_key = rng(32), rng(32)
    assert await store.save_identity(PEER, key) is None
    assert await store.save_identity(PEER, b"\x05" + key) is None  # unchanged: no write
    assert await store.get_identity(PEER) == key
    assert counting.take() == (0, 1)
    assert await store.save_identity(PEER, other_key) == key
    assert counting.take() == (0, 1)
    # A fresh store object (a reopen) reads what the first one wrote.
    fresh = SqliteSignalStore(db, "s1", store.identity, 1)
    assert await fresh.load_session(PEER) == record
    assert await fresh.get_identity(PEER) == other_key
    await store.store_session(PEER, newer)
    assert await store.load_session(PEER) == newer
    assert await SqliteSignalStore(db, "s1", store.identity, 1).load_session(PEER) == newer


async def test_the_cache_is_bounded_and_can_be_cleared(db: Database) -> None:
    counting = CountingDatabase(db)
    store = SqliteSignalStore(counting, "s1", generate_identity_key_pair(rng_of(22)), 1, cache_size=2)  # type: ignore[arg-type]
    record = await a_session_record(22)
    a, b, c = (ProtocolAddress("p", device) for device in range(3))
    for address in (a, b, c):
        await store.store_session(address, record)
    counting.take()
    assert await store.load_sessions([b, c]) == {b: record, c: record}
    assert counting.take() == (0, 0)
    assert await store.load_session(a) == record  # a was dropped (least recently used)
    assert counting.take() == (1, 0)
    assert await store.load_sessions([a, b, c]) == {a: record, b: record, c: record}
    assert counting.take() == (1, 0)  # b went when a came back; c was used more recently than b
    store.clear_cache()
    assert await store.load_session(c) == record
    assert counting.take() == (1, 0)
    with pytest.raises(ValueError, match="cache_size"):
        SqliteSignalStore(db, "s1", store.identity, 1, cache_size=-1)


async def test_a_write_that_raises_leaves_no_stale_cache(db: Database) -> None:
    failing = FailingAfterCommit(db)
    rng = rng_of(23)
    store = SqliteSignalStore(failing, "s1", generate_identity_key_pair(rng), 1)  # type: ignore[arg-type]
    record, newer = await a_session_record(23), await a_session_record(24)
    key, newer_key = rng(32), rng(32)
    await store.store_session(PEER, record)
    await store.save_identity(PEER, key)
    failing.fail = True
    with pytest.raises(RuntimeError):
        await store.store_session(PEER, newer)
    with pytest.raises(RuntimeError):
        await store.save_identity(PEER, newer_key)
    failing.fail = False
    # The writes did commit: the store must now say so, not hand out what it cached before.
    assert await store.load_session(PEER) == newer
    assert await store.get_identity(PEER) == newer_key


async def test_a_write_that_fails_keeps_the_old_value(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "w.db")
    rng = rng_of(25)
    store = SqliteSignalStore(db, "s1", generate_identity_key_pair(rng), 1)
    record = await a_session_record(25)
    await store.store_session(PEER, record)

    def refuse(conn: sqlite3.Connection) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    real_write = db.write

    async def broken_write(fn: Callable[[sqlite3.Connection], Any], *, inline: bool = False) -> Any:
        return await real_write(refuse, inline=inline)

    db.write = broken_write  # type: ignore[method-assign]
    with pytest.raises(sqlite3.OperationalError):
        await store.store_session(PEER, await a_session_record(26))
    with pytest.raises(sqlite3.OperationalError):
        await store.save_identity(PEER, rng(32))
    db.write = real_write  # type: ignore[method-assign]
    assert await store.load_session(PEER) == record
    assert await store.get_identity(PEER) is None
    await db.aclose()


# ------------------------------------------------------------------------------------------- durability

CRASHING_WRITER = """
import os, sys, trio
from pathlib import Path
from waporta.storage import Database
from waporta.storage.stores import SqliteCredentialStore, SqliteSignalStore
from waproto.signal.address import ProtocolAddress
from waproto.signal.keys import deserialize_identity_key_pair
from waproto.signal.session import SessionRecord

async def main():
    path, identity, record = Path(sys.argv[1]), bytes.fromhex(sys.argv[2]), bytes.fromhex(sys.argv[3])
    db = await Database.open(path)
    store = SqliteSignalStore(db, "s1", deserialize_identity_key_pair(identity), 1)
    await store.store_session(ProtocolAddress("15550002222", 3), SessionRecord.deserialize(record))
    await store.remove_pre_key(2)
    await SqliteCredentialStore(db, "s1").save_credentials({"linked": True})
    print("stored", flush=True)
    os._exit(0)  # a crash: no close, no checkpoint, no cleanup

trio.run(main)
"""


async def test_what_a_call_stored_survives_a_crash_right_after(tmp_path: Path) -> None:
    path = tmp_path / "data" / "waporta.db"
    rng = rng_of(30)
    identity = generate_identity_key_pair(rng)
    db = await Database.open(path)
    store = SqliteSignalStore(db, "s1", identity, 1)
    await store.store_pre_keys((r.key_id, r) for r in generate_pre_keys(1, 3, rng))
    await db.aclose()
    record = await a_session_record(30)

    done = await trio.run_process(
        [
            sys.executable,
            "-c",
            CRASHING_WRITER,
            str(path),
            serialize_identity_key_pair(identity).hex(),
            record.serialize().hex(),
        ],
        capture_stdout=True,
        capture_stderr=True,
    )
    assert done.stdout == b"stored\n", done.stderr

    db = await Database.open(path)
    try:
        store = SqliteSignalStore(db, "s1", identity, 1)
        assert await store.load_session(PEER) == record
        assert await store.pre_key_ids() == [1, 3]
        assert await SqliteCredentialStore(db, "s1").load_credentials() == {"linked": True}
    finally:
        await db.aclose()


# ------------------------------------------------------------------------- memory and SQLite agree


@pytest.mark.parametrize("accept", [True, False])
@pytest.mark.parametrize("cache_size", [0, 2, DEFAULT_CACHE_SIZE])
async def test_random_identity_operations_agree_with_memory(
    db: Database, accept: bool, cache_size: int
) -> None:
    rng = random.Random(cache_size * 2 + accept)
    identity = generate_identity_key_pair(rng_of(40))
    memory = MemorySignalStore(identity, 1, accept_changed_identities=accept)
    sqlite = SqliteSignalStore(db, "s1", identity, 1, accept_changed_identities=accept, cache_size=cache_size)
    addresses = [ProtocolAddress("p", device) for device in range(4)]
    keys = [bytes([i]) * 32 for i in range(3)]
    for step in range(200):
        address, key = rng.choice(addresses), rng.choice(keys)
        if rng.random() < 0.5:
            key = b"\x05" + key
        op = rng.randrange(3)
        answers: list[object]
        if op == 0:
            answers = [await store.save_identity(address, key) for store in (memory, sqlite)]
        elif op == 1:
            answers = [await store.get_identity(address) for store in (memory, sqlite)]
        else:
            answers = [await store.is_trusted_identity(address, key, "sending") for store in (memory, sqlite)]
        assert answers[0] == answers[1], (step, op)


class SlowReads(CountingDatabase):
    """Reads take their snapshot at once, then wait for ``release`` before answering."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.release = trio.Event()
        self.started = trio.Event()

    async def read(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        result = await super().read(fn)
        self.started.set()
        await self.release.wait()
        return result


async def test_a_load_overlapping_a_store_does_not_cache_the_old_record(db: Database) -> None:
    slow = SlowReads(db)
    identity = generate_identity_key_pair(rng_of(41))
    store = SqliteSignalStore(slow, "s1", identity, 1)  # type: ignore[arg-type]
    old, new = await a_session_record(41), await a_session_record(42)
    old_key, new_key = bytes(32), bytes([1]) * 32
    await SqliteSignalStore(db, "s1", identity, 1).store_session(PEER, old)
    await SqliteSignalStore(db, "s1", identity, 1).save_identity(PEER, old_key)
    seen: dict[str, object] = {}

    async def load() -> None:
        seen["sessions"] = await store.load_sessions([PEER, OTHER])

    async with trio.open_nursery() as nursery:
        nursery.start_soon(load)
        await slow.started.wait()  # the load has read the old record ...
        await store.store_session(PEER, new)  # ... and a store commits the new one meanwhile
        slow.release.set()
    assert seen["sessions"] == {PEER: old}  # the overlapping load answered what it read
    assert await store.load_session(PEER) == new  # but did not cache it over the new record
    assert slow.take()[0] == 1  # (the second load was a cache hit: the store cached the new record)

    slow.release, slow.started = trio.Event(), trio.Event()
    store.clear_cache()

    async def load_key() -> None:
        seen["key"] = await store.get_identity(PEER)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(load_key)
        await slow.started.wait()
        assert await store.save_identity(PEER, new_key) == old_key
        slow.release.set()
    assert seen["key"] == old_key
    assert await store.get_identity(PEER) == new_key
