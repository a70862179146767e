"""A hub session's state stores as waproto's client wants them: :class:`SessionStore` (the ``ClientStore``
Protocol) and :class:`SessionSignalStore` (the Signal store that knows our published signed prekey).

Credentials are kept as ``Credentials.to_dict()`` JSON in ``wa_credentials``; one-time prekeys, sessions
and identities in the Signal tables, all keyed by the hub session's id.

**Deferred session writes.** Inside :func:`deferring_session_writes` (``Sessions.send`` runs a send in it),
:meth:`SessionSignalStore.store_session` keeps the record in memory as *pending* instead of committing it
at once; :meth:`SessionSignalStore.flush` commits every pending record in one transaction. The session's
transport (``waporta.sessions.transport``) calls ``flush`` before it writes any byte, so a record is still
committed before the message encrypted with it goes out, but a text to two devices costs one commit (on
the stanza's way out) instead of one thread hop and commit per device. Loads answer pending records first;
a store outside the context (the receive path) commits what is pending before its own write, so rows are
never written out of order. A flush that fails keeps the records pending and raises: nothing leaves.

This module is NOT the SQL (``waporta.storage.stores`` has the tables and their stores) nor the decision
of when a session's state is created, restored or wiped (``waporta.sessions.supervisor``).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator
from contextvars import ContextVar

import trio

from waporta.storage import Database
from waporta.storage.stores import SqliteCredentialStore, SqliteSignalStore
from waproto.credentials import Credentials
from waproto.signal.address import ProtocolAddress
from waproto.signal.keys import PreKeyRecord, SignedPreKeyRecord
from waproto.signal.session import SessionRecord

__all__ = ["SessionSignalStore", "SessionStore", "deferring_session_writes"]

_deferring: ContextVar[bool] = ContextVar("waporta_deferring_session_writes", default=False)


@contextlib.contextmanager
def deferring_session_writes() -> Iterator[None]:
    """In this block (this task and what it awaits), session records are stored as pending, committed by
    :meth:`SessionSignalStore.flush` (which the session's transport calls before anything goes out)."""
    token = _deferring.set(True)
    try:
        yield
    finally:
        _deferring.reset(token)


class SessionSignalStore(SqliteSignalStore):
    """A session's Signal state on SQLite, where our signed prekey is the credentials' one.

    The credentials (saved as a whole in ``wa_credentials``) hold the identity, registration id and signed
    prekey that the client publishes; the first two are given to :class:`SqliteSignalStore`, and the
    signed prekey is answered from here, so a peer's first (``pkmsg``) message decrypts. Other signed
    prekey ids are looked up in ``signal_signed_pre_keys``.
    """

    def __init__(self, db: Database, session_id: str, credentials: Credentials) -> None:
        super().__init__(db, session_id, credentials.identity_key, credentials.registration_id)
        #: The signed prekey the client publishes.
        self.signed_pre_key = credentials.signed_pre_key
        # Records stored under deferring_session_writes and not committed yet, in store order.
        self._pending: dict[ProtocolAddress, SessionRecord] = {}
        self._flush_lock = trio.Lock()
        #: Transactions :meth:`flush` has committed (each carries every record pending at its start).
        self.flushes = 0

    @property
    def pending(self) -> int:
        """How many session records are stored here but not committed yet."""
        return len(self._pending)

    async def load_session(self, address: ProtocolAddress) -> SessionRecord | None:
        """The pending record for ``address`` if there is one, else the stored one (or None)."""
        pending = self._pending.get(address)
        if pending is not None:
            return pending
        return await super().load_session(address)

    async def load_sessions(
        self, addresses: Iterable[ProtocolAddress]
    ) -> dict[ProtocolAddress, SessionRecord]:
        """The records of those of ``addresses`` that have one, pending ones first."""
        wanted = list(dict.fromkeys(addresses))
        found = {address: self._pending[address] for address in wanted if address in self._pending}
        rest = [address for address in wanted if address not in found]
        if rest:
            found.update(await super().load_sessions(rest))
        return found

    async def store_session(self, address: ProtocolAddress, record: SessionRecord) -> None:
        """Store ``record``: pending (committed by :meth:`flush`) inside :func:`deferring_session_writes`,
        else committed before this returns, after whatever was pending."""
        if _deferring.get():
            self._pending.pop(address, None)
            self._pending[address] = record
            self._sessions.put(address, record)
            self._epoch += 1  # a load that overlapped this must not cache what it read
            return
        await self.flush()
        await super().store_session(address, record)

    async def flush(self) -> None:
        """Commit every pending session record (one transaction); at once when none is pending.

        When the write fails (or is cancelled before it ran), the records stay pending and the error
        propagates. Returns only when every record pending at the call is committed."""
        if not self._pending and not self._flush_lock.locked():
            return
        async with self._flush_lock:
            if not self._pending:
                return  # the flush we waited for took them
            taken, self._pending = self._pending, {}
            sid = self.session_id
            rows = [
                (sid, address.name, address.device_id, record.serialize())
                for address, record in taken.items()
            ]

            def write(conn: sqlite3.Connection) -> None:
                conn.executemany(
                    "INSERT OR REPLACE INTO signal_sessions (session_id, name, device_id, record)"
                    " VALUES (?, ?, ?, ?)",
                    rows,
                )

            try:
                await self.db.write(write, inline=True)
            except BaseException:
                # Still to be written, before whatever was stored pending meanwhile (newer wins).
                self._pending = {**taken, **self._pending}
                raise
            self.flushes += 1

    def clear_cache(self) -> None:
        """Forget every cached and pending record (the database was changed behind this store's back)."""
        self._pending.clear()
        super().clear_cache()

    async def load_signed_pre_key(self, signed_pre_key_id: int) -> SignedPreKeyRecord | None:
        """Our published signed prekey when the id is its id, else the stored one (or None)."""
        if signed_pre_key_id == self.signed_pre_key.key_id:
            return self.signed_pre_key
        return await super().load_signed_pre_key(signed_pre_key_id)


class SessionStore:
    """waproto's ``ClientStore`` for one hub session, on the hub's SQLite stores."""

    def __init__(self, db: Database, session_id: str, credentials: Credentials) -> None:
        self._credentials = SqliteCredentialStore(db, session_id)
        #: The Signal stores (identity, registration id and signed prekey from ``credentials``, which
        #: never change them).
        self.signal = SessionSignalStore(db, session_id, credentials)

    async def save_credentials(self, credentials: Credentials) -> None:
        """Durably replace the stored credentials."""
        await self._credentials.save_credentials(credentials.to_dict())

    async def delete_credentials(self) -> None:
        """Forget the credentials (the device was logged out)."""
        await self._credentials.delete_credentials()

    async def load_pre_key(self, pre_key_id: int) -> PreKeyRecord | None:
        """The one-time prekey with this id, or None."""
        return await self.signal.load_pre_key(pre_key_id)

    async def store_pre_key(self, pre_key_id: int, record: PreKeyRecord) -> None:
        """Keep one one-time prekey."""
        await self.signal.store_pre_key(pre_key_id, record)

    async def store_pre_keys(self, records: list[tuple[int, PreKeyRecord]]) -> None:
        """Keep a batch of one-time prekeys in one transaction (the client's uploads)."""
        await self.signal.store_pre_keys(records)

    async def remove_pre_key(self, pre_key_id: int) -> None:
        """Forget a one-time prekey (a peer used it)."""
        await self.signal.remove_pre_key(pre_key_id)
