"""A mutex for the client's hot paths that does not yield when it is free: :class:`QuickLock`.

``trio.Lock`` passes through the scheduler on every acquisition, contended or not (a checkpoint: one
whole scheduler round with an epoll poll). On the send and receive paths a text takes a lock about twenty
times, nearly always uncontended, so those rounds were a large share of the CPU a text costs. A
:class:`QuickLock` is taken at once when it is free; a task that finds it held parks and is handed the
lock on release, first come first served (as ``trio.Lock``). A task cancelled while waiting leaves the
queue without taking the lock.

The sandbox (``waproto.sandbox``) takes it for the same reason: it routes every stanza and writes to
every connection under a lock that is almost always free.

Use it only as ``async with lock:``. It is NOT reentrant, does not record its owner, and is not a
checkpoint: a loop that takes it must yield elsewhere (the client's loops wait on the network).
"""

from __future__ import annotations

from types import TracebackType

import trio

__all__ = ["QuickLock"]


class QuickLock:
    """A fair mutex whose uncontended acquisition does not yield; see the module docstring."""

    __slots__ = ("_held", "_lot")

    def __init__(self) -> None:
        self._held = False
        self._lot = trio.lowlevel.ParkingLot()

    def locked(self) -> bool:
        """Whether some task holds the lock."""
        return self._held

    @property
    def waiting(self) -> int:
        """How many tasks are waiting for the lock."""
        return len(self._lot)

    async def __aenter__(self) -> None:
        if self._held:
            # Woken by __aexit__, which hands the lock over (it stays held); a cancelled wait never has it.
            await self._lot.park()
        else:
            self._held = True

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._lot:
            self._lot.unpark()
        else:
            self._held = False
