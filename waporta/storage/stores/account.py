"""Credentials, device lists and LID mappings of one hub session, on the hub's SQLite database.

The SQLite implementations of the contracts in ``waporta.storage.stores.protocols``:
:class:`SqliteCredentialStore`, :class:`SqliteDeviceListStore`, :class:`SqliteLidMapStore`, plus
:func:`load_all_credentials`, which reads every linked session's credentials in one query (restoring all
sessions on start-up). Each store call is one :meth:`Database.read` or :meth:`Database.write`, whatever
the number of users it names (lists travel as one JSON parameter and are joined with ``json_each``);
writes are committed before the call returns.

This module is NOT the Signal stores (``waporta.storage.stores.signal``) and does not interpret the
credentials: they are kept as the JSON text of waproto's dict form.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from waporta.storage.database import Database
from waporta.storage.stores.protocols import (
    CredentialStore,
    DeviceList,
    DeviceListStore,
    LidMapStore,
    check_user,
    check_user_jid,
    credentials_to_json,
)

__all__ = [
    "SqliteCredentialStore",
    "SqliteDeviceListStore",
    "SqliteLidMapStore",
    "load_all_credentials",
]


def _check_session_id(session_id: str) -> str:
    if not isinstance(session_id, str) or not session_id:
        raise ValueError("a store needs a non-empty hub session id")
    return session_id


async def load_all_credentials(db: Database) -> dict[str, dict[str, Any]]:
    """``{session_id: credentials}`` for every session that has credentials (is linked), in one read."""
    rows = await db.read(
        lambda conn: conn.execute(
            "SELECT session_id, data FROM wa_credentials ORDER BY session_id"
        ).fetchall()
    )
    return {str(session_id): json.loads(data) for session_id, data in rows}


class SqliteCredentialStore:
    """One session's credentials as JSON text in ``wa_credentials``."""

    def __init__(self, db: Database, session_id: str) -> None:
        #: The hub database.
        self.db = db
        #: The hub session whose row this store reads and writes.
        self.session_id = _check_session_id(session_id)

    async def load_credentials(self) -> dict[str, Any] | None:
        """A fresh copy of the stored dict, or ``None`` if the session has none."""
        sid = self.session_id
        row = await self.db.read(
            lambda conn: conn.execute(
                "SELECT data FROM wa_credentials WHERE session_id = ?", (sid,)
            ).fetchone()
        )
        if row is None:
            return None
        loaded: dict[str, Any] = json.loads(row[0])
        return loaded

    async def save_credentials(self, credentials: Mapping[str, Any]) -> None:
        """Replace the stored credentials (``TypeError``/``ValueError`` if not JSON-able; nothing stored)."""
        row = (self.session_id, credentials_to_json(credentials))
        await self.db.write(
            lambda conn: conn.execute(
                "INSERT OR REPLACE INTO wa_credentials (session_id, data) VALUES (?, ?)", row
            )
        )

    async def delete_credentials(self) -> None:
        """Forget the credentials; deleting when there are none is not an error."""
        sid = self.session_id
        await self.db.write(
            lambda conn: conn.execute("DELETE FROM wa_credentials WHERE session_id = ?", (sid,))
        )


class SqliteDeviceListStore:
    """One session's cached device lists in ``wa_device_lists``."""

    def __init__(self, db: Database, session_id: str) -> None:
        #: The hub database.
        self.db = db
        #: The hub session whose rows this store reads and writes.
        self.session_id = _check_session_id(session_id)

    async def get_device_lists(self, user_jids: Iterable[str]) -> dict[str, DeviceList]:
        """The stored lists of those of ``user_jids`` that have one, by user JID (one query)."""
        wanted = json.dumps([check_user_jid(jid) for jid in user_jids])
        sid = self.session_id
        rows = await self.db.read(
            lambda conn: conn.execute(
                "SELECT user_jid, devices, fetched_at FROM wa_device_lists"
                " WHERE session_id = ? AND user_jid IN (SELECT value FROM json_each(?))",
                (sid, wanted),
            ).fetchall()
        )
        return {
            jid: DeviceList(jid, tuple(json.loads(devices)), fetched_at) for jid, devices, fetched_at in rows
        }

    async def put_device_lists(self, lists: Iterable[DeviceList]) -> None:
        """Store each list, replacing what its user had, in one transaction."""
        rows = []
        for device_list in lists:
            if not isinstance(device_list, DeviceList):
                raise TypeError(f"expected DeviceList values, not {type(device_list).__name__}")
            devices = json.dumps(list(device_list.devices), separators=(",", ":"))
            rows.append((self.session_id, device_list.user_jid, devices, device_list.fetched_at))
        await self.db.write(
            lambda conn: conn.executemany(
                "INSERT OR REPLACE INTO wa_device_lists (session_id, user_jid, devices, fetched_at)"
                " VALUES (?, ?, ?, ?)",
                rows,
            )
        )

    async def delete_device_lists(self, user_jids: Iterable[str]) -> None:
        """Forget these users' lists; unknown users are ignored."""
        doomed = json.dumps([check_user_jid(jid) for jid in user_jids])
        sid = self.session_id
        await self.db.write(
            lambda conn: conn.execute(
                "DELETE FROM wa_device_lists WHERE session_id = ? AND user_jid IN (SELECT value FROM json_each(?))",
                (sid, doomed),
            )
        )


class SqliteLidMapStore:
    """One session's LID ↔ phone-number mappings in ``wa_lid_mappings``."""

    def __init__(self, db: Database, session_id: str) -> None:
        #: The hub database.
        self.db = db
        #: The hub session whose rows this store reads and writes.
        self.session_id = _check_session_id(session_id)

    async def put_lid_mappings(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Store ``(lid_user, pn_user)`` pairs; each replaces any mapping of its LID or phone number."""
        sid = self.session_id
        rows = [(sid, check_user(lid), check_user(pn)) for lid, pn in pairs]

        # OR REPLACE drops every row that conflicts on the LID or on the phone number, row by row in order.
        await self.db.write(
            lambda conn: conn.executemany(
                "INSERT OR REPLACE INTO wa_lid_mappings (session_id, lid_user, pn_user) VALUES (?, ?, ?)",
                rows,
            )
        )

    async def get_lids(self, pn_users: Iterable[str]) -> dict[str, str]:
        """``{pn_user: lid_user}`` for those of ``pn_users`` that have a mapping (one query)."""
        rows = await self._lookup("pn_user", "lid_user", pn_users)
        return dict(rows)

    async def get_pns(self, lid_users: Iterable[str]) -> dict[str, str]:
        """``{lid_user: pn_user}`` for those of ``lid_users`` that have a mapping (one query)."""
        rows = await self._lookup("lid_user", "pn_user", lid_users)
        return dict(rows)

    async def _lookup(self, key: str, value: str, users: Iterable[str]) -> list[tuple[str, str]]:
        wanted = json.dumps([check_user(user) for user in users])
        sid = self.session_id
        # key and value are our own column names, never input.
        query = (
            f"SELECT {key}, {value} FROM wa_lid_mappings"
            f" WHERE session_id = ? AND {key} IN (SELECT value FROM json_each(?))"
        )
        return await self.db.read(
            lambda conn: [(str(a), str(b)) for a, b in conn.execute(query, (sid, wanted))]
        )


def _conforms(creds: SqliteCredentialStore, devices: SqliteDeviceListStore, lids: SqliteLidMapStore) -> None:
    """Never called: mypy checks here that the classes implement the Protocols of ``protocols``."""
    as_creds: CredentialStore = creds
    as_devices: DeviceListStore = devices
    as_lids: LidMapStore = lids
    del as_creds, as_devices, as_lids
