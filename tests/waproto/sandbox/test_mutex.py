"""waproto.sandbox.mutex: a free mutex is taken without a task switch; waiters are served in order."""

from __future__ import annotations

import trio
import trio.testing

from waproto.sandbox.mutex import Mutex


async def test_a_free_mutex_is_taken_without_letting_another_task_run(nursery: trio.Nursery) -> None:
    ran: list[str] = []

    async def other() -> None:
        ran.append("other")

    mutex = Mutex()
    nursery.start_soon(other)
    async with mutex:
        assert mutex.locked()
        assert ran == []  # trio.Lock would have switched to `other` here
    assert not mutex.locked()
    await trio.testing.wait_all_tasks_blocked()
    assert ran == ["other"]


async def test_waiters_get_the_mutex_in_the_order_they_came(autojump_clock: trio.abc.Clock) -> None:
    mutex = Mutex()
    order: list[int] = []

    async def worker(number: int) -> None:
        async with mutex:
            order.append(number)
            await trio.sleep(1)

    async with trio.open_nursery() as nursery:
        for number in range(4):
            nursery.start_soon(worker, number)
            await trio.testing.wait_all_tasks_blocked()
        assert mutex.waiting == 3
    assert order == [0, 1, 2, 3]
    assert not mutex.locked()
    assert mutex.waiting == 0


async def test_a_cancelled_waiter_never_holds_the_mutex(autojump_clock: trio.abc.Clock) -> None:
    mutex = Mutex()
    got: list[str] = []

    async def holder() -> None:
        async with mutex:
            await trio.sleep(10)

    async def impatient() -> None:
        with trio.move_on_after(1):
            async with mutex:
                got.append("impatient")

    async def patient() -> None:
        async with mutex:
            got.append("patient")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(holder)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(impatient)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(patient)
        await trio.testing.wait_all_tasks_blocked()
        assert mutex.waiting == 2
        await trio.sleep(2)
        assert mutex.waiting == 1  # the impatient one gave up
    assert got == ["patient"]
    assert not mutex.locked()


async def test_an_error_inside_releases_the_mutex() -> None:
    mutex = Mutex()
    try:
        async with mutex:
            raise KeyError("boom")
    except KeyError:
        pass
    assert not mutex.locked()
    async with mutex:
        assert mutex.locked()
