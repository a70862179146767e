"""waproto.sandbox.state: accounts, the Registry view, one-time prekeys handed out once, persistence."""

from __future__ import annotations

import json
import random
import stat
from pathlib import Path

import pytest

from waproto.jid import JID
from waproto.noise import verify_cert_chain
from waproto.sandbox.registry import OneTimePreKey, SignedPreKey, take_bundle
from waproto.sandbox.state import (
    NETWORK_FILE,
    PHONE_PRE_KEYS,
    ROOT_KEY_FILE,
    Companion,
    Network,
    StateError,
    valid_phone,
)
from waproto.signal import curve

NOW = 1_790_000_000


def rng(seed: int = 1) -> random.Random:
    return random.Random(seed)


def companion(device: int = 1) -> Companion:
    r = rng(device)
    return Companion(
        device=device,
        noise_public=r.randbytes(32),
        identity=r.randbytes(32),
        registration_id=77,
        signed_pre_key=SignedPreKey(1, r.randbytes(32), r.randbytes(64)),
        pre_keys=[OneTimePreKey(i, r.randbytes(32)) for i in (1, 2)],
        key_index=device,
        platform="Chrome",
        linked_at=NOW,
    )


def test_valid_phone() -> None:
    assert valid_phone("15550001111")
    for bad in ["", "123", "0155500011", "+15550001111", "1555000111a", "1" * 21, 15550001111, None, "１５５５０００１１１１"]:
        assert not valid_phone(bad), bad


def test_create_account_and_registry_view() -> None:
    network = Network.open(None, rng=rng().randbytes)
    state = network.create_account("15550001111", rng=rng(2).randbytes, now=NOW, name="Alice", bot="echo")
    assert len(state.lid) == 15
    assert network.account_by_phone("15550001111") == state.account
    assert network.account_by_lid(state.lid) == state.account
    assert network.account_of(JID(state.lid, "lid", device=3)) is state
    assert network.device_ids("15550001111") == [0]
    assert network.device_ids("1") == []
    keys = network.device_keys(JID("15550001111", "s.whatsapp.net"))
    assert keys is not None
    assert keys.identity == state.identity.public
    assert len(keys.pre_keys) == PHONE_PRE_KEYS
    assert state.signed_pre_key.verify(state.identity.public)
    for bad, kind in [("15550001111", None), ("12", None), ("15550002222", "parrot")]:
        with pytest.raises(StateError):
            network.create_account(bad, rng=rng().randbytes, now=NOW, bot=kind)


def test_one_time_prekeys_are_handed_out_once() -> None:
    network = Network.open(None, rng=rng().randbytes)
    state = network.create_account("15550001111", rng=rng(2).randbytes, now=NOW)
    network.add_companion("15550001111", companion(1))
    phone = JID("15550001111", "s.whatsapp.net")
    taken = [network.take_pre_key(phone) for _ in range(PHONE_PRE_KEYS)]
    assert len({key.key_id for key in taken if key is not None}) == PHONE_PRE_KEYS
    assert network.take_pre_key(phone) is None
    assert state.pre_keys, "the phone keeps the private halves"
    device = phone.with_device(1)
    first = take_bundle(network, device)
    second = take_bundle(network, device)
    third = take_bundle(network, device)
    assert first is not None
    assert second is not None
    assert third is not None
    assert (first.pre_key_id, second.pre_key_id, third.pre_key_id) == (1, 2, None)
    assert network.device_ids("15550001111") == [0, 1]
    assert network.remove_companion("15550001111", 1) is not None
    assert network.remove_companion("15550001111", 1) is None
    assert network.device_keys(device) is None


def test_persistence_round_trip(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    network = Network.open(directory, rng=rng().randbytes)
    state = network.create_account("15550001111", rng=rng(2).randbytes, now=NOW, name="Alice")
    network.add_companion("15550001111", companion(1))
    network.take_pre_key(JID("15550001111", "s.whatsapp.net"))
    for name in (ROOT_KEY_FILE, NETWORK_FILE):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600
    again = Network.open(directory, rng=rng(9).randbytes)
    assert again.root == network.root
    assert again.server_static == network.server_static
    loaded = again.accounts["15550001111"]
    assert (loaded.lid, loaded.name, loaded.identity, loaded.raw_id) == (state.lid, "Alice", state.identity, state.raw_id)
    assert loaded.published == state.published
    assert loaded.companions[1] == network.accounts["15550001111"].companions[1]
    assert loaded.next_device == 2
    assert again.account_by_lid(state.lid) == state.account


def test_root_key_given_kept_or_refused(tmp_path: Path) -> None:
    root = curve.generate_key_pair(rng(5).randbytes)
    network = Network.open(tmp_path / "a", rng=rng().randbytes, root_private=root.private)
    assert network.root == root
    chain = network.cert_chain(NOW)
    verify_cert_chain(chain, network.server_static.public, now=NOW, root_public_key=root.public)
    assert Network.open(tmp_path / "a", rng=rng(3).randbytes).root == root
    assert Network.open(tmp_path / "a", rng=rng(3).randbytes, root_private=root.private).root == root
    with pytest.raises(StateError):
        Network.open(tmp_path / "a", rng=rng().randbytes, root_private=bytes(32))


@pytest.mark.parametrize(
    ("name", "content"),
    [
        (NETWORK_FILE, "not json"),
        (NETWORK_FILE, json.dumps({"format": 99})),
        (NETWORK_FILE, json.dumps({"format": 1, "intermediate": "zz"})),
        (NETWORK_FILE, json.dumps([1, 2])),
        (ROOT_KEY_FILE, json.dumps({"private": "12"})),
        (ROOT_KEY_FILE, "[]"),
    ],
)
def test_unreadable_state_is_a_state_error(tmp_path: Path, name: str, content: str) -> None:
    Network.open(tmp_path, rng=rng().randbytes)
    (tmp_path / name).write_text(content)
    with pytest.raises(StateError):
        Network.open(tmp_path, rng=rng().randbytes)


def test_prekeys_handed_out_are_journalled_not_rewritten(tmp_path: Path) -> None:
    network = Network.open(tmp_path, rng=rng().randbytes)
    state = network.create_account("15550001111", rng=rng(2).randbytes, now=NOW)
    network.add_companion("15550001111", companion(1))
    snapshot = (tmp_path / NETWORK_FILE).read_bytes()
    phone = JID("15550001111", "s.whatsapp.net")
    first = network.take_pre_key(phone)
    second = network.take_pre_key(phone.with_device(1))
    assert first is not None
    assert second is not None
    used = next(iter(state.pre_keys))
    network.pre_key_used("15550001111", used)
    network.pre_key_used("19999999999", 1)  # no such account: nothing to record
    assert (tmp_path / NETWORK_FILE).read_bytes() == snapshot  # only the journal grew
    lines = [json.loads(line) for line in (tmp_path / "network.jsonl").read_text().splitlines()]
    assert lines == [{"take": ["15550001111", 0, first.key_id]}, {"take": ["15550001111", 1, 1]}, {"used": ["15550001111", used]}]
    again = Network.open(tmp_path, rng=rng(9).randbytes)
    loaded = again.accounts["15550001111"]
    assert loaded.published == state.published
    assert first.key_id not in loaded.published
    assert [k.key_id for k in loaded.companions[1].pre_keys] == [2]
    assert used not in loaded.pre_keys
    assert set(loaded.pre_keys) == set(state.pre_keys)
    assert (tmp_path / "network.jsonl").read_bytes() == b""  # compacted on start
    assert json.loads((tmp_path / NETWORK_FILE).read_text()) == again._to_json() == network._to_json()


def test_a_torn_network_journal_line_is_ignored(tmp_path: Path) -> None:
    network = Network.open(tmp_path, rng=rng().randbytes)
    network.create_account("15550001111", rng=rng(2).randbytes, now=NOW)
    phone = JID("15550001111", "s.whatsapp.net")
    taken = network.take_pre_key(phone)
    assert taken is not None
    with (tmp_path / "network.jsonl").open("a") as out:
        out.write('{"take": ["15550001111", 0, ')  # died while handing out the next one
    again = Network.open(tmp_path, rng=rng(9).randbytes)
    published = again.accounts["15550001111"].published
    assert published == network.accounts["15550001111"].published
    assert len(published) == PHONE_PRE_KEYS - 1
    after = again.take_pre_key(phone)
    assert after is not None
    assert after.key_id != taken.key_id


def test_a_journal_the_snapshot_already_holds_replays_harmlessly(tmp_path: Path) -> None:
    network = Network.open(tmp_path, rng=rng().randbytes)
    network.create_account("15550001111", rng=rng(2).randbytes, now=NOW)
    network.add_companion("15550001111", companion(1))
    network.take_pre_key(JID("15550001111", "s.whatsapp.net"))
    network.take_pre_key(JID("15550001111", "s.whatsapp.net", device=1))
    journal = (tmp_path / "network.jsonl").read_bytes()
    network.save()  # the process died after writing the snapshot, before emptying the journal:
    (tmp_path / "network.jsonl").write_bytes(journal)
    again = Network.open(tmp_path, rng=rng(9).randbytes)
    assert again._to_json() == network._to_json()


@pytest.mark.parametrize("record", ['{"take": 5}', '{"drop": 1}', '[1]', '{"used": ["1"]}'])
def test_a_foreign_network_journal_record_is_a_state_error(tmp_path: Path, record: str) -> None:
    Network.open(tmp_path, rng=rng().randbytes)
    (tmp_path / "network.jsonl").write_text(record + "\n")
    with pytest.raises(StateError):
        Network.open(tmp_path, rng=rng().randbytes)


def test_the_network_journal_is_compacted_when_it_outgrows_the_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("waproto.sandbox.journal.COMPACT_MIN_BYTES", 0)
    network = Network.open(tmp_path, rng=rng().randbytes)
    state = network.create_account("15550001111", rng=rng(2).randbytes, now=NOW)
    size = (tmp_path / NETWORK_FILE).stat().st_size
    sizes = []
    for key_id in range(1, 2000):
        network.pre_key_used("15550001111", key_id)
        sizes.append((tmp_path / "network.jsonl").stat().st_size)
    assert max(sizes) <= size + 40
    assert sizes.count(0) >= 2  # compacted (instead of appending) whenever it grew past the snapshot
    assert state.pre_keys == {}
    assert Network.open(tmp_path, rng=rng().randbytes)._to_json() == network._to_json()
