"""Snapshot-plus-journal files: how the sandbox persists state that changes a little at a time.

A :class:`Journal` is a pair of files in the state directory: a JSON snapshot (``<name>.json``, written
atomically, mode 0600) and an append-only JSON-lines journal beside it (``<name>.jsonl``, mode 0600), one
change record per line. The owner appends one record per change (or per batch of changes) instead of
rewriting the snapshot, and *compacts* now and then: it writes a fresh snapshot and empties the journal.
Loading gives the snapshot and the records to replay on top of it, in order.

Crash promise: a record is handed to the operating system in a single ``write`` of one whole line as
soon as :meth:`Journal.append` returns, so a crash of the process loses nothing appended; nothing is
``fsync``-ed (a power loss may lose the last records, as it may lose the last snapshot). A crash in the
middle of a write leaves a torn last line (no newline): :meth:`Journal.load` ignores it and cuts it off the file, so the
next record starts on a line of its own; an unreadable line in the middle ends the replay there (with a
warning) and is cut off with everything after it. A crash between writing a snapshot and emptying the journal
leaves records that the snapshot already holds, so owners make their records idempotent (set a value,
remove a key if present), never relative (pop the oldest).

This module is NOT the meaning of the records (``state`` and ``phone_store`` define theirs) and keeps
no state beyond the two paths and a byte count. :func:`write_json` is the atomic snapshot writer.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Final

__all__ = ["COMPACT_MIN_BYTES", "Journal", "Loaded", "write_json"]

log = logging.getLogger(__name__)

#: A journal is not compacted before it holds this many bytes (see :meth:`Journal.should_compact`).
COMPACT_MIN_BYTES: Final = 256 * 1024


def write_json(path: Path, data: Any, *, indent: int | None = 1) -> int:
    """Write ``data`` as JSON to ``path`` atomically, mode 0600 (creating the directory); returns its size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        text = json.dumps(data, indent=indent, sort_keys=True, separators=None if indent else (",", ":"))
        encoded = text.encode("utf-8")
        with os.fdopen(fd, "wb") as out:
            out.write(encoded)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(encoded)


class Loaded:
    """What :meth:`Journal.load` found: the snapshot (None when there is none) and the records after it."""

    __slots__ = ("dropped", "records", "snapshot")

    def __init__(self, snapshot: Any, records: list[Any], dropped: int) -> None:
        #: The parsed snapshot, or None when the snapshot file does not exist.
        self.snapshot = snapshot
        #: The journal's records, oldest first (up to the first unreadable line).
        self.records = records
        #: How many lines were not replayed (a torn last line, or an unreadable one and all after it).
        self.dropped = dropped


class Journal:
    """A snapshot file and its append-only journal (see the module docstring).

    ``snapshot`` is the snapshot's path; the journal is the same path with the suffix ``.jsonl``.
    """

    def __init__(self, snapshot: Path) -> None:
        self.snapshot = snapshot
        self.path = snapshot.with_suffix(".jsonl")
        #: Bytes in the journal (as loaded, plus appended since).
        self.journal_bytes = 0
        #: Bytes of the last snapshot written or loaded.
        self.snapshot_bytes = 0

    def load(self) -> Loaded:
        """Read the snapshot and the journal's records. ``OSError``/``ValueError`` for an unreadable snapshot.

        A missing journal is an empty one. The journal's lines are parsed up to the first one that is not
        a whole JSON line; that one and the rest are dropped (a torn last line quietly, anything more
        with a warning).
        """
        snapshot = None
        if self.snapshot.exists():
            raw = self.snapshot.read_bytes()
            self.snapshot_bytes = len(raw)
            snapshot = json.loads(raw.decode("utf-8"))
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            data = b""
        *whole, tail = data.split(b"\n")
        records: list[Any] = []
        good = 0
        for number, line in enumerate(whole):
            try:
                records.append(json.loads(line.decode("utf-8")))
            except ValueError as exc:
                log.warning(
                    "%s: line %d unreadable (%s); it and the %d lines after it are not replayed",
                    self.path,
                    number + 1,
                    exc,
                    len(whole) - number - 1 + (1 if tail else 0),
                )
                break
            good += len(line) + 1
        else:
            if tail:
                log.info("%s: a torn last line (%d bytes) ignored", self.path, len(tail))
        dropped = len(whole) + (1 if tail else 0) - len(records)
        if good < len(data):
            os.truncate(self.path, good)  # so that what is appended next starts on a line of its own
        self.journal_bytes = good
        return Loaded(snapshot, records, dropped)

    def append(self, *records: Any) -> None:
        """Append ``records`` (JSON-ready values), one line each, in one write."""
        if not records:
            return
        data = "".join(json.dumps(r, separators=(",", ":"), sort_keys=True) + "\n" for r in records).encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
        finally:
            os.close(fd)
        self.journal_bytes += len(data)

    def compact(self, snapshot: Any) -> None:
        """Write ``snapshot`` (the whole state, records included) atomically, then empty the journal."""
        self.snapshot_bytes = write_json(self.snapshot, snapshot, indent=None)
        if self.journal_bytes or self.path.exists():
            fd = os.open(self.path, os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o600)
            os.close(fd)
        self.journal_bytes = 0

    def should_compact(self) -> bool:
        """Whether the journal outgrew the snapshot (and :data:`COMPACT_MIN_BYTES`): compacting then keeps
        the cost of writing proportional to what changed, amortised, and the replay on start short."""
        return self.journal_bytes > max(self.snapshot_bytes, COMPACT_MIN_BYTES)
