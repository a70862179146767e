"""waporta.messages.queue: the per-session pipeline (commit first, hooks in order, in-memory hand-over,
marks in batches, redelivery not passed on twice, replay after a restart) against a real SQLite file; the
end-to-end path through the sandbox is in ``tests/waporta/sessions/``."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.lowlevel
import trio.testing

from tests.waporta.messages.helpers import (
    ME,
    Recorder,
    drained,
    handed_on,
    handled,
    inbound,
    received,
)
from waporta.messages import (
    InboundMessage,
    InboundQueue,
    load_pending,
)
from waporta.storage import Database


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


async def test_behind_a_slow_hook_the_backlog_waits_in_the_table_not_in_memory(
    db: Database, tmp_path: Path
) -> None:
    gate = trio.Event()
    recorder = Recorder(gate=gate)
    queue = InboundQueue(db, "sales", recorder, batch=4, max_ready=3)
    ids = [f"ID{i:02d}" for i in range(20)]
    async with trio.open_nursery() as nursery:
        await nursery.start(queue.run)
        for message_id in ids[:10]:
            assert await queue.accept(inbound(id=message_id))
        assert len(queue._ready) <= 3  # the rest is only in the table
        gate.set()
        await recorder.called.wait()
        for message_id in ids[10:]:  # more arrive while the backlog is read back
            assert await queue.accept(inbound(id=message_id))
            await trio.lowlevel.checkpoint()
        await drained(queue)
        assert len(queue._ready) == 0
        assert await queue.accept(inbound(id="LATE"))  # caught up: memory again
        assert len(queue._ready) <= 1
        await drained(queue)
        nursery.cancel_scope.cancel()
    assert recorder.ids == [*ids, "LATE"]  # every one, once, in order
    assert handled(tmp_path / "waporta.db") == [(i, True) for i in [*ids, "LATE"]]
