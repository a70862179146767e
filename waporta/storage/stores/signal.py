"""waproto's Signal store Protocols on the hub's SQLite database, for one hub session.

- :class:`SqliteSignalStore` implements ``IdentityKeyStore``, ``PreKeyStore``, ``SignedPreKeyStore`` and
  ``SessionStore`` (``waproto.signal.store``) in one object, like ``waproto.signal.memory.MemorySignalStore``,
  with the same identity policy: trust on first use, and a changed identity key accepted (and reported by
  the operation that stores it) unless ``accept_changed_identities=False``.
- :class:`SqliteSenderKeyStore` implements ``SenderKeyStore`` (``waproto.signal.sender_keys``).

Every row carries the hub session id, so many WhatsApp sessions share the database and never see each
other's rows. Each store call is at most one :meth:`Database.read` or :meth:`Database.write` (one
transaction; the single-row writes of sessions, identities, a removed prekey and sender keys are
``inline`` writes, run in the trio thread when the writer is idle, without a thread hop); a write is committed before the call returns, so what waproto stored after a
successful decryption survives a crash the moment it is relied on. waproto stores only after a whole
operation succeeded, so a failed decryption leaves these tables untouched.

Session records and peer identity keys are also kept in a bounded in-process cache (least recently used
dropped first), filled by loads and by *committed* stores: a cached load costs no query and no
deserialisation, and saving an unchanged identity key (as every decryption does) costs no write. The
cache is correct because a store object is the only writer of its session's rows while it is in use (the
hub runs one client per session, and waproto serialises operations per address); whoever changes the rows
another way (``delete_session``, a second store object) must drop this object or call
:meth:`SqliteSignalStore.clear_cache`. A write that raises (or is cancelled) drops the entry, so the next
load reads what the database really holds, and a load that overlapped a write answers without filling
the cache (it may have read what the write replaced). Cached values are immutable (``SessionRecord`` is a value
that waproto never mutates, keys are bytes), so handing out the same object is safe. Prekeys, signed
prekeys and sender keys are not cached: they are read rarely, and sender-key records are mutable, so
every load of one returns a fresh object.

Our identity key pair and registration id are not stored here: they are part of the session's
credentials (``SqliteCredentialStore``) and are passed in, as with the memory store.

This module is NOT the schema (``migrations/0002_signal.sql``) and does not wipe sessions
(``waporta.storage.stores.wipe``).
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Iterable
from typing import Final, Generic, TypeVar

from waporta.storage.database import Database
from waproto.errors import LocalProtocolError
from waproto.signal.address import ProtocolAddress
from waproto.signal.curve import KeyPair, strip_key_type
from waproto.signal.keys import PreKeyRecord, SignedPreKeyRecord
from waproto.signal.sender_keys import SenderKeyName, SenderKeyRecord, SenderKeyStore
from waproto.signal.session import SessionRecord
from waproto.signal.store import Direction, IdentityKeyStore, PreKeyStore, SessionStore, SignedPreKeyStore

__all__ = ["DEFAULT_CACHE_SIZE", "SqliteSenderKeyStore", "SqliteSignalStore"]

#: How many session records (and, separately, identity keys) a store keeps in memory by default.
DEFAULT_CACHE_SIZE: Final = 512

K = TypeVar("K")
V = TypeVar("V")


class _Cache(Generic[K, V]):
    """A small LRU map; ``capacity`` 0 keeps nothing."""

    __slots__ = ("_items", "capacity")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[K, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: K) -> bool:
        return key in self._items

    def get(self, key: K) -> V:
        """The value (``KeyError`` if absent), now the most recently used."""
        self._items.move_to_end(key)
        return self._items[key]

    def put(self, key: K, value: V) -> None:
        if self.capacity <= 0:
            return
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def drop(self, key: K) -> None:
        self._items.pop(key, None)

    def clear(self) -> None:
        self._items.clear()


def _check_session_id(session_id: str) -> str:
    if not isinstance(session_id, str) or not session_id:
        raise ValueError("a store needs a non-empty hub session id")
    return session_id


class SqliteSignalStore:
    """All four Signal 1:1 stores of one hub session, on SQLite (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        session_id: str,
        identity: KeyPair,
        registration_id: int,
        *,
        accept_changed_identities: bool = True,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        if not isinstance(registration_id, int) or not 0 <= registration_id < 2**32:
            raise LocalProtocolError("a registration id is a 32-bit unsigned integer")
        if not isinstance(cache_size, int) or cache_size < 0:
            raise ValueError("cache_size is a non-negative integer (0 turns the cache off)")
        #: The hub database.
        self.db = db
        #: The hub session whose rows this store reads and writes.
        self.session_id = _check_session_id(session_id)
        #: Our identity key pair (from the credentials).
        self.identity = identity
        #: Our registration id (from the credentials).
        self.registration_id = registration_id
        #: Whether a key different from the stored one is trusted (and then reported as a change).
        self.accept_changed_identities = accept_changed_identities
        self._sessions: _Cache[ProtocolAddress, SessionRecord | None] = _Cache(cache_size)
        self._identities: _Cache[ProtocolAddress, bytes | None] = _Cache(cache_size)
        # Bumped when a session or identity write finishes (or fails): a read that overlapped one may
        # hold what the write replaced, so it answers its caller but does not fill the cache.
        self._epoch = 0

    def clear_cache(self) -> None:
        """Forget every cached record and key (the database was changed behind this store's back)."""
        self._sessions.clear()
        self._identities.clear()

    # ------------------------------------------------------------------------------------ identities

    async def get_identity_key_pair(self) -> KeyPair:
        """Our identity key pair."""
        return self.identity

    async def get_local_registration_id(self) -> int:
        """Our registration id."""
        return self.registration_id

    async def get_identity(self, address: ProtocolAddress) -> bytes | None:
        """The 32-byte identity key stored for ``address``, or ``None``."""
        if address in self._identities:
            return self._identities.get(address)
        sid, name, device = self.session_id, address.name, address.device_id
        epoch = self._epoch
        key = await self.db.read(lambda conn: _identity(conn, sid, name, device))
        if epoch == self._epoch:
            self._identities.put(address, key)
        return key

    async def is_trusted_identity(
        self, address: ProtocolAddress, identity_key: bytes, direction: Direction
    ) -> bool:
        """Trust on first use; a changed key is trusted only with ``accept_changed_identities``.

        A malformed key raises ``DecodeError`` even for a peer with no stored key (the memory store
        would trust it then); waproto only passes keys it has parsed.
        """
        key = strip_key_type(identity_key)
        if self.accept_changed_identities:
            return True  # first use, same key or a change: all trusted, no need to look.
        known = await self.get_identity(address)
        return known is None or known == key

    async def save_identity(self, address: ProtocolAddress, identity_key: bytes) -> bytes | None:
        """Store the key; returns the key it replaced when that was a different one, else ``None``."""
        key = strip_key_type(identity_key)
        if address in self._identities and self._identities.get(address) == key:
            return None  # unchanged (every decryption saves the key it used): nothing to write
        sid, name, device = self.session_id, address.name, address.device_id

        def save(conn: sqlite3.Connection) -> bytes | None:
            previous = _identity(conn, sid, name, device)
            if previous != key:
                conn.execute(
                    "INSERT OR REPLACE INTO signal_identities (session_id, name, device_id, identity_key)"
                    " VALUES (?, ?, ?, ?)",
                    (sid, name, device, key),
                )
            return previous

        try:
            previous = await self.db.write(save, inline=True)
        except BaseException:
            self._identities.drop(address)
            raise
        finally:
            self._epoch += 1
        self._identities.put(address, key)
        return previous if previous is not None and previous != key else None

    # -------------------------------------------------------------------------------------- prekeys

    async def load_pre_key(self, pre_key_id: int) -> PreKeyRecord | None:
        """The prekey stored under ``pre_key_id``, or ``None``."""
        sid = self.session_id
        data = await self.db.read(
            lambda conn: _blob(
                conn,
                "SELECT record FROM signal_pre_keys WHERE session_id = ? AND key_id = ?",
                (sid, pre_key_id),
            )
        )
        return None if data is None else PreKeyRecord.deserialize(data)

    async def store_pre_key(self, pre_key_id: int, record: PreKeyRecord) -> None:
        """Keep ``record`` under ``pre_key_id``."""
        await self.store_pre_keys([(pre_key_id, record)])

    async def store_pre_keys(self, records: Iterable[tuple[int, PreKeyRecord]]) -> None:
        """Keep many ``(pre_key_id, record)`` pairs in one transaction (a prekey upload's batch)."""
        sid = self.session_id
        rows = [(sid, pre_key_id, record.serialize()) for pre_key_id, record in records]
        await self.db.write(
            lambda conn: conn.executemany(
                "INSERT OR REPLACE INTO signal_pre_keys (session_id, key_id, record) VALUES (?, ?, ?)", rows
            )
        )

    async def remove_pre_key(self, pre_key_id: int) -> None:
        """Forget the prekey; removing a missing id is not an error."""
        sid = self.session_id
        await self.db.write(
            lambda conn: conn.execute(
                "DELETE FROM signal_pre_keys WHERE session_id = ? AND key_id = ?", (sid, pre_key_id)
            ),
            inline=True,
        )

    async def pre_key_ids(self) -> list[int]:
        """The ids of the prekeys we still hold, ascending (to decide how many to generate and upload)."""
        sid = self.session_id
        return await self.db.read(
            lambda conn: [
                int(row[0])
                for row in conn.execute(
                    "SELECT key_id FROM signal_pre_keys WHERE session_id = ? ORDER BY key_id", (sid,)
                )
            ]
        )

    # ------------------------------------------------------------------------------- signed prekeys

    async def load_signed_pre_key(self, signed_pre_key_id: int) -> SignedPreKeyRecord | None:
        """The signed prekey stored under ``signed_pre_key_id``, or ``None``."""
        sid = self.session_id
        data = await self.db.read(
            lambda conn: _blob(
                conn,
                "SELECT record FROM signal_signed_pre_keys WHERE session_id = ? AND key_id = ?",
                (sid, signed_pre_key_id),
            )
        )
        return None if data is None else SignedPreKeyRecord.deserialize(data)

    async def store_signed_pre_key(self, signed_pre_key_id: int, record: SignedPreKeyRecord) -> None:
        """Keep ``record`` under ``signed_pre_key_id``."""
        row = (self.session_id, signed_pre_key_id, record.serialize())
        await self.db.write(
            lambda conn: conn.execute(
                "INSERT OR REPLACE INTO signal_signed_pre_keys (session_id, key_id, record) VALUES (?, ?, ?)",
                row,
            )
        )

    # ------------------------------------------------------------------------------------- sessions

    async def load_session(self, address: ProtocolAddress) -> SessionRecord | None:
        """The record for ``address``, or ``None`` (from the cache when it holds the address)."""
        if address in self._sessions:
            return self._sessions.get(address)
        sid, name, device = self.session_id, address.name, address.device_id
        epoch = self._epoch
        data = await self.db.read(
            lambda conn: _blob(
                conn,
                "SELECT record FROM signal_sessions WHERE session_id = ? AND name = ? AND device_id = ?",
                (sid, name, device),
            )
        )
        record = None if data is None else SessionRecord.deserialize(data)
        if epoch == self._epoch:
            self._sessions.put(address, record)
        return record

    async def load_sessions(
        self, addresses: Iterable[ProtocolAddress]
    ) -> dict[ProtocolAddress, SessionRecord]:
        """The records of those of ``addresses`` that have one; the uncached ones in one query."""
        found: dict[ProtocolAddress, SessionRecord] = {}
        wanted: list[ProtocolAddress] = []
        for address in dict.fromkeys(addresses):
            if address in self._sessions:
                cached = self._sessions.get(address)
                if cached is not None:
                    found[address] = cached
            else:
                wanted.append(address)
        if not wanted:
            return found
        sid = self.session_id

        def load(conn: sqlite3.Connection) -> dict[ProtocolAddress, bytes]:
            rows: dict[ProtocolAddress, bytes] = {}
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                where = " OR ".join(["(name = ? AND device_id = ?)"] * len(chunk))
                params: list[object] = [sid]
                for address in chunk:
                    params += [address.name, address.device_id]
                query = (
                    f"SELECT name, device_id, record FROM signal_sessions WHERE session_id = ? AND ({where})"
                )
                for name, device, record in conn.execute(query, params):
                    rows[ProtocolAddress(name, device)] = bytes(record)
            return rows

        epoch = self._epoch
        rows = await self.db.read(load)
        for address in wanted:
            data = rows.get(address)
            record = None if data is None else SessionRecord.deserialize(data)
            if epoch == self._epoch:
                self._sessions.put(address, record)
            if record is not None:
                found[address] = record
        return found

    async def store_session(self, address: ProtocolAddress, record: SessionRecord) -> None:
        """Replace the record for ``address`` (committed before this returns)."""
        row = (self.session_id, address.name, address.device_id, record.serialize())
        try:
            await self.db.write(
                lambda conn: conn.execute(
                    "INSERT OR REPLACE INTO signal_sessions (session_id, name, device_id, record)"
                    " VALUES (?, ?, ?, ?)",
                    row,
                ),
                inline=True,
            )
        except BaseException:
            self._sessions.drop(address)
            raise
        finally:
            self._epoch += 1
        self._sessions.put(address, record)


class SqliteSenderKeyStore:
    """Group sender keys of one hub session, on SQLite; copies both ways (records are serialised)."""

    def __init__(self, db: Database, session_id: str) -> None:
        #: The hub database.
        self.db = db
        #: The hub session whose rows this store reads and writes.
        self.session_id = _check_session_id(session_id)

    async def load_sender_key(self, name: SenderKeyName) -> SenderKeyRecord | None:
        """The record stored under ``name`` (a fresh object), or ``None``."""
        params = (self.session_id, name.group_id, name.sender.name, name.sender.device_id)
        data = await self.db.read(
            lambda conn: _blob(
                conn,
                "SELECT record FROM signal_sender_keys"
                " WHERE session_id = ? AND group_id = ? AND sender_name = ? AND sender_device = ?",
                params,
            )
        )
        return None if data is None else SenderKeyRecord.deserialize(data)

    async def store_sender_key(self, name: SenderKeyName, record: SenderKeyRecord) -> None:
        """Store ``record`` under ``name``, replacing what was there."""
        row = (self.session_id, name.group_id, name.sender.name, name.sender.device_id, record.serialize())
        await self.db.write(
            lambda conn: conn.execute(
                "INSERT OR REPLACE INTO signal_sender_keys"
                " (session_id, group_id, sender_name, sender_device, record) VALUES (?, ?, ?, ?, ?)",
                row,
            ),
            inline=True,
        )


# How many addresses one SELECT names (2 parameters each, well under SQLite's variable limit).
_CHUNK = 400


def _blob(conn: sqlite3.Connection, query: str, params: tuple[object, ...]) -> bytes | None:
    row = conn.execute(query, params).fetchone()
    return None if row is None else bytes(row[0])


def _identity(conn: sqlite3.Connection, session_id: str, name: str, device_id: int) -> bytes | None:
    return _blob(
        conn,
        "SELECT identity_key FROM signal_identities WHERE session_id = ? AND name = ? AND device_id = ?",
        (session_id, name, device_id),
    )


def _conforms(store: SqliteSignalStore, senders: SqliteSenderKeyStore) -> None:
    """Never called: mypy checks here that the classes implement waproto's Protocols."""
    identity: IdentityKeyStore = store
    pre_keys: PreKeyStore = store
    signed: SignedPreKeyStore = store
    sessions: SessionStore = store
    sender_keys: SenderKeyStore = senders
    del identity, pre_keys, signed, sessions, sender_keys
