"""Where received messages are kept: the ``inbound_messages`` table (migration 0003), one row per message
(key ``(session_id, chat, sender, message_id)``, the chat of a direct message from someone else being its
sender, so a redelivery addressed by LID instead of phone number is the same row), committed before the receipt, ``handled_at`` set once the
hooks have had it.

This module is NOT the message's shape (``waporta.messages.inbound``) or the order and timing of hand-over
and marks (``waporta.messages.queue``).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Collection
from typing import Any, Final

from waporta.messages.inbound import InboundMessage
from waporta.storage import Database
from waproto.jid import JID

__all__ = ["find_inbound", "load_pending", "load_replay", "mark_handled", "store_inbound"]

log = logging.getLogger("waporta.messages")


async def store_inbound(
    db: Database, message: InboundMessage, *, received_at: float, handled: Collection[int] = (), handled_at: float = 0.0
) -> int | None:
    """Commit ``message`` to ``inbound_messages``; its row's ``seq``, or None (nothing written) when its
    key is already there (a redelivery). The rows ``handled`` are marked handled (at ``handled_at``) in
    the same transaction, whether the message was new or not."""
    record = message.to_record_json()
    params = (
        message.session_id,
        str(_key_chat(message)),
        str(message.sender),
        message.message_id,
        record,
        received_at,
    )
    marks = _mark_statement(handled, handled_at)

    def insert(conn: sqlite3.Connection) -> int | None:
        cursor = conn.execute(
            "INSERT INTO inbound_messages (session_id, chat, sender, message_id, payload, received_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            params,
        )
        seq = cursor.lastrowid if cursor.rowcount == 1 else None
        if marks is not None:
            conn.execute(*marks)
        return seq

    return await db.write(insert)


def _key_chat(message: InboundMessage) -> JID:
    """The chat of ``message``'s key: for a direct message from someone else, the sender in the form
    :class:`InboundMessage` settled on (its phone number when the stanza named both), so one message
    delivered once addressed by phone number and once by LID is one row; else the chat as delivered."""
    if not message.is_group and not message.from_me:
        return message.sender
    return message.chat


def _mark_statement(seqs: Collection[int], handled_at: float) -> tuple[str, tuple[Any, ...]] | None:
    if not seqs:
        return None
    places = ",".join("?" * len(seqs))
    return f"UPDATE inbound_messages SET handled_at = ? WHERE seq IN ({places})", (handled_at, *seqs)


def _decode_rows(rows: list[tuple[int, str]]) -> list[tuple[int, InboundMessage | None]]:
    out: list[tuple[int, InboundMessage | None]] = []
    for seq, payload in rows:
        try:
            out.append((seq, InboundMessage.from_record(json.loads(payload))))
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            log.error("inbound message row %d is unreadable (%s); skipped", seq, exc)
            out.append((seq, None))
    return out


#: Above every ``seq`` (SQLite's largest rowid).
_MAX_SEQ: Final = 2**63 - 1


def _select_pending(
    conn: sqlite3.Connection, session_id: str, after: int, until: int | None, limit: int
) -> list[tuple[int, str]]:
    return list(
        conn.execute(
            "SELECT seq, payload FROM inbound_messages WHERE session_id = ? AND handled_at IS NULL "
            "AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
            (session_id, after, _MAX_SEQ if until is None else until, limit),
        )
    )


async def load_pending(
    db: Database, session_id: str, *, limit: int = 64, after: int = 0, until: int | None = None
) -> list[tuple[int, InboundMessage | None]]:
    """Up to ``limit`` committed messages of ``session_id`` the hooks have not had yet, oldest first, as
    ``(seq, message)``, with ``after < seq <= until`` (no upper bound when ``until`` is None);
    ``message`` is None for a row that no longer reads (it is to be skipped)."""
    rows = await db.read(lambda conn: _select_pending(conn, session_id, after, until, limit))
    return _decode_rows(rows)


async def load_replay(
    db: Database, session_id: str, *, limit: int
) -> tuple[int, list[tuple[int, InboundMessage | None]]]:
    """In one snapshot: the largest ``seq`` committed so far (0 when none) and the first ``limit`` rows of
    ``session_id`` not handled yet up to it."""

    def select(conn: sqlite3.Connection) -> tuple[int, list[tuple[int, str]]]:
        (until,) = conn.execute("SELECT coalesce(max(seq), 0) FROM inbound_messages").fetchone()
        return int(until), _select_pending(conn, session_id, 0, int(until), limit)

    until, rows = await db.read(select)
    return until, _decode_rows(rows)


async def mark_handled(db: Database, seqs: Collection[int], *, handled_at: float) -> None:
    """Record, in one statement, that the hooks have had the messages of the rows ``seqs``."""
    marks = _mark_statement(seqs, handled_at)
    if marks is not None:
        await db.write(lambda conn: conn.execute(*marks))


async def find_inbound(db: Database, session_id: str, message_id: str) -> InboundMessage | None:
    """The latest message ``session_id`` received with this id, or None."""

    def select(conn: sqlite3.Connection) -> list[tuple[int, str]]:
        return list(
            conn.execute(
                "SELECT seq, payload FROM inbound_messages WHERE session_id = ? AND message_id = ? "
                "ORDER BY seq DESC LIMIT 1",
                (session_id, message_id),
            )
        )

    found = _decode_rows(await db.read(select))
    return found[0][1] if found else None
