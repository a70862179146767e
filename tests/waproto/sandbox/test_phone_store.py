"""waproto.sandbox.phone_store: stores that note what changed, the state / change-record JSON forms, and
PhonePersistence, which exports and replays them."""

from __future__ import annotations

import json
import random

import pytest

from waproto.errors import DecodeError
from waproto.jid import JID
from waproto.proto import Message
from waproto.sandbox.phone_log import LogEntry
from waproto.sandbox.phone_store import (
    PhonePersistence,
    PhoneSenderKeys,
    PhoneStore,
    dump_sender_keys,
    parse_changes,
    parse_state,
)
from waproto.signal import ProtocolAddress, SenderKeyName, create_distribution_message
from waproto.signal.keys import generate_identity_key_pair, generate_pre_keys
from waproto.signal.session import SessionRecord

BOB = ProtocolAddress("15550002222", 0)
CAROL = ProtocolAddress("15550003333", 1)


def store(used: list[int] | None = None) -> PhoneStore:
    rng = random.Random(3).randbytes
    pre_keys = {r.key_id: r for r in generate_pre_keys(1, 3, rng)}
    return PhoneStore(generate_identity_key_pair(rng), 42, pre_keys, used.append if used is not None else None)


async def test_the_store_notes_changed_sessions_and_identities() -> None:
    s = store()
    assert s.take_changes() == {}
    await s.store_session(BOB, SessionRecord())
    await s.store_session(CAROL, SessionRecord())
    await s.save_identity(BOB, bytes(32))
    changes = s.take_changes()
    assert sorted(n for n, _, _ in changes["sessions"]) == [BOB.name, CAROL.name]
    assert changes["identities"] == [[BOB.name, 0, "00" * 32]]
    assert s.take_changes() == {}
    s.forget_session(CAROL)
    s.forget_session(ProtocolAddress("1", 0))  # none there: no change
    assert s.take_changes() == {"sessions_removed": [[CAROL.name, 1]]}
    await s.store_session(BOB, SessionRecord())
    s.forget_changes()
    assert s.take_changes() == {}


async def test_used_prekeys_leave_the_shared_dict_and_are_reported() -> None:
    used: list[int] = []
    s = store(used)
    shared = s.pre_keys
    await s.remove_pre_key(2)
    assert 2 not in shared
    assert used == [2]
    await store().remove_pre_key(1)  # without a callback


async def test_sender_keys_note_their_names() -> None:
    keys = PhoneSenderKeys()
    name = SenderKeyName("99@g.us", BOB)
    await create_distribution_message(keys, name, random.Random(1).randbytes)
    assert keys.names == keys.changed == {name}
    [[group, sender, _]] = await dump_sender_keys(keys, keys.names)
    assert (group, sender) == ("99@g.us", [BOB.name, 0])
    assert await dump_sender_keys(keys, [SenderKeyName("1@g.us", BOB)]) == []


def logged(message_id: str) -> LogEntry:
    alice = JID("15550001111", "s.whatsapp.net")
    return LogEntry.make(message_id, "out", alice, alice, 1, Message(conversation="hi"), "pending")


async def test_persistence_exports_what_changed_and_replays_it() -> None:
    skdm_sent: dict[JID, set[JID]] = {}
    saved = PhonePersistence(store(), PhoneSenderKeys(), skdm_sent)
    log: list[LogEntry] = []
    assert await saved.export_changes(log) is None
    base = json.loads(json.dumps(await saved.export_state(log)))
    await saved.store.store_session(BOB, SessionRecord())
    group = JID("99", "g.us")
    skdm_sent[group] = {JID("15550002222", "s.whatsapp.net")}  # shared with the phone, not copied
    saved.skdm_changed.add(group)
    log += [logged("A"), logged("B")]
    first = await saved.export_changes(log)
    assert first is not None
    assert sorted(first) == ["log_at", "sessions", "skdm_sent"]
    assert [p for p, _ in first["log_at"]] == [0, 1]
    log[0].advance("server")
    saved.log_changed.add(0)
    second = await saved.export_changes(log)
    assert second == {"log_at": [[0, log[0].to_state()]]}
    assert await saved.export_changes(log) is None

    restored = PhonePersistence(store(), PhoneSenderKeys(), {})
    restored_log = await restored.import_state(base)
    assert restored_log == []
    for record in (first, second, second):  # replaying a record twice is harmless
        await restored.apply_changes(json.loads(json.dumps(record)), restored_log)
    assert await restored.export_state(restored_log) == await saved.export_state(log)
    assert await restored.export_changes(restored_log) is None  # what was replayed counts as saved
    with pytest.raises(DecodeError):
        await restored.apply_changes({"sessions_removed": [[BOB.name, 0]], "log_at": [[3, log[0].to_state()]]}, restored_log)
    assert len(restored_log) == 2
    assert BOB in restored.store.sessions  # a refused record changes nothing
    with pytest.raises(DecodeError):
        await restored.import_state({"log": []})


def test_parse_state_and_changes() -> None:
    state = parse_state({"sessions": [], "identities": [], "sender_keys": [], "skdm_sent": {"99@g.us": ["1@s.whatsapp.net"]}, "log": []})
    assert state.skdm_sent == {JID("99", "g.us"): {JID("1", "s.whatsapp.net")}}
    assert parse_changes({}).log_at == []
    changes = parse_changes({"sessions_removed": [["1", 2]]})
    assert changes.sessions_removed == [ProtocolAddress("1", 2)]


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {"sessions": [], "identities": [], "sender_keys": [], "skdm_sent": {}},
        {"sessions": [["x", 0, "!!"]], "identities": [], "sender_keys": [], "skdm_sent": {}, "log": []},
        {"sessions": [], "identities": [["x", -1, "00"]], "sender_keys": [], "skdm_sent": {}, "log": []},
        {"sessions": [], "identities": [], "sender_keys": [], "skdm_sent": {"": []}, "log": []},
        {"sessions": [], "identities": [], "sender_keys": [], "skdm_sent": {}, "log": [{"id": "x"}]},
    ],
)
def test_parse_state_refuses_what_it_did_not_write(data: object) -> None:
    with pytest.raises(DecodeError):
        parse_state(data)


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {"sessions_removed": [["x"]]},
        {"sessions_removed": [["", 0]]},
        {"log_at": [["1", {}]]},
        {"log_at": [[-1, {}]]},
        {"log_at": [[0, {"id": "x"}]]},
        {"sender_keys": [["g", ["x"], "AA=="]]},
        {"identities": [["x", 0, "zz"]]},
    ],
)
def test_parse_changes_refuses_what_it_did_not_write(data: object) -> None:
    with pytest.raises(DecodeError):
        parse_changes(data)
