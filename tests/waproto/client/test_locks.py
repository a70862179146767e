"""waproto.client.locks: QuickLock takes a free lock without a checkpoint, excludes, hands over in order,
and a waiter cancelled while waiting leaves without the lock."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from waproto.client.locks import QuickLock


async def test_a_free_lock_is_taken_without_a_checkpoint() -> None:
    lock = QuickLock()
    with trio.testing.assert_no_checkpoints():
        async with lock:
            assert lock.locked()
    assert not lock.locked()


async def test_waiters_get_the_lock_in_order_one_at_a_time(autojump_clock: trio.abc.Clock) -> None:
    lock = QuickLock()
    order: list[str] = []
    inside = 0

    async def worker(name: str) -> None:
        nonlocal inside
        async with lock:
            inside += 1
            assert inside == 1
            order.append(name)
            await trio.sleep(1)
            inside -= 1

    async with trio.open_nursery() as nursery:
        for name in "abcd":
            nursery.start_soon(worker, name)
            await trio.testing.wait_all_tasks_blocked()
        assert lock.waiting == 3
    assert order == list("abcd")
    assert not lock.locked()
    assert lock.waiting == 0


async def test_a_cancelled_waiter_does_not_take_the_lock(autojump_clock: trio.abc.Clock) -> None:
    lock = QuickLock()
    got: list[str] = []

    async def holder() -> None:
        async with lock:
            await trio.sleep(10)
            got.append("holder")

    async def quitter() -> None:
        with trio.move_on_after(1):
            async with lock:
                got.append("quitter")

    async def patient() -> None:
        async with lock:
            got.append("patient")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(holder)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(quitter)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(patient)
    assert got == ["holder", "patient"]
    assert not lock.locked()


async def test_the_lock_is_released_when_the_body_raises() -> None:
    lock = QuickLock()
    with pytest.raises(KeyError):
        async with lock:
            raise KeyError("boom")
    assert not lock.locked()
    async with lock:
        assert lock.locked()
