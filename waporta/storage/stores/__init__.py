"""The stores a linked WhatsApp device needs, on the hub's SQLite database, one hub session each.

- ``signal``: :class:`SqliteSignalStore` (waproto's identity, prekey, signed prekey and session stores in
  one object) and :class:`SqliteSenderKeyStore`;
- ``account``: :class:`SqliteCredentialStore`, :class:`SqliteDeviceListStore`, :class:`SqliteLidMapStore`
  and :func:`load_all_credentials`;
- ``protocols``: the contracts of the last three (waproto has none yet) with in-memory reference versions;
- ``wipe``: :func:`delete_session`, which removes everything one session keeps.

The tables are created by ``migrations/0002_signal.sql``. This package is NOT the hub's session
supervisor (``waporta.sessions``), which decides when to create, restore and wipe sessions.
"""

from __future__ import annotations

from waporta.storage.stores.account import (
    SqliteCredentialStore,
    SqliteDeviceListStore,
    SqliteLidMapStore,
    load_all_credentials,
)
from waporta.storage.stores.protocols import (
    CredentialStore,
    DeviceList,
    DeviceListStore,
    LidMapStore,
    MemoryCredentialStore,
    MemoryDeviceListStore,
    MemoryLidMapStore,
)
from waporta.storage.stores.signal import DEFAULT_CACHE_SIZE, SqliteSenderKeyStore, SqliteSignalStore
from waporta.storage.stores.wipe import SESSION_TABLES, delete_session

__all__ = [
    "DEFAULT_CACHE_SIZE",
    "SESSION_TABLES",
    "CredentialStore",
    "DeviceList",
    "DeviceListStore",
    "LidMapStore",
    "MemoryCredentialStore",
    "MemoryDeviceListStore",
    "MemoryLidMapStore",
    "SqliteCredentialStore",
    "SqliteDeviceListStore",
    "SqliteLidMapStore",
    "SqliteSenderKeyStore",
    "SqliteSignalStore",
    "delete_session",
    "load_all_credentials",
]
