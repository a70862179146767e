"""waporta.messages.storage: one row per message key, marks carried by a commit, rows wiped with the
session."""

from __future__ import annotations

from pathlib import Path

from tests.waporta.messages.helpers import (
    GROUP,
    ME,
    PEER,
    PEER_LID,
    handled,
    inbound,
    received,
)
from waporta.messages import (
    InboundMessage,
    find_inbound,
    load_pending,
    mark_handled,
    store_inbound,
)
from waporta.storage import Database
from waporta.storage.stores import delete_session


async def test_store_once_per_key(db: Database) -> None:
    message = inbound()
    first = await store_inbound(db, message, received_at=1.0)
    assert isinstance(first, int)  # the row's seq
    assert await store_inbound(db, message, received_at=2.0) is None  # a redelivery
    other_chat = inbound(id=message.message_id, chat=GROUP, group=True)
    assert await store_inbound(
        db, other_chat, received_at=3.0
    )  # the same id in another chat is another message
    assert [m for _, m in await load_pending(db, "sales")] == [message, other_chat]
    assert await find_inbound(db, "sales", message.message_id) == other_chat
    assert await find_inbound(db, "sales", "nope") is None
    assert await find_inbound(db, "other", message.message_id) is None


async def test_store_records_marks_in_the_same_transaction(db: Database, tmp_path: Path) -> None:
    first = await store_inbound(db, inbound(id="A"), received_at=1.0)
    assert first is not None
    before = db.transactions
    await store_inbound(db, inbound(id="B"), received_at=2.0, handled=[first], handled_at=3.0)
    assert db.transactions == before + 1
    assert handled(tmp_path / "waporta.db") == [("A", True), ("B", False)]
    # A redelivery still records the marks it carries.
    second = [seq for seq, _ in await load_pending(db, "sales")]
    assert await store_inbound(db, inbound(id="A"), received_at=4.0, handled=second, handled_at=5.0) is None
    assert handled(tmp_path / "waporta.db") == [("A", True), ("B", True)]
    await mark_handled(db, [], handled_at=6.0)  # nothing to mark: no write
    assert db.transactions == before + 2


async def test_delete_session_wipes_its_messages(db: Database) -> None:
    await store_inbound(db, inbound(), received_at=1.0)
    await store_inbound(db, InboundMessage.from_received("kept", received(), me=ME), received_at=1.0)
    await delete_session(db, "sales")
    assert await load_pending(db, "sales") == []
    assert len(await load_pending(db, "kept")) == 1


async def test_one_message_addressed_by_phone_number_then_by_lid_is_stored_once(db: Database) -> None:
    by_pn = inbound(chat=PEER, sender=PEER.with_device(0), sender_alt=PEER_LID)
    by_lid = inbound(chat=PEER_LID, sender=PEER_LID.with_device(0), sender_alt=PEER)
    assert by_pn.chat != by_lid.chat  # the payloads keep the chat as WhatsApp addressed it
    assert await store_inbound(db, by_pn, received_at=1.0) is not None
    assert await store_inbound(db, by_lid, received_at=2.0) is None  # a redelivery, not a new message
    other = inbound(id="3EB0BBBBBBBBBBBBBBBBBB", chat=PEER_LID, sender=PEER_LID.with_device(0), sender_alt=PEER)
    assert await store_inbound(db, other, received_at=3.0) is not None
