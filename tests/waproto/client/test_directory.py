"""waproto.client.directory: device lists (one usync for all misses, max age, devices notifications),
LID mappings (usync, learnt from stanza attributes, our own), number checks, the store Protocols.

Most tests drive a :class:`Directory` over a fake client whose ``query`` is answered by the sandbox's
usync code on an in-memory registry, through the binary codec; the last ones run against the sandbox
served on 127.0.0.1 with our real client linked to it.
"""

from __future__ import annotations

import dataclasses
import random
import secrets
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import cast

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.interop.harness import Harness
from tests.waproto.client.test_client import login, start
from tests.waproto.client.test_sandbox import PHONE, link_by_qr, next_event, settings_for
from tests.waproto.sandbox.interop_helpers import Served, Sock, call, served_sandbox
from tests.waproto.test_credentials import paired
from waproto.binary import Node, marshal, unmarshal
from waproto.client import Client, Connected, IqError, MemoryClientStore, QRCode, open_client
from waproto.client.directory import (
    DEFAULT_MAX_AGE,
    CheckResult,
    DeviceList,
    DeviceListStore,
    Directory,
    LidMapStore,
    MemoryDeviceListStore,
    MemoryLidMapStore,
    device_list_hash,
    lid_pairs,
)
from waproto.credentials import Credentials
from waproto.errors import InvalidValue, LocalProtocolError
from waproto.jid import JID, SERVER_JID
from waproto.sandbox.registry import Account, MemoryRegistry
from waproto.sandbox.routing import route_message
from waproto.sandbox.usync import answer_usync

PN = "s.whatsapp.net"
LID = "lid"
ME = Account("15550002222", "200000000000002", "Me")
ALICE = Account("15550001111", "100000000000001", "Alice")
BOB = Account("15550003333", "100000000000003", "Bob")
NOBODY = JID("15559999999", PN)
MY_DEVICE = 5


class FakeClient:
    """What the directory uses of a Client: credentials, notification_handlers and query (answered by the
    sandbox's usync code, through the binary codec); records the usync queries."""

    def __init__(self, registry: MemoryRegistry) -> None:
        self.registry = registry
        creds = Credentials.generate(random.Random(1).randbytes)
        self.credentials = dataclasses.replace(
            creds, me=ME.jid.with_device(MY_DEVICE), lid=ME.lid_jid.with_device(MY_DEVICE)
        )
        self.notification_handlers: dict[str, object] = {}
        self.queries: list[Node] = []

    async def query(self, node: Node) -> Node:
        wire = unmarshal(marshal(Node(node.tag, {**node.attrs, "id": str(len(self.queries))}, node.content)))
        self.queries.append(wire)
        answer = unmarshal(marshal(answer_usync(wire, self.registry)))
        if answer.attrs.get("type") == "error":
            raise IqError("refused", node=answer, code=400)
        return answer

    def asked_users(self, index: int = -1) -> list[str]:
        usync = self.queries[index].child("usync")
        assert usync is not None
        listed = usync.child("list")
        assert listed is not None
        return [str(user.attrs.get("jid")) for user in listed.children]


@pytest.fixture
def registry() -> MemoryRegistry:
    return make_registry()


def make_registry() -> MemoryRegistry:
    """ME (with this device, 5), ALICE (devices 0, 3, 12) and BOB (his phone only)."""
    registry = MemoryRegistry()
    for account in (ME, ALICE, BOB):
        registry.add_account(account)
    registry.devices[ME.phone][MY_DEVICE] = None
    registry.devices[ALICE.phone][3] = None
    registry.devices[ALICE.phone][12] = None
    return registry


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def _directory(client: FakeClient, clock: Clock, **kwargs: object) -> Directory:
    return Directory(cast(Client, client), now=clock, rng=random.Random(2).randbytes, **kwargs)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- device lists


async def test_one_usync_for_all_misses_then_the_cache(registry: MemoryRegistry) -> None:
    client, clock = FakeClient(registry), Clock()
    directory = _directory(client, clock)
    lists = await directory.devices([ALICE.jid.with_device(3), BOB.lid_jid, NOBODY, ALICE.jid])
    assert lists == {
        ALICE.jid: [ALICE.jid.with_device(d) for d in (0, 3, 12)],
        BOB.lid_jid: [BOB.lid_jid],
        NOBODY: [],
    }
    assert len(client.queries) == 1
    assert client.asked_users() == [str(ALICE.jid), str(BOB.lid_jid), str(NOBODY)]
    usync = client.queries[0].child("usync")
    assert usync is not None
    query = usync.child("query")
    assert query is not None
    assert [p.tag for p in query.children] == ["devices", "lid"]
    # Cached now (but an empty answer is not: NOBODY is asked again, alone).
    clock.now += DEFAULT_MAX_AGE - 1
    again = await directory.devices([ALICE.jid, BOB.lid_jid, NOBODY])
    assert again == {ALICE.jid: lists[ALICE.jid], BOB.lid_jid: [BOB.lid_jid], NOBODY: []}
    assert len(client.queries) == 2
    assert client.asked_users() == [str(NOBODY)]
    # The device query's <lid val> taught ALICE's mapping.
    assert await directory.lid_store.get_lids([ALICE.phone]) == {ALICE.phone: ALICE.lid}


async def test_lists_age_out_and_a_clock_going_back_refetches(registry: MemoryRegistry) -> None:
    client, clock = FakeClient(registry), Clock()
    directory = _directory(client, clock, max_age=60.0)
    await directory.devices([ALICE.jid])
    clock.now += 59
    await directory.devices([ALICE.jid])
    assert len(client.queries) == 1
    registry.devices[ALICE.phone][20] = None
    clock.now += 1
    assert JID(ALICE.phone, PN, device=20) in (await directory.devices([ALICE.jid]))[ALICE.jid]
    assert len(client.queries) == 2
    clock.now -= 3600
    await directory.devices([ALICE.jid])
    assert len(client.queries) == 3
    with pytest.raises(LocalProtocolError):
        _directory(client, clock, max_age=0.0)


async def test_own_device_left_out_only_when_asked(registry: MemoryRegistry) -> None:
    client, clock = FakeClient(registry), Clock()
    directory = _directory(client, clock)
    mine = await directory.devices([ME.jid, ME.lid_jid])
    assert mine[ME.jid] == [ME.jid, ME.jid.with_device(MY_DEVICE)]
    assert mine[ME.lid_jid] == [ME.lid_jid, ME.lid_jid.with_device(MY_DEVICE)]
    others = await directory.devices([ME.jid, ME.lid_jid, ALICE.jid], exclude_self=True)
    assert others[ME.jid] == [ME.jid]
    assert others[ME.lid_jid] == [ME.lid_jid]
    assert len(others[ALICE.jid]) == 3
    assert len(client.queries) == 2  # ALICE only was new


async def test_stored_lists_survive_a_restart_and_forget_drops_them(registry: MemoryRegistry) -> None:
    client, clock = FakeClient(registry), Clock()
    devices, lids = MemoryDeviceListStore(), MemoryLidMapStore()
    await _directory(client, clock, device_store=devices, lid_store=lids).devices([ALICE.jid, BOB.jid])
    stored = await devices.get_device_lists([str(ALICE.jid)])
    assert stored == {str(ALICE.jid): DeviceList(str(ALICE.jid), (0, 3, 12), clock.now)}
    restarted = _directory(client, clock, device_store=devices, lid_store=lids)
    assert len((await restarted.devices([ALICE.jid, BOB.jid]))[ALICE.jid]) == 3
    assert len(client.queries) == 1
    await restarted.forget([ALICE.jid.with_device(3)])
    assert await devices.get_device_lists([str(ALICE.jid)]) == {}
    await restarted.devices([ALICE.jid, BOB.jid])
    assert client.asked_users() == [str(ALICE.jid)]


async def test_only_users_have_device_lists(registry: MemoryRegistry) -> None:
    directory = _directory(FakeClient(registry), Clock())
    for bad in (JID("120363000000000001", "g.us"), JID("", PN), JID("status", "broadcast")):
        with pytest.raises(LocalProtocolError):
            await directory.devices([bad])
    with pytest.raises(LocalProtocolError):
        await directory.forget([JID("1", "g.us")])


async def test_a_refused_query_caches_nothing(registry: MemoryRegistry) -> None:
    client, clock = FakeClient(registry), Clock()
    directory = _directory(client, clock)

    async def refuse(node: Node) -> Node:
        raise IqError("refused", code=500)

    client.query = refuse  # type: ignore[method-assign]
    with pytest.raises(IqError):
        await directory.devices([ALICE.jid])
    assert await directory.device_store.get_device_lists([str(ALICE.jid)]) == {}


# ----------------------------------------------------------------------------- devices notifications


def _devices_notification(
    tag: str, device: JID, *, hash_of: list[JID] | None = None, lid: JID | None = None
) -> Node:
    attrs: dict[str, str | JID] = {"jid": device}
    change_attrs: dict[str, str | JID] = {}
    if hash_of is not None:
        change_attrs["device_hash"] = device_list_hash(hash_of)
    if lid is not None:
        attrs["lid"] = lid
    change = Node(tag, change_attrs, [Node("device", attrs), Node("key-index-list", {"ts": "1"}, b"\x01")])
    return Node(
        "notification", {"from": device.to_non_ad(), "type": "devices", "id": "n1", "t": "1"}, [change]
    )


async def _cached_ids(directory: Directory, user: JID) -> tuple[int, ...] | None:
    found = await directory.device_store.get_device_lists([str(user)])
    return found[str(user)].devices if str(user) in found else None


async def test_add_and_remove_update_a_cached_list(registry: MemoryRegistry) -> None:
    client, clock = FakeClient(registry), Clock()
    directory = _directory(client, clock)
    assert client.notification_handlers["devices"] == directory.on_devices_notification
    await directory.devices([ALICE.jid])
    new = ALICE.jid.with_device(40)
    after_add = [ALICE.jid.with_device(d) for d in (0, 3, 12, 40)]
    clock.now += 100
    await directory.on_devices_notification(_devices_notification("add", new, hash_of=after_add))
    assert await _cached_ids(directory, ALICE.jid) == (0, 3, 12, 40)
    assert (await directory.device_store.get_device_lists([str(ALICE.jid)]))[
        str(ALICE.jid)
    ].fetched_at == clock.now
    gone = ALICE.jid.with_device(3)
    after_remove = [ALICE.jid.with_device(d) for d in (0, 12, 40)]
    await directory.on_devices_notification(_devices_notification("remove", gone, hash_of=after_remove))
    assert (await directory.devices([ALICE.jid]))[ALICE.jid] == after_remove
    # Without a hash the change is applied, keeping the fetch time (the list still ages out).
    await directory.on_devices_notification(_devices_notification("remove", ALICE.jid.with_device(40)))
    assert await _cached_ids(directory, ALICE.jid) == (0, 12)
    assert len(client.queries) == 1


async def test_a_hash_mismatch_or_update_drops_the_list(registry: MemoryRegistry) -> None:
    client, clock = FakeClient(registry), Clock()
    directory = _directory(client, clock)
    await directory.devices([ALICE.jid, BOB.jid])
    wrong = [ALICE.jid]  # the server's list differs from ours plus the new device
    await directory.on_devices_notification(
        _devices_notification("add", ALICE.jid.with_device(40), hash_of=wrong)
    )
    assert await _cached_ids(directory, ALICE.jid) is None
    update = Node(
        "notification", {"from": BOB.jid, "type": "devices", "id": "n2"}, [Node("update", {"hash": "x"})]
    )
    await directory.on_devices_notification(update)
    assert await _cached_ids(directory, BOB.jid) is None
    await directory.devices([ALICE.jid, BOB.jid])
    assert client.asked_users() == [str(ALICE.jid), str(BOB.jid)]


async def test_an_uncached_user_is_left_to_the_next_query(registry: MemoryRegistry) -> None:
    client, clock = FakeClient(registry), Clock()
    directory = _directory(client, clock)
    await directory.on_devices_notification(_devices_notification("add", ALICE.jid.with_device(40)))
    assert await _cached_ids(directory, ALICE.jid) is None
    assert client.queries == []


async def test_a_notification_with_a_lid_updates_both_lists_and_the_mapping(registry: MemoryRegistry) -> None:
    client, clock = FakeClient(registry), Clock()
    directory = _directory(client, clock)
    await directory.devices([ALICE.jid, ALICE.lid_jid])
    pn_after = [ALICE.jid.with_device(d) for d in (0, 12)]
    lid_after = [ALICE.lid_jid.with_device(d) for d in (0, 12)]
    change = Node(
        "remove",
        {"device_hash": device_list_hash(pn_after), "device_lid_hash": device_list_hash(lid_after)},
        [Node("device", {"jid": ALICE.jid.with_device(3), "lid": ALICE.lid_jid.with_device(3)})],
    )
    await directory.lid_store.put_lid_mappings([])
    node = Node(
        "notification", {"from": ALICE.jid, "lid": ALICE.lid_jid, "type": "devices", "id": "n3"}, [change]
    )
    await directory.on_devices_notification(node)
    assert await _cached_ids(directory, ALICE.jid) == (0, 12)
    assert await _cached_ids(directory, ALICE.lid_jid) == (0, 12)
    assert await directory.pn_for(ALICE.lid_jid) == ALICE.jid


@pytest.mark.parametrize(
    "node",
    [
        Node("notification", {"type": "devices", "id": "1"}),
        Node("notification", {"type": "devices", "from": "not a jid", "id": "1"}),
        Node("notification", {"type": "devices", "from": JID("1", "g.us"), "id": "1"}),
        Node(
            "notification",
            {"type": "devices", "from": ALICE.jid},
            [Node("add", {}, [Node("device", {"jid": "x@y@z"})])],
        ),
        Node(  # another user's or server's device is not ALICE's
            "notification",
            {"type": "devices", "from": ALICE.jid},
            [
                Node(
                    "add",
                    {},
                    [
                        Node("device", {"jid": BOB.jid.with_device(9)}),
                        Node("device", {"jid": JID(ALICE.phone, "hosted", device=99)}),
                    ],
                )
            ],
        ),
    ],
)
async def test_malformed_notifications_are_ignored(registry: MemoryRegistry, node: Node) -> None:
    directory = _directory(FakeClient(registry), Clock())
    await directory.devices([ALICE.jid])
    await directory.on_devices_notification(node)
    assert await _cached_ids(directory, ALICE.jid) == (0, 3, 12)


def _notifications() -> st.SearchStrategy[Node]:
    jids = st.sampled_from(
        [
            ALICE.jid,
            ALICE.jid.with_device(7),
            ALICE.lid_jid,
            ALICE.lid_jid.with_device(2),
            "x",
            "@",
            "1:2:3@lid",
            "",
        ]
    )
    device = st.builds(
        Node, st.just("device"), st.dictionaries(st.sampled_from(["jid", "lid"]), jids, max_size=2)
    )
    change = st.builds(
        Node,
        st.sampled_from(["add", "remove", "update", "other"]),
        st.dictionaries(
            st.sampled_from(["device_hash", "device_lid_hash"]),
            st.sampled_from(["", "2:AAAAAAAA", "x"]),
            max_size=2,
        ),
        st.one_of(st.none(), st.binary(max_size=4), st.lists(device, max_size=3)),
    )
    return st.builds(
        Node,
        st.just("notification"),
        st.fixed_dictionaries({"type": st.just("devices")}, optional={"from": jids, "lid": jids}),
        st.one_of(st.none(), st.lists(change, max_size=3)),
    )


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_notifications(), max_size=4))
async def test_garbage_notifications_never_raise(registry: MemoryRegistry, nodes: list[Node]) -> None:
    directory = _directory(FakeClient(registry), Clock())
    await directory.devices([ALICE.jid, ALICE.lid_jid])
    for node in nodes:
        await directory.on_devices_notification(node)
    for user in (ALICE.jid, ALICE.lid_jid):
        ids = await _cached_ids(directory, user)
        assert ids is None or len(set(ids)) == len(ids)


def test_device_list_hash_is_whatsmeows_v2() -> None:
    # sorted "15550001111.0:0@s.whatsapp.net15550001111.0:3@s.whatsapp.net", SHA-256, 6 bytes, base64.
    jids = [ALICE.jid.with_device(3), ALICE.jid]
    assert device_list_hash(jids) == device_list_hash(reversed(jids))
    assert device_list_hash(jids).startswith("2:")
    assert len(device_list_hash(jids)) == 10
    assert device_list_hash(jids) != device_list_hash([ALICE.jid])


# ----------------------------------------------------------------------------- LID mappings


async def test_lid_for_uses_the_store_then_one_query(registry: MemoryRegistry) -> None:
    client, clock = FakeClient(registry), Clock()
    directory = _directory(client, clock)
    await directory.lid_store.put_lid_mappings([(BOB.lid, BOB.phone)])
    found = await directory.lid_for([ALICE.jid.with_device(3), BOB.jid, NOBODY, ME.jid])
    assert found == {ALICE.jid: ALICE.lid_jid, BOB.jid: BOB.lid_jid, ME.jid: ME.lid_jid}
    assert len(client.queries) == 1
    assert client.asked_users() == [str(ALICE.jid), str(NOBODY)]
    assert await directory.lid_for([ALICE.jid, BOB.jid]) == {ALICE.jid: ALICE.lid_jid, BOB.jid: BOB.lid_jid}
    assert len(client.queries) == 1
    assert await directory.lid_for([]) == {}
    with pytest.raises(LocalProtocolError):
        await directory.lid_for([ALICE.lid_jid])


async def test_known_lids_reads_the_store_only(registry: MemoryRegistry) -> None:
    """known_lids never asks the server (the receive path calls it): stored pairs and our own, else none."""
    client, clock = FakeClient(registry), Clock()
    directory = _directory(client, clock)
    assert await directory.known_lids([ALICE.jid, BOB.jid]) == {}
    await directory.lid_store.put_lid_mappings([(BOB.lid, BOB.phone)])
    found = await directory.known_lids([ALICE.jid, BOB.jid.with_device(2), BOB.jid, ME.jid.with_device(MY_DEVICE)])
    assert found == {BOB.jid: BOB.lid_jid, ME.jid: ME.lid_jid}
    assert await directory.known_lids([]) == {}
    assert client.queries == []
    with pytest.raises(LocalProtocolError):
        await directory.known_lids([ALICE.lid_jid])


async def test_pn_for_knows_what_was_stored_and_our_own(registry: MemoryRegistry) -> None:
    client, clock = FakeClient(registry), Clock()
    directory = _directory(client, clock)
    assert await directory.pn_for(ALICE.lid_jid) is None
    await directory.lid_for([ALICE.jid])
    assert await directory.pn_for(ALICE.lid_jid.with_device(3)) == ALICE.jid
    assert await directory.pn_for(ME.lid_jid) == ME.jid
    with pytest.raises(LocalProtocolError):
        await directory.pn_for(ALICE.jid)


def _route(registry: MemoryRegistry, to: JID) -> list[Node]:
    enc = Node("enc", {"v": "2", "type": "msg"}, b"x")
    message = Node(
        "message",
        {"id": "3EB0AA", "to": to, "type": "text"},
        [
            Node(
                "participants",
                {},
                [
                    Node("to", {"jid": to.with_device(0)}, [enc]),
                    Node("to", {"jid": ALICE.jid.with_device(3)}, [enc]),
                ],
            )
        ],
    )
    routed = route_message(registry, ALICE.jid, message, now=1)
    assert routed.error is None
    return [delivery.node for delivery in routed.deliveries]


async def test_learn_from_routed_messages_in_both_addressings(registry: MemoryRegistry) -> None:
    for to in (BOB.lid_jid, BOB.jid):
        delivered = _route(registry, to)
        assert len(delivered) == 2
        assert lid_pairs(delivered[0]) == [(ALICE.lid_jid, ALICE.jid)]
        directory = _directory(FakeClient(registry), Clock())
        for node in delivered:
            await directory.learn(unmarshal(marshal(node)))
        assert await directory.lid_store.get_lids([ALICE.phone]) == {ALICE.phone: ALICE.lid}


def test_lid_pairs_of_every_attribute() -> None:
    group = JID("120363000000000001", "g.us")
    assert lid_pairs(
        Node(
            "message",
            {
                "from": group,
                "participant": ALICE.lid_jid.with_device(2),
                "participant_pn": ALICE.jid,
                "addressing_mode": "lid",
            },
        )
    ) == [(ALICE.lid_jid, ALICE.jid)]
    assert lid_pairs(
        Node("message", {"from": group, "participant": ALICE.jid, "participant_lid": ALICE.lid_jid})
    ) == [(ALICE.lid_jid, ALICE.jid)]
    own = Node(
        "message", {"from": ME.jid.with_device(0), "recipient": BOB.lid_jid, "peer_recipient_pn": BOB.jid}
    )
    assert lid_pairs(own) == [(BOB.lid_jid, BOB.jid)]
    receipt = Node("receipt", {"from": BOB.jid.with_device(2), "sender_lid": BOB.lid_jid.with_device(2)})
    assert lid_pairs(receipt) == [(BOB.lid_jid, BOB.jid)]
    broadcast = Node(
        "message",
        {"from": JID("status", "broadcast")},
        [
            Node(
                "participants",
                {},
                [Node("to", {"jid": BOB.lid_jid, "peer_recipient_pn": BOB.jid}), Node("to", {"jid": "bad"})],
            )
        ],
    )
    assert lid_pairs(broadcast) == [(BOB.lid_jid, BOB.jid)]
    # Two of a kind, malformed and missing values tell nothing.
    nothing: list[dict[str, str | JID]] = [
        {"from": ALICE.jid, "sender_lid": BOB.jid},
        {"from": ALICE.lid_jid, "sender_pn": BOB.lid_jid},
        {"from": "x@y@z", "sender_lid": ALICE.lid_jid},
        {"from": ALICE.jid, "sender_lid": "not a jid"},
        {"from": ALICE.jid},
        {"from": JID("", PN), "sender_lid": ALICE.lid_jid},
    ]
    for attrs in nothing:
        assert lid_pairs(Node("message", attrs)) == []


_ATTR_VALUES = st.one_of(
    st.sampled_from(
        [ALICE.jid, ALICE.lid_jid.with_device(3), JID("", PN), JID("1", "g.us"), "x@y@z", "1@lid", ""]
    ),
    st.text(max_size=10),
)
_STANZAS = st.builds(
    Node,
    st.sampled_from(["message", "receipt", "notification"]),
    st.dictionaries(
        st.sampled_from(
            [
                "from",
                "participant",
                "recipient",
                "sender_lid",
                "sender_pn",
                "participant_pn",
                "participant_lid",
                "peer_recipient_pn",
                "peer_recipient_lid",
                "lid",
            ]
        ),
        _ATTR_VALUES,
        max_size=5,
    ),
    st.one_of(
        st.none(),
        st.lists(
            st.builds(
                Node,
                st.just("participants"),
                st.just({}),
                st.lists(
                    st.builds(
                        Node,
                        st.just("to"),
                        st.dictionaries(st.sampled_from(["jid", "peer_recipient_pn"]), _ATTR_VALUES),
                    )
                ),
            ),
            max_size=1,
        ),
    ),
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_STANZAS, max_size=5))
async def test_learning_from_garbage_never_raises(registry: MemoryRegistry, nodes: list[Node]) -> None:
    directory = _directory(FakeClient(registry), Clock())
    for node in nodes:
        for lid, pn in lid_pairs(node):
            assert (lid.server, pn.server) == (LID, PN)
            assert not lid.is_ad
            assert not pn.is_ad
        await directory.learn(node)


class CountingLidStore(MemoryLidMapStore):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    async def put_lid_mappings(self, pairs: Iterable[tuple[str, str]]) -> None:
        self.writes += 1
        await super().put_lid_mappings(pairs)


async def test_learn_writes_a_known_pair_once(registry: MemoryRegistry) -> None:
    store = CountingLidStore()
    directory = _directory(FakeClient(registry), Clock(), lid_store=store)
    node = Node("message", {"from": ALICE.jid, "sender_lid": ALICE.lid_jid})
    for _ in range(3):
        await directory.learn(node)
    await directory.learn(Node("message", {"from": ALICE.jid}))
    assert store.writes == 1
    await directory.learn(Node("message", {"from": ALICE.jid, "sender_lid": BOB.lid_jid}))  # a new LID
    assert store.writes == 2
    assert await directory.lid_for([ALICE.jid]) == {ALICE.jid: BOB.lid_jid}
    await directory.learn(node)  # back to the first LID: written again, though it was seen before
    assert store.writes == 3
    assert await directory.lid_for([ALICE.jid]) == {ALICE.jid: ALICE.lid_jid}


# ----------------------------------------------------------------------------- check numbers


async def test_check_numbers(registry: MemoryRegistry) -> None:
    client, clock = FakeClient(registry), Clock()
    directory = _directory(client, clock)
    found = await directory.check(["+" + ALICE.phone, NOBODY.user, ALICE.phone])
    assert found == {
        "+" + ALICE.phone: CheckResult(True, ALICE.jid, ALICE.lid_jid),
        NOBODY.user: CheckResult(False, None, None),
        ALICE.phone: CheckResult(True, ALICE.jid, ALICE.lid_jid),
    }
    assert len(client.queries) == 1
    usync = client.queries[0].child("usync")
    assert usync is not None
    assert usync.attrs["context"] == "interactive"
    listed = usync.child("list")
    assert listed is not None
    assert len(listed.children) == 2  # each number asked once
    assert await directory.pn_for(ALICE.lid_jid) == ALICE.jid
    assert await directory.check([]) == {}
    assert len(client.queries) == 1
    for bad in ("", "abc", "+", "1 555"):
        with pytest.raises(LocalProtocolError):
            await directory.check([ALICE.phone, bad])
    assert len(client.queries) == 1


# ----------------------------------------------------------------------------- stores


def test_memory_stores_are_the_protocols() -> None:
    devices: DeviceListStore = MemoryDeviceListStore()
    lids: LidMapStore = MemoryLidMapStore()
    assert devices is not None
    assert lids is not None


async def test_memory_stores_check_values() -> None:
    for jid in ("", "15550001111", "15550001111:3@s.whatsapp.net"):
        with pytest.raises(ValueError, match="user JID"):
            DeviceList(jid, (0,), 0)
        with pytest.raises(InvalidValue):
            await MemoryDeviceListStore().get_device_lists([jid])
    for devices in ((-1,), (2**32,), (1, 1), (True,), ("1",)):
        with pytest.raises(InvalidValue, match="device"):
            DeviceList("1@lid", devices, 0)  # type: ignore[arg-type]
    for when in (float("inf"), float("nan"), "0", None, True):
        with pytest.raises(InvalidValue, match="fetched_at"):
            DeviceList("1@lid", (0,), when)  # type: ignore[arg-type]
    store = MemoryDeviceListStore()
    with pytest.raises(TypeError):
        await store.put_device_lists([DeviceList("1@lid", (0,), 1), ("2@lid", (0,), 1)])  # type: ignore[list-item]
    assert await store.get_device_lists(["1@lid"]) == {}
    lids = MemoryLidMapStore()
    await lids.put_lid_mappings([("1", "10"), ("2", "20"), ("1", "20")])
    assert await lids.get_lids(["10", "20"]) == {"20": "1"}
    assert await lids.get_pns(["1", "2"]) == {"1": "20"}
    for bad in ("", "1@lid", "1:2"):
        with pytest.raises(InvalidValue):
            await lids.put_lid_mappings([(bad, "1")])


# ----------------------------------------------------------------------------- against the served sandbox

OTHER = "15550004444"


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with served_sandbox(tmp_path / "state") as running:
        await running.create_account(PHONE, name="Alice")
        await running.create_account(OTHER, name="Other")
        yield running


async def _linked(served: Served) -> MemoryClientStore:
    creds = Credentials.generate(secrets.token_bytes, push_name="waporta")
    store = MemoryClientStore(creds)
    await link_by_qr(served, store, creds)
    return store


async def test_check_and_device_notifications_against_the_sandbox(served: Served) -> None:
    store = await _linked(served)
    assert store.credentials is not None
    other = served.sandbox.network.accounts[OTHER]
    acks: list[Node] = []
    acked = trio.Event()
    original_ack = served.sandbox.stanza_handlers["ack"]

    async def record_ack(connection: object, node: Node) -> None:
        acks.append(node)
        if node.attrs.get("id") == "dev-1":
            acked.set()
        await original_ack(connection, node)  # type: ignore[arg-type]

    served.sandbox.stanza_handlers["ack"] = record_ack
    async with open_client(settings_for(served), store.credentials, store) as client:
        assert isinstance(await next_event(client, Connected), Connected)
        directory = Directory(client)
        with trio.fail_after(15):
            found = await directory.check([OTHER, "15559999999"])
        assert found == {
            OTHER: CheckResult(True, other.jid, other.lid_jid),
            "15559999999": CheckResult(False, None, None),
        }
        assert await directory.pn_for(other.lid_jid) == other.jid
        me = client.credentials.me
        assert me is not None
        with trio.fail_after(15):
            lists = await directory.devices([other.jid, me], exclude_self=True)
        assert lists == {other.jid: [other.jid], me.to_non_ad(): [me.to_non_ad()]}
        # The server tells of a new companion of OTHER: the cached list grows, the notification is acked.
        grown = [other.jid, other.jid.with_device(8)]
        notification = Node(
            "notification",
            {"from": other.jid, "type": "devices", "id": "dev-1", "t": "1"},
            [Node("add", {"device_hash": device_list_hash(grown)}, [Node("device", {"jid": grown[1]})])],
        )
        await served.sandbox.connections[me].send_node(notification)
        with trio.fail_after(15):
            await acked.wait()
        ack = next(ack for ack in acks if ack.attrs.get("id") == "dev-1")
        assert (ack.attrs.get("class"), ack.attrs.get("type")) == ("notification", "devices")
        assert (await directory.devices([other.jid]))[other.jid] == grown


async def test_the_sandbox_announces_linked_and_unlinked_companions(served: Served) -> None:
    store = await _linked(served)
    assert store.credentials is not None
    other = served.sandbox.network.accounts[OTHER]
    async with open_client(settings_for(served), store.credentials, store) as client:
        assert isinstance(await next_event(client, Connected), Connected)
        directory = Directory(client)
        told_send, told = trio.open_memory_channel[Node](8)
        handler = client.notification_handlers["devices"]

        async def spy(node: Node) -> None:
            await handler(node)
            await told_send.send(node)

        client.notification_handlers["devices"] = spy
        with trio.fail_after(15):
            assert await directory.devices([other.jid]) == {other.jid: [other.jid]}
        # A companion of OTHER links: we are told, with hashes that match our list plus the new device.
        creds = Credentials.generate(secrets.token_bytes)
        second_store = MemoryClientStore(creds)
        async with open_client(settings_for(served), creds, second_store) as second:
            qr = await next_event(second, QRCode)
            assert isinstance(qr, QRCode)
            response = await served.post(f"/sandbox/accounts/{OTHER}/scan", {"qr": qr.qr})
            assert response.status_code == 200, response.text
            companion = JID.parse(response.json()["jid"])
            with trio.fail_after(15):
                added = await told.receive()
            change = added.children[0]
            assert (added.attrs["from"], added.attrs["lid"], change.tag) == (other.jid, other.lid_jid, "add")
            assert await _cached_ids(directory, other.jid) == (0, companion.device)
            # ... and unlinked again.
            response = await served.post(f"/sandbox/devices/{companion}/logout")
            assert response.status_code == 200, response.text
            with trio.fail_after(15):
                removed = await told.receive()
            assert removed.children[0].tag == "remove"
            assert await _cached_ids(directory, other.jid) == (0,)


@pytest.mark.interop
@pytest.mark.parametrize("version", ["v6", "v7"])
async def test_check_agrees_with_baileys_on_whatsapp(baileys: Harness, served: Served, version: str) -> None:
    """A Baileys companion of OTHER and our client (a companion of PHONE) ask the same sandbox about the
    same numbers: Baileys' onWhatsApp and our check tell the same accounts and LIDs."""
    store = await _linked(served)
    assert store.credentials is not None
    sock = await Sock.create(baileys, version, served.ws_url)
    try:
        response = await served.post(f"/sandbox/accounts/{OTHER}/scan", {"qr": await sock.wait_qr()})
        assert response.status_code == 200, response.text
        restart = await sock.wait_close()
        await sock.wait_open(after=restart["n"])
        phones = [PHONE, OTHER, "15559999999"]
        theirs = await call(baileys, "directory.onWhatsApp", h=sock.handle, phones=phones)
        async with open_client(settings_for(served), store.credentials, store) as client:
            assert isinstance(await next_event(client, Connected), Connected)
            with trio.fail_after(15):
                ours = await Directory(client).check(phones)
    finally:
        await sock.end()
    # Baileys 7's onWhatsApp asks no <lid/>: compare LIDs where Baileys has them.
    told = {JID.parse(item["jid"]): item["lid"] for item in theirs if item["exists"]}
    assert set(told) == {result.jid for result in ours.values() if result.exists}
    assert set(told) == {JID(PHONE, PN), JID(OTHER, PN)}
    assert not ours["15559999999"].exists
    for result in ours.values():
        if result.jid in told and told[result.jid] is not None:
            assert JID.parse(told[result.jid]) == result.lid
    assert (version == "v7") == all(lid is None for lid in told.values())


# ----------------------------------------------------------------------------- the client's notification hook


async def test_a_notification_handler_runs_before_the_ack(autojump_clock: trio.abc.Clock) -> None:
    """``Client.notification_handlers[type]`` gets the notification, and only when it returned is the
    ``<ack>`` sent; other notification types are acked without it."""
    async with trio.open_nursery() as nursery:
        h = await start(nursery, paired())
        handled: list[Node] = []
        release = trio.Event()

        async def slow_handler(node: Node) -> None:
            handled.append(node)
            await h.client.send_node(Node("presence", {"type": "available"}))  # flushes what is queued
            await release.wait()

        h.client.notification_handlers["devices"] = slow_handler
        server = await h.network.accept()
        await login(h, server, count=50)
        await server.send(Node("notification", {"id": "d1", "from": ALICE.jid, "type": "devices", "t": "1"}))
        assert (await server.expect()).tag == "presence"  # nothing (no ack) before the handler's stanza
        with trio.move_on_after(5):
            await server.expect("ack")
            raise AssertionError("acked before the handler returned")
        assert [node.attrs["id"] for node in handled] == ["d1"]
        release.set()
        ack = await server.expect("ack")
        assert ack.attrs == {"id": "d1", "class": "notification", "to": ALICE.jid, "type": "devices"}
        await server.send(Node("notification", {"id": "p1", "from": SERVER_JID, "type": "picture"}))
        assert (await server.expect("ack")).attrs["id"] == "p1"
        assert len(handled) == 1
        nursery.cancel_scope.cancel()
