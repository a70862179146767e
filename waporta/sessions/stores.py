"""A hub session's state stores as waproto's client wants them: :class:`SessionStore` (the ``ClientStore``
Protocol) and :class:`SessionSignalStore` (the Signal store that knows our published signed prekey).

Credentials are kept as ``Credentials.to_dict()`` JSON in ``wa_credentials``; one-time prekeys, sessions
and identities in the Signal tables, all keyed by the hub session's id.

This module is NOT the SQL (``waporta.storage.stores`` has the tables and their stores) nor the decision
of when a session's state is created, restored or wiped (``waporta.sessions.supervisor``).
"""

from __future__ import annotations

from waporta.storage import Database
from waporta.storage.stores import SqliteCredentialStore, SqliteSignalStore
from waproto.credentials import Credentials
from waproto.signal.keys import PreKeyRecord, SignedPreKeyRecord

__all__ = ["SessionSignalStore", "SessionStore"]


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

    async def remove_pre_key(self, pre_key_id: int) -> None:
        """Forget a one-time prekey (a peer used it)."""
        await self.signal.remove_pre_key(pre_key_id)
