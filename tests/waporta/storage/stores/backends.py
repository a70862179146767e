"""Backends for the store tests: the same behavioural tests run on the in-memory stores and the SQLite ones.

A backend hands out stores per hub session id; the Signal store of a session is the same object until a
reopen (as in the hub: one store per session). ``await backend.reopen()`` closes and reopens the SQLite
database and hands out new store objects over the reopened file (empty caches); for the memory backend it
is a no-op and the same objects are handed out again, so a test that survives a reopen on both proves
SQLite kept everything the memory store holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from waporta.storage import Database
from waporta.storage.stores import (
    DEFAULT_CACHE_SIZE,
    MemoryCredentialStore,
    MemoryDeviceListStore,
    MemoryLidMapStore,
    SqliteCredentialStore,
    SqliteDeviceListStore,
    SqliteLidMapStore,
    SqliteSenderKeyStore,
    SqliteSignalStore,
)
from waproto.signal.curve import KeyPair
from waproto.signal.memory import MemorySignalStore
from waproto.signal.sender_keys import MemorySenderKeyStore


class Backend:
    """Stores of one kind for any number of hub sessions.

    ``memory``: waproto's and ``protocols``' memory stores; ``sqlite``: the SQLite stores;
    ``sqlite-nocache``: the same with the Signal store's cache off, so every load reads the file.
    """

    def __init__(self, kind: str, path: Path) -> None:
        self.kind = kind
        self.path = path
        self.db: Database | None = None
        self._objects: dict[tuple[str, str], Any] = {}

    async def open(self) -> None:
        if self.kind.startswith("sqlite"):
            self.db = await Database.open(self.path)

    async def close(self) -> None:
        if self.db is not None:
            await self.db.aclose()

    async def reopen(self) -> None:
        if self.kind.startswith("sqlite"):
            await self.close()
            await self.open()
            self._objects.clear()  # new store objects over the reopened file

    @property
    def sqlite(self) -> Database:
        assert self.db is not None
        return self.db

    def _kept(self, what: str, session_id: str, make: Any) -> Any:
        key = (what, session_id)
        if key not in self._objects:
            self._objects[key] = make()
        return self._objects[key]

    def signal(
        self,
        session_id: str,
        identity: KeyPair,
        registration_id: int,
        *,
        accept_changed_identities: bool = True,
    ) -> Any:
        if self.kind.startswith("sqlite"):
            return self._kept(
                "signal",
                session_id,
                lambda: SqliteSignalStore(
                    self.sqlite,
                    session_id,
                    identity,
                    registration_id,
                    accept_changed_identities=accept_changed_identities,
                    cache_size=0 if self.kind == "sqlite-nocache" else DEFAULT_CACHE_SIZE,
                ),
            )
        return self._kept(
            "signal",
            session_id,
            lambda: MemorySignalStore(
                identity, registration_id, accept_changed_identities=accept_changed_identities
            ),
        )

    def sender_keys(self, session_id: str) -> Any:
        if self.kind.startswith("sqlite"):
            return SqliteSenderKeyStore(self.sqlite, session_id)
        return self._kept("sender_keys", session_id, MemorySenderKeyStore)

    def credentials(self, session_id: str) -> Any:
        if self.kind.startswith("sqlite"):
            return SqliteCredentialStore(self.sqlite, session_id)
        return self._kept("credentials", session_id, MemoryCredentialStore)

    def device_lists(self, session_id: str) -> Any:
        if self.kind.startswith("sqlite"):
            return SqliteDeviceListStore(self.sqlite, session_id)
        return self._kept("device_lists", session_id, MemoryDeviceListStore)

    def lid_map(self, session_id: str) -> Any:
        if self.kind.startswith("sqlite"):
            return SqliteLidMapStore(self.sqlite, session_id)
        return self._kept("lid_map", session_id, MemoryLidMapStore)


async def dump(db: Database) -> list[str]:
    """The whole database as SQL text, for before/after comparisons."""
    return await db.read(lambda conn: list(conn.iterdump()))
