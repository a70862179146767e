"""waproto.sandbox.offline: offline queues journalled, restored in order, torn and stale journals, compaction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from waproto.binary import Node
from waproto.jid import JID
from waproto.sandbox.offline import OFFLINE_FILE, SavedQueues, open_queues
from waproto.sandbox.routing import OfflineQueues

ONE = JID("15550001111", "s.whatsapp.net", device=1)
TWO = JID("15550002222", "s.whatsapp.net", device=3)


def stanza(n: int) -> Node:
    return Node("message", {"id": f"ID{n}", "from": JID("15550009999", "s.whatsapp.net")}, [Node("enc", {"type": "msg"}, bytes([n]) * 3)])


def ids(nodes: list[Node]) -> list[object]:
    return [n.attrs["id"] for n in nodes]


def test_without_a_state_directory_the_queues_live_in_memory() -> None:
    queues = open_queues(None)
    assert type(queues) is OfflineQueues


def test_queues_survive_a_restart_in_order(tmp_path: Path) -> None:
    queues = open_queues(tmp_path)
    assert isinstance(queues, SavedQueues)
    for n in (1, 2, 3):
        queues.push(ONE, stanza(n))
    queues.push(TWO, stanza(4))
    assert json.loads((tmp_path / OFFLINE_FILE).read_text()) == {"next": 1, "queues": {}}  # only the journal grew
    again = open_queues(tmp_path)
    assert (again.pending(ONE), again.pending(TWO)) == (3, 1)
    drained = again.drain(ONE)
    assert ids(drained) == ["ID1", "ID2", "ID3"]
    assert drained[0].attrs["offline"] == "1"
    assert drained[0].children[0].content == b"\x01\x01\x01"
    third = open_queues(tmp_path)
    assert (third.pending(ONE), third.pending(TWO)) == (0, 1)
    third.forget(TWO)
    third.push(ONE, stanza(5))
    fourth = open_queues(tmp_path)
    assert (ids(fourth.drain(ONE)), fourth.pending(TWO)) == (["ID5"], 0)
    assert (tmp_path / "offline.jsonl").read_bytes().count(b"\n") == 1  # the drain, after the compaction on start


def test_a_torn_last_push_is_ignored(tmp_path: Path) -> None:
    queues = open_queues(tmp_path)
    queues.push(ONE, stanza(1))
    queues.push(ONE, stanza(2))
    journal = (tmp_path / "offline.jsonl").read_bytes()
    (tmp_path / "offline.jsonl").write_bytes(journal[:-10])
    again = open_queues(tmp_path)
    assert ids(again.drain(ONE)) == ["ID1"]


def test_a_stale_journal_replays_harmlessly(tmp_path: Path) -> None:
    queues = open_queues(tmp_path)
    assert isinstance(queues, SavedQueues)
    queues.push(ONE, stanza(1))
    queues.push(ONE, stanza(2))
    queues.drain(ONE)
    queues.push(ONE, stanza(3))
    journal = (tmp_path / "offline.jsonl").read_bytes()
    queues.journal.compact(queues.snapshot())  # died after writing the snapshot, before emptying the journal:
    (tmp_path / "offline.jsonl").write_bytes(journal)
    again = open_queues(tmp_path)
    assert ids(again.drain(ONE)) == ["ID3"]


@pytest.mark.parametrize(
    "record",
    ['{"push": ["x", 9, "AA=="]}', '{"push": ["15550001111:1@s.whatsapp.net", 0, "AA=="]}', '{"drop": 5}', '{"what": 1}', "[3]"],
)
def test_unreadable_records_keep_what_was_read(tmp_path: Path, record: str, caplog: pytest.LogCaptureFixture) -> None:
    queues = open_queues(tmp_path)
    queues.push(ONE, stanza(1))
    with (tmp_path / "offline.jsonl").open("a") as out:
        out.write(record + "\n")
    again = open_queues(tmp_path)
    assert ids(again.drain(ONE)) == ["ID1"]
    assert "partly unreadable" in caplog.text


def test_an_unreadable_snapshot_starts_empty(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / OFFLINE_FILE).write_text("{")
    assert open_queues(tmp_path).pending(ONE) == 0
    (tmp_path / OFFLINE_FILE).write_text('{"next": 1, "queues": {"x": [[1, "AA=="]]}}')
    assert open_queues(tmp_path).pending(ONE) == 0
    assert "unreadable" in caplog.text


def test_the_journal_is_compacted_when_it_outgrows_the_snapshot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("waproto.sandbox.journal.COMPACT_MIN_BYTES", 0)
    queues = open_queues(tmp_path)
    sizes = []
    for n in range(1, 60):
        queues.push(ONE, stanza(n))
        if n % 3 == 0:
            queues.drain(ONE)
        sizes.append((tmp_path / "offline.jsonl").stat().st_size)
    assert sizes.count(0) >= 2
    assert ids(open_queues(tmp_path).drain(ONE)) == ["ID58", "ID59"]
