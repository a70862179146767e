"""A task mutex for the sandbox whose uncontended acquisition does not switch tasks.

``trio.Lock`` makes every acquisition a checkpoint: even a free lock costs a trip through trio's scheduler
(an ``epoll`` poll and a reschedule). The sandbox takes a lock for every stanza it writes to a connection
and for every stanza it routes, almost always free, so those trips were a good part of its CPU per
message. :class:`Mutex` takes a free lock at once and parks a task only when the lock is held; a
release hands the lock to the longest-waiting task (first come, first served, as ``trio.Lock``).

It is not a checkpoint when free (the code it guards yields anyway, or is short), it does not track
its owner (releasing is only done by ``async with``) and it is not reentrant. This module is not a
general trio utility: the client keeps its own.
"""

from __future__ import annotations

from types import TracebackType

import trio

__all__ = ["Mutex"]


class Mutex:
    """A fair mutex used as ``async with mutex:``; see the module docstring."""

    __slots__ = ("_held", "_lot")

    def __init__(self) -> None:
        self._held = False
        self._lot = trio.lowlevel.ParkingLot()

    def locked(self) -> bool:
        """Whether a task holds the mutex."""
        return self._held

    @property
    def waiting(self) -> int:
        """How many tasks wait for the mutex."""
        return len(self._lot)

    async def __aenter__(self) -> None:
        if self._held:
            # Woken by __aexit__, which hands the mutex over still held; a cancelled wait never holds it.
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
