"""Wiping one WhatsApp session's state from the hub database (logout, or a session deleted).

:data:`SESSION_TABLES` names every table of ``migrations/0002_signal.sql``: the credentials, Signal state,
device lists and LID mappings a linked device keeps, and ``inbound_messages`` (``0003``: the messages it
received). :func:`delete_session` removes one session's rows
from all of them in one transaction, so a crash never leaves half a session behind.

This module is NOT the hub's session registry or its webhooks: a session's configured webhooks
(``webhooks`` table, owned by ``waporta.webhooks``) are settings, not WhatsApp state, and survive a
logout.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from waporta.storage.database import Database

__all__ = ["SESSION_TABLES", "delete_session"]

#: Every table that holds a WhatsApp session's state, keyed by ``session_id``.
SESSION_TABLES: Final[tuple[str, ...]] = (
    "wa_credentials",
    "signal_identities",
    "signal_pre_keys",
    "signal_signed_pre_keys",
    "signal_sessions",
    "signal_sender_keys",
    "wa_device_lists",
    "wa_lid_mappings",
    "inbound_messages",
)


async def delete_session(db: Database, session_id: str) -> int:
    """Delete every row of ``session_id`` from :data:`SESSION_TABLES` (one transaction); returns how many."""
    if not isinstance(session_id, str) or not session_id:
        raise ValueError("delete_session needs a non-empty hub session id")

    def wipe(conn: sqlite3.Connection) -> int:
        removed = 0
        for table in SESSION_TABLES:
            removed += conn.execute(f"DELETE FROM {table} WHERE session_id = ?", (session_id,)).rowcount
        return removed

    return await db.write(wipe)
