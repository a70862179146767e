"""Offline queues that survive a restart: :class:`SavedQueues`, the routing's queues kept in a journal.

:class:`~waproto.sandbox.routing.OfflineQueues` holds, per companion device, the stanzas that came while
it was not connected. :class:`SavedQueues` is the same queues plus persistence in the state directory:
``offline.json`` (a snapshot) and ``offline.jsonl`` (its journal, ``waproto.sandbox.journal``). Every
stanza queued appends one record (``push``: device, sequence number, the stanza as base64 binary XML), and
a queue drained on login or forgotten on unlink appends one (``drop``: device, up to which sequence
number). Sequence numbers make replay idempotent: a record the snapshot already holds changes nothing.
:func:`open_queues` loads, replays and compacts on start; the journal is compacted whenever it outgrows
the snapshot.

Crash promise: a stanza is on disk (not ``fsync``-ed) when :meth:`SavedQueues.push` returns; a drained
queue is dropped when :meth:`SavedQueues.drain` returns, before its stanzas are sent (a crash while
sending them loses them, as a connection dropping then does).

This module is NOT the routing (``routing``) and does not decide what is queued (``messaging`` does).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections import deque
from pathlib import Path
from typing import Any, Final

from waproto.binary import Node, marshal, unmarshal
from waproto.errors import LocalProtocolError, RemoteProtocolError
from waproto.jid import JID, parse_jid
from waproto.sandbox.journal import Journal
from waproto.sandbox.routing import OfflineQueues

__all__ = ["OFFLINE_FILE", "SavedQueues", "open_queues"]

log = logging.getLogger(__name__)

#: The snapshot of the offline queues in a state directory (its journal: ``offline.jsonl``).
OFFLINE_FILE: Final = "offline.json"

_MALFORMED = (KeyError, TypeError, ValueError, AttributeError, binascii.Error, LocalProtocolError, RemoteProtocolError)


class SavedQueues(OfflineQueues):
    """:class:`~waproto.sandbox.routing.OfflineQueues` that journal every change (see the module docstring)."""

    def __init__(self, journal: Journal) -> None:
        super().__init__()
        self.journal = journal
        self._seqs: dict[JID, deque[int]] = {}
        self._next = 1

    def push(self, device: JID, node: Node) -> None:
        """Keep ``node`` for ``device`` and journal it."""
        seq = self._add(device, node, self._next)
        self._save({"push": [str(device), seq, base64.b64encode(marshal(node)).decode("ascii")]})

    def drain(self, device: JID) -> list[Node]:
        """Everything that waited for ``device`` (see the base class); the emptied queue is journalled."""
        self._drop(device)
        return super().drain(device)

    def forget(self, device: JID) -> None:
        """Drop what waited for ``device`` and journal that."""
        self._drop(device)
        super().forget(device)

    def _add(self, device: JID, node: Node, seq: int) -> int:
        super().push(device, node)
        self._seqs.setdefault(device, deque()).append(seq)
        self._next = max(self._next, seq + 1)
        return seq

    def _drop(self, device: JID) -> None:
        seqs = self._seqs.pop(device, None)
        if seqs:
            self._save({"drop": [str(device), seqs[-1]]})

    def _save(self, record: dict[str, Any]) -> None:
        if self.journal.should_compact():
            self.journal.compact(self.snapshot())
        else:
            self.journal.append(record)

    def snapshot(self) -> dict[str, Any]:
        """Every queue, JSON-ready: ``{"next": n, "queues": {device: [[seq, base64 stanza], …]}}``."""
        queues = {
            str(device): [
                [seq, base64.b64encode(marshal(node)).decode("ascii")]
                for seq, node in zip(self._seqs.get(device, ()), self._queues[device], strict=True)
            ]
            for device in self._queues
        }
        return {"next": self._next, "queues": queues}

    def restore(self, snapshot: Any) -> None:
        """Load what :meth:`snapshot` returned (into empty queues). ``ValueError`` (and the like) for anything else."""
        for device_text, items in snapshot["queues"].items():
            device = parse_jid(device_text)
            for seq, data in items:
                self._add(device, _stanza(data), _seq(seq))
        self._next = max(self._next, _seq(snapshot["next"]))

    def replay(self, record: Any) -> None:
        """Apply a journal record. Idempotent: a ``push`` numbered below the next number is known already
        (queued, or queued and dropped), a ``drop`` removes what is numbered up to its number."""
        if "push" in record:
            device_text, seq, data = record["push"]
            if _seq(seq) >= self._next:
                self._add(parse_jid(device_text), _stanza(data), seq)
        elif "drop" in record:
            device_text, upto = record["drop"]
            device, upto = parse_jid(device_text), _seq(upto)
            seqs, nodes = self._seqs.get(device, deque()), self._queues.get(device, deque())
            while seqs and seqs[0] <= upto:
                seqs.popleft()
                nodes.popleft()
            if not seqs:
                self._seqs.pop(device, None)
                self._queues.pop(device, None)
        else:
            raise ValueError(f"unknown record {sorted(record)}")


def _seq(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"sequence number {value!r}")
    return value


def _stanza(data: Any) -> Node:
    return unmarshal(base64.b64decode(data, validate=True))


def open_queues(state_dir: Path | None) -> OfflineQueues:
    """Memory-only queues without a state directory; else :class:`SavedQueues` loaded from it (an
    unreadable snapshot or record is logged and what could be read is kept), replayed and compacted."""
    if state_dir is None:
        return OfflineQueues()
    queues = SavedQueues(Journal(state_dir / OFFLINE_FILE))
    try:
        loaded = queues.journal.load()
    except (OSError, ValueError) as exc:
        log.warning("offline queues unreadable, starting empty: %s", exc)
    else:
        try:
            if loaded.snapshot is not None:
                queues.restore(loaded.snapshot)
            for record in loaded.records:
                queues.replay(record)
        except _MALFORMED as exc:
            log.warning("offline queues partly unreadable, kept what was read: %r", exc)
    queues.journal.compact(queues.snapshot())
    return queues
