"""waporta.messages: the InboundMessage payload (text, group, LID sender, from_me, redaction, JSON) and the
per-session pipeline (commit first, hooks in order, redelivery not passed on twice, replay after a restart).

The pipeline runs against a real SQLite file; the end-to-end path through the
sandbox is in ``tests/waporta/sessions/``.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from waporta.messages import (
    EVENT,
    REDACTED,
    InboundMessage,
    InboundQueue,
    find_inbound,
    load_pending,
    mark_handled,
    redact,
    store_inbound,
)
from waporta.storage import Database
from waporta.storage.stores import delete_session
from waproto.client.messaging import ReceivedMessage
from waproto.jid import JID
from waproto.proto import Message

PAYLOAD_KEYS = {
    "event",
    "sessionId",
    "messageId",
    "sender",
    "recipient",
    "timestamp",
    "messageType",
    "content",
    "raw",
}

ME = JID("15550001111", "s.whatsapp.net", device=7)
PEER = JID("15550002222", "s.whatsapp.net")
PEER_LID = JID("123456789012345", "lid")
GROUP = JID("120363000000000001", "g.us")


def received(**fields: Any) -> ReceivedMessage:
    text = fields.pop("text", "hello")
    base: dict[str, Any] = {
        "id": "3EB0AAAAAAAAAAAAAAAAAA",
        "chat": PEER,
        "sender": PEER.with_device(0),
        "timestamp": 1_760_000_000,
        "from_me": False,
        "kind": "text",
        "text": text,
        "message": Message(conversation=text),
        "push_name": "Bob",
    }
    base.update(fields)
    return ReceivedMessage(**base)


def inbound(**fields: Any) -> InboundMessage:
    return InboundMessage.from_received("sales", received(**fields), me=ME)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    opened = await Database.open(tmp_path / "waporta.db")
    try:
        yield opened
    finally:
        await opened.aclose()


# ---------------------------------------------------------------------- the payload


def test_text_payload() -> None:
    payload = inbound().as_payload()
    assert set(payload) == PAYLOAD_KEYS
    assert payload == {
        "event": EVENT,
        "sessionId": "sales",
        "messageId": "3EB0AAAAAAAAAAAAAAAAAA",
        "sender": "15550002222@s.whatsapp.net",
        "recipient": "15550001111@s.whatsapp.net",  # our account, without our device
        "timestamp": 1_760_000_000,
        "messageType": "text",
        "content": {"text": "hello"},
        "raw": {
            "key": {
                "remoteJid": "15550002222@s.whatsapp.net",
                "fromMe": False,
                "id": "3EB0AAAAAAAAAAAAAAAAAA",
            },
            "message": {"conversation": "hello"},
            "messageTimestamp": 1_760_000_000,
            "pushName": "Bob",
        },
    }
    assert json.loads(json.dumps(payload)) == payload


def test_group_payload() -> None:
    message = inbound(chat=GROUP, sender=PEER.with_device(3), group=True, text="hi all")
    assert message.is_group
    assert message.recipient == GROUP
    assert message.sender == PEER
    assert message.sender_device == PEER.with_device(3)
    payload = message.as_payload()
    assert (payload["sender"], payload["recipient"]) == (
        "15550002222@s.whatsapp.net",
        "120363000000000001@g.us",
    )
    assert payload["raw"]["key"] == {
        "remoteJid": "120363000000000001@g.us",
        "fromMe": False,
        "id": "3EB0AAAAAAAAAAAAAAAAAA",
        "participant": "15550002222:3@s.whatsapp.net",
    }


def test_lid_sender_with_its_phone_number() -> None:
    message = inbound(chat=PEER_LID, sender=PEER_LID.with_device(2), sender_alt=PEER)
    assert message.sender == PEER  # the phone number wins when the stanza named both
    assert message.sender_alt == PEER_LID
    assert message.sender_device == PEER_LID.with_device(2)
    payload = message.as_payload()
    assert payload["sender"] == "15550002222@s.whatsapp.net"
    assert payload["raw"]["key"]["remoteJid"] == "123456789012345@lid"
    assert payload["raw"]["key"]["remoteJidAlt"] == "15550002222@s.whatsapp.net"


def test_lid_sender_without_its_phone_number() -> None:
    message = inbound(chat=PEER_LID, sender=PEER_LID.with_device(2))
    assert (message.sender, message.sender_alt) == (PEER_LID, None)
    assert message.as_payload()["sender"] == "123456789012345@lid"


def test_pn_sender_keeps_its_lid_as_alt() -> None:
    message = inbound(sender_alt=PEER_LID)
    assert (message.sender, message.sender_alt) == (PEER, PEER_LID)


def test_from_me_is_addressed_to_the_chat() -> None:
    message = inbound(sender=ME, from_me=True, push_name=None, text="sent from my phone")
    assert message.from_me
    assert message.sender == ME.to_non_ad()
    payload = message.as_payload()
    assert payload["recipient"] == "15550002222@s.whatsapp.net"
    assert payload["raw"]["key"]["fromMe"] is True
    assert "pushName" not in payload["raw"]


def test_media_content_is_described_and_raw_keeps_base64_bytes() -> None:
    message = Message()
    message.image_message.mimetype = "image/jpeg"
    message.image_message.caption = "a cat"
    message.image_message.media_key = b"\x01\x02\x03"
    message.image_message.file_length = 5
    payload = inbound(message=message, kind="unknown", text=None).as_payload()
    assert payload["messageType"] == "image"  # waproto.content.classify, not the Messenger's own guess
    assert payload["content"] == {
        "caption": "a cat",
        "mimetype": "image/jpeg",
        "fileLength": 5,
        "mediaType": "image",
    }
    image = payload["raw"]["message"]["imageMessage"]
    assert image["mediaKey"] == base64.b64encode(b"\x01\x02\x03").decode()  # raw is the whole message
    assert image["fileLength"] == "5"  # protobuf's JSON: 64-bit integers as strings
    json.dumps(payload)


def test_wrapped_content_is_unwrapped_for_the_kind_and_content() -> None:
    message = Message()
    message.ephemeral_message.message.extended_text_message.text = "vanishing"
    payload = inbound(message=message).as_payload()
    assert payload["messageType"] == "text"
    assert payload["content"] == {"ephemeral": True, "text": "vanishing"}
    assert payload["raw"]["message"] == {
        "ephemeralMessage": {"message": {"extendedTextMessage": {"text": "vanishing"}}}
    }


def test_given_kind_and_content_replace_the_default() -> None:
    message = InboundMessage.from_received("s", received(), me=ME, kind="reaction", content={"text": "👍"})
    assert (message.kind, dict(message.content)) == ("reaction", {"text": "👍"})


def test_secret_named_keys_are_redacted_at_any_depth() -> None:
    content = {
        "text": "hi",
        "Authorization": "Bearer x",
        "nested": [{"token": "t", "ok": 1}, {"deeper": {"PASSWORD": "p", "x-api-key": "k"}}],
        "apikey": {"even": "a mapping"},
        "secretive": "kept: only whole names count",
    }
    raw = {"key": {"id": "1"}, "secret": "s"}
    message = InboundMessage.from_received("s", received(), me=ME)
    message = InboundMessage(
        **{**{f: getattr(message, f) for f in message.__slots__}, "content": content, "raw": raw}
    )
    payload = message.as_payload()
    assert payload["content"] == {
        "text": "hi",
        "Authorization": REDACTED,
        "nested": [{"token": REDACTED, "ok": 1}, {"deeper": {"PASSWORD": REDACTED, "x-api-key": REDACTED}}],
        "apikey": REDACTED,
        "secretive": "kept: only whole names count",
    }
    assert payload["raw"] == {"key": {"id": "1"}, "secret": REDACTED}
    assert dict(message.content)["Authorization"] == "Bearer x"  # the message itself keeps them
    assert redact([{"Token": 1}, "x"]) == [{"Token": REDACTED}, "x"]


def test_the_message_is_immutable_and_payloads_are_fresh() -> None:
    message = inbound()
    with pytest.raises(AttributeError):
        message.kind = "image"  # type: ignore[misc]
    with pytest.raises(TypeError):
        message.content["text"] = "changed"  # type: ignore[index]
    first = message.as_payload()
    first["content"]["text"] = "changed"
    first["raw"]["key"]["id"] = "changed"
    assert message.as_payload()["content"] == {"text": "hello"}
    assert message.as_payload()["raw"]["key"]["id"] == "3EB0AAAAAAAAAAAAAAAAAA"
    assert hash(message) == hash(inbound())
    assert message == inbound()


def test_record_round_trip_and_the_protobuf_back() -> None:
    original = inbound(chat=GROUP, sender=PEER_LID.with_device(1), sender_alt=PEER, group=True)
    again = InboundMessage.from_record(json.loads(json.dumps(original.to_record())))
    assert again == original
    assert again.as_payload() == original.as_payload()
    assert again.message() == Message(conversation="hello")
    with pytest.raises(ValueError, match="not an inbound message record"):
        InboundMessage.from_record({"session_id": "s"})
    with pytest.raises(ValueError, match="not an inbound message record"):
        InboundMessage.from_record({**original.to_record(), "chat": "not a jid@@"})


# ---------------------------------------------------------------------- storage


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


def test_record_json_is_the_record() -> None:
    message = inbound(chat=GROUP, sender=PEER_LID.with_device(1), sender_alt=PEER, group=True, text="ü")
    assert message.to_record_json() == json.dumps(message.to_record(), ensure_ascii=False, separators=(",", ":"))


async def test_delete_session_wipes_its_messages(db: Database) -> None:
    await store_inbound(db, inbound(), received_at=1.0)
    await store_inbound(db, InboundMessage.from_received("kept", received(), me=ME), received_at=1.0)
    await delete_session(db, "sales")
    assert await load_pending(db, "sales") == []
    assert len(await load_pending(db, "kept")) == 1


# ---------------------------------------------------------------------- the queue


class Recorder:
    """A handler that records calls; with ``gate``, each call waits for it first (a slow plugin)."""

    def __init__(self, *, fail_on: str | None = None, gate: trio.Event | None = None) -> None:
        self.calls: list[tuple[str, InboundMessage]] = []
        self.fail_on = fail_on
        self.gate = gate
        #: Set when the first call has started.
        self.entered = trio.Event()
        #: Set (and replaced) at the end of each call.
        self.called = trio.Event()

    async def __call__(self, session_id: str, message: InboundMessage) -> None:
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        self.calls.append((session_id, message))
        self.called.set()
        self.called = trio.Event()
        if message.message_id == self.fail_on:
            raise RuntimeError("a plugin broke")

    @property
    def ids(self) -> list[str]:
        return [m.message_id for _, m in self.calls]


def handled(db_file: Path) -> list[tuple[str, bool]]:
    with sqlite3.connect(db_file) as conn:
        rows = conn.execute("SELECT message_id, handled_at IS NOT NULL FROM inbound_messages ORDER BY seq")
        return [(m, bool(h)) for m, h in rows]


async def drained(queue: InboundQueue) -> None:
    with trio.fail_after(30):
        await queue.drained()


async def test_committed_when_accept_returns_then_handed_on_in_order(db: Database, tmp_path: Path) -> None:
    gate = trio.Event()
    recorder = Recorder(gate=gate)  # a plugin that takes its time
    queue = InboundQueue(db, "sales", recorder, now=lambda: 42.0)
    ids = [f"ID{i}" for i in range(5)]
    async with trio.open_nursery() as nursery:
        await nursery.start(queue.run)
        for message_id in ids:
            assert await queue.accept(inbound(id=message_id))
            assert (message_id, False) in handled(
                tmp_path / "waporta.db"
            )  # committed, whatever the plugin does
        assert recorder.calls == []
        gate.set()
        await drained(queue)
        nursery.cancel_scope.cancel()
    assert recorder.ids == ids
    assert {sid for sid, _ in recorder.calls} == {"sales"}
    assert recorder.calls[0][1] == inbound(id="ID0")
    assert handled(tmp_path / "waporta.db") == [(i, True) for i in ids]


async def handed_on(recorder: Recorder, count: int) -> None:
    with trio.fail_after(30):
        while len(recorder.calls) < count:
            await recorder.called.wait()


async def test_handed_over_in_memory_and_marked_with_the_next_commit(db: Database, tmp_path: Path) -> None:
    recorder = Recorder()
    queue = InboundQueue(db, "sales", recorder, flush_after=3600)
    first, second = inbound(id="A"), inbound(id="B")
    async with trio.open_nursery() as nursery:
        await nursery.start(queue.run)
        await drained(queue)  # its replay done: the table had nothing for it
        assert await queue.accept(first)
        await handed_on(recorder, 1)
        assert recorder.calls[0][1] is first  # the committed object itself: nothing read back
        assert handled(tmp_path / "waporta.db") == [("A", False)]  # its mark waits for the next commit
        before = db.transactions
        assert await queue.accept(second)
        assert db.transactions == before + 1  # one transaction: B's row and A's mark
        assert handled(tmp_path / "waporta.db") == [("A", True), ("B", False)]
        await handed_on(recorder, 2)
        await drained(queue)  # writes the marks still due
        assert handled(tmp_path / "waporta.db") == [("A", True), ("B", True)]
        nursery.cancel_scope.cancel()
    assert recorder.ids == ["A", "B"]


async def test_one_mark_write_per_drained_batch(db: Database, tmp_path: Path) -> None:
    gate = trio.Event()
    recorder = Recorder(gate=gate)
    queue = InboundQueue(db, "sales", recorder, flush_after=3600)
    ids = [f"ID{i}" for i in range(10)]
    async with trio.open_nursery() as nursery:
        await nursery.start(queue.run)
        await queue.accept(inbound(id="FIRST"))
        with trio.fail_after(30):
            await recorder.entered.wait()  # the handler holds FIRST; the others queue up
        for message_id in ids:
            await queue.accept(inbound(id=message_id))
        before = db.transactions
        gate.set()
        await drained(queue)
        assert db.transactions == before + 1  # FIRST and the ten after it: one UPDATE
        nursery.cancel_scope.cancel()
    assert recorder.ids == ["FIRST", *ids]
    assert all(done for _, done in handled(tmp_path / "waporta.db"))


async def test_marks_are_written_after_flush_after_without_new_messages(
    db: Database, tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    recorder = Recorder()
    queue = InboundQueue(db, "sales", recorder, flush_after=5)
    async with trio.open_nursery() as nursery:
        await nursery.start(queue.run)
        await drained(queue)  # its replay done (the mock clock does not move by itself)
        await queue.accept(inbound(id="A"))
        await recorder.called.wait()  # the runner now waits for more, its mark due in 5 s
        mock_clock.jump(4)
        await trio.lowlevel.checkpoint()
        assert handled(tmp_path / "waporta.db") == [("A", False)]
        mock_clock.jump(1.5)
        for _ in range(100_000):  # the mock clock stands still: the write's thread is what we wait for
            if handled(tmp_path / "waporta.db") == [("A", True)]:
                break
            await trio.lowlevel.checkpoint()
        assert handled(tmp_path / "waporta.db") == [("A", True)]
        nursery.cancel_scope.cancel()


async def test_a_cancelled_run_writes_its_marks(db: Database, tmp_path: Path) -> None:
    recorder = Recorder()
    queue = InboundQueue(db, "sales", recorder, flush_after=3600)
    async with trio.open_nursery() as nursery:
        await nursery.start(queue.run)
        await queue.accept(inbound(id="A"))
        await handed_on(recorder, 1)
        assert handled(tmp_path / "waporta.db") == [("A", False)]
        nursery.cancel_scope.cancel()  # the session stops
    assert handled(tmp_path / "waporta.db") == [("A", True)]  # not handed on again after a restart


async def test_accepted_before_the_run_started_is_handed_on_once(db: Database, tmp_path: Path) -> None:
    # A message committed (and handed over in memory) before the task started is in the table too:
    # the replay hands it on and the in-memory copy is skipped.
    recorder = Recorder()
    queue = InboundQueue(db, "sales", recorder)
    assert await queue.accept(inbound(id="EARLY"))
    async with trio.open_nursery() as nursery:
        await nursery.start(queue.run)
        assert await queue.accept(inbound(id="LATE"))
        await drained(queue)
        nursery.cancel_scope.cancel()
    assert recorder.ids == ["EARLY", "LATE"]
    assert handled(tmp_path / "waporta.db") == [("EARLY", True), ("LATE", True)]


async def test_a_redelivery_is_not_handed_on_twice(db: Database) -> None:
    recorder = Recorder()
    queue = InboundQueue(db, "sales", recorder)
    async with trio.open_nursery() as nursery:
        await nursery.start(queue.run)
        assert await queue.accept(inbound())
        await drained(queue)
        assert not await queue.accept(inbound())
        assert await queue.accept(inbound(id="NEXT"))
        await drained(queue)
        nursery.cancel_scope.cancel()
    assert recorder.ids == ["3EB0AAAAAAAAAAAAAAAAAA", "NEXT"]


async def test_what_was_not_handed_on_is_replayed_on_the_next_run(db: Database, tmp_path: Path) -> None:
    # A run stops (crash, shutdown) while a plugin holds the first message.
    stuck = Recorder(gate=trio.Event())
    queue = InboundQueue(db, "sales", stuck)
    async with trio.open_nursery() as nursery:
        await nursery.start(queue.run)
        await queue.accept(inbound(id="A"))
        await queue.accept(inbound(id="B"))
        with trio.fail_after(30):
            await stuck.entered.wait()
        nursery.cancel_scope.cancel()
    assert stuck.calls == []
    assert handled(tmp_path / "waporta.db") == [("A", False), ("B", False)]
    # Before the next run, WhatsApp redelivers A (no receipt had gone out): still once.
    recorder = Recorder()
    again = InboundQueue(db, "sales", recorder)
    assert not await again.accept(inbound(id="A"))
    async with trio.open_nursery() as nursery:
        await nursery.start(again.run)
        await drained(again)
        nursery.cancel_scope.cancel()
    assert recorder.ids == ["A", "B"]
    assert handled(tmp_path / "waporta.db") == [("A", True), ("B", True)]


async def test_a_failing_handler_does_not_stop_the_queue(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder(fail_on="A")
    queue = InboundQueue(db, "sales", recorder)
    async with trio.open_nursery() as nursery:
        await nursery.start(queue.run)
        await queue.accept(inbound(id="A"))
        await queue.accept(inbound(id="B"))
        await drained(queue)
        nursery.cancel_scope.cancel()
    assert recorder.ids == ["A", "B"]
    assert "the handler failed on message A" in caplog.text


async def test_a_slow_session_does_not_hold_up_another(db: Database) -> None:
    slow, fast = Recorder(gate=trio.Event()), Recorder()
    one, two = InboundQueue(db, "one", slow), InboundQueue(db, "two", fast)
    async with trio.open_nursery() as nursery:
        await nursery.start(one.run)
        await nursery.start(two.run)
        await one.accept(InboundMessage.from_received("one", received(), me=ME))
        await two.accept(InboundMessage.from_received("two", received(), me=ME))
        await drained(two)
        assert (fast.ids, slow.ids) == (["3EB0AAAAAAAAAAAAAAAAAA"], [])
        assert slow.gate is not None
        slow.gate.set()
        await drained(one)
        nursery.cancel_scope.cancel()
    assert slow.calls[0][0] == "one"


async def test_an_unreadable_row_is_skipped(db: Database) -> None:
    await db.write(
        lambda conn: conn.execute(
            "INSERT INTO inbound_messages (session_id, chat, sender, message_id, payload, received_at) "
            "VALUES ('sales', 'c', 's', 'BAD', 'not json', 0)"
        )
    )
    recorder = Recorder()
    queue = InboundQueue(db, "sales", recorder)
    async with trio.open_nursery() as nursery:
        await nursery.start(queue.run)
        await queue.accept(inbound(id="GOOD"))
        await drained(queue)
        nursery.cancel_scope.cancel()
    assert recorder.ids == ["GOOD"]
    assert await load_pending(db, "sales") == []


async def test_without_a_handler_messages_are_only_stored(db: Database, tmp_path: Path) -> None:
    queue = InboundQueue(db, "sales", None)
    async with trio.open_nursery() as nursery:
        await nursery.start(queue.run)
        await queue.accept(inbound())
        await drained(queue)
        nursery.cancel_scope.cancel()
    assert handled(tmp_path / "waporta.db") == [("3EB0AAAAAAAAAAAAAAAAAA", True)]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150)
@given(
    st.dictionaries(
        st.sampled_from(sorted(inbound().to_record())) | st.text(max_size=8), json_values, max_size=16
    ),
    st.booleans(),
)
def test_from_record_of_garbage_raises_only_value_error(garbage: dict[str, Any], start_valid: bool) -> None:
    record = {**inbound().to_record(), **garbage} if start_valid else garbage
    try:
        message = InboundMessage.from_record(record)
    except ValueError:
        return
    json.dumps(message.as_payload())
