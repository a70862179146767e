"""How received messages reach the hooks: :class:`InboundQueue`, one session's pipeline (commit, then hand
over in memory, in order; replay of what earlier runs left unhandled; handled marks in batches).

This module is NOT the SQL (``waporta.messages.storage``) or the message's shape
(``waporta.messages.inbound``); the package docstring (``waporta.messages``) states the guarantees.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

import trio

from waporta.messages.inbound import InboundMessage
from waporta.messages.storage import load_pending, load_replay, mark_handled, store_inbound
from waporta.storage import Database

__all__ = ["InboundQueue", "MessageHandler"]

log = logging.getLogger("waporta.messages")

#: Receives each committed message, in order: ``(session_id, message)`` (the hub passes the plugins' hook).
MessageHandler = Callable[[str, "InboundMessage"], Awaitable[None]]


class InboundQueue:
    """One session's pipeline (see the module docstring): :meth:`accept` commits and hands the committed
    message over in memory, :meth:`run` replays what earlier runs left unhandled and then passes what
    :meth:`accept` hands over to ``handler``, in order.

    Rows are marked handled without a write of their own while messages keep coming: the next
    :meth:`accept` records the marks in its own transaction. :meth:`run` writes them itself once
    ``batch`` are waiting, after ``flush_after`` seconds without a new message, when :meth:`drained` is
    awaited, and when it is cancelled. A mark lost in a crash only means the message is handed on again
    after the restart (at-least-once, as the package docstring says).

    Messages committed but not yet handed on wait in memory (as well as in the table), at most
    ``max_ready`` of them: beyond that, behind a hook slower than the session's traffic, they wait in the
    table only and :meth:`run` reads them back, in order, once it has handed on what memory holds.
    """

    def __init__(
        self,
        db: Database,
        session_id: str,
        handler: MessageHandler | None,
        *,
        now: Callable[[], float] = time.time,
        batch: int = 64,
        flush_after: float = 1.0,
        max_ready: int = 1024,
    ) -> None:
        self.db = db
        self.session_id = session_id
        self.handler = handler
        self._now = now
        self._batch = batch
        self._flush_after = flush_after
        #: Committed by :meth:`accept`, not yet taken by :meth:`run`: ``(seq, message)`` in commit order.
        self._ready: deque[tuple[int, InboundMessage]] = deque()
        self._max_ready = max_ready
        #: The newest ``seq`` committed but left in the table only (``_ready`` was full), else 0: from it
        #: on, every new row waits in the table until :meth:`run` has read them all back.
        self._spilled = 0
        #: The newest ``seq`` handed on (or skipped) by :meth:`run`.
        self._last = 0
        #: Rows handed on whose mark is not written yet.
        self._marks: list[int] = []
        #: The largest ``seq`` committed (by anyone) when :meth:`run` started: rows up to it are replayed
        #: from the table, so what ``_ready`` holds up to it is skipped. None until :meth:`run` has looked.
        self._replay_until: int | None = None
        self._wake = trio.Event()
        self._idle = trio.Event()
        self._flush_wanted = False

    async def accept(self, message: InboundMessage) -> bool:
        """Commit ``message``; True when it is new (it will reach the handler), False for a redelivery.

        Returns once the row is committed (with the marks of rows handed on so far); never waits for the
        handler. A storage error propagates: the caller must then not acknowledge the message.
        """
        marks, self._marks = self._marks, []
        try:
            # Shielded: a row committed is always handed over too (a cancellation comes after).
            with trio.CancelScope(shield=True):
                seq = await store_inbound(
                    self.db, message, received_at=self._now(), handled=marks, handled_at=self._now()
                )
        except BaseException:
            self._marks[:0] = marks  # not recorded: still to be written
            raise
        if seq is None:
            log.info(
                "session %s: message %s again (already stored): not handed on twice",
                self.session_id,
                message.message_id,
            )
            return False
        if self._spilled or len(self._ready) >= self._max_ready:
            self._spilled = seq  # the row is committed: run() reads it back
        else:
            self._ready.append((seq, message))
        if self._idle.is_set():
            self._idle = trio.Event()
        self._wake.set()
        return True

    async def drained(self) -> None:
        """Wait until :meth:`run` has handed on every committed message, recorded that, and waits for more."""
        while True:
            idle = self._idle
            if not idle.is_set():
                self._flush_wanted = True
                self._wake.set()
            await idle.wait()
            if idle is self._idle:
                return

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Hand every committed, unhandled message to the handler, oldest first, until cancelled: first
        those left over from earlier runs (read back from the table), then each one :meth:`accept`
        commits (handed over in memory)."""
        task_status.started()
        try:
            until, pending = await load_replay(self.db, self.session_id, limit=self._batch)
            self._replay_until = until
            while pending:
                await self._hand_on(pending)
                after = pending[-1][0]
                pending = await load_pending(self.db, self.session_id, limit=self._batch, after=after, until=until)
            while True:
                if self._ready:
                    batch: list[tuple[int, InboundMessage | None]] = []
                    while self._ready and len(batch) < self._batch:
                        seq, message = self._ready.popleft()
                        if seq > until:  # else the replay above had it
                            batch.append((seq, message))
                    await self._hand_on(batch)
                    continue
                if self._spilled:
                    spilled = self._spilled
                    rows = await load_pending(self.db, self.session_id, limit=self._batch, after=self._last)
                    if rows:
                        await self._hand_on(rows)
                    elif self._spilled == spilled:
                        self._spilled = 0  # all read back (no await since the read): memory again
                    continue
                self._wake = trio.Event()
                if self._marks:
                    with trio.move_on_after(self._flush_after) as waiting:
                        if not self._flush_wanted:
                            await self._wake.wait()
                    if self._ready and not self._flush_wanted:
                        continue  # the accept that woke us carries the marks
                    if waiting.cancelled_caught or self._flush_wanted or not self._ready:
                        await self._flush()
                    continue
                self._flush_wanted = False
                self._idle.set()
                await self._wake.wait()
        finally:
            if self._marks:
                with trio.CancelScope(shield=True):
                    try:
                        await self._flush()
                    except Exception:
                        log.exception("session %s: marking messages handled failed", self.session_id)

    async def _hand_on(self, batch: list[tuple[int, InboundMessage | None]]) -> None:
        """Pass ``batch`` to the handler in order (None: an unreadable row, skipped), each row then due
        for its mark; write the marks once ``batch`` are due."""
        for seq, message in batch:
            self._last = seq
            if message is not None and self.handler is not None:
                try:
                    await self.handler(self.session_id, message)
                except Exception:
                    log.exception(
                        "session %s: the handler failed on message %s",
                        self.session_id,
                        message.message_id,
                    )
            self._marks.append(seq)
        if len(self._marks) >= self._batch:
            await self._flush()

    async def _flush(self) -> None:
        """Write the due marks (shielded: what was handed on is recorded as handed on)."""
        marks, self._marks = self._marks, []
        with trio.CancelScope(shield=True):
            try:
                await mark_handled(self.db, marks, handled_at=self._now())
            except BaseException:
                self._marks[:0] = marks
                raise
