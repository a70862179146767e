"""waproto.sandbox.journal: snapshot plus append-only JSON lines, torn and unreadable lines, compaction."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from waproto.sandbox.journal import COMPACT_MIN_BYTES, Journal, write_json


def test_a_new_journal_loads_empty(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "x.json")
    assert journal.path == tmp_path / "x.jsonl"
    loaded = journal.load()
    assert (loaded.snapshot, loaded.records, loaded.dropped) == (None, [], 0)
    assert not journal.path.exists()


def test_append_compact_and_load(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "d" / "x.json")
    journal.compact({"n": 0})
    journal.append({"n": 1})
    journal.append({"n": 2}, {"n": 3})
    journal.append()
    assert journal.path.read_text().splitlines() == ['{"n":1}', '{"n":2}', '{"n":3}']
    for path in (journal.snapshot, journal.path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = Journal(tmp_path / "d" / "x.json")
    loaded = again.load()
    assert loaded.snapshot == {"n": 0}
    assert loaded.records == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert again.journal_bytes == journal.journal_bytes == journal.path.stat().st_size
    assert again.snapshot_bytes == journal.snapshot.stat().st_size
    again.compact({"n": 3})
    assert journal.path.read_bytes() == b""
    assert again.journal_bytes == 0
    assert Journal(tmp_path / "d" / "x.json").load().records == []


def test_a_torn_last_line_is_ignored_and_cut_off(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "x.json")
    journal.compact({"n": 0})
    journal.append({"n": 1}, {"n": 2})
    with journal.path.open("ab") as out:
        out.write(b'{"n":3')  # the process died in the middle of a write
    loaded = Journal(tmp_path / "x.json").load()
    assert (loaded.records, loaded.dropped) == ([{"n": 1}, {"n": 2}], 1)
    assert journal.path.read_bytes() == b'{"n":1}\n{"n":2}\n'
    reloaded = Journal(tmp_path / "x.json")
    reloaded.load()
    reloaded.append({"n": 4})  # starts on a line of its own
    assert Journal(tmp_path / "x.json").load().records == [{"n": 1}, {"n": 2}, {"n": 4}]


def test_a_whole_record_without_its_newline_counts_as_torn(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "x.json")
    journal.path.write_bytes(b'{"n":1}\n{"n":2}')
    loaded = journal.load()
    assert (loaded.records, loaded.dropped) == ([{"n": 1}], 1)


def test_an_unreadable_line_ends_the_replay(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    journal = Journal(tmp_path / "x.json")
    journal.path.write_bytes(b'{"n":1}\nnot json\n{"n":3}\n\xff\xfe\n')
    loaded = journal.load()
    assert (loaded.records, loaded.dropped) == ([{"n": 1}], 3)
    assert "line 2 unreadable" in caplog.text
    assert journal.path.read_bytes() == b'{"n":1}\n'


def test_an_unreadable_snapshot_raises(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("{")
    with pytest.raises(ValueError):
        Journal(tmp_path / "x.json").load()


def test_compaction_waits_until_the_journal_outgrows_the_snapshot(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "x.json")
    journal.compact({"pad": "x" * (2 * COMPACT_MIN_BYTES)})
    record = {"pad": "y" * 1000}
    while journal.journal_bytes <= COMPACT_MIN_BYTES:
        journal.append(record)
        assert not journal.should_compact()
    while journal.journal_bytes <= journal.snapshot_bytes:
        assert not journal.should_compact()
        journal.append(record)
    assert journal.should_compact()
    small = Journal(tmp_path / "small.json")
    small.compact({})
    small.append({"pad": "z" * (COMPACT_MIN_BYTES // 2)})
    assert not small.should_compact()  # the floor: tiny snapshots are not rewritten after every record


def test_write_json_is_atomic_and_private(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b.json"
    assert write_json(path, {"b": [1, 2]}) == path.stat().st_size
    assert json.loads(path.read_text()) == {"b": [1, 2]}
    with pytest.raises(TypeError):
        write_json(path, {"b": object()})
    assert json.loads(path.read_text()) == {"b": [1, 2]}  # the old file is untouched
    assert [p.name for p in path.parent.iterdir()] == ["b.json"]  # no temporary file left
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
