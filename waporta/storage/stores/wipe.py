"""Wiping one WhatsApp session's state from the hub database (logout, or a session deleted).

:data:`SESSION_TABLES` names every table of ``migrations/0002_signal.sql``: the credentials, Signal state,
device lists and LID mappings a linked device keeps, and ``inbound_messages`` (``0003``: the messages it
received). :func:`delete_session` removes one session's rows
from all of them in one transaction, so a crash never leaves half a session behind; it can keep the
received messages the hooks have not had yet (a logout by the phone must not lose them).

This module is NOT the hub's session registry or its webhooks: a session's configured webhooks
(``webhooks`` table, owned by ``waporta.webhooks``) are settings, not WhatsApp state, and survive a
logout.
"""

from __future__ import annotations

import sqlite3
from typing import Final, NamedTuple

from waporta.storage.database import Database

__all__ = ["SESSION_TABLES", "Wiped", "delete_session"]

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


class Wiped(NamedTuple):
    """What :func:`delete_session` removed: ``rows`` in all, of which ``unhandled`` received messages the
    hooks had not had yet."""

    rows: int
    unhandled: int


async def delete_session(db: Database, session_id: str, *, keep_unhandled: bool = False) -> Wiped:
    """Delete every row of ``session_id`` from :data:`SESSION_TABLES` (one transaction). With
    ``keep_unhandled`` the received messages not yet handed to the hooks (``handled_at`` unset) stay, to
    be handed on when a session of that id runs again."""
    if not isinstance(session_id, str) or not session_id:
        raise ValueError("delete_session needs a non-empty hub session id")

    def wipe(conn: sqlite3.Connection) -> Wiped:
        unhandled = conn.execute(
            "SELECT COUNT(*) FROM inbound_messages WHERE session_id = ? AND handled_at IS NULL", (session_id,)
        ).fetchone()[0]
        removed = 0
        for table in SESSION_TABLES:
            where = "session_id = ?"
            if keep_unhandled and table == "inbound_messages":
                where += " AND handled_at IS NOT NULL"
            removed += conn.execute(f"DELETE FROM {table} WHERE {where}", (session_id,)).rowcount
        return Wiped(removed, 0 if keep_unhandled else unhandled)

    return await db.write(wipe)
