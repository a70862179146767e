"""waporta.storage.stores.account: credentials, device lists and LID mappings, memory and SQLite alike.

The behavioural tests run on both backends (the ``Memory*`` classes in ``protocols`` are the reference);
SQLite-only tests cover reopening, isolation inside one file, ``load_all_credentials`` and one
transaction per call.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pytest

from tests.waporta.storage.stores.backends import Backend, dump
from tests.waporta.storage.stores.test_signal import CountingDatabase
from waporta.storage import Database
from waporta.storage.stores import (
    DeviceList,
    SqliteCredentialStore,
    SqliteDeviceListStore,
    SqliteLidMapStore,
    load_all_credentials,
)

CREDS: dict[str, Any] = {
    "noise_key": {"private": "AAEC", "public": "AwQF"},
    "registration_id": 1234,
    "me": "15550001111:7@s.whatsapp.net",
    "lid": None,
    "platform": "waporta",
    "push_name": "Zoë ✓",
    "prekeys": [1, 2, 3],
    "ratio": 0.5,
    "linked": True,
}

ALICE = "15550001111@s.whatsapp.net"
BOB = "15550002222@s.whatsapp.net"
CAROL = "123456789012345@lid"


# ------------------------------------------------------------------------------------------ credentials


async def test_credentials_round_trip_and_are_copied(backend: Backend) -> None:
    store = backend.credentials("s1")
    assert await store.load_credentials() is None
    given = {**CREDS, "prekeys": list(CREDS["prekeys"])}
    await store.save_credentials(given)
    given["prekeys"].append(4)  # changing the caller's dict afterwards changes nothing stored
    loaded = await store.load_credentials()
    assert loaded == CREDS
    loaded["me"] = "changed"  # nor does changing what was loaded
    assert await store.load_credentials() == CREDS
    await store.save_credentials({"registration_id": 1})
    assert await store.load_credentials() == {"registration_id": 1}
    await store.delete_credentials()
    await store.delete_credentials()  # twice is fine
    assert await store.load_credentials() is None


async def test_json_forms_come_back_as_json(backend: Backend) -> None:
    store = backend.credentials("s1")
    await store.save_credentials({"pair": (1, 2), "big": 2**70})
    assert await store.load_credentials() == {"pair": [1, 2], "big": 2**70}


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        ({"key": b"bytes"}, TypeError),
        ({"x": math.nan}, ValueError),
        ({1: {2: object()}}, TypeError),
        ([], TypeError),
    ],
)
async def test_what_json_cannot_hold_is_refused_and_nothing_is_stored(
    backend: Backend, bad: Any, error: type[Exception]
) -> None:
    store = backend.credentials("s1")
    await store.save_credentials(CREDS)
    with pytest.raises(error):
        await store.save_credentials(bad)
    assert await store.load_credentials() == CREDS


# ----------------------------------------------------------------------------------------- device lists


async def test_device_lists(backend: Backend) -> None:
    store = backend.device_lists("s1")
    assert await store.get_device_lists([ALICE, BOB]) == {}
    assert await store.get_device_lists([]) == {}
    alice = DeviceList(ALICE, (0, 12, 3), 1_700_000_000.25)
    bob = DeviceList(BOB, (), 1_700_000_001)
    await store.put_device_lists([alice, bob])
    assert await store.get_device_lists([ALICE, BOB, CAROL, ALICE]) == {ALICE: alice, BOB: bob}
    got = (await store.get_device_lists(iter([ALICE])))[ALICE]
    assert got.devices == (0, 12, 3)  # the order given is kept
    assert got.fetched_at == 1_700_000_000.25
    newer = DeviceList(ALICE, (0,), 1_700_000_100)
    await store.put_device_lists(iter([newer]))
    await store.put_device_lists([])
    assert await store.get_device_lists([ALICE]) == {ALICE: newer}
    await store.delete_device_lists([ALICE, CAROL])
    await store.delete_device_lists([])
    assert await store.get_device_lists([ALICE, BOB]) == {BOB: bob}


async def test_device_list_values_are_checked(backend: Backend) -> None:
    store = backend.device_lists("s1")
    for jid in ("", "15550001111", "15550001111:3@s.whatsapp.net"):
        with pytest.raises(ValueError, match="user JID"):
            DeviceList(jid, (0,), 0)
        with pytest.raises(ValueError, match="user JID"):
            await store.get_device_lists([ALICE, jid])
        with pytest.raises(ValueError, match="user JID"):
            await store.delete_device_lists([jid])
    for devices in ((-1,), (2**32,), (1, 1), (True,), ("1",)):
        with pytest.raises(ValueError, match="device"):
            DeviceList(ALICE, devices, 0)  # type: ignore[arg-type]
    for when in (math.inf, math.nan, "0", None, True):
        with pytest.raises(ValueError, match="fetched_at"):
            DeviceList(ALICE, (0,), when)  # type: ignore[arg-type]
    assert DeviceList(ALICE, [0, 1], 5).devices == (0, 1)  # type: ignore[arg-type]
    good = DeviceList(BOB, (0,), 1)
    with pytest.raises(TypeError):
        await store.put_device_lists([good, (ALICE, (0,), 1)])
    assert await store.get_device_lists([BOB]) == {}  # a bad batch stores nothing


# ----------------------------------------------------------------------------------------- LID mapping


async def test_lid_mappings_both_ways(backend: Backend) -> None:
    store = backend.lid_map("s1")
    assert await store.get_lids(["15550001111"]) == {}
    await store.put_lid_mappings([("111", "15550001111"), ("222", "15550002222")])
    assert await store.get_lids(["15550001111", "15550002222", "15550009999"]) == {
        "15550001111": "111",
        "15550002222": "222",
    }
    assert await store.get_pns(iter(["222", "333"])) == {"222": "15550002222"}
    assert await store.get_pns([]) == {}


async def test_a_new_pair_replaces_either_side(backend: Backend) -> None:
    store = backend.lid_map("s1")
    await store.put_lid_mappings([("111", "15550001111"), ("222", "15550002222")])
    await store.put_lid_mappings([("111", "15550002222")])  # 111 moves to B's number: both old rows go
    assert await store.get_pns(["111", "222"]) == {"111": "15550002222"}
    assert await store.get_lids(["15550001111", "15550002222"]) == {"15550002222": "111"}
    await store.put_lid_mappings([("333", "15550002222"), ("333", "15550003333"), ("444", "15550003333")])
    # Within one call, a later pair wins over an earlier one sharing a side.
    assert await store.get_pns(["111", "333", "444"]) == {"444": "15550003333"}
    assert await store.get_lids(["15550002222", "15550003333"]) == {"15550003333": "444"}
    await store.put_lid_mappings([("444", "15550003333")])  # the same pair again changes nothing
    assert await store.get_pns(["444"]) == {"444": "15550003333"}


async def test_lid_mapping_values_are_checked(backend: Backend) -> None:
    store = backend.lid_map("s1")
    await store.put_lid_mappings([("111", "15550001111")])
    for bad in ("", "111@lid", "111:2", None):
        with pytest.raises(ValueError, match="user parts"):
            await store.put_lid_mappings([("222", "15550002222"), (bad, "15550003333")])
        with pytest.raises(ValueError, match="user parts"):
            await store.get_lids(["15550001111", bad])
        with pytest.raises(ValueError, match="user parts"):
            await store.get_pns([bad])
    assert await store.get_pns(["111", "222"]) == {"111": "15550001111"}  # a bad batch stores nothing


# ------------------------------------------------------------------------------- reopen and isolation


async def fill(backend: Backend, session_id: str, n: int) -> None:
    await backend.credentials(session_id).save_credentials({**CREDS, "n": n})
    await backend.device_lists(session_id).put_device_lists([DeviceList(ALICE, (0, n), n)])
    await backend.lid_map(session_id).put_lid_mappings([(f"{n}00", "15550001111")])


async def check(backend: Backend, session_id: str, n: int) -> None:
    assert await backend.credentials(session_id).load_credentials() == {**CREDS, "n": n}
    assert await backend.device_lists(session_id).get_device_lists([ALICE]) == {
        ALICE: DeviceList(ALICE, (0, n), n)
    }
    assert await backend.lid_map(session_id).get_lids(["15550001111"]) == {"15550001111": f"{n}00"}
    assert await backend.lid_map(session_id).get_pns([f"{n}00"]) == {f"{n}00": "15550001111"}


async def test_survives_a_reopen_and_sessions_are_apart(backend: Backend) -> None:
    await fill(backend, "alpha", 1)
    await fill(backend, "beta", 2)
    await backend.reopen()
    await check(backend, "alpha", 1)
    await check(backend, "beta", 2)
    assert await backend.credentials("gamma").load_credentials() is None
    assert await backend.device_lists("gamma").get_device_lists([ALICE]) == {}
    assert await backend.lid_map("gamma").get_pns(["100", "200"]) == {}
    await backend.credentials("alpha").delete_credentials()
    await backend.device_lists("alpha").delete_device_lists([ALICE])
    await check(backend, "beta", 2)


# ------------------------------------------------------------------------------------------ SQLite only


async def test_load_all_credentials(db: Database) -> None:
    assert await load_all_credentials(db) == {}
    for session_id in ("b", "a", "c"):
        await SqliteCredentialStore(db, session_id).save_credentials({"id": session_id})
    await SqliteCredentialStore(db, "c").delete_credentials()
    assert await load_all_credentials(db) == {"a": {"id": "a"}, "b": {"id": "b"}}


async def test_each_call_is_one_transaction(db: Database) -> None:
    counting = CountingDatabase(db)
    creds = SqliteCredentialStore(counting, "s1")  # type: ignore[arg-type]
    devices = SqliteDeviceListStore(counting, "s1")  # type: ignore[arg-type]
    lids = SqliteLidMapStore(counting, "s1")  # type: ignore[arg-type]
    users = [f"1555{i:07d}" for i in range(2000)]
    jids = [f"{user}@s.whatsapp.net" for user in users]
    await creds.save_credentials(CREDS)
    assert await creds.load_credentials() == CREDS
    await creds.delete_credentials()
    assert counting.take() == (1, 2)
    await devices.put_device_lists(DeviceList(jid, (0, 1), 1) for jid in jids)
    assert len(await devices.get_device_lists(jids)) == 2000
    await devices.delete_device_lists(jids[:1000])
    assert counting.take() == (1, 2)
    await lids.put_lid_mappings((f"9{user}", user) for user in users)
    assert len(await lids.get_lids(users)) == 2000
    assert len(await lids.get_pns(f"9{user}" for user in users)) == 2000
    assert counting.take() == (2, 1)
    assert len(await devices.get_device_lists(jids)) == 1000


async def test_the_json_text_is_canonical(db: Database) -> None:
    await SqliteCredentialStore(db, "s1").save_credentials({"b": 1, "a": [1, 2]})
    rows = await db.read(lambda conn: conn.execute("SELECT data FROM wa_credentials").fetchall())
    assert rows == [('{"a":[1,2],"b":1}',)]
    before = await dump(db)
    await SqliteCredentialStore(db, "s1").save_credentials({"a": [1, 2], "b": 1})
    assert await dump(db) == before


async def test_an_empty_session_id_is_refused(db: Database) -> None:
    for cls in (SqliteCredentialStore, SqliteDeviceListStore, SqliteLidMapStore):
        with pytest.raises(ValueError, match="session id"):
            cls(db, "")


# ------------------------------------------------------------------------- memory and SQLite agree


@pytest.mark.parametrize("seed", range(8))
async def test_random_operations_agree_with_memory(tmp_path: Path, seed: int) -> None:
    """The same random operations on both backends give the same answers, step by step."""
    rng = random.Random(seed)
    memory, sqlite = Backend("memory", tmp_path / "m.db"), Backend("sqlite", tmp_path / "s.db")
    await memory.open()
    await sqlite.open()
    lids = [str(100 + i) for i in range(5)]
    pns = [f"1555000{i:04d}" for i in range(5)]
    jids = [f"{pn}@s.whatsapp.net" for pn in pns[:3]] + ["100@lid", "101@lid"]
    try:
        for step in range(60):
            op = rng.randrange(6)
            session_id = rng.choice(["a", "b"])
            answers = []
            for backend in (memory, sqlite):
                lid_map, devices = backend.lid_map(session_id), backend.device_lists(session_id)
                state = random.Random(seed * 1000 + step)  # the same arguments for both backends
                if op == 0:
                    pairs = [(state.choice(lids), state.choice(pns)) for _ in range(state.randrange(1, 4))]
                    answers.append(await lid_map.put_lid_mappings(pairs))
                elif op == 1:
                    answers.append(await lid_map.get_lids(state.sample(pns, 3)))
                elif op == 2:
                    answers.append(await lid_map.get_pns(state.sample(lids, 3)))
                elif op == 3:
                    lists = [
                        DeviceList(
                            jid, tuple(state.sample(range(30), state.randrange(4))), state.randrange(100)
                        )
                        for jid in state.sample(jids, state.randrange(1, 3))
                    ]
                    answers.append(await devices.put_device_lists(lists))
                elif op == 4:
                    answers.append(await devices.get_device_lists(state.sample(jids, 3)))
                else:
                    answers.append(await devices.delete_device_lists(state.sample(jids, 2)))
            assert answers[0] == answers[1], (step, op)
            if step % 20 == 19:
                await sqlite.reopen()
        for session_id in ("a", "b"):
            mem_lids, sql_lids = memory.lid_map(session_id), sqlite.lid_map(session_id)
            assert await sql_lids.get_lids(pns) == await mem_lids.get_lids(pns)
            assert await sql_lids.get_pns(lids) == await mem_lids.get_pns(lids)
            mem_devices, sql_devices = memory.device_lists(session_id), sqlite.device_lists(session_id)
            assert await sql_devices.get_device_lists(jids) == await mem_devices.get_device_lists(jids)
    finally:
        await sqlite.close()
