"""The hub's SQLite device-list and LID-map stores are waproto's directory stores: mypy checks the
Protocols structurally, and a ``waproto.client.directory.Directory`` runs on them (lists and mappings
survive reopening the database, notifications change the stored rows, sessions stay apart)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import cast

from tests.waproto.client.test_directory import ALICE, BOB, Clock, FakeClient, make_registry
from waporta.storage import Database
from waporta.storage.stores import SqliteDeviceListStore, SqliteLidMapStore
from waproto.binary import Node
from waproto.client import Client
from waproto.client.directory import CheckResult, DeviceListStore, Directory, LidMapStore, device_list_hash


def _conforms(db: Database) -> tuple[DeviceListStore, LidMapStore]:
    """Where mypy checks that the SQLite stores are the waproto Protocols."""
    devices: DeviceListStore = SqliteDeviceListStore(db, "s1")
    lids: LidMapStore = SqliteLidMapStore(db, "s1")
    return devices, lids


def _directory(client: FakeClient, db: Database, clock: Clock, session_id: str = "s1") -> Directory:
    return Directory(
        cast(Client, client),
        device_store=SqliteDeviceListStore(db, session_id),
        lid_store=SqliteLidMapStore(db, session_id),
        now=clock,
        rng=random.Random(3).randbytes,
    )


async def test_a_directory_on_the_sqlite_stores(tmp_path: Path) -> None:
    path = tmp_path / "waporta.db"
    client, clock = FakeClient(make_registry()), Clock()
    db = await Database.open(path)
    try:
        devices, lids = _conforms(db)
        directory = _directory(client, db, clock)
        lists = await directory.devices([ALICE.jid, BOB.lid_jid])
        assert lists[ALICE.jid] == [ALICE.jid.with_device(d) for d in (0, 3, 12)]
        assert await directory.check([BOB.phone]) == {BOB.phone: CheckResult(True, BOB.jid, BOB.lid_jid)}
        await directory.learn(Node("message", {"from": BOB.jid, "sender_lid": BOB.lid_jid}))
        grown = [ALICE.jid.with_device(d) for d in (0, 3, 12, 30)]
        change = Node("add", {"device_hash": device_list_hash(grown)}, [Node("device", {"jid": grown[-1]})])
        await directory.on_devices_notification(
            Node("notification", {"from": ALICE.jid, "type": "devices", "id": "1"}, [change])
        )
        stored = await devices.get_device_lists([str(ALICE.jid)])
        assert stored[str(ALICE.jid)].devices == (0, 3, 12, 30)
        assert await lids.get_lids([ALICE.phone, BOB.phone]) == {ALICE.phone: ALICE.lid, BOB.phone: BOB.lid}
        # Another hub session in the same file sees none of it.
        other = _directory(client, db, clock, "s2")
        assert await other.pn_for(BOB.lid_jid) is None
    finally:
        await db.aclose()
    asked = len(client.queries)
    db = await Database.open(path)
    try:
        reopened = _directory(client, db, clock)
        assert (await reopened.devices([ALICE.jid, BOB.lid_jid]))[ALICE.jid] == grown
        assert await reopened.pn_for(BOB.lid_jid) == BOB.jid
        assert await reopened.lid_for([ALICE.jid]) == {ALICE.jid: ALICE.lid_jid}
        assert len(client.queries) == asked  # everything came from the file
    finally:
        await db.aclose()
